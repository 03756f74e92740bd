"""Canonical format, series ingestion and the ``wlcnn`` CLI on real Gadget-2 / PkdGrav3 files."""

import json
import shutil

import h5py
import numpy as np
import pytest

from wlcnn.cli import main
from wlcnn.ingest import ingest_simulation, resolve_snapshot_files
from wlcnn.io import open_snapshot
from wlcnn.io.canonical import CosmologyMismatchError, read_canonical_header
from wlcnn.io.errors import RedshiftOrderError, SnapshotError
from wlcnn.provenance import file_checksum

# Fixture facts (fixtures README and params/*.param-usedvalues).
REQUESTED_Z = [1.5, 1.0, 0.75, 0.5, 0.25, 0.1, 0.0]
FIXTURE_COSMOLOGY = {"omega_m": 0.26, "h": 0.6736, "sigma8": 0.84}
N_PART = 32**3
BOX = 128.0
MASS_TABLE_1E10 = 461.843158  # 10^10 M_sun/h


def _gadget_series(fixtures, fmt="fmt1", n=7):
    suffix = ".hdf5" if fmt == "fmt3" else ""
    return [fixtures / "gadget2_N32" / fmt / f"snapshot_{i:03d}{suffix}" for i in range(n)]


@pytest.mark.parametrize(
    ("relpath", "fmt", "z"),
    [
        ("gadget2_N32/fmt1/snapshot_003", "gadget1", 0.5),
        ("gadget2_N32/fmt2/snapshot_003", "gadget2", 0.5),
        ("gadget2_N32/fmt3/snapshot_003.hdf5", "gadget-hdf5", 0.5),
        ("gadget2_N32/ics_L128_N32", "gadget1", 49.0),
        ("pkdgrav3_N32_lightcone/pkd_L128_N32_lcp.00060", "tipsy", 0.0),
    ],
)
def test_inspect_json(nbody_fixtures, capsys, relpath, fmt, z):
    assert main(["inspect", str(nbody_fixtures / relpath), "--json", "--box", "128"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"format", "n_particles", "a", "z", "box", "particle_mass", "pos_min", "pos_max"} <= set(info)
    assert info["format"] == fmt
    assert info["n_particles"] == N_PART
    assert info["z"] == pytest.approx(z, abs=1e-5)
    assert info["a"] == pytest.approx(1 / (1 + z), rel=1e-5)
    assert info["box"] == pytest.approx(BOX)
    # PkdGrav3 and Gadget-2 ran the same cosmology and N: same particle mass (independent codes).
    assert info["particle_mass"] == pytest.approx(MASS_TABLE_1E10 * 1e10, rel=1e-4)
    assert min(info["pos_min"]) >= 0.0 and max(info["pos_max"]) < BOX


def test_inspect_text_and_bad_file(nbody_fixtures, tmp_path, capsys):
    assert main(["inspect", str(nbody_fixtures / "gadget2_N32/fmt2/snapshot_006")]) == 0
    out = capsys.readouterr().out
    assert "gadget2" in out and "32,768" in out and "redshift: 0.000000" in out
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"not a snapshot at all" * 10)
    assert main(["inspect", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "junk.dat" in err and "expected" in err


def test_ingest_cli_roundtrip(nbody_fixtures, tmp_path):
    src = nbody_fixtures / "gadget2_N32/fmt1/snapshot_004"
    out = tmp_path / "snap.h5"
    assert main(["ingest", str(src), str(out), "--sigma8", "0.84", "-q", "--chunk-size", "5000"]) == 0
    ref = open_snapshot(src).read()
    with h5py.File(out) as fh:
        pos, ids = fh["particles/pos"][...], fh["particles/ids"][...]
        assert "vel" not in fh["particles"]
    assert pos.dtype == np.float32 and ids.dtype == np.uint64
    np.testing.assert_array_equal(pos, ref.pos)
    np.testing.assert_array_equal(ids, ref.ids)
    assert pos.min() >= 0 and pos.max() < BOX
    attrs = read_canonical_header(out)
    assert attrs["redshift"] == pytest.approx(0.25, abs=1e-6)
    assert (attrs["omega_m"], attrs["h"], attrs["sigma8"]) == (0.26, 0.6736, 0.84)
    assert attrs["units"]["pos"] == "comoving Mpc/h"
    source = attrs["provenance"]["inputs"][0]
    assert source["sha256"] == file_checksum(src) and source["size"] == src.stat().st_size
    assert attrs["provenance"]["code"]["wlcnn"]


def test_ingest_series_writes_manifest_and_keeps_true_redshifts(nbody_fixtures, tmp_path):
    outs = [tmp_path / f"snapshot_{i:03d}.h5" for i in range(7)]
    manifest = ingest_simulation(
        _gadget_series(nbody_fixtures, "fmt2"),
        outs,
        tmp_path / "manifest.json",
        cosmology=FIXTURE_COSMOLOGY,
        requested_redshifts=REQUESTED_Z,
        redshift_tolerance=1e-6,
        chunk_size=10_000,
        reader_options={"box": BOX},
        keep_velocities=True,
    )
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert [s["redshift"] for s in manifest["snapshots"]] == pytest.approx(REQUESTED_Z, abs=1e-6)
    with h5py.File(outs[-1]) as fh:
        vel = fh["particles/vel"][...]
    # z = 0 peculiar velocities of a 128 Mpc/h LCDM box: a few hundred km/s rms
    assert 150 < np.sqrt((vel.astype(np.float64) ** 2).sum(axis=1).mean()) < 800


def test_ingested_formats_agree_by_id(nbody_fixtures, tmp_path):
    """Format 1, 2 and 3 ingested separately give identical canonical particles once sorted by ID."""
    data = []
    for fmt in ("fmt1", "fmt2", "fmt3"):
        src = _gadget_series(nbody_fixtures, fmt)[5]
        out = tmp_path / f"{fmt}.h5"
        assert main(["ingest", str(src), str(out), "-q"]) == 0
        with h5py.File(out) as fh:
            order = np.argsort(fh["particles/ids"][...])
            data.append(fh["particles/pos"][...][order])
    np.testing.assert_array_equal(data[0], data[1])
    np.testing.assert_array_equal(data[0], data[2])


def _assert_nothing_written(tmp_path):
    leftovers = [p.name for p in tmp_path.iterdir() if p.suffix in {".h5", ".json", ".tmp"}]
    assert leftovers == []


def test_non_monotonic_series_fails_before_writing(nbody_fixtures, tmp_path):
    series = _gadget_series(nbody_fixtures)
    series[2], series[3] = series[3], series[2]
    with pytest.raises(RedshiftOrderError) as info:
        ingest_simulation(
            series,
            [tmp_path / f"s{i}.h5" for i in range(7)],
            tmp_path / "manifest.json",
            cosmology=FIXTURE_COSMOLOGY,
            requested_redshifts=None,
            redshift_tolerance=0.0,
            chunk_size=10_000,
        )
    assert "snapshot_002" in str(info.value) and "expected a redshift below" in str(info.value)
    _assert_nothing_written(tmp_path)


def test_redshift_far_from_requested_is_an_error(nbody_fixtures, tmp_path):
    wrong = [2.0, *REQUESTED_Z[1:]]
    with pytest.raises(RedshiftOrderError, match="snapshot_000"):
        ingest_simulation(
            _gadget_series(nbody_fixtures),
            [tmp_path / f"s{i}.h5" for i in range(7)],
            tmp_path / "manifest.json",
            cosmology=FIXTURE_COSMOLOGY,
            requested_redshifts=wrong,
            redshift_tolerance=0.01,
            chunk_size=10_000,
        )
    _assert_nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("cosmology", "options", "field"),
    [
        ({"omega_m": 0.30, "h": 0.6736}, {}, "header omega_m"),
        ({"omega_m": 0.26, "h": 0.70}, {}, "header h"),
        (FIXTURE_COSMOLOGY, {"box": 500.0}, "BoxSize"),
    ],
)
def test_mislabeled_simulation_is_caught(nbody_fixtures, tmp_path, cosmology, options, field):
    expected_error = CosmologyMismatchError if "box" not in options else SnapshotError
    with pytest.raises(expected_error) as info:
        ingest_simulation(
            _gadget_series(nbody_fixtures, n=2),
            [tmp_path / "a.h5", tmp_path / "b.h5"],
            tmp_path / "manifest.json",
            cosmology=cosmology,
            requested_redshifts=None,
            redshift_tolerance=0.0,
            chunk_size=10_000,
            reader_options=options,
        )
    assert field in str(info.value) and "snapshot_000" in str(info.value)
    _assert_nothing_written(tmp_path)


def test_truncated_snapshot_in_series_leaves_no_output(nbody_fixtures, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    series = []
    for path in _gadget_series(nbody_fixtures, n=3):
        shutil.copy(path, src / path.name)
        series.append(src / path.name)
    with open(series[1], "r+b") as fh:
        fh.truncate(series[1].stat().st_size - 1000)
    outdir = tmp_path / "out"
    outdir.mkdir()
    with pytest.raises(SnapshotError, match="snapshot_001"):
        ingest_simulation(
            series,
            [outdir / f"s{i}.h5" for i in range(3)],
            outdir / "manifest.json",
            cosmology=FIXTURE_COSMOLOGY,
            requested_redshifts=None,
            redshift_tolerance=0.0,
            chunk_size=10_000,
        )
    _assert_nothing_written(outdir)


def test_resolve_multifile_names(tmp_path):
    for i in (0, 1, 2, 10):
        (tmp_path / f"snapshot_005.{i}").write_bytes(b"x")
    (tmp_path / "snapshot_005.notes").write_bytes(b"x")
    assert [p.name for p in resolve_snapshot_files(tmp_path / "snapshot_005")] == [
        "snapshot_005.0",
        "snapshot_005.1",
        "snapshot_005.2",
        "snapshot_005.10",
    ]
    (tmp_path / "snap_007.0.hdf5").write_bytes(b"x")
    assert [p.name for p in resolve_snapshot_files(tmp_path / "snap_007")] == ["snap_007.0.hdf5"]
    with pytest.raises(FileNotFoundError, match="snapshot_009"):
        resolve_snapshot_files(tmp_path / "snapshot_009")


def test_config_and_grid_commands(tmp_path, capsys):
    assert main(["config", "config/demo.yaml"]) == 0
    assert "valid" in capsys.readouterr().out
    out = tmp_path / "grid.csv"
    assert (
        main(
            [
                "grid",
                "--sigma8-lines",
                "0.7,0.8",
                "--omega-m",
                "0.2:0.4:3",
                "--n-train",
                "2",
                "--n-test",
                "1",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    lines = out.read_text().splitlines()
    assert lines[0] == "id,omega_m,sigma8,role,n_sims" and len(lines) == 1 + 2 * 6
