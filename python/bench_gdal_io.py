#!/usr/bin/env python3
"""GDAL (rasterio) side of bench/geotiff-io.ts.

  bench_gdal_io.py create OUTPUT.tif [--size 2048]   6-band uint16 tiled (256) deflate + predictor 2 scene
  bench_gdal_io.py run INPUT.tif MASK_OUT.tif N       times N full reads and N mask writes

`run` prints one JSON line: {"read_s": [...], "write_s": [...], "read_threads_s": [...]} where
read_threads_s repeats the reads with GDAL_NUM_THREADS=ALL_CPUS. The mask written is the same rule
as the TypeScript side: 1 where nir > 2500, else 2 where blue > 4000, else 0; uint8, tiled 256,
deflate, nodata 255.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))


def create(path, size):
    from make_sample_geotiff import make_scene
    from rasterio.transform import from_origin
    data = make_scene(size, 11)
    profile = dict(driver="GTiff", width=size, height=size, count=6, dtype="uint16", crs="EPSG:32633",
                   transform=from_origin(600000, 5370000, 20, 20), nodata=0, tiled=True, blockxsize=256,
                   blockysize=256, compress="deflate", predictor=2, interleave="pixel")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def read_once(path):
    with rasterio.open(path) as src:
        return src.read(), src.profile


def run(path, mask_out, n):
    reads, writes, threaded = [], [], []
    data = None
    profile = None
    for _ in range(n):
        start = time.perf_counter()
        data, profile = read_once(path)
        reads.append(time.perf_counter() - start)
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
        for _ in range(n):
            start = time.perf_counter()
            read_once(path)
            threaded.append(time.perf_counter() - start)
    mask = np.where(data[3] > 2500, 1, np.where(data[0] > 4000, 2, 0)).astype(np.uint8)
    out = profile.copy()
    out.update(count=1, dtype="uint8", nodata=255, compress="deflate", predictor=1, tiled=True, blockxsize=256, blockysize=256)
    for _ in range(n):
        start = time.perf_counter()
        with rasterio.open(mask_out, "w", **out) as dst:
            dst.write(mask, 1)
        writes.append(time.perf_counter() - start)
    print(json.dumps({"read_s": reads, "write_s": writes, "read_threads_s": threaded}))


if __name__ == "__main__":
    if sys.argv[1] == "create":
        size = int(sys.argv[sys.argv.index("--size") + 1]) if "--size" in sys.argv else 2048
        create(sys.argv[2], size)
    else:
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]))
