#!/usr/bin/env bash
# One task of the fleet's job array (submitted by submit.sh): runs `mlpbench run` with the arguments of line
# SLURM_ARRAY_TASK_ID + 1 of OUT/tasks and writes OUT/NNN-<label>-<node>.json (NNN: the task, 000 first).
# By hand: scripts/slurm/task.sh OUT INDEX. The program is $MLPBENCH (submit.sh exports it), else mlpbench.
#SBATCH --job-name=mlpbench-fleet
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --exclusive
#SBATCH --time=00:30:00
set -euo pipefail

out=${1:?usage: task.sh OUT [INDEX]}
index=${2:-${SLURM_ARRAY_TASK_ID:?not an array task: pass the task index}}
mlpbench=${MLPBENCH:-mlpbench}
fail() { echo "task.sh (task $index on ${node:-?}): $*" >&2; exit 2; }

node=${SLURMD_NODENAME:-$(hostname -s)}
[[ $index =~ ^[0-9]+$ ]] || fail "task index '$index' is not a number"
[[ -f $out/tasks ]] || fail "no $out/tasks: is $out on a file system this node shares?"
line=$(sed -n "$((index + 1))p" "$out/tasks")
[[ -n $line ]] || fail "$out/tasks has no line $((index + 1))"
command -v "$mlpbench" >/dev/null || fail "no mlpbench at '$mlpbench' on this node"

read -r label args <<<"$line"
read -ra args <<<"$args"
file=$out/$(printf '%03d' "$index")-$label-$node.json
echo "task $index ($label) on $node: $mlpbench run ${args[*]} --out $file"
# --force: a requeued task replaces what it wrote before. The exit code is mlpbench's.
exec "$mlpbench" run "${args[@]}" --out "$file" --force
