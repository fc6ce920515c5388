"""Reference 4-connected components of a raw uint8 mask (scipy.ndimage.label, cross structure) for the COCO
tests. argv: mask.u8 width height values_json. Prints JSON: per value, the components as
[first pixel scan index, area, x, y, w, h], ordered by first pixel."""
import json
import sys

import numpy as np
from scipy import ndimage

mask = np.fromfile(sys.argv[1], dtype=np.uint8).reshape(int(sys.argv[3]), int(sys.argv[2]))
out = {}
for value in json.loads(sys.argv[4]):
    labels, count = ndimage.label(mask == value)
    flat = labels.ravel()
    components = []
    for index, found in enumerate(ndimage.find_objects(labels)):
        ys, xs = found
        first = int(np.argmax(flat == index + 1))
        area = int((labels[found] == index + 1).sum())
        components.append([first, area, xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start])
    out[str(value)] = sorted(components)
print(json.dumps(out))
