"""Prints the distinct pixel values of each overview level of a raster (rasterio), as one JSON line."""
import json
import sys

import numpy as np
import rasterio

path = sys.argv[1]
with rasterio.open(path) as src:
    levels = src.overviews(1)
result = []
for level in range(len(levels)):
    with rasterio.open(path, overview_level=level) as ovr:
        data = ovr.read(1)
        result.append({"factor": levels[level], "shape": list(data.shape), "values": sorted(int(v) for v in np.unique(data))})
print(json.dumps(result))
