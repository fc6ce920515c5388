"""Checks rendered XYZ tiles against their source raster, independently of the TypeScript renderer: every
tile pixel's centre goes EPSG:3857 -> raster CRS with GDAL/PROJ (rasterio.warp.transform), the nearest
source pixel of the level the tile should read is looked up, mapped through the colour map and compared with
the PNG (decoded by GDAL's PNG driver). Level rule (README): the coarsest overview whose pixels are no larger
than the tile pixel, measured in the raster CRS across the tile's centre pixel; full resolution otherwise.

Usage: check_tiles.py manifest.json, manifest = {"raster", "colours": {value: [r, g, b]}, "tiles": [{"z", "x",
"y", "png", "level"}]}. Prints one JSON line per tile and a summary line."""
import json
import math
import sys

import numpy as np
import rasterio
from rasterio.warp import transform as warp

R = 6378137.0
HALF = math.pi * R

manifest = json.load(open(sys.argv[1]))
colours = {int(k): v for k, v in manifest["colours"].items()}
path = manifest["raster"]

with rasterio.open(path) as src:
    crs = src.crs
    full_w, full_h = src.width, src.height
    full_res = math.hypot(src.transform.a, src.transform.d)
    nodata = src.nodata
    factors = src.overviews(1)

levels = []  # (pixel size, data, affine of the level)
with rasterio.open(path) as src:
    levels.append((full_res, src.read(1), src.transform))
for i in range(len(factors)):
    with rasterio.open(path, overview_level=i) as ovr:
        levels.append((full_res * full_w / ovr.width, ovr.read(1), ovr.transform))

summary = {"tiles": 0, "pixels": 0, "mismatches": 0, "level_mismatches": 0, "opaque": 0}
for tile in manifest["tiles"]:
    z, x, y = tile["z"], tile["x"], tile["y"]
    size = 2 * HALF / 2**z
    r = size / 256
    min_x = -HALF + x * size
    max_y = HALF - y * size
    cx, cy = min_x + size / 2, max_y - size / 2
    (x0, x1), (y0, y1) = warp("EPSG:3857", crs, [cx - r / 2, cx + r / 2], [cy, cy])
    tile_pixel = math.hypot(x1 - x0, y1 - y0)
    level = 0
    for index, (res, _, _) in enumerate(levels):
        if res <= tile_pixel * (1 + 1e-9):
            level = index
    _, data, affine = levels[level]

    cols = min_x + (np.arange(256) + 0.5) * r
    rows = max_y - (np.arange(256) + 0.5) * r
    gx, gy = np.meshgrid(cols, rows)
    sx, sy = warp("EPSG:3857", crs, gx.ravel().tolist(), gy.ravel().tolist())
    inv = ~affine
    fc, fr = inv * (np.array(sx), np.array(sy))
    # How far each position is from the nearest pixel edge (in pixels): mismatches should only be ties.
    edge = np.minimum(np.abs(fc - np.round(fc)), np.abs(fr - np.round(fr)))
    pc = np.floor(fc).astype(np.int64)
    pr = np.floor(fr).astype(np.int64)
    pr = np.floor(pr).astype(np.int64)
    inside = (pc >= 0) & (pr >= 0) & (pc < data.shape[1]) & (pr < data.shape[0])
    values = np.full(pc.shape, -1, dtype=np.int64)
    values[inside] = data[pr[inside], pc[inside]]
    expected = np.zeros((256 * 256, 4), dtype=np.int64)
    for value, rgb in colours.items():
        if nodata is not None and value == nodata:
            continue
        hit = values == value
        expected[hit, :3] = rgb
        expected[hit, 3] = 255

    with rasterio.open(tile["png"]) as png:
        indices = png.read(1).ravel()
        cmap = png.colormap(1)
        if png.count != 1:
            raise SystemExit(f"{tile['png']}: expected a palette PNG, got {png.count} bands")
    lut = np.zeros((256, 4), dtype=np.int64)
    for index, rgba in cmap.items():
        lut[index] = rgba
    actual = lut[indices]
    # Transparent pixels: only alpha matters.
    same = (actual[:, 3] == expected[:, 3]) & ((expected[:, 3] == 0) | np.all(actual[:, :3] == expected[:, :3], axis=1))
    mismatches = int((~same).sum())
    edge_distance = float(edge[~same].max()) if mismatches else None
    summary["max_mismatch_edge_distance"] = max(summary.get("max_mismatch_edge_distance") or 0, edge_distance or 0)
    summary["tiles"] += 1
    summary["pixels"] += 256 * 256
    summary["mismatches"] += mismatches
    summary["opaque"] += int((expected[:, 3] > 0).sum())
    # -1 = the server saw the tile miss the raster and read nothing: fine when nothing was expected.
    served = tile.get("level")
    if served is not None and served != level and not (served == -1 and not (expected[:, 3] > 0).any()):
        summary["level_mismatches"] += 1
    print(json.dumps({"z": z, "x": x, "y": y, "expected_level": level, "served_level": tile.get("level"), "mismatches": mismatches, "mismatch_edge_distance": edge_distance, "opaque": int((expected[:, 3] > 0).sum())}))
print(json.dumps(summary))
