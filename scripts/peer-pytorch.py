#!/usr/bin/env python3
"""peer-pytorch: time the same MLP with PyTorch on one NVIDIA GPU, to compare with mlpbench's GPU cells.

It reads a PyTorch-style state_dict of nn.Linear layers from a safetensors file (the layers in the natural order
of their prefixes, ReLU between them, none after the last), builds nn.Sequential(Linear, ReLU, ..., Linear) in
fp32 on the GPU with TF32 switched OFF (torch.backends.cuda.matmul.allow_tf32 = False and
torch.backends.cudnn.allow_tf32 = False: the products are IEEE fp32, as mlpbench's --precision fp32), and times
it in three modes:

    eager    pytorch-eager      the module called as it is: one launch per Linear and ReLU
    graph    pytorch-cudagraph  the forward captured once per batch size in a torch.cuda.CUDAGraph (static
                                input and output tensors, warmed up on a side stream first) and replayed
    compile  pytorch-compile    torch.compile(mode="reduce-overhead"): Inductor's code in CUDA graphs; left out,
                                saying why in the results' notes, when it raises or its output is wrong

Every mode is timed host to host, as mlpbench's cells: one pass = the input copied from a pinned host tensor to
the device (non_blocking), the forward, the output copied into a pinned host tensor (non_blocking),
torch.cuda.synchronize(). The copies stay outside the captured graph (mlpbench's "+graph" backends capture them
too). Before timing, each mode's output at each batch size is checked against a float64 numpy reference with
mlpbench's fp32 tolerance (|got - ref| <= 1e-4 + 1e-4 |ref|); a wrong mode is not timed. Timing follows
mlpbench's rules (warm-up, several passes per sample when one is under 50 us, sampling until the median's 95% CI
is within 0.5%); then the H2D copy, the forward and the D2H copy are each timed alone by CUDA events. Each GPU
cell's headline is the fastest mode, the others are listed in its `backends`. The results file is in mlpbench's
schema ("mlpbench/1") with the GPU column only.

    build/default/mlpbench export-weights --layers 784,512,512,10 --seed 1 --out w.safetensors
    scripts/peer-pytorch.py --weights w.safetensors --out pytorch.json
    build/default/mlpbench report --from pytorch.json --batch-size 10
    build/default/mlpbench run --weights w.safetensors --device gpu --out ours.json   # our numbers
    build/default/mlpbench compare ours.json pytorch.json

Exit codes: 0 ok; 2 bad usage or input (or a missing package); 3 no CUDA device, the eager output is wrong, no
mode could be timed, or the results can't be written. Nothing is written unless the whole run succeeds.
"""
import importlib, math, os, platform, re, shlex, subprocess, sys, time  # noqa: E401

import peer_common as pc
from peer_common import fail

PROG = "peer-pytorch"
MODES = ("eager", "graph", "compile")
BACKEND = {"eager": "pytorch-eager", "graph": "pytorch-cudagraph", "compile": "pytorch-compile"}
CHECK_ROWS = 1024            # output rows checked against the float64 reference at each batch size
COMPILE_FIRST_GUESS_S = 90   # what the first torch.compile may take (Inductor, Triton), for --deadline-s
TF32 = "off (torch.backends.cuda.matmul.allow_tf32 = False, torch.backends.cudnn.allow_tf32 = False)"


# --- the command line -----------------------------------------------------------------------------------
def parse_args(argv):
    p = pc.Parser(prog="peer-pytorch.py", description=__doc__.split("\n\n")[0],
                  epilog="Run `mlpbench run --device gpu` with the same --weights to get our numbers for comparison.")

    def extra(p):
        p.add_argument("--modes", default=",".join(MODES),
                       help="comma-separated modes to time: eager, graph, compile (default: %(default)s)")
        p.add_argument("--deadline-s", default=None, metavar="N",
                       help="wall-clock budget in seconds for the whole script: torch.compile is skipped (with a note) "
                            "for the batch sizes it would not finish in time")
    pc.add_common_args(p, extra=extra, quick_help="shorter timing: about 3 s of sampling in all (less precise); "
                                                  "torch.compile's compile time comes on top")
    a = p.parse_args(argv)

    def check(a):
        a.modes = parse_modes(a.modes)
        a.deadline_s = None if a.deadline_s is None else parse_seconds(a.deadline_s, "--deadline-s")
    return pc.check_common_args(a, check)


def parse_modes(text):  # -> the modes asked for, in MODES' order, each once
    asked = []
    for i, m in enumerate(text.split(","), 1):
        if m not in MODES:
            fail(2, f"--modes entry #{i}: '{m}' is not one of {', '.join(MODES)}")
        asked.append(m)
    return [m for m in MODES if m in asked]


def parse_seconds(text, what):
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        fail(2, f"{what}: '{text}' is not a positive number of seconds")
    return v


class Deadline:
    """Seconds left of --deadline-s (infinite without one), counted from `start` (the script's start)."""

    def __init__(self, seconds, start, clock=time.monotonic):
        self.clock = clock
        self.end = None if seconds is None else start + seconds

    def left(self):
        return math.inf if self.end is None else self.end - self.clock()


def compile_need_s(last_compile_s, cfg):
    """What compiling, checking and timing one more batch size may take: the last compile and check with a margin
    (a guess for the first), plus the sampling budget and the three phases of the split."""
    compile_s = COMPILE_FIRST_GUESS_S if last_compile_s is None else 1.5 * last_compile_s
    return compile_s + cfg["warmup_s"] + cfg["max_time_s"] + 3 * phase_config(cfg)["max_time_s"] + 1


def phase_config(cfg):  # the H2D / device / D2H phases are secondary figures: a shorter budget each (as runner.cpp)
    return dict(cfg, min_time_s=min(cfg["min_time_s"], 0.1), max_time_s=min(cfg["max_time_s"], 0.5),
                warmup_s=min(cfg["warmup_s"], 0.05))


# --- the results ----------------------------------------------------------------------------------------
SPLIT_KEYS = ("device_ms", "h2d_ms", "d2h_ms")


def gpu_cell(runs):
    """runs: [{"backend", "config", "stats" (pc.measure's), "split" ({device_ms, h2d_ms, d2h_ms}) or None}, ...]
    -> a measured cell whose headline is the fastest run, every run listed in `backends`; keys in mlpbench's order."""
    best = min(runs, key=lambda r: r["stats"]["median_ms"])
    cell = pc.measured_cell(best["stats"], best["backend"], best["config"])
    samples_ms = cell.pop("samples_ms")
    if best.get("split"):
        cell.update({k: pc.round6(best["split"][k]) for k in SPLIT_KEYS})
    cell["backends"] = []
    for r in runs:
        s = r["stats"]
        entry = {"backend": r["backend"], "config": r["config"]}
        entry.update({k: pc.round6(s[k]) for k in ("median_ms", "p90_ms", "min_ms", "cv")})
        entry["samples"] = s["samples"]
        if r.get("split"):
            entry.update({k: pc.round6(r["split"][k]) for k in SPLIT_KEYS})
        cell["backends"].append(entry)
    cell["samples_ms"] = samples_ms
    return cell


def build_results(args, argv, started, widths, cells, gpu, build, notes):
    """The results document: GPU cells {batch: cell} measured here, no CPU column."""
    run = {"started_utc": started, "command": shlex.join([sys.argv[0]] + argv), "batch_sizes": args.batch_sizes,
           "device": "gpu", "precision": "fp32", "quick": args.quick, "modes": args.modes, "tf32": TF32,
           "input": "numpy default_rng(1).uniform(-1, 1) float32, as peer-onnxruntime, not mlpbench's input "
                    "generator (the timing does not depend on the input values)",
           "timing": "one pass = input copied from a pinned host tensor to the device (non_blocking), the forward, "
                     "output copied into a pinned host tensor (non_blocking), torch.cuda.synchronize(); "
                     "time.perf_counter_ns around passes, Python overhead included; mlpbench's sampling rules. "
                     "device_ms, h2d_ms, d2h_ms: each phase alone by CUDA events, the stream held by "
                     "torch.cuda._sleep while the host queues the passes"}
    if args.deadline_s is not None:
        run["deadline_s"] = args.deadline_s
    return pc.results_document(
        {"CPU": {}, "GPU": cells},
        model=pc.model_section(widths, args.weights),
        machine=pc.machine_section(len(os.sched_getaffinity(0)), None, gpu),
        build=build, run=run,
        not_measured={"CPU": "peer-pytorch measures the GPU only"},
        notes=notes)


def parse_nvidia_smi(text):
    """nvidia-smi's banner -> (CUDA version the driver supports, as mlpbench's machine.gpu.driver; driver release)."""
    cuda = re.search(r"CUDA Version:\s*([0-9][0-9.]*)", text)
    release = re.search(r"Driver Version:\s*([0-9][0-9.]*)", text)
    return (cuda.group(1) if cuda else "unknown"), (release.group(1) if release else "unknown")


def nvidia_smi():
    try:
        out = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return parse_nvidia_smi(out)


def first_line(e, most=300):  # an exception in one line of a note
    text = f"{type(e).__name__}: {e}".strip().splitlines()[0]
    return text if len(text) <= most else text[:most] + "..."


# --- the GPU part: everything that needs torch ------------------------------------------------------------
def require_packages():
    try:
        for name in ("numpy", "torch", "safetensors.torch"):
            importlib.import_module(name)
    except ImportError as e:
        fail(2, f"missing Python package '{e.name}': this peer needs numpy, safetensors and PyTorch built with CUDA")


def load_layers(path):
    """[(weight [out, in] f32, bias [out] f32), ...] in mlpbench's order, or exit 2 naming the problem."""
    import safetensors.torch
    if not os.path.isfile(path):
        fail(2, f"--weights '{path}': no such file")
    try:
        tensors = safetensors.torch.load_file(path, device="cpu")
    except Exception as e:  # safetensors raises its own error type for a malformed header or data
        fail(2, f"--weights '{path}': not a readable safetensors file: {e}")
    return pc.validate_layers(tensors, f"--weights '{path}'", to_f32=lambda t: t.float().numpy())


class Gpu:
    """The model on the GPU and the three modes; torch is imported here, so the rest of this file runs without it."""

    def __init__(self, layers):
        import torch
        self.torch = torch
        if not torch.cuda.is_available():
            fail(3, f"no CUDA device: torch {torch.__version__} (CUDA {torch.version.cuda}) sees none")
        # fp32 as mlpbench's --precision fp32: TF32 OFF for cuBLAS (nn.Linear) and cuDNN. Only these legacy flags
        # are set: mixing them with the newer fp32_precision API makes torch refuse to read either back.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        self.widths = pc.widths_of(layers)
        dev = torch.device("cuda", torch.cuda.current_device())
        mods = []
        with torch.no_grad():
            for i, (w, b) in enumerate(layers):
                lin = torch.nn.Linear(w.shape[1], w.shape[0], device=dev, dtype=torch.float32)
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
                mods += [lin] if i + 1 == len(layers) else [lin, torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*mods).eval().requires_grad_(False)
        self.dev = dev
        self.cycles_per_s = None  # torch.cuda._sleep's rate, measured on first use

    def info(self):
        torch = self.torch
        driver, release = nvidia_smi()
        gpu = {"name": torch.cuda.get_device_name(self.dev), "driver": driver, "cuda_runtime": torch.version.cuda or "unknown",
               "driver_release": release}
        import numpy as np
        build = {"peer": f"torch {torch.__version__}", "python": platform.python_version(), "numpy": np.__version__,
                 "torch_cuda": torch.version.cuda}
        return gpu, build

    def config(self):
        return f"torch={self.torch.__version__},precision=fp32,tf32=off"

    def check_memory(self, batch):  # input, output and activations, for the buffers every mode keeps (graph pools)
        free, _ = self.torch.cuda.mem_get_info(self.dev)
        need = 4 * 4 * batch * (self.widths[0] + self.widths[-1] + 2 * max(self.widths))
        if need > free / 2:
            fail(2, f"batch size {batch} needs about {need / 2**30:.3g} GiB of GPU memory, more than half of the "
                    f"{free / 2**30:.3g} GiB free")

    def buffers(self, x):  # x [batch, in] float32 -> pinned host input, pinned host output, device input
        torch = self.torch
        host_in = torch.from_numpy(x).pin_memory()
        host_out = torch.empty((x.shape[0], self.widths[-1]), dtype=torch.float32).pin_memory()
        dev_in = torch.empty(x.shape, dtype=torch.float32, device=self.dev)
        dev_in.copy_(host_in)
        return host_in, host_out, dev_in

    def prepare(self, mode, dev_in):
        """forward() -> the output on the device, for the input in dev_in (a static tensor)."""
        torch, model = self.torch, self.model
        if mode == "eager":
            return lambda: model(dev_in)
        if mode == "graph":
            # As PyTorch's CUDA graphs notes: warm up on a side stream (cuBLAS handle and workspace, allocator), then
            # capture on that same stream; replays run on the current stream, after the H2D copy queued there.
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    model(dev_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=side):
                static_out = model(dev_in)
            torch.cuda.synchronize()

            def replay():
                graph.replay()
                return static_out
            return replay
        # compile: a fresh Dynamo cache per batch size (static shapes, never the recompile limit's silent fallback
        # to eager); the first calls compile, warm up and record the CUDA graph (CUDAGraph Trees), later calls replay.
        torch._dynamo.reset()
        compiled = torch.compile(model, mode="reduce-overhead", dynamic=False, fullgraph=True)
        for _ in range(3):
            compiled(dev_in)
        torch.cuda.synchronize()
        return lambda: compiled(dev_in)

    def one_pass(self, host_in, dev_in, forward, host_out):
        sync = self.torch.cuda.synchronize

        def run():  # host to host, as mlpbench's cells
            dev_in.copy_(host_in, non_blocking=True)
            host_out.copy_(forward(), non_blocking=True)
            sync()
        return run

    def event_timer(self, enqueue):
        """timed(passes): seconds of device time for `passes` calls of enqueue, by CUDA events. The stream is held
        by a sleeping kernel while the host queues them (as nvbench's blocking kernel and runner.cpp's phases), so
        the events time the device's work, not the host's queueing."""
        torch = self.torch
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        if self.cycles_per_s is None:
            for _ in range(2):  # the second: the first call loads the kernel
                start.record()
                torch.cuda._sleep(1_000_000)
                stop.record()
                stop.synchronize()
            self.cycles_per_s = 1e6 / max(start.elapsed_time(stop) * 1e-3, 1e-6)
        host_s = [50e-6]  # the host's time to queue one call, measured on every sample: sizes the next hold

        def timed(passes):
            torch.cuda._sleep(int(self.cycles_per_s * min(0.2, 2 * host_s[0] * passes + 100e-6)))
            start.record()
            t0 = time.perf_counter()
            for _ in range(passes):
                enqueue()
            host_s[0] = (time.perf_counter() - t0) / passes
            stop.record()
            stop.synchronize()
            return start.elapsed_time(stop) * 1e-3
        return timed

    def split(self, host_in, dev_in, forward, host_out, cfg):  # -> {device_ms, h2d_ms, d2h_ms}, each phase alone
        pcfg = phase_config(cfg)
        h2d = pc.measure(self.event_timer(lambda: dev_in.copy_(host_in, non_blocking=True)), pcfg)
        compute = pc.measure(self.event_timer(forward), pcfg)
        y = forward()
        d2h = pc.measure(self.event_timer(lambda: host_out.copy_(y, non_blocking=True)), pcfg)
        self.torch.cuda.synchronize()
        return {"device_ms": compute["median_ms"], "h2d_ms": h2d["median_ms"], "d2h_ms": d2h["median_ms"]}


def measure_all(gpu, layers, args, deadline):
    """{batch: [run, ...]} for every mode that passed its check, and the notes on what was left out and why.
    Mode by mode (eager, graph, compile), each over every batch size: compile, the slow one to set up, comes last."""
    import numpy as np
    torch = gpu.torch
    rng = np.random.default_rng(1)
    inputs = {}
    for b in args.batch_sizes:  # drawn in this order, as peer-onnxruntime
        gpu.check_memory(b)
        x = rng.uniform(-1, 1, size=(b, gpu.widths[0])).astype(np.float32)
        inputs[b] = (x, pc.reference_forward(layers, x[:CHECK_ROWS]))
    cfg = pc.measure_config(args.quick, len(args.batch_sizes) * len(args.modes))
    runs = {b: [] for b in args.batch_sizes}
    notes, split_ok, last_compile_s = [], True, None
    for mode in args.modes:
        backend = BACKEND[mode]
        for i, b in enumerate(args.batch_sizes):
            if mode == "compile":
                need, left = compile_need_s(last_compile_s, cfg), deadline.left()
                if left < need:
                    rest = ", ".join(map(str, args.batch_sizes[i:]))
                    notes.append(f"torch.compile skipped: --deadline-s spent (batch sizes {rest}: {left:.0f} s left, "
                                 f"about {need:.0f} s needed)")
                    break
            forward = one = None  # the last batch size's captured graph and its memory pool go first
            t0 = time.monotonic()
            x, ref = inputs[b]
            try:
                host_in, host_out, dev_in = gpu.buffers(x)
                forward = gpu.prepare(mode, dev_in)
                one = gpu.one_pass(host_in, dev_in, forward, host_out)
                one()
                err = pc.max_error_if_wrong(host_out.numpy()[:CHECK_ROWS], ref)
                if mode == "compile":
                    last_compile_s = time.monotonic() - t0
                stats = pc.measure(pc.wall_clock(one), cfg) if err is None else None
            except pc.PeerError:
                raise
            except Exception as e:  # a mode that can't run here is left out, saying why; eager is the floor
                if mode == "eager":
                    code = 2 if isinstance(e, torch.cuda.OutOfMemoryError) else 3
                    fail(code, f"{backend} at batch {b} failed: {first_line(e)}")
                notes.append(f"{backend} left out from batch {b} on: {first_line(e)}")
                break
            if err is not None:
                msg = f"{backend}'s output at batch {b} differs from the float64 reference (max |error| {err:.3g})"
                if mode == "eager":
                    fail(3, msg + "; nothing written")
                notes.append(msg + "; not timed")
                continue
            split = None
            if split_ok:
                try:
                    split = gpu.split(host_in, dev_in, forward, host_out, cfg)
                except Exception as e:
                    split_ok = False
                    notes.append(f"device_ms, h2d_ms, d2h_ms not measured: {first_line(e)}")
            runs[b].append({"backend": backend, "config": gpu.config(), "stats": stats, "split": split})
            print(f"batch {b:>5} {backend:<17}: {pc.round6(stats['median_ms'])} ms (cv {100 * stats['cv']:.1f}%, "
                  f"{stats['samples']} samples x {stats['passes_per_sample']} passes)", flush=True)
    return runs, notes


def main(argv):
    start = time.monotonic()
    args = parse_args(argv)
    deadline = Deadline(args.deadline_s, start)
    started = pc.utc_now()
    require_packages()
    import torch
    layers = load_layers(args.weights)
    widths = pc.widths_of(layers)
    pc.check_memory(widths, max(args.batch_sizes))
    gpu = Gpu(layers)
    with torch.no_grad():
        runs, notes = measure_all(gpu, layers, args, deadline)
    cells = {str(b): gpu_cell(r) for b, r in runs.items() if r}
    if not cells:
        fail(3, "no mode could be timed at any batch size: " + "; ".join(notes) + "; nothing written")
    for b in args.batch_sizes:
        if not runs[b]:
            notes.append(f"GPU batch {b}: no mode could be timed, the cell is left out")
    graphed = [BACKEND[m] for m in args.modes if m != "eager"]
    if graphed:
        notes.insert(0, f"{', '.join(graphed)}: the H2D and D2H copies are queued outside the captured CUDA graph, on "
                        "the same stream (mlpbench's +graph backends capture them too)")
    gpu_info, build = gpu.info()
    results = build_results(args, argv, started, widths, cells, gpu_info, build, notes)
    pc.write_atomic(args.out, pc.dump(results) + "\n", args.force)
    print(f"Results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(pc.run_main(PROG, main, sys.argv[1:]))
