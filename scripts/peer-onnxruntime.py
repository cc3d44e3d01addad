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
import json, os, platform, shlex, sys  # noqa: E401

import peer_common as pc
from peer_common import fail

PROG = "peer-onnxruntime"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = "results/reference.json"  # relative to the repository root, as written in the reference cells


def parse_args(argv):
    p = pc.Parser(prog="peer-onnxruntime.py", description=__doc__.split("\n\n")[0],
                  epilog="Run `mlpbench run` with the same --weights and --threads to get our numbers for comparison.")
    pc.add_common_args(p, quick_help="cap the whole run at about 3 s (less precise)", extra=lambda p: p.add_argument(
        "--threads", default=None, help="intra-op threads (default: every core this process may use)"))
    a = p.parse_args(argv)
    a.cores = len(os.sched_getaffinity(0))

    def check_threads(a):
        if a.threads is not None and "," in a.threads:
            fail(2, f"--threads: takes one count, not '{a.threads}'")
        a.threads = a.cores if a.threads is None else pc.parse_positive_list(a.threads, "--threads", 4096)[0]
    return pc.check_common_args(a, check_threads)


try:
    import numpy as np
    import ml_dtypes  # noqa: F401  registers bfloat16 with numpy, so safetensors.numpy can read BF16
    import onnx
    import onnxruntime as ort
    import safetensors.numpy
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    if __name__ == "__main__" and not {"-h", "--help"} & set(sys.argv[1:]):
        print(f"{PROG}: missing Python package '{e.name}': pip install -r scripts/requirements-peer.txt", file=sys.stderr)
        sys.exit(2)


def load_layers(path):
    """[(weight [out, in] f32, bias [out] f32), ...] in mlpbench's order, or exit 2 naming the problem."""
    if not os.path.isfile(path):
        fail(2, f"--weights '{path}': no such file")
    try:
        tensors = safetensors.numpy.load_file(path)
    except Exception as e:  # safetensors raises its own error type for a malformed header or data
        fail(2, f"--weights '{path}': not a readable safetensors file: {e}")
    return pc.validate_layers(tensors, f"--weights '{path}'")


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


def reference_gpu_cells(batch_sizes):
    try:
        with open(os.path.join(REPO, REFERENCE)) as f:
            gpu = json.load(f)["cells"]["GPU"]
    except (OSError, ValueError, KeyError) as e:
        print(f"{PROG}: no GPU column: cannot read {REFERENCE}: {e}", file=sys.stderr)
        return {}
    return {str(b): {"source": "reference", "backend": gpu[str(b)]["backend"], "median_ms": gpu[str(b)]["median_ms"],
                     "file": REFERENCE} for b in batch_sizes if str(b) in gpu}


def main(argv):
    args = parse_args(argv)
    started = pc.utc_now()
    layers = load_layers(args.weights)
    widths = pc.widths_of(layers)
    pc.check_memory(widths, max(args.batch_sizes))
    session = build_session(layers, args.threads)
    rng = np.random.default_rng(1)
    cfg = pc.measure_config(args.quick, len(args.batch_sizes))
    config = f"threads={args.threads},onnxruntime={ort.__version__}"
    cpu = {}
    for b in args.batch_sizes:
        x = rng.uniform(-1, 1, size=(b, widths[0])).astype(np.float32)
        y = np.zeros((b, widths[-1]), np.float32)
        binding = session.io_binding()  # input and output bound once: a pass allocates and copies nothing
        binding.bind_cpu_input("input", x)
        binding.bind_ortvalue_output("output", ort.OrtValue.ortvalue_from_numpy(y))
        session.run_with_iobinding(binding)
        rows = min(b, 8)
        err = pc.max_error_if_wrong(y[:rows], pc.reference_forward(layers, x[:rows]))
        if err is not None:
            fail(3, f"onnxruntime's output at batch {b} differs from the float64 reference (max |error| {err:.3g}); nothing written")
        stats = pc.measure(pc.wall_clock(lambda: session.run_with_iobinding(binding)), cfg)
        c = cpu[str(b)] = pc.measured_cell(stats, "onnxruntime", config)
        print(f"batch {b:>5}: {c['median_ms']} ms (cv {100 * c['cv']:.1f}%, {c['samples']} samples x {c['passes_per_sample']} passes)")
    results = pc.results_document(
        {"CPU": cpu, "GPU": reference_gpu_cells(args.batch_sizes)},
        model=pc.model_section(widths, args.weights),
        machine=pc.machine_section(args.cores, args.threads, gpu=None),
        build={"peer": f"onnxruntime {ort.__version__}", "python": platform.python_version(), "numpy": np.__version__,
               "onnx": onnx.__version__},
        run={"started_utc": started, "command": shlex.join([sys.argv[0]] + argv), "batch_sizes": args.batch_sizes,
             "device": "cpu", "precision": "fp32", "quick": args.quick, "threads": [args.threads],
             "input": "numpy default_rng(1).uniform(-1, 1) float32, not mlpbench's input generator "
                      "(the timing does not depend on the input values)",
             "timing": "time.perf_counter_ns around session.run_with_iobinding (input and output bound once to "
                       "preallocated numpy arrays), Python loop overhead included; mlpbench's sampling rules",
             "session": "CPUExecutionProvider, opset 17 Gemm(transB=1)+Relu, intra_op_num_threads="
                        f"{args.threads}, inter_op_num_threads=1, ORT_ENABLE_ALL, ORT_SEQUENTIAL"},
        not_measured={"GPU": "peer-onnxruntime measures the CPU only"})
    pc.write_atomic(args.out, pc.dump(results) + "\n", args.force)
    print(f"Results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(pc.run_main(PROG, main, sys.argv[1:]))
