"""Copies a GeoTIFF with every band multiplied by FACTOR, written as float32 (nodata pixels stay nodata): e.g.
Sentinel-2 digital numbers turned into reflectance (--factor 0.0001), an input scaled differently from what a
model expects. Usage: rescale_raster.py IN.tif OUT.tif --factor F"""
import argparse

import numpy as np
import rasterio

parser = argparse.ArgumentParser()
parser.add_argument("input")
parser.add_argument("output")
parser.add_argument("--factor", type=float, required=True)
args = parser.parse_args()

with rasterio.open(args.input) as source:
    profile = source.profile
    data = source.read().astype(np.float64)
    nodata = source.nodata
scaled = data * args.factor
if nodata is not None:
    scaled[data == nodata] = nodata
profile.update(dtype="float32", predictor=1)
with rasterio.open(args.output, "w", **profile) as target:
    target.write(scaled.astype(np.float32))
