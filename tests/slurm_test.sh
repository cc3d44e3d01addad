#!/usr/bin/env bash
# ctest slurm_test: scripts/slurm/ on a real one-node Slurm started here. Starts munged, slurmctld and slurmd
# (Debian's munge, slurmctld, slurmd, slurm-client; as root, or through passwordless sudo) with a slurm.conf for
# this machine (its real CPU count and memory from `slurmd -C`), state, spool, logs and the munge socket in a
# fresh temporary folder and free ports, so nothing is shared with an earlier run or a real cluster; submits a
# 3-task array (thread counts 1, 2, 0; --quick --device cpu on a small model) and its merge step with
# scripts/slurm/submit.sh; waits for both (bounded); checks each task's results file and the merged table
# (fleet.md: one column per file). The daemons and any job left are stopped on every path (trap, and a
# watcher that outlives this script should ctest kill it).
# Usage: tests/slurm_test.sh MLPBENCH_EXE. Exit 0 pass; 77 skipped, saying why: Slurm or munge not installed,
# neither root nor passwordless sudo, or MLPBENCH_SKIP_SLURM_TEST set; 1 fail, with the daemons' and jobs' logs
# (also when everything is there but Slurm does not come up: CI must run it, not skip it).
set -euo pipefail

exe=${1:?usage: slurm_test.sh MLPBENCH_EXE}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deadline_s=${MLPBENCH_SLURM_TEST_DEADLINE_S:-150}  # the whole wait for the jobs; ctest's TIMEOUT is above it
start=$SECONDS
tmp=""

# A skip as GoogleTest words it ("...: Skipped", then the reason), which scripts/test.sh counts by reason.
skip() { printf 'tests/slurm_test.sh: Skipped\n%s\n' "$*"; exit 77; }
fail() { echo "FAILED: $*" >&2; show_logs; exit 1; }
log() { printf '[%3ds] %s\n' $((SECONDS - start)) "$*"; }

[[ -z ${MLPBENCH_SKIP_SLURM_TEST:-} ]] || skip "MLPBENCH_SKIP_SLURM_TEST is set"
[[ -x $exe ]] || fail "no mlpbench at '$exe'"
exe=$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")

# What it needs: the packages (scripts/setup.sh --test installs them) and root for slurmd, which runs jobs as users.
PATH=$PATH:/usr/sbin:/sbin
for tool in munged slurmctld slurmd sbatch squeue scontrol sinfo scancel python3; do
  command -v "$tool" >/dev/null ||
    skip "'$tool' not found: Slurm is not installed (scripts/setup.sh --test installs Debian's munge, slurmctld, slurmd, slurm-client)"
done
root=()
if (($(id -u) != 0)); then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    root=(sudo -n)
  else
    skip "slurmd must run as root to start jobs: run as root or with passwordless sudo"
  fi
fi
as_root() { "${root[@]}" "$@"; }

# Root's folder (munged refuses a socket or seed under a folder another user owns), readable by all; the jobs'
# user writes under $tmp/user: the fleet's config, its results, the machine cache.
tmp=$(as_root mktemp -d "${TMPDIR:-/tmp}/mlpbench-slurm.XXXXXX")
as_root chmod 0755 "$tmp"
as_root install -d -m 0755 -o "$(id -u)" -g "$(id -g)" "$tmp/user"
conf=$tmp/slurm.conf
daemons=()  # pids of the daemons started here (with sudo: sudo's, which passes signals on); started without
            # as_root, since a function run in the background is a subshell and $! would be the subshell's
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; }  # also for root's under sudo
# This Slurm's clients get SLURM_CONF=$conf, and so does each daemon; jobs inherit it from sbatch, slurmstepd
# from slurmd. This script does not export it, so every process that has it is this test's Slurm.
sl() { SLURM_CONF=$conf "$@"; }
our_pids() {
  as_root grep -lsxzF "SLURM_CONF=$conf" /proc/[0-9]*/environ | sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p'
}

stop_all() {
  [[ -d $tmp ]] || return 0
  trap - EXIT INT TERM
  [[ -f $tmp/slurmctld.pid ]] && { sl scancel --quiet --full --user="$(id -un)" >/dev/null 2>&1 || true; }
  local pid t pids
  for pid in "${daemons[@]}"; do as_root kill -TERM "$pid" 2>/dev/null || true; done
  for t in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(our_pids || true)
    [[ -z $pids ]] && break
    ((t < 10)) && sleep 0.5
  done
  pids=$(our_pids || true)
  # shellcheck disable=SC2086  # a list of pids
  [[ -z $pids ]] || as_root kill -KILL $pids 2>/dev/null || true
  wait "${daemons[@]}" 2>/dev/null || true  # reaped here (a no-op in the watcher, whose children they are not)
  as_root rm -rf "$tmp"
}

show_logs() {
  local f
  [[ -n $tmp ]] || return 0
  for f in "$tmp"/*.log "$tmp"/munge/*.log "$tmp"/user/*.out "$tmp"/user/results/logs/*; do
    [[ -f $f ]] || continue
    echo "---- ${f#"$tmp"/} (last 40 lines)"
    tail -n 40 "$f"
  done
}

trap 'stop_all' EXIT
trap 'exit 1' INT TERM
# Should ctest kill this script (its TIMEOUT: SIGKILL, no trap), a watcher detached from it stops the daemons.
main=$$
(
  trap '' HUP INT
  while kill -0 "$main" 2>/dev/null; do sleep 1; done
  [[ -d $tmp ]] && stop_all
) </dev/null >/dev/null 2>&1 &
disown

# Two free TCP ports on the loopback interface, asked of the kernel.
read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')

# munge: its own key, socket, pid, log and seed, all under $tmp (root-owned where munged checks ownership).
as_root install -d -m 0755 "$tmp/munge"
as_root sh -c "head -c 1024 /dev/urandom >'$tmp/munge/munge.key' && chmod 0400 '$tmp/munge/munge.key'"
"${root[@]}" env SLURM_CONF="$conf" munged --foreground --socket="$tmp/munge/munge.socket" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/munged.seed" \
  </dev/null >"$tmp/user/munged.out" 2>&1 &
daemons+=($!)

# slurm.conf for this machine, from slurmd -C: "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105".
hw=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //')
[[ $hw == *CPUs=* && $hw == *RealMemory=* ]] || skip "slurmd -C did not describe this machine: $hw"
as_root install -d -m 0755 "$tmp/state" "$tmp/spool"
as_root tee "$conf" >/dev/null <<EOF
ClusterName=mlpbenchtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$tmp/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=600
KillWait=2
NodeName=node1 NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=test Nodes=node1 Default=YES MaxTime=INFINITE State=UP
EOF
as_root tee "$tmp/plugstack.conf" </dev/null >/dev/null

for t in $(seq 50); do
  [[ -S $tmp/munge/munge.socket ]] && break
  ((t < 50)) || fail "munged did not start (logs below)"
  sleep 0.1
done
"${root[@]}" env SLURM_CONF="$conf" slurmctld -D -i -f "$conf" </dev/null >"$tmp/user/slurmctld.out" 2>&1 &
daemons+=($!)
"${root[@]}" env SLURM_CONF="$conf" slurmd -D -N node1 -f "$conf" </dev/null >"$tmp/user/slurmd.out" 2>&1 &
daemons+=($!)
log "munged, slurmctld, slurmd started (ports $ctld_port, $slurmd_port; $hw)"

# The node registers and goes idle within seconds; if it does not, Slurm can't run here: skip, saying why.
state=""
for t in $(seq 60); do
  state=$(sl sinfo -h -n node1 -o %t 2>/dev/null || true)
  [[ $state == idle ]] && break
  for pid in "${daemons[@]}"; do
    alive "$pid" || fail "a Slurm daemon exited at start (logs below)"
  done
  ((t < 60)) || fail "the node did not come up in 30 s (state '${state:-none}'; logs below)"
  sleep 0.5
done
log "node1 is idle"

# The fleet: three thread counts of a small model, each a few seconds.
cat >"$tmp/user/fleet.conf" <<'EOF'
# test fleet
threads-1  --quick --device cpu --layers 64,32,8 --batch-sizes 1,8 --threads 1

threads-2  --quick --device cpu --layers 64,32,8 --batch-sizes 1,8 --threads 2
all-cores  --quick --device cpu --layers 64,32,8 --batch-sizes 1,8 --threads 0
EOF
out=$tmp/user/results
# The machine's roof, measured by the first task and reused by the others (a cache of this test's own).
export MLPBENCH_CACHE_DIR=$tmp/user/cache
sl "$repo/scripts/slurm/submit.sh" --config "$tmp/user/fleet.conf" --out "$out" --mlpbench "$exe" -- --time=5 ||
  fail "submit.sh failed"
read -r array merge < <(sed -n 's/^array=\([0-9]*\) merge=\([0-9]*\)$/\1 \2/p' "$out/jobs")
[[ -n ${array:-} && -n ${merge:-} ]] || fail "no job ids in $out/jobs: $(cat "$out/jobs" 2>/dev/null)"
log "submitted: array job $array, merge job $merge"

job_state() { sl scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | sort -u | cut -d= -f2 | tr '\n' ' '; }
while :; do
  merge_state=$(job_state "$merge")
  case $merge_state in
    "COMPLETED ") break ;;
    "" | *FAILED* | *CANCELLED* | *TIMEOUT* | *NODE_FAIL* | *OUT_OF_MEMORY* | *PREEMPTED* | *BOOT_FAIL* | *DEADLINE*)
      fail "merge job $merge ended ${merge_state:-unknown}; array tasks: $(job_state "$array")" ;;
  esac
  ((SECONDS - start < deadline_s)) ||
    fail "not done in ${deadline_s} s: array tasks $(job_state "$array"), merge $merge_state"
  sleep 1
done
log "merge job $merge completed; array tasks: $(job_state "$array")"

# Each task: COMPLETED, and its results file, named by task, label and node, with its thread count.
bad=()
[[ $(job_state "$array") == "COMPLETED " ]] || bad+=("array tasks ended $(job_state "$array")")
files=()
i=0
for label in threads-1 threads-2 all-cores; do
  f=$out/$(printf '%03d' "$i")-$label-node1.json
  if [[ -f $f ]]; then
    files+=("$(basename "$f")")
    "$exe" report --from "$f" >/dev/null 2>&1 || bad+=("mlpbench report refuses $f")
  else
    bad+=("task $i wrote no $(basename "$f") (in $out: $(cd "$out" && echo *.json))")
  fi
  [[ -f $out/logs/task-${array}_$i.out ]] || bad+=("no log of task $i")
  i=$((i + 1))
done
python3 - "$out" <<'EOF' || bad+=("thread counts in the results files")
import json, sys
for name, want in (("000-threads-1-node1.json", [1]), ("001-threads-2-node1.json", [2])):
    try:
        got = json.load(open(f"{sys.argv[1]}/{name}"))["run"]["threads"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"{name}: {e!r}")
    if got != want:
        sys.exit(f"{name}: run.threads {got}, expected {want}")
EOF

# The merged table: Markdown; the base (task 0) named, then one column per file: the base's milliseconds and a
# column for each other file, headed by its name, in task order; a row per device and batch size.
python3 - "$out/fleet.md" "${files[@]}" <<'EOF' || bad+=("fleet.md (above)")
import sys
path, files = sys.argv[1], sys.argv[2:]
try:
    text = open(path).read()
except OSError as e:
    sys.exit(f"no fleet.md: {e}")
rows = [[c.strip() for c in l.strip().strip("|").split("|")] for l in text.splitlines() if l.startswith("|")]
if len(files) != 3 or len(rows) < 3:
    sys.exit(f"fleet.md: expected a table over 3 files, got {len(rows)} table rows for files {files}")
header, sep, body = rows[0], rows[1], rows[2:]
problems = []
if files[0] not in text:
    problems.append(f"the base {files[0]} is not named")
if len(header) != 2 + len(files) or "base" not in header[2].lower() or [h.strip("`") for h in header[3:]] != files[1:]:
    problems.append(f"header {header}: expected device, batch, the base's ms, then {files[1:]}")
if not all(c and set(c) <= set(":-") for c in sep):
    problems.append(f"no separator row under the header: {sep}")
if any(len(r) != len(header) for r in body) or not any(r[0] == "CPU" for r in body):
    problems.append(f"rows not {len(header)} cells wide, or no CPU row: {body}")
if problems:
    sys.exit("fleet.md: " + "; ".join(problems))
EOF
ls "$out/logs/merge-$merge.out" >/dev/null 2>&1 || bad+=("no merge log")

echo "---- fleet.md"
cat "$out/fleet.md" 2>/dev/null || true
if ((${#bad[@]} > 0)); then
  fail "$(printf '%s; ' "${bad[@]}")"
fi
log "PASS: 3 tasks, 3 results files, fleet.md with one column per file"
