#!/usr/bin/env python3
"""peer-onnxruntime: time the same MLP with ONNX Runtime on the CPU, to compare with mlpbench's CPU cells.

It reads a PyTorch-style state_dict of nn.Linear layers from a safetensors file (the layers in the
natural order of their prefixes, ReLU between them, none after the last), builds the same network as an
fp32 ONNX graph in memory (Gemm transB=1 + Relu per layer), checks ONNX Runtime's output against a float64
numpy reference, times one forward pass per batch size with mlpbench's method (warm-up, several passes
per sample when one is under 50 us, sampling until the median's 95% CI is within 0.5%), and writes a
results file in mlpbench's schema ("mlpbench/1") with the GPU column copied from results/reference.json.

    pip install -r scripts/requirements-peer.txt
    build/default/mlpbench export-weights --layers 784,512,512,10 --seed 1 --out w.safetensors
    scripts/peer-onnxruntime.py --weights w.safetensors --threads 2 --out ort.json
    build/default/mlpbench report --from ort.json --batch-size 10
    build/default/mlpbench run --weights w.safetensors --threads 2 --out ours.json   # our numbers

Exit codes: 0 ok; 2 bad usage or input (or a missing package); 3 ONNX Runtime's output is wrong.
"""
import argparse, hashlib, json, math, os, platform, re, shlex, signal, socket, sys, tempfile, time  # noqa: E401

PROG = "peer-onnxruntime"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = "results/reference.json"  # relative to the repository root, as written in the reference cells


def fail(code, msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(code)


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit 2
        fail(2, f"{message} (see --help)")


def parse_args(argv):
    p = Parser(prog="peer-onnxruntime.py", description=__doc__.split("\n\n")[0],
               epilog="Run `mlpbench run` with the same --weights and --threads to get our numbers for comparison.")
    p.add_argument("--weights", required=True, metavar="FILE.safetensors",
                   help="nn.Linear state_dict (<prefix>.weight [out,in], <prefix>.bias [out]; F32/F16/BF16), "
                        "e.g. from `mlpbench export-weights --layers 784,512,512,10 --seed 1 --out w.safetensors`")
    p.add_argument("--batch-sizes", default="1,10,100", help="comma-separated batch sizes (default: %(default)s)")
    p.add_argument("--threads", default=None, help="intra-op threads (default: every core this process may use)")
    p.add_argument("--out", required=True, metavar="FILE.json", help="results file to write (mlpbench/1 schema)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--quick", action="store_true", help="cap the whole run at about 3 s (less precise)")
    a = p.parse_args(argv)
    a.batch_sizes = parse_positive_list(a.batch_sizes, "--batch-sizes", 1 << 24)
    cores = len(os.sched_getaffinity(0))
    if a.threads is not None and "," in a.threads:
        fail(2, f"--threads: takes one count, not '{a.threads}'")
    a.threads = cores if a.threads is None else parse_positive_list(a.threads, "--threads", 4096)[0]
    a.cores = cores
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


try:
    import numpy as np
    import ml_dtypes  # noqa: F401  registers bfloat16 with numpy, so safetensors.numpy can read BF16
    import onnx
    import onnxruntime as ort
    import safetensors.numpy
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    if __name__ == "__main__" and not {"-h", "--help"} & set(sys.argv[1:]):
        fail(2, f"missing Python package '{e.name}': pip install -r scripts/requirements-peer.txt")


def natural_key(s):  # "fc2" < "fc10", "2" < "10": as mlpbench's loader
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def load_layers(path):
    """[(weight [out, in] f32, bias [out] f32), ...] in mlpbench's order, or exit 2 naming the problem."""
    if not os.path.isfile(path):
        fail(2, f"--weights '{path}': no such file")
    try:
        tensors = safetensors.numpy.load_file(path)
    except Exception as e:  # safetensors raises its own error type for a malformed header or data
        fail(2, f"--weights '{path}': not a readable safetensors file: {e}")
    prefixes = []
    for name, t in tensors.items():
        prefix, _, kind = name.rpartition(".")
        if not prefix or kind not in ("weight", "bias"):
            fail(2, f"--weights '{path}': tensor '{name}' is not an nn.Linear '<prefix>.weight' or '<prefix>.bias'")
        if str(t.dtype) not in ("float32", "float16", "bfloat16"):
            fail(2, f"--weights '{path}': tensor '{name}' is {t.dtype}, not F32/F16/BF16")
        if kind == "weight":
            prefixes.append(prefix)
        elif prefix + ".weight" not in tensors:
            fail(2, f"--weights '{path}': tensor '{name}' has no matching '{prefix}.weight'")
    if not prefixes:
        fail(2, f"--weights '{path}': holds no '<prefix>.weight' tensor")
    layers = []
    for p in sorted(prefixes, key=natural_key):
        w, b = tensors[p + ".weight"], tensors.get(p + ".bias")
        if b is None:
            fail(2, f"--weights '{path}': layer '{p}' has a weight but no '{p}.bias'")
        if w.ndim != 2 or b.shape != (w.shape[0],):
            fail(2, f"--weights '{path}': layer '{p}' has weight {list(w.shape)} and bias {list(b.shape)}, expected [out, in] and [out]")
        if layers and w.shape[1] != layers[-1][0].shape[0]:
            fail(2, f"--weights '{path}': layers don't chain: '{p}.weight' takes {w.shape[1]} inputs but the layer before gives {layers[-1][0].shape[0]}")
        w, b = np.ascontiguousarray(w, np.float32), np.ascontiguousarray(b, np.float32)
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            fail(2, f"--weights '{path}': layer '{p}' holds a non-finite value")
        layers.append((w, b))
    return layers


def build_session(layers, threads):
    nodes, inits, cur = [], [], "input"
    for i, (w, b) in enumerate(layers):
        last = i + 1 == len(layers)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = "output" if last else f"gemm{i}"
        nodes.append(helper.make_node("Gemm", [cur, f"w{i}", f"b{i}"], [out], transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"]))
            out = f"relu{i}"
        cur = out
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", layers[0][0].shape[1]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", layers[-1][0].shape[0]])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name=PROG)
    model.ir_version = 8  # opset 17's IR version: loads in every ONNX Runtime that knows opset 17
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def check_memory(widths, batch):  # the input is drawn in float64, then a float32 copy, the output, ONNX Runtime's activations
    need = batch * (12 * widths[0] + 4 * widths[-1] + 8 * max(widths))
    have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > have / 2:
        fail(2, f"batch size {batch} needs about {need / 2**30:.3g} GiB, more than half of this machine's {have / 2**30:.3g} GiB")


def reference_forward(layers, x):  # float64, as mlpbench's check
    h = x.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.astype(np.float64).T + b
        if i + 1 < len(layers):
            h = np.maximum(h, 0)
    return h


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


def measure(run_once, cfg):
    def timed(passes):  # seconds for `passes` forward passes
        t0 = time.perf_counter_ns()
        for _ in range(passes):
            run_once()
        return (time.perf_counter_ns() - t0) * 1e-9

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


def measured_cell(stats, threads):
    cell = {"source": "measured", "backend": "onnxruntime", "config": f"threads={threads},onnxruntime={ort.__version__}"}
    for k in ("median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "cv", "ci_rel"):
        cell[k] = round6(stats[k])
    cell.update(samples=stats["samples"], passes_per_sample=stats["passes_per_sample"], converged=stats["converged"],
                samples_ms=[round6(v) for v in stats["samples_ms"]])
    return cell


def reference_gpu_cells(batch_sizes):
    try:
        with open(os.path.join(REPO, REFERENCE)) as f:
            gpu = json.load(f)["cells"]["GPU"]
    except (OSError, ValueError, KeyError) as e:
        print(f"{PROG}: no GPU column: cannot read {REFERENCE}: {e}", file=sys.stderr)
        return {}
    return {str(b): {"source": "reference", "backend": gpu[str(b)]["backend"], "median_ms": gpu[str(b)]["median_ms"],
                     "file": REFERENCE} for b in batch_sizes if str(b) in gpu}


def cpu_model():
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name") and ":" in line]
    return names[0] if names else platform.processor() or "unknown"


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


def main(argv):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # as Ctrl-C: write_atomic's `finally` removes its temporary file
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    layers = load_layers(args.weights)
    widths = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]
    check_memory(widths, max(args.batch_sizes))
    session = build_session(layers, args.threads)
    rng = np.random.default_rng(1)
    cfg = measure_config(args.quick, len(args.batch_sizes))
    cpu = {}
    for b in args.batch_sizes:
        x = rng.uniform(-1, 1, size=(b, widths[0])).astype(np.float32)
        y = np.zeros((b, widths[-1]), np.float32)
        binding = session.io_binding()  # input and output bound once: a pass allocates and copies nothing
        binding.bind_cpu_input("input", x)
        binding.bind_ortvalue_output("output", ort.OrtValue.ortvalue_from_numpy(y))
        session.run_with_iobinding(binding)
        rows = min(b, 8)
        ref = reference_forward(layers, x[:rows])
        if not np.allclose(y[:rows], ref, rtol=1e-4, atol=1e-4):
            err = float(np.max(np.abs(y[:rows] - ref)))
            fail(3, f"onnxruntime's output at batch {b} differs from the float64 reference (max |error| {err:.3g}); nothing written")
        cpu[str(b)] = measured_cell(measure(lambda: session.run_with_iobinding(binding), cfg), args.threads)
        c = cpu[str(b)]
        print(f"batch {b:>5}: {c['median_ms']} ms (cv {100 * c['cv']:.1f}%, {c['samples']} samples x {c['passes_per_sample']} passes)")
    gpu = reference_gpu_cells(args.batch_sizes)
    sha256 = hashlib.sha256()
    with open(args.weights, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha256.update(chunk)
    uname = os.uname()
    results = {
        "schema": "mlpbench/1",
        "inference_times_ms": {"CPU": {k: c["median_ms"] for k, c in cpu.items()},
                               "GPU": {k: c["median_ms"] for k, c in gpu.items()}},
        "faster": {k: "GPU" if gpu[k]["median_ms"] < cpu[k]["median_ms"] else "CPU" for k in cpu if k in gpu},
        "cells": {"CPU": cpu, "GPU": gpu},
        "model": {"layers": widths, "activation": "relu", "dtype": "f32",
                  "weights": {"kind": "file", "file": args.weights, "sha256": sha256.hexdigest()}},
        "machine": {"host": socket.gethostname(), "cpu": cpu_model(), "cores": args.cores, "threads": args.threads,
                    "os": f"{uname.sysname} {uname.release} {uname.machine}", "gpu": None},
        "build": {"peer": f"onnxruntime {ort.__version__}", "python": platform.python_version(), "numpy": np.__version__,
                  "onnx": onnx.__version__},
        "run": {"started_utc": started, "command": shlex.join([sys.argv[0]] + argv), "batch_sizes": args.batch_sizes,
                "device": "cpu", "precision": "fp32", "quick": args.quick, "threads": [args.threads],
                "input": "numpy default_rng(1).uniform(-1, 1) float32, not mlpbench's input generator "
                         "(the timing does not depend on the input values)",
                "timing": "time.perf_counter_ns around session.run_with_iobinding (input and output bound once to "
                          "preallocated numpy arrays), Python loop overhead included; mlpbench's sampling rules",
                "session": "CPUExecutionProvider, opset 17 Gemm(transB=1)+Relu, intra_op_num_threads="
                           f"{args.threads}, inter_op_num_threads=1, ORT_ENABLE_ALL, ORT_SEQUENTIAL"},
        "not_measured": {"GPU": "peer-onnxruntime measures the CPU only"},
    }
    write_atomic(args.out, dump(results) + "\n", args.force)
    print(f"Results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
