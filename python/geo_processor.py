"""
Helpers for lifecycle processors, importable inside the processor sandbox as `geo_processor`.

A lifecycle processor is a file the runtime keeps warm: `setup` runs once per warm process, then every task
is fed to `process` (or several at once to `process_batch`), and `cleanup` runs before the process ends.
Two styles, detected at upload:

Functions at the top level of the file:

    from geo_processor import ValidationError, logger

    def setup(parameters):                       # once per warm process -> state
        return {"model": load_model(parameters["model"])}

    def validate(input_info, state):             # optional: raise ValidationError(message)
        if input_info["count"] < 3:
            raise ValidationError("need at least 3 bands")

    def process(input_path, output_path, parameters, state):   # -> result dict
        ...
        return {"pixels": 123}

    def process_batch(items, state):             # optional: several tasks in one call -> list of results
        ...

    def cleanup(state):                          # optional: release what setup loaded
        ...

Or a class deriving from `BaseProcessor` (the base framework's style): the same methods without `state`
(the instance is the state), `process_frame(frame, metadata)` instead of `process` when the processor maps
one array to another, and `self.logger`. Methods may be `async`.
"""

import logging
import sys

__all__ = ["BaseProcessor", "ValidationError", "logger", "read_frame", "write_frame"]


class ValidationError(Exception):
    """Raised by `validate` (or `process`) for input the processor cannot handle: the task's step fails with
    this message, and is not retried."""

    def __init__(self, message):
        super().__init__(message)
        self.message = str(message)


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr (the sandbox replaces it after this module was imported)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def _make_logger():
    log = logging.getLogger("processor")
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


logger = _make_logger()


def read_frame(path):
    """The raster at path as (array bands x rows x cols, metadata dict with its profile)."""
    import rasterio

    with rasterio.open(path) as dataset:
        frame = dataset.read()
        profile = dict(dataset.profile)
    return frame, {"path": path, "profile": profile, "shape": list(frame.shape), "dtype": str(frame.dtype)}


def write_frame(path, frame, profile):
    """Writes a 2-D or 3-D array as a GeoTIFF with the georeferencing of `profile`."""
    import numpy as np
    import rasterio

    array = np.asarray(frame)
    if array.ndim == 2:
        array = array[np.newaxis, ...]
    out = dict(profile)
    out.update(driver="GTiff", count=array.shape[0], height=array.shape[1], width=array.shape[2], dtype=str(array.dtype))
    for key in ("blockxsize", "blockysize", "tiled"):
        if out.get("tiled") and (array.shape[1] < 16 or array.shape[2] < 16):
            out.pop(key, None)
    with rasterio.open(path, "w", **out) as dataset:
        dataset.write(array)


class BaseProcessor:
    """Base class of class-style lifecycle processors: override `setup`, `validate`, `process` (or
    `process_frame`), optionally `process_batch` and `cleanup`. The runtime makes one instance per warm
    process."""

    name = None
    version = "0.0.0"
    description = ""

    def __init__(self, name=None, version=None, description=None, **options):
        self.name = name or self.name or type(self).__name__
        self.version = version or self.version
        self.description = description or self.description
        self.options = options
        self.logger = logger
        self.parameters = {}

    def setup(self, parameters):
        """Loads what every task needs (a model, a lookup table); runs once per warm process."""
        self.parameters = dict(parameters or {})

    def validate(self, input_info):
        """Raise ValidationError(message) to refuse an input; input_info has path, width, height, count,
        dtype, crs, transform, nodata."""

    def process(self, input_path, output_path, parameters):
        """Default: reads the raster, calls process_frame(frame, metadata) and writes what it returns with
        the input's georeferencing. Returns the result dict of the task."""
        if type(self).process_frame is BaseProcessor.process_frame:
            raise NotImplementedError(f"{type(self).__name__} defines neither process() nor process_frame()")
        frame, metadata = read_frame(input_path)
        metadata["parameters"] = parameters
        _resolve(self.validate_frame(frame, metadata))
        value = self.process_frame(frame, metadata)
        value = _resolve(value)
        result = {}
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
            value, result = value
        write_frame(output_path, value, metadata["profile"])
        return result

    def validate_frame(self, frame, metadata):
        """Raise ValidationError(message) to refuse a frame (called by the default process())."""

    def process_frame(self, frame, metadata):
        """Maps one array (bands x rows x cols) to the output array, or (array, result dict)."""
        raise NotImplementedError

    def cleanup(self):
        """Releases what setup loaded; runs when the warm process ends."""


_loop = None


def _resolve(value):
    """Awaits a coroutine a processor's async method returned (the base framework's methods are async);
    one event loop for the warm process, so state created in setup stays usable."""
    global _loop
    import inspect

    if inspect.isawaitable(value):
        import asyncio

        if _loop is None:
            _loop = asyncio.new_event_loop()
        return _loop.run_until_complete(value)
    return value
