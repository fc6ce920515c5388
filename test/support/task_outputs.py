#!/usr/bin/env python3
"""Inputs for, and checks of, the continuous outputs of test/integration/task-types.spec.ts (numpy + rasterio).

make_input OUT BANDS WIDTH HEIGHT  uint16 GeoTIFF (UTM 32N, 10 m), nodata 0 in a block of pixels (all bands),
                                   other values 1..1000 (seeded)
check_regression INPUT OUTPUT      expected 2 * band1 + 1 (NaN where the input has nodata) against the COG
check_probabilities INPUT OUTPUT   softmax of the bands x SCALE (the spec's scaling) in percent: band sums, and max difference to numpy
"""
import json
import sys

import numpy as np
import rasterio
from rasterio.transform import from_origin

# scaling.scale of the probabilities model's spec in the test
SCALE = 0.01


def make_input(out, bands, width, height):
    rng = np.random.default_rng(3)
    data = rng.integers(1, 1000, size=(bands, height, width), dtype=np.uint16)
    data[:, :5, :7] = 0
    profile = dict(driver="GTiff", width=width, height=height, count=bands, dtype="uint16", crs="EPSG:32632",
                   transform=from_origin(500000, 5000000, 10, 10), nodata=0)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)



def check_regression(input_path, output_path):
    with rasterio.open(input_path) as src:
        band = src.read(1).astype(np.float64)
        nodata = np.all(src.read() == 0, axis=0)
    expected = (2 * band + 1).astype(np.float32)
    expected[nodata] = np.nan
    with rasterio.open(output_path) as out:
        values = out.read(1)
        overview = out.overviews(1)
        result = {
            "dtype": out.dtypes[0],
            "count": out.count,
            "nodata_is_nan": bool(out.nodata is not None and np.isnan(out.nodata)),
            "overviews": overview,
            "crs": str(out.crs),
            "same_grid": out.transform == rasterio.open(input_path).transform and out.shape == band.shape,
            "nan_matches": bool(np.array_equal(np.isnan(values), np.isnan(expected))),
            "max_abs_diff": float(np.nanmax(np.abs(values.astype(np.float64) - expected))),
            "descriptions": list(out.descriptions),
            "units": list(out.units),
        }
        if overview:
            factor = overview[0]
            level = out.read(1, out_shape=(out.height // factor, out.width // factor))
            valid = level[~np.isnan(level)]
            # AVERAGE never leaves the range of the full-resolution values.
            result["overview_in_range"] = bool(valid.size == 0 or (valid.min() >= np.nanmin(values) - 1e-3 and valid.max() <= np.nanmax(values) + 1e-3))
            result["overview_not_nearest_only"] = bool(np.any(~np.isin(valid, values[~np.isnan(values)])))
    print(json.dumps(result))


def check_probabilities(input_path, output_path):
    with rasterio.open(input_path) as src:
        raw = src.read().astype(np.float64)
    nodata = np.all(raw == 0, axis=0)
    data = raw * SCALE
    shifted = np.exp(data - data.max(axis=0, keepdims=True))
    expected = shifted / shifted.sum(axis=0, keepdims=True) * 100
    with rasterio.open(output_path) as out:
        values = out.read().astype(np.int64)
        valid = ~nodata
        sums = values.sum(axis=0)[valid]
        result = {
            "dtype": out.dtypes[0],
            "count": out.count,
            "nodata": out.nodata,
            "sum_min": int(sums.min()),
            "sum_max": int(sums.max()),
            "nodata_all_255": bool(np.all(values[:, nodata] == 255)),
            "max_abs_diff": float(np.abs(values[:, valid] - expected[:, valid]).max()),
            "overviews": out.overviews(1),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "make_input":
        make_input(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif command == "check_regression":
        check_regression(*args)
    elif command == "check_probabilities":
        check_probabilities(*args)
    else:
        raise SystemExit(f"unknown command {command}")
