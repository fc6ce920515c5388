"""Compares two single-band masks with GDAL (rasterio): pixel agreement, CRS and transform.

Usage: python compare_masks.py A.tif B.tif  -> prints one JSON line.
"""
import json
import sys

import numpy as np
import rasterio


def main(a_path: str, b_path: str) -> None:
    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        a_data, b_data = a.read(1), b.read(1)
        same_shape = a_data.shape == b_data.shape
        equal = int((a_data == b_data).sum()) if same_shape else 0
        values, counts = np.unique(a_data, return_counts=True)
        print(json.dumps({
            "shape_a": list(a_data.shape),
            "shape_b": list(b_data.shape),
            "total": int(a_data.size),
            "equal": equal,
            "crs_a": a.crs.to_string() if a.crs else None,
            "crs_b": b.crs.to_string() if b.crs else None,
            "transform_equal": a.transform.almost_equals(b.transform, precision=1e-9),
            "transform_a": list(a.transform)[:6],
            "nodata_a": a.nodata,
            "class_counts_a": {str(int(v)): int(c) for v, c in zip(values, counts)},
        }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
