"""Damaged copies of the real N-body fixtures: every one gets a domain error naming the file, the
field, what was expected and what was found, from the Python reader and from ``wlcnn ingest`` /
``wlcnn inspect`` (exit code 2), and nothing is written.

Each case copies one real file (Gadget-2 format 1 and 2, Gadget HDF5, PKDGRAV3 tipsy, light-cone
particles, HEALPix shells, PKDGRAV3 parameter files, canonical ingested files) into ``tmp_path``
and damages it the way real files get damaged: a header field patched, a file truncated, a
record marker flipped, the byte order swapped, a group deleted. Header offsets come from the
Gadget-2 user guide (``io_header``) and the tipsy layout, not from the readers.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest

from wlcnn.cli import main
from wlcnn.io import detect_format, open_snapshot
from wlcnn.io.canonical import describe_canonical, is_canonical_file
from wlcnn.io.errors import (
    HeaderValueError,
    RecordMarkerError,
    SnapshotError,
    TruncatedFileError,
    UnknownFormatError,
)
from wlcnn.io.pkd_params import read_par

BOX = 128.0  # Mpc/h, every fixture run (fixtures README)
OMEGA_M, HUBBLE = 0.26, 0.6736  # fixtures README
N_PART = 32**3
#: Gadget-2 ``io_header`` field offsets inside the 256-byte header (Gadget-2 user guide, Table 4).
GADGET_HEADER_OFFSETS = {
    "MassTable[1]": 24 + 8,
    "Time": 72,
    "Redshift": 80,
    "BoxSize": 128,
    "Omega0": 136,
    "HubbleParam": 152,
}
MARKER = 4  # Fortran record marker
FMT2_LABEL = 16  # format-2 label record: marker, 8 bytes, marker
GADGET_HEAD_RECORD = 256 + 2 * MARKER
#: tipsy: double a at offset 0; the 32-byte header; 36-byte dark records (mass first).
TIPSY_HEADER = 32
TIPSY_DARK = 36
#: Redshift at the end of the light-cone steps used here (the fixture run's .log).
LCP_STEP, HPB_STEP = 50, 135


# ----------------------------------------------------------------------------------------------
# damaging copies of the fixtures


def _copy(src: Path, dst_dir: Path, name: str | None = None) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


def _patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def _gadget(fx: Path, tmp: Path, fmt: int, **fields: float) -> Path:
    """snapshot_003 (z = 0.5) of Gadget-2 format ``fmt`` with header fields overwritten."""
    path = _copy(fx / "gadget2_N32" / f"fmt{fmt}" / "snapshot_003", tmp / "src")
    start = MARKER + (FMT2_LABEL if fmt == 2 else 0)
    for name, value in fields.items():
        key = name.replace("MassTable1", "MassTable[1]")
        _patch(path, start + GADGET_HEADER_OFFSETS[key], struct.pack("<d", value))
    return path


def _hdf5(fx: Path, tmp: Path, edit: Callable[[h5py.File], None]) -> Path:
    path = _copy(fx / "gadget2_N32" / "fmt3" / "snapshot_003.hdf5", tmp / "src")
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _set_attr(name: str, value: object) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        f["Header"].attrs[name] = value

    return edit


def _scale_mass_table(factor: float) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        table = np.array(f["Header"].attrs["MassTable"])
        table[1] *= factor
        f["Header"].attrs["MassTable"] = table

    return edit


def _tipsy(fx: Path, tmp: Path) -> Path:
    return _copy(fx / "pkdgrav3_N32_lightcone" / "pkd_L128_N32_lcp.00060", tmp / "src")


def _tipsy_a(value: float) -> Callable[[Path, Path], Path]:
    def make(fx: Path, tmp: Path) -> Path:
        path = _tipsy(fx, tmp)
        _patch(path, 0, struct.pack(">d", value))
        return path

    return make


def _tipsy_scale_masses(factor: float) -> Callable[[Path, Path], Path]:
    def make(fx: Path, tmp: Path) -> Path:
        path = _tipsy(fx, tmp)
        raw = bytearray(path.read_bytes())
        dark = np.frombuffer(raw, dtype=">f4", offset=TIPSY_HEADER).reshape(N_PART, TIPSY_DARK // 4).copy()
        dark[:, 0] *= factor
        raw[TIPSY_HEADER:] = dark.tobytes()
        path.write_bytes(bytes(raw))
        return path

    return make


def _tipsy_little_endian(fx: Path, tmp: Path) -> Path:
    """The header rewritten in little-endian order (a native-order tipsy writer)."""
    path = _tipsy(fx, tmp)
    raw = path.read_bytes()
    fields = struct.unpack(">diiiii", raw[:28])
    _patch(path, 0, struct.pack("<diiiii", *fields))
    return path


def _truncate(
    make: Callable[[Path, Path], Path], *, drop: int = 0, keep: int | None = None
) -> Callable[[Path, Path], Path]:
    """Cut ``drop`` bytes off the end, or keep the first ``keep`` bytes."""

    def damaged(fx: Path, tmp: Path) -> Path:
        path = make(fx, tmp)
        os.truncate(path, path.stat().st_size - drop if keep is None else keep)
        return path

    return damaged


def _lcp(fx: Path, tmp: Path) -> Path:
    return _copy(fx / "pkdgrav3_N32_lightcone" / f"pkd_L128_N32_lcp.{LCP_STEP:05d}.lcp.0", tmp / "src")


def _hpb(fx: Path, tmp: Path) -> Path:
    """Both thread files of one HEALPix step; the path of thread 1."""
    for thread in (0, 1):
        _copy(fx / "pkdgrav3_N64_healpix" / f"pkd_L128_N64.{HPB_STEP:05d}.hpb.{thread}", tmp / "src")
    return tmp / "src" / f"pkd_L128_N64.{HPB_STEP:05d}.hpb.1"


def _step_table(tmp: Path, step: int, z: float) -> Path:
    path = tmp / "tables" / "steps.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# step z\n{step - 1} 0.52\n{step} {z!r}\n")
    return path


def _par(fx: Path, tmp: Path, name: str, value: str) -> Path:
    """The light-cone run's .par file with one assignment replaced."""
    text = (fx / "params" / "pkd_L128_N32_lcp.par").read_text()
    lines = [
        f"{name} = {value}" if line.split("=")[0].strip() == name else line for line in text.splitlines()
    ]
    path = tmp / "params" / "run.par"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------------------------
# the cases


@dataclass(frozen=True)
class Case:
    """One damaged file and the error it must get.

    ``named`` is the file the message must name (default: the damaged file itself); ``options``
    go to :func:`open_snapshot` and ``cli`` to ``wlcnn ingest`` / ``inspect`` (None: the damage
    is reachable from Python only, e.g. through a ``params=`` option the CLI does not have).
    """

    make: Callable[[Path, Path], Path]
    error: type[SnapshotError]
    field: str
    expected: str
    found: str
    options: dict[str, object] = field(default_factory=dict)
    cli: list[str] | None = field(default_factory=list)
    named: Callable[[Path], Path] | None = None


CASES: dict[str, Case] = {
    # -- Gadget-2 format 1: header facts
    "gadget1-time-nan": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, Time=math.nan),
        HeaderValueError,
        "Header/Time",
        "0 < a <= 1",
        "nan",
    ),
    "gadget1-time-negative": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, Time=-1.0), HeaderValueError, "Header/Time", "0 < a <= 1", "-1.0"
    ),
    "gadget1-time-future": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, Time=1.5, Redshift=1 / 1.5 - 1),
        HeaderValueError,
        "Header/Time",
        "0 < a <= 1",
        "1.5",
    ),
    "gadget1-redshift-disagrees": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, Redshift=0.75),
        HeaderValueError,
        "Header/Redshift",
        "1/a - 1 = 0.5",
        "0.75",
    ),
    "gadget1-omega0-negative": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, Omega0=-0.3), HeaderValueError, "Header/Omega0", "(0, 1]", "-0.3"
    ),
    "gadget1-hubble-nan": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, HubbleParam=math.nan),
        HeaderValueError,
        "Header/HubbleParam",
        "(0, 1]",
        "nan",
    ),
    "gadget1-hubble-in-km-s-mpc": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, HubbleParam=67.36),
        HeaderValueError,
        "Header/HubbleParam",
        "(0, 1]",
        "67.36",
    ),
    "gadget1-box-nan": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, BoxSize=math.nan),
        HeaderValueError,
        "Header/BoxSize",
        "> 0",
        "nan",
    ),
    "gadget1-box-negative": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, BoxSize=-128000.0),
        HeaderValueError,
        "Header/BoxSize",
        "> 0",
        "-128000.0",
    ),
    "gadget1-mass-table-negative": Case(
        lambda fx, tmp: _gadget(fx, tmp, 1, MassTable1=-461.8),
        HeaderValueError,
        "Header/MassTable[1]",
        ">= 0",
        "-461.8",
    ),
    "gadget1-mass-disagrees-with-omega0": Case(
        # Omega0 = 0.3 in a file whose particle mass is that of Omega_m = 0.26: 15 % off.
        lambda fx, tmp: _gadget(fx, tmp, 1, Omega0=0.3),
        HeaderValueError,
        "Header/MassTable[1]",
        "Header/Omega0 * rho_crit * Header/BoxSize^3 / Header/NumPart_Total[1] = 0.3 *",
        "4.61843e+12 M_sun/h",
    ),
    # -- Gadget-2 format 1: structure
    "gadget1-head-closing-marker": Case(
        lambda fx, tmp: _patch_after(_gadget(fx, tmp, 1), MARKER + 256, struct.pack("<I", 1)),
        RecordMarkerError,
        "block HEAD markers at offsets 0 and 260",
        "256 and 256",
        "256 and 1",
    ),
    "gadget1-mixed-byte-order": Case(
        lambda fx, tmp: _patch_after(_gadget(fx, tmp, 1), 0, struct.pack(">I", 256)),
        RecordMarkerError,
        "block HEAD markers",
        "256 and 256",
        "the file mixes byte orders",
    ),
    "gadget1-id-closing-marker": Case(
        lambda fx, tmp: _patch_after(_gadget(fx, tmp, 1), -MARKER, struct.pack("<I", 7)),
        RecordMarkerError,
        "closing marker of block ID",
        str(4 * N_PART),
        "7",
    ),
    "gadget1-truncated-in-header": Case(
        _truncate(lambda fx, tmp: _gadget(fx, tmp, 1), keep=100),
        TruncatedFileError,
        "block HEAD at offset 0",
        "at least 264 bytes",
        "100 bytes",
    ),
    # -- Gadget-2 format 2
    "gadget2-label-closing-marker": Case(
        lambda fx, tmp: _patch_after(_gadget(fx, tmp, 2), 12, struct.pack("<I", 1)),
        RecordMarkerError,
        "format-2 label record of block HEAD at offset 0",
        "markers 8 and 8",
        "8 and 1",
    ),
    "gadget2-omega0-zero": Case(
        lambda fx, tmp: _gadget(fx, tmp, 2, Omega0=0.0), HeaderValueError, "Header/Omega0", "(0, 1]", "0.0"
    ),
    # -- Gadget HDF5
    "hdf5-no-header": Case(
        lambda fx, tmp: _hdf5(fx, tmp, lambda f: f.__delitem__("Header")),
        SnapshotError,
        "/Header",
        "a Gadget header group",
        "nothing (missing)",
    ),
    "hdf5-time-nan": Case(
        lambda fx, tmp: _hdf5(fx, tmp, _set_attr("Time", math.nan)),
        HeaderValueError,
        "/Header/Time",
        "0 < a <= 1",
        "nan",
    ),
    "hdf5-redshift-disagrees": Case(
        lambda fx, tmp: _hdf5(fx, tmp, _set_attr("Redshift", 3.0)),
        HeaderValueError,
        "/Header/Redshift",
        "1/a - 1 = 0.5",
        "3.0",
    ),
    "hdf5-omega0-negative": Case(
        lambda fx, tmp: _hdf5(fx, tmp, _set_attr("Omega0", -0.3)),
        HeaderValueError,
        "/Header/Omega0",
        "(0, 1]",
        "-0.3",
    ),
    "hdf5-hubble-zero": Case(
        lambda fx, tmp: _hdf5(fx, tmp, _set_attr("HubbleParam", 0.0)),
        HeaderValueError,
        "/Header/HubbleParam",
        "(0, 1]",
        "0.0",
    ),
    "hdf5-box-zero": Case(
        lambda fx, tmp: _hdf5(fx, tmp, _set_attr("BoxSize", 0.0)),
        HeaderValueError,
        "/Header/BoxSize",
        "> 0",
        "0.0",
    ),
    "hdf5-mass-table-off": Case(
        lambda fx, tmp: _hdf5(fx, tmp, _scale_mass_table(1.5)),
        HeaderValueError,
        "/Header/MassTable[1]",
        "/Header/Omega0 * rho_crit * /Header/BoxSize^3",
        "6.92765e+12 M_sun/h",
    ),
    "hdf5-truncated": Case(
        _truncate(lambda fx, tmp: _hdf5(fx, tmp, lambda f: None), keep=500_000),
        TruncatedFileError,
        "HDF5 superblock end-of-file address",
        "924048 bytes",
        "500000 bytes",
    ),
    # -- PKDGRAV3 tipsy
    "tipsy-a-nan": Case(
        _tipsy_a(math.nan),
        HeaderValueError,
        "offset 0 (header field a)",
        "0 < a <= 1",
        "nan",
        cli=["--box", "128"],
    ),
    "tipsy-a-negative": Case(
        _tipsy_a(-1.0),
        HeaderValueError,
        "offset 0 (header field a)",
        "0 < a <= 1",
        "-1.0",
        cli=["--box", "128"],
    ),
    "tipsy-truncated": Case(
        _truncate(_tipsy, drop=100),
        TruncatedFileError,
        "end of file",
        "1179680 bytes",
        "32765 of 32768 dark particle records complete",
        cli=["--box", "128"],
    ),
    "tipsy-little-endian-header": Case(
        _tipsy_little_endian,
        SnapshotError,
        "offset 12 (header field ndim)",
        "3 (big-endian)",
        "3 read little-endian",
        cli=["--box", "128"],
    ),
    "tipsy-masses-sum-above-one": Case(
        _tipsy_scale_masses(4.0),
        HeaderValueError,
        "particle masses (their sum is Omega_m)",
        "(0, 1]",
        "1.0399",
        cli=["--box", "128"],
    ),
    "tipsy-mass-disagrees-with-par": Case(
        _tipsy_scale_masses(2.0),
        HeaderValueError,
        "offset 32 (dark particle 0, field mass)",
        "dOmega0 (pkd_L128_N32_lcp.par) * rho_crit * dBoxSize^3",
        "9.23642e+12 M_sun/h",
        options={"params": "FIXTURES/params/pkd_L128_N32_lcp.par"},
        cli=None,
    ),
    # -- PKDGRAV3 light-cone particles and HEALPix shells
    "lcp-truncated": Case(
        _truncate(_lcp, drop=3),
        TruncatedFileError,
        "offset 43200 (record 1080)",
        "a whole number of 40-byte light-cone records",
        "37 stray bytes",
        cli=["--box", "128"],
    ),
    "lcp-step-redshift-nan": Case(
        _lcp,
        HeaderValueError,
        f"row 2, column 2 (step {LCP_STEP})",
        "a redshift z >= 0",
        "nan",
        options={"step_redshifts": "TABLE:nan"},
        cli=["--box", "128", "--step-redshifts", "TABLE:nan"],
        named=lambda tmp: tmp / "tables" / "steps.txt",
    ),
    "lcp-par-omega0-negative": Case(
        _lcp,
        HeaderValueError,
        "dOmega0",
        "(0, 1]",
        "-0.3",
        options={"params": "PAR:dOmega0=-0.3"},
        cli=None,
        named=lambda tmp: tmp / "params" / "run.par",
    ),
    "hpb-truncated": Case(
        _truncate(_hpb, drop=5),
        TruncatedFileError,
        "offset 73716 (pixel 6143)",
        "a whole number of 12-byte pixels",
        "7 stray bytes",
    ),
    "hpb-step-redshift-negative": Case(
        _hpb,
        HeaderValueError,
        f"row 2, column 2 (step {HPB_STEP})",
        "a redshift z >= 0",
        "-0.5",
        options={"step_redshifts": "TABLE:-0.5"},
        cli=["--step-redshifts", "TABLE:-0.5"],
        named=lambda tmp: tmp / "tables" / "steps.txt",
    ),
    "hpb-par-box-zero": Case(
        _hpb,
        HeaderValueError,
        "dBoxSize",
        "> 0",
        "0.0",
        options={"params": "PAR:dBoxSize=0"},
        cli=None,
        named=lambda tmp: tmp / "params" / "run.par",
    ),
}


def _patch_after(path: Path, offset: int, data: bytes) -> Path:
    """Patch ``data`` at ``offset`` (negative: from the end) and return the path."""
    _patch(path, offset if offset >= 0 else path.stat().st_size + offset, data)
    return path


def _resolve(value: str, fx: Path, tmp: Path, step: int) -> str:
    """Expand the placeholders of a case's options (files made in ``tmp``)."""
    if value.startswith("FIXTURES/"):
        return str(fx / value.removeprefix("FIXTURES/"))
    if value.startswith("TABLE:"):
        return str(_step_table(tmp, step, float(value.removeprefix("TABLE:"))))
    if value.startswith("PAR:"):
        name, _, setting = value.removeprefix("PAR:").partition("=")
        return str(_par(fx, tmp, name, setting))
    return value


def _checksums(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (hidden ones included) -> sha256."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _assert_names_everything(message: str, named: Path, case: Case) -> None:
    assert str(named) in message, message
    assert case.field in message, message
    assert f"expected {case.expected}" in message or (
        "expected " in message and case.expected in message.split("expected ", 1)[1]
    ), message
    assert "found " in message and case.found in message.split("found ", 1)[1], message


@pytest.fixture
def damaged(request: pytest.FixtureRequest, nbody_fixtures: Path, tmp_path: Path) -> tuple[Case, Path, dict]:
    case = CASES[request.param]
    path = case.make(nbody_fixtures, tmp_path)
    step = HPB_STEP if ".hpb" in path.name else LCP_STEP
    options = {k: _resolve(str(v), nbody_fixtures, tmp_path, step) for k, v in case.options.items()}
    return case, path, options


@pytest.mark.parametrize("damaged", list(CASES), indirect=True)
def test_reader_names_file_field_expected_found(damaged: tuple[Case, Path, dict], tmp_path: Path) -> None:
    case, path, options = damaged
    before = _checksums(tmp_path)
    with pytest.raises(case.error) as info:
        open_snapshot(path, **options)
    named = case.named(tmp_path) if case.named else path
    _assert_names_everything(str(info.value), named, case)
    assert not isinstance(info.value, UnknownFormatError)
    assert _checksums(tmp_path) == before  # reading never writes, not even next to the input


@pytest.mark.parametrize("damaged", list(CASES), indirect=True)
def test_cli_exit_2_and_nothing_written(
    damaged: tuple[Case, Path, dict], tmp_path: Path, nbody_fixtures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case, path, _ = damaged
    if case.cli is None:
        pytest.skip("the damage is reached through a reader option the CLI does not have")
    step = HPB_STEP if ".hpb" in path.name else LCP_STEP
    cli = [_resolve(a, nbody_fixtures, tmp_path, step) for a in case.cli]
    named = case.named(tmp_path) if case.named else path
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = _checksums(tmp_path)
    cosmology = ["--omega-m", str(OMEGA_M), "--hubble", str(HUBBLE)]
    assert main(["ingest", str(path), str(out_dir / "snap.h5"), "-q", *cosmology, *cli]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wlcnn ingest: error: ") and err.count("\n") == 1, err
    _assert_names_everything(err, named, case)
    assert list(out_dir.iterdir()) == []  # no output, no hidden temporary
    assert _checksums(tmp_path) == before  # the damaged source is untouched too
    assert main(["inspect", str(path), "--json", *cli]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    _assert_names_everything(captured.err, named, case)


# ----------------------------------------------------------------------------------------------
# detection defers to the reader that recognises the file


DETECTED = {
    "gadget1-head-closing-marker": "gadget1",
    "gadget1-mixed-byte-order": "gadget1",
    "gadget1-truncated-in-header": "gadget1",
    "gadget2-label-closing-marker": "gadget2",
    "hdf5-no-header": "gadget-hdf5",
    "hdf5-truncated": "gadget-hdf5",
    "tipsy-a-nan": "tipsy",
    "tipsy-truncated": "tipsy",
    "tipsy-little-endian-header": "tipsy",
    "lcp-truncated": "pkd-lightcone",
    "hpb-truncated": "pkd-healpix",
}


@pytest.mark.parametrize("name", list(DETECTED))
def test_damaged_files_detected_as_their_format(name: str, nbody_fixtures: Path, tmp_path: Path) -> None:
    path = CASES[name].make(nbody_fixtures, tmp_path)
    assert detect_format(path) == DETECTED[name]
    # --format X gives the same error as detection does.
    with pytest.raises(SnapshotError) as auto:
        open_snapshot(path, **({"box": BOX} if DETECTED[name] in ("tipsy", "pkd-lightcone") else {}))
    with pytest.raises(SnapshotError) as explicit:
        open_snapshot(
            path,
            format=DETECTED[name],
            **({"box": BOX} if DETECTED[name] in ("tipsy", "pkd-lightcone") else {}),
        )
    assert str(auto.value) == str(explicit.value)


def test_foreign_files_stay_unknown(tmp_path: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(11).bytes(4096))
    text = tmp_path / "notes.txt"
    text.write_text("Omega0 = 0.3\n" * 50)
    for path in (noise, text):
        with pytest.raises(UnknownFormatError) as info:
            detect_format(path)
        assert path.name in str(info.value) and "expected one of the formats" in str(info.value)
    with pytest.raises(UnknownFormatError, match="a directory"):
        detect_format(tmp_path)


def test_intact_fixtures_still_read(nbody_fixtures: Path) -> None:
    """The checks accept every real file: the codes' own headers are consistent."""
    g2 = nbody_fixtures / "gadget2_N32"
    for path in [*sorted((g2 / "fmt1").iterdir()), *sorted((g2 / "fmt3").iterdir()), g2 / "ics_L128_N32"]:
        h = open_snapshot(path).header
        assert 0 < h.a <= 1 and h.omega_m == OMEGA_M and h.hubble == HUBBLE, path
    par = read_par(nbody_fixtures / "params" / "pkd_L128_N32_lcp.par")
    tipsy = open_snapshot(
        nbody_fixtures / "pkdgrav3_N32_lightcone" / "pkd_L128_N32_lcp.00060", params=par.path
    )
    assert tipsy.header.particle_mass == pytest.approx(OMEGA_M * 2.77536627e11 * BOX**3 / N_PART, rel=1e-6)


# ----------------------------------------------------------------------------------------------
# parameter files read directly


@pytest.mark.parametrize(
    ("name", "value", "expected", "found"),
    [
        ("h", "67.36", "(0, 1]", "67.36"),
        ("dOmega0", "1.3", "(0, 1]", "1.3"),
        ("dBoxSize", "-128", "> 0", "-128.0"),
        ("nGrid", "0", "a whole number >= 1", "0.0"),
    ],
)
def test_par_file_values_checked(
    nbody_fixtures: Path, tmp_path: Path, name: str, value: str, expected: str, found: str
) -> None:
    path = _par(nbody_fixtures, tmp_path, name, value)
    with pytest.raises(HeaderValueError) as info:
        read_par(path)
    message = str(info.value)
    assert str(path) in message and f": {name}: " in message
    assert expected in message.split("expected ", 1)[1] and found in message.split("found ", 1)[1]


# ----------------------------------------------------------------------------------------------
# wlcnn inspect on the project's own canonical files


@pytest.fixture
def canonical(nbody_fixtures: Path, tmp_path: Path) -> Path:
    out = tmp_path / "canonical" / "snap.h5"
    out.parent.mkdir()
    src = nbody_fixtures / "gadget2_N32" / "fmt1" / "snapshot_003"
    assert main(["ingest", str(src), str(out), "-q", "--sigma8", "0.84", "--keep-velocities"]) == 0
    return out


def test_inspect_canonical_json_and_text(canonical: Path, nbody_fixtures: Path, capsys) -> None:
    capsys.readouterr()
    assert is_canonical_file(canonical)
    assert main(["inspect", str(canonical), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    # Independent: the source snapshot read by the Gadget reader, and the HDF5 datasets.
    src = open_snapshot(nbody_fixtures / "gadget2_N32" / "fmt1" / "snapshot_003")
    with h5py.File(canonical) as f:
        pos = f["particles/pos"][...]
    assert info["format"] == "wlcnn.snapshot" and info["extra"]["source_format"] == "gadget1"
    assert info["n_particles"] == N_PART and info["has_ids"] is True
    assert info["z"] == src.header.redshift and info["a"] == src.header.a
    assert (info["box"], info["omega_m"], info["h"]) == (BOX, OMEGA_M, HUBBLE)
    assert info["extra"]["sigma8"] == 0.84
    assert info["pos_min"] == pos.min(axis=0).tolist() and info["pos_max"] == pos.max(axis=0).tolist()
    assert info["extra"]["datasets"]["particles/vel"] == ["float32", [N_PART, 3]]
    assert main(["inspect", str(canonical)]) == 0
    text = capsys.readouterr().out
    assert "wlcnn.snapshot" in text and "32,768" in text and "redshift: 0.500000" in text
    assert "/particles/pos" in text and "(32768, 3)" in text


def test_inspect_canonical_chunked_range_equals_whole(canonical: Path) -> None:
    assert describe_canonical(canonical, chunk_size=1000) == describe_canonical(canonical)


@pytest.mark.parametrize(
    ("damage", "field", "found"),
    [
        (lambda f: f.attrs.__delitem__("n_particles"), "attribute 'n_particles'", "nothing (missing)"),
        (lambda f: f.attrs.__setitem__("units", "{not json"), "attribute 'units'", "{not json"),
        (lambda f: f.attrs.__setitem__("format_version", 99), "attribute 'format_version'", "99"),
        (lambda f: f.attrs.__setitem__("n_particles", N_PART + 1), "/particles/pos", "(32768, 3)"),
        (lambda f: f.__delitem__("particles"), "/particles/pos", "neither dataset"),
    ],
)
def test_inspect_damaged_canonical(canonical: Path, capsys, damage, field: str, found: str) -> None:
    with h5py.File(canonical, "r+") as f:
        damage(f)
    capsys.readouterr()
    assert main(["inspect", str(canonical)]) == 2
    err = capsys.readouterr().err
    assert str(canonical) in err and field in err and "expected " in err
    assert found in err.split("found ", 1)[1]


def test_ingest_refuses_canonical_input(canonical: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "again.h5"
    capsys.readouterr()
    assert main(["ingest", str(canonical), str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "already ingested" in err and str(canonical) in err
    assert not out.exists()
