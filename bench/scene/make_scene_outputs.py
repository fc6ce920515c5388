"""Synthetic whole-scene data for bench/scene-outputs.ts, written in strips (never a whole scene in memory):
  mask SIZE OUT.u8   a raw uint8 class mask SIZE x SIZE (row-major): smooth blobs of classes 0-3 (many
                     components, most crossing several 256-row blocks), small fields, and nodata (255) areas
                     (a swath along the left edge, as a Sentinel-2 tile's orbit edge, and a round hole).
  input SIZE OUT.tif a 6-band uint16 tiled (256) DEFLATE GeoTIFF SIZE x SIZE in EPSG:32633 (10 m), smooth
                     reflectance-like values plus noise, 0 = nodata in the same swath.
"""
import sys

import numpy as np

STRIP = 512


def field(size, rows, seed, waves=12):
    """A smooth field (sum of plane waves, wavelengths 150-1500 px) over rows `rows` of a size x size grid."""
    rng = np.random.default_rng(seed)
    y = rows[:, None].astype(np.float32)
    x = np.arange(size, dtype=np.float32)[None, :]
    out = np.zeros((len(rows), size), dtype=np.float32)
    for _ in range(waves):
        angle = rng.uniform(0, np.pi)
        k = 2 * np.pi / rng.uniform(150, 1500)
        phase = rng.uniform(0, 2 * np.pi)
        out += np.sin(k * (np.cos(angle) * x + np.sin(angle) * y) + phase).astype(np.float32)
    return out


def nodata_of(size, rows):
    y = rows[:, None]
    x = np.arange(size)[None, :]
    swath = x < (size * 0.08 + 0.05 * y)
    cy, cx, r = size * 0.6, size * 0.7, size * 0.05
    hole = (x - cx) ** 2 + (y - cy) ** 2 < r * r
    return swath | hole


def mask(size, out):
    with open(out, "wb") as f:
        for start in range(0, size, STRIP):
            rows = np.arange(start, min(size, start + STRIP))
            smooth = field(size, rows, seed=7)
            classes = np.digitize(smooth, [-1.2, 0.6, 2.0]).astype(np.uint8)
            # Small fields: 24 px squares of class 3 on a sparse grid (many small components).
            y = rows[:, None]
            x = np.arange(size)[None, :]
            fields = ((x // 24) * 7 + (y // 24) * 13) % 29 == 0
            classes[fields & ((x % 24) < 20) & ((y % 24) < 20)] = 3
            classes[nodata_of(size, rows)] = 255
            f.write(np.ascontiguousarray(classes).tobytes())


def scene_input(size, out):
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 6, "dtype": "uint16", "crs": "EPSG:32633",
        "transform": from_origin(600000.0, 5400000.0, 10.0, 10.0), "tiled": True, "blockxsize": 256,
        "blockysize": 256, "compress": "deflate", "nodata": 0, "BIGTIFF": "IF_SAFER",
    }
    rng = np.random.default_rng(3)
    with rasterio.open(out, "w", **profile) as dst:
        for start in range(0, size, STRIP):
            rows = np.arange(start, min(size, start + STRIP))
            base = field(size, rows, seed=11, waves=6)
            nodata = nodata_of(size, rows)
            data = np.empty((6, len(rows), size), dtype=np.uint16)
            for band in range(6):
                values = 1500 + 400 * band + 300 * base + rng.normal(0, 60, base.shape).astype(np.float32)
                data[band] = np.clip(values, 1, 10000).astype(np.uint16)
                data[band][nodata] = 0
            dst.write(data, window=Window(0, start, size, len(rows)))


if __name__ == "__main__":
    {"mask": mask, "input": scene_input}[sys.argv[1]](int(sys.argv[2]), sys.argv[3])
