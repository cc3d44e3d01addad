#!/usr/bin/env python3
"""`mlpbench report --format gbench` writes Google Benchmark's JSON: Google Benchmark's own compare.py (Debian's
libbenchmark-tools) reads two of our runs and compares them. Needs MLPBENCH_EXE (the mlpbench to run) and
GBENCH_COMPARE (compare.py); scipy and numpy for compare.py's U test."""
import copy, json, os, subprocess, sys, tempfile, unittest  # noqa: E401

HERE = os.path.dirname(os.path.abspath(__file__))
EXE = os.environ.get("MLPBENCH_EXE", "mlpbench")
COMPARE = os.environ.get("GBENCH_COMPARE", "/usr/share/benchmark/compare.py")
RUN = os.path.join(HERE, "data", "results-before-sources.json")  # a real run: CPU measured, GPU from the reference


def load(path):
    with open(path) as f:
        return json.load(f)


def gbench_of(path):
    out = subprocess.run([EXE, "report", "--from", path, "--batch-size", "1", "--format", "gbench"], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"mlpbench report failed ({out.returncode}): {out.stderr}")
    return out.stdout


def slower(doc, factor):
    """The same run with every CPU time `factor` times longer (a regression to find)."""
    d = copy.deepcopy(doc)
    d.pop("inference_times_ms", None)
    for cell in d["cells"]["CPU"].values():
        for k in ("median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms"):
            cell[k] *= factor
        cell["samples_ms"] = [v * factor for v in cell["samples_ms"]]
        for b in cell.get("backends", []):
            for k in ("median_ms", "p90_ms", "min_ms"):
                b[k] *= factor
    return d


class GbenchFormat(unittest.TestCase):
    def test_one_entry_per_measured_cell_in_milliseconds(self):
        doc = json.loads(gbench_of(RUN))
        self.assertEqual(doc["context"]["executable"], "mlpbench")
        self.assertEqual(doc["context"]["mlpbench.model"], "784,512,512,10")
        run = load(RUN)
        names = [b["name"] for b in doc["benchmarks"]]
        self.assertEqual(names, ["BM_forward/CPU/1", "BM_forward/CPU/10"], "reference GPU cells are not measurements: left out")
        for b in doc["benchmarks"]:
            self.assertEqual(b["time_unit"], "ms")
            self.assertEqual(b["run_type"], "iteration")
            batch = b["name"].rsplit("/", 1)[1]
            self.assertEqual(b["real_time"], run["cells"]["CPU"][batch]["median_ms"])

    def test_google_benchmarks_compare_py_reads_two_of_our_runs(self):
        with tempfile.TemporaryDirectory() as d:
            slow_run = os.path.join(d, "slow.json")
            with open(slow_run, "w") as f:
                json.dump(slower(load(RUN), 1.5), f)
            a, b = os.path.join(d, "a.json"), os.path.join(d, "b.json")
            with open(a, "w") as f:
                f.write(gbench_of(RUN))
            with open(b, "w") as f:
                f.write(gbench_of(slow_run))
            out = subprocess.run([sys.executable, COMPARE, "--no-color", "benchmarks", a, b], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            rows = [line for line in out.stdout.splitlines() if line.startswith("BM_forward/CPU/")]
            self.assertEqual(len(rows), 2, out.stdout)
            for row in rows:
                self.assertIn("+0.5000", row, "compare.py reports the 1.5x slowdown as +50%")


if __name__ == "__main__":
    unittest.main(verbosity=2)
