"""Copies a single-band GeoTIFF, changing band 1 at N pixels (value + 1 modulo 3, the demo model's classes) spread
over the image: an expected output a model no longer reproduces. Usage: perturb_raster.py IN.tif OUT.tif --pixels N"""
import argparse

import numpy as np
import rasterio

parser = argparse.ArgumentParser()
parser.add_argument("input")
parser.add_argument("output")
parser.add_argument("--pixels", type=int, required=True)
args = parser.parse_args()

with rasterio.open(args.input) as source:
    profile = source.profile
    band = source.read(1)
flat = band.reshape(-1)
positions = np.linspace(0, flat.size - 1, args.pixels).astype(np.int64)
flat[positions] = (flat[positions] + 1) % 3
with rasterio.open(args.output, "w", **profile) as target:
    target.write(band, 1)
