"""Benchmark processor: keeps pixels of band 1 above a threshold, zeroes the rest (a few ms on a 256x256 tile)."""
import json
import sys

import numpy as np
import rasterio


def process(input_path, output_path, parameters):
    with rasterio.open(input_path) as src:
        data = src.read()
        profile = src.profile
    processed = np.where(data > parameters.get("threshold", 1), data, 0).astype(data.dtype)
    with rasterio.open(output_path, "w", **profile) as dst:
        dst.write(processed)
    return {"status": "success", "kept": int((processed > 0).sum())}


if __name__ == "__main__":
    print(json.dumps(process(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))
    sys.exit(0)
