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
echo "[setup] installing wlcnn[$EXTRAS,workflow,mpi,inference,shapes,test,bench,lint] (a few minutes the first time)"
# lint: ruff and mypy, which .ci/run runs as a gate
"$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS,workflow,mpi,inference,shapes,test,bench,lint]"
# mpi4py needs an MPI library. Default: the mpich wheel in the venv (self-contained, the same
# everywhere); on a cluster, WLCNN_MPI=system keeps the site's MPI (module load it first).
if [ "${WLCNN_MPI:-wheel}" != system ] && [ ! -x "$VENV/bin/mpiexec" ]; then
  echo "[setup] installing the mpich wheel for mpi4py (WLCNN_MPI=system to use the site's MPI)"
  "$VENV/bin/python" -m pip install --quiet mpich
fi
"$VENV/bin/python" -c "import wlcnn, numpy, h5py, pyccl, snakemake; print('[setup] ok: wlcnn', wlcnn.__version__)"
