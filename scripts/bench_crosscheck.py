#!/usr/bin/env python3
"""bench_crosscheck: `mlpbench run`'s results file beside bench/'s Google Benchmark JSON, like with like.

Rows: every hot measured entry of the run (each cell's "backends" array, or the cell itself when it has one) beside
bench/'s BM_forward/<backend>/<batch>[/cpu_threads:<n>], matched by backend, batch size AND thread count (the
run's config "threads=<n>,...", bench's name part cpu_threads:<n>; GPU backends have neither). Cold entries
(bench's .../cold, a run's cold cells) are left out.

The values, n independent ones per side: the run's round_medians_ms (the median of each interleaved round's
samples) and bench's repetitions, run with random interleaving (--benchmark_enable_random_interleaving) and
as many repetitions as the run's rounds: per repetition its counter median_us (the median of its samples, as a
round median is; bench/'s real_time, their mean, only where a file lacks median_us).

The interval, one function (interval) for both sides: the median of the n values and a distribution-free
confidence interval for the median from order statistics, [x(k), x(n+1-k)] of the sorted values with the
largest k whose coverage 1 - 2 P(Binomial(n, 1/2) <= k - 1) is at least 95% (the sign test's interval; Conover,
Practical Nonparametric Statistics, 3.2). It assumes only that the values are independent draws from one
distribution, which rounds interleaved with the other cells are when the machine holds its speed; no normality,
and an outlier round (a stalled slice) moves it by one rank at most. Fewer than 6 values can't reach 95%: then
the interval is [min, max] and the row says its coverage (n = 5, a --quick run: 93.8%); 6 rounds (the default) give
[min, max] at 96.9%, 9 give [x(2), x(8)] at 96.1%.

A row agrees where the two intervals meet and is a MISMATCH where they don't: the machine changed speed between
the two (normal on a shared VM: every cell's cv says how busy it was), or the two time differently. A mismatch is
reported, never a failure: tests never assert timings.

    scripts/bench_crosscheck.py RUN.json BENCH.json   rows and a summary; exit 0, mismatches or not; 2 on bad input
                                                      (unreadable, not JSON, or no row in common)
    scripts/bench_crosscheck.py --plan RUN.json       KEY=VALUE lines for scripts/crosscheck.sh: how to run bench/
                                                      as the run was made (repetitions, min_time_s, threads, layers,
                                                      filter)
"""
import json, math, re, statistics, sys  # noqa: E401

COVERAGE = 0.95
PLANNED_ROUNDS = {False: 6, True: 5}  # measure_budget() in src/mlpbench/runner.cpp: rounds, and with --quick


class BadInput(Exception):
    pass


def quantile(s, p):  # of sorted values; numpy's default (type 7), as measure.cpp
    pos = p * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def interval(values, coverage=COVERAGE):
    """(median, low, high, coverage) of independent values: the median and the order-statistic interval
    [x(k), x(n+1-k)] with the largest k whose coverage 1 - 2 P(Bin(n, 1/2) <= k-1) >= `coverage`; k = 1
    ([min, max]) when even that falls short, with its own (lower) coverage."""
    s = sorted(values)
    n = len(s)
    if n == 0:
        raise ValueError("interval of no values")

    def cover(k):  # 1 - 2 P(Bin(n, 1/2) <= k - 1), exact for the small n of rounds and repetitions
        return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n

    k = 1
    while k + 1 <= (n + 1) // 2 and cover(k + 1) >= coverage:
        k += 1
    return quantile(s, 0.5), s[k - 1], s[n - k], cover(k)


def threads_of(config):
    m = re.search(r"(?:^|,)threads=(\d+)(?:,|$)", config or "")
    return int(m.group(1)) if m else None


def run_entries(doc):
    """{(backend, batch, threads): [round medians in us]} of the run's hot measured entries (threads: None for
    a GPU backend)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), dict):
        raise BadInput("the run file has no 'cells': not an mlpbench results file")
    out = {}
    for dev in ("CPU", "GPU"):
        for batch, cell in doc["cells"].get(dev, {}).items():
            if cell.get("source") != "measured" or cell.get("cache", "hot") != "hot":  # bench's compared entries are hot
                continue
            for r in cell.get("backends") or [cell]:
                rounds = r.get("round_medians_ms")
                if not rounds:
                    continue  # a file from before round_medians_ms: nothing to build the interval from
                key = (r["backend"], int(batch), threads_of(r.get("config")) if dev == "CPU" else None)
                out[key] = [v * 1e3 for v in rounds]
    return out


def bench_entries(doc):
    """{(backend, batch, threads): [per-repetition medians in us]} of bench's hot BM_forward entries."""
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise BadInput("the bench file has no 'benchmarks': not Google Benchmark's JSON (--benchmark_out_format=json)")
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
    reps = {}
    for b in doc["benchmarks"]:
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        parts = b.get("run_name", b["name"]).split("/")
        if len(parts) < 3 or parts[0] != "BM_forward" or "cold" in parts[3:]:  # .../cold: no twin among hot cells
            continue
        threads = None
        for p in parts[3:]:
            if p.startswith("cpu_threads:"):
                threads = int(p.split(":", 1)[1])
        key = (parts[1], int(parts[2]), threads)
        value = b["median_us"] if "median_us" in b else b["real_time"] * scale[b.get("time_unit", "ns")]
        reps.setdefault(key, []).append(value)
    return reps


def plan(doc):
    """How to run bench/ as the run was made: {repetitions, min_time_s, threads, layers, filter}."""
    entries = run_entries(doc)
    if not entries:
        raise BadInput("the run file has no measured hot entry with round_medians_ms")
    quick = bool(doc.get("run", {}).get("quick", False))
    # A repetition lasts as a round's slice did: the median over the run's cells of their sampling time per round.
    per_round = []
    for dev in ("CPU", "GPU"):
        for cell in doc["cells"].get(dev, {}).values():
            if cell.get("source") == "measured" and cell.get("samples_ms") and cell.get("round_medians_ms"):
                per_round.append(sum(cell["samples_ms"]) * cell.get("passes_per_sample", 1) / 1e3 / len(cell["round_medians_ms"]))
    min_time = min(0.5, max(0.01, statistics.median(per_round))) if per_round else 0.08
    backends = sorted({k[0] for k in entries})
    esc = [re.sub(r"([.+*?()\[\]{}|^$\\])", r"\\\1", b) for b in backends]  # POSIX ERE (Google Benchmark's filter)
    return {
        "repetitions": PLANNED_ROUNDS[quick],
        "min_time_s": f"{min_time:.3f}",
        "threads": ",".join(str(t) for t in sorted({k[2] for k in entries if k[2] is not None})),
        "layers": ",".join(str(w) for w in doc.get("model", {}).get("layers", [])),
        "filter": "^BM_forward/(" + "|".join(esc) + ")/[0-9]+(/cpu_threads:[0-9]+)?/manual_time$",
    }


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise BadInput(f"{path}: {e}")


def compare(run, bench):
    """Prints the rows and the summary; returns (rows, mismatches)."""
    r, b = run_entries(run), bench_entries(bench)
    rows = sorted(set(r) & set(b), key=lambda k: (k[1], k[0], k[2] or 0))
    if not rows:
        raise BadInput(f"no backend, batch size and thread count in both files (run: {len(r)} entries, bench: {len(b)})")
    print("Medians in us with their distribution-free 95% intervals (n: the run's rounds, bench's repetitions):")
    print(f"{'backend':<26} {'batch':>5} {'thr':>3}  {'run median [interval]':>30} {'n':>3}  {'bench median [interval]':>30} {'n':>3}  verdict")
    bad, low = 0, False
    for key in rows:
        (rm, rlo, rhi, rc), (bm, blo, bhi, bc) = interval(r[key]), interval(b[key])
        meet = rlo <= bhi and blo <= rhi
        bad += not meet
        low = low or min(rc, bc) < COVERAGE
        cov = "" if min(rc, bc) >= COVERAGE else f" (coverage {min(rc, bc):.0%})"
        print(f"{key[0]:<26} {key[1]:>5} {key[2] if key[2] is not None else '-':>3}  "
              f"{f'{rm:.4g} [{rlo:.4g}, {rhi:.4g}]':>30} {len(r[key]):>3}  {f'{bm:.4g} [{blo:.4g}, {bhi:.4g}]':>30} {len(b[key]):>3}  "
              f"{'agree' if meet else 'MISMATCH'}{cov}")
    unmatched = len(set(r) - set(b))
    print(f"{len(rows) - bad} of {len(rows)} rows agree, {bad} MISMATCH" + (f"; {unmatched} run entries have no bench twin" if unmatched else ""))
    if low:
        print("(coverage X%): a side has fewer than 6 values (a --quick run has 5 rounds; a cell of slow passes stopped by its"
              " time cap may have fewer), and [min, max] of n values covers only 1 - 2^(1-n) of the time: weaker evidence either way.")
    if bad:
        print("MISMATCH: the two intervals do not meet. The machine changed speed between the run and bench/ (on a shared VM"
              " that is normal: see each cell's cv), or the two time differently; rerun on a quiet machine to tell. Not a"
              " failure: tests never assert timings.")
    return len(rows), bad


def main(argv):
    try:
        if len(argv) == 2 and argv[0] == "--plan":
            for k, v in plan(load(argv[1])).items():
                print(f"{k}={v}")
            return 0
        if len(argv) != 2 or argv[0].startswith("-"):
            print(__doc__.strip().split("\n\n")[-1].strip(), file=sys.stderr)
            return 2
        compare(load(argv[0]), load(argv[1]))
        return 0
    except (BadInput, KeyError, TypeError, ValueError) as e:
        print(f"bench_crosscheck: {type(e).__name__ + ': ' if not isinstance(e, BadInput) else ''}{e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
