#!/usr/bin/env python3
"""scripts/bench_crosscheck.py on constructed files: rows matched by backend, batch size AND thread count; one
interval (the median and a distribution-free interval from order statistics) for the run's round medians and for
bench's per-repetition medians; MISMATCH reported with why, exit 0 all the same; exit 2 on input it can't use;
--plan says how to run bench/ as the run was made."""
import importlib.util, io, json, os, re, tempfile, unittest  # noqa: E401
from contextlib import redirect_stderr, redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_crosscheck", os.path.join(HERE, "..", "scripts", "bench_crosscheck.py"))
cc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cc)

PACKED_CONFIG = ",pinned,kernel[1-4]=few-rows,kernel[5+]=tile6x16"


def entry(backend, threads, rounds_us):
    """A run's entry of a cell's "backends": round medians given in us."""
    rounds_ms = [v / 1e3 for v in rounds_us]
    config = f"threads={threads}" + (",pinned" if backend == "eigen" else PACKED_CONFIG)
    return {"backend": backend, "config": config, "median_ms": sorted(rounds_ms)[len(rounds_ms) // 2], "ci_rel": 0.001,
            "samples": 100, "round_medians_ms": rounds_ms}


def run_doc(entries, batch=10, quick=False):
    head = dict(entries[0], source="measured", cache="hot", backends=entries, samples_ms=[0.5] * 600, passes_per_sample=2)
    return {"model": {"layers": [784, 512, 512, 10]}, "run": {"quick": quick, "threads": [1, 2]},
            "cells": {"CPU": {str(batch): head}, "GPU": {str(batch): {"source": "reference", "backend": "x", "median_ms": 100}}}}


def bench_doc(reps_us, batch=10, real_time_us=None):
    """reps_us: {(backend, threads or None): [per-repetition median_us]}; real_time_us: the mean, when it differs."""
    bs = []
    for (backend, threads), vals in reps_us.items():
        name = f"BM_forward/{backend}/{batch}" + (f"/cpu_threads:{threads}" if threads else "") + "/manual_time"
        for i, v in enumerate(vals):
            real = v if real_time_us is None else real_time_us
            bs.append({"name": name, "run_name": name, "run_type": "iteration", "repetition_index": i,
                       "real_time": real * 1e3, "time_unit": "ns", "median_us": v})
        bs.append({"name": name + "_median", "run_name": name, "run_type": "aggregate", "aggregate_name": "median",
                   "real_time": 0, "time_unit": "ns"})
    return {"benchmarks": bs}


ONE_THREAD = [100, 101, 99, 100, 102, 98]  # us: rounds at 1 thread
TWO_THREADS = [60, 61, 59, 60, 62, 58]  # at 2 threads, clearly faster


class Interval(unittest.TestCase):
    def test_order_statistics_and_their_coverage(self):
        med, lo, hi, cov = cc.interval([5, 1, 4, 2, 3, 6])  # 6 rounds: [min, max] covers 1 - 2/64
        self.assertEqual((med, lo, hi), (3.5, 1, 6))
        self.assertAlmostEqual(cov, 1 - 2 / 64)
        _, lo, hi, cov = cc.interval(range(1, 10))  # 9: [x(2), x(8)], 1 - 2 * 10/512
        self.assertEqual((lo, hi), (2, 8))
        self.assertAlmostEqual(cov, 1 - 20 / 512)
        _, lo, hi, cov = cc.interval(range(1, 18))  # 17: [x(5), x(13)], the textbook 95.1%
        self.assertEqual((lo, hi), (5, 13))
        self.assertAlmostEqual(cov, 0.951, places=3)
        _, lo, hi, cov = cc.interval([3, 1, 2])  # 3 values: [min, max] covers only 75%
        self.assertEqual((lo, hi, cov), (1, 3, 0.75))

    def test_one_stalled_round_moves_it_by_one_rank_only(self):
        med, lo, hi, _ = cc.interval([100, 101, 99, 100, 102, 98, 100, 101, 5000])  # 9 values: the stall is cut off
        self.assertEqual((med, lo, hi), (100, 99, 102))

    def test_quantile_matches_numpys_default(self):
        self.assertAlmostEqual(cc.quantile([1, 2, 3, 4], 0.25), 1.75)
        self.assertEqual(cc.quantile([7], 0.5), 7)


class CrossCheck(unittest.TestCase):
    def check(self, run, bench):
        with tempfile.TemporaryDirectory() as d:
            paths = [os.path.join(d, "run.json"), os.path.join(d, "bench.json")]
            for p, doc in zip(paths, (run, bench)):
                with open(p, "w") as f:
                    json.dump(doc, f)
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                code = cc.main(paths)
            return code, out.getvalue() + err.getvalue()

    def rows(self, out):
        """{(backend, batch, threads): (run interval text, bench interval text, verdict)} of the printed rows."""
        found = {}
        for m in re.finditer(r"^(\S+) +(\d+) +(\d+|-) +(\S+ \[\S+, \S+\]) +\d+ +(\S+ \[\S+, \S+\]) +\d+ +(agree|MISMATCH)", out, re.M):
            found[(m[1], int(m[2]), m[3])] = (m[4], m[5], m[6])
        return found

    def test_rows_are_matched_by_backend_and_thread_count(self):
        run = run_doc([entry("eigen", 1, ONE_THREAD), entry("eigen", 2, TWO_THREADS)])
        bench = bench_doc({("eigen", 1): [101, 100, 99, 100, 103, 97], ("eigen", 2): [61, 60, 59, 60, 63, 57]})
        code, out = self.check(run, bench)
        self.assertEqual(code, 0, out)
        rows = self.rows(out)
        self.assertEqual(set(rows), {("eigen", 10, "1"), ("eigen", 10, "2")}, out)
        self.assertEqual(rows[("eigen", 10, "1")][2], "agree", out)
        self.assertEqual(rows[("eigen", 10, "2")][2], "agree", out)
        self.assertIn("2 of 2 rows agree, 0 MISMATCH", out)
        # The 1-thread run beside the 2-thread bench entry (or the reverse) would not agree: the match is not by
        # backend alone.
        swapped = bench_doc({("eigen", 1): [61, 60, 59, 60, 63, 57], ("eigen", 2): [101, 100, 99, 100, 103, 97]})
        code, out = self.check(run, swapped)
        self.assertEqual(code, 0, out)
        self.assertEqual({k: v[2] for k, v in self.rows(out).items()}, {("eigen", 10, "1"): "MISMATCH", ("eigen", 10, "2"): "MISMATCH"}, out)

    def test_both_sides_get_the_same_interval(self):
        run = run_doc([entry("eigen-omp-packed", 2, TWO_THREADS)])
        bench_reps = [64, 59, 60, 62, 61, 66]
        code, out = self.check(run, bench_doc({("eigen-omp-packed", 2): bench_reps}))
        self.assertEqual(code, 0, out)
        text = self.rows(out)[("eigen-omp-packed", 10, "2")]
        for shown, values in zip(text, (TWO_THREADS, bench_reps)):
            med, lo, hi, _ = cc.interval(values)
            self.assertEqual(shown, f"{med:.4g} [{lo:.4g}, {hi:.4g}]")
        self.assertIn("95% intervals", out)

    def test_a_mismatch_is_reported_with_why_and_is_no_failure(self):
        # The run's rounds at 100 us, bench's repetitions at 130 us: the intervals don't meet.
        run = run_doc([entry("eigen", 1, ONE_THREAD), entry("eigen", 2, TWO_THREADS)])
        bench = bench_doc({("eigen", 1): [129, 130, 131, 130, 130, 128], ("eigen", 2): [61, 60, 59, 60, 63, 57]})
        code, out = self.check(run, bench)
        self.assertEqual(code, 0, out)
        self.assertEqual(self.rows(out)[("eigen", 10, "1")][2], "MISMATCH", out)
        self.assertIn("1 of 2 rows agree, 1 MISMATCH", out)
        self.assertIn("machine changed speed between the run and bench/", out)
        self.assertIn("Not a failure", out)

    def test_bench_repetitions_are_read_by_their_median_not_their_mean(self):
        # Each repetition's mean (real_time) is pulled to 400 us by stalled samples; its median_us says 100.
        run = run_doc([entry("eigen", 1, ONE_THREAD)])
        code, out = self.check(run, bench_doc({("eigen", 1): [101, 100, 99, 100, 103, 97]}, real_time_us=400))
        self.assertEqual(self.rows(out)[("eigen", 10, "1")][2], "agree", out)

    def test_few_rounds_say_their_coverage(self):
        run = run_doc([entry("eigen", 1, [100, 99, 101])], quick=True)
        code, out = self.check(run, bench_doc({("eigen", 1): [100, 101, 99]}))
        self.assertEqual(code, 0, out)
        self.assertIn("agree (coverage 75%)", out)

    def test_gpu_backends_match_without_a_thread_count(self):
        run = run_doc([entry("eigen", 1, ONE_THREAD)])
        run["cells"]["GPU"]["10"] = {"source": "measured", "backend": "cublaslt+graph", "cache": "hot", "median_ms": 0.02,
                                     "round_medians_ms": [0.020, 0.021, 0.019, 0.020, 0.020, 0.022]}
        bench = bench_doc({("eigen", 1): ONE_THREAD, ("cublaslt+graph", None): [20, 21, 20, 19, 20, 20]})
        code, out = self.check(run, bench)
        self.assertEqual(code, 0, out)
        self.assertEqual(self.rows(out)[("cublaslt+graph", 10, "-")][2], "agree", out)

    def test_cold_entries_and_cold_cells_are_left_out(self):
        # bench's .../cpu_threads:1/cold (3x slower) is no twin of the run's hot entry: still in agreement.
        run = run_doc([entry("eigen", 1, ONE_THREAD)])
        bench = bench_doc({("eigen", 1): ONE_THREAD})
        for b in bench_doc({("eigen", 1): [300, 301, 299]})["benchmarks"]:
            b["name"] = b["run_name"] = b["run_name"].replace("/manual_time", "/cold/manual_time")
            bench["benchmarks"].append(b)
        code, out = self.check(run, bench)
        self.assertEqual(code, 0, out)
        self.assertIn("1 of 1 rows agree", out)
        # A run measured cold (--cache cold) has no hot entry to set beside bench's.
        cold_run = run_doc([entry("eigen", 1, ONE_THREAD)])
        cold_run["cells"]["CPU"]["10"]["cache"] = "cold"
        code, _ = self.check(cold_run, bench)
        self.assertEqual(code, 2)

    def test_input_it_cant_use_is_exit_2(self):
        run = run_doc([entry("eigen", 1, ONE_THREAD)])
        code, out = self.check(run, bench_doc({("onednn", 1): [1, 2, 3]}))  # nothing in common
        self.assertEqual(code, 2)
        self.assertIn("no backend, batch size and thread count in both files", out)
        code, _ = self.check(run, bench_doc({("eigen", 2): ONE_THREAD}))  # same backend, another thread count
        self.assertEqual(code, 2)
        old = run_doc([entry("eigen", 1, ONE_THREAD)])  # a file from before round_medians_ms
        for e in [old["cells"]["CPU"]["10"]] + old["cells"]["CPU"]["10"]["backends"]:
            e.pop("round_medians_ms")
        self.assertEqual(self.check(old, bench_doc({("eigen", 1): ONE_THREAD}))[0], 2)
        self.assertEqual(self.check({"benchmarks": []}, bench_doc({("eigen", 1): ONE_THREAD}))[0], 2)  # files swapped
        with redirect_stderr(io.StringIO()):
            self.assertEqual(cc.main(["/nonexistent/run.json", "/nonexistent/bench.json"]), 2)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f, redirect_stderr(io.StringIO()):
            f.write("{not json")
            f.flush()
            self.assertEqual(cc.main([f.name, f.name]), 2)


class Plan(unittest.TestCase):
    def plan(self, run):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(run, f)
            f.flush()
            out = io.StringIO()
            with redirect_stdout(out):
                self.assertEqual(cc.main(["--plan", f.name]), 0)
        return dict(line.split("=", 1) for line in out.getvalue().splitlines())

    def test_bench_is_run_as_the_run_was_made(self):
        run = run_doc([entry("eigen", 1, ONE_THREAD), entry("eigen-omp-packed", 2, TWO_THREADS)])
        p = self.plan(run)
        self.assertEqual(p["repetitions"], "6")  # the run's rounds
        self.assertEqual(p["threads"], "1,2")
        self.assertEqual(p["layers"], "784,512,512,10")
        self.assertEqual(p["min_time_s"], "0.100")  # a round's slice: 600 samples of 2 passes of 0.5 ms over 6 rounds
        self.assertEqual(self.plan(run_doc([entry("eigen", 1, [1, 2, 3])], quick=True))["repetitions"], "5")
        # The filter (Google Benchmark's, an extended regex; Python's re reads this one alike) keeps the run's
        # backends, hot, at any thread count, and nothing else.
        keep = re.compile(p["filter"])
        for name in ("BM_forward/eigen/1/cpu_threads:1/manual_time", "BM_forward/eigen-omp-packed/100/cpu_threads:2/manual_time"):
            self.assertTrue(keep.search(name), name)
        for name in ("BM_forward/eigen/1/cpu_threads:2/cold/manual_time", "BM_forward/eigen-omp-packed-bf16/10/cpu_threads:1/manual_time",
                     "BM_forward/onednn/10/manual_time"):
            self.assertFalse(keep.search(name), name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
