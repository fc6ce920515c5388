"""Compares the overview levels of two single-band rasters pixel by pixel (rasterio), level by level.

Usage: python compare_overviews.py A.tif B.tif  -> prints one JSON line: a list with, per overview level of A,
its factor and shape, B's shape at that level, the number of equal pixels and the distinct values in A.
"""
import json
import sys

import numpy as np
import rasterio


def levels(path: str) -> list:
    with rasterio.open(path) as src:
        factors = src.overviews(1)
    result = []
    for level, factor in enumerate(factors):
        with rasterio.open(path, overview_level=level) as ovr:
            result.append((factor, ovr.read(1)))
    return result


def main(a_path: str, b_path: str) -> None:
    a_levels, b_levels = levels(a_path), levels(b_path)
    report = []
    for index, (factor, a) in enumerate(a_levels):
        b = b_levels[index][1] if index < len(b_levels) else None
        same_shape = b is not None and a.shape == b.shape
        report.append({
            "factor": factor,
            "shape_a": list(a.shape),
            "shape_b": list(b.shape) if b is not None else None,
            "total": int(a.size),
            "equal": int((a == b).sum()) if same_shape else 0,
            "values_a": sorted(int(v) for v in np.unique(a)),
        })
    print(json.dumps({"levels_a": len(a_levels), "levels_b": len(b_levels), "levels": report}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
