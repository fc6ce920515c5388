#!/usr/bin/env python3
"""Independent reference for tiled ONNX segmentation of a GeoTIFF (numpy + onnxruntime + rasterio).

Usage: reference_inference.py INPUT.tif MODEL.onnx SPEC.json OUTPUT.tif [--batch-size N]

SPEC.json is a model_input_data_spec (see src/geo/model/model-spec.ts). The rule, implemented here from
its description and not from the TypeScript code:

* Tile origins along an axis of length L with tile size T and overlap V (stride S = T - V):
  0, S, 2S, ... as long as the tile ends strictly inside the image, then one tile flush with the far
  edge at L - T. If L <= T there is a single tile at 0 (padded when L < T).
* Each output pixel is taken from the tile whose centre is nearest to the pixel centre, separately
  along x and along y; on an exact tie the tile with the smaller origin wins.
* Input: the spec's bands picked by source_index (1-based, default position + 1),
  reflectance = (dn + offset) * scale, then (x - mean) / std, computed in float64 and cast to
  float32. Pixels where every picked band equals the nodata value (spec.nodata, else the file's
  nodata) are fed to the model as 0 and written as output_nodata (default 255); padding is 0 too.
* Class = argmax over the logit channels (first maximum wins), mapped to spec.classes[i].value.
* That is spec.tile_blending "center". With "linear" or "cosine" (the default) the logits of every tile
  covering a pixel are summed with weights, in float64, tile by tile in row-major tile order, and the class
  is the argmax of the sums. Along each tile axis (size T, overlap V), position p, d = min(p, T - 1 - p):
  weight 1 where d >= V or V == 0, else (d + 0.5) / V (linear) or 0.5 - 0.5 cos(pi (d + 0.5) / V) (cosine);
  a pixel's weight is weight_y * weight_x, and it multiplies the logit before the sum.
"""
import argparse
import json
import sys

import numpy as np
import onnxruntime as ort
import rasterio


def axis_origins(length, tile, overlap):
    if length <= tile:
        return np.array([0])
    stride = tile - overlap
    origins = list(range(0, length - tile, stride))  # tiles ending strictly before the edge
    origins.append(length - tile)
    return np.unique(np.array(origins))


def nearest_tile(length, origins, tile):
    """Index of the tile whose centre is nearest to each pixel centre (ties -> smaller origin)."""
    centres = origins + tile / 2.0
    pixels = np.arange(length) + 0.5
    distance = np.abs(pixels[:, None] - centres[None, :])
    return np.argmin(distance, axis=1)  # argmin returns the first minimum


def axis_weights(tile, overlap, blending):
    d = np.minimum(np.arange(tile), tile - 1 - np.arange(tile)).astype(np.float64)
    if overlap == 0:
        return np.ones(tile)
    ramp = (d + 0.5) / overlap if blending == "linear" else 0.5 - 0.5 * np.cos(np.pi * (d + 0.5) / overlap)
    return np.where(d >= overlap, 1.0, ramp)


def main():
    parser = argparse.ArgumentParser(description="reference tiled ONNX segmentation")
    parser.add_argument("input")
    parser.add_argument("model")
    parser.add_argument("spec")
    parser.add_argument("output")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    with open(args.spec) as handle:
        spec = json.load(handle)
    tile = int(spec["tile_size"])
    overlap = int(spec["tile_overlap"])
    band_specs = spec["bands"]
    indexes = [b.get("source_index", i + 1) for i, b in enumerate(band_specs)]
    scaling = spec.get("scaling") or {"scale": 1.0, "offset": 0.0}
    norm = spec.get("normalization")
    n_bands = len(indexes)
    mean = np.array(norm["mean"] if norm else [0.0] * n_bands, dtype=np.float64)
    std = np.array(norm["std"] if norm else [1.0] * n_bands, dtype=np.float64)
    class_values = np.array([c["value"] for c in spec["classes"]], dtype=np.uint8)
    out_nodata = int(spec.get("output_nodata", 255))

    with rasterio.open(args.input) as src:
        profile = src.profile.copy()
        dn = src.read(indexes)  # (bands, H, W) in model order
        nodata = spec.get("nodata", src.nodata)
    _, height, width = dn.shape

    if nodata is None:
        nodata_mask = np.zeros((height, width), dtype=bool)
    elif np.isnan(nodata):
        nodata_mask = np.all(np.isnan(dn), axis=0)
    else:
        nodata_mask = np.all(dn == nodata, axis=0)

    x = (dn.astype(np.float64) + float(scaling["offset"])) * float(scaling["scale"])
    x = (x - mean[:, None, None]) / std[:, None, None]
    x = x.astype(np.float32)
    x[:, nodata_mask] = 0.0

    # Pad to at least one tile in each direction.
    padded = np.zeros((n_bands, max(height, tile), max(width, tile)), dtype=np.float32)
    padded[:, :height, :width] = x

    oy = axis_origins(height, tile, overlap)
    ox = axis_origins(width, tile, overlap)
    options = ort.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    blending = spec.get("tile_blending", "cosine")
    windows = [(y, x0) for y in oy for x0 in ox]
    predictions = {}
    sums = None if blending == "center" else np.zeros((len(class_values), height, width), dtype=np.float64)
    weights = None if blending == "center" else axis_weights(tile, overlap, blending)
    for start in range(0, len(windows), args.batch_size):
        chunk = windows[start:start + args.batch_size]
        batch = np.stack([padded[:, y:y + tile, x0:x0 + tile] for y, x0 in chunk])
        logits = session.run(None, {input_name: batch})[0]
        if logits.shape[1] != len(class_values):
            sys.exit(f"model outputs {logits.shape[1]} channels, spec declares {len(class_values)} classes")
        if sums is not None:
            for (y, x0), tile_logits in zip(chunk, logits):
                h, w = min(tile, height - y), min(tile, width - x0)
                pixel_weights = weights[:h, None] * weights[None, :w]
                sums[:, y:y + h, x0:x0 + w] += pixel_weights[None] * tile_logits[:, :h, :w].astype(np.float64)
            continue
        classes = np.argmax(logits, axis=1)
        for (y, x0), cls in zip(chunk, classes):
            predictions[(y, x0)] = cls

    owner_y = nearest_tile(height, oy, tile)
    owner_x = nearest_tile(width, ox, tile)
    mask = np.empty((height, width), dtype=np.uint8)
    if sums is not None:
        mask[:, :] = class_values[np.argmax(sums, axis=0)]
        oy = []  # no nearest-centre stitching
    for iy, y in enumerate(oy):
        rows = np.nonzero(owner_y == iy)[0]
        for ix, x0 in enumerate(ox):
            cols = np.nonzero(owner_x == ix)[0]
            if rows.size == 0 or cols.size == 0:
                continue
            cls = predictions[(y, x0)]
            mask[np.ix_(rows, cols)] = class_values[cls[np.ix_(rows - y, cols - x0)]]
    mask[nodata_mask] = out_nodata

    profile.update(count=1, dtype="uint8", nodata=out_nodata, compress="deflate", predictor=1)
    profile.pop("photometric", None)
    with rasterio.open(args.output, "w", **profile) as dst:
        dst.write(mask, 1)


if __name__ == "__main__":
    main()
