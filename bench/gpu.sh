#!/usr/bin/env bash
# GPU readiness (issue 14, item 5): forward-model and training throughput of every preset, fp32
# and mixed precision, as JSON and a Markdown table (bench/out/gpu.{json,md} by default).
# Run on a GPU node with the CUDA TensorFlow extra installed (pip install -e '.[gpu]');
# arguments go to bench/bench_gpu.py (--help lists them; --quick is a CPU smoke test).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python}"
[[ -x "$here/../.venv/bin/python" && -z "${PYTHON:-}" ]] && python="$here/../.venv/bin/python"
export PYTHONPATH="$here/../src${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$python" "$here/bench_gpu.py" "$@"
