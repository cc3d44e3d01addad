"""A stand-in for safetensors.numpy.load_file: F32 tensors (what `mlpbench export-weights` writes)."""
import json, struct  # noqa: E401

import numpy as np


def load_file(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    out = {}
    for name, t in json.loads(data[8:8 + n]).items():
        if name != "__metadata__":
            if t["dtype"] != "F32":
                raise ValueError(f"fake safetensors.numpy reads F32 only, not {t['dtype']}")
            begin, end = t["data_offsets"]
            out[name] = np.frombuffer(data[8 + n + begin:8 + n + end], "<f4").reshape(t["shape"]).copy()
    return out
