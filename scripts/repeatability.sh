#!/usr/bin/env bash
# How far `mlpbench compare` can be trusted on this machine: how often it cries wolf over an unchanged program, and
# how often it catches a real slowdown (`mlpbench run --device cpu` of the default model, 784-512-512-10).
#   same:    PAIRS pairs of back-to-back identical runs, each pair compared: the false-alarm rate (pairs where
#            compare exits 1) and the share of cells "same" (goal: no more than 1 pair in 20, >= 95% of cells);
#   power:   PAIRS pairs of the default model against a slower one (--power-layers, default 784-563-512-10: ~10%
#            more FLOPs), compared with --allow-different-models (so never an exit 1; its verdicts count): the catch
#            rate, pairs where the slower model is called "slower" in >= 2 cells (goal: every pair);
#   history: with --history N, N identical runs in a row, each compared with the one before (false alarms in a
#            row), then one more identical run compared against all N as a history (--baseline: should exit 0),
#            and a run of the slower model against them (should be called slower at the larger batch sizes).
# Usage: scripts/repeatability.sh [--quick] [--pairs N (5; 0: none)] [--history N (0)] [--power-layers L] [-- run options...]
# --quick runs and compares `run --quick` (the CI gate); the rest passes to every run (e.g. -- --batch-sizes
# 1,4,16,64,256). Results and comparisons go to a temporary folder that is printed; the exit code is 1 when a goal
# is missed. Timings are never asserted anywhere else: this is the one place that judges the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=5 history=0 quick=() power_layers=784,563,512,10
while (($#)); do
  case $1 in
    --quick) quick=(--quick); shift ;;
    --pairs) pairs=$2; shift 2 ;;
    --history) history=$2; shift 2 ;;
    --power-layers) power_layers=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "repeatability: unknown option '$1' (run options go after --; see --help)" >&2; exit 2 ;;
  esac
done
exe=build/default/mlpbench
[[ -x $exe ]] || { echo "repeatability: build first (scripts/bench.sh or cmake --build --preset default)" >&2; exit 2; }
out=$(mktemp -d /tmp/mlpbench-repeat.XXXXXX)
mode=full
((${#quick[@]})) && mode=quick
echo "repeatability ($mode runs): results and comparisons in $out"

run() { "$exe" run --device cpu "${quick[@]}" "$@" >/dev/null 2>&1; }
# compare_into TXT ARGS...: compare's output into TXT, its exit code on stdout (1 is a regression, not a failure here).
compare_into() {
  local txt=$1 rc=0
  shift
  "$exe" compare "$@" >"$txt" || rc=$?
  ((rc <= 1)) || { echo "repeatability: compare failed (exit $rc), see $txt" >&2; exit 3; }
  echo "$rc"
}
# verdicts TXT: the verdicts of the measured CPU rows of a comparison, one per line, as "BATCH VERDICT".
verdicts() { awk '$1 == "CPU" && $2 ~ /^[0-9]+$/ { for (i = 3; i <= NF; i++) if ($i ~ /^(same|faster|slower)/) { sub(/,$/, "", $i); print $2, $i; break } }' "$1"; }
count() { verdicts "$1" | awk -v v="$2" '$2 == v' | wc -l; }

status=0
same=0 total=0 alarms=0
for ((p = 1; p <= pairs; ++p)); do
  run "$@" --out "$out/same${p}a.json"
  run "$@" --out "$out/same${p}b.json"
  rc=$(compare_into "$out/same$p.txt" "$out/same${p}a.json" "$out/same${p}b.json")
  s=$(count "$out/same$p.txt" same) t=$(verdicts "$out/same$p.txt" | wc -l)
  echo "same    pair $p: $s of $t cells the same; compare exit $rc"
  same=$((same + s)) total=$((total + t)) alarms=$((alarms + (rc == 1)))
done
same_pct=$((total > 0 ? 100 * same / total : 0))
if ((pairs > 0)); then
  echo "same:    $same of $total cells the same ($same_pct%, goal >= 95%); false alarms (exit 1) in $alarms of $pairs pairs"
  ((same_pct >= 95 && 20 * alarms <= pairs)) || status=1
fi

caught=0
for ((p = 1; p <= pairs; ++p)); do
  run "$@" --out "$out/power${p}a.json"
  run "$@" --layers "$power_layers" --out "$out/power${p}b.json"
  compare_into "$out/power$p.txt" "$out/power${p}a.json" "$out/power${p}b.json" --allow-different-models >/dev/null
  s=$(count "$out/power$p.txt" slower) t=$(verdicts "$out/power$p.txt" | wc -l)
  echo "power   pair $p: $power_layers slower in $s of $t cells (at batch $(verdicts "$out/power$p.txt" | awk '$2 == "slower" { printf "%s%s", sep, $1; sep = "," }'))"
  ((s >= 2)) && caught=$((caught + 1))
done
if ((pairs > 0)); then
  echo "power:   $power_layers called slower (in >= 2 cells) in $caught of $pairs pairs (goal: all)"
  ((caught == pairs)) || status=1
fi

if ((history > 0)); then
  mkdir -p "$out/history"
  in_a_row=0
  for ((k = 1; k <= history; ++k)); do
    run "$@" --out "$out/history/$(printf %03d "$k").json"
    if ((k > 1)); then
      rc=$(compare_into "$out/row$k.txt" "$out/history/$(printf %03d $((k - 1))).json" "$out/history/$(printf %03d "$k").json")
      in_a_row=$((in_a_row + (rc == 1)))
    fi
  done
  echo "history: $history identical runs in a row, each compared with the one before: $in_a_row of $((history - 1)) exit 1 (goal <= 1 in 20)"
  ((20 * in_a_row <= history - 1 || in_a_row <= 1)) || status=1
  run "$@" --out "$out/next.json"
  rc=$(compare_into "$out/next.txt" --baseline "$out/history/*.json" "$out/next.json")
  echo "history: one more identical run against the $history: compare exit $rc (goal 0); $(count "$out/next.txt" same) of $(verdicts "$out/next.txt" | wc -l) cells the same"
  ((rc == 0)) || status=1
  run "$@" --layers "$power_layers" --out "$out/slower.json"
  compare_into "$out/slower.txt" --baseline "$out/history/*.json" "$out/slower.json" --allow-different-models >/dev/null
  echo "history: $power_layers against the $history: slower at batch $(verdicts "$out/slower.txt" | awk '$2 == "slower" { printf "%s%s", sep, $1; sep = "," }')" \
       "($(count "$out/slower.txt" slower) of $(verdicts "$out/slower.txt" | wc -l) cells)"
fi
exit $status
