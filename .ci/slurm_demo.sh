#!/usr/bin/env bash
# Run the demo DAG through a real single-node SLURM cluster (every rule or job group a SLURM job,
# training on a fake GPU) and check that it reproduces the local demo run bit for bit. Before
# that, the cluster tests (retries, GPU scheduling) must pass. Starts and stops its own daemons.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=/tmp/wlcnn-slurm
bash .ci/slurm/up.sh "$STATE"
poller=""
cleanup() {
  [ -n "$poller" ] && kill "$poller" 2>/dev/null
  bash .ci/slurm/down.sh "$STATE"
}
trap cleanup EXIT
export PATH="$PWD/.venv/bin:$PATH"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# The cluster tests must run here, not skip (WLCNN_REQUIRE_SLURM=1 turns a skip into a failure).
WLCNN_REQUIRE_SLURM=1 pytest -m slurm tests/workflow/test_slurm_cluster.py tests/workflow/test_slurm_training.py -q -p no:cacheprovider

rm -rf results/demo-slurm
# Same demo configuration, another output directory, and training asks SLURM for one of the
# node's (fake) GPUs (later config files override earlier ones). The CPU build of TensorFlow
# still uses its default single-device strategy, so the results stay identical.
override=$(mktemp --suffix=.yaml)
python - "$override" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open("config/demo.yaml"))
cfg["run"]["output_dir"] = "results/demo-slurm"
resources = dict(cfg["training"]["resources"], gpus_per_node=1)
yaml.safe_dump({"run": cfg["run"], "training": {"resources": resources}}, open(sys.argv[1], "w"))
PY
# What SLURM was asked for, job by job (squeue while they run; there is no accounting database).
jobs_seen="$STATE/jobs_seen.txt"
: > "$jobs_seen"
while sleep 1; do
  squeue -h -O "JobID:12,Comment:120,NumCPUs:6,MinMemory:10,TimeLimit:14,tres-per-job:24" >> "$jobs_seen" 2>/dev/null || true
done &
poller=$!
# Group jobs run `cores` jobs side by side: as many as the one node has CPUs.
node_cpus=$(sinfo -h -o %c | head -1)
# A representative target set, not the whole DAG (the local demo ran all of it; CI's hour does
# not hold both): every simulation, ingestion and map job, the GPU training job, one CNN
# analysis end to end (test-set summaries, data vector, chain) and one map-statistics comparison.
# The SLURM-specific parts (sbatch/srun, groups, GPU gres, retries) are all on this path.
targets=(
  results/demo-slurm/inference/results/tiny/constraints.json
  results/demo-slurm/plots/fig11_training_loss.png
  results/demo-slurm/statistics/compare/c004_sim00_vs_sim01/comparison.json
)
snakemake "${targets[@]}" --profile profiles/slurm --cores "$node_cpus" --configfile config/demo.yaml "$override"
kill "$poller" 2>/dev/null; poller=""

echo "[slurm-demo] SLURM jobs (job id, rule or group, CPUs, memory, time limit, GPUs):"
sort -u -n "$jobs_seen" | awk '{$2 = $2; print "  " $0}'
# Training was a GPU job: SLURM allocated it a GPU gres ...
# (awk decides alone: `awk | grep -q` fails under pipefail when grep exits before awk's many lines)
if ! awk '$2 ~ /^rule_train_network/ && $6 ~ /gpu:1/ {found = 1} END {exit !found}' "$jobs_seen"; then
  echo "[slurm-demo] FAIL: the train_network job did not request a GPU from SLURM" >&2
  exit 1
fi
# ... and TensorFlow still chose the single-device strategy (as in the local run).
if ! grep -q "default strategy: 1 replica" results/demo-slurm/logs/train_network/*.log; then
  echo "[slurm-demo] FAIL: training under SLURM did not use the default strategy" >&2
  exit 1
fi
python .ci/compare_runs.py results/demo results/demo-slurm
