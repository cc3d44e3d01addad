"""A stand-in for onnxruntime over onnx.py here: runs the pickled Gemm(transB=1)/Relu graph with numpy."""
import pickle, types  # noqa: E401

import numpy as np

__version__ = "0.0+fake"
GraphOptimizationLevel = types.SimpleNamespace(ORT_ENABLE_ALL=99)
ExecutionMode = types.SimpleNamespace(ORT_SEQUENTIAL=0)
SessionOptions = types.SimpleNamespace
OrtValue = types.SimpleNamespace(ortvalue_from_numpy=lambda a: a)


class _Binding:
    def __init__(self):
        self.inputs, self.outputs = {}, {}

    def bind_cpu_input(self, name, a):
        self.inputs[name] = a

    def bind_ortvalue_output(self, name, a):
        self.outputs[name] = a


class InferenceSession:
    def __init__(self, model_bytes, options=None, providers=None):
        self.graph = pickle.loads(model_bytes)

    def io_binding(self):
        return _Binding()

    def run_with_iobinding(self, binding):
        values = dict(self.graph["init"], **binding.inputs)
        for op, inputs, (out,), attrs in self.graph["nodes"]:
            x = [values[i] for i in inputs]
            values[out] = x[0] @ x[1].T + x[2] if op == "Gemm" else np.maximum(x[0], 0)
        for name, a in binding.outputs.items():
            a[...] = values[name]
