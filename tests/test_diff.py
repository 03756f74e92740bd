"""``wlcnn diff``: two reruns compare equal in content; provenance differences are listed apart.

The products are written by the project's own writers (``wlcnn ingest`` on a real Gadget-2
snapshot, :func:`wlcnn.atomic.atomic_write_text` for a JSON product, sidecars) at two different
(patched) times, so that they differ byte-wise only in their provenance records.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from wlcnn import provenance
from wlcnn.atomic import atomic_write_text
from wlcnn.cli import main
from wlcnn.diff import DiffInputError, diff_paths
from wlcnn.provenance import provenance_record, write_sidecar

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = Path("gadget2_N32") / "fmt1" / "snapshot_006"
RUN_TIMES = {"A": "2026-01-01T00:00:00+00:00", "B": "2026-02-02T12:34:56+00:00"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def _make_run(run: Path, source: Path, when: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One 'run': an ingested snapshot, a JSON table with a record, a plot with a sidecar."""
    monkeypatch.setattr(provenance, "utc_now", lambda: when)
    (run / "ingested").mkdir(parents=True)  # wlcnn ingest refuses a missing output directory
    assert main(["ingest", str(source), str(run / "ingested" / "snapshot_006.h5"), "-q"]) == 0
    record = provenance_record(step="table", inputs=[], config={}, started=when)
    atomic_write_text(run / "table.json", json.dumps({"rows": [1.0, 2.0], "provenance": record}, indent=1))
    plot = run / "plots" / "fig.png"
    plot.parent.mkdir()
    plot.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(64)))
    write_sidecar(plot, record)


@pytest.fixture
def runs(nbody_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    source = tmp_path / "sims" / "snapshot_006"
    source.parent.mkdir()
    shutil.copy(nbody_fixtures / SNAPSHOT, source)
    a, b = tmp_path / "run_a", tmp_path / "run_b"
    _make_run(a, source, RUN_TIMES["A"], monkeypatch)
    _make_run(b, source, RUN_TIMES["B"], monkeypatch)
    monkeypatch.undo()
    return a, b


def test_reruns_differ_only_in_provenance(runs: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    a, b = runs
    snapshot = Path("ingested") / "snapshot_006.h5"
    assert _sha256(a / snapshot) != _sha256(b / snapshot)  # byte-wise they differ
    report = diff_paths(a, b)
    assert report.identical and report.files == 4
    places = {(d.file, d.where) for d in report.provenance}
    assert (str(snapshot), "@provenance.started") in places
    assert ("table.json", "provenance.finished") in places
    assert ("plots/fig.png.prov.json", "started") in places
    assert main(["diff", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "identical content" in out and "provenance-only differences" in out
    assert RUN_TIMES["A"] in out and RUN_TIMES["B"] in out


def test_single_files_compare_equal(runs: tuple[Path, Path]) -> None:
    a, b = runs
    for rel in ("ingested/snapshot_006.h5", "table.json", "plots/fig.png"):
        assert diff_paths(a / rel, b / rel).identical, rel


def test_changed_dataset_is_named(runs: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    a, b = runs
    with h5py.File(b / "ingested" / "snapshot_006.h5", "r+") as fh:
        fh["particles/pos"][5, 1] += 1.0
    assert main(["diff", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "ingested/snapshot_006.h5: /particles/pos: 1 of 98304 values differ" in out
    assert "contents differ" in out


def test_changed_attribute_json_key_and_plot_are_named(runs: tuple[Path, Path]) -> None:
    a, b = runs
    with h5py.File(b / "ingested" / "snapshot_006.h5", "r+") as fh:
        fh.attrs["box"] = fh.attrs["box"] * 2
    document = json.loads((b / "table.json").read_text())
    document["rows"][1] = 3.0
    (b / "table.json").write_text(json.dumps(document))
    with open(b / "plots" / "fig.png", "r+b") as fh:
        fh.seek(10)
        fh.write(b"\0")
    places = {(d.file, d.where) for d in diff_paths(a, b).content}
    assert places == {
        ("ingested/snapshot_006.h5", "@box"),
        ("table.json", "rows[1]"),
        ("plots/fig.png", "bytes"),
    }


def test_files_present_in_one_run_only(runs: tuple[Path, Path]) -> None:
    a, b = runs
    (a / "extra.csv").write_text("x\n")
    (b / "plots" / "fig.png.prov.json").unlink()
    report = diff_paths(a, b)
    assert [(d.file, d.detail) for d in report.content] == [("extra.csv", "only in A")]
    assert ("plots/fig.png.prov.json", "file", "only in A") in {
        (d.file, d.where, d.detail) for d in report.provenance
    }
    assert diff_paths(a, b, exclude=["extra.*"]).identical


def test_bad_input_is_exit_2_and_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    present = tmp_path / "present.txt"
    present.write_text("x")
    before = _listing(tmp_path)
    assert main(["diff", str(present), str(tmp_path / "absent.h5")]) == 2
    err = capsys.readouterr().err
    absent = tmp_path / "absent.h5"
    assert (
        err == f"wlcnn diff: error: {absent}: path: expected an existing file or directory, found nothing\n"
    )
    assert main(["diff", str(present), str(tmp_path)]) == 2
    assert "expected a file like the other argument, found a directory" in capsys.readouterr().err
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert main(["diff", str(broken), str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}: HDF5 structure: expected a readable HDF5 file, found" in err
    assert "Traceback" not in err
    assert _listing(tmp_path) == sorted([*before, "broken.h5"])
    with pytest.raises(DiffInputError):
        diff_paths(tmp_path / "absent.h5", present)


def test_help_explains_exit_codes(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["diff", "--help"])
    out = capsys.readouterr().out
    assert "0 identical content" in out and "1 contents differ" in out and "2 bad input" in out


def test_ci_comparison_uses_diff(runs: tuple[Path, Path]) -> None:
    a, b = runs
    script = [sys.executable, str(REPO / ".ci" / "compare_runs.py"), str(a), str(b)]
    done = subprocess.run(script, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "1 ingested snapshots and 0 other HDF5 products identical" in done.stdout
    with h5py.File(b / "ingested" / "snapshot_006.h5", "r+") as fh:
        fh["particles/ids"][0] += 1
    done = subprocess.run(script, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "/particles/ids: 1 of 32768 values differ" in done.stderr
    # B (CI's SLURM rerun of a target subset) may not make anything A did not make
    with h5py.File(b / "ingested" / "snapshot_007.h5", "w") as fh:
        fh["x"] = [1]
    done = subprocess.run(script, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "ingested/snapshot_007.h5" in done.stderr and "missing" in done.stderr
