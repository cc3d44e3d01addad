#!/usr/bin/env python3
"""peer_test: the peer scripts (scripts/peer_common.py, peer-pytorch.py, peer-onnxruntime.py) without PyTorch or
ONNX Runtime: argument parsing, the weights' validation, the float64 reference, the measure port, the results
document and the atomic writer, and that the files they write are read by the real `mlpbench report` and
`mlpbench compare`. peer-pytorch.py also runs end to end on tests/peer_fake/ (a numpy stand-in for torch).

    MLPBENCH_EXE=build/cpu-only/mlpbench python3 tests/peer_test.py    # ctest sets MLPBENCH_EXE; needs numpy
"""
import hashlib, importlib.util, json, math, os, subprocess, sys, tempfile, unittest  # noqa: E401

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")
FAKE = os.path.join(ROOT, "tests", "peer_fake")
PEER_PYTORCH = os.path.join(SCRIPTS, "peer-pytorch.py")
PEER_ORT = os.path.join(SCRIPTS, "peer-onnxruntime.py")
sys.path.insert(0, SCRIPTS)
import peer_common as pc  # noqa: E402

_spec = importlib.util.spec_from_file_location("peer_pytorch", PEER_PYTORCH)  # a hyphen: not importable by name
pt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pt)


def mlpbench():
    exe = os.environ.get("MLPBENCH_EXE", "")
    if not os.access(exe, os.X_OK):
        raise AssertionError(f"set MLPBENCH_EXE to the mlpbench executable (ctest does), not '{exe}'")
    return exe


def raises(test, code, fn, *args, **kwargs):
    """fn(*args) raises PeerError(code); -> its message, checked to be one line."""
    with test.assertRaises(pc.PeerError) as cm:
        fn(*args, **kwargs)
    test.assertEqual(cm.exception.code, code, str(cm.exception))
    test.assertNotIn("\n", str(cm.exception))
    return str(cm.exception)


def fake_stats(median_ms, n=24, spread=0.02, seed=0):
    """Statistics as pc.measure returns them, for samples around median_ms."""
    rng = np.random.default_rng(seed)
    samples = list(median_ms * (1 + spread * rng.standard_normal(n)))
    stats = pc.summarize(samples, 1)
    stats.update(converged=True, samples_ms=samples)
    return stats


def linear(out, inp, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (out, inp)).astype(np.float32), rng.uniform(-1, 1, out).astype(np.float32)


class Args:  # what build_results reads from parse_args' namespace
    def __init__(self, weights, batch_sizes=(1, 10, 100), modes=pt.MODES, quick=True, deadline_s=None):
        self.weights, self.batch_sizes, self.modes, self.quick = weights, list(batch_sizes), list(modes), quick
        self.deadline_s = deadline_s


def synthetic_results(weights, scale=1.0, seed=0):
    """A peer-pytorch document from synthetic statistics (graph fastest), as main() would write it."""
    cells = {}
    for b in (1, 10, 100):
        runs = [{"backend": pt.BACKEND[m], "config": "torch=2.11.0+cu130,precision=fp32,tf32=off",
                 "stats": fake_stats(scale * ms * (1 + b / 100), seed=seed + b),
                 "split": {"device_ms": 0.5 * ms, "h2d_ms": 0.01, "d2h_ms": 0.01}}
                for m, ms in zip(pt.MODES, (0.05, 0.02, 0.03))]
        cells[str(b)] = pt.gpu_cell(runs)
    gpu = {"name": "NVIDIA H200", "driver": "13.0", "cuda_runtime": "13.0", "driver_release": "580.65.06"}
    return pt.build_results(Args(weights), ["--weights", weights, "--out", "x.json"], "2026-01-01T00:00:00Z",
                            [4, 8, 2], cells, gpu, {"peer": "torch 2.11.0+cu130"}, ["a note"])


def run(cmd, env=None, cwd=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, capture_output=True, text=True, env=e, cwd=cwd, timeout=300)


class Temp(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def weights(self):  # a small real weights file, as `mlpbench export-weights` writes it
        path = self.path("w.safetensors")
        if not os.path.exists(path):
            r = run([mlpbench(), "export-weights", "--layers", "16,32,8", "--seed", "3", "--out", path])
            self.assertEqual(r.returncode, 0, r.stderr)
        return path


class ParseArgsTest(Temp):
    def test_defaults_and_normal_form(self):
        a = pt.parse_args(["--weights", "w", "--out", self.path("o.json"), "--batch-sizes", "100,1,10,1"])
        self.assertEqual(a.batch_sizes, [1, 10, 100])
        self.assertEqual(a.modes, ["eager", "graph", "compile"])
        self.assertIsNone(a.deadline_s)
        self.assertFalse(a.quick or a.force)
        a = pt.parse_args(["--weights", "w", "--out", self.path("o.json"), "--modes", "compile,eager,compile",
                           "--deadline-s", "120.5", "--quick"])
        self.assertEqual(a.modes, ["eager", "compile"])
        self.assertEqual(a.deadline_s, 120.5)
        self.assertTrue(a.quick)

    def test_errors_exit_2_in_one_line(self):
        out = self.path("o.json")
        cases = [([], "required: --weights, --out"),
                 (["--weights", "w"], "required: --out"),
                 (["--weights", "w", "--out", out, "--batch-sizes", "1,0"], "--batch-sizes entry #2: '0'"),
                 (["--weights", "w", "--out", out, "--batch-sizes", "1,,2"], "--batch-sizes entry #2: ''"),
                 (["--weights", "w", "--out", out, "--batch-sizes", "99999999"], "not an integer in [1, 16777216]"),
                 (["--weights", "w", "--out", out, "--modes", "eager,fast"], "--modes entry #2: 'fast' is not one of"),
                 (["--weights", "w", "--out", out, "--deadline-s", "0"], "--deadline-s: '0' is not a positive"),
                 (["--weights", "w", "--out", out, "--deadline-s", "inf"], "--deadline-s: 'inf'"),
                 (["--weights", "w", "--out", out, "--deadline-s", "soon"], "--deadline-s: 'soon'"),
                 (["--weights", "w", "--out", self.dir], "is a directory"),
                 (["--weights", "w", "--out", out, "--threads", "2"], "unrecognized arguments: --threads 2")]
        for argv, want in cases:
            with self.subTest(argv=argv):
                self.assertIn(want, raises(self, 2, pt.parse_args, argv))

    def test_existing_output_needs_force(self):
        out = self.path("o.json")
        open(out, "w").close()
        self.assertIn("exists; pass --force", raises(self, 2, pt.parse_args, ["--weights", "w", "--out", out]))
        self.assertTrue(pt.parse_args(["--weights", "w", "--out", out, "--force"]).force)

    def test_command_line_prints_one_line_and_exits_2(self):
        r = run([sys.executable, PEER_PYTORCH, "--weights", "w", "--out", self.path("o.json"), "--modes", "fast"])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr.splitlines(), ["peer-pytorch: --modes entry #1: 'fast' is not one of eager, graph, compile"])
        r = run([sys.executable, PEER_PYTORCH, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--deadline-s N", r.stdout)

    def test_onnxruntime_peer_keeps_its_name(self):
        # Without its packages (CI) it stops on the first missing one; with them, on the bad batch size: exit 2
        # and one line that names peer-onnxruntime either way.
        r = run([sys.executable, PEER_ORT, "--weights", "w", "--out", self.path("o.json"), "--batch-sizes", "0"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertTrue(r.stderr.startswith("peer-onnxruntime: "), r.stderr)
        r = run([sys.executable, PEER_ORT, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--threads THREADS", r.stdout)


class DeadlineTest(unittest.TestCase):
    def test_left_and_compile_need(self):
        now = [100.0]
        d = pt.Deadline(50, start=90.0, clock=lambda: now[0])
        self.assertEqual(d.left(), 40.0)
        now[0] = 150.0
        self.assertEqual(d.left(), -10.0)
        self.assertEqual(pt.Deadline(None, start=0.0).left(), math.inf)
        cfg = pc.measure_config(False, 3)
        first, later = pt.compile_need_s(None, cfg), pt.compile_need_s(10.0, cfg)
        self.assertGreaterEqual(first, pt.COMPILE_FIRST_GUESS_S + cfg["max_time_s"])
        self.assertGreaterEqual(later, 15.0 + cfg["max_time_s"])
        self.assertLess(later, first)


class ValidateLayersTest(unittest.TestCase):
    W = "--weights 'w.safetensors'"

    def test_natural_order_not_file_order(self):
        w0, b0 = linear(8, 4, 1)
        w1, b1 = linear(6, 8, 2)
        w2, b2 = linear(3, 6, 3)
        # "fc10" after "fc2", both after "fc1"; given in another order
        layers = pc.validate_layers({"fc10.weight": w2, "fc2.bias": b1, "fc1.weight": w0, "fc10.bias": b2,
                                     "fc2.weight": w1, "fc1.bias": b0}, self.W)
        self.assertEqual([w.shape for w, _ in layers], [(8, 4), (6, 8), (3, 6)])
        np.testing.assert_array_equal(layers[2][1], b2)
        self.assertEqual(pc.widths_of(layers), [4, 8, 6, 3])
        self.assertEqual(sorted(["10", "2", "0", "4"], key=pc.natural_key), ["0", "2", "4", "10"])

    def test_dtypes(self):
        w, b = linear(3, 4, 1)
        layers = pc.validate_layers({"0.weight": w.astype(np.float16), "0.bias": b.astype(np.float16)}, self.W)
        self.assertEqual(layers[0][0].dtype, np.float32)
        np.testing.assert_allclose(layers[0][0], w, atol=1e-3)
        for bad in (np.float64, np.int64):
            with self.subTest(dtype=bad):
                msg = raises(self, 2, pc.validate_layers, {"0.weight": w.astype(bad), "0.bias": b}, self.W)
                self.assertIn(f"tensor '0.weight' is {np.dtype(bad)}, not F32/F16/BF16", msg)

    def test_other_tensor_types_through_to_f32(self):  # as safetensors.torch's tensors: dtype printed "torch.x"
        class T:
            def __init__(self, a, dtype):
                self.a, self.dtype, self.shape, self.ndim = a, dtype, a.shape, a.ndim

        class Dtype(str):
            pass
        w, b = linear(3, 4, 1)
        layers = pc.validate_layers({"0.weight": T(w, Dtype("torch.bfloat16")), "0.bias": T(b, Dtype("torch.float32"))},
                                    self.W, to_f32=lambda t: t.a)
        np.testing.assert_array_equal(layers[0][0], w)
        self.assertIn("is torch.int64", raises(self, 2, pc.validate_layers, {"0.weight": T(w, Dtype("torch.int64"))},
                                               self.W, to_f32=lambda t: t.a))

    def test_structure_errors(self):
        w0, b0 = linear(8, 4, 1)
        w1, b1 = linear(3, 5, 2)
        cases = [({"0.weight": w0}, "layer '0' has a weight but no '0.bias'"),
                 ({"0.bias": b0}, "tensor '0.bias' has no matching '0.weight'"),
                 ({"0.weight": w0, "0.bias": b0, "2.weight": w1, "2.bias": b1},
                  "layers don't chain: '2.weight' takes 5 inputs but the layer before gives 8"),
                 ({"0.weight": w0, "0.bias": b0[:3]}, "layer '0' has weight [8, 4] and bias [3]"),
                 ({"0.weight": w0[0], "0.bias": b0}, "layer '0' has weight [4] and bias [8]"),
                 ({"0.running_mean": b0}, "tensor '0.running_mean' is not an nn.Linear"),
                 ({"weight": w0}, "tensor 'weight' is not an nn.Linear"),
                 ({}, "holds no '<prefix>.weight' tensor")]
        for tensors, want in cases:
            with self.subTest(want=want):
                msg = raises(self, 2, pc.validate_layers, tensors, self.W)
                self.assertTrue(msg.startswith(self.W + ": "), msg)
                self.assertIn(want, msg)

    def test_non_finite(self):
        w, b = linear(3, 4, 1)
        for bad in (np.nan, np.inf):
            b2 = b.copy()
            b2[1] = bad
            self.assertIn("layer '0' holds a non-finite value", raises(self, 2, pc.validate_layers, {"0.weight": w, "0.bias": b2}, self.W))
        w2 = w.astype(np.float16)
        w2[0, 0] = np.inf
        self.assertIn("non-finite", raises(self, 2, pc.validate_layers, {"0.weight": w2, "0.bias": b}, self.W))


class ReferenceTest(unittest.TestCase):
    def test_relu_between_layers_not_after_the_last(self):
        layers = [(np.array([[1, 0], [0, 1], [1, 1]], np.float32), np.array([0, 0, -10], np.float32)),
                  (np.array([[1, -1, 1]], np.float32), np.array([-0.5], np.float32))]
        x = np.array([[2, -3], [1, 1]], np.float32)
        # hidden: [2, -3, -11] -> ReLU [2, 0, 0]; out 2 - 0.5. [1, 1, -8] -> [1, 1, 0]; out 0 - 0.5 (no ReLU)
        ref = pc.reference_forward(layers, x)
        self.assertEqual(ref.dtype, np.float64)
        np.testing.assert_array_equal(ref, [[1.5], [-0.5]])

    def test_tolerance_is_mlpbench_fp32(self):
        ref = np.array([[0.0, 100.0, -2.0]])
        self.assertIsNone(pc.max_error_if_wrong(ref + [[0.9e-4, 100.9e-4, -2.9e-4]], ref))
        self.assertAlmostEqual(pc.max_error_if_wrong(ref + [[1.1e-4, 0, 0]], ref), 1.1e-4)
        self.assertAlmostEqual(pc.max_error_if_wrong(ref + [[0, 101.5e-4, 0]], ref), 101.5e-4)
        self.assertIsNotNone(pc.max_error_if_wrong(np.array([[np.nan, 100.0, -2.0]]), ref))


class MeasureTest(unittest.TestCase):
    KEYS = {"median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "cv", "ci_rel", "samples",
            "passes_per_sample", "converged", "samples_ms"}

    def test_summarize(self):
        s = pc.summarize([4.0, 1.0, 3.0, 2.0], 5)
        self.assertEqual((s["median_ms"], s["min_ms"], s["max_ms"], s["mean_ms"]), (2.5, 1.0, 4.0, 2.5))
        self.assertAlmostEqual(s["p90_ms"], 3.7)
        self.assertAlmostEqual(s["cv"], np.std([1, 2, 3, 4], ddof=1) / 2.5)
        self.assertAlmostEqual(s["ci_rel"], 1.57 * 1.5 / 2 / 2.5)
        self.assertEqual((s["samples"], s["passes_per_sample"]), (4, 5))
        self.assertEqual(pc.summarize([3.0], 1)["cv"], 0.0)

    def test_steady_fake_timer_converges(self):
        calls = []

        def timed(passes):  # 1 ms a pass
            calls.append(passes)
            return passes * 1e-3
        s = pc.measure(timed, pc.measure_config(True, 4))
        self.assertEqual(set(s), self.KEYS)
        self.assertTrue(s["converged"])
        self.assertEqual(s["passes_per_sample"], 1)
        self.assertAlmostEqual(s["median_ms"], 1.0)
        self.assertEqual(len(s["samples_ms"]), s["samples"])
        self.assertGreaterEqual(s["samples"], 5)

    def test_short_passes_are_grouped(self):
        s = pc.measure(lambda passes: passes * 2e-6, pc.measure_config(True, 4))  # 2 us a pass: under 50 us
        self.assertGreaterEqual(s["passes_per_sample"] * 2e-6, 50e-6)
        self.assertAlmostEqual(s["median_ms"], 2e-3)

    def test_noisy_fake_timer_does_not_converge(self):
        rng = np.random.default_rng(5)
        cfg = dict(pc.measure_config(True, 4), max_time_s=0.05, target=1e-9)
        s = pc.measure(lambda passes: passes * 1e-4 * rng.lognormal(0, 1), cfg)
        self.assertEqual(set(s), self.KEYS)
        self.assertFalse(s["converged"])
        self.assertLessEqual(s["min_ms"], s["median_ms"])
        self.assertLessEqual(s["median_ms"], s["p90_ms"])

    def test_wall_clock(self):
        n = []
        seconds = pc.wall_clock(lambda: n.append(1))(7)
        self.assertEqual(len(n), 7)
        self.assertGreaterEqual(seconds, 0)


class ResultsTest(Temp):
    def test_gpu_cell_headline_is_the_fastest(self):
        runs = [{"backend": "pytorch-eager", "config": "c", "stats": fake_stats(0.05), "split": None},
                {"backend": "pytorch-cudagraph", "config": "c", "stats": fake_stats(0.02),
                 "split": {"device_ms": 0.01, "h2d_ms": 0.004, "d2h_ms": 0.003}}]
        cell = pt.gpu_cell(runs)
        self.assertEqual(cell["backend"], "pytorch-cudagraph")
        self.assertEqual(list(cell), ["source", "backend", "config", "median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms",
                                      "mean_ms", "cv", "ci_rel", "samples", "passes_per_sample", "converged",
                                      "device_ms", "h2d_ms", "d2h_ms", "backends", "samples_ms"])
        self.assertEqual(cell["median_ms"], pc.round6(runs[1]["stats"]["median_ms"]))
        self.assertEqual([b["backend"] for b in cell["backends"]], ["pytorch-eager", "pytorch-cudagraph"])
        self.assertEqual(list(cell["backends"][0]), ["backend", "config", "median_ms", "p90_ms", "min_ms", "cv", "samples"])
        self.assertEqual(list(cell["backends"][1])[-3:], ["device_ms", "h2d_ms", "d2h_ms"])
        self.assertEqual(len(cell["samples_ms"]), cell["samples"])

    def test_document(self):
        w = self.path("w.safetensors")
        with open(w, "wb") as f:
            f.write(b"weights")
        doc = synthetic_results(w)
        self.assertEqual(list(doc), ["schema", "inference_times_ms", "faster", "cells", "model", "machine", "build", "run",
                                     "not_measured", "notes"])
        self.assertEqual(doc["schema"], "mlpbench/1")
        self.assertEqual(doc["cells"]["CPU"], {})
        self.assertEqual(doc["faster"], {})
        self.assertEqual(doc["not_measured"], {"CPU": "peer-pytorch measures the GPU only"})
        self.assertEqual(doc["inference_times_ms"]["GPU"], {k: c["median_ms"] for k, c in doc["cells"]["GPU"].items()})
        self.assertEqual({c["backend"] for c in doc["cells"]["GPU"].values()}, {"pytorch-cudagraph"})
        self.assertEqual(doc["model"]["weights"], {"kind": "file", "file": w, "sha256": hashlib.sha256(b"weights").hexdigest()})
        self.assertEqual(list(doc["machine"]["gpu"])[:3], ["name", "driver", "cuda_runtime"])
        run_ = doc["run"]
        for k, v in (("device", "gpu"), ("precision", "fp32"), ("quick", True), ("batch_sizes", [1, 10, 100])):
            self.assertEqual(run_[k], v)
        self.assertIn("perf_counter_ns", run_["timing"])
        self.assertTrue(run_["tf32"].startswith("off"))

    def test_both_columns_faster(self):  # as peer-onnxruntime: CPU measured, GPU from the reference
        cpu = {"1": {"median_ms": 1.0}, "10": {"median_ms": 5.0}}
        gpu = {"1": {"median_ms": 2.0}, "10": {"median_ms": 4.0}, "100": {"median_ms": 8.0}}
        doc = pc.results_document({"CPU": cpu, "GPU": gpu}, {}, {}, {}, {}, {"GPU": "why"})
        self.assertEqual(doc["faster"], {"1": "CPU", "10": "GPU"})
        self.assertNotIn("notes", doc)
        self.assertEqual(list(doc)[-1], "not_measured")

    def test_dump_layout(self):
        text = pc.dump({"a": [1, 2.5], "b": {"c": "x"}, "d": [{"e": 1}], "f": {}, "g": []})
        self.assertEqual(text, '{\n  "a": [1, 2.5],\n  "b": {\n    "c": "x"\n  },\n  "d": [\n    {\n      "e": 1\n    }\n  ],\n'
                               '  "f": {},\n  "g": []\n}')
        self.assertEqual(pc.round6(0.1234567891), 0.123457)
        self.assertEqual(pc.round6(3), 3)

    def test_nvidia_smi_banner(self):
        banner = "| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   CUDA Version: 13.0     |"
        self.assertEqual(pt.parse_nvidia_smi(banner), ("13.0", "580.65.06"))
        self.assertEqual(pt.parse_nvidia_smi(""), ("unknown", "unknown"))


class WriteAtomicTest(Temp):
    def test_written_never_overwritten_without_force_no_temp_left(self):
        out = self.path("r.json")
        pc.write_atomic(out, "one\n", force=False)
        with open(out) as f:
            self.assertEqual(f.read(), "one\n")
        self.assertIn("exists; pass --force", raises(self, 2, pc.write_atomic, out, "two\n", False))
        with open(out) as f:
            self.assertEqual(f.read(), "one\n")
        pc.write_atomic(out, "three\n", force=True)
        with open(out) as f:
            self.assertEqual(f.read(), "three\n")
        self.assertEqual(os.listdir(self.dir), ["r.json"])
        pc.write_atomic(self.path("new/sub/r.json"), "x", force=False)  # folders are made
        self.assertTrue(os.path.isfile(self.path("new/sub/r.json")))

    def test_unwritable_folder_is_exit_3(self):
        blocker = self.path("file")
        open(blocker, "w").close()
        self.assertIn("cannot write in", raises(self, 3, pc.write_atomic, os.path.join(blocker, "r.json"), "x", False))
        self.assertEqual(os.listdir(self.dir), ["file"])


class MlpbenchReadsPeerFilesTest(Temp):
    def write(self, name, doc):
        path = self.path(name)
        pc.write_atomic(path, pc.dump(doc) + "\n", force=False)
        return path

    def test_report_and_compare_accept_a_gpu_only_file(self):
        w = self.weights()
        peer = self.write("peer.json", synthetic_results(w))
        r = run([mlpbench(), "report", "--from", peer])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pytorch-cudagraph", r.stdout)
        self.assertIn("peer-pytorch measures the GPU only", r.stdout)
        self.assertIn("pytorch-eager [torch=2.11.0+cu130,precision=fp32,tf32=off]", r.stdout)  # the backends list
        for fmt in ("md", "json"):
            r = run([mlpbench(), "report", "--from", peer, "--format", fmt])
            self.assertEqual(r.returncode, 0, r.stderr)
        r = run([mlpbench(), "compare", peer, peer])
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("same", r.stdout)
        reference = os.path.join(ROOT, "results", "reference.json")
        r = run([mlpbench(), "compare", reference, peer])  # another model: refused unless allowed
        self.assertEqual(r.returncode, 2, r.stderr + r.stdout)
        self.assertIn("different models", r.stderr)
        r = run([mlpbench(), "compare", reference, peer, "--allow-different-models"])
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)

    def test_compare_finds_a_slower_peer(self):
        w = self.weights()
        base = self.write("base.json", synthetic_results(w))
        slower = self.write("slower.json", synthetic_results(w, scale=1.5, seed=100))
        r = run([mlpbench(), "compare", base, slower])
        self.assertEqual(r.returncode, 1, r.stderr + r.stdout)
        self.assertIn("slower", r.stdout)


class PeerPytorchOnFakeTorchTest(Temp):
    """peer-pytorch.py end to end with tests/peer_fake/ standing in for torch and safetensors (numpy on the CPU)."""

    def peer(self, *extra, env=None, out="pt.json"):
        cmd = [sys.executable, PEER_PYTORCH, "--weights", self.weights(), "--out", self.path(out), "--quick",
               "--batch-sizes", "1,3", *extra]
        return run(cmd, env=dict({"PYTHONPATH": FAKE}, **(env or {})))

    def test_every_mode_timed_and_mlpbench_reads_the_file(self):
        r = self.peer()
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path("pt.json")) as f:
            doc = json.load(f)
        self.assertEqual(sorted(doc["cells"]["GPU"]), ["1", "3"])
        for cell in doc["cells"]["GPU"].values():
            self.assertEqual([b["backend"] for b in cell["backends"]], ["pytorch-eager", "pytorch-cudagraph", "pytorch-compile"])
            self.assertIn("device_ms", cell)
        self.assertEqual(doc["model"]["layers"], [16, 32, 8])
        self.assertEqual(doc["machine"]["gpu"]["name"], "Fake GPU")
        self.assertEqual(doc["build"]["peer"], "torch 0.0+fake")
        self.assertTrue(doc["run"]["command"].endswith("--batch-sizes 1,3"))
        r2 = run([mlpbench(), "report", "--from", self.path("pt.json"), "--batch-size", "3"])
        self.assertEqual(r2.returncode, 0, r2.stderr)
        r2 = run([mlpbench(), "compare", self.path("pt.json"), self.path("pt.json")])
        self.assertEqual(r2.returncode, 0, r2.stderr)
        r = self.peer()
        self.assertEqual(r.returncode, 2)
        self.assertIn("exists; pass --force", r.stderr)

    def test_compile_that_raises_or_is_wrong_is_left_out(self):
        r = self.peer("--modes", "eager,compile", env={"FAKE_TORCH_COMPILE": "raise"})
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path("pt.json")) as f:
            doc = json.load(f)
        self.assertIn("pytorch-compile left out from batch 1 on: RuntimeError: fake Inductor failure", doc["notes"])
        self.assertEqual({c["backend"] for c in doc["cells"]["GPU"].values()}, {"pytorch-eager"})
        r = self.peer("--modes", "eager,compile", "--force", env={"FAKE_TORCH_COMPILE": "wrong"})
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path("pt.json")) as f:
            notes = json.load(f)["notes"]
        self.assertTrue(any(n.startswith("pytorch-compile's output at batch 3 differs from the float64 reference") for n in notes), notes)

    def test_deadline_skips_compile(self):
        r = self.peer("--modes", "eager,compile", "--deadline-s", "30")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path("pt.json")) as f:
            doc = json.load(f)
        self.assertTrue(any(n.startswith("torch.compile skipped: --deadline-s spent (batch sizes 1, 3:") for n in doc["notes"]))
        self.assertEqual(doc["run"]["deadline_s"], 30.0)

    def test_failures_write_nothing(self):
        cases = [({"FAKE_TORCH_WRONG": "1"}, 3, "peer-pytorch: pytorch-eager's output at batch 1 differs from the float64 reference"),
                 ({"FAKE_TORCH_NO_CUDA": "1"}, 3, "peer-pytorch: no CUDA device"),
                 ({"FAKE_TORCH_MISSING": "1"}, 2, "peer-pytorch: missing Python package 'torch'")]
        for env, code, want in cases:
            with self.subTest(env=env):
                r = self.peer(env=env)
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith(want), r.stderr)
                self.assertFalse(os.path.exists(self.path("pt.json")))
        self.assertEqual(os.listdir(self.dir), ["w.safetensors"])

    def test_bad_weights_exit_2(self):
        bad = self.path("bad.safetensors")
        with open(bad, "wb") as f:
            f.write(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")  # a valid, empty header
        r = run([sys.executable, PEER_PYTORCH, "--weights", bad, "--out", self.path("o.json")], env={"PYTHONPATH": FAKE})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr.strip(), f"peer-pytorch: --weights '{bad}': holds no '<prefix>.weight' tensor")
        r = run([sys.executable, PEER_PYTORCH, "--weights", self.path("none"), "--out", self.path("o.json")], env={"PYTHONPATH": FAKE})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no such file", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
