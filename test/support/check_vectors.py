"""Checks vector predictions against their class mask with GDAL and geopandas. Usage:
check_vectors.py mask.tif vectors.fgb vectors.geojson --skip 0 --skip 255
Prints one JSON line:
- ogrinfo: feature counts and CRS that GDAL's `ogrinfo` reports for both files;
- rasterized_equal / rasterized_total: `gdal_rasterize` of the FlatGeobuf (burning class_value) onto the
  mask's grid against the mask, skipped values expected empty;
- geojson_rasterized_equal: the same for the GeoJSON read by geopandas (pyogrio), reprojected back to the
  mask's CRS and rasterized with rasterio;
- components / features: 4-connected components per class (scipy.ndimage.label) against features per class,
  and whether each feature's pixel_count equals its component's size;
- valid: features shapely finds valid;
- fgb_index: whether GDAL (through pyogrio) reports a fast spatial filter for the FlatGeobuf (its packed
  R-tree), and for a few bboxes the features `ogrinfo -spat` and a bbox-filtered pyogrio read return against
  the features whose geometry intersects the bbox (geopandas over the whole file)."""
import argparse
import json
import os
import re
import subprocess
import tempfile

import geopandas
import numpy as np
import rasterio
import rasterio.features
from scipy import ndimage

parser = argparse.ArgumentParser()
parser.add_argument("mask")
parser.add_argument("fgb")
parser.add_argument("geojson")
parser.add_argument("--skip", type=int, action="append", default=[])
args = parser.parse_args()

EMPTY = 254 if 254 not in args.skip else 253

with rasterio.open(args.mask) as src:
    mask = src.read(1)
    transform = src.transform
    crs = src.crs
    width, height = src.width, src.height
    bounds = src.bounds

expected = mask.copy()
for value in args.skip:
    expected[mask == value] = EMPTY


def ogrinfo(path):
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-so", path], check=True, capture_output=True, text=True).stdout
    count = int(re.search(r"Feature Count: (\d+)", out).group(1))
    epsg = re.findall(r'ID\["EPSG",(\d+)\]\]\s*$', out, re.M)
    return {"features": count, "epsg": int(epsg[-1]) if epsg else None, "geometry": re.search(r"Geometry: (.+)", out).group(1)}


with tempfile.TemporaryDirectory() as tmp:
    burned = os.path.join(tmp, "burned.tif")
    subprocess.run(
        ["gdal_rasterize", "-q", "-a", "class_value", "-init", str(EMPTY), "-ot", "Byte",
         "-te", str(bounds.left), str(bounds.bottom), str(bounds.right), str(bounds.top),
         "-ts", str(width), str(height), args.fgb, burned],
        check=True,
    )
    with rasterio.open(burned) as src:
        rasterized = src.read(1)

frame = geopandas.read_file(args.geojson, engine="pyogrio")
back = frame.to_crs(crs)
shapes = ((geom, int(value)) for geom, value in zip(back.geometry, back["class_value"]))
geojson_rasterized = rasterio.features.rasterize(
    shapes, out_shape=(height, width), transform=transform, fill=EMPTY, dtype="uint8"
)

native = geopandas.read_file(args.fgb, engine="pyogrio")
components = {}
sizes_match = True
for value in np.unique(mask):
    if int(value) in args.skip:
        continue
    labels, count = ndimage.label(mask == value)  # 4-connectivity, as the vectors
    components[str(int(value))] = count
    sizes = sorted(np.bincount(labels.ravel())[1:].tolist())
    feature_sizes = sorted(native.loc[native["class_value"] == value, "pixel_count"].astype(int).tolist())
    sizes_match = sizes_match and sizes == feature_sizes
features = {str(int(k)): int(v) for k, v in native["class_value"].value_counts().items()}


def ogrinfo_spat(path, box):
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-so", "-spat", *map(str, box), path], check=True,
                         capture_output=True, text=True).stdout
    return int(re.search(r"Feature Count: (\d+)", out).group(1))


import pyogrio
import shapely

boxes = []
for fx0, fy0, fx1, fy1 in [(0.1, 0.1, 0.3, 0.4), (0.5, 0.2, 0.55, 0.9), (0.0, 0.0, 1.0, 1.0), (0.8, 0.7, 0.95, 0.75)]:
    box = (bounds.left + fx0 * (bounds.right - bounds.left), bounds.bottom + fy0 * (bounds.top - bounds.bottom),
           bounds.left + fx1 * (bounds.right - bounds.left), bounds.bottom + fy1 * (bounds.top - bounds.bottom))
    boxes.append({
        "ogrinfo": ogrinfo_spat(args.fgb, box),
        "pyogrio": len(pyogrio.read_dataframe(args.fgb, bbox=box)),
        "intersecting": int(native.intersects(shapely.box(*box)).sum()),
    })
fgb_index = {
    "fast_spatial_filter": bool(pyogrio.read_info(args.fgb)["capabilities"]["fast_spatial_filter"]),
    "boxes": boxes,
}

print(json.dumps({
    "ogrinfo": {"fgb": ogrinfo(args.fgb), "geojson": ogrinfo(args.geojson)},
    "rasterized_equal": int((rasterized == expected).sum()),
    "rasterized_total": int(expected.size),
    "geojson_rasterized_equal": int((geojson_rasterized == expected).sum()),
    "geojson_crs": frame.crs.to_epsg() if frame.crs else None,
    "components": components,
    "features": features,
    "pixel_counts_match": bool(sizes_match),
    "valid": int(native.geometry.is_valid.sum()),
    "area_m2_sum": float(native["area_m2"].sum()),
    "pixel_area_m2_sum": float(native["pixel_count"].sum() * abs(transform.a * transform.e)),
    "fgb_index": fgb_index,
}))
