#!/usr/bin/env bash
# Run the demo DAG through a real single-node SLURM cluster (every rule a SLURM job) and check
# that it reproduces the local demo run bit for bit. Starts and stops its own daemons.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=/tmp/wlcnn-slurm
bash .ci/slurm/up.sh "$STATE"
trap 'bash .ci/slurm/down.sh "$STATE"' EXIT
export PATH="$PWD/.venv/bin:$PATH"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf results/demo-slurm
# Same demo configuration, another output directory (later config files override earlier ones).
override=$(mktemp --suffix=.yaml)
python - "$override" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open("config/demo.yaml"))
cfg["run"]["output_dir"] = "results/demo-slurm"
yaml.safe_dump({"run": cfg["run"]}, open(sys.argv[1], "w"))
PY
snakemake --profile profiles/slurm --configfile config/demo.yaml "$override"
python .ci/compare_runs.py results/demo results/demo-slurm
