"""A stand-in for safetensors.torch.load_file over tests/peer_fake/torch.py (see there): F32, F16, BF16, I64."""
import json, struct  # noqa: E401

import numpy as np
import torch

_DTYPES = {"F32": ("<f4", torch.float32), "F16": ("<f2", torch.float16), "BF16": ("<u2", torch.bfloat16),
           "I64": ("<i8", torch.int64)}


def load_file(path, device="cpu"):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        code, dtype = _DTYPES[t["dtype"]]
        begin, end = t["data_offsets"]
        a = np.frombuffer(data[8 + n + begin:8 + n + end], code).reshape(t["shape"])
        if t["dtype"] == "BF16":  # the high half of an f32
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = torch.Tensor(a.copy(), dtype)
    return out
