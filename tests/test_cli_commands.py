"""One command line: ``wlcnn`` subcommands, their aliases, ``unblind`` and ``export-healpix``."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import healpy as hp
import numpy as np
import pytest
import yaml

from wlcnn.cli import COMMAND_GROUPS, build_parser, main
from wlcnn.inference.cli import main as inference_main
from wlcnn.maps.lightcone import make_lightcone_maps
from wlcnn.maps.mapfile import MapFileWriter
from wlcnn.provenance import file_checksum
from wlcnn.records import read_provenance
from wlcnn.summary import main as summary_main
from wlcnn.training.cli import main as training_main

REPO = Path(__file__).resolve().parents[1]
TOY = "wlcnn.inference.toy"
#: Exit status of bad input, as documented in ``wlcnn --help``.
BAD_INPUT = 2
#: The PkdGrav3 HEALPix-shell fixture run (fixtures README): flat LCDM, box 128 Mpc/h, 64^3.
COSMOLOGY = {"omega_m": 0.26, "sigma8": 0.84, "h": 0.6736, "omega_b": 0.0493, "n_s": 0.9649}
BOX = 128.0
N_1D = 64
NSIDE = 16


def _all_commands() -> list[str]:
    return [name for group in COMMAND_GROUPS.values() for name in group]


def _files_in(directory: Path) -> set[str]:
    """Every file under ``directory``, hidden temporaries included."""
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


# --- help and version ------------------------------------------------------------------------


def test_every_registered_subcommand_is_listed_once() -> None:
    registered = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert sorted(registered) == sorted(_all_commands())
    assert len(set(_all_commands())) == len(_all_commands())


@pytest.mark.parametrize("command", _all_commands())
def test_subcommand_help_exits_0_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text and f"\n  wlcnn {command} " in text


def test_top_level_help_groups_every_command_by_stage() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wlcnn.cli", "--help"], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == 0
    text = proc.stdout
    for stage, commands in COMMAND_GROUPS.items():
        assert f"  {stage}:\n" in text
        for name, description in commands.items():
            assert f"    {name} " in text and description in text
    # Grouped in pipeline order: set-up first, results last.
    assert text.index("set-up:") < text.index("training:") < text.index("inference:") < text.index("results:")
    assert "exit status: 0 ok; 1 a check failed" in text


def test_version_prints_the_package_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wlcnn.cli", "--version"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"wlcnn {importlib.metadata.version('wlcnn')}"


# --- aliases and subcommands give the same results -------------------------------------------


def _config(tmp: Path, *, blind: bool) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["run"]["output_dir"] = str(tmp / "results")
    cfg["inference"].update(
        n_surveys=20,
        n_a_ia=3,
        sampler={"n_walkers": 16, "n_steps": 300, "n_burn": 100, "thin": 1},
        grid_shape=[12, 12, 5],
        blind=blind,
    )
    path = tmp / f"config_{'blind' if blind else 'clear'}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _analysis(run: Callable[[Sequence[str]], int], *, config: Path, out: Path) -> None:
    """summaries, data and constrain of the toy network, through ``run`` (a main function)."""
    common = ["--config", str(config), "--base-dir", str(REPO)]
    out.mkdir(parents=True)
    net = ["--label", "toy", "--predictor", f"{TOY}:predictor_factory"]
    assert (
        run(["summaries", *common, *net, "--surveys", f"{TOY}:survey_factory", "--out", str(out / "s.h5")])
        == 0
    )
    assert (
        run(
            ["data", *common, *net, "--observation", f"{TOY}:observation_factory", "--out", str(out / "d.h5")]
        )
        == 0
    )
    constrain = ["--summaries", str(out / "s.h5"), "--data", str(out / "d.h5"), "--label", "toy"]
    assert run(["constrain", *common, *constrain, "--out", str(out / "res")]) == 0


@pytest.fixture(scope="module")
def analyses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("analyses")
    clear, blind = _config(tmp, blind=False), _config(tmp, blind=True)
    _analysis(inference_main, config=clear, out=tmp / "alias")
    _analysis(main, config=clear, out=tmp / "wlcnn")
    _analysis(main, config=blind, out=tmp / "blind")
    return {"tmp": tmp, "clear": clear, "blind": blind}


def test_inference_alias_and_subcommands_give_the_same_results(analyses: dict[str, Path]) -> None:
    tmp = analyses["tmp"]
    assert _files_in(tmp / "alias") == _files_in(tmp / "wlcnn")
    # wlcnn diff compares content (HDF5 datasets, JSON, plots), provenance (times, hosts) apart.
    assert main(["diff", str(tmp / "alias"), str(tmp / "wlcnn")]) == 0
    with h5py.File(tmp / "alias" / "s.h5") as a, h5py.File(tmp / "wlcnn" / "s.h5") as b:
        assert np.array_equal(a["predictions"][()], b["predictions"][()])
    # The blinded run differs: the comparison can fail.
    assert main(["diff", str(tmp / "alias" / "res"), str(tmp / "blind" / "res")]) == 1


def test_summary_alias_and_subcommand_print_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    config = str(REPO / "config" / "demo.yaml")
    assert summary_main([config]) == 0
    alias = capsys.readouterr().out
    assert main(["summary", config]) == 0
    assert capsys.readouterr().out == alias and alias.startswith("run '")


def test_training_alias_and_subcommand_refuse_the_same_bad_map_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_maps = tmp_path / "maps.h5"
    not_maps.write_text("not an HDF5 file")
    args = ["--config", str(REPO / "config" / "demo.yaml"), "--network", "tiny", "--maps", str(not_maps)]
    assert training_main([*args, "--out", str(tmp_path / "alias")]) == BAD_INPUT
    alias = capsys.readouterr().err.strip().splitlines()[-1]
    assert main(["train", *args, "--out", str(tmp_path / "wlcnn")]) == BAD_INPUT
    wlcnn = capsys.readouterr().err.strip().splitlines()[-1]
    assert alias.split(": error: ", 1)[1] == wlcnn.split(": error: ", 1)[1]
    assert str(not_maps) in wlcnn
    assert _files_in(tmp_path) == {"maps.h5"}


# --- unblind ---------------------------------------------------------------------------------


def _unblind(analyses: dict[str, Path], results: Path, *extra: str) -> int:
    common = ["--config", str(analyses["blind"]), "--base-dir", str(REPO), "--results", str(results)]
    return main(["unblind", *common, "--by", "ci", *extra])


def test_unblind_refuses_without_confirmation(
    analyses: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    results = analyses["tmp"] / "blind" / "res"
    before = _files_in(results)
    assert _unblind(analyses, results, "--reason", "frozen") == BAD_INPUT
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(results) in err and "--confirm" in err and "expected --confirm" in err
    assert "cannot be undone" in err and "found no --confirm" in err
    assert _files_in(results) == before  # nothing written, no hidden temporaries
    # A blank reason is refused too, before anything is written.
    assert _unblind(analyses, results, "--reason", "  ", "--confirm") == BAD_INPUT
    assert "--reason: expected a non-blank reason" in capsys.readouterr().err
    assert _files_in(results) == before


def test_unblind_refuses_results_that_are_not_blinded(
    analyses: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    results = analyses["tmp"] / "wlcnn" / "res"
    before = _files_in(results)
    assert _unblind(analyses, results, "--reason", "frozen", "--confirm") == BAD_INPUT
    err = capsys.readouterr().err
    assert (
        str(results / "constraints.json") in err and "blinded: expected true" in err and "found False" in err
    )
    assert _files_in(results) == before


def test_confirmed_unblinding_recovers_the_clear_analysis(
    analyses: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp = analyses["tmp"]
    results = tmp / "blind" / "res"
    # the observed survey failed its E/B null test: unblinding says so first (and still proceeds)
    eb = tmp / "results" / "inference" / "eb_null" / "eb_null.json"
    eb.parent.mkdir(parents=True)
    eb.write_text(json.dumps({"passes": False, "chi2": 80.0, "dof": 8, "pte": 1e-13, "pte_threshold": 0.01}))
    assert _unblind(analyses, results, "--reason", "frozen", "--confirm") == 0
    err = capsys.readouterr().err
    assert "FAILED its E/B null test" in err and str(eb) in err and "flip_e1" in err
    record = json.loads((results / "unblinding.json").read_text())
    assert [r["by"] for r in record] == ["ci"] and record[0]["reason"] == "frozen"
    unblinded = json.loads((results / "unblinded" / "constraints.json").read_text())["rows"][0]
    clear = json.loads((tmp / "wlcnn" / "res" / "constraints.json").read_text())["rows"][0]
    # Same summaries and data: removing the offset gives the clear S8 (up to the shift's rounding).
    assert unblinded["blinded"] is False
    assert unblinded["s8"]["median"] == pytest.approx(clear["s8"]["median"], abs=1e-9)


# --- export-healpix --------------------------------------------------------------------------


def _nz(path: Path, mean: float, width: float) -> str:
    z = np.arange(0.0, 0.4, 0.005)
    np.savetxt(path, np.column_stack([z, np.exp(-0.5 * ((z + 0.0025 - mean) / width) ** 2)]), fmt="%.6f")
    return str(path)


@pytest.fixture(scope="module")
def healpix_map_file(nbody_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HEALPix-mode map file with full-sky maps, made by the maps stage from the .hpb fixture."""
    root = tmp_path_factory.mktemp("healpix_maps")
    spec = {
        "kind": "hpb",
        "prefix": str(nbody_fixtures / "pkdgrav3_N64_healpix" / "pkd_L128_N64"),
        "step_redshifts": str(nbody_fixtures / "reference" / "pkdgrav3_L128_N64_step_redshift.txt"),
        "box": BOX,
        "n_particles": N_1D**3,
        "cosmology_id": "c000",
        "simulation": "sim00",
        "output_redshifts": None,
    }
    shells = {
        "mode": "healpix",
        "source": "lightcone_healpix",
        "lightcone_edges": "steps",
        "nside": NSIDE,
        "n_realisations": 1,
        "patch_nside": 1,
        "n_pix": 16,
        "patch_size_deg": 5.0,
        "store_fullsky": True,
        "keep_shells": [],
    }
    lensing = {
        "nz_files": [_nz(root / "nz1.txt", 0.035, 0.008), _nz(root / "nz2.txt", 0.045, 0.005)],
        "z_source_max": 0.0533,
    }
    path = make_lightcone_maps(
        spec,
        out_path=root / "sim00.h5",
        cosmology=COSMOLOGY,
        shells_config=shells,
        lensing_config=lensing,
        role="test",
        base_seed=7,
    )
    assert path is not None
    return path


@pytest.mark.parametrize(("field", "bin_index"), [("kappa", 1), ("kappa_ia", 0)])
@pytest.mark.filterwarnings("error::astropy.io.fits.verify.VerifyWarning")
def test_export_healpix_round_trips_through_healpy(
    healpix_map_file: Path, tmp_path: Path, field: str, bin_index: int
) -> None:
    out = tmp_path / f"{field}.fits"
    args = ["export-healpix", str(healpix_map_file), str(out), "--field", field, "--bin", str(bin_index)]
    assert main(args) == 0
    with h5py.File(healpix_map_file) as fh:
        stored = fh[f"healpix/{field}"][0, bin_index]
    read = hp.read_map(out, dtype=None)
    assert read.dtype.newbyteorder("=") == np.float32 and read.shape == (hp.nside2npix(NSIDE),)
    assert np.array_equal(read, stored) and stored.std() > 0
    header = dict(hp.read_map(out, h=True, dtype=None)[1])
    assert header["ORDERING"] == "RING" and header["NSIDE"] == NSIDE
    assert (header["WLFIELD"], header["WLBIN"], header["WLREAL"]) == (field, bin_index, 0)
    record = read_provenance(out)
    assert record["step"] == "export_healpix" and "seal" in record
    assert record["inputs"][0]["sha256"] == file_checksum(healpix_map_file)
    assert _files_in(tmp_path) == {out.name}


def _patch_map_file(path: Path) -> Path:
    """A small patch-mode (pencil-beam) map file written by the maps stage's writer."""
    n_pix, n_bins, n_real = 8, 2, 2
    attrs = {
        "mode": "pencil_beam",
        "role": "test",
        "cosmology_id": "c000",
        "simulation": "sim00",
        "n_realisations": n_real,
        "n_bins": n_bins,
        "n_shells": 1,
        "n_pix": n_pix,
        "patch_size_deg": 5.0,
    }
    kappa = np.random.default_rng(1).normal(size=(n_real, n_bins, n_pix, n_pix)).astype(np.float32)
    with MapFileWriter(
        path,
        attrs=attrs,
        n_realisations=n_real,
        n_bins=n_bins,
        n_shells=1,
        n_pix=n_pix,
        born=True,
        keep_shells=False,
    ) as writer:
        writer.write_block(0, kappa=kappa, kappa_ia=kappa)
    return path


def test_export_healpix_refuses_a_patch_mode_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    maps = _patch_map_file(tmp_path / "patches.h5")
    out = tmp_path / "out" / "kappa.fits"
    out.parent.mkdir()
    assert main(["export-healpix", str(maps), str(out)]) == BAD_INPUT
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(maps) in err and "mode: expected 'healpix'" in err and "found 'pencil_beam'" in err
    assert _files_in(tmp_path / "out") == set()


def test_export_healpix_refuses_a_bin_out_of_range(
    healpix_map_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kappa.fits"
    assert main(["export-healpix", str(healpix_map_file), str(out), "--bin", "2"]) == BAD_INPUT
    err = capsys.readouterr().err
    assert str(healpix_map_file) in err and "healpix/kappa (bin)" in err
    assert "expected a tomographic bin in 0 ... 1, found 2" in err
    assert _files_in(tmp_path) == set()


def test_readme_command_line_section_names_every_command() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in _all_commands() if f"`{name}" not in section]
    assert missing == []
    assert "python -m wlcnn.summary" not in (REPO / "scripts" / "demo.sh").read_text()
