#!/usr/bin/env python3
"""Prithvi-EO-2.0 benchmark helper for bench/prithvi.ts (needs torch + terratorch: not in requirements.txt).

  prithvi_bench.py export OUT.onnx --backbone terratorch_prithvi_eo_v2_100_tl --frames 3 --size 224 --classes 2
      Builds a TerraTorch EncoderDecoder segmentation model on a Prithvi-EO-2.0 backbone with random weights
      (pretrained weights are not reachable here) and exports it to ONNX with a [B, 6, T, H, W] (BCTHW) input.
  prithvi_bench.py chip OUT.tif --size 448 --frames 3
      A time-major GeoTIFF: frames x 6 bands of uint16 reflectance-like values (10000 = 1.0), on a UTM grid.
  prithvi_bench.py time MODEL.onnx CHIP.tif --frames 3 --size 224 --scale S --mean M,... --std S,... --mask OUT.u8
      Python onnxruntime over the chip's non-overlapping size x size tiles, built as the platform builds them
      ((dn * scale - mean) / std per band, time-major bands to [C, T, H, W]); prints
      {"tiles": n, "seconds": s, "tiles_per_s": r} and writes the argmax classes (uint8, row-major) to --mask.
"""
import argparse
import json
import time

import numpy as np

BANDS = 6


def export(args):
    import torch
    from terratorch.models import EncoderDecoderFactory

    model = EncoderDecoderFactory().build_model(
        task="segmentation",
        backbone=args.backbone,
        backbone_pretrained=False,
        backbone_num_frames=args.frames,
        backbone_bands=["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"],
        # FCN head: UperNet's pyramid pooling (adaptive_avg_pool2d) does not export with a dynamic batch axis.
        decoder="FCNDecoder",
        necks=[
            {"name": "SelectIndices", "indices": [2, 5, 8, 11]},
            {"name": "ReshapeTokensToImage", "effective_time_dim": args.frames},
        ],
        num_classes=args.classes,
    )
    model.eval()

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x).output

    example = torch.randn(1, BANDS, args.frames, args.size, args.size)
    with torch.no_grad():
        torch.onnx.export(
            Logits(model),
            example,
            args.out,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
        )
    parameters = sum(p.numel() for p in model.parameters())
    print(json.dumps({"onnx": args.out, "parameters": parameters}))


def chip(args):
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(7)
    base = rng.integers(200, 4000, size=(BANDS, args.size, args.size)).astype(np.float32)
    frames = [np.clip(base * (0.9 + 0.1 * k) + rng.normal(0, 150, base.shape), 1, 10000) for k in range(args.frames)]
    data = np.concatenate(frames).astype(np.uint16)  # time-major: frame 0's bands, then frame 1's, ...
    profile = {
        "driver": "GTiff",
        "width": args.size,
        "height": args.size,
        "count": data.shape[0],
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": from_origin(500000, 5300000, 30, 30),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(args.out, "w", **profile) as dst:
        dst.write(data)


def time_tiles(args):
    import onnxruntime as ort
    import rasterio

    with rasterio.open(args.chip) as src:
        data = src.read().astype(np.float32)
    mean = np.array([float(v) for v in args.mean.split(",")], np.float32)
    std = np.array([float(v) for v in args.std.split(",")], np.float32)
    frames, size = args.frames, args.size
    stack = data.reshape(frames, BANDS, data.shape[1], data.shape[2]).transpose(1, 0, 2, 3)  # C, T, H, W
    stack = (stack * args.scale - mean[:, None, None, None]) / std[:, None, None, None]
    height, width = data.shape[1], data.shape[2]
    windows = [(y, x) for y in range(0, height, size) for x in range(0, width, size)]
    tiles = np.stack([stack[:, :, y : y + size, x : x + size] for y, x in windows]).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: tiles[:1]})  # warm-up
    best = None
    mask = np.zeros((height, width), np.uint8)
    for _ in range(args.repeats):
        start = time.perf_counter()
        for i in range(0, len(tiles), args.batch):
            logits = session.run(None, {name: tiles[i : i + args.batch]})[0]
            for j, (y, x) in enumerate(windows[i : i + args.batch]):
                mask[y : y + size, x : x + size] = logits[j].argmax(axis=0)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    if args.mask:
        mask.tofile(args.mask)
    print(json.dumps({"tiles": len(tiles), "seconds": best, "tiles_per_s": len(tiles) / best}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export")
    e.add_argument("out")
    e.add_argument("--backbone", default="terratorch_prithvi_eo_v2_100_tl")
    e.add_argument("--frames", type=int, default=3)
    e.add_argument("--size", type=int, default=224)
    e.add_argument("--classes", type=int, default=2)
    c = sub.add_parser("chip")
    c.add_argument("out")
    c.add_argument("--size", type=int, default=448)
    c.add_argument("--frames", type=int, default=3)
    t = sub.add_parser("time")
    t.add_argument("model")
    t.add_argument("chip")
    t.add_argument("--frames", type=int, default=3)
    t.add_argument("--size", type=int, default=224)
    t.add_argument("--scale", type=float, default=0.0001)
    t.add_argument("--mean", required=True)
    t.add_argument("--std", required=True)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--batch", type=int, default=1)
    t.add_argument("--repeats", type=int, default=2)
    t.add_argument("--mask")
    args = parser.parse_args()
    {"export": export, "chip": chip, "time": time_tiles}[args.command](args)


if __name__ == "__main__":
    main()
