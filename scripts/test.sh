#!/usr/bin/env bash
# Set up and run the test suite.
#   bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${WLCNN_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
python -m pytest "$@"
