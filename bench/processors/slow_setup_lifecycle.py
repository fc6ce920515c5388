"""Benchmark processor, lifecycle style: the same "model" load (SETUP_SECONDS) once in setup, then
threshold_tile's work per tile."""
import time

import numpy as np
import rasterio


def setup(parameters):
    time.sleep(float(parameters.get("setup_seconds", 2)))
    return {"threshold": parameters.get("threshold", 1)}


def process(input_path, output_path, parameters, state):
    with rasterio.open(input_path) as src:
        data = src.read()
        profile = src.profile
    processed = np.where(data > state["threshold"], data, 0).astype(data.dtype)
    with rasterio.open(output_path, "w", **profile) as dst:
        dst.write(processed)
    return {"status": "success", "kept": int((processed > 0).sum())}
