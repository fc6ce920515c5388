#!/usr/bin/env python3
"""Writes the GeoTIFF layouts test/integration/windowed-geotiff.spec.ts reads window by window (numpy, rasterio).

Usage: make_windowed_fixtures.py OUT_DIR. Prints one JSON line: the files written and their layouts. Sizes are
not multiples of the block size, so windows meet partial edge blocks; values are seeded noise over each type's
whole range (predictor wrap-around included).
"""
import json
import sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

W, H = 203, 151
LAYOUTS = [
    # name, dtype, bands, creation options, nodata
    ("tiled-pixel-u16-deflate-p2", "uint16", 4, dict(tiled=True, blockxsize=64, blockysize=48, compress="deflate", predictor=2, interleave="pixel"), 0),
    ("tiled-band-u16-deflate-p1", "uint16", 3, dict(tiled=True, blockxsize=32, blockysize=32, compress="deflate", predictor=1, interleave="band"), None),
    ("tiled-pixel-u8-lzw", "uint8", 3, dict(tiled=True, blockxsize=48, blockysize=32, compress="lzw", interleave="pixel"), 255),
    ("tiled-band-i16-raw", "int16", 2, dict(tiled=True, blockxsize=64, blockysize=64, interleave="band"), -32768),
    ("tiled-pixel-f32-deflate-p1", "float32", 2, dict(tiled=True, blockxsize=80, blockysize=32, compress="deflate", predictor=1, interleave="pixel"), -9999.0),
    ("tiled-pixel-f32-deflate-p3", "float32", 3, dict(tiled=True, blockxsize=64, blockysize=32, compress="deflate", predictor=3, interleave="pixel"), float("nan")),
    ("striped-pixel-u16-deflate-p2", "uint16", 6, dict(tiled=False, blockysize=7, compress="deflate", predictor=2, interleave="pixel"), 0),
    ("striped-band-i16-deflate-p2", "int16", 3, dict(tiled=False, blockysize=10, compress="deflate", predictor=2, interleave="band"), None),
    ("striped-pixel-u8-raw", "uint8", 1, dict(tiled=False, blockysize=16, interleave="pixel"), None),
    ("tiled-pixel-u16-deflate-p2-bigendian", "uint16", 3, dict(tiled=True, blockxsize=64, blockysize=64, compress="deflate", predictor=2, interleave="pixel", endianness="BIG"), None),
    ("striped-band-f32-lzw", "float32", 2, dict(tiled=False, blockysize=5, compress="lzw", interleave="band"), 1e20),
]


def noise(rng, dtype, bands):
    if dtype == "float32":
        data = rng.normal(0, 1000, size=(bands, H, W)).astype(np.float32)
    else:
        info = np.iinfo(dtype)
        data = rng.integers(info.min, int(info.max) + 1, size=(bands, H, W), dtype=np.int64).astype(dtype)
    # Smooth stretches too, so predictors have runs to work on.
    data[:, H // 3 : H // 2, :] = data[:, H // 3 : H // 3 + 1, :]
    return data


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(13)
    written = []
    for name, dtype, bands, creation, nodata in LAYOUTS:
        path = out / f"{name}.tif"
        profile = dict(driver="GTiff", width=W, height=H, count=bands, dtype=dtype, crs="EPSG:32633",
                       transform=from_origin(600000, 5370000, 10, 10), **creation)
        if nodata is not None:
            profile["nodata"] = nodata
        data = noise(rng, dtype, bands)
        if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
            data[:, 5:9, 11:17] = nodata
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
        written.append({"name": name, "path": str(path), "dtype": dtype, "bands": bands,
                        "tiled": bool(creation.get("tiled")), "nodata": None if nodata is None or np.isnan(nodata) else nodata,
                        "nan_nodata": nodata is not None and isinstance(nodata, float) and bool(np.isnan(nodata))})
    print(json.dumps({"width": W, "height": H, "files": written}))


if __name__ == "__main__":
    main(sys.argv[1])
