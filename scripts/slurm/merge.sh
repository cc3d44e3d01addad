#!/usr/bin/env bash
# The fleet's final step (submitted by submit.sh with --dependency=afterok on the array): puts every task's
# results file side by side, task 0 as the base, one column per file: `mlpbench compare ... --format md` into
# OUT/fleet.md, and the text view into this job's log. With one task: `mlpbench report --format md`.
# By hand (e.g. after a failed task, over what is there): scripts/slurm/merge.sh OUT
# Exit: 0 when the table is written, whatever compare's verdict (its exit 1, a significant slowdown against the
# base, is a finding about the fleet, not a failure of this step); 2 when compare refuses the files; 3 when a
# task's file is missing (the table of the others is still written).
#SBATCH --job-name=mlpbench-fleet-merge
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=00:05:00
set -euo pipefail

out=${1:?usage: merge.sh OUT}
mlpbench=${MLPBENCH:-mlpbench}
[[ -f $out/tasks ]] || { echo "merge.sh: no $out/tasks" >&2; exit 2; }
cd "$out"

# One file per task, in task order; a task may have run on any node, hence the glob on the node part.
files=()
missing=()
index=0
while read -r label _; do
  prefix=$(printf '%03d' "$index")-$label-
  found=("$prefix"*.json)
  if [[ ! -e ${found[0]} ]]; then
    missing+=("task $index ($label)")
  else
    newest=${found[0]}  # more than one: the task was requeued onto another node; its last run counts
    for f in "${found[@]}"; do [[ $f -nt $newest ]] && newest=$f; done
    ((${#found[@]} == 1)) || echo "merge.sh: task $index wrote ${#found[@]} files (${found[*]}); using the newest, $newest" >&2
    files+=("$newest")
  fi
  index=$((index + 1))
done <tasks
((${#files[@]} > 0)) || { echo "merge.sh: no results file in $out (${missing[*]})" >&2; exit 3; }

tmp=fleet.md.tmp.$$
trap 'rm -f "$tmp"' EXIT
rc=0
if ((${#files[@]} == 1)); then
  "$mlpbench" report --from "${files[0]}" --format md >"$tmp" || rc=$?
else
  "$mlpbench" compare "${files[@]}" --format md >"$tmp" || rc=$?
fi
if ((rc > 1)); then
  echo "merge.sh: mlpbench refused the files (exit $rc): ${files[*]}" >&2
  exit "$rc"
fi
mv -f "$tmp" fleet.md
echo "fleet.md: ${#files[@]} file(s) side by side, base ${files[0]}"
if ((${#files[@]} > 1)); then
  "$mlpbench" compare "${files[@]}" || true
  ((rc == 0)) || echo "Verdict: a cell significantly slower than in the base ${files[0]} (compare's exit 1; the table is written)"
fi
if ((${#missing[@]} > 0)); then
  echo "merge.sh: no results file for ${missing[*]}; fleet.md has the others" >&2
  exit 3
fi
