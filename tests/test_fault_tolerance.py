"""A job killed with SIGKILL mid-write leaves nothing a rerun would accept; the rerun completes
with the same bytes as an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from wlcnn.io.gadget import write_gadget_snapshot
from wlcnn.io.pkd_params import RHO_CRIT0

N_SIDE = 64  # 262k particles: ingestion in chunks of 1000 takes long enough to be killed mid-write
BOX = 100.0


def _snapshot(path):
    rng = np.random.default_rng(1)
    n = N_SIDE**3
    write_gadget_snapshot(
        path,
        pos=rng.uniform(0, BOX, (n, 3)).astype(np.float32),
        vel=rng.normal(0, 300, (n, 3)).astype(np.float32),
        ids=np.arange(1, n + 1),
        box=BOX,
        a=0.5,
        omega_m=0.3,
        omega_lambda=0.7,
        hubble=0.7,
        particle_mass=0.3 * RHO_CRIT0 * BOX**3 / n,  # readers check it against Omega0 and the box
    )


def _ingest(src, out):
    return [
        sys.executable,
        "-m",
        "wlcnn.cli",
        "ingest",
        str(src),
        str(out),
        "-q",
        "--chunk-size",
        "1000",
        "--keep-velocities",
    ]


def test_sigkill_mid_write_leaves_no_output_and_rerun_matches(tmp_path):
    src = tmp_path / "snapshot_000"
    _snapshot(src)
    killed = tmp_path / "killed"
    killed.mkdir()
    out = killed / "snapshot_000.h5"
    proc = subprocess.Popen(_ingest(src, out))
    deadline = time.time() + 60
    while not any(p.suffix == ".tmp" for p in killed.iterdir()):  # writing has started
        assert proc.poll() is None, "ingestion finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "a killed job left a file under the final name"

    subprocess.run(_ingest(src, out), check=True)  # the rerun
    reference = tmp_path / "reference.h5"
    subprocess.run(_ingest(src, reference), check=True)  # an uninterrupted run
    with h5py.File(out) as a, h5py.File(reference) as b:
        for name in ("particles/pos", "particles/vel", "particles/ids"):
            np.testing.assert_array_equal(a[name][...], b[name][...])
