#!/usr/bin/env bash
# Submits a fleet of `mlpbench run`s to Slurm: a job array with one task per line of the config (task.sh), then
# a merge job that runs once every task has succeeded (--dependency=afterok) and puts the results side by side
# with `mlpbench compare` (merge.sh: OUT/fleet.md).
#
# Usage: scripts/slurm/submit.sh [--config FILE] [--out DIR] [--mlpbench PATH] [--dry-run] [-- SBATCH_ARGS...]
#   --config FILE    the tasks, one a line: a label, then `mlpbench run` arguments (default: fleet.conf here)
#   --out DIR        the results folder, on a file system every node shares; created, and refused when it
#                    already holds a fleet (default: ./fleet-<UTC time>)
#   --mlpbench PATH  the program every node runs, at the same path on every node (default: mlpbench on PATH,
#                    else build/default/mlpbench of this checkout)
#   --dry-run        print the two sbatch commands instead of submitting
#   SBATCH_ARGS      passed to both sbatch calls, e.g. -p PARTITION -A ACCOUNT --constraint=zen4
#
# OUT gets: tasks (the config without comments; line i+1 is array task i), jobs (the two job ids), logs/ (one
# log per task, one for the merge), NNN-<label>-<node>.json (one per task) and fleet.md (the merged table).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "submit.sh: $*" >&2; exit 2; }

config=$here/fleet.conf
out=""
mlpbench=""
dry_run=0
while (($# > 0)); do
  case $1 in
    --config) config=${2:?--config needs a file}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --mlpbench) mlpbench=${2:?--mlpbench needs a path}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --) shift; break ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument '$1' (sbatch arguments go after --; see --help)" ;;
  esac
done
sbatch_args=("$@")

# The program: an absolute path, since the tasks run elsewhere.
if [[ -z $mlpbench ]]; then
  mlpbench=$(command -v mlpbench || true)
  [[ -n $mlpbench ]] || mlpbench=$here/../../build/default/mlpbench
fi
[[ -x $mlpbench ]] || die "no mlpbench at '$mlpbench' (build it, or pass --mlpbench PATH)"
mlpbench=$(cd "$(dirname "$mlpbench")" && pwd)/$(basename "$mlpbench")

# The tasks: the config's lines without comments and blank lines; each label once, in file-name characters.
[[ -f $config ]] || die "no config '$config'"
tasks=$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$config" | grep -v -e '^#' -e '^$' || true)
[[ -n $tasks ]] || die "$config lists no task"
n=0
declare -A seen=()
while read -r label _; do
  [[ $label =~ ^[A-Za-z0-9._-]+$ ]] || die "$config: label '$label' (task $n): use letters, digits, . _ -"
  [[ -z ${seen[$label]:-} ]] || die "$config: label '$label' twice"
  seen[$label]=1
  n=$((n + 1))
done <<<"$tasks"

# The results folder: new, or without an earlier fleet in it, so the merge sees only this fleet's results.
[[ -n $out ]] || out=$PWD/fleet-$(date -u +%Y%m%dT%H%M%SZ)
out=$(realpath -m -- "$out")
if [[ -e $out/tasks || -e $out/fleet.md ]] || compgen -G "$out/[0-9][0-9][0-9]-*.json" >/dev/null; then
  die "$out already holds a fleet: pass a new --out folder"
fi

array_cmd=(sbatch --parsable --array="0-$((n - 1))" --output="$out/logs/task-%A_%a.out"
  --export="ALL,MLPBENCH=$mlpbench" "${sbatch_args[@]}" "$here/task.sh" "$out")
merge_cmd=(sbatch --parsable --dependency=afterok:ARRAY_JOB --kill-on-invalid-dep=yes
  --output="$out/logs/merge-%j.out" --export="ALL,MLPBENCH=$mlpbench" "${sbatch_args[@]}" "$here/merge.sh" "$out")
if ((dry_run)); then
  echo "$n task(s):"
  while read -r line; do echo "  $line"; done <<<"$tasks"
  echo "${array_cmd[*]}"
  echo "${merge_cmd[*]}"
  exit 0
fi

command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node (or pass --dry-run)"
mkdir -p "$out/logs"
printf '%s\n' "$tasks" >"$out/tasks"
if ! array=$("${array_cmd[@]}"); then
  rm -f "$out/tasks"
  echo "submit.sh: sbatch refused the job array (above); nothing submitted" >&2
  exit 3
fi
array=${array%%;*}
merge_cmd=("${merge_cmd[@]/ARRAY_JOB/$array}")
if ! merge=$("${merge_cmd[@]}"); then
  echo "submit.sh: the merge job was not submitted; cancelling the array $array" >&2
  scancel "$array" || true
  exit 3
fi
merge=${merge%%;*}
echo "array=$array merge=$merge" >"$out/jobs"

echo "array job $array: $n task(s), each writes $out/NNN-<label>-<node>.json"
echo "merge job $merge: once every task succeeded, writes $out/fleet.md"
echo "watch: squeue -j $array,$merge    logs: $out/logs/"
