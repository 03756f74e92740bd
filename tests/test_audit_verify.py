"""``wlcnn audit`` verifies a file against its own producer's seal and survives bad records.

Products are made with the project's own writers (``wlcnn ingest`` on a real Gadget-2 snapshot,
:class:`wlcnn.maps.mapfile.MapFileWriter`, :func:`wlcnn.provenance.write_sidecar`); damage is
done with plain byte edits located independently (h5py dataset offsets), and every bad record
must give exit code 2 with a message naming the file, the field, what was expected and found.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import wlcnn.audit as audit_module
from wlcnn.audit import ProvenanceError, audit
from wlcnn.cli import main
from wlcnn.maps.mapfile import MapFileWriter
from wlcnn.provenance import SEAL_KEY, file_record, provenance_record, utc_now, write_sidecar

SNAPSHOT = Path("gadget2_N32") / "fmt1" / "snapshot_006"
MAP_PIXELS = 8
MAP_REALISATIONS = 2


def _listing(directory: Path) -> list[str]:
    """Every entry under ``directory``, hidden ones included (nothing may appear or vanish)."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


def _dataset_offset(path: Path, name: str) -> int:
    """File offset of a dataset's first stored byte, as HDF5 itself reports it."""
    with h5py.File(path, "r") as fh:
        dataset = fh[name]
        if dataset.chunks is None:
            return dataset.id.get_offset()
        assert not dataset.compression, f"{name} is compressed: a flipped byte would not decode"
        return dataset.id.get_chunk_info(0).byte_offset


@pytest.fixture
def ingested(nbody_fixtures: Path, tmp_path: Path) -> Path:
    """A real Gadget-2 snapshot ingested with ``wlcnn ingest`` (canonical HDF5 writer)."""
    source = tmp_path / "sims" / "snapshot_006"
    source.parent.mkdir()
    shutil.copy(nbody_fixtures / SNAPSHOT, source)
    out = tmp_path / "ingested" / "snapshot_006.h5"
    out.parent.mkdir()  # wlcnn ingest refuses a missing output directory
    assert main(["ingest", str(source), str(out), "-q", "--sigma8", "0.84"]) == 0
    return out


@pytest.fixture
def map_file(tmp_path: Path) -> Path:
    """A small map file written by the maps stage's own writer."""
    path = tmp_path / "maps" / "cosmo_000.h5"
    record = provenance_record(step="maps", inputs=[], config={"n_pix": MAP_PIXELS}, started=utc_now())
    rng = np.random.default_rng(1)
    with MapFileWriter(
        path,
        attrs={"provenance": record},
        n_realisations=MAP_REALISATIONS,
        n_bins=1,
        n_shells=1,
        n_pix=MAP_PIXELS,
        born=True,
        keep_shells=False,
    ) as writer:
        kappa = rng.normal(size=(MAP_REALISATIONS, 1, MAP_PIXELS, MAP_PIXELS)).astype(np.float32)
        writer.write_block(0, kappa=kappa, kappa_ia=kappa)
    return path


@pytest.fixture
def sidecar_product(tmp_path: Path) -> Path:
    """A file that cannot hold a record (a plot) with its ``.prov.json`` sidecar."""
    product = tmp_path / "plots" / "fig.png"
    product.parent.mkdir()
    product.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    write_sidecar(product, provenance_record(step="plot", inputs=[], config={}, started=utc_now()))
    return product


def _root_status(path: Path) -> tuple[str, str]:
    tree = audit(path)
    return tree.status, tree.detail


# --- a file's own content against its producer's seal ------------------------------------------


def test_every_product_is_sealed(ingested: Path, map_file: Path, sidecar_product: Path) -> None:
    for path in (ingested, map_file):
        with h5py.File(path, "r") as fh:
            seal = json.loads(fh.attrs["provenance"])[SEAL_KEY]
        assert seal["scope"] == "hdf5" and len(seal["content"]) == 64
        assert _root_status(path) == ("ok", "")
    sidecar = json.loads(sidecar_product.with_name("fig.png.prov.json").read_text())
    # the sidecar seals the whole file: compare with an independent SHA-256
    assert sidecar[SEAL_KEY]["content"] == _sha256(sidecar_product)


def test_flipped_byte_in_ingested_snapshot_is_modified(ingested: Path, capsys: pytest.CaptureFixture) -> None:
    with h5py.File(ingested, "r") as fh:
        before = fh["particles/pos"][0].copy()
    _flip_byte(ingested, _dataset_offset(ingested, "particles/pos"))
    with h5py.File(ingested, "r") as fh:  # the flip really changed a particle position
        assert not np.array_equal(fh["particles/pos"][0], before)
    status, detail = _root_status(ingested)
    assert status == "modified" and "content sha256" in detail
    assert main(["audit", str(ingested)]) == 1
    assert f"MODIFIED   {ingested}" in capsys.readouterr().out


def test_flipped_byte_in_map_file_is_modified(map_file: Path, capsys: pytest.CaptureFixture) -> None:
    _flip_byte(map_file, _dataset_offset(map_file, "kappa") + MAP_PIXELS)
    assert _root_status(map_file)[0] == "modified"
    assert main(["audit", "--json", str(map_file)]) == 1
    nodes = json.loads(capsys.readouterr().out)
    assert nodes[0]["path"] == str(map_file.resolve()) and nodes[0]["status"] == "modified"


def test_changed_attribute_is_modified(ingested: Path) -> None:
    with h5py.File(ingested, "r+") as fh:
        fh.attrs["redshift"] = fh.attrs["redshift"] + 1.0
    assert _root_status(ingested)[0] == "modified"


def test_edited_embedded_record_is_detected(ingested: Path) -> None:
    with h5py.File(ingested, "r+") as fh:
        record = json.loads(fh.attrs["provenance"])
        record["host"] = "elsewhere"
        fh.attrs["provenance"] = json.dumps(record)
    status, detail = _root_status(ingested)
    assert status == "modified" and "record edited" in detail


def test_flipped_byte_in_sidecar_product_is_modified(sidecar_product: Path) -> None:
    _flip_byte(sidecar_product, 20)
    status, detail = _root_status(sidecar_product)
    assert status == "modified" and "content sha256" in detail


def test_edited_sidecar_is_detected(sidecar_product: Path, capsys: pytest.CaptureFixture) -> None:
    sidecar = sidecar_product.with_name("fig.png.prov.json")
    record = json.loads(sidecar.read_text())
    record["step"] = "something else"
    sidecar.write_text(json.dumps(record))
    status, detail = _root_status(sidecar_product)
    assert status == "modified" and "fig.png.prov.json" in detail
    assert main(["audit", str(sidecar_product)]) == 1
    assert "MODIFIED" in capsys.readouterr().out


def test_modified_file_is_reported_before_any_consumer_recorded_it(ingested: Path, tmp_path: Path) -> None:
    """A consumer that checksummed the already-damaged file still sees it MODIFIED."""
    _flip_byte(ingested, _dataset_offset(ingested, "particles/ids"))
    table = tmp_path / "table.csv"
    table.write_text("a,b\n1,2\n")
    write_sidecar(
        table, provenance_record(step="t", inputs=[file_record(ingested)], config={}, started=utc_now())
    )
    tree = audit(table)
    assert tree.inputs[0].status == "modified" and tree.status == "stale"


# --- bad records: a clear error naming the file, exit code 2, nothing written -------------------


def _bad_sidecar(tmp_path: Path, text: str) -> tuple[Path, Path]:
    product = tmp_path / "result.csv"
    product.write_text("x\n1\n")
    sidecar = tmp_path / "result.csv.prov.json"
    sidecar.write_text(text)
    return product, sidecar


def _assert_clean_error(capsys: pytest.CaptureFixture, argv: list[str], *parts: str, root: Path) -> None:
    before = _listing(root)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("wlcnn audit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, (part, err)
    assert _listing(root) == before


@pytest.mark.parametrize(
    ("text", "where", "found"),
    [
        ("{not json", "content", "not JSON"),
        ("", "content", "an empty file"),
        ("[1, 2]", "content", "a JSON list"),
        ('"a string"', "content", "a JSON str"),
        ("[" * 100_000 + "]" * 100_000, "content", "not JSON"),
        ('{"inputs": 5}', "inputs", "a int"),
        ('{"inputs": [{"size": 3}]}', "inputs[0].path", "None"),
        ('{"inputs": [7]}', "inputs[0].path", "7"),
        ('{"inputs": [{"path": "x.csv", "sha256": 12}]}', "inputs[0].sha256", "12"),
        ('{"seal": "forged"}', "seal", "'forged'"),
    ],
)
def test_malformed_sidecar_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, where: str, found: str
) -> None:
    product, sidecar = _bad_sidecar(tmp_path, text)
    (tmp_path / "x.csv").write_text("y\n")
    _assert_clean_error(
        capsys, ["audit", str(product)], str(sidecar), f": {where}: expected ", found, root=tmp_path
    )


def test_non_json_hdf5_record_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as fh:
        fh.attrs["provenance"] = "{truncated"
        fh["x"] = np.arange(3)
    _assert_clean_error(
        capsys,
        ["audit", str(path)],
        str(path),
        "attribute 'provenance'",
        "expected a JSON object",
        "not JSON",
        root=tmp_path,
    )


def test_self_referencing_record_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    product, sidecar = _bad_sidecar(tmp_path, "{}")
    sidecar.write_text(json.dumps({"inputs": [{"path": str(product)}]}))
    _assert_clean_error(
        capsys,
        ["audit", str(product)],
        str(sidecar),
        "inputs[0].path",
        "expected a file other than the one it describes",
        "found the file itself",
        root=tmp_path,
    )


def test_cyclic_records_are_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("a\n")
    b.write_text("b\n")
    for this, other in ((a, b), (b, a)):
        write_sidecar(
            this, provenance_record(step="s", inputs=[file_record(other)], config={}, started=utc_now())
        )
    with pytest.raises(ProvenanceError, match="cycle"):
        audit(a)
    _assert_clean_error(
        capsys,
        ["audit", str(a)],
        "b.csv.prov.json",
        "inputs[0].path",
        "expected an acyclic lineage",
        f"a cycle: {a} -> {b} -> {a}",
        root=tmp_path,
    )


def test_bad_record_of_one_file_does_not_stop_the_others(
    sidecar_product: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    product, _ = _bad_sidecar(tmp_path, "nope")
    assert main(["audit", str(product), str(sidecar_product)]) == 2
    captured = capsys.readouterr()
    assert str(sidecar_product) in captured.out and "not JSON" in captured.err


# --- inputs outside the audited trees: reported, never read ---------------------------------------


@pytest.mark.parametrize("named", ["/etc/passwd", "../../x"])
def test_input_outside_the_tree_is_reported_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, named: str
) -> None:
    run = tmp_path / "run" / "stage"
    run.mkdir(parents=True)
    monkeypatch.chdir(run)
    product = run / "result.csv"
    product.write_text("x\n")
    write_sidecar(
        product,
        provenance_record(
            step="s", inputs=[{"path": named, "sha256": "0" * 64}], config={}, started=utc_now()
        ),
    )
    read: list[str] = []
    real_checksum = audit_module.file_checksum
    monkeypatch.setattr(
        audit_module, "file_checksum", lambda path, **kw: read.append(str(path)) or real_checksum(path, **kw)
    )
    tree = audit(product)
    outside = tree.inputs[0]
    expected = Path(os.path.normpath(run / named)) if not named.startswith("/") else Path(named)
    assert outside.path == expected.resolve() and outside.status == "outside"
    assert named in outside.detail and "--root" in outside.detail
    assert tree.status == "stale" and not tree.ok
    assert str(outside.path) not in read
    assert main(["audit", str(product)]) == 1
    assert f"OUTSIDE    {outside.path}" in capsys.readouterr().out


def test_root_option_admits_a_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere" / "sims" / "snap"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_bytes(b"particles")
    run = tmp_path / "run" / "stage"
    run.mkdir(parents=True)
    monkeypatch.chdir(run)
    product = run / "result.csv"
    product.write_text("x\n")
    write_sidecar(
        product, provenance_record(step="s", inputs=[file_record(elsewhere)], config={}, started=utc_now())
    )
    assert audit(product).inputs[0].status == "outside"
    assert main(["audit", str(product)]) == 1
    assert main(["audit", "--root", str(tmp_path / "elsewhere"), str(product)]) == 0
    assert audit(product, roots=[run, elsewhere.parent]).inputs[0].status == "ok"


def test_flipped_byte_in_fits_catalogue_is_modified(tmp_path: Path) -> None:
    """FITS catalogues keep their record in PROVJSON; the seal covers the table's bytes."""
    from astropy.io import fits

    from wlcnn.atomic import atomic_path

    path = tmp_path / "catalogue.fits"
    primary = fits.PrimaryHDU()
    record = provenance_record(step="catalogue", inputs=[], config={}, started=utc_now())
    primary.header["PROVJSON"] = json.dumps(record)
    table = fits.BinTableHDU.from_columns([fits.Column(name="E1", format="E", array=np.arange(64.0))])
    with atomic_path(path) as tmp:
        fits.HDUList([primary, table]).writeto(tmp)
    assert json.loads(fits.getheader(path)["PROVJSON"])[SEAL_KEY]["scope"] == "fits"
    assert _root_status(path) == ("ok", "")
    with fits.open(path) as hdus:
        data_offset = hdus[1].fileinfo()["datLoc"]
    _flip_byte(path, data_offset + 4)
    assert _root_status(path)[0] == "modified"
