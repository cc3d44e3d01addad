"""A stand-in for torch, only as much as scripts/peer-pytorch.py uses, on numpy and the CPU: lets tests/peer_test.py
run that script end to end where PyTorch is absent (CI). It says nothing about real CUDA behaviour.
Knobs (environment): FAKE_TORCH_MISSING=1 (import fails), FAKE_TORCH_NO_CUDA=1, FAKE_TORCH_WRONG=1 (every mode's
output off by 1), FAKE_TORCH_COMPILE=raise|wrong (torch.compile raises / its output is off by 1).
"""
import contextlib, os, time, types  # noqa: E401

import numpy as np

if os.environ.get("FAKE_TORCH_MISSING") == "1":
    raise ImportError("No module named 'torch' (FAKE_TORCH_MISSING)", name="torch")

__version__ = "0.0+fake"
version = types.SimpleNamespace(cuda="13.0")


class _Dtype:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return "torch." + self.name

    __repr__ = __str__


float32, float16, bfloat16, int64 = _Dtype("float32"), _Dtype("float16"), _Dtype("bfloat16"), _Dtype("int64")


class Tensor:
    def __init__(self, a, dtype=None):
        self.a = a
        self.dtype = dtype or _Dtype(str(a.dtype))

    shape = property(lambda self: self.a.shape)
    ndim = property(lambda self: self.a.ndim)

    def copy_(self, src, non_blocking=False):
        self.a[...] = src.a
        return self

    def pin_memory(self):
        return Tensor(self.a.copy(), self.dtype)

    def numpy(self):
        return self.a

    def float(self):
        return Tensor(self.a.astype(np.float32))


def from_numpy(a):
    return Tensor(a)


def empty(shape, dtype=float32, device=None):
    return Tensor(np.zeros(shape, np.float32))


def device(kind, index=None):
    return (kind, index)


def no_grad():
    return contextlib.nullcontext()


_capture = []  # the graph being captured: modules called record themselves for replay


class _Linear:
    def __init__(self, n_in, n_out, device=None, dtype=None):
        self.weight, self.bias = Tensor(np.zeros((n_out, n_in), np.float32)), Tensor(np.zeros(n_out, np.float32))

    def __call__(self, x):
        return Tensor(x.a @ self.weight.a.T + self.bias.a)


class _ReLU:
    def __call__(self, x):
        return Tensor(np.maximum(x.a, 0))


class _Sequential:
    def __init__(self, *mods):
        self.mods = mods

    def eval(self):
        return self

    def requires_grad_(self, on):
        return self

    def forward(self, x):
        for m in self.mods:
            x = m(x)
        return Tensor(x.a + 1) if os.environ.get("FAKE_TORCH_WRONG") == "1" else x

    def __call__(self, x):
        out = self.forward(x)
        if _capture:
            _capture[-1].ops.append((self, x, out))
        return out


nn = types.SimpleNamespace(Linear=_Linear, ReLU=_ReLU, Sequential=_Sequential)
backends = types.SimpleNamespace(cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=True)),
                                 cudnn=types.SimpleNamespace(allow_tf32=True))


class _Stream:
    def wait_stream(self, other):
        pass


class _Event:
    def __init__(self, enable_timing=False):
        self.t = None

    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


class _CUDAGraph:
    def __init__(self):
        self.ops = []

    def replay(self):
        for module, x, out in self.ops:
            out.a[...] = module.forward(x).a


@contextlib.contextmanager
def _graph(g, pool=None, stream=None):
    _capture.append(g)
    try:
        yield
    finally:
        _capture.pop()


class _OutOfMemoryError(RuntimeError):
    pass


cuda = types.SimpleNamespace(
    is_available=lambda: os.environ.get("FAKE_TORCH_NO_CUDA") != "1", current_device=lambda: 0,
    get_device_name=lambda dev=None: "Fake GPU", synchronize=lambda: None, mem_get_info=lambda dev=None: (80 << 30, 80 << 30),
    Stream=_Stream, current_stream=lambda: _Stream(), stream=lambda s: contextlib.nullcontext(), Event=_Event,
    CUDAGraph=_CUDAGraph, graph=_graph, _sleep=lambda cycles: None, OutOfMemoryError=_OutOfMemoryError)
_dynamo = types.SimpleNamespace(reset=lambda: None)


def compile(model, mode=None, dynamic=None, fullgraph=False):
    how = os.environ.get("FAKE_TORCH_COMPILE", "")
    if how == "raise":
        raise RuntimeError("fake Inductor failure\nwith a second line")
    return (lambda x: Tensor(model(x).a + 1)) if how == "wrong" else model
