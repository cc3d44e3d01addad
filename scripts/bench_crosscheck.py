#!/usr/bin/env python3
"""bench_crosscheck: `mlpbench run`'s results file and Google Benchmark's JSON (bench/ BM_forward/<backend>/<batch>)
side by side, per backend and batch size both hold: the medians in microseconds, each with its 95% interval (the
run's: the stored ci_rel; bench's: 1.57 IQR / sqrt(n) over the repetitions, McGill et al., as the run's), and
MISMATCH where the two intervals don't meet.

    scripts/bench_crosscheck.py RUN.json BENCH.json     (exit 0; 1 when a row mismatches; 2 on bad input)
"""
import json, sys  # noqa: E401


def quantile(s, p):  # of sorted values; numpy's default (type 7), as measure.cpp
    pos = p * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def bench_medians(doc):
    """{(backend, batch): (median_us, half_width_us)} from the per-repetition entries."""
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
    reps = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type") != "iteration":
            continue
        parts = b.get("run_name", b["name"]).split("/")
        if len(parts) < 3 or parts[0] != "BM_forward":
            continue
        if len(parts) > 3 and parts[3] == "cold":  # BM_forward/<backend>/<batch>/cold: no twin among the hot cells taken below
            continue
        key = (parts[1], int(parts[2]))
        reps.setdefault(key, []).append(b["real_time"] * scale[b.get("time_unit", "ns")])
    out = {}
    for key, v in reps.items():
        s = sorted(v)
        out[key] = (quantile(s, 0.5), 1.57 * (quantile(s, 0.75) - quantile(s, 0.25)) / len(s) ** 0.5)
    return out


def run_medians(doc):
    out = {}
    for dev in ("CPU", "GPU"):
        for batch, cell in doc.get("cells", {}).get(dev, {}).items():
            if cell.get("source") != "measured" or cell.get("cache", "hot") != "hot":  # the bench's plain entries are hot
                continue
            runs = cell.get("backends") or [cell]
            for r in runs:
                med = r["median_ms"] * 1e3
                out[(r["backend"], int(batch))] = (med, r.get("ci_rel", cell.get("ci_rel", 0)) * med)
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().split("\n\n")[-1].strip(), file=sys.stderr)
        return 2
    try:
        run, bench = (json.load(open(p)) for p in argv)
    except (OSError, ValueError) as e:
        print(f"bench_crosscheck: {e}", file=sys.stderr)
        return 2
    r, b = run_medians(run), bench_medians(bench)
    rows = sorted(set(r) & set(b), key=lambda k: (k[1], k[0]))
    if not rows:
        print("bench_crosscheck: no backend and batch size in both files", file=sys.stderr)
        return 2
    print(f"{'backend':<28} {'batch':>5} {'run us':>18} {'bench us':>18}  verdict")
    bad = 0
    for key in rows:
        (rm, rh), (bm, bh) = r[key], b[key]
        meet = abs(rm - bm) <= rh + bh
        bad += not meet
        print(f"{key[0]:<28} {key[1]:>5} {rm:>10.4g} +-{rh:<6.2g} {bm:>10.4g} +-{bh:<6.2g}  {'agree' if meet else 'MISMATCH'}")
    print(f"{bad} mismatch(es) of {len(rows)}: the medians' 95% intervals {'all meet' if not bad else 'do not meet where marked'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
