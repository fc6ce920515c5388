#!/usr/bin/env python3
"""The series_mean model (test/fixtures/make_series_mean_model.py) in numpy, compared with a regression output COG.

INPUT is a time-major GeoTIFF (band t * C + c is band c of frame t); expected = mean over frames of band BAND
(float32; pixels where every band of every frame is nodata are NaN). Prints JSON: frames, dtype, NaN agreement,
the largest absolute difference and whether the output is on the input's grid.

Usage: series_mean_reference.py INPUT OUTPUT --bands C [--band 0] [--nodata 0]
"""
import argparse
import json

import numpy as np
import rasterio


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--bands", type=int, required=True)
    parser.add_argument("--band", type=int, default=0)
    parser.add_argument("--nodata", type=float, default=0)
    args = parser.parse_args()
    with rasterio.open(args.input) as src:
        data = src.read().astype(np.float32)
        transform, shape = src.transform, (src.height, src.width)
    frames = data.shape[0] // args.bands
    stack = data.reshape(frames, args.bands, *data.shape[1:])
    nodata = np.all(data == args.nodata, axis=0)
    expected = stack[:, args.band].mean(axis=0, dtype=np.float32)
    expected[nodata] = np.nan
    with rasterio.open(args.output) as out:
        values = out.read(1)
        result = {
            "frames": frames,
            "dtype": out.dtypes[0],
            "count": out.count,
            "same_grid": out.transform == transform and values.shape == shape,
            "pixels": int(values.size),
            "valid": int(np.isfinite(values).sum()),
            "nan_matches": bool(np.array_equal(np.isnan(values), np.isnan(expected))),
            "max_abs_diff": float(np.nanmax(np.abs(values.astype(np.float64) - expected))),
            "expected_mean": float(np.nanmean(expected)),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
