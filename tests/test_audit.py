"""``wlcnn audit``: lineage and checksum verification on real ingested files."""

import json
import shutil

import pytest

from wlcnn.audit import audit, read_provenance
from wlcnn.cli import main
from wlcnn.ingest import ingest_simulation
from wlcnn.provenance import provenance_record, utc_now, write_sidecar

COSMOLOGY = {"omega_m": 0.26, "h": 0.6736}


@pytest.fixture
def lineage(nbody_fixtures, tmp_path):
    """Two copied Gadget-2 snapshots (with a sidecar record) ingested into a manifest."""
    raw = []
    for i in (0, 1):
        dst = tmp_path / "sims" / f"snapshot_{i:03d}"
        dst.parent.mkdir(exist_ok=True)
        shutil.copy(nbody_fixtures / "gadget2_N32" / "fmt1" / dst.name, dst)
        write_sidecar(dst, provenance_record(step="simulate", inputs=[], config={"i": i}, started=utc_now()))
        raw.append(dst)
    outs = [tmp_path / "ingested" / f"snapshot_{i:03d}.h5" for i in (0, 1)]
    manifest = tmp_path / "ingested" / "manifest.json"
    ingest_simulation(
        raw,
        outs,
        manifest,
        cosmology=COSMOLOGY,
        requested_redshifts=None,
        redshift_tolerance=0.0,
        chunk_size=10_000,
    )
    return raw, outs, manifest


def _status(tree):
    return {n.path.name: n.status for n in tree.walk()}


def test_intact_lineage_is_ok(lineage, capsys):
    raw, outs, manifest = lineage
    tree = audit(manifest)
    assert tree.ok
    assert set(_status(tree).values()) == {"ok"}
    assert {"manifest.json", "snapshot_000.h5", "snapshot_000"} <= set(_status(tree))
    assert read_provenance(outs[0])["inputs"][0]["path"] == str(raw[0].resolve())
    assert main(["audit", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "snapshot_001" in out and "ingest" in out


def test_modified_source_makes_descendants_stale(lineage, capsys):
    raw, outs, manifest = lineage
    with open(raw[1], "r+b") as fh:  # flip one byte of particle data
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    tree = audit(manifest)
    status = _status(tree)
    assert status["snapshot_001"] == "modified"
    assert status["snapshot_001.h5"] == "stale"
    assert status["manifest.json"] == "stale"
    assert status["snapshot_000.h5"] == "ok"
    assert not tree.ok
    assert main(["audit", str(outs[1]), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [n["status"] for n in report] == ["stale", "modified"]


def test_missing_and_modified_outputs(lineage):
    raw, outs, manifest = lineage
    raw[0].unlink()
    outs[1].write_bytes(outs[1].read_bytes() + b"\0")
    status = _status(audit(manifest))
    assert status["snapshot_000"] == "missing"
    assert status["snapshot_000.h5"] == "stale"
    assert status["snapshot_001.h5"] == "modified"


def test_rendered_plots_and_tables_lead_back_to_the_simulations(lineage, tmp_path):
    # A plot or Markdown table cannot hold a record: its sidecar names the files it was drawn
    # from, so the audit of a figure reaches the simulation files, and goes stale with them.
    from wlcnn.provenance import write_rendered_sidecars

    raw, outs, _ = lineage
    plot, table = tmp_path / "fig.png", tmp_path / "table.md"
    plot.write_bytes(b"\x89PNG not really")
    table.write_text("| a |\n")
    written = write_rendered_sidecars([plot, table, outs[0]], sources=[outs[0], outs[1]], step="render")
    assert [p.name for p in written] == ["fig.png.prov.json", "table.md.prov.json"]  # HDF5 has its own
    tree = audit(plot)
    assert tree.ok and {"fig.png", "snapshot_000.h5", "snapshot_001"} <= set(_status(tree))
    with open(raw[1], "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    tree = audit(table)
    assert not tree.ok and _status(tree)["table.md"] == "stale"
    assert _status(tree)["snapshot_001"] == "modified"
