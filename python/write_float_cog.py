"""Writes continuous model outputs (regression values, class probabilities) as a Cloud-Optimized GeoTIFF.

Reads a JSON request on stdin:
  {"template": input.tif, "raw": values.bin (float32, band-sequential), "bands": K, "dtype": "float32"|"uint8",
   "nodata": number or "NaN", "out": out.tif, "descriptions": [...], "units": "..."}
The grid (size, CRS, transform) is the template's. GDAL's COG driver writes it (DEFLATE, 256 blocks) with
AVERAGE overviews: continuous values are averaged, never invented (nodata pixels are left out of the average).
"""
import json
import sys

import numpy as np
import rasterio
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy


def main() -> None:
    request = json.load(sys.stdin)
    with rasterio.open(request["template"]) as template:
        width, height, crs, transform = template.width, template.height, template.crs, template.transform
    bands = int(request["bands"])
    dtype = request["dtype"]
    raw = np.fromfile(request["raw"], dtype=dtype).reshape(bands, height, width)
    nodata = float("nan") if request["nodata"] == "NaN" else float(request["nodata"])
    profile = dict(
        driver="GTiff", width=width, height=height, count=bands, dtype=dtype, crs=crs, transform=transform, nodata=nodata
    )
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(raw)
            for index, description in enumerate(request.get("descriptions") or [], start=1):
                dataset.set_band_description(index, description)
            if request.get("units"):
                dataset.units = [request["units"]] * bands
        with memory.open() as source:
            rio_copy(
                source,
                request["out"],
                driver="COG",
                COMPRESS="DEFLATE",
                PREDICTOR="NO",
                BLOCKSIZE=256,
                OVERVIEW_RESAMPLING="AVERAGE",
                RESAMPLING="AVERAGE",
            )
    print(json.dumps({"out": request["out"]}))


if __name__ == "__main__":
    main()
