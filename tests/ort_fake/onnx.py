"""A stand-in for onnx, only as much as scripts/peer-onnxruntime.py uses (see onnxruntime.py here): lets
tests/schema_test.py run that script end to end where ONNX and ONNX Runtime are absent (CI). A model is the list of
its nodes and initializers; SerializeToString pickles it for the fake InferenceSession."""
import pickle, types  # noqa: E401

__version__ = "0.0+fake"
TensorProto = types.SimpleNamespace(FLOAT=1)


class _Model:
    def __init__(self, graph):
        self.graph, self.ir_version = graph, None

    def SerializeToString(self):
        return pickle.dumps(self.graph)


helper = types.SimpleNamespace(
    make_node=lambda op, inputs, outputs, **attrs: (op, list(inputs), list(outputs), attrs),
    make_graph=lambda nodes, name, inputs, outputs, initializer=(): {"nodes": nodes, "init": dict(initializer)},
    make_tensor_value_info=lambda name, dtype, shape: (name, dtype, shape),
    make_opsetid=lambda domain, version: (domain, version),
    make_model=lambda graph, **kw: _Model(graph))
numpy_helper = types.SimpleNamespace(from_array=lambda a, name: (name, a))
checker = types.SimpleNamespace(check_model=lambda model: None)
