#!/usr/bin/env python3
"""Times onnxruntime (Python) on prepared tiles, for bench/inference-throughput.ts.

Usage: bench_inference.py MODEL.onnx TILES.f32 N C T [--batch-sizes 1,4] [--threads 0] [--repeats 1]
TILES.f32 holds N*C*T*T float32 values (model-ready, normalized), written by the TypeScript bench.
Prints one JSON line per batch size: {"runtime": "python", "batch": B, "tiles": N, "seconds": s, "tiles_per_s": r}.
"""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("tiles")
    parser.add_argument("n", type=int)
    parser.add_argument("c", type=int)
    parser.add_argument("t", type=int)
    parser.add_argument("--batch-sizes", default="1,4")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    tiles = np.fromfile(args.tiles, dtype=np.float32).reshape(args.n, args.c, args.t, args.t)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        session.run(None, {name: tiles[:batch]})  # warm-up
        best = None
        for _ in range(args.repeats):
            start = time.perf_counter()
            for i in range(0, args.n, batch):
                session.run(None, {name: tiles[i:i + batch]})
            elapsed = time.perf_counter() - start
            best = elapsed if best is None else min(best, elapsed)
        print(json.dumps({"runtime": "python", "ort": ort.__version__, "threads": args.threads, "batch": batch, "tiles": args.n,
                          "seconds": round(best, 3), "tiles_per_s": round(args.n / best, 3)}), flush=True)


if __name__ == "__main__":
    main()
