#!/usr/bin/env bash
# Stop what .ci/slurm/up.sh started: cancel our jobs, stop slurmd, slurmctld, munged.
# Usage: bash .ci/slurm/down.sh [STATE_DIR]
set -uo pipefail
STATE=${1:-/tmp/wlcnn-slurm}
jobs=$(squeue -h -o %i 2>/dev/null || true)
[ -n "$jobs" ] && scancel $jobs 2>/dev/null
stop() {  # pid file
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
stop "$STATE/slurmd.pid"
stop "$STATE/slurmctld.pid"
pkill -TERM -x munged 2>/dev/null || true
echo "[slurm-down] stopped"
