#!/usr/bin/env python3
"""ci_recipe_test: the GitHub Actions recipes in ci/github/ that users copy. Each is valid YAML with the jobs and
steps README promises, and its shell steps run here in order, as Actions would run them (bash --noprofile --norc
-eo pipefail, the workflow's and job's env, GITHUB_ENV and GITHUB_STEP_SUMMARY files), in a temporary checkout
(the repository's files linked in, results/ its own), without act. The `uses:` steps (checkout, upload-artifact)
are not run; the paths they upload are checked to exist. Kept small for CI: the ctest-built mlpbench stands in for
the build step (MLPBENCH, which the recipes honour), a small model, --quick; scripts/setup.sh runs for real but may
not install anything (apt-get is a stub that fails: run scripts/setup.sh first).

    MLPBENCH_EXE=build/cpu-only/mlpbench python3 tests/ci_recipe_test.py   # ctest sets MLPBENCH_EXE; needs yaml
"""
import json, os, re, shutil, subprocess, tempfile, unittest  # noqa: E401

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "ci", "github")
SMALL_RUN = "--layers 16,8 --batch-sizes 1,2"  # MLPBENCH_RUN_ARGS for the tests: a small model, two batch sizes


def mlpbench():
    exe = os.environ.get("MLPBENCH_EXE", "")
    if not os.access(exe, os.X_OK):
        raise AssertionError(f"set MLPBENCH_EXE to the mlpbench executable (ctest does), not '{exe}'")
    return os.path.abspath(exe)


def workflow(name):
    with open(os.path.join(RECIPES, name)) as f:
        wf = yaml.safe_load(f)
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as true
    return wf


def step_named(job, part):
    found = [s for s in job["steps"] if part in s.get("name", "")]
    assert len(found) == 1, f"one step named '...{part}...', found {len(found)}"
    return found[0]


class Job:
    """One job's steps run with bash in `checkout`, as Actions would. -> self.steps: [(name, rc, output)]."""

    def __init__(self, wf, job_name, checkout, env, only=None):
        job = wf["jobs"][job_name]
        self.checkout, self.steps = checkout, []
        runner = os.path.join(checkout, ".runner")
        os.makedirs(runner, exist_ok=True)
        self.summary_path = os.path.join(runner, "step_summary.md")
        open(self.summary_path, "w").close()  # each job its own summary
        stubs = os.path.join(runner, "bin")  # scripts/setup.sh may look, not install
        os.makedirs(stubs, exist_ok=True)
        for tool in ("apt-get", "sudo"):
            with open(os.path.join(stubs, tool), "w") as f:
                f.write(f'#!/bin/sh\necho "ci_recipe_test: setup.sh wants {tool} $*: run scripts/setup.sh first" >&2\nexit 1\n')
            os.chmod(os.path.join(stubs, tool), 0o755)
        self.env = dict(os.environ, PATH=stubs + os.pathsep + os.environ["PATH"], CI="true", GITHUB_ACTIONS="true",
                        GITHUB_WORKSPACE=checkout, RUNNER_TEMP=runner, GITHUB_STEP_SUMMARY=self.summary_path)
        self.env.update({k: str(v) for k, v in (wf.get("env") or {}).items()})
        self.env.update({k: str(v) for k, v in (job.get("env") or {}).items()})
        self.env.update(env)
        shell = ((job.get("defaults") or wf.get("defaults") or {}).get("run") or {}).get("shell")
        assert shell == "bash", f"{job_name}: run steps in bash (defaults.run.shell), not {shell}"
        for step in job["steps"]:
            if "uses" in step or (only and only not in step.get("name", "")):
                continue
            env_file = os.path.join(runner, "github_env")
            open(env_file, "w").close()
            step_env = dict(self.env, GITHUB_ENV=env_file, **{k: str(v) for k, v in (step.get("env") or {}).items()})
            r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=checkout,
                               env=step_env, capture_output=True, text=True, timeout=240)
            self.steps.append((step.get("name", step["run"][:40]), r.returncode, r.stdout + r.stderr))
            with open(env_file) as f:  # KEY=VALUE lines: the environment of the steps after this one
                self.env.update(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
            if r.returncode != 0:
                break  # as Actions: the steps after a failed one don't run

    def summary(self):
        with open(self.summary_path) as f:
            return f.read()

    def log(self):
        return "\n".join(f"--- {name}: exit {rc}\n{out}" for name, rc, out in self.steps) + "\n--- summary:\n" + self.summary()


def make_checkout(into):
    """A checkout to run the steps in: the repository's files linked in, its own results/ and no build/."""
    for name in os.listdir(ROOT):
        if name not in (".git", "build", "results", "mlpbench-out") and not name.startswith("."):
            os.symlink(os.path.join(ROOT, name), os.path.join(into, name))
    os.makedirs(os.path.join(into, "results"))
    shutil.copy(os.path.join(ROOT, "results", "reference.json"), os.path.join(into, "results"))
    return into


def scaled(doc, k):
    """The document with every time multiplied by k (a baseline k times as fast or slow as the run)."""
    keys = ("median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "floor_ms", "device_ms", "h2d_ms", "d2h_ms")
    for dev, cells in doc["cells"].items():
        for b, cell in cells.items():
            for c in [cell] + cell.get("backends", []):
                c.update({key: c[key] * k for key in keys if key in c})
            for key in ("samples_ms", "round_medians_ms"):
                if key in cell:
                    cell[key] = [v * k for v in cell[key]]
            doc["inference_times_ms"][dev][b] = cell["median_ms"]
    return doc


def has_markdown_table(text):
    lines = [line.strip() for line in text.splitlines()]
    return any(a.startswith("|") and re.fullmatch(r"\|( *:?-+:? *\|)+", b) for a, b in zip(lines, lines[1:]))


class CpuRecipe(unittest.TestCase):
    wf = workflow("mlpbench-cpu.yml")

    def test_workflow_shape(self):
        self.assertIn("pull_request", self.wf["on"])
        job = self.wf["jobs"]["cpu"]
        self.assertEqual(job["runs-on"], "ubuntu-24.04")
        uses = [s["uses"].split("@")[0] for s in job["steps"] if "uses" in s]
        self.assertEqual(uses, ["actions/checkout", "actions/cache/restore", "actions/upload-artifact", "actions/cache/save"])
        self.assertEqual(job["steps"][0]["uses"].split("@")[0], "actions/checkout")
        runs = [s["run"] for s in job["steps"] if "run" in s]
        self.assertIn("scripts/setup.sh", runs[0])
        self.assertIn("cmake --build --preset cpu-only", runs[1])
        self.assertRegex(runs[2], r'"\$MLPBENCH" run --quick .*--out "\$MLPBENCH_NEW"')
        self.assertIn("schema/validate.py", runs[3])
        compare = step_named(job, "Compare")["run"]
        self.assertRegex(compare, r'"\$MLPBENCH" compare --baseline "\$MLPBENCH_BASELINES/\*\.json" "\$MLPBENCH_NEW" --threshold "\$MLPBENCH_THRESHOLD" --format md')
        self.assertIn('>> "$GITHUB_STEP_SUMMARY"', compare)
        self.assertEqual(step_named(job, "Upload")["with"]["path"], "${{ env.MLPBENCH_NEW }}")
        # The baseline set: restored on every run, kept and saved on pushes to main only, under one key.
        restore, save = step_named(job, "Restore the baseline runs"), step_named(job, "Save the baseline runs")
        self.assertEqual(restore["with"]["path"], "${{ env.MLPBENCH_BASELINES }}")
        self.assertEqual(save["with"]["path"], "${{ env.MLPBENCH_BASELINES }}")
        self.assertEqual(restore["with"]["key"], save["with"]["key"])
        self.assertTrue(restore["with"]["key"].startswith(restore["with"]["restore-keys"]))
        self.assertIn("github.event_name == 'push' && github.ref == 'refs/heads/main'", save["if"])
        self.assertIn("!cancelled()", step_named(job, "Keep this run")["if"], "a run on main that regressed still joins the set")
        names = [s.get("name", s.get("uses", "")) for s in job["steps"]]
        self.assertLess(names.index(restore["name"]), names.index(step_named(job, "Compare")["name"]))
        self.assertLess(names.index(step_named(job, "Keep this run")["name"]), names.index(save["name"]))
        for s in job["steps"]:
            self.assertNotIn("${{", s.get("run", ""), "run steps use env vars, not expressions (the test runs them with bash)")

    def test_steps_run_in_order(self):
        with tempfile.TemporaryDirectory(prefix="ci_recipe_test.") as d:
            checkout = make_checkout(d)
            env = {"MLPBENCH": mlpbench(), "MLPBENCH_RUN_ARGS": SMALL_RUN, "MLPBENCH_KEEP": "2", "GITHUB_EVENT_NAME": "pull_request",
                   "GITHUB_REF": "refs/pull/7/merge"}
            baselines = os.path.join(checkout, self.wf["jobs"]["cpu"]["env"]["MLPBENCH_BASELINES"])
            new = os.path.join(checkout, self.wf["jobs"]["cpu"]["env"]["MLPBENCH_NEW"])

            # 1. A pull request, no baseline runs yet: every step passes, the summary says so and holds this run's
            # table, and the run joins no set.
            job = Job(self.wf, "cpu", checkout, env)
            self.assertEqual([rc for _, rc, _ in job.steps], [0] * 6, job.log())
            self.assertIn("Using " + mlpbench(), job.steps[1][2])  # the build step honours MLPBENCH
            self.assertIn("valid mlpbench/1", job.steps[3][2])
            self.assertTrue(os.path.isfile(new), "the upload step's path")
            self.assertIn("no baseline yet", job.summary())
            self.assertTrue(has_markdown_table(job.summary()), job.summary())
            self.assertIn("::notice::", job.steps[4][2])
            self.assertIn("joins no baseline set", job.steps[5][2])
            self.assertFalse(os.path.exists(baselines))
            with open(new) as f:
                first = json.load(f)
            self.assertEqual(first["model"]["layers"], [16, 8])
            self.assertEqual(first["sources"]["CPU"], "measured")

            # 2. Three pushes to main: each joins the set, which keeps the newest MLPBENCH_KEEP (2); the second is
            # compared with the first alone (as BASE), the third with the two before.
            for k in range(3):
                push = dict(env, GITHUB_EVENT_NAME="push", GITHUB_REF="refs/heads/main", GITHUB_SHA=f"sha{k}")
                if k > 0:
                    shutil.rmtree(os.path.dirname(new))  # a fresh checkout each time, as Actions gives
                job = Job(self.wf, "cpu", checkout, push, only="Keep" if k == 0 else None)
                self.assertTrue(all(rc == 0 for _, rc, _ in job.steps[:-1]) and job.steps[-1][1] in (0, 1), job.log())
                if k > 0:
                    self.assertIn(f"this run against {k} run(s) on main", job.summary())
                if job.steps[-1][1] == 1:  # identical runs may still differ on a shared machine; Actions keeps it (!cancelled())
                    job = Job(self.wf, "cpu", checkout, push, only="Keep")
            kept = sorted(os.listdir(baselines))
            self.assertEqual(len(kept), 2, kept)
            self.assertTrue(kept[0].endswith("-sha1.json") and kept[1].endswith("-sha2.json"), kept)
            self.assertIn("holds 2 run(s)", job.steps[-1][2])

            # 3. Three baseline runs three times as fast: the job fails at the comparison (compare exits 1) against
            # the history, with the Markdown comparison in the summary.
            shutil.rmtree(baselines)
            os.makedirs(baselines)
            for k, f in enumerate((1 / 3, 1 / 3.1, 1 / 2.9)):
                with open(os.path.join(baselines, f"run{k}.json"), "w") as out:
                    json.dump(scaled(json.loads(json.dumps(first)), f), out)
            shutil.rmtree(os.path.dirname(new))
            job = Job(self.wf, "cpu", checkout, env)
            self.assertEqual([rc for _, rc, _ in job.steps], [0, 0, 0, 0, 1], job.log())
            self.assertIn("::error::mlpbench: a cell is slower than the 3 baseline run(s)", job.steps[4][2])
            self.assertIn("this run against 3 run(s) on main", job.summary())
            self.assertIn("against 3 baseline runs", job.summary())
            self.assertTrue(has_markdown_table(job.summary()), job.summary())
            self.assertIn("slower", job.summary())

            # 4. Baseline runs three times as slow: the comparison passes (only that step, on the run of 3.).
            for k, f in enumerate((3, 3.1, 2.9)):
                with open(os.path.join(baselines, f"run{k}.json"), "w") as out:
                    json.dump(scaled(json.loads(json.dumps(first)), f), out)
            job = Job(self.wf, "cpu", checkout, env, only="Compare")
            self.assertEqual([rc for _, rc, _ in job.steps], [0], job.log())
            self.assertIn("no cell slower than the 3 baseline run(s)", job.steps[0][2])
            self.assertTrue(has_markdown_table(job.summary()), job.summary())

            # 5. A baseline mlpbench can't read: the comparison fails with compare's exit code, not as a regression.
            with open(os.path.join(baselines, "run0.json"), "w") as f:
                f.write("{}")
            job = Job(self.wf, "cpu", checkout, env, only="Compare")
            self.assertEqual([rc for _, rc, _ in job.steps], [2], job.log())
            self.assertIn("could not compare (exit 2)", job.steps[0][2])


class GpuRecipe(unittest.TestCase):
    wf = workflow("mlpbench-gpu.yml")

    def test_workflow_shape(self):
        self.assertNotIn("pull_request", self.wf["on"])  # a self-hosted runner must not run forks' code
        self.assertNotIn("pull_request_target", self.wf["on"])
        job = self.wf["jobs"]["gpu"]
        self.assertEqual(job["runs-on"], ["self-hosted", "gpu"])
        self.assertEqual([s["uses"].split("@")[0] for s in job["steps"] if "uses" in s], ["actions/checkout", "actions/upload-artifact"])
        self.assertIn("scripts/setup.sh", step_named(job, "Install")["run"])
        self.assertIn("-DMLPBENCH_CUDA=ON", step_named(job, "Build")["run"])
        run = step_named(job, "Run")["run"]
        self.assertRegex(run, r'"\$MLPBENCH" run \$MLPBENCH_RUN_ARGS --batch-size "\$MLPBENCH_BATCH" --out "\$MLPBENCH_OUT"')
        self.assertNotIn("--quick", run + job["env"]["MLPBENCH_RUN_ARGS"])  # a full run
        self.assertTrue(job["env"]["MLPBENCH_OUT"].endswith("/"))  # a folder: the git layout
        self.assertEqual(step_named(job, "Upload")["with"]["path"], "${{ env.MLPBENCH_OUT }}")
        names = [s.get("name", "") for s in job["steps"]]
        self.assertLess(names.index("Check that the GPU column was measured"), names.index("Upload the results"))
        for s in job["steps"]:
            self.assertNotIn("${{", s.get("run", ""))

    def test_steps_run_in_order(self):
        """Without a GPU the job stops at the GPU check, saying why; with one (a CUDA build on a GPU machine) it passes."""
        with tempfile.TemporaryDirectory(prefix="ci_recipe_test.") as d:
            checkout = make_checkout(d)
            job = Job(self.wf, "gpu", checkout, {"MLPBENCH": mlpbench(), "MLPBENCH_RUN_ARGS": "--quick " + SMALL_RUN})
            names = [name for name, _, _ in job.steps]
            self.assertEqual(names[:3], ["Install packages (scripts/setup.sh)", "Build mlpbench with the GPU backends",
                                         "Run mlpbench (full)"], job.log())
            self.assertEqual([rc for _, rc, _ in job.steps][:5], [0] * 5, job.log())
            results = job.env["MLPBENCH_RESULTS"]  # set by the run step through GITHUB_ENV
            self.assertRegex(results, r"^mlpbench-out/[^/]+/\d{8}T\d{6}Z-[0-9A-Za-z._-]+\.json$")
            self.assertTrue(os.path.isfile(os.path.join(checkout, results)))
            self.assertTrue(has_markdown_table(job.summary()), job.summary())
            with open(os.path.join(checkout, results)) as f:
                measured = json.load(f)["sources"]["GPU"] == "measured"
            if measured:
                self.assertEqual([rc for _, rc, _ in job.steps], [0] * 6, job.log())
            else:
                self.assertEqual(job.steps[-1][:2], ("Check that the GPU column was measured", 1), job.log())
                self.assertIn("::error::mlpbench: the GPU column was not measured (none): ", job.steps[-1][2])


if __name__ == "__main__":
    unittest.main(verbosity=2)
