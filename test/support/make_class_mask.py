"""Writes a synthetic class mask GeoTIFF (uint8, nodata 255): blocky class regions, 1 % single-pixel salt
(so every pixel of a rendered tile matters), a nodata band along the left edge. Usage:
make_class_mask.py out.tif --width W --height H [--epsg 32633] [--origin-x X --origin-y Y] [--pixel P] [--seed S]"""
import argparse

import numpy as np
import rasterio
import rasterio.windows
from rasterio.transform import from_origin

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--width", type=int, default=1000)
parser.add_argument("--height", type=int, default=800)
parser.add_argument("--epsg", type=int, default=32633)
parser.add_argument("--origin-x", type=float, default=600000.0)
parser.add_argument("--origin-y", type=float, default=5400000.0)
parser.add_argument("--pixel", type=float, default=10.0)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--classes", type=int, default=4)
args = parser.parse_args()

rng = np.random.default_rng(args.seed)
block = 37
coarse = rng.integers(0, args.classes, size=(args.height // block + 1, args.width // block + 1), dtype=np.uint8)


def rows(start, stop):
    """Rows start..stop of the mask (generated in strips: a 10,000 x 10,000 mask stays within memory)."""
    strip = np.repeat(np.repeat(coarse[start // block : (stop - 1) // block + 1], block, axis=0), block, axis=1)
    strip = strip[start - (start // block) * block :][: stop - start, : args.width].copy()
    salt = rng.random((stop - start, args.width)) < 0.01
    strip[salt] = rng.integers(0, args.classes, size=int(salt.sum()), dtype=np.uint8)
    strip[:, : max(1, args.width // 20)] = 255
    return strip


profile = {
    "driver": "GTiff", "width": args.width, "height": args.height, "count": 1, "dtype": "uint8",
    "crs": f"EPSG:{args.epsg}", "transform": from_origin(args.origin_x, args.origin_y, args.pixel, args.pixel),
    "nodata": 255, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
}
with rasterio.open(args.out, "w", **profile) as dst:
    for start in range(0, args.height, 1024):
        stop = min(args.height, start + 1024)
        dst.write(rows(start, stop), 1, window=rasterio.windows.Window(0, start, args.width, stop - start))
