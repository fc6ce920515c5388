"""Baseline: the benchmark processor's own work, N times in one warm process. Prints seconds per run."""
import importlib.util
import json
import os
import sys
import tempfile
import time

spec = importlib.util.spec_from_file_location("threshold_tile", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
runs = int(sys.argv[3])
with tempfile.TemporaryDirectory() as tmp:
    output = os.path.join(tmp, "out.tif")
    module.process(sys.argv[2], output, {"threshold": 1})  # warm-up
    started = time.perf_counter()
    for _ in range(runs):
        module.process(sys.argv[2], output, {"threshold": 1})
    print(json.dumps({"seconds_per_run": (time.perf_counter() - started) / runs}))
