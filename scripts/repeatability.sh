#!/usr/bin/env bash
# Shows how far two runs in a row on the same idle machine agree: runs `mlpbench run` twice per pair on a
# batch sweep, compares each pair with `mlpbench compare`, and counts the measured cells whose verdict is
# "same". Goal: at least 95% of cells. Usage: scripts/repeatability.sh [pairs, default 3] [run options...]
# Results and comparisons go to a temporary folder that is printed; the exit code is 1 below 95%.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-3}
shift || true
exe=build/default/mlpbench
[[ -x $exe ]] || { echo "repeatability: build first (scripts/bench.sh or cmake --build --preset default)" >&2; exit 2; }
out=$(mktemp -d /tmp/mlpbench-repeat.XXXXXX)
same=0
total=0
for ((p = 1; p <= pairs; ++p)); do
  for side in a b; do
    $exe run --device cpu --batch-sizes 1,2,4,8,16,32,64,128 --out "$out/$p$side.json" "$@" >/dev/null
  done
  # compare exits 1 on a regression; here we count verdicts, so its exit code is not the verdict.
  $exe compare "$out/${p}a.json" "$out/${p}b.json" --threshold 5 >"$out/$p.txt" || true
  # Measured CPU cells: rows "CPU <batch> ...". Verdict "same" anywhere on the row.
  s=$(grep -cE '^ *CPU +[0-9]+ .* same' "$out/$p.txt" || true)
  t=$(grep -cE '^ *CPU +[0-9]+ ' "$out/$p.txt" || true)
  echo "pair $p: $s of $t measured cells the same (see $out/$p.txt)"
  same=$((same + s))
  total=$((total + t))
done
pct=$((total > 0 ? 100 * same / total : 0))
echo "repeatability: $same of $total measured cells the same ($pct%); goal >= 95%"
[[ $pct -ge 95 ]]
