"""Baseline: the benchmark processor's own work in one warm process. For every line read on stdin it
processes the tile once and prints the milliseconds it took, so the caller can pair it with other runs."""
import importlib.util
import os
import sys
import tempfile
import time

spec = importlib.util.spec_from_file_location("threshold_tile", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with tempfile.TemporaryDirectory() as tmp:
    output = os.path.join(tmp, "out.tif")
    module.process(sys.argv[2], output, {"threshold": 1})  # warm-up
    print("ready", flush=True)
    for _ in sys.stdin:
        started = time.perf_counter()
        module.process(sys.argv[2], output, {"threshold": 1})
        print(f"{(time.perf_counter() - started) * 1000:.3f}", flush=True)
