"""Reads a vector file with geopandas (pyogrio) and prints its feature count, EPSG code and classes as JSON."""
import json
import sys

import geopandas

frame = geopandas.read_file(sys.argv[1], engine="pyogrio")
print(json.dumps({
    "features": int(len(frame)),
    "crs": frame.crs.to_epsg() if frame.crs else None,
    "classes": sorted(int(v) for v in frame["class_value"].unique()),
}))
