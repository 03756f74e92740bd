#!/usr/bin/env bash
# Set up and run the whole pipeline on the embedded demo configuration (2 cores, minutes).
#   bash scripts/demo.sh [extra snakemake arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${WLCNN_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
CORES=${WLCNN_CORES:-2}
echo "[demo] snakemake --profile profiles/local --cores $CORES --configfile config/demo.yaml $*"
snakemake --profile profiles/local --cores "$CORES" --configfile config/demo.yaml "$@"
python -m wlcnn.summary config/demo.yaml
