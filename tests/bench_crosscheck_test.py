#!/usr/bin/env python3
"""scripts/bench_crosscheck.py on constructed files: medians in microseconds from both sides, agreement where the
95% intervals meet, MISMATCH (exit 1) where they don't, and exit 2 on input it can't use."""
import importlib.util, io, json, os, sys, tempfile, unittest  # noqa: E401
from contextlib import redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_crosscheck", os.path.join(HERE, "..", "scripts", "bench_crosscheck.py"))
cc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cc)


def run_doc(median_ms, ci_rel):
    cell = {"source": "measured", "backend": "eigen", "median_ms": median_ms, "ci_rel": ci_rel,
            "backends": [{"backend": "eigen", "median_ms": median_ms, "ci_rel": ci_rel},
                         {"backend": "eigen-omp-packed", "median_ms": median_ms / 2, "ci_rel": ci_rel}]}
    return {"cells": {"CPU": {"10": cell}, "GPU": {"10": {"source": "reference", "backend": "x", "median_ms": 100}}}}


def bench_doc(times_us):
    bs = []
    for backend, vals in times_us.items():
        for v in vals:
            bs.append({"name": f"BM_forward/{backend}/10/manual_time", "run_name": f"BM_forward/{backend}/10/manual_time",
                       "run_type": "iteration", "real_time": v * 1e3, "time_unit": "ns"})
        bs.append({"name": f"BM_forward/{backend}/10/manual_time_median", "run_type": "aggregate", "real_time": 0, "time_unit": "ns"})
    return {"benchmarks": bs}


class CrossCheck(unittest.TestCase):
    def check(self, run, bench):
        with tempfile.TemporaryDirectory() as d:
            paths = [os.path.join(d, "run.json"), os.path.join(d, "bench.json")]
            for p, doc in zip(paths, (run, bench)):
                with open(p, "w") as f:
                    json.dump(doc, f)
            out = io.StringIO()
            with redirect_stdout(out):
                code = cc.main(paths)
            return code, out.getvalue()

    def test_agreeing_medians(self):
        code, out = self.check(run_doc(0.1, 0.01), bench_doc({"eigen": [99, 100, 101, 100, 102], "eigen-omp-packed": [50, 51, 49, 50, 50]}))
        self.assertEqual(code, 0, out)
        self.assertIn("eigen                           10", out)
        self.assertIn("agree", out)
        self.assertNotIn("MISMATCH", out)
        self.assertIn("0 mismatch(es) of 2", out)

    def test_a_gap_beyond_both_intervals_is_a_mismatch(self):
        # The run says 100 us +-1; bench says 130 us with a tight spread: 65.4 vs 23.5 us was the case seen.
        code, out = self.check(run_doc(0.1, 0.01), bench_doc({"eigen": [129, 130, 131, 130, 130], "eigen-omp-packed": [50, 50, 50, 50, 50]}))
        self.assertEqual(code, 1)
        self.assertIn("MISMATCH", out)
        self.assertIn("1 mismatch(es) of 2", out)

    def test_nothing_in_common_or_unreadable_is_exit_2(self):
        code, _ = self.check(run_doc(0.1, 0.01), bench_doc({"onednn": [1, 2, 3]}))
        self.assertEqual(code, 2)
        self.assertEqual(cc.main(["/nonexistent/run.json", "/nonexistent/bench.json"]), 2)

    def test_cold_entries_and_cold_cells_are_left_out(self):
        # bench's BM_forward/<backend>/10/cold (3x slower) is no twin of the run's hot cell: still in agreement.
        bench = bench_doc({"eigen": [99, 100, 101, 100, 102], "eigen-omp-packed": [50, 51, 49, 50, 50]})
        for b in bench_doc({"eigen": [300, 301, 299]})["benchmarks"]:
            b["name"] = b["name"].replace("/10/", "/10/cold/")
            if "run_name" in b:
                b["run_name"] = b["run_name"].replace("/10/", "/10/cold/")
            bench["benchmarks"].append(b)
        code, out = self.check(run_doc(0.1, 0.01), bench)
        self.assertEqual(code, 0, out)
        self.assertIn("0 mismatch(es) of 2", out)
        # A run measured cold (--cache cold) has no hot cell to set beside bench's entries.
        cold_run = run_doc(0.3, 0.01)
        cold_run["cells"]["CPU"]["10"]["cache"] = "cold"
        code, _ = self.check(cold_run, bench)
        self.assertEqual(code, 2)

    def test_quantile_matches_numpys_default(self):
        self.assertAlmostEqual(cc.quantile([1, 2, 3, 4], 0.25), 1.75)
        self.assertEqual(cc.quantile([7], 0.5), 7)


if __name__ == "__main__":
    unittest.main(verbosity=2)
