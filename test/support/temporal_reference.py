#!/usr/bin/env python3
"""The "brightest frame" models of test/fixtures/make_temporal_models.py, in numpy, compared with an output mask.

INPUT is a time-major GeoTIFF (band t * C + c is band c of frame t); each band is normalised (x - mean_c) / std_c
(in float64, then float32), pixels where every band of every frame is nodata are fed as 0 and written as
output nodata 255; the class is the argmax over frames of the sum of the frame's bands (first maximum wins).
Prints JSON: total and equal pixels, the class histogram of both, and the frames.

Usage: temporal_reference.py INPUT OUTPUT --bands C --mean m1,m2 --std s1,s2 [--nodata 0]
       temporal_reference.py --classification SCL.tif OUTPUT ... (cloud counts per frame and output nodata)
"""
import argparse
import json

import numpy as np
import rasterio


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output", nargs="?")
    parser.add_argument("--bands", type=int, required=True)
    parser.add_argument("--mean", required=True)
    parser.add_argument("--std", required=True)
    parser.add_argument("--nodata", type=float, default=0)
    parser.add_argument("--classification", help="instead: count SCL clouds (8, 9) per band of this file, and output nodata")
    args = parser.parse_args()
    if args.classification:
        with rasterio.open(args.classification) as src:
            scl = src.read()
        with rasterio.open(args.input) as out:
            mask = out.read(1)
        cloudy = np.isin(scl, [8, 9])
        print(json.dumps({"cloudy_per_band": [int(band.sum()) for band in cloudy],
                          "masked_where_newest_cloudy": int((mask[cloudy[-1]] == 255).sum()),
                          "output_nodata": int((mask == 255).sum())}))
        return
    mean = np.array([float(v) for v in args.mean.split(",")])
    std = np.array([float(v) for v in args.std.split(",")])
    with rasterio.open(args.input) as src:
        data = src.read().astype(np.float64)
    frames = data.shape[0] // args.bands
    stack = data.reshape(frames, args.bands, *data.shape[1:])
    nodata = np.all(data == args.nodata, axis=0)
    normalised = ((stack - mean[None, :, None, None]) / std[None, :, None, None]).astype(np.float32)
    normalised[:, :, nodata] = 0
    expected = np.argmax(normalised.sum(axis=1, dtype=np.float32), axis=0).astype(np.uint8)
    expected[nodata] = 255
    with rasterio.open(args.output) as out:
        actual = out.read(1)
    print(json.dumps({
        "frames": int(frames),
        "total": int(expected.size),
        "equal": int((expected == actual).sum()),
        "same_shape": list(expected.shape) == list(actual.shape),
        "expected_classes": {str(int(v)): int(c) for v, c in zip(*np.unique(expected, return_counts=True))},
        "actual_classes": {str(int(v)): int(c) for v, c in zip(*np.unique(actual, return_counts=True))},
    }))


if __name__ == "__main__":
    main()
