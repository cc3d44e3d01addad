#!/usr/bin/env bash
# How far runs on this machine can be trusted, in two checks (`mlpbench run --device cpu` on the default model,
# compared with `mlpbench compare`, which corrects CPU cells for the drift probe):
#   same:  PAIRS pairs of back-to-back runs of the same model; goal: >= 95% of the measured cells "same";
#   power: PAIRS pairs of the default model against one with ~10% more FLOPs in its widest layer (784-563-512-10);
#          goal: the bigger model called "slower" in >= 2 of the 3 cells, in >= 4 of 5 pairs (80%).
# Usage: scripts/repeatability.sh [PAIRS, default 5] [more run options...]. Results and comparisons go to a
# temporary folder that is printed; the exit code is 1 when a goal is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-5}
shift || true
exe=build/default/mlpbench
[[ -x $exe ]] || { echo "repeatability: build first (scripts/bench.sh or cmake --build --preset default)" >&2; exit 2; }
out=$(mktemp -d /tmp/mlpbench-repeat.XXXXXX)
echo "repeatability: results and comparisons in $out"

# verdicts FILE: the verdicts of the measured CPU rows of a comparison, one per line.
verdicts() { grep -E '^CPU +[0-9]+ ' "$1" | grep -oE '(same|faster|slower)' || true; }

same=0 total=0
for ((p = 1; p <= pairs; ++p)); do
  for side in a b; do $exe run --device cpu --out "$out/same$p$side.json" "$@" >/dev/null 2>&1; done
  # compare exits 1 on a regression; here we count verdicts, so its exit code is not the verdict.
  $exe compare "$out/same${p}a.json" "$out/same${p}b.json" >"$out/same$p.txt" || true
  s=$(verdicts "$out/same$p.txt" | grep -c same || true)
  t=$(verdicts "$out/same$p.txt" | wc -l)
  echo "same  pair $p: $s of $t cells the same"
  same=$((same + s)) total=$((total + t))
done
same_pct=$((total > 0 ? 100 * same / total : 0))

detected=0
for ((p = 1; p <= pairs; ++p)); do
  $exe run --device cpu --out "$out/power${p}a.json" "$@" >/dev/null 2>&1
  $exe run --device cpu --layers 784,563,512,10 --out "$out/power${p}b.json" "$@" >/dev/null 2>&1
  $exe compare "$out/power${p}a.json" "$out/power${p}b.json" --allow-different-models >"$out/power$p.txt" || true
  s=$(verdicts "$out/power$p.txt" | grep -c slower || true)
  t=$(verdicts "$out/power$p.txt" | wc -l)
  echo "power pair $p: the bigger model slower in $s of $t cells"
  ((2 * s >= t + 1 && s >= 2)) && detected=$((detected + 1))
done

echo "same:  $same of $total cells the same ($same_pct%); goal >= 95%"
echo "power: the +10% model called slower (in >= 2 of 3 cells) in $detected of $pairs pairs; goal >= 80% of pairs"
[[ $same_pct -ge 95 && $((5 * detected)) -ge $((4 * pairs)) ]]
