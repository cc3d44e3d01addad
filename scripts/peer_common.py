"""peer_common: what the peer scripts (peer-onnxruntime.py, peer-pytorch.py) share, so that they read weights,
check outputs, time and write results files the same way as each other and as mlpbench.

    import peer_common as pc   # the scripts' own folder is on sys.path when they run
    layers = pc.validate_layers(tensors, "--weights 'w.safetensors'")   # a dict of arrays -> [(w, b), ...]
    stats = pc.measure(pc.wall_clock(one_pass), pc.measure_config(quick, cells))

Nothing here needs more than the standard library and numpy; errors are raised as PeerError(code, message)
and printed as one line `PROG: message` by run_main.
"""
import argparse, hashlib, json, math, os, platform, re, signal, socket, sys, tempfile, time  # noqa: E401

try:
    import numpy as np
except ImportError:  # the scripts say which package is missing; --help works without it
    np = None

SCHEMA = "mlpbench/1"
FP32_TOL = 1e-4  # mlpbench's fp32 check: |got - ref| <= 1e-4 + 1e-4 * |ref|


# --- errors and the command line -----------------------------------------------------------------------
class PeerError(Exception):
    """An error to report in one line with an exit code: 2 bad usage or input, 3 runtime or device failure."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def fail(code, msg):
    raise PeerError(code, msg)


def run_main(prog, main, argv):
    """main(argv) -> exit code; a PeerError becomes `prog: message` on stderr and its code.
    SIGTERM ends the run as Ctrl-C does: write_atomic's `finally` removes its temporary file."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return main(argv)
    except PeerError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return e.code


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit 2
        fail(2, f"{message} (see --help)")


def add_common_args(p, quick_help, extra=None):
    """--weights, --batch-sizes, [what `extra(p)` adds], --out, --force, --quick, in that order."""
    p.add_argument("--weights", required=True, metavar="FILE.safetensors",
                   help="nn.Linear state_dict (<prefix>.weight [out,in], <prefix>.bias [out]; F32/F16/BF16), "
                        "e.g. from `mlpbench export-weights --layers 784,512,512,10 --seed 1 --out w.safetensors`")
    p.add_argument("--batch-sizes", default="1,10,100", help="comma-separated batch sizes (default: %(default)s)")
    if extra:
        extra(p)
    p.add_argument("--out", required=True, metavar="FILE.json", help="results file to write (mlpbench/1 schema)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--quick", action="store_true", help=quick_help)


def check_common_args(a, extra=None):
    """Normalizes --batch-sizes (sorted, unique), runs extra(a) (the script's own checks), then refuses an --out
    that can't be written: the order in which the errors are reported."""
    a.batch_sizes = parse_positive_list(a.batch_sizes, "--batch-sizes", 1 << 24)
    if extra:
        extra(a)
    if os.path.isdir(a.out):
        fail(2, f"output '{a.out}' is a directory")
    if os.path.exists(a.out) and not a.force:
        fail(2, f"output '{a.out}' exists; pass --force to replace it")
    return a


def parse_positive_list(text, what, most):
    out = []
    for i, item in enumerate(text.split(","), 1):
        if not re.fullmatch(r"[0-9]+", item) or not 1 <= int(item) <= most:
            fail(2, f"{what} entry #{i}: '{item}' is not an integer in [1, {most}]")
        out.append(int(item))
    return sorted(set(out))


# --- weights and the reference ------------------------------------------------------------------------
def natural_key(s):  # "fc2" < "fc10", "2" < "10": as mlpbench's loader
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def dtype_name(t):  # "float32" for numpy's float32 and torch.float32 alike
    return str(t.dtype).removeprefix("torch.")


def validate_layers(tensors, where, to_f32=None):
    """{name: tensor} of an nn.Linear state_dict -> [(weight [out, in] f32, bias [out] f32), ...] in mlpbench's
    order (natural order of the prefixes), or PeerError(2) naming the problem after `where`. Tensors are numpy
    arrays, or anything with .dtype, .shape and .ndim that to_f32 turns into a float32 numpy array."""
    to_f32 = to_f32 or (lambda t: np.ascontiguousarray(t, np.float32))
    prefixes = []
    for name, t in tensors.items():
        prefix, _, kind = name.rpartition(".")
        if not prefix or kind not in ("weight", "bias"):
            fail(2, f"{where}: tensor '{name}' is not an nn.Linear '<prefix>.weight' or '<prefix>.bias'")
        if dtype_name(t) not in ("float32", "float16", "bfloat16"):
            fail(2, f"{where}: tensor '{name}' is {t.dtype}, not F32/F16/BF16")
        if kind == "weight":
            prefixes.append(prefix)
        elif prefix + ".weight" not in tensors:
            fail(2, f"{where}: tensor '{name}' has no matching '{prefix}.weight'")
    if not prefixes:
        fail(2, f"{where}: holds no '<prefix>.weight' tensor")
    layers = []
    for p in sorted(prefixes, key=natural_key):
        w, b = tensors[p + ".weight"], tensors.get(p + ".bias")
        if b is None:
            fail(2, f"{where}: layer '{p}' has a weight but no '{p}.bias'")
        if w.ndim != 2 or tuple(b.shape) != (w.shape[0],):
            fail(2, f"{where}: layer '{p}' has weight {list(w.shape)} and bias {list(b.shape)}, expected [out, in] and [out]")
        if layers and w.shape[1] != layers[-1][0].shape[0]:
            fail(2, f"{where}: layers don't chain: '{p}.weight' takes {w.shape[1]} inputs but the layer before gives {layers[-1][0].shape[0]}")
        w, b = np.ascontiguousarray(to_f32(w), np.float32), np.ascontiguousarray(to_f32(b), np.float32)
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            fail(2, f"{where}: layer '{p}' holds a non-finite value")
        layers.append((w, b))
    return layers


def widths_of(layers):  # [in, out of each layer]
    return [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]


def check_memory(widths, batch):  # the input is drawn in float64, then a float32 copy, the output, the activations
    need = batch * (12 * widths[0] + 4 * widths[-1] + 8 * max(widths))
    have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > have / 2:
        fail(2, f"batch size {batch} needs about {need / 2**30:.3g} GiB, more than half of this machine's {have / 2**30:.3g} GiB")


def reference_forward(layers, x):  # x [batch, in] -> [batch, out] float64, ReLU between layers: as mlpbench's check
    h = x.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.astype(np.float64).T + b
        if i + 1 < len(layers):
            h = np.maximum(h, 0)
    return h


def max_error_if_wrong(got, ref):
    """None when every |got - ref| <= 1e-4 + 1e-4 |ref| (mlpbench's fp32 tolerance), else the largest |error|."""
    if np.allclose(got, ref, rtol=FP32_TOL, atol=FP32_TOL):
        return None
    return float(np.max(np.abs(got - ref)))


# --- timing: a port of src/mlpbench/measure.cpp -------------------------------------------------------
def measure_config(quick, cells):
    if not quick:
        return dict(warmup_s=0.2, min_time_s=0.5, max_time_s=5.0, min_samples=10, max_samples=2000, target=0.005)
    per_cell = 3.0 / max(1, cells)
    return dict(warmup_s=min(0.05, per_cell * 0.2), min_time_s=min(0.1, per_cell * 0.5), max_time_s=per_cell * 0.7,
                min_samples=5, max_samples=2000, target=0.02)


def summarize(samples, passes):
    s = np.sort(np.asarray(samples))
    q = lambda p: float(np.quantile(s, p))  # noqa: E731  linear (type 7), as measure.cpp
    mean = float(s.mean())
    median = q(0.5)
    return dict(median_ms=median, p90_ms=q(0.9), p99_ms=q(0.99), min_ms=float(s[0]), max_ms=float(s[-1]), mean_ms=mean,
                cv=float(s.std(ddof=1)) / mean if len(s) > 1 and mean > 0 else 0.0,
                ci_rel=1.57 * (q(0.75) - q(0.25)) / math.sqrt(len(s)) / median if median > 0 else 0.0,
                samples=len(s), passes_per_sample=passes)


def wall_clock(run_once):
    """timed(passes): seconds for `passes` calls of run_once, by time.perf_counter_ns (measure.cpp's wall_clock)."""
    def timed(passes):
        t0 = time.perf_counter_ns()
        for _ in range(passes):
            run_once()
        return (time.perf_counter_ns() - t0) * 1e-9
    return timed


def measure(timed, cfg):
    """Statistics of one pass from timed(passes) -> seconds: warm-up, calibration, sampling until converged."""
    t = time.perf_counter()
    while True:  # warm-up
        timed(1)
        if time.perf_counter() - t >= cfg["warmup_s"]:
            break
    passes = 1
    for _ in range(30):  # calibration: the best of three tries must last 50 us
        s = min(timed(passes), timed(passes), timed(passes))
        if s >= 50e-6:
            break
        want = 1.2 * 50e-6 / s * passes if s > 0 else 10.0 * passes
        passes = int(min(max(math.ceil(want), passes + 1), passes * 10))
    samples, converged, t0 = [], False, time.perf_counter()
    while True:
        samples.append(timed(passes) * 1e3 / passes)
        n, elapsed = len(samples), time.perf_counter() - t0
        if n >= cfg["max_samples"] or elapsed >= cfg["max_time_s"]:
            break
        if (n >= cfg["min_samples"] and elapsed >= cfg["min_time_s"] and ((n & (n - 1)) == 0 or n % 64 == 0)
                and summarize(samples, passes)["ci_rel"] <= cfg["target"]):
            converged = True
            break
    stats = summarize(samples, passes)
    stats["converged"] = converged or stats["ci_rel"] <= cfg["target"]
    stats["samples_ms"] = samples
    return stats


# --- results ----------------------------------------------------------------------------------------
def round6(v):
    return float(f"{v:.6g}") if isinstance(v, float) and math.isfinite(v) and v != 0 else v


def measured_cell(stats, backend, config):
    """A measured cell's headline fields, as mlpbench writes them (results.cpp cell_to_json)."""
    cell = {"source": "measured", "backend": backend, "config": config}
    for k in ("median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "cv", "ci_rel"):
        cell[k] = round6(stats[k])
    cell.update(samples=stats["samples"], passes_per_sample=stats["passes_per_sample"], converged=stats["converged"],
                samples_ms=[round6(v) for v in stats["samples_ms"]])
    return cell


def cpu_model():
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name") and ":" in line]
    return names[0] if names else platform.processor() or "unknown"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_section(widths, weights_path):
    return {"layers": widths, "activation": "relu", "dtype": "f32",
            "weights": {"kind": "file", "file": weights_path, "sha256": sha256_file(weights_path)}}


def machine_section(cores, threads, gpu):
    """host, cpu, cores, threads (left out when None), os, gpu ({"name", "driver", "cuda_runtime"} or None)."""
    uname = os.uname()
    m = {"host": socket.gethostname(), "cpu": cpu_model(), "cores": cores}
    if threads is not None:
        m["threads"] = threads
    m.update(os=f"{uname.sysname} {uname.release} {uname.machine}", gpu=gpu)
    return m


def results_document(cells, model, machine, build, run, not_measured, notes=None):
    """The mlpbench/1 document, keys in mlpbench's order; cells = {"CPU": {batch: cell}, "GPU": {...}}."""
    cpu, gpu = cells.get("CPU", {}), cells.get("GPU", {})
    doc = {
        "schema": SCHEMA,
        "inference_times_ms": {"CPU": {k: c["median_ms"] for k, c in cpu.items()},
                               "GPU": {k: c["median_ms"] for k, c in gpu.items()}},
        "faster": {k: "GPU" if gpu[k]["median_ms"] < cpu[k]["median_ms"] else "CPU" for k in cpu if k in gpu},
        "cells": {"CPU": cpu, "GPU": gpu},
        "model": model,
        "machine": machine,
        "build": build,
        "run": run,
        "not_measured": not_measured,
    }
    if notes:
        doc["notes"] = notes
    return doc


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def dump(v, indent=0):  # mlpbench's layout: one key per line, arrays of numbers on one line
    pad = " " * (indent + 2)
    if isinstance(v, dict) and v:
        items = [f"{pad}{json.dumps(k)}: {dump(x, indent + 2)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(v, list) and v and not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return "[\n" + ",\n".join(pad + dump(x, indent + 2) for x in v) + "\n" + " " * indent + "]"
    return json.dumps(v, separators=(", ", ": "))


def write_atomic(path, text, force):
    """A temporary file in the same folder, renamed into place: no partial file is ever left at `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp.", dir=folder)
    except OSError as e:
        fail(3, f"cannot write in '{folder}': {e}")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        if os.path.exists(path) and not force:  # appeared while we measured
            fail(2, f"output '{path}' exists; pass --force to replace it")
        os.replace(tmp, path)
    except OSError as e:
        fail(3, f"cannot write '{path}': {e}")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
