"""Nothing lost: outputs never replace inputs, a series is written whole or not at all, the
temporaries of killed writers are cleaned up by the next write, and writes reach the disk."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from wlcnn import atomic, ingest
from wlcnn.atomic import TEMP_TAG, atomic_path, atomic_write_text, is_temporary
from wlcnn.cli import main
from wlcnn.cosmology import critical_density_msun_h_mpc3
from wlcnn.io.gadget import write_gadget_snapshot

EXIT_USAGE = 2
FIXTURE_Z = [1.5, 1.0, 0.75, 0.5, 0.25, 0.1, 0.0]
FIXTURE_COSMOLOGY = {"omega_m": 0.26, "h": 0.6736, "sigma8": 0.84}
#: Snapshot of the series whose writing fails (the 6th of 7, as in the issue).
FAILING_INDEX = 5
#: Big enough that ingestion in chunks of 1000 takes long enough to be killed mid-series.
N_SIDE_KILL = 48
BOX = 100.0
KILL_SNAPSHOTS = 3
KILL_TIMEOUT_S = 60


def _names(directory: Path) -> list[str]:
    """Every entry, hidden ones included."""
    return sorted(p.name for p in directory.iterdir())


# ---------------------------------------------------------------- an output that is an input
def _alias(kind: str, source: Path) -> str:
    """A path naming ``source``: itself, via ``..``, a symbolic link or a hard link."""
    if kind == "same":
        return str(source)
    if kind == "dotdot":
        return str(source.parent / ".." / source.parent.name / source.name)
    link = source.with_name("alias")
    if kind == "symlink":
        link.symlink_to(source.name)
    else:
        os.link(source, link)
    return str(link)


@pytest.mark.parametrize("kind", ["same", "dotdot", "symlink", "hardlink"])
def test_ingest_refuses_output_that_is_the_input(kind, nbody_fixtures, tmp_path, capsys):
    source = tmp_path / "snapshot_003"
    shutil.copyfile(nbody_fixtures / "gadget2_N32/fmt1/snapshot_003", source)
    original = source.read_bytes()
    output = _alias(kind, source)
    before = _names(tmp_path)

    assert main(["ingest", str(source), output, "-q"]) == EXIT_USAGE

    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert output in message and "OUTPUT" in message
    assert "expected a path different from every input" in message
    assert f"found the input {source}" in message
    assert source.read_bytes() == original, "the raw snapshot was overwritten"
    assert _names(tmp_path) == before, "an output or a hidden temporary was left behind"


def test_ingest_simulation_refuses_manifest_that_is_an_input(nbody_fixtures, tmp_path):
    series = tmp_path / "series"
    shutil.copytree(nbody_fixtures / "gadget2_N32/fmt1", series)
    snapshots = [series / f"snapshot_{i:03d}" for i in range(len(FIXTURE_Z))]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(atomic.OutputPathError, match="expected a path different from every input"):
        ingest.ingest_simulation(
            snapshots,
            [out / f"snap_{i}.h5" for i in range(len(snapshots))],
            snapshots[2],
            cosmology=FIXTURE_COSMOLOGY,
            requested_redshifts=FIXTURE_Z,
            redshift_tolerance=1e-3,
            chunk_size=10_000,
        )
    assert _names(out) == []


# ---------------------------------------------------------------- a series: all or nothing
@pytest.mark.parametrize("interface", ["library", "cli"])
def test_series_failure_leaves_nothing_under_final_names(
    interface, nbody_fixtures, tmp_path, monkeypatch, capsys
):
    snapshots = [nbody_fixtures / "gadget2_N32/fmt1" / f"snapshot_{i:03d}" for i in range(len(FIXTURE_Z))]
    out = tmp_path / "out"
    out.mkdir()
    outputs = [out / f"snap_{i:03d}.h5" for i in range(len(snapshots))]
    written: list[int] = []

    def failing(module):
        real = module.write_canonical

        def write(reader, path, **kwargs):
            if len(written) == FAILING_INDEX:
                raise OSError(f"{path}: disk full (simulated)")
            written.append(1)
            return real(reader, path, **kwargs)

        return write

    if interface == "library":
        monkeypatch.setattr(ingest, "write_canonical", failing(ingest))
        with pytest.raises(OSError, match="disk full"):
            ingest.ingest_simulation(
                snapshots,
                outputs,
                out / "manifest.json",
                cosmology=FIXTURE_COSMOLOGY,
                requested_redshifts=FIXTURE_Z,
                redshift_tolerance=1e-3,
                chunk_size=10_000,
            )
    else:
        from wlcnn.io import canonical

        monkeypatch.setattr(canonical, "write_canonical", failing(canonical))
        pairs = [str(p) for pair in zip(snapshots, outputs, strict=True) for p in pair]
        with pytest.raises(OSError, match="disk full"):
            main(["ingest", *pairs, "-q"])
    assert len(written) == FAILING_INDEX, "the failure did not happen mid-series"
    assert _names(out) == [], "snapshots 0-4 (or a temporary) were left behind"


def test_series_success_renames_all_and_records_final_names(nbody_fixtures, tmp_path):
    snapshots = [nbody_fixtures / "gadget2_N32/fmt1" / f"snapshot_{i:03d}" for i in range(len(FIXTURE_Z))]
    out = tmp_path / "out"
    outputs = [out / f"snap_{i:03d}.h5" for i in range(len(snapshots))]
    manifest = ingest.ingest_simulation(
        snapshots,
        outputs,
        out / "manifest.json",
        cosmology=FIXTURE_COSMOLOGY,
        requested_redshifts=FIXTURE_Z,
        redshift_tolerance=1e-3,
        chunk_size=10_000,
    )
    assert _names(out) == sorted([p.name for p in outputs] + ["manifest.json"])
    from wlcnn.provenance import file_checksum

    for entry, path in zip(manifest["snapshots"], outputs, strict=True):
        assert entry["output"]["path"] == str(path.resolve())
        assert entry["output"]["sha256"] == file_checksum(path)
        assert entry["output"]["size"] == path.stat().st_size


# ---------------------------------------------------------------- stale temporaries
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temporary(directory: Path, *, host: str, pid: int, target: str = "result.h5") -> Path:
    path = directory / f".{target}.{TEMP_TAG}-{host}-{pid}-abcd1234.h5.tmp"
    path.write_bytes(b"half-written")
    return path


def test_next_write_removes_stale_temporaries_only(tmp_path):
    host = atomic._host_token()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = _temporary(tmp_path, host=host, pid=_dead_pid())
        of_live = _temporary(tmp_path, host=host, pid=live.pid)
        of_other_host = _temporary(tmp_path, host=host + "_elsewhere", pid=_dead_pid())
        foreign = tmp_path / ".someone_elses.tmp"  # not ours: never touched
        foreign.write_text("x")
        assert all(map(is_temporary, (stale, of_live, of_other_host))) and not is_temporary(foreign)

        atomic_write_text(tmp_path / "other.txt", "written\n")

        assert not stale.exists(), "the temporary of a killed writer survived the next write"
        assert of_live.exists(), "a live writer's temporary was deleted"
        assert of_other_host.exists(), "a temporary of another host (unknowable process) was deleted"
        assert foreign.exists()
        assert (tmp_path / "other.txt").read_text() == "written\n"
    finally:
        live.kill()
        live.wait()


def test_temporary_names_say_host_and_pid(tmp_path):
    with atomic_path(tmp_path / "x.h5", suffix=".h5") as tmp:
        assert tmp.name.startswith(f".x.h5.{TEMP_TAG}-{atomic._host_token()}-{os.getpid()}-")
        assert tmp.name.endswith(".h5.tmp")
        tmp.write_text("x")
    with atomic_path(tmp_path / "m.keras", suffix=".keras", suffix_last=True) as tmp:
        assert tmp.name.endswith(".tmp.keras") and is_temporary(tmp)
        tmp.write_text("x")
    assert _names(tmp_path) == ["m.keras", "x.h5"]
    assert socket.gethostname()  # the host token derives from it


# ---------------------------------------------------------------- durability
def test_atomic_write_fsyncs_file_before_and_directory_after_rename(tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_open = os.fsync, os.replace, os.open
    opened: dict[int, str] = {}

    def track_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        opened[fd] = str(path)
        return fd

    def track_fsync(fd):
        events.append(("fsync", opened.get(fd, "?")))
        real_fsync(fd)

    def track_replace(src, dst):
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "open", track_open)
    monkeypatch.setattr(atomic.os, "fsync", track_fsync)
    monkeypatch.setattr(atomic.os, "replace", track_replace)
    target = tmp_path / "out.txt"
    atomic_write_text(target, "data\n")

    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert is_temporary(events[0][1]), "the file must be synced under its temporary name"
    assert events[1][1] == str(target)
    assert events[2][1] == str(tmp_path), "the directory must be synced after the rename"


# ---------------------------------------------------------------- kill -9 of a series
def _big_snapshot(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = N_SIDE_KILL**3
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
        # consistent with the header (the readers check Omega0 * rho_crit * L^3 / N)
        particle_mass=0.3 * critical_density_msun_h_mpc3() * BOX**3 / n,
    )


def _ingest_series(sources: list[Path], out: Path) -> list[str]:
    pairs = [str(p) for s in sources for p in (s, out / f"{s.name}.h5")]
    return [
        sys.executable,
        "-m",
        "wlcnn.cli",
        "ingest",
        *pairs,
        "-q",
        "--chunk-size",
        "1000",
        "--keep-velocities",
    ]


def _content(path: Path) -> dict[str, object]:
    """Datasets and attributes, less the provenance record (whose times differ run to run)."""
    with h5py.File(path) as fh:
        facts: dict[str, object] = {k: v for k, v in fh.attrs.items() if k != "provenance"}
        fh.visititems(
            lambda name, obj: (
                facts.update({name: obj[...].tobytes()}) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return facts


def test_sigkill_mid_series_then_rerun_cleans_up_and_matches(tmp_path):
    sources = []
    for i in range(KILL_SNAPSHOTS):
        sources.append(tmp_path / f"snapshot_{i:03d}")
        _big_snapshot(sources[-1], seed=i)
    killed = tmp_path / "killed"
    killed.mkdir()
    proc = subprocess.Popen(_ingest_series(sources, killed))
    deadline = time.time() + KILL_TIMEOUT_S
    # kill once the second snapshot is being written (its own temporary, inside the staged one,
    # exists): the first is complete but only staged
    second = f"..{sources[1].name}.h5."
    while not any(p.name.startswith(second) for p in killed.iterdir()):
        assert proc.poll() is None, "ingestion finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = _names(killed)
    assert left and all(is_temporary(name) for name in left), f"final names after a kill: {left}"

    subprocess.run(_ingest_series(sources, killed), check=True)  # the rerun
    assert _names(killed) == [f"{s.name}.h5" for s in sources], "stale temporaries survived the rerun"

    reference = tmp_path / "reference"
    reference.mkdir()
    subprocess.run(_ingest_series(sources, reference), check=True)  # an uninterrupted run
    for s in sources:
        a, b = _content(killed / f"{s.name}.h5"), _content(reference / f"{s.name}.h5")
        assert a.keys() == b.keys()
        for key in a:
            assert np.array_equal(a[key], b[key]) if isinstance(a[key], np.ndarray) else a[key] == b[key], key
