#!/usr/bin/env python3
"""schema_test: schema/mlpbench-1.schema.json (JSON Schema draft 2020-12) checked with a real validator (Python's
jsonschema, Debian's python3-jsonschema) against
- every committed results file: all of results/, and those under tests/data/ and fuzz/corpus/results/ that
  `mlpbench report` reads (the others are meant to be broken);
- every kind of file the tests make the real program write: `mlpbench run --quick` with --device cpu, with --layers
  of another model, with --weights and a measured run as --reference, with prices and several thread counts, with
  the default reference; `--out` as a folder; `mlpbench reference`; the peers (scripts/peer-pytorch.py on the numpy
  stand-in for torch in tests/peer_fake/, scripts/peer-onnxruntime.py on tests/ort_fake/); a GPU file with io,
  the H2D/device/D2H split and energy, as mlpbench reads and writes it back; `report --format json` of each;
- and broken files, which the schema must refuse (missing cells, a wrong source, a negative median, ...).

    MLPBENCH_EXE=build/cpu-only/mlpbench python3 tests/schema_test.py   # ctest sets MLPBENCH_EXE; needs jsonschema, numpy
"""
import copy, glob, json, os, subprocess, sys, tempfile, unittest  # noqa: E401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "schema"))
import validate  # noqa: E402  schema/validate.py

SCHEMA = os.path.join(ROOT, "schema", "mlpbench-1.schema.json")
VALIDATOR = validate.validator()  # checks the schema itself against the 2020-12 metaschema


def mlpbench():
    exe = os.environ.get("MLPBENCH_EXE", "")
    if not os.access(exe, os.X_OK):
        raise AssertionError(f"set MLPBENCH_EXE to the mlpbench executable (ctest does), not '{exe}'")
    return exe


def run(cmd, env=None, cwd=None):
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})), cwd=cwd, timeout=300)


def must(cmd, **kw):
    r = run(cmd, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr}{r.stdout}")
    return r


def load(path):
    with open(path) as f:
        return json.load(f)


def save(doc, path):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    return path


def batches(doc):
    return sorted({int(b) for dev in doc["cells"].values() for b in dev})


def report_json(path, out, *extra):
    """`mlpbench report --from path --format json` into out; the headline batch is one the file has."""
    b = str(batches(load(path))[0])
    r = must([mlpbench(), "report", "--from", path, "--format", "json", "--batch-size", b, *extra])
    with open(out, "w") as f:
        f.write(r.stdout)
    return out


class Checks(unittest.TestCase):
    def assertValid(self, path):
        found = validate.problems(load(path), VALIDATOR)
        self.assertEqual(found, [], f"{path} does not match {SCHEMA}:\n" + "\n".join(found[:20]))


class CommittedFiles(Checks):
    def test_results_folder(self):
        files = sorted(glob.glob(os.path.join(ROOT, "results", "**", "*.json"), recursive=True))
        self.assertIn(os.path.join(ROOT, "results", "reference.json"), files)
        for path in files:
            with self.subTest(path=os.path.relpath(path, ROOT)):
                self.assertValid(path)
                report_json(path, os.devnull)  # and mlpbench reads it

    def test_test_data_and_fuzz_seeds_that_mlpbench_reads(self):
        checked = 0
        for path in sorted(glob.glob(os.path.join(ROOT, "tests", "data", "*.json")) +
                           glob.glob(os.path.join(ROOT, "fuzz", "corpus", "results", "*.json"))):
            try:
                doc = load(path)
                b = str(batches(doc)[0])
            except (ValueError, KeyError, AttributeError, IndexError, TypeError):
                continue  # not even shaped like a results file: a seed meant to be broken
            if run([mlpbench(), "report", "--from", path, "--format", "json", "--batch-size", b]).returncode != 0:
                continue  # mlpbench refuses it: meant to be broken
            with self.subTest(path=os.path.relpath(path, ROOT)):
                self.assertValid(path)
                checked += 1
        self.assertGreaterEqual(checked, 4)  # tests/data/results-before-sources.json, results-emulated.json, both fuzz seeds

    def test_an_emulated_run(self):
        """tests/data/results-emulated.json: a gpu-emu build's run (CPU measured, GPU cells run on the CUDA emulator), as
        mlpbench writes it: valid, read and written back the same, its GPU cells emulated and without a time."""
        path = os.path.join(ROOT, "tests", "data", "results-emulated.json")
        self.assertValid(path)
        doc = load(path)
        self.assertEqual(doc["sources"], {"CPU": "measured", "GPU": "emulated"})
        self.assertEqual(doc["inference_times_ms"]["GPU"], {})
        self.assertEqual({c["source"] for c in doc["cells"]["GPU"].values()}, {"emulated"})
        with tempfile.TemporaryDirectory() as d:
            again = load(report_json(path, os.path.join(d, "again.json")))
        self.assertEqual(again["cells"], doc["cells"])

    def test_a_serving_run(self):
        """tests/data/results-serving.json (written by results_test's ResultsServing.WriteFixture through to_json): the
        serving section with a measured run, simulated ones labelled with where they came from, every step; valid, and
        read and written back the same."""
        path = os.path.join(ROOT, "tests", "data", "results-serving.json")
        self.assertValid(path)
        doc = load(path)
        runs = doc["serving"]["runs"]
        self.assertEqual({(r["device"], r["source"]) for r in runs}, {("CPU", "measured"), ("CPU", "simulated"), ("GPU", "simulated")})
        for r in runs:
            self.assertEqual({s["simulated"] for s in r["steps"]}, {r["source"] == "simulated"})
            self.assertEqual("simulated_from" in r, r["source"] == "simulated")
        with tempfile.TemporaryDirectory() as d:
            again = load(report_json(path, os.path.join(d, "again.json")))
        self.assertEqual(again["serving"], doc["serving"])


class WrittenFiles(Checks):
    """Runs the real programs once (setUpClass), then checks every file they wrote."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="schema_test.")
        d = cls.dir = cls.tmp.name
        cls.written = {}  # what -> path
        p = lambda name: os.path.join(d, name)  # noqa: E731
        exe = mlpbench()
        must([exe, "export-weights", "--layers", "24,16,4", "--seed", "3", "--out", p("w.safetensors")])

        # The peers: a GPU-only file (peer-pytorch, numpy standing in for torch) and a CPU-only one whose GPU column
        # is copied from results/reference.json (peer-onnxruntime, numpy standing in for ONNX Runtime).
        must([sys.executable, os.path.join(ROOT, "scripts", "peer-pytorch.py"), "--weights", p("w.safetensors"),
              "--out", p("pytorch.json"), "--quick", "--batch-sizes", "1,2"],
             env={"PYTHONPATH": os.path.join(ROOT, "tests", "peer_fake")})
        cls.written["peer-pytorch (GPU only)"] = p("pytorch.json")
        must([sys.executable, os.path.join(ROOT, "scripts", "peer-onnxruntime.py"), "--weights", p("w.safetensors"),
              "--out", p("onnxruntime.json"), "--quick", "--batch-sizes", "1,2,10"],
             env={"PYTHONPATH": os.path.join(ROOT, "tests", "ort_fake")})
        cls.written["peer-onnxruntime (CPU only)"] = p("onnxruntime.json")

        # run --device cpu with --layers of a model the reference table doesn't hold (no GPU column), --out a folder.
        must([exe, "run", "--quick", "--device", "cpu", "--layers", "24,16,4", "--batch-sizes", "1,2", "--batch-size", "2",
              "--out", p("layout") + "/"])
        layout = glob.glob(p("layout/*/*.json"))
        if len(layout) != 1:
            raise AssertionError(f"run --out FOLDER/ wrote {layout}, not one FOLDER/<machine>/<date>-<commit>.json")
        cls.written["run --device cpu --layers (other model), --out FOLDER/"] = layout[0]

        # run --weights, with the peer's measured GPU run as --reference, two thread counts and prices.
        must([exe, "run", "--quick", "--device", "cpu", "--weights", p("w.safetensors"), "--batch-sizes", "1,2",
              "--batch-size", "2", "--threads", "1,2", "--reference", p("pytorch.json"), "--cpu-usd-per-hour", "0.05",
              "--gpu-usd-per-hour", "2.5", "--out", p("weights.json")])
        cls.written["run --weights --reference MEASURED.json --threads 1,2 (prices)"] = p("weights.json")

        # run with every default but the batch sizes: the GPU column measured where there is a GPU, else the
        # illustrative reference table.
        must([exe, "run", "--quick", "--batch-sizes", "1,10", "--batch-size", "1", "--out", p("default.json")])
        cls.written["run (default model and reference)"] = p("default.json")

        # run --cache both: the hot cells at the top, the cold ones in a section of their own.
        must([exe, "run", "--quick", "--device", "cpu", "--layers", "24,16,4", "--batch-sizes", "1,2", "--batch-size", "1",
              "--cache", "both", "--out", p("cold.json")])
        cls.written["run --cache both"] = p("cold.json")

        # mlpbench reference from two measured runs of the same model (GPU from the peer, CPU from ours).
        must([exe, "reference", "--from", p("pytorch.json"), "--from", p("weights.json"), "--out", p("table.json")])
        cls.written["reference --from GPU.json --from CPU.json"] = p("table.json")

        # A GPU machine's file (none here to run on): the peer's GPU cells given what mlpbench's GPU cells add (io,
        # energy either way, floors, clocks, the GPU roof), then read and written back by mlpbench itself.
        cls.written["a GPU run's file (constructed)"] = save(cls.gpu_file(p("pytorch.json"), layout[0]), p("gpu.json"))
        cls.written["report --format json of a GPU run's file, with prices"] = report_json(
            p("gpu.json"), p("gpu-report.json"), "--cpu-usd-per-hour", "0.05", "--gpu-usd-per-hour", "2.5")

        for what, path in list(cls.written.items()):
            if not what.startswith("report"):
                cls.written["report --format json of " + what] = report_json(path, path + ".report.json")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @staticmethod
    def gpu_file(peer_path, cpu_run_path):
        doc = load(peer_path)
        doc = dict({"schema": doc.pop("schema"), "sources": {"CPU": "none", "GPU": "measured"}}, **doc)
        for i, (b, cell) in enumerate(sorted(doc["cells"]["GPU"].items())):
            zero_copy = i % 2 == 1
            cell["io"] = "zero-copy" if zero_copy else "copy"
            if zero_copy:
                cell["d2h_ms"] = 0
            cell["floor_ms"], cell["floor_bound"], cell["efficiency"] = cell["median_ms"] / 2, "launch", 0.5
            cell["energy"] = ({"unavailable": "NVML: the total energy counter is not supported on this GPU"} if zero_copy
                              else {"joules_per_inference": 0.0123, "watts": 310.5, "window_s": 0.5})
            for r in cell["backends"]:
                r["io"], r["ci_rel"] = cell["io"], 0.004
        roof = load(cpu_run_path)["machine"]["roof"]
        roof["gpu"] = {"name": "NVIDIA H200", "sms": 132, "clock_ghz": 1.98, "fp32_tflops": 66.9, "tf32_tflops": 494.7,
                       "bf16_tflops": 989.4, "fp32_fma_tflops": 60.1, "l2_bytes": 62914560.0, "l2_gbs": 9800.0,
                       "hbm_gbs": 4100.0, "h2d_gbs": 52.0, "launch_us": 2.4, "graph_us": 9.8}
        doc["machine"].update(gpu_clocks_mhz={"start": 345, "end": 1755, "max": 1980,
                                              "timed": {"readings": 36, "min": 1755, "median": 1980, "max": 1980, "reasons": "sw power cap"}}, roof=roof)
        doc["build"].update(cuda="12.8", git_commit="0123456789abcdef0123456789abcdef01234567")
        doc["run"].update(gpu_io="both", drift={"median_ms": 41.2, "spread": 0.012, "rounds_ms": [41.0, 41.2, 41.5]})
        return doc

    def test_every_written_file_validates(self):
        self.assertEqual(len(self.written), 17)  # 8 kinds written, the constructed GPU file, and report --format json of each
        for what, path in self.written.items():
            with self.subTest(what):
                self.assertValid(path)

    def test_the_files_hold_what_the_schema_must_cover(self):
        """So that the validation above means something: the written files do hold each optional part."""
        def doc(what):
            return load(self.written[what])
        gpu = doc("report --format json of a GPU run's file, with prices")["cells"]["GPU"]
        self.assertEqual({c["io"] for c in gpu.values()}, {"copy", "zero-copy"})
        self.assertEqual({tuple(c["energy"]) for c in gpu.values()}, {("joules_per_inference", "watts", "window_s"), ("unavailable",)})
        self.assertTrue(all({"device_ms", "h2d_ms", "d2h_ms", "usd_per_million", "samples_ms"} <= set(c) for c in gpu.values()))
        self.assertTrue(all("io" in r and "device_ms" in r for c in gpu.values() for r in c["backends"]))
        clocks = doc("report --format json of a GPU run's file, with prices")["machine"]["gpu_clocks_mhz"]
        self.assertEqual(set(clocks["timed"]), {"readings", "min", "median", "max", "reasons"})

        ours = doc("run --weights --reference MEASURED.json --threads 1,2 (prices)")
        self.assertEqual(ours["sources"], {"CPU": "measured", "GPU": "reference"})
        ref = ours["cells"]["GPU"]["1"]
        self.assertEqual((ref["source"], ref["kind"], ref["machine"]), ("reference", "measured", "Fake GPU"))
        self.assertIn("why", ref)
        self.assertTrue({"prices_usd_per_hour", "cheaper"} <= set(ours))
        self.assertEqual(set(ours["run"]["drift"]), {"version", "median_ms", "spread", "rounds_ms"})
        self.assertEqual(ours["run"]["drift"]["version"], 2)
        self.assertEqual(ours["model"]["weights"]["kind"], "file")
        self.assertEqual((ours["model"]["weights"]["layer_names"], ours["model"]["weights"]["layer_order"]), (["0", "2"], "numbered"))
        cpu = ours["cells"]["CPU"]["2"]
        self.assertTrue({"backends", "samples_ms", "ci_rel", "converged"} <= set(cpu), sorted(cpu))
        self.assertTrue(all("ci_rel" in r for r in cpu["backends"]))
        self.assertIn("roof", ours["machine"])
        self.assertEqual(set(ours["machine"]["roof"]["live"]), {"threads", "fma_gflops_per_core", "l2_gbs", "ms"})

        other = doc("run --device cpu --layers (other model), --out FOLDER/")
        self.assertEqual(other["sources"], {"CPU": "measured", "GPU": "none"})
        self.assertEqual(other["cells"]["GPU"], {})
        self.assertIn("GPU", other["not_measured"])
        self.assertIsNone(other["crossover"]["batch"])

        both = doc("run --cache both")
        self.assertEqual(both["run"]["cache"], "both")
        self.assertEqual({c["cache"] for c in both["cells"]["CPU"].values()}, {"hot"})
        self.assertEqual({c["cache"] for c in both["cold"]["cells"]["CPU"].values()}, {"cold"})
        self.assertEqual(set(both["cold"]["inference_times_ms"]["CPU"]), {"1", "2"})
        self.assertIn("cold", doc("report --format json of run --cache both"))

        table = doc("reference --from GPU.json --from CPU.json")
        self.assertEqual({c["kind"] for dev in table["cells"].values() for c in dev.values()}, {"measured"})
        self.assertEqual(set(table["cells"]["GPU"]), {"1", "2"})
        self.assertEqual(set(table["cells"]["CPU"]), {"1", "2"})

        self.assertEqual(doc("peer-pytorch (GPU only)")["cells"]["CPU"], {})
        self.assertIn("torch_cuda", doc("peer-pytorch (GPU only)")["build"])
        self.assertIn("session", doc("peer-onnxruntime (CPU only)")["run"])


# A GPU cell as a gpu-emu build writes it: run on the CUDA emulator, no time.
SERVING = load(os.path.join(ROOT, "tests", "data", "results-serving.json"))["serving"]


def serving(doc):
    """The file's serving section: the fixture's, added on first use."""
    return doc.setdefault("serving", copy.deepcopy(SERVING))


EMULATED = {"source": "emulated", "backend": "cuda-tiled+graph", "io": "copy", "cache": "hot", "emulator": "mlpbench CUDA emulator",
            "why": "the GPU cell ran on the CUDA emulator (mlpbench CUDA emulator): checked against the CPU, not timed",
            "backends": [{"backend": "cuda-tiled+graph", "io": "copy"}]}


class BrokenFiles(Checks):
    """The schema refuses what a results file must not be; where mlpbench's own reader refuses it too, both agree."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="schema_test.")
        # A valid file with a measured column and a reference one, every optional part but prices and energy.
        cls.base = load(os.path.join(ROOT, "tests", "data", "results-before-sources.json"))
        cls.base["sources"] = {"CPU": "measured", "GPU": "reference"}
        cls.base["cells"]["GPU"]["1"].update(kind="illustrative", why="--device cpu")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def refused(self, change, path_part, reader_too=False):
        doc = copy.deepcopy(self.base)
        change(doc)
        found = validate.problems(doc, VALIDATOR)
        self.assertTrue(found, "the schema accepts it")
        self.assertTrue(any(path_part in p for p in found), f"no problem at {path_part}: {found}")
        if reader_too:
            path = save(doc, os.path.join(self.tmp.name, "broken.json"))
            r = run([mlpbench(), "report", "--from", path, "--batch-size", "1"])
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)

    def test_the_base_is_valid(self):
        self.assertEqual(validate.problems(self.base, VALIDATOR), [])

    def test_refused(self):
        cpu1 = lambda d: d["cells"]["CPU"]["1"]  # noqa: E731
        cases = [
            ("no cells", lambda d: d.pop("cells"), "$: 'cells' is a required property", True),
            ("no cell at all", lambda d: d.update(cells={"CPU": {}, "GPU": {}}), "$.cells", True),
            ("a device that isn't CPU or GPU", lambda d: d["cells"].update(TPU={}), "$.cells", True),
            ("source neither measured nor reference", lambda d: cpu1(d).update(source="estimated"), "$.cells.CPU.1.source", True),
            ("a negative median", lambda d: cpu1(d).update(median_ms=-0.03), "$.cells.CPU.1.median_ms", True),
            ("a zero median in the table", lambda d: d["inference_times_ms"]["GPU"].update({"1": 0}), "$.inference_times_ms.GPU.1", False),
            ("a median as text", lambda d: d["cells"]["GPU"]["10"].update(median_ms="100"), "$.cells.GPU.10.median_ms", True),
            ("a batch key with a leading zero", lambda d: d["cells"]["CPU"].update({"01": cpu1(d)}), "$.cells.CPU", True),
            ("a batch key that isn't a number", lambda d: d["faster"].update(ten="CPU"), "$.faster", False),
            ("a zero sample", lambda d: cpu1(d)["samples_ms"].__setitem__(3, 0), "$.cells.CPU.1.samples_ms[3]", True),
            ("a sample as text", lambda d: cpu1(d)["samples_ms"].__setitem__(0, "0.03"), "$.cells.CPU.1.samples_ms[0]", True),
            ("a measured cell without p90", lambda d: cpu1(d).pop("p90_ms"), "$.cells.CPU.1", True),
            ("a fractional sample count", lambda d: cpu1(d).update(samples=2.5), "$.cells.CPU.1.samples", True),
            ("a negative cv", lambda d: cpu1(d).update(cv=-1), "$.cells.CPU.1.cv", True),
            ("a reference cell without its file", lambda d: d["cells"]["GPU"]["1"].pop("file"), "$.cells.GPU.1", False),
            ("a reference kind that isn't measured or illustrative", lambda d: d["cells"]["GPU"]["1"].update(kind="guess"),
             "$.cells.GPU.1.kind", True),
            ("a column source outside measured|reference|emulated|mixed|none", lambda d: d["sources"].update(GPU="partly"), "$.sources.GPU", False),
            ("an emulated cell with a time", lambda d: d["cells"]["GPU"].update({"1": dict(EMULATED, median_ms=30)}), "$.cells.GPU.1", True),
            ("an emulated cell without its emulator", lambda d: d["cells"]["GPU"].update({"1": {k: v for k, v in EMULATED.items() if k != "emulator"}}),
             "$.cells.GPU.1", True),
            ("an emulated cell without the backends that ran", lambda d: d["cells"]["GPU"].update({"1": dict(EMULATED, backends=[])}),
             "$.cells.GPU.1.backends", True),
            ("sources without GPU", lambda d: d["sources"].pop("GPU"), "$.sources", False),
            ("a verdict for a third device", lambda d: d["faster"].update({"1": "TPU"}), "$.faster.1", False),
            ("another schema", lambda d: d.update(schema="mlpbench/2"), "$.schema", True),
            ("a misspelt top-level key", lambda d: d.update(warning=["x"]), "$: Additional properties", False),
            ("a misspelt cell key", lambda d: cpu1(d).update(median=0.03), "$.cells.CPU.1: Additional properties", False),
            ("a cache mode that doesn't exist", lambda d: cpu1(d).update(cache="warm"), "$.cells.CPU.1.cache", True),
            ("a cold section without its cells", lambda d: d.update(cold={k: d[k] for k in ("inference_times_ms", "faster", "crossover")}),
             "$.cold", False),
            ("an io mode that doesn't exist", lambda d: cpu1(d).update(io="dma"), "$.cells.CPU.1.io", False),
            ("half a split", lambda d: cpu1(d).update(device_ms=0.02), "$.cells.CPU.1: 'h2d_ms' is a dependency", False),
            ("energy without its window", lambda d: cpu1(d).update(energy={"joules_per_inference": 1, "watts": 2}), "$.cells.CPU.1.energy", False),
            ("energy both measured and unavailable", lambda d: cpu1(d).update(
                energy={"joules_per_inference": 1, "watts": 2, "window_s": 0.5, "unavailable": "x"}), "$.cells.CPU.1.energy", False),
            ("a floor bound that doesn't exist", lambda d: cpu1(d).update(floor_bound="L4"), "$.cells.CPU.1.floor_bound", False),
            ("an efficiency above 100%", lambda d: cpu1(d).update(efficiency=1.2), "$.cells.CPU.1.efficiency", False),
            ("a backend run without its median", lambda d: cpu1(d)["backends"][0].pop("median_ms"), "$.cells.CPU.1.backends[0]", True),
            ("a crossover with a batch and a why", lambda d: d.update(crossover={"batch": 4, "why": "x"}), "$.crossover", False),
            ("one layer", lambda d: d["model"].update(layers=[784]), "$.model.layers", False),
            ("weights from nowhere", lambda d: d["model"].update(weights={"kind": "file", "file": "w.safetensors"}), "$.model.weights", False),
            ("a layer order that isn't one", lambda d: d["model"].update(weights={
                "kind": "file", "file": "w.safetensors", "sha256": "0" * 64, "layer_names": ["b", "a"], "layer_order": "alphabetical"}),
             "$.model.weights", False),
            ("layer names without how they were ordered", lambda d: d["model"].update(weights={
                "kind": "file", "file": "w.safetensors", "sha256": "0" * 64, "layer_names": ["b", "a"]}), "$.model.weights", False),
            ("a device the run option doesn't have", lambda d: d["run"].update(device="tpu"), "$.run.device", False),
            ("a drift probe without its rounds", lambda d: d["run"].update(drift={"median_ms": 40, "spread": 0.01}), "$.run.drift", False),
            ("a drift probe of an unknown version", lambda d: d["run"].update(drift={"version": 3, "median_ms": 0.05, "spread": 0.01, "rounds_ms": [0.05]}),
             "$.run.drift.version", False),
            ("a start time that isn't UTC ISO 8601", lambda d: d["run"].update(started_utc="29.11.2026 13:05"), "$.run.started_utc", False),
            ("threads as text", lambda d: d["machine"].update(threads="2"), "$.machine.threads", True),
            ("a clock median while timing as text", lambda d: d["machine"].update(gpu_clocks_mhz={
                "start": 345, "end": 1980, "max": 1980, "timed": {"readings": 3, "min": 1980, "median": "1980", "max": 1980}}),
             "$.machine.gpu_clocks_mhz.timed.median", True),
            ("clock readings while timing without their count", lambda d: d["machine"].update(gpu_clocks_mhz={
                "start": 345, "end": 1980, "max": 1980, "timed": {"min": 1980, "median": 1980, "max": 1980}}),
             "$.machine.gpu_clocks_mhz.timed", False),
            ("a live probe without its figures", lambda d: d["machine"]["roof"].update(live={"ms": 60}), "$.machine.roof.live", False),
            ("prices without the cheaper verdicts", lambda d: d.update(prices_usd_per_hour={"CPU": 1, "GPU": 2}), "$: 'cheaper'", False),
            ("a serving run neither measured nor simulated", lambda d: serving(d)["runs"][0].update(source="estimated"),
             "$.serving.runs[0]", True),
            ("a simulated serving run that doesn't say where from", lambda d: serving(d)["runs"][1].pop("simulated_from"),
             "$.serving.runs[1]", True),
            ("a measured serving run with a simulated step", lambda d: serving(d)["runs"][0]["steps"][0].update(simulated=True),
             "$.serving.runs[0].steps[0].simulated", True),
            ("a serving step without its p99", lambda d: serving(d)["runs"][0]["steps"][0].pop("p99_ms"), "$.serving.runs[0].steps[0]", True),
            ("a serving step with a fractional count", lambda d: serving(d)["runs"][0]["steps"][0].update(issued=2.5),
             "$.serving.runs[0].steps[0].issued", True),
            ("serving without its bound", lambda d: serving(d)["config"].pop("slo_ms"), "$.serving.config", True),
            ("a serving run on a third device", lambda d: serving(d)["runs"][0].update(device="TPU"), "$.serving.runs[0].device", True),
            ("a best rate for a third device", lambda d: serving(d)["best"].update(TPU=serving(d)["best"]["CPU"]), "$.serving.best", False),
        ]
        for what, change, path_part, reader_too in cases:
            with self.subTest(what):
                self.refused(change, path_part, reader_too)


class ValidateScript(Checks):
    """schema/validate.py, as README and the CI recipes run it."""

    def test_exit_codes_and_messages(self):
        with tempfile.TemporaryDirectory() as d:
            bad = load(os.path.join(ROOT, "results", "reference.json"))
            bad["cells"]["GPU"]["1"]["median_ms"] = -30
            bad_path = save(bad, os.path.join(d, "bad.json"))
            ok = run([sys.executable, os.path.join(ROOT, "schema", "validate.py"), os.path.join(ROOT, "results", "reference.json")])
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
            self.assertIn("reference.json: valid mlpbench/1", ok.stdout)
            r = run([sys.executable, os.path.join(ROOT, "schema", "validate.py"), bad_path])
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertEqual(r.stdout, f"{bad_path}: $.cells.GPU.1.median_ms: -30 is less than or equal to the minimum of 0\n")
            r = run([sys.executable, os.path.join(ROOT, "schema", "validate.py"), os.path.join(d, "none.json")])
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)

    def test_jsonschema_command_line_agrees(self):  # README: python3 -m jsonschema -i FILE schema/mlpbench-1.schema.json
        ref = os.path.join(ROOT, "results", "reference.json")
        r = run([sys.executable, "-m", "jsonschema", "-i", ref, SCHEMA])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
