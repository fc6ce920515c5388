"""Checks a STAC chip (and optionally the model output on it) against the source COG files, independently
of python/stac_chip.py: plain windowed reads of the asset files on the chip's bounds.

Usage: check_chip.py CHIP ASSET_DIR band1,band2,... [--output MASK.tif] [--polygon GEOJSON]
Prints JSON.
"""
import argparse
import json
import os

import numpy as np
import rasterio
import rasterio.transform
import rasterio.warp
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from rasterio.windows import from_bounds


def window_read(path, bounds, shape, resampling):
    with rasterio.open(path) as src:
        window = from_bounds(*bounds, transform=src.transform)
        return src.read(1, window=window, out_shape=shape, resampling=resampling, boundless=True, fill_value=0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("chip")
    parser.add_argument("assets")
    parser.add_argument("bands")
    parser.add_argument("--output")
    parser.add_argument("--polygon")
    parser.add_argument("--masked-scl", default="3,8,9,10", help="SCL classes expected to be masked")
    parser.add_argument("--water-lon", type=float, help="expect output nodata west of this longitude")
    args = parser.parse_args()
    with rasterio.open(args.chip) as chip:
        data = chip.read()
        result = {"width": chip.width, "height": chip.height, "count": chip.count, "epsg": chip.crs.to_epsg(),
                  "transform": list(chip.transform)[:6], "descriptions": list(chip.descriptions), "nodata": chip.nodata,
                  "dtype": chip.dtypes[0]}
        bounds, shape = chip.bounds, (chip.height, chip.width)
    input_nodata = np.all(data == 0, axis=0)
    result["bands_check"] = []
    for index, name in enumerate(args.bands.split(",")):
        source = window_read(os.path.join(args.assets, f"{name}.tif"), bounds, shape, Resampling.nearest).astype(np.float64)
        band = data[index].astype(np.float64)
        valid = (source > 0) & (band > 0)
        equal = float((np.abs(source - band) <= 1)[valid].mean()) if valid.any() else 0.0
        corr = float(np.corrcoef(source[valid], band[valid])[0, 1]) if valid.sum() > 2 else 0.0
        result["bands_check"].append({"name": name, "equal_fraction": equal, "correlation": corr})
    if args.output:
        with rasterio.open(args.output) as out_file:
            out = out_file.read(1)
            out_nodata = out_file.nodata
        scl = window_read(os.path.join(args.assets, "scl.tif"), bounds, shape, Resampling.nearest)
        cloudy = np.isin(scl, [int(v) for v in args.masked_scl.split(",") if v])
        expected = cloudy | input_nodata
        result["mask_check"] = {"cloudy_pixels": int(cloudy.sum()), "nodata_pixels": int((out == out_nodata).sum()),
                                "mismatches": int(((out == out_nodata) != expected).sum()), "total": int(out.size)}
        if args.water_lon is not None:
            with rasterio.open(args.chip) as chip:
                rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
                xs, ys = rasterio.transform.xy(chip.transform, rows.ravel(), cols.ravel())
                lons, _ = rasterio.warp.transform(chip.crs, "EPSG:4326", xs, ys)
            lons = np.asarray(lons).reshape(shape)
            margin = 0.0003  # a few pixels either side of the line
            west, east = lons < args.water_lon - margin, lons > args.water_lon + margin
            nodata = out == out_nodata
            result["water_check"] = {"west": int(west.sum()), "west_nodata_fraction": float(nodata[west].mean()),
                                     "east": int(east.sum()), "east_nodata_fraction": float(nodata[east].mean())}
    if args.polygon:
        with rasterio.open(args.chip) as chip:
            geometry = transform_geom("EPSG:4326", chip.crs, json.loads(args.polygon))
            inside = geometry_mask([geometry], out_shape=shape, transform=chip.transform, invert=True)
        result["polygon_check"] = {"inside": int(inside.sum()), "outside": int((~inside).sum()),
                                   "outside_nodata_fraction": float(input_nodata[~inside].mean()) if (~inside).any() else 1.0,
                                   "inside_valid_fraction": float((~input_nodata[inside]).mean()) if inside.any() else 0.0}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
