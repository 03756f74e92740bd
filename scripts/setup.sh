#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv and install wlcnn into it.
#   bash scripts/setup.sh            CPU TensorFlow (default)
#   WLCNN_EXTRAS=gpu bash scripts/setup.sh   CUDA TensorFlow on a GPU node
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${WLCNN_VENV:-.venv}
EXTRAS=${WLCNN_EXTRAS:-cpu}
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
echo "[setup] installing wlcnn[$EXTRAS,workflow,mpi,inference,test,bench] (a few minutes the first time)"
"$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS,workflow,mpi,inference,test,bench]"
# mpi4py needs an MPI library: use the system's if it has one, else the mpich wheel.
if ! command -v mpiexec >/dev/null 2>&1 && [ ! -x "$VENV/bin/mpiexec" ]; then
  echo "[setup] no system MPI found: installing the mpich wheel"
  "$VENV/bin/python" -m pip install --quiet mpich
fi
"$VENV/bin/python" -c "import wlcnn, numpy, h5py, pyccl, snakemake; print('[setup] ok: wlcnn', wlcnn.__version__)"
