"""Model-ready chips from Cloud-Optimized GeoTIFFs over HTTP, for the terrakit-data-fetch step.

Reads a JSON request on stdin and prints one JSON summary line on stdout; errors go to stderr as
`ChipError: <reason>` with exit code 2 (bad input: not retried) or any other exit code (transient).

  chip:  builds a multi-band GeoTIFF on a grid in the scene's CRS (the CRS of the first band) at
         `resolution` metres covering `bbox` (WGS84), each band resampled onto it through a WarpedVRT,
         so GDAL reads only the COG blocks (or overview blocks) under the area with HTTP range
         requests. Optionally the classification band (nearest) and a polygon mask (outside -> nodata).
         Built in windows of full-width rows, written as 256 x 256 deflate tiles (strips below one tile):
         memory stays bounded for a whole Sentinel-2 tile, and the model step can read the chip by blocks.
  warp:  resamples a raster (path or URL) onto the grid of a template GeoTIFF (nearest), as uint8
         0/1 (non-zero = 1): the permanent-water reference for post-processing.
  preview: a true-colour (or any three bands) picture of a task's input as an RGB uint8 Cloud-Optimized
         GeoTIFF on the input's grid: each band stretched linearly between its low and high percentile of
         valid pixels, nodata transparent (alpha band). For viewing beside the prediction.
"""
import json
import math
import os
import sys
import tempfile
from contextlib import ExitStack

import numpy as np
import rasterio
import rasterio.shutil
import rasterio.windows
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.transform import from_origin
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds, transform_geom
from rasterio.windows import Window
from rasterio.windows import transform as window_transform


class ChipError(Exception):
    pass


def open_raster(href):
    try:
        return rasterio.open(href)
    except rasterio.errors.RasterioIOError as error:
        message = str(error)
        # 4xx answers are the input's fault; anything else (timeouts, 5xx) may pass on a retry.
        if any(code in message for code in ("HTTP response code: 4", "404", "403", "401", "not recognized as")):
            raise ChipError(f"cannot read {href}: {message}") from error
        raise


def grid_for(bbox, crs, resolution):
    """A grid in `crs` snapped to multiples of `resolution`, covering the WGS84 bbox."""
    left, bottom, right, top = transform_bounds("EPSG:4326", crs, *bbox, densify_pts=21)
    left = math.floor(left / resolution) * resolution
    bottom = math.floor(bottom / resolution) * resolution
    right = math.ceil(right / resolution) * resolution
    top = math.ceil(top / resolution) * resolution
    width = max(1, int(round((right - left) / resolution)))
    height = max(1, int(round((top - bottom) / resolution)))
    return from_origin(left, top, resolution, resolution), width, height


def resample(href, crs, transform, width, height, resampling, nodata):
    with open_raster(href) as src:
        src_nodata = src.nodata if src.nodata is not None else nodata
        with WarpedVRT(src, crs=crs, transform=transform, width=width, height=height, resampling=resampling,
                       src_nodata=src_nodata, nodata=nodata) as vrt:
            return vrt.read(1), src.dtypes[0]


# Output rows per window: two 256-row block rows, so a window is written as whole tiles (a 10980-wide 6-band
# uint16 window is 67 MB; GDAL's warp memory per band VRT stays at its 64 MB default).
WINDOW_ROWS = 512


def chip_profile(width, height, count, dtype, crs, transform, nodata, **extra):
    """Tiled 256 (deflate, written window by window) unless the chip is smaller than one tile."""
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs=crs,
                   transform=transform, nodata=nodata, tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate", bigtiff="IF_SAFER", **extra)
    if width < 256 or height < 256:
        profile.update(tiled=False)
        del profile["blockxsize"], profile["blockysize"]
    return profile


def windows_of(width, height):
    for row in range(0, height, WINDOW_ROWS):
        yield Window(0, row, width, min(WINDOW_ROWS, height - row))


class WarpedBands:
    """The warped VRT of each source on the chip grid, opened once and read window by window."""

    def __init__(self, stack, hrefs, crs, transform, width, height, resampling, nodatas):
        self.vrts = []
        self.dtypes = []
        for href, nodata in zip(hrefs, nodatas):
            src = stack.enter_context(open_raster(href))
            src_nodata = src.nodata if src.nodata is not None else nodata
            self.vrts.append(stack.enter_context(WarpedVRT(
                src, crs=crs, transform=transform, width=width, height=height, resampling=resampling,
                src_nodata=src_nodata, nodata=nodata)))
            self.dtypes.append(src.dtypes[0])


def chip(request):
    """One frame (`bands`, `classification`) or a time series (`frames`: a list of those, oldest first) on one grid:
    the grid comes from the first band of the first frame; frame t's band at `position` is written to band
    t * (bands per frame) + position (time-major), its classification to band t + 1 of the classification file.
    Built window by window (WINDOW_ROWS full-width rows): a whole Sentinel-2 tile never sits in memory."""
    resolution = float(request["resolution"])
    frames = request.get("frames") or [{"bands": request["bands"], "classification": request.get("classification")}]
    first_href = frames[0]["bands"][0]["href"]
    with open_raster(first_href) as first:
        crs = first.crs
    if crs is None:
        raise ChipError(f"{first_href} has no CRS")
    transform, width, height = grid_for(request["bbox"], crs, resolution)
    nodata = request["nodata"]
    per_frame = max(band["position"] for band in frames[0]["bands"])
    band_count = per_frame * len(frames)
    geometry = transform_geom("EPSG:4326", crs, request["geometry"]) if request.get("geometry") else None

    def inside_of(window):
        if geometry is None:
            return None
        return geometry_mask([geometry], out_shape=(int(window.height), int(window.width)),
                             transform=window_transform(window, transform), invert=True)

    placed = [(t * per_frame + band["position"] - 1, band) for t, frame in enumerate(frames) for band in frame["bands"]]
    with ExitStack() as sources:
        warped = WarpedBands(sources, [band["href"] for _, band in placed], crs, transform, width, height,
                             Resampling.bilinear, [nodata] * len(placed))
        dtype = warped.dtypes[0]
        valid_count = 0
        frame_valid_counts = [0] * len(frames)
        profile = chip_profile(width, height, band_count, dtype, crs, transform, nodata, predictor=2)
        with rasterio.open(request["out_chip"], "w", **profile) as dst:
            for window in windows_of(width, height):
                data = np.full((band_count, int(window.height), width), nodata, dtype=dtype)
                for (index, _), vrt in zip(placed, warped.vrts):
                    data[index] = vrt.read(1, window=window)
                inside = inside_of(window)
                if inside is not None:
                    data[:, ~inside] = nodata
                dst.write(data, window=window)
                valid_count += int(np.any(data != nodata, axis=0).sum())
                for t in range(len(frames)):
                    frame_valid_counts[t] += int(np.any(data[t * per_frame:(t + 1) * per_frame] != nodata, axis=0).sum())
            for t, frame in enumerate(frames):
                for band in frame["bands"]:
                    suffix = f" t{t}" if len(frames) > 1 else ""
                    dst.set_band_description(t * per_frame + band["position"], band.get("name", "") + suffix)
    pixels = width * height
    summary = {"width": width, "height": height, "bands": band_count, "crs": crs.to_string(), "epsg": crs.to_epsg(),
               "transform": list(transform)[:6], "dtype": str(np.dtype(dtype)),
               "valid_fraction": valid_count / pixels if pixels else 0.0,
               "frame_valid_fractions": [count / pixels if pixels else 0.0 for count in frame_valid_counts]}
    classified = [frame.get("classification") for frame in frames]
    if any(classified):
        spec = next(entry for entry in classified if entry)
        present = [(t, entry) for t, entry in enumerate(classified) if entry]
        counts = np.zeros(256, dtype=np.int64)
        out_path = request.get("classification_out") or spec["out"]
        with ExitStack() as sources:
            warped = WarpedBands(sources, [entry["href"] for _, entry in present], crs, transform, width, height,
                                 Resampling.nearest, [entry["nodata"] for _, entry in present])
            profile = chip_profile(width, height, len(frames), "uint8", crs, transform, spec["nodata"])
            with rasterio.open(out_path, "w", **profile) as dst:
                for window in windows_of(width, height):
                    out = np.full((len(frames), int(window.height), width), spec["nodata"], dtype=np.uint8)
                    for (t, _), vrt in zip(present, warped.vrts):
                        out[t] = vrt.read(1, window=window).astype(np.uint8)
                    inside = inside_of(window)
                    if inside is not None:
                        out[:, ~inside] = spec["nodata"]
                    dst.write(out, window=window)
                    counts += np.bincount(out.ravel(), minlength=256)
        summary["classification_values"] = {str(v): int(c) for v, c in enumerate(counts) if c}
    return summary


def stack(request):
    """Time series given as one GeoTIFF per frame (oldest first): all on one grid (size, CRS, transform), stacked
    time-major into one GeoTIFF of the first frame's data type and nodata."""
    paths, names = request["sources"], request["names"]
    with rasterio.open(paths[0]) as first:
        grid = (first.width, first.height, first.crs, first.transform)
        profile = first.profile.copy()
        count = first.count
    arrays = []
    for path, name in zip(paths, names):
        with rasterio.open(path) as src:
            here = (src.width, src.height, src.crs, src.transform)
            if here[0:2] != grid[0:2] or here[2] != grid[2] or not here[3].almost_equals(grid[3]):
                raise ChipError(
                    f"{name} is not on the grid of {names[0]}: {src.width}x{src.height} {src.crs} origin "
                    f"({src.transform.c}, {src.transform.f}) pixel {src.transform.a} vs {grid[0]}x{grid[1]} {grid[2]} "
                    f"origin ({grid[3].c}, {grid[3].f}) pixel {grid[3].a}; every frame of a time series must share one grid")
            if src.count != count:
                raise ChipError(f"{name} has {src.count} band(s) and {names[0]} {count}; every frame needs the same bands")
            arrays.append(src.read().astype(profile["dtype"]))
    data = np.concatenate(arrays, axis=0)
    profile.update(driver="GTiff", count=data.shape[0], compress="deflate")
    for key in ("blockxsize", "blockysize", "tiled"):
        profile.pop(key, None)
    with rasterio.open(request["out"], "w", **profile) as dst:
        dst.write(data)
    return {"width": grid[0], "height": grid[1], "bands": int(data.shape[0]), "frames": len(paths),
            "bands_per_frame": count, "epsg": grid[2].to_epsg() if grid[2] else None}


def warp(request):
    with rasterio.open(request["template"]) as template:
        crs, transform, width, height = template.crs, template.transform, template.width, template.height
    values, _ = resample(request["source"], crs, transform, width, height, Resampling.nearest, 0)
    out = (values != 0).astype(np.uint8)
    with rasterio.open(request["out"], "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8",
                       crs=crs, transform=transform, compress="deflate") as dst:
        dst.write(out, 1)
    return {"width": width, "height": height, "ones": int(out.sum())}


# Rows per strip of the input preview (bounded memory: a strip of 3 float64 bands of a 10,980-wide scene is 67 MB).
PREVIEW_STRIP_ROWS = 256
# MB of GDAL block cache for the preview (a strip of 256-row blocks of a 10,980-wide 6-band uint16 input is 34 MB).
PREVIEW_GDAL_CACHE_MB = 96


def preview_strips(src):
    """Row windows covering the raster, PREVIEW_STRIP_ROWS high."""
    for row in range(0, src.height, PREVIEW_STRIP_ROWS):
        yield rasterio.windows.Window(0, row, src.width, min(PREVIEW_STRIP_ROWS, src.height - row))


def strip_valid(data, nodata):
    valid = np.all(np.isfinite(data), axis=0)
    if nodata is not None:
        valid &= ~np.all(data == nodata, axis=0)
    return valid


def exact_percentiles(values_by_strip, histogram, offset, count, percentiles):
    """np.percentile(all valid values, percentiles) (its default linear method, float64), computed from a
    histogram of integer values (value = offset + bin) or, for other types, from the valid values gathered."""
    if histogram is None:
        return np.percentile(np.concatenate(values_by_strip).astype(np.float64), percentiles)
    # The same arithmetic as numpy's _quantile: virtual index (n - 1) * q, floor and next, _lerp.
    quantiles = np.true_divide(np.asarray(percentiles, dtype=np.float64), 100)
    virtual = (count - 1) * quantiles
    previous = np.floor(virtual)
    following = np.minimum(previous + 1, count - 1)
    gamma = virtual - previous
    cumulative = np.cumsum(histogram)
    order = lambda k: float(offset + np.searchsorted(cumulative, k, side="right"))
    a = np.array([order(int(k)) for k in previous], dtype=np.float64)
    b = np.array([order(int(k)) for k in following], dtype=np.float64)
    diff_b_a = b - a
    result = np.asanyarray(np.add(a, diff_b_a * gamma))
    np.subtract(b, diff_b_a * (1 - gamma), out=result, where=gamma >= 0.5, casting="unsafe")
    return result


def preview(request):
    """Read and written in strips of rows (two passes: the percentiles, then the stretched picture), so a whole
    Sentinel-2 tile (10,980^2 x N) stays within a few hundred MB; results equal a whole-raster computation."""
    # GDAL's block cache otherwise grows to 5 % of the machine's memory over a whole scene.
    with rasterio.Env(GDAL_CACHEMAX=PREVIEW_GDAL_CACHE_MB):
        return preview_in_strips(request)


def preview_in_strips(request):
    bands = request["bands"]  # 1-based band indexes, red, green, blue
    low, high = request.get("percentiles", [2, 98])
    with rasterio.open(request["source"]) as src:
        if request.get("bands_per_frame"):
            # A time series input (time-major): the newest frame, the one predicted for.
            bands = [band + (src.count // request["bands_per_frame"] - 1) * request["bands_per_frame"] for band in bands]
        for band in bands:
            if band < 1 or band > src.count:
                raise ChipError(f"preview band {band} is not in the input (it has {src.count} bands)")
        profile = {"crs": src.crs, "transform": src.transform, "width": src.width, "height": src.height}
        nodata = request.get("nodata", src.nodata)
        dtypes = [np.dtype(src.dtypes[band - 1]) for band in bands]
        # Integer samples up to 16 bits: exact percentiles from a histogram; others: the valid values gathered.
        integer = all(np.issubdtype(t, np.integer) and t.itemsize <= 2 for t in dtypes)
        offset = min(int(np.iinfo(t).min) for t in dtypes) if integer else 0
        bins = (max(int(np.iinfo(t).max) for t in dtypes) - offset + 1) if integer else 0
        histograms = [np.zeros(bins, dtype=np.int64) for _ in range(3)] if integer else [None] * 3
        gathered = [[], [], []]
        valid_count = 0
        for window in preview_strips(src):
            raw = src.read(bands, window=window)
            valid = strip_valid(raw.astype(np.float64), nodata)
            valid_count += int(valid.sum())
            for i in range(3):
                values = raw[i][valid]
                if integer:
                    histograms[i] += np.bincount(values.astype(np.int64) - offset, minlength=bins)
                else:
                    gathered[i].append(values)
        stretch = []
        for i in range(3):
            lo, hi = (exact_percentiles(gathered[i], histograms[i], offset, valid_count, [low, high])
                      if valid_count else (0.0, 1.0))
            lo, hi = float(lo), float(hi)
            if hi <= lo:
                hi = lo + 1.0
            stretch.append([lo, hi])
        del gathered, histograms
        out_dir = os.path.dirname(os.path.abspath(request["out"]))
        with tempfile.NamedTemporaryFile(suffix=".tif", dir=out_dir) as scratch:
            with rasterio.open(scratch.name, "w", driver="GTiff", count=4, dtype="uint8", tiled=True,
                               blockxsize=256, blockysize=256, BIGTIFF="IF_SAFER", **profile) as dst:
                dst.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                                   rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.alpha]
                for window in preview_strips(src):
                    data = src.read(bands, window=window).astype(np.float64)
                    valid = strip_valid(data, nodata)
                    out = np.zeros((4,) + valid.shape, dtype=np.uint8)
                    for i, (lo, hi) in enumerate(stretch):
                        out[i] = np.clip(np.round((data[i] - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
                        out[i][~valid] = 0
                    out[3] = np.where(valid, 255, 0).astype(np.uint8)
                    dst.write(out, window=window)
            # GDAL's COG driver copies block by block and builds the overviews from the copy.
            rasterio.shutil.copy(scratch.name, request["out"], driver="COG", compress="deflate", blocksize=256,
                                 overview_resampling="average")
    return {"width": profile["width"], "height": profile["height"], "bands": bands, "stretch": stretch,
            "percentiles": [low, high], "valid_fraction": valid_count / (profile["width"] * profile["height"])}


COMMANDS = {"chip": chip, "warp": warp, "preview": preview, "stack": stack}


def main():
    request = json.load(sys.stdin)
    try:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif,.tiff,.TIF,.TIFF",
                          GDAL_HTTP_MERGE_CONSECUTIVE_RANGES="YES", GDAL_HTTP_MULTIPLEX="YES", GDAL_HTTP_MAX_RETRY="3",
                          GDAL_HTTP_RETRY_DELAY="1", VSI_CACHE="TRUE",
                          # GDAL's block cache defaults to 5 % of RAM (over 1 GB on a 24 GB machine); windows
                          # read once need little of it.
                          GDAL_CACHEMAX=256 * 1024 * 1024):
            result = COMMANDS[request["command"]](request)
    except ChipError as error:
        print(f"ChipError: {error}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
