#!/usr/bin/env python3
"""Inputs for, and checks of, the continuous outputs of test/integration/task-types.spec.ts (numpy + rasterio).

make_input OUT BANDS WIDTH HEIGHT  uint16 GeoTIFF (UTM 32N, 10 m), nodata 0 in a block of pixels (all bands),
                                   other values 1..1000 (seeded)
check_regression INPUT OUTPUT [--factor F] [--water WATER]
                                   expected F x (2 * band1 + 1) (F default 1: a processor's scaling), NaN where the input
                                   has nodata or WATER is non-zero (permanent_water_masking), against the COG
check_regression_two INPUT OUTPUT  the two-band model (2 * band1 + 1, 0.5 * band2 - 3): every band against the COG
make_expected_two INPUT OUT [SHIFTED]
                                   the two-band model's expected output (a golden_output); SHIFTED pixels of band 2 +1
nodata_counts OUTPUT VALUE WATER   pixels equal to the numeric nodata VALUE, and water pixels (WATER non-zero) holding another value
make_water OUT INPUT               uint8 water reference on INPUT's grid: 1 in the right third of the columns, else 0
check_probabilities INPUT OUTPUT   softmax of the bands x SCALE (the spec's scaling) in percent (uint8) or 0-1 (float32):
                                   band sums, nodata, and max difference to numpy
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



def water_columns(width):
    return np.arange(width) >= (2 * width) // 3


def make_water(out, input_path):
    with rasterio.open(input_path) as src:
        profile = dict(driver="GTiff", width=src.width, height=src.height, count=1, dtype="uint8", crs=src.crs,
                       transform=src.transform)
    water = np.zeros((profile["height"], profile["width"]), dtype=np.uint8)
    water[:, water_columns(profile["width"])] = 1
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(water, 1)


def two_band_expected(input_path):
    with rasterio.open(input_path) as src:
        data = src.read().astype(np.float64)
        profile = src.profile
    nodata = np.all(data == 0, axis=0)
    expected = np.stack([2 * data[0] + 1, 0.5 * data[1] - 3]).astype(np.float32)
    expected[:, nodata] = np.nan
    return expected, profile


def make_expected_two(out, input_path, shifted=0):
    expected, profile = two_band_expected(input_path)
    # Shift band 2 at `shifted` valid pixels along the diagonal (band 1 untouched).
    for k in range(shifted):
        expected[1, 50 + k, 50 + k] += 1.0
    profile.update(dtype="float32", count=2, nodata=float("nan"))
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(expected)


def nodata_counts(output_path, value, water_path):
    with rasterio.open(output_path) as out:
        values = out.read(1)
        nodata = out.nodata
    with rasterio.open(water_path) as water:
        wet = water.read(1) != 0
    print(json.dumps({"nodata": nodata, "nodata_pixels": int((values == float(value)).sum()),
                      "nan_pixels": int(np.isnan(values).sum()),
                      "water_not_nodata": int((wet & (values != float(value))).sum())}))


def check_regression_two(input_path, output_path):
    expected, _ = two_band_expected(input_path)
    with rasterio.open(output_path) as out:
        values = out.read()
        result = {
            "dtype": out.dtypes[0],
            "count": out.count,
            "descriptions": list(out.descriptions),
            "nan_matches": bool(np.array_equal(np.isnan(values), np.isnan(expected))),
            "max_abs_diff": [float(np.nanmax(np.abs(values[b].astype(np.float64) - expected[b]))) for b in range(2)],
        }
    print(json.dumps(result))


def check_regression(input_path, output_path, *options):
    factor = float(options[options.index("--factor") + 1]) if "--factor" in options else 1.0
    water_path = options[options.index("--water") + 1] if "--water" in options else None
    with rasterio.open(input_path) as src:
        band = src.read(1).astype(np.float64)
        nodata = np.all(src.read() == 0, axis=0)
    expected = (factor * (2 * band + 1)).astype(np.float32)
    expected[nodata] = np.nan
    water_pixels = 0
    if water_path:
        with rasterio.open(water_path) as water:
            masked = (water.read(1) != 0) & ~nodata
        water_pixels = int(masked.sum())
        expected[masked] = np.nan
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
            "valid_pixels": int((~np.isnan(values)).sum()),
            "water_pixels": water_pixels,
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
        valid = ~nodata
        if out.dtypes[0] == "float32":
            # 0-1 probabilities, NaN nodata: sums are 1 up to float32 rounding.
            values = out.read().astype(np.float64)
            sums = values.sum(axis=0)[valid]
            result = {
                "dtype": out.dtypes[0],
                "count": out.count,
                "nodata_is_nan": bool(out.nodata is not None and np.isnan(out.nodata)),
                "sum_min": float(sums.min()),
                "sum_max": float(sums.max()),
                "in_unit_range": bool(np.all((values[:, valid] >= 0) & (values[:, valid] <= 1))),
                "nodata_all_nan": bool(np.all(np.isnan(values[:, nodata]))),
                "valid_all_finite": bool(np.all(np.isfinite(values[:, valid]))),
                "max_abs_diff": float(np.abs(values[:, valid] - expected[:, valid] / 100).max()),
                "overviews": out.overviews(1),
            }
            print(json.dumps(result))
            return
        values = out.read().astype(np.int64)
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
    elif command == "check_regression_two":
        check_regression_two(*args)
    elif command == "make_expected_two":
        make_expected_two(args[0], args[1], int(args[2]) if len(args) > 2 else 0)
    elif command == "nodata_counts":
        nodata_counts(*args)
    elif command == "make_water":
        make_water(*args)
    elif command == "check_probabilities":
        check_probabilities(*args)
    else:
        raise SystemExit(f"unknown command {command}")
