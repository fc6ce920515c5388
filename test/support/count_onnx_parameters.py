"""Counts an ONNX model's parameters with the onnx package (the reference for countOnnxParameters): the
element count of every graph initializer plus the stored values of sparse initializers. Prints one integer."""
import sys

import numpy as np
import onnx

model = onnx.load(sys.argv[1], load_external_data=False)
total = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
total += sum(int(np.prod(s.values.dims)) for s in model.graph.sparse_initializer)
print(total)
