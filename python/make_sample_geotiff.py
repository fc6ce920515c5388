#!/usr/bin/env python3
"""Deterministic synthetic Sentinel-2 L2A-like scene: the demo's bundled sample input.

Six uint16 bands in the order blue, green, red, nir, swir16, swir22 (B02, B03, B04, B08, B11, B12),
DN = reflectance * 10000, nodata 0, EPSG:32633 with a 20 m grid north of Vienna, tiled 256x256,
deflate compressed with horizontal predictor.

The scene has smooth land cover (vegetation, cropland/bare soil, built-up, water), bright white-ish
clouds that are high in every band including SWIR, darker cloud shadows offset from the clouds (sun
from the south-west), a little sensor noise, and a nodata wedge in one corner like the edge of an
orbit swath. It is tuned so that the ukis-csmask 6-band L2A model finds clouds on a clear share of it.

Usage: make_sample_geotiff.py OUTPUT.tif [--size 512] [--seed 7]
Needs numpy and rasterio.
"""
import argparse

import numpy as np
import rasterio
from rasterio.transform import from_origin

BANDS = ["blue", "green", "red", "nir", "swir16", "swir22"]

# Typical surface reflectance per class, bands in BANDS order.
LAND_COVER = {
    "vegetation": [0.045, 0.075, 0.055, 0.330, 0.200, 0.110],
    "cropland": [0.060, 0.090, 0.100, 0.280, 0.260, 0.170],
    "bare_soil": [0.090, 0.120, 0.150, 0.230, 0.300, 0.240],
    "built_up": [0.100, 0.110, 0.120, 0.170, 0.200, 0.180],
    "water": [0.050, 0.050, 0.030, 0.020, 0.010, 0.006],
}
CLOUD = np.array([0.55, 0.54, 0.55, 0.60, 0.38, 0.27])

ORIGIN_X = 600000.0  # EPSG:32633 (UTM 33N), Weinviertel north of Vienna
ORIGIN_Y = 5370000.0
PIXEL = 20.0


def smooth_noise(rng, size, scales, weights):
    """Sum of bilinearly upsampled random grids: cheap, deterministic, no scipy."""
    out = np.zeros((size, size), dtype=np.float64)
    for scale, weight in zip(scales, weights):
        cells = max(2, int(np.ceil(size / scale)) + 2)
        grid = rng.standard_normal((cells, cells))
        coords = np.arange(size) / scale
        i0 = np.floor(coords).astype(int)
        frac = coords - i0
        rows = grid[i0, :] * (1 - frac)[:, None] + grid[i0 + 1, :] * frac[:, None]
        layer = rows[:, i0] * (1 - frac)[None, :] + rows[:, i0 + 1] * frac[None, :]
        out += weight * layer
    return (out - out.mean()) / (out.std() + 1e-12)


def make_scene(size, seed):
    rng = np.random.default_rng(seed)
    # Land cover from two independent smooth fields.
    terrain = smooth_noise(rng, size, [96, 40, 12], [1.0, 0.5, 0.2])
    use = smooth_noise(rng, size, [64, 24, 8], [1.0, 0.6, 0.3])
    classes = np.full((size, size), "vegetation", dtype=object)
    classes[use > 0.3] = "cropland"
    classes[use > 1.1] = "bare_soil"
    classes[(use < -1.0) & (terrain > 0.2)] = "built_up"
    classes[terrain < -1.3] = "water"
    refl = np.zeros((6, size, size), dtype=np.float64)
    for name, values in LAND_COVER.items():
        sel = classes == name
        refl[:, sel] = np.array(values)[:, None]
    # Within-class variability and sensor noise.
    texture = smooth_noise(rng, size, [16, 4], [1.0, 0.5])
    refl *= 1.0 + 0.02 * texture[None]
    refl += rng.normal(0.0, 0.004, refl.shape)

    # Clouds: thresholded smooth field with soft edges; opacity ramps up inside the blob.
    cloud_field = smooth_noise(rng, size, [80, 30, 10], [1.0, 0.45, 0.2])
    opacity = np.clip((cloud_field - 0.95) / 0.6, 0.0, 1.0)
    puff = smooth_noise(rng, size, [6, 3], [1.0, 0.5])
    cloud_refl = CLOUD[:, None, None] * (1.0 + 0.06 * puff[None])
    # Shadows: the cloud footprint shifted away from the sun, darkening the ground below.
    dy, dx = size // 12, size // 10
    shadow = np.zeros_like(opacity)
    shadow[dy:, dx:] = opacity[:-dy, :-dx]
    shadow_factor = 1.0 - 0.6 * shadow
    shaded = refl * shadow_factor[None]
    out = shaded * (1.0 - opacity[None]) + cloud_refl * opacity[None]

    dn = np.clip(np.round(out * 10000.0), 1, 65535).astype(np.uint16)
    # Nodata wedge in the lower-left corner (edge of the swath).
    yy, xx = np.mgrid[0:size, 0:size]
    dn[:, (size - 1 - yy) + xx < size // 10] = 0
    return dn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.size < 16:
        parser.error("--size must be at least 16")
    data = make_scene(args.size, args.seed)
    block = min(256, max(16, args.size // 16 * 16))
    profile = {
        "driver": "GTiff",
        "width": args.size,
        "height": args.size,
        "count": 6,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": from_origin(ORIGIN_X, ORIGIN_Y, PIXEL, PIXEL),
        "nodata": 0,
        "tiled": True,
        "blockxsize": block,
        "blockysize": block,
        "compress": "deflate",
        "predictor": 2,
        "interleave": "pixel",
    }
    with rasterio.open(args.output, "w", **profile) as dst:
        dst.write(data)
        for index, name in enumerate(BANDS, start=1):
            dst.set_band_description(index, name)


if __name__ == "__main__":
    main()
