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


def with_rounds(doc, rounds=9):
    """The run with round_medians_ms in each measured cell: its samples cut into `rounds` runs in the order taken,
    each run's median (as measure_rounds stores them)."""
    d = copy.deepcopy(doc)
    for cells in d["cells"].values():
        for cell in cells.values():
            if cell.get("source") != "measured":
                continue
            s = cell["samples_ms"]
            step = len(s) / rounds
            chunks = [sorted(s[int(i * step):int((i + 1) * step)]) for i in range(rounds)]
            cell["round_medians_ms"] = [c[len(c) // 2] if len(c) % 2 else (c[len(c) // 2 - 1] + c[len(c) // 2]) / 2 for c in chunks]
    return d


def slower(doc, factor):
    """The same run with every CPU time `factor` times longer (a regression to find)."""
    d = copy.deepcopy(doc)
    d.pop("inference_times_ms", None)
    for cell in d["cells"]["CPU"].values():
        for k in ("median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms"):
            cell[k] *= factor
        cell["samples_ms"] = [v * factor for v in cell["samples_ms"]]
        if "round_medians_ms" in cell:
            cell["round_medians_ms"] = [v * factor for v in cell["round_medians_ms"]]
        for b in cell.get("backends", []):
            for k in ("median_ms", "p90_ms", "min_ms"):
                b[k] *= factor
    return d


def write(d, name, doc):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


class GbenchFormat(unittest.TestCase):
    def test_a_file_without_rounds_gives_each_cell_once_in_nanoseconds(self):
        doc = json.loads(gbench_of(RUN))
        self.assertEqual(doc["context"]["executable"], "mlpbench")
        self.assertEqual(doc["context"]["mlpbench.model"], "784,512,512,10")
        run = load(RUN)
        names = [b["name"] for b in doc["benchmarks"]]
        self.assertEqual(names, ["BM_forward/CPU/1", "BM_forward/CPU/10"], "reference GPU cells are not measurements: left out")
        for b in doc["benchmarks"]:
            self.assertEqual(b["time_unit"], "ns")
            self.assertEqual(b["run_type"], "iteration")
            self.assertEqual(b["repetitions"], 1)
            batch = b["name"].rsplit("/", 1)[1]
            self.assertAlmostEqual(b["real_time"], run["cells"]["CPU"][batch]["median_ms"] * 1e6, places=3)

    def test_one_repetition_per_round_and_the_aggregates(self):
        with tempfile.TemporaryDirectory() as d:
            rounds = with_rounds(load(RUN))
            doc = json.loads(gbench_of(write(d, "rounds.json", rounds)))
        cell = rounds["cells"]["CPU"]["1"]
        reps = [b for b in doc["benchmarks"] if b["run_name"] == "BM_forward/CPU/1" and b["run_type"] == "iteration"]
        self.assertEqual([b["repetition_index"] for b in reps], list(range(9)))
        self.assertEqual({b["repetitions"] for b in reps}, {9})
        for b, ms in zip(reps, cell["round_medians_ms"]):
            self.assertAlmostEqual(b["real_time"], ms * 1e6, places=3)
        aggregates = {b["aggregate_name"]: b for b in doc["benchmarks"] if b["run_type"] == "aggregate" and b["run_name"] == "BM_forward/CPU/1"}
        self.assertEqual(sorted(aggregates), ["cv", "mean", "median", "stddev"])
        self.assertEqual(aggregates["mean"]["name"], "BM_forward/CPU/1_mean")
        self.assertAlmostEqual(aggregates["mean"]["real_time"], sum(cell["round_medians_ms"]) / 9 * 1e6, places=2)

    def test_google_benchmarks_compare_py_runs_its_u_test_on_two_of_our_runs(self):
        with tempfile.TemporaryDirectory() as d:
            base = with_rounds(load(RUN))
            a = write(d, "a.json", json.loads(gbench_of(write(d, "base.json", base))))
            b = write(d, "b.json", json.loads(gbench_of(write(d, "slow.json", slower(base, 1.5)))))
            out = subprocess.run([sys.executable, COMPARE, "--no-color", "benchmarks", a, b], capture_output=True, text=True)
            print(out.stdout)  # compare.py's own output, in the test's log
            self.assertEqual(out.returncode, 0, out.stderr)
            lines = out.stdout.splitlines()
            for batch in ("1", "10"):
                name = f"BM_forward/CPU/{batch}"
                rows = [line for line in lines if line.startswith(name + " ")]
                self.assertEqual(len(rows), 9, out.stdout)  # one row per round
                for row in rows:
                    self.assertIn("+0.5000", row, "compare.py reports the 1.5x slowdown as +50%")
                mean = [line for line in lines if line.startswith(name + "_mean ")]
                self.assertEqual(len(mean), 1, out.stdout)
                self.assertIn("+0.5000", mean[0])
                pvalue = [line for line in lines if line.startswith(name + "_pvalue ")]
                self.assertEqual(len(pvalue), 1, "compare.py ran its U test: " + out.stdout)
                self.assertRegex(pvalue[0], r"0\.0\d+")  # 9 rounds each, every new one slower: p well below 0.05
            self.assertNotIn("Time Old 0", out.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
