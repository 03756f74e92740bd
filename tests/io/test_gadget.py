"""Gadget-2 binary (formats 1, 2), Gadget HDF5 (format 3, GADGET-4 layout) readers and the writer.

Ground truth is the real Gadget-2 run in the fixtures (the same 32^3 simulation written in the
three formats), its parameter files, and pynbody as an independent reader.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

from wlcnn.io import detect_format, open_snapshot
from wlcnn.io.base import ParticleChunk, concatenate_chunks
from wlcnn.io.errors import (
    ParticleCountError,
    PositionRangeError,
    RecordMarkerError,
    SnapshotError,
    TruncatedFileError,
    UnitError,
    UnknownFormatError,
)
from wlcnn.io.gadget import GadgetBinaryReader, gadget_header_dtype, write_gadget_snapshot
from wlcnn.io.gadget_hdf5 import GadgetHDF5Reader

N_PART = 32**3
N_SNAPSHOTS = 8  # snapshot_000 .. snapshot_007
BOX_MPC = 128.0
MASS_TABLE_1E10 = 461.843158  # MassTable[1] as printed by Gadget (10 significant digits)
#: Gadget's rho_crit = 3 H0^2 / (8 pi G) in h^2 M_sun / Mpc^3 (G = 6.672e-8 cgs, its constant)
RHO_CRIT_MSUN_H2_MPC3 = 2.7754e11
# Sizes of the format-1 fixture blocks: header record, POS and VEL records, ID record.
HEAD_RECORD = 256 + 8
POS_RECORD = 12 * N_PART + 8
ID_RECORD = 4 * N_PART + 8


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def g2(nbody_fixtures: Path) -> Path:
    return nbody_fixtures / "gadget2_N32"


def snap(g2: Path, fmt: int, index: int) -> Path:
    name = f"snapshot_{index:03d}"
    return g2 / f"fmt{fmt}" / (name + ".hdf5" if fmt == 3 else name)


def sorted_by_id(chunk: ParticleChunk) -> ParticleChunk:
    order = np.argsort(chunk.ids, kind="stable")
    return ParticleChunk(pos=chunk.pos[order], vel=chunk.vel[order], ids=chunk.ids[order])


def assert_same_particles(a: ParticleChunk, b: ParticleChunk) -> None:
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.pos, b.pos)
    np.testing.assert_array_equal(a.vel, b.vel)


def writable_copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    dst.chmod(0o644)
    return dst


def patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def parse_params(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("%"):
            out[parts[0]] = parts[1]
    return out


def write_kwargs(reader: GadgetBinaryReader | GadgetHDF5Reader) -> dict[str, float]:
    h = reader.header
    return {
        "box": h.box,
        "a": h.a,
        "omega_m": h.omega_m,
        "omega_lambda": h.omega_lambda,
        "hubble": h.hubble,
        "particle_mass": h.particle_mass,
    }


def assert_header_bytes_equal(new: bytes, ref: bytes, *, start: int) -> None:
    """Header records equal byte for byte, except MassTable[1] which may be 1 ulp off.

    The contract carries the mass in M_sun/h: m -> m * 1e10 is not injective for every double
    (461.8431576378273 and its lower neighbour give the same product), so the writer cannot
    always recover Gadget's exact MassTable bits; it guarantees instead that reading the
    written file gives back exactly the same particle_mass.
    """
    mass = start + 4 + 24 + 8  # record start, marker, npart[6], MassTable[0]
    assert new[:mass] == ref[:mass]
    assert new[mass + 8 :] == ref[mass + 8 :]
    m_new, m_ref = struct.unpack("<d", new[mass : mass + 8])[0], struct.unpack("<d", ref[mass : mass + 8])[0]
    assert m_ref == pytest.approx(461.843158, rel=1e-8)  # really the mass field
    np.testing.assert_array_max_ulp(np.float64(m_new), np.float64(m_ref), maxulp=1)


def records(order: str, snap_format: int, blocks: list[tuple[str, bytes]]) -> bytes:
    """Fortran records (with format-2 labels) around the given payloads."""
    out = b""
    for label, payload in blocks:
        if snap_format == 2:
            out += struct.pack(f"{order}I4sII", 8, label.encode(), len(payload) + 8, 8)
        marker = struct.pack(f"{order}I", len(payload))
        out += marker + payload + marker
    return out


def header_bytes(
    npart: list[int], mass: list[float], *, order: str = "<", a: float = 0.5, box_kpc: float = 100000.0
) -> bytes:
    h = np.zeros(1, dtype=gadget_header_dtype(order))
    h["npart"][0] = npart
    h["npart_total"][0] = npart
    h["mass"][0] = mass
    h["time"], h["redshift"], h["box"], h["num_files"] = a, 1 / a - 1, box_kpc, 1
    h["omega0"], h["omega_lambda"], h["hubble"] = 0.3, 0.7, 0.7
    return h.tobytes()


def write_gadget4(
    base: Path,
    src: Path,
    nbody_fixtures: Path,
    *,
    n_files: int = 1,
    mpc: bool = False,
    mass_block: bool = False,
    npart_this_file: int | None = None,
    shift_first: float | None = None,
) -> list[Path]:
    """Rewrite the real format-3 Gadget-2 file in GADGET-4's HDF5 layout.

    GADGET-4 (GADGET2_HEADER build) writes /Header with NumPart_ThisFile (uint32),
    NumPart_Total (uint64, no high word), MassTable, Time, Redshift, BoxSize,
    NumFilesPerSnapshot, Git_commit, Git_date -- no cosmology; every run-time parameter goes to
    /Parameters and the compile options to /Config.
    """
    params_dir = nbody_fixtures / "params"
    with h5py.File(src, "r") as f:
        hdr = dict(f["Header"].attrs)
        pos = f["PartType1/Coordinates"][...]
        vel = f["PartType1/Velocities"][...]
        ids = f["PartType1/ParticleIDs"][...]
    params: dict[str, object] = {}
    for key, value in parse_params(params_dir / "gadget4_L128_N32_fmt3.param-usedvalues").items():
        for conv in (int, float):
            try:
                params[key] = conv(value)
                break
            except ValueError:
                continue
        else:
            params[key] = value
    box = float(hdr["BoxSize"])
    if mpc:
        params["UnitLength_in_cm"] = float(params["UnitLength_in_cm"]) * 1000
        params["BoxSize"] = box / 1000
        pos = pos / np.float32(1000)  # correctly rounded, as a code writing Mpc would
        box /= 1000
    if shift_first is not None:
        pos[0, 0] = shift_first
    mass_table = np.array(hdr["MassTable"], dtype=np.float64)
    if mass_block:
        mass_table[1] = 0.0
    bounds = [len(pos) * k // n_files for k in range(n_files + 1)]
    paths = []
    for k in range(n_files):
        path = base.with_name(f"{base.name}.{k}.hdf5" if n_files > 1 else f"{base.name}.hdf5")
        lo, hi = bounds[k], bounds[k + 1]
        with h5py.File(path, "w") as g:
            h = g.create_group("Header")
            this = hi - lo if npart_this_file is None else npart_this_file
            h.attrs["NumPart_ThisFile"] = np.array([0, this, 0, 0, 0, 0], dtype=np.uint32)
            total = len(pos) if npart_this_file is None else npart_this_file * n_files
            h.attrs["NumPart_Total"] = np.array([0, total, 0, 0, 0, 0], dtype=np.uint64)
            h.attrs["MassTable"] = mass_table
            h.attrs["Time"] = hdr["Time"]
            h.attrs["Redshift"] = hdr["Redshift"]
            h.attrs["BoxSize"] = box
            h.attrs["NumFilesPerSnapshot"] = np.int32(n_files)
            h.attrs["Git_commit"] = "synthetic"
            h.attrs["Git_date"] = "synthetic"
            p = g.create_group("Parameters")
            for key, value in params.items():
                p.attrs[key] = value
            c = g.create_group("Config")
            for line in (params_dir / "gadget4_Config.sh").read_text().split():
                name, _, value = line.partition("=")
                c.attrs[name] = value
            pt = g.create_group("PartType1")
            pt.create_dataset("Coordinates", data=pos[lo:hi]).attrs["a_scaling"] = 1.0
            pt.create_dataset("Velocities", data=vel[lo:hi]).attrs["a_scaling"] = 0.5
            pt.create_dataset("ParticleIDs", data=ids[lo:hi])
            if mass_block:
                pt.create_dataset("Masses", data=np.full(hi - lo, hdr["MassTable"][1], dtype=np.float32))
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------------------------
# real fixtures: agreement across formats, header facts, detection
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(N_SNAPSHOTS))
def test_three_formats_bit_identical(g2: Path, index: int) -> None:
    readers = [open_snapshot(snap(g2, fmt, index)) for fmt in (1, 2, 3)]
    assert [r.header.format for r in readers] == ["gadget1", "gadget2", "gadget-hdf5"]
    data = [sorted_by_id(r.read()) for r in readers]
    for d in data:
        assert d.pos.dtype == np.float32 and d.vel.dtype == np.float32 and d.ids.dtype == np.uint64
        assert d.pos.shape == (N_PART, 3)
    assert_same_particles(data[0], data[1])
    assert_same_particles(data[0], data[2])
    np.testing.assert_array_equal(data[0].ids, np.arange(1, N_PART + 1))
    for r in readers[1:]:
        for name in (
            "n_particles",
            "a",
            "redshift",
            "box",
            "particle_mass",
            "omega_m",
            "omega_lambda",
            "hubble",
        ):
            assert getattr(r.header, name) == getattr(readers[0].header, name), name


def test_header_matches_parameter_files(g2: Path, nbody_fixtures: Path) -> None:
    params = parse_params(nbody_fixtures / "params" / "gadget2_L128_N32_fmt1.param-usedvalues")
    box_kpc = float(params["BoxSize"])
    for fmt in (1, 2, 3):
        h = open_snapshot(snap(g2, fmt, 6)).header
        assert h.omega_m == float(params["Omega0"]) == 0.26
        assert h.omega_lambda == float(params["OmegaLambda"]) == 0.74
        assert h.hubble == float(params["HubbleParam"]) == 0.6736
        assert h.box == box_kpc / 1000 == BOX_MPC
        assert h.n_particles == N_PART
        assert h.has_ids and h.has_velocities
        assert h.particle_mass / 1e10 == pytest.approx(MASS_TABLE_1E10, rel=1e-8)
        # independently: Omega_m rho_crit V / N
        expected = h.omega_m * RHO_CRIT_MSUN_H2_MPC3 * BOX_MPC**3 / N_PART
        assert h.particle_mass == pytest.approx(expected, rel=1e-3)
        assert h.extra["id_bytes"] == 4
        assert h.extra["num_files"] == 1
        assert h.extra["length_unit"] == "kpc/h"
    h1 = open_snapshot(snap(g2, 1, 6)).header
    assert h1.extra["byteorder"] == "little" and h1.extra["snap_format"] == 1
    assert open_snapshot(snap(g2, 2, 6)).header.extra["snap_format"] == 2


def test_redshifts_are_the_requested_outputs(g2: Path, nbody_fixtures: Path) -> None:
    a_out = [float(x) for x in (nbody_fixtures / "params" / "outputs_a.txt").read_text().split()]
    assert len(a_out) == N_SNAPSHOTS - 1
    for fmt in (1, 2, 3):
        for index, a in enumerate(a_out):
            h = open_snapshot(snap(g2, fmt, index)).header
            # Gadget lands outputs on its integer timeline: exact to ~1e-8
            assert h.a == pytest.approx(a, rel=1e-7)
            assert h.redshift == pytest.approx(1 / a - 1, abs=1e-6)
        last = open_snapshot(snap(g2, fmt, 7)).header
        assert last.a == pytest.approx(1.0, abs=1e-12) and last.redshift == pytest.approx(0.0, abs=1e-12)


def test_ics_read_at_z49(g2: Path) -> None:
    reader = open_snapshot(g2 / "ics_L128_N32")
    h = reader.header
    assert h.format == "gadget1"
    assert h.redshift == 49.0 and h.a == pytest.approx(0.02, rel=1e-12)
    assert h.n_particles == N_PART and h.box == BOX_MPC
    d = reader.read()
    assert np.array_equal(np.sort(d.ids), np.arange(1, N_PART + 1))
    assert d.pos.min() >= 0 and d.pos.max() < BOX_MPC
    # Zel'dovich ICs at z = 49: particles sit close to a 32^3 lattice (spacing 4 Mpc/h)
    spacing = BOX_MPC / 32
    offset = (d.pos + spacing / 2) % spacing - spacing / 2
    assert float(np.sqrt((offset**2).mean())) < 0.1 * spacing


def test_detect_format_on_every_file(g2: Path) -> None:
    expected = {"fmt1": "gadget1", "fmt2": "gadget2", "fmt3": "gadget-hdf5"}
    n = 0
    for sub, fmt in expected.items():
        for path in sorted((g2 / sub).iterdir()):
            assert detect_format(path) == fmt, path
            n += 1
    assert n == 3 * N_SNAPSHOTS
    assert detect_format(g2 / "ics_L128_N32") == "gadget1"
    # the base name resolves to the file
    assert open_snapshot(g2 / "fmt3" / "snapshot_005").header.files == (snap(g2, 3, 5),)
    # each reader refuses the other's files
    assert GadgetBinaryReader.sniff(snap(g2, 3, 0)) is None
    assert GadgetHDF5Reader.sniff(snap(g2, 1, 0)) is None
    assert GadgetHDF5Reader.sniff(snap(g2, 2, 0)) is None


def test_unknown_format_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(np.random.default_rng(42).bytes(1001))
    assert GadgetBinaryReader.sniff(path) is None
    assert GadgetHDF5Reader.sniff(path) is None
    with pytest.raises(UnknownFormatError, match=r"noise\.bin"):
        detect_format(path)
    with pytest.raises(UnknownFormatError, match=r"noise\.bin.*offset 0"):
        GadgetBinaryReader(path)


def test_chunked_reading_matches_single_chunk(g2: Path) -> None:
    chunk_size = 1000  # does not divide 32768: the last chunk is partial
    for fmt in (1, 2, 3):
        reader = open_snapshot(snap(g2, fmt, 4))
        chunks = list(reader.iter_chunks(chunk_size=chunk_size))
        assert len(chunks) == -(-N_PART // chunk_size)
        assert all(len(c) <= chunk_size for c in chunks)
        assert_same_particles(concatenate_chunks(chunks), next(iter(reader.iter_chunks(chunk_size=10**7))))


# ----------------------------------------------------------------------------------------------
# velocities against independent references
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 6])
def test_velocities_and_positions_match_pynbody(g2: Path, index: int) -> None:
    pynbody = pytest.importorskip("pynbody")
    path = snap(g2, 1, index)
    ours = sorted_by_id(open_snapshot(path).read())
    f = pynbody.load(str(path))
    order = np.argsort(np.asarray(f["iord"]))
    # pynbody knows Gadget's u = v sqrt(a)^-1 convention: km s^-1 a^1/2
    ref_vel = np.asarray(f["vel"].in_units("km s**-1"))[order]
    ref_pos = np.asarray(f["pos"])[order] / 1000.0  # raw kpc/h values
    np.testing.assert_array_equal(np.asarray(f["iord"])[order], ours.ids)
    np.testing.assert_allclose(ours.vel, ref_vel, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ours.pos, ref_pos, rtol=1e-6, atol=0)
    if index == 0:  # a = 0.4: the sqrt(a) factor must have been applied
        raw = np.asarray(f["vel"])[order]
        assert not np.allclose(ours.vel, raw, rtol=1e-2)


def test_rms_peculiar_velocity_plausible(g2: Path) -> None:
    v = open_snapshot(snap(g2, 1, 6)).read().vel.astype(np.float64)
    rms = float(np.sqrt((v**2).sum(axis=1).mean()))
    assert 200.0 < rms < 800.0
    # linear theory: v grows from z = 49 to z = 0 (roughly like a f H D ~ sqrt(a) early on)
    v_ics = open_snapshot(g2 / "ics_L128_N32").read().vel.astype(np.float64)
    assert rms > 3 * float(np.sqrt((v_ics**2).sum(axis=1).mean()))


# ----------------------------------------------------------------------------------------------
# writer
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 6])
def test_writer_reproduces_gadget2_format1_bytes(g2: Path, tmp_path: Path, index: int) -> None:
    src = snap(g2, 1, index)
    reader = open_snapshot(src)
    d = reader.read()  # file order
    out = tmp_path / "snap"
    assert write_gadget_snapshot(out, pos=d.pos, vel=d.vel, ids=d.ids, **write_kwargs(reader)) == [out]
    ref, new = src.read_bytes(), out.read_bytes()
    assert len(new) == len(ref)
    assert_header_bytes_equal(new[:HEAD_RECORD], ref[:HEAD_RECORD], start=0)
    id_start = HEAD_RECORD + 2 * POS_RECORD
    assert new[id_start:] == ref[id_start:]  # ID record
    back = open_snapshot(out).read()
    np.testing.assert_array_equal(back.ids, d.ids)
    np.testing.assert_array_max_ulp(back.pos, d.pos, maxulp=2)  # kpc -> Mpc -> kpc -> Mpc round-off
    np.testing.assert_array_max_ulp(back.vel, d.vel, maxulp=2)
    assert not list(tmp_path.glob(".*tmp"))  # temporary files renamed away


def test_writer_reproduces_gadget2_format2_header(g2: Path, tmp_path: Path) -> None:
    src = snap(g2, 2, 3)
    reader = open_snapshot(src)
    d = reader.read()
    out = write_gadget_snapshot(
        tmp_path / "s", pos=d.pos, vel=d.vel, ids=d.ids, snap_format=2, **write_kwargs(reader)
    )[0]
    ref, new = src.read_bytes(), out.read_bytes()
    assert len(new) == len(ref)
    label = 16
    assert_header_bytes_equal(
        new[: label + HEAD_RECORD + label], ref[: label + HEAD_RECORD + label], start=label
    )
    assert detect_format(out) == "gadget2"
    back = open_snapshot(out)
    assert back.header.a == reader.header.a and back.header.particle_mass == reader.header.particle_mass
    np.testing.assert_array_equal(back.read().ids, d.ids)


def test_writer_exact_roundtrip_in_mpc(tmp_path: Path, g2: Path) -> None:
    reader = open_snapshot(snap(g2, 3, 6))
    d = reader.read()
    out = write_gadget_snapshot(
        tmp_path / "s", pos=d.pos, vel=d.vel, ids=d.ids, length_unit="Mpc/h", **write_kwargs(reader)
    )[0]
    back = open_snapshot(out)  # unit inferred from BoxSize = 128
    assert back.header.extra["length_unit"] == "Mpc/h" and back.header.box == BOX_MPC
    assert_same_particles(back.read(), d)
    assert back.header.particle_mass == reader.header.particle_mass


@pytest.mark.parametrize("snap_format", [1, 2])
def test_multifile_snapshot_reads_identically(g2: Path, tmp_path: Path, snap_format: int) -> None:
    reader = open_snapshot(snap(g2, 1, 6))
    d = reader.read()
    kwargs = write_kwargs(reader)
    single = write_gadget_snapshot(
        tmp_path / "one", pos=d.pos, vel=d.vel, ids=d.ids, snap_format=snap_format, **kwargs
    )
    files = write_gadget_snapshot(
        tmp_path / "snapshot_006",
        pos=d.pos,
        vel=d.vel,
        ids=d.ids,
        snap_format=snap_format,
        n_files=3,
        **kwargs,
    )
    assert [f.name for f in files] == ["snapshot_006.0", "snapshot_006.1", "snapshot_006.2"]
    ref = open_snapshot(single[0]).read()
    for name in ("snapshot_006", "snapshot_006.0", "snapshot_006.2"):  # base name or any file
        multi = open_snapshot(tmp_path / name)
        assert multi.header.files == tuple(files)
        assert multi.header.n_particles == N_PART and multi.header.extra["num_files"] == 3
        assert_same_particles(multi.read(), ref)
        chunks = list(multi.iter_chunks(chunk_size=5000))
        assert_same_particles(concatenate_chunks(chunks), ref)
    # missing piece
    files[1].unlink()
    with pytest.raises(ParticleCountError, match=r"snapshot_006\.0.*NumFiles.*snapshot_006\.1"):
        open_snapshot(tmp_path / "snapshot_006")


def test_multifile_count_mismatch(g2: Path, tmp_path: Path) -> None:
    reader = open_snapshot(snap(g2, 1, 6))
    d = reader.read()
    files = write_gadget_snapshot(
        tmp_path / "s", pos=d.pos, vel=d.vel, ids=d.ids, n_files=3, **write_kwargs(reader)
    )
    npart_total_offset = 4 + 24 + 48 + 16 + 8 + 4  # marker, npart, mass, time+z, flags, type 0
    patch(files[2], npart_total_offset, struct.pack("<I", N_PART + 1))
    with pytest.raises(ParticleCountError, match=r"s\.2: Header/NumPart_Total"):
        open_snapshot(files[0])
    # consistent totals that disagree with the per-file counts
    for f in files:
        patch(f, npart_total_offset, struct.pack("<I", N_PART + 1))
    with pytest.raises(ParticleCountError, match=r"NumPart_Total\[1\].*sum of NumPart_ThisFile"):
        open_snapshot(files[1])


@pytest.mark.parametrize("snap_format", [1, 2])
def test_big_endian_detected(g2: Path, tmp_path: Path, snap_format: int) -> None:
    reader = open_snapshot(snap(g2, 1, 2))
    d = reader.read()
    kwargs = write_kwargs(reader)
    little = write_gadget_snapshot(
        tmp_path / "le", pos=d.pos, vel=d.vel, ids=d.ids, snap_format=snap_format, **kwargs
    )[0]
    big = write_gadget_snapshot(
        tmp_path / "be", pos=d.pos, vel=d.vel, ids=d.ids, snap_format=snap_format, byteorder=">", **kwargs
    )[0]
    first_marker = 256 if snap_format == 1 else 8
    assert big.read_bytes()[:4] == struct.pack(">I", first_marker)
    assert detect_format(big) == f"gadget{snap_format}"
    rb, rl = open_snapshot(big), open_snapshot(little)
    assert rb.header.extra["byteorder"] == "big" and rl.header.extra["byteorder"] == "little"
    assert rb.header.to_dict() | {"files": None, "extra": None} == rl.header.to_dict() | {
        "files": None,
        "extra": None,
    }
    assert_same_particles(rb.read(), rl.read())


def test_64bit_ids(g2: Path, tmp_path: Path) -> None:
    reader = open_snapshot(snap(g2, 1, 5))
    d = reader.read()
    ids = d.ids + np.uint64(2**40)
    out = write_gadget_snapshot(tmp_path / "s", pos=d.pos, vel=d.vel, ids=ids, **write_kwargs(reader))[0]
    assert out.stat().st_size == snap(g2, 1, 5).stat().st_size + 4 * N_PART
    back = open_snapshot(out)
    assert back.header.extra["id_bytes"] == 8
    np.testing.assert_array_equal(back.read().ids, ids)
    chunks = list(back.iter_chunks(chunk_size=777))
    np.testing.assert_array_equal(concatenate_chunks(chunks).ids, ids)


def test_highword_particle_count(tmp_path: Path) -> None:
    # A header that claims 2**32 + 5 particles in total (NumPart_Total_HighWord = 1) but holds 5.
    h = np.frombuffer(
        header_bytes([0, 5, 0, 0, 0, 0], [0, 1.0, 0, 0, 0, 0]), dtype=gadget_header_dtype()
    ).copy()
    h["npart_total_highword"][0, 1] = 1
    rng = np.random.default_rng(1)
    body = [
        ("HEAD", h.tobytes()),
        ("POS ", rng.uniform(0, 1e5, 15).astype("<f4").tobytes()),
        ("VEL ", np.zeros(15, "<f4").tobytes()),
        ("ID  ", np.arange(5, dtype="<u4").tobytes()),
    ]
    path = tmp_path / "hw"
    path.write_bytes(records("<", 1, body))
    with pytest.raises(ParticleCountError, match=r"hw: Header/NumPart_Total\[1\].*found 4294967301"):
        open_snapshot(path)


def test_writer_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_gadget_snapshot(
            tmp_path / "s",
            pos=np.zeros((4, 3)),
            vel=np.zeros((4, 3)),
            ids=np.arange(4),
            box=10.0,
            a=1.0,
            omega_m=0.3,
            omega_lambda=0.7,
            hubble=0.7,
            particle_mass=1e10,
        )
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# particle-type layout and masses (hand-built files)
# ----------------------------------------------------------------------------------------------


def mixed_type_file(
    path: Path, *, dm_masses: np.ndarray, snap_format: int = 1, float_dtype: str = "<f4"
) -> dict:
    """Gas (type 0), DM (type 1) and stars (type 4) with a MASS block and a gas-only U block."""
    n_gas, n_dm, n_star = 5, len(dm_masses), 3
    n = n_gas + n_dm + n_star
    rng = np.random.default_rng(7)
    pos = rng.uniform(0, 100000.0, (n, 3)).astype(float_dtype)
    vel = rng.normal(0, 100, (n, 3)).astype(float_dtype)
    ids = np.arange(100, 100 + n, dtype="<u4")
    gas_mass = np.full(n_gas, 0.1)
    blocks = [
        ("HEAD", header_bytes([n_gas, n_dm, 0, 0, n_star, 0], [0, 0, 0, 0, 0.5, 0], a=0.25)),
        ("POS ", pos.tobytes()),
        ("VEL ", vel.tobytes()),
        ("ID  ", ids.tobytes()),
        ("MASS", np.concatenate([gas_mass, dm_masses]).astype(float_dtype).tobytes()),  # types 0 and 1
        ("U   ", np.ones(n_gas, float_dtype).tobytes()),
    ]
    path.write_bytes(records("<", snap_format, blocks))
    dm = slice(n_gas, n_gas + n_dm)
    return {"pos": pos[dm].astype(np.float64), "vel": vel[dm].astype(np.float64), "ids": ids[dm]}


@pytest.mark.parametrize("snap_format", [1, 2])
@pytest.mark.parametrize("float_dtype", ["<f4", "<f8"])
def test_type_layout_and_mass_block(tmp_path: Path, snap_format: int, float_dtype: str) -> None:
    path = tmp_path / "mixed"
    truth = mixed_type_file(
        path, dm_masses=np.full(10, 2.0), snap_format=snap_format, float_dtype=float_dtype
    )
    reader = open_snapshot(path)
    h = reader.header
    assert h.n_particles == 10
    assert h.particle_mass == 2.0e10
    assert "MASS" in h.extra["mass_source"] and h.extra["skipped_types"] == {0: 5, 4: 3}
    assert h.extra["float_bytes"] == np.dtype(float_dtype).itemsize
    d = reader.read()
    np.testing.assert_array_equal(d.ids, truth["ids"])
    np.testing.assert_allclose(d.pos, truth["pos"] / 1000, rtol=1e-6)
    np.testing.assert_allclose(d.vel, truth["vel"] * np.sqrt(0.25), rtol=1e-6)
    np.testing.assert_array_equal(
        concatenate_chunks(list(reader.iter_chunks(chunk_size=3))).ids, truth["ids"]
    )


def test_unequal_masses_explicit(tmp_path: Path) -> None:
    path = tmp_path / "mixed"
    masses = np.linspace(1.0, 3.0, 10)
    mixed_type_file(path, dm_masses=masses)
    with pytest.raises(SnapshotError, match=r"mixed: block MASS.*equal-mass"):
        open_snapshot(path)
    h = open_snapshot(path, unequal_masses="mean").header
    assert h.particle_mass == pytest.approx(masses.astype(np.float32).mean() * 1e10, rel=1e-12)
    assert "mean of unequal masses" in h.extra["mass_source"]


# ----------------------------------------------------------------------------------------------
# bad input: every error names the file and the place
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [1, 2])
def test_truncated_binary(g2: Path, tmp_path: Path, fmt: int) -> None:
    path = writable_copy(snap(g2, fmt, 6), tmp_path)
    os.truncate(path, 600_000)  # inside the VEL block
    with pytest.raises(TruncatedFileError, match=r"snapshot_006: block VEL at offset \d+") as info:
        open_snapshot(path)
    assert info.value.found == "600000 bytes"
    os.truncate(path, 100)  # inside the header
    with pytest.raises(TruncatedFileError, match=r"snapshot_006: block HEAD"):
        open_snapshot(path)


def test_truncated_hdf5(g2: Path, tmp_path: Path) -> None:
    path = writable_copy(snap(g2, 3, 6), tmp_path)
    os.truncate(path, 500_000)
    with pytest.raises(TruncatedFileError, match=r"snapshot_006\.hdf5: HDF5 .*expected 924048 bytes"):
        open_snapshot(path)


def test_corrupted_record_markers(g2: Path, tmp_path: Path) -> None:
    path = writable_copy(snap(g2, 1, 6), tmp_path)
    pos_closing = HEAD_RECORD + POS_RECORD - 4
    patch(path, pos_closing, struct.pack("<I", 12345))
    with pytest.raises(
        RecordMarkerError, match=rf"snapshot_006: closing marker of block POS at offset {pos_closing}"
    ):
        open_snapshot(path)
    path = writable_copy(snap(g2, 1, 6), tmp_path / "..")  # fresh copy elsewhere
    vel_opening = HEAD_RECORD + POS_RECORD
    patch(path, vel_opening, struct.pack("<I", 12 * N_PART - 12))
    with pytest.raises(
        RecordMarkerError, match=rf"opening marker of block VEL at offset {vel_opening}"
    ) as info:
        open_snapshot(path)
    assert info.value.found == str(12 * N_PART - 12)
    path.unlink()


def test_header_marker_and_count_mismatch(g2: Path, tmp_path: Path) -> None:
    path = writable_copy(snap(g2, 1, 6), tmp_path)
    patch(path, HEAD_RECORD - 4, struct.pack("<I", 255))
    with pytest.raises(RecordMarkerError, match="snapshot_006: block HEAD markers"):
        GadgetBinaryReader(path)
    path = writable_copy(snap(g2, 1, 6), tmp_path)
    patch(path, 4 + 4, struct.pack("<i", N_PART - 1))  # NumPart_ThisFile[1]
    with pytest.raises(ParticleCountError, match=r"snapshot_006: Header/NumPart_Total\[1\]"):
        open_snapshot(path)


def test_format2_wrong_label(g2: Path, tmp_path: Path) -> None:
    path = writable_copy(snap(g2, 2, 6), tmp_path)
    vel_label = 16 + HEAD_RECORD + 16 + POS_RECORD
    assert path.read_bytes()[vel_label + 4 : vel_label + 8] == b"VEL "
    patch(path, vel_label + 4, b"XXXX")
    with pytest.raises(
        RecordMarkerError, match=rf"snapshot_006: format-2 block label at offset {vel_label + 4}"
    ):
        open_snapshot(path)


def test_wrong_length_unit(g2: Path) -> None:
    path = snap(g2, 1, 6)
    with pytest.raises(UnitError, match=r"snapshot_006: Header/BoxSize.*'Mpc/h'.*128000") as info:
        open_snapshot(path, length_unit="Mpc/h")
    assert "128000 Mpc/h" in info.value.found
    with pytest.raises(UnitError, match=r"snapshot_006\.hdf5: /Header/BoxSize"):
        open_snapshot(snap(g2, 3, 6), length_unit="Mpc/h")
    assert open_snapshot(path, length_unit="kpc/h").header.box == BOX_MPC
    with pytest.raises(UnitError, match="box option"):
        open_snapshot(path, box=100.0)


def test_positions_outside_box(tmp_path: Path) -> None:
    box = 50.0
    n = 20
    rng = np.random.default_rng(3)
    pos = rng.uniform(0, box, (n, 3))
    pos[7, 1] = 1.5 * box
    kwargs = {
        "vel": np.zeros((n, 3)),
        "ids": np.arange(n),
        "box": box,
        "a": 1.0,
        "omega_m": 0.3,
        "omega_lambda": 0.7,
        "hubble": 0.7,
        "particle_mass": 0.3 * RHO_CRIT_MSUN_H2_MPC3 * box**3 / n,  # readers check it against the header
    }
    out = write_gadget_snapshot(tmp_path / "bad", pos=pos, **kwargs)[0]
    reader = open_snapshot(out)  # the header is fine; the data are checked while streaming
    with pytest.raises(
        PositionRangeError, match=r"bad: particle 7 of type 1 \(block POS at offset \d+\)"
    ) as info:
        reader.read()
    assert "75" in info.value.found
    # round-off on the edges is folded back, not an error
    pos[7] = [box, -1e-7, box * (1 + 1e-7)]
    out = write_gadget_snapshot(tmp_path / "edge", pos=pos, **kwargs)[0]
    back = open_snapshot(out).read().pos
    assert back.min() >= 0 and back.max() < box
    assert back[7, 0] == 0.0


# ----------------------------------------------------------------------------------------------
# GADGET-4 HDF5 layout (synthetic: the real fmt3 particles in GADGET-4's attribute layout)
# ----------------------------------------------------------------------------------------------


def test_gadget4_layout(g2: Path, tmp_path: Path, nbody_fixtures: Path) -> None:
    src = snap(g2, 3, 6)
    ref = open_snapshot(src)
    (path,) = write_gadget4(tmp_path / "snapshot_006", src, nbody_fixtures)
    with h5py.File(path) as f:
        assert "Omega0" not in f["Header"].attrs and "HubbleParam" in f["Parameters"].attrs
    assert detect_format(path) == "gadget-hdf5"
    reader = open_snapshot(path)
    h = reader.header
    assert h.extra["flavour"] == "gadget4" and h.extra["length_unit"] == "kpc/h"
    assert (h.omega_m, h.omega_lambda, h.hubble) == (0.26, 0.74, 0.6736)
    for name in ("n_particles", "a", "redshift", "box", "particle_mass"):
        assert getattr(h, name) == getattr(ref.header, name), name
    assert_same_particles(reader.read(), ref.read())


def test_gadget4_multifile_units_and_masses(g2: Path, tmp_path: Path, nbody_fixtures: Path) -> None:
    src = snap(g2, 3, 6)
    ref = sorted_by_id(open_snapshot(src).read())
    files = write_gadget4(tmp_path / "snapshot_006", src, nbody_fixtures, n_files=3, mass_block=True)
    assert [f.name for f in files] == [f"snapshot_006.{k}.hdf5" for k in range(3)]
    for name in ("snapshot_006", "snapshot_006.1.hdf5"):
        multi = open_snapshot(tmp_path / name)
        assert multi.header.files == tuple(files) and multi.header.extra["num_files"] == 3
        assert "Masses" in multi.header.extra["mass_source"]
        assert multi.header.particle_mass == pytest.approx(MASS_TABLE_1E10 * 1e10, rel=1e-7)
        assert_same_particles(sorted_by_id(concatenate_chunks(list(multi.iter_chunks(chunk_size=999)))), ref)
    # UnitLength_in_cm = 1 Mpc: positions stored in Mpc/h read to the same bits
    (mpc,) = write_gadget4(tmp_path / "mpc", src, nbody_fixtures, mpc=True)
    reader = open_snapshot(mpc)
    assert reader.header.extra["length_unit"] == "Mpc/h" and reader.header.box == BOX_MPC
    assert_same_particles(sorted_by_id(reader.read()), ref)
    with pytest.raises(UnitError, match=r"mpc\.hdf5: /Parameters/UnitLength_in_cm.*'kpc/h'"):
        open_snapshot(mpc, length_unit="kpc/h")


def test_gadget4_count_mismatch_and_positions(g2: Path, tmp_path: Path, nbody_fixtures: Path) -> None:
    src = snap(g2, 3, 6)
    (bad,) = write_gadget4(tmp_path / "count", src, nbody_fixtures, npart_this_file=N_PART - 1)
    with pytest.raises(ParticleCountError, match=r"count\.hdf5: /PartType1/Coordinates.*32767.*32768"):
        open_snapshot(bad)
    (out,) = write_gadget4(tmp_path / "outside", src, nbody_fixtures, shift_first=1.5 * 128000.0)
    with pytest.raises(PositionRangeError, match=r"outside\.hdf5: particle 0 of type 1"):
        open_snapshot(out).read()
