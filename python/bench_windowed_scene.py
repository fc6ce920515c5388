#!/usr/bin/env python3
"""Scene for bench/windowed-read.ts: a 6-band uint16 GeoTIFF, tiled 512, deflate + predictor 2 (deflate level 1, to write a whole tile in about a minute; Sentinel-2-like
reflectances 0..10000: smooth fields plus sensor noise), written strip by strip so even a 10980 x 10980 scene
never sits whole in memory.

  bench_windowed_scene.py OUTPUT.tif [--size 10980]
"""
import sys

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

STRIP = 512


def create(path, size):
    profile = dict(driver="GTiff", width=size, height=size, count=6, dtype="uint16", crs="EPSG:32633",
                   transform=from_origin(600000, 5400000, 10, 10), nodata=0, tiled=True, blockxsize=512,
                   blockysize=512, compress="deflate", predictor=2, interleave="pixel", bigtiff="IF_SAFER",
                   num_threads="ALL_CPUS", zlevel=1)
    rng = np.random.default_rng(2745)
    x = np.arange(size, dtype=np.float32)
    # One strip of sensor noise, shifted per strip and band: generating fresh noise for 724 M samples costs minutes.
    noise = rng.normal(0, 40, size=(STRIP, size + 64 * 8)).astype(np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        for y0 in range(0, size, STRIP):
            rows = min(STRIP, size - y0)
            y = np.arange(y0, y0 + rows, dtype=np.float32)[:, None]
            base = 3000 + 1500 * np.sin(x[None, :] / 700.0) * np.cos(y / 900.0)
            strip = np.empty((6, rows, size), dtype=np.uint16)
            for band in range(6):
                shift = (band * 61 + (y0 // STRIP) * 17) % 512
                strip[band] = np.clip(base * (0.6 + 0.15 * band) + noise[:rows, shift : shift + size], 1, 10000)
            dst.write(strip, window=Window(0, y0, size, rows))


if __name__ == "__main__":
    size = int(sys.argv[sys.argv.index("--size") + 1]) if "--size" in sys.argv else 10980
    create(sys.argv[1], size)
