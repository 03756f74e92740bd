#!/usr/bin/env bash
# Set up and run the whole pipeline on the embedded demo configuration (2 cores, minutes).
#   bash scripts/demo.sh [extra snakemake arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${WLCNN_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
# Open MPI refuses to start as root (containers, CI) unless told it may.
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
CORES=${WLCNN_CORES:-2}
echo "[demo] snakemake --profile profiles/local --cores $CORES --configfile config/demo.yaml $*"
# Through the lock wrapper: a run killed with SIGKILL leaves a stale Snakemake lock, which it
# clears (snakemake --unlock) when no run is live here; a second demo while one runs is refused.
bash scripts/_snakemake_lock.sh --profile profiles/local --cores "$CORES" --configfile config/demo.yaml "$@"
wlcnn summary config/demo.yaml
