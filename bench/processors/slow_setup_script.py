"""Benchmark processor, script style (seed 000): loads a "model" for SETUP_SECONDS on every run, then does
threshold_tile's work."""
import json
import sys
import time

import numpy as np
import rasterio

if __name__ == "__main__":
    parameters = json.loads(sys.argv[3])
    time.sleep(float(parameters.get("setup_seconds", 2)))
    with rasterio.open(sys.argv[1]) as src:
        data = src.read()
        profile = src.profile
    processed = np.where(data > parameters.get("threshold", 1), data, 0).astype(data.dtype)
    with rasterio.open(sys.argv[2], "w", **profile) as dst:
        dst.write(processed)
    print(json.dumps({"status": "success", "kept": int((processed > 0).sum())}))
