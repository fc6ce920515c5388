"""Checks a processed raster against `value - mask` of the model output (nodata kept), on the same grid.

Usage: compare_processed.py MODEL_OUTPUT.tif PROCESSED.tif VALUE  -> one JSON line
"""
import json
import sys

import numpy as np
import rasterio

with rasterio.open(sys.argv[1]) as source, rasterio.open(sys.argv[2]) as processed:
    mask = source.read(1)
    result = processed.read(1)
    nodata = source.nodata
    valid = mask != nodata if nodata is not None else np.ones(mask.shape, bool)
    expected = np.where(valid, int(sys.argv[3]) - mask, mask).astype(mask.dtype)
    print(json.dumps({
        "same_grid": source.crs == processed.crs and source.transform == processed.transform and source.shape == processed.shape,
        "matches": bool((expected == result).all()),
        "valid_pixels": int(valid.sum()),
    }))
