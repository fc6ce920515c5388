"""Baseline for lifecycle processors: setup once and process() per stdin line in one warm process, with no
sandbox and no runtime between; prints the milliseconds of each process() call."""
import importlib.util
import os
import sys
import tempfile
import time

spec = importlib.util.spec_from_file_location("lifecycle", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
parameters = {"setup_seconds": 0, "threshold": 1}
state = module.setup(parameters)
with tempfile.TemporaryDirectory() as tmp:
    output = os.path.join(tmp, "out.tif")
    module.process(sys.argv[2], output, parameters, state)  # warm-up
    print("ready", flush=True)
    for _ in sys.stdin:
        started = time.perf_counter()
        module.process(sys.argv[2], output, parameters, state)
        print(f"{(time.perf_counter() - started) * 1000:.3f}", flush=True)
