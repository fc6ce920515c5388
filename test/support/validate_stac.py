"""Validates a static STAC catalog (a copied-away inference: collection.json, {task}/item.json and assets)
offline. Usage: validate_stac.py path/to/collection.json [--api-item item.json ...]
Prints one JSON line with `problems` (empty when valid) and what was read.

What it checks, without internet:
- every Collection and Item against the STAC 1.1.0 core JSON schemas pystac bundles (jsonschema Draft 7, with
  pystac's local schema registry; GeoJSON Feature / Geometry schemas included);
- the catalog opens with pystac (relative links resolved, items found through the collection) and every
  asset href but the model's resolves to a file inside the copied folder (self-contained);
- the extensions through pystac's extension classes (pystac-ext-*): projection (code, shape, transform),
  raster (bands of the prediction), classification (classes on the asset and in the summaries), mlm (name,
  tasks and output matching the model's task type: semantic-segmentation uint8 classes or regression float bands,
  input, a `mlm:model` asset), and the processing fields by type (pystac has no class);
- geometry and bbox in WGS 84 match the prediction's real footprint (rasterio transform_bounds), the
  projection fields equal the COG's CRS / transform / shape, vectors open with pyogrio;
- `--api-item`: documents served by the API also pass the core schema.
The extension JSON schemas themselves are not bundled by any registry package, so they are not run."""
import argparse
import json
import math
import os

import pyogrio
import pystac
import rasterio
from jsonschema import Draft7Validator
from pystac.extensions.classification import ClassificationExtension
from pystac.extensions.mlm import MLMExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from pystac.validation.local_validator import get_local_schema_cache
from rasterio.warp import transform_bounds
from referencing import Registry, Resource

parser = argparse.ArgumentParser()
parser.add_argument("collection")
parser.add_argument("--api-item", action="append", default=[])
args = parser.parse_args()

cache = get_local_schema_cache()
registry = Registry().with_resources([(uri, Resource.from_contents(schema)) for uri, schema in cache.items()])


def core_schema(kind):
    uri = f"https://schemas.stacspec.org/v1.1.0/{kind}-spec/json-schema/{kind}.json"
    return Draft7Validator(cache[uri], registry=registry)


problems = []


def schema_check(document, kind, label):
    for error in core_schema(kind).iter_errors(document):
        problems.append(f"{label}: {error.json_path}: {error.message}")


root = os.path.dirname(os.path.abspath(args.collection))
with open(args.collection) as f:
    collection_json = json.load(f)
schema_check(collection_json, "collection", "collection")

collection = pystac.Collection.from_file(args.collection)
items = list(collection.get_items())
summary = {"items": len(items), "assets": {}, "features": 0}

classes = collection.summaries.get_list("classification:classes")
if not classes:
    problems.append("collection: no classification:classes summary")

for item in items:
    label = f"item {item.id}"
    with open(item.get_self_href()) as f:
        schema_check(json.load(f), "item", label)
    if item.collection_id != collection.id:
        problems.append(f"{label}: collection {item.collection_id} != {collection.id}")
    for key, asset in item.assets.items():
        href = asset.get_absolute_href()
        if "mlm:model" in (asset.roles or []):
            continue  # the model file lives with the models, not in the inference's folder
        if not href.startswith(root) or not os.path.exists(href):
            problems.append(f"{label}: asset {key} href {asset.href} is not a file of the catalog")
        summary["assets"][key] = summary["assets"].get(key, 0) + 1

    proj = ProjectionExtension.ext(item)
    prediction = item.assets["prediction"]
    if "data" not in prediction.roles:
        problems.append(f"{label}: prediction asset lacks role data")
    with rasterio.open(prediction.get_absolute_href()) as src:
        if proj.code != f"EPSG:{src.crs.to_epsg()}":
            problems.append(f"{label}: proj:code {proj.code} != EPSG:{src.crs.to_epsg()}")
        if list(proj.shape) != [src.height, src.width]:
            problems.append(f"{label}: proj:shape {proj.shape} != {[src.height, src.width]}")
        if [round(v, 6) for v in proj.transform[:6]] != [round(v, 6) for v in list(src.transform)[:6]]:
            problems.append(f"{label}: proj:transform {proj.transform} != {list(src.transform)[:6]}")
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
        bbox = item.bbox
        tolerance = 1e-6 + 1e-4 * max(east - west, north - south)
        if any(abs(a - b) > tolerance for a, b in zip(bbox, [west, south, east, north])):
            problems.append(f"{label}: bbox {bbox} is not the footprint {[west, south, east, north]}")
        nodata = src.nodata
        band_count, dtype = src.count, src.dtypes[0]
    input_spec = item.properties.get("geo_inference:provenance", {}).get("model", {}).get("input_spec", {})
    regression = input_spec.get("task_type") == "regression"
    bands = RasterExtension.ext(prediction).bands

    def same_nodata(stac_value, file_value):
        if isinstance(file_value, float) and math.isnan(file_value):
            return str(stac_value).lower() == "nan"
        return stac_value == file_value

    if not bands or not same_nodata(bands[0].nodata, nodata):
        problems.append(f"{label}: raster:bands nodata {bands and bands[0].nodata} != {nodata}")
    asset_classes = ClassificationExtension.ext(prediction).classes
    if regression:
        # A regression output: one float band per output channel, no classes (issue 14 item 2).
        if asset_classes:
            problems.append(f"{label}: classification:classes on a regression prediction")
        if not bands or len(bands) != band_count or any(str(b.data_type) != dtype for b in bands):
            problems.append(f"{label}: raster:bands {[b.data_type for b in bands or []]} != {band_count} x {dtype}")
    elif not asset_classes or not all(c.name for c in asset_classes):
        problems.append(f"{label}: no classification:classes on the prediction")

    mlm = MLMExtension.ext(item)
    task = "regression" if regression else "semantic-segmentation"
    if not mlm.name or [str(t) for t in mlm.tasks] != [task]:
        problems.append(f"{label}: mlm name/tasks {[str(t) for t in mlm.tasks]} != [{task}]")
    if not mlm.input or not mlm.input[0].bands or not mlm.output:
        problems.append(f"{label}: mlm input/output missing")
    else:
        output = mlm.output[0]
        result = output.result
        expected = (band_count, dtype) if regression else (1, "uint8")
        if [str(t) for t in output.tasks] != [task] or (result.shape[1], str(result.data_type)) != expected:
            problems.append(
                f"{label}: mlm:output tasks {[str(t) for t in output.tasks]}, channels {result.shape[1]}, "
                f"type {result.data_type} != [{task}], {expected[0]}, {expected[1]}"
            )
        output_classes = output.to_dict().get("classification:classes")
        if bool(output_classes) == regression:
            problems.append(f"{label}: mlm:output classification:classes {'present' if regression else 'missing'}")
    if not any("mlm:model" in (a.roles or []) for a in item.assets.values()):
        problems.append(f"{label}: no mlm:model asset")
    if not isinstance(mlm.total_parameters, int) or mlm.total_parameters < 0:
        problems.append(f"{label}: mlm:total_parameters {mlm.total_parameters!r} not a count")
    model_assets = [a for a in item.assets.values() if "mlm:model" in (a.roles or [])]
    if model_assets and os.path.exists(model_assets[0].get_absolute_href()):
        import onnx
        import numpy as np
        graph = onnx.load(model_assets[0].get_absolute_href(), load_external_data=False).graph
        counted = sum(int(np.prod(t.dims)) for t in graph.initializer)
        if counted != mlm.total_parameters:
            problems.append(f"{label}: mlm:total_parameters {mlm.total_parameters} != {counted} (onnx initializers)")
    if mlm.pretrained is not True:
        problems.append(f"{label}: mlm:pretrained not true")

    props = item.properties
    for field, kind in [("processing:lineage", str), ("processing:software", dict), ("processing:level", str),
                        ("processing:datetime", str)]:
        if not isinstance(props.get(field), kind):
            problems.append(f"{label}: {field} missing or not {kind.__name__}")
    if item.datetime is None and not (props.get("start_datetime") and props.get("end_datetime")):
        problems.append(f"{label}: neither datetime nor start/end_datetime")

    if "vectors" in item.assets:
        info = pyogrio.read_info(item.assets["vectors"].get_absolute_href())
        fgb = pyogrio.read_info(item.assets["vectors-fgb"].get_absolute_href())
        if info["features"] != fgb["features"]:
            problems.append(f"{label}: GeoJSON has {info['features']} features, FlatGeobuf {fgb['features']}")
        summary["features"] += int(fgb["features"])

for path in args.api_item:
    with open(path) as f:
        schema_check(json.load(f), "item", f"api {os.path.basename(path)}")

print(json.dumps({"problems": problems, **summary}))
