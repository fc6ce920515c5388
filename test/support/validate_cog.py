"""Runs GDAL's own COG validator (osgeo_utils.samples.validate_cloud_optimized_geotiff, shipped with the GDAL
Python bindings, e.g. Debian's python3-gdal that gdal-bin depends on) with the full check of block leaders and
trailers. Needs an interpreter with `osgeo`, not the project venv.

Usage: python validate_cog.py FILE...  -> prints one JSON line: {FILE: {"warnings": [...], "errors": [...]}}.
"""
import json
import sys

from osgeo import gdal
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate

gdal.UseExceptions()
result = {}
for path in sys.argv[1:]:
    warnings, errors, _details = validate(path, check_tiled=True, full_check=True)
    result[path] = {"warnings": warnings, "errors": errors}
print(json.dumps(result))
