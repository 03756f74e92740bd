"""Damaged data files (Issue 11, item 4): each gets a domain error naming file, field, expected, found.

Every damaged file is built from a real one written by the project's own writers (a catalogue
the survey tests also use, map files from :class:`~wlcnn.maps.mapfile.MapFileWriter`, summaries
and data vectors from ``python -m wlcnn.inference``, a model saved by Keras) and then broken in
one way. Each case asserts the exception type (library) or exit status 2 (command line), that
the message names the file, the field, what was expected and what was found, and that nothing
(not even a hidden temporary) is left where the output would have gone.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from tests.survey.test_catalogue import _grid_catalogue, _settings, _write_fits
from wlcnn.maps.mapfile import (
    MapFileContentError,
    MapFileWriter,
    check_consistent_map_files,
    read_map_attrs,
)
from wlcnn.survey.catalogue import CatalogueError
from wlcnn.survey.shear_maps import build_patch_maps

REPO = Path(__file__).resolve().parents[1]
TOY = "wlcnn.inference.toy"
#: Exit status of the command lines for a bad input file.
EXIT_BAD_INPUT = 2
#: Surveys per grid value of the real summaries (more than the 4 toy outputs: invertible Ŝ).
N_SURVEYS = 8


def _assert_message(message: str, *, path: Path | str, field: str, expected: str, found: str) -> None:
    """The message names the file, the field, what was expected and what was found."""
    assert str(path) in message, message
    assert field in message, message
    assert "expected" in message and expected in message, message
    assert "found" in message and found in message, message
    assert "Traceback" not in message


def _entries(directory: Path) -> list[str]:
    """Everything under ``directory``, hidden files included (sorted relative paths)."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# --------------------------------------------------------------------------------------------
# Shear catalogues
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueCase:
    damage: Callable[[dict[str, np.ndarray]], None]
    field: str
    expected: str
    found: str


def _set(name: str, values: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict[str, np.ndarray]], None]:
    def damage(cols: dict[str, np.ndarray]) -> None:
        cols[name] = values(cols[name])

    return damage


def _radians(cols: dict[str, np.ndarray]) -> None:
    cols["RAJ2000"] = np.radians(cols["RAJ2000"])
    cols["DECJ2000"] = np.radians(cols["DECJ2000"])


def _all_e_nan(cols: dict[str, np.ndarray]) -> None:
    cols["e1"] = np.full_like(cols["e1"], np.nan)
    cols["e2"] = np.full_like(cols["e2"], np.nan)


CATALOGUE_CASES = {
    "all weights zero": CatalogueCase(
        _set("weight", np.zeros_like), "'weight'", "at least one usable galaxy", "'zero_weight'"
    ),
    "all weights negative": CatalogueCase(
        _set("weight", lambda w: -w), "'weight'", "at least one usable galaxy", "'negative_weight'"
    ),
    "all e1/e2 NaN": CatalogueCase(_all_e_nan, "'e1'", "at least one usable galaxy", "'non_finite_e1'"),
    "all |e| >= 1": CatalogueCase(
        _set("e1", lambda e: np.full_like(e, 1.5)), "'e1/e2'", "at least one usable galaxy", "'abs_e_ge_1'"
    ),
    "RA/Dec in radians": CatalogueCase(
        _radians, "'RAJ2000/DECJ2000'", "positions in degrees inside the survey footprint", "radians"
    ),
    "Z_B outside every bin": CatalogueCase(
        _set("Z_B", lambda z: np.full_like(z, 3.0)), "Z_B", "galaxies inside the patches", "none of"
    ),
    "missing column": CatalogueCase(
        lambda cols: cols.pop("e2"), "'e2'", "this column to exist", "columns ['DECJ2000'"
    ),
    "text column": CatalogueCase(
        _set("weight", lambda w: np.array(["heavy"] * len(w))), "'weight'", "a numeric column", "dtype <U"
    ),
}


@pytest.mark.parametrize("case", list(CATALOGUE_CASES), ids=list(CATALOGUE_CASES))
def test_catalogue_without_usable_galaxies_is_refused(case: str, tmp_path: Path) -> None:
    spec = CATALOGUE_CASES[case]
    cols = _grid_catalogue(np.random.default_rng(11))
    spec.damage(cols)
    catalogue = _write_fits(tmp_path / "catalogue.fits", cols)
    out_dir = tmp_path / "maps"
    out_dir.mkdir()
    with pytest.raises(CatalogueError) as info:
        build_patch_maps([catalogue], settings=_settings(), out_path=out_dir / "patch_maps.h5")
    _assert_message(
        str(info.value), path=catalogue, field=spec.field, expected=spec.expected, found=spec.found
    )
    assert _entries(out_dir) == []


def test_undamaged_catalogue_still_builds_maps(tmp_path: Path) -> None:
    """The control: the same catalogue, undamaged, gives maps (so the cases above test the damage)."""
    catalogue = _write_fits(tmp_path / "catalogue.fits", _grid_catalogue(np.random.default_rng(11)))
    maps = build_patch_maps([catalogue], settings=_settings(), out_path=tmp_path / "patch_maps.h5")
    assert maps.mask.any() and (tmp_path / "patch_maps.h5").is_file()


def _drop_dataset(name: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with h5py.File(path, "r+") as fh:
            del fh[name]

    return damage


def _set_root_attr(name: str, value: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with h5py.File(path, "r+") as fh:
            fh.attrs[name] = value

    return damage


PATCH_MAPS_CASES = {
    # the lambda defers the lookup: _truncate is defined further down
    "patch maps truncated": (lambda p: _truncate(p), "file", "a complete HDF5 file", "truncated"),  # noqa: PLW0108
    "patch maps without noise": (
        _drop_dataset("noise/pixel_index"),
        "noise/pixel_index",
        "this dataset",
        "no such dataset",
    ),
    "patch maps of another format": (
        _set_root_attr("format", "wlcnn.maps"),
        "format",
        "'wlcnn.survey_maps' version 1",
        "'wlcnn.maps' version 1",
    ),
    "patch maps with a broken table": (
        _set_root_attr("selection_table", "{"),
        "selection_table",
        "JSON text",
        "Expecting property name",
    ),
}


@pytest.mark.parametrize("case", list(PATCH_MAPS_CASES), ids=list(PATCH_MAPS_CASES))
def test_damaged_patch_maps_are_named(case: str, tmp_path: Path) -> None:
    from wlcnn.survey.shear_maps import read_patch_maps

    damage, field, expected, found = PATCH_MAPS_CASES[case]
    catalogue = _write_fits(tmp_path / "catalogue.fits", _grid_catalogue(np.random.default_rng(11)))
    maps = tmp_path / "patch_maps.h5"
    build_patch_maps([catalogue], settings=_settings(), out_path=maps)
    damage(maps)
    before = _entries(tmp_path)
    with pytest.raises(MapFileContentError) as info:
        read_patch_maps(maps)
    _assert_message(str(info.value), path=maps, field=field, expected=expected, found=found)
    assert _entries(tmp_path) == before


# --------------------------------------------------------------------------------------------
# Test-set map files
# --------------------------------------------------------------------------------------------

MAP_PIX = 8
MAP_BINS = 2
MAP_SHELLS = 3
Z_EDGES = np.array([0.0, 0.3, 0.6, 0.9])


def _write_map_file(
    path: Path,
    *,
    z_edges: np.ndarray = Z_EDGES,
    n_pix: int = MAP_PIX,
    n_bins: int = MAP_BINS,
    omega_m: float = 0.3,
    patch_size_deg: float = 5.0,
) -> Path:
    """A small test-simulation map file with kept shells, written by the maps stage's writer."""
    n_shells = len(z_edges) - 1
    attrs = {
        "mode": "pencil_beam",
        "role": "test",
        "cosmology_id": "c000",
        "simulation": path.stem,
        "cosmology": {"omega_m": omega_m, "sigma8": 0.8},
        "n_realisations": 2,
        "n_bins": n_bins,
        "n_shells": n_shells,
        "n_pix": n_pix,
        "patch_size_deg": patch_size_deg,
    }
    with MapFileWriter(
        path,
        attrs=attrs,
        n_realisations=2,
        n_bins=n_bins,
        n_shells=n_shells,
        n_pix=n_pix,
        born=False,
        keep_shells=True,
    ) as writer:
        writer.write_static("shells/z_near", z_edges[:-1])
        writer.write_static("shells/z_far", z_edges[1:])
        delta = np.random.default_rng(3).normal(size=(2, n_shells, n_pix, n_pix)).astype(np.float32)
        writer.write_block(0, shells__delta=delta)
    return path


def _shifted_edges_like(path: Path, **geometry: int) -> Path:
    """A map file whose first shell ends at z = 0.35 instead of 0.3."""
    return _write_map_file(path, z_edges=Z_EDGES + np.array([0.0, 0.05, 0.0, 0.0]), **geometry)


def _shifted_edges(path: Path) -> Path:
    return _shifted_edges_like(path)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_z_far(path: Path) -> Path:
    _write_map_file(path)
    with h5py.File(path, "r+") as fh:
        del fh["shells/z_far"]
    return path


def _bad_json(path: Path) -> Path:
    _write_map_file(path)
    with h5py.File(path, "r+") as fh:
        fh.attrs["cosmology"] = '{"omega_m": 0.3,'
    return path


@dataclass(frozen=True)
class MapCase:
    write_second: Callable[[Path], Path | None]
    field: str
    expected: str
    found: str
    names_first: bool = True


MAP_CASES = {
    "shell edges differ": MapCase(
        _shifted_edges, "shells/z_near", "shell 0 from z = 0 to 0.3", "z = 0 to 0.35"
    ),
    "shell count differs": MapCase(lambda p: _write_map_file(p, z_edges=Z_EDGES[:-1]), "n_shells", "3", "2"),
    "n_pix differs": MapCase(lambda p: _write_map_file(p, n_pix=2 * MAP_PIX), "n_pix", "8", "16"),
    "patch size differs": MapCase(
        lambda p: _write_map_file(p, patch_size_deg=3.5), "patch_size_deg", "5.0", "3.5"
    ),
    "cosmology differs": MapCase(lambda p: _write_map_file(p, omega_m=0.25), "cosmology", "0.3", "0.25"),
    "truncated file": MapCase(
        lambda p: _truncate(_write_map_file(p)), "file", "a complete HDF5 map file", "truncated", False
    ),
    "no shells/z_far": MapCase(_drop_z_far, "shells/z_far", "this dataset", "no such dataset", False),
    "attribute not JSON": MapCase(_bad_json, "cosmology", "JSON text", "omega_m", False),
}


@pytest.mark.parametrize("case", list(MAP_CASES), ids=list(MAP_CASES))
def test_test_set_map_files_that_disagree_are_refused(case: str, tmp_path: Path) -> None:
    spec = MAP_CASES[case]
    first = _write_map_file(tmp_path / "sim00.h5")
    second = tmp_path / "sim01.h5"
    spec.write_second(second)
    before = _entries(tmp_path)
    with pytest.raises(MapFileContentError) as info:
        check_consistent_map_files([first, second], same_cosmology=True)
    message = str(info.value)
    _assert_message(message, path=second, field=spec.field, expected=spec.expected, found=spec.found)
    if spec.names_first:
        assert str(first) in message and info.value.other == first
    assert _entries(tmp_path) == before


def test_consistent_map_files_give_the_shared_edges(tmp_path: Path) -> None:
    files = [_write_map_file(tmp_path / f"sim{i:02d}.h5") for i in range(2)]
    first = check_consistent_map_files(files, same_cosmology=True)
    np.testing.assert_array_equal(first["z_edges"], np.column_stack([Z_EDGES[:-1], Z_EDGES[1:]]))


@pytest.fixture(scope="module")
def demo_patch_maps(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Path]:
    """The demo configuration and real patch maps of its survey (a catalogue on a pixel grid)."""
    from wlcnn.survey.patches import inverse_gnomonic, pixel_centres
    from wlcnn.survey.settings import SurveySettings

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    settings = SurveySettings.from_config(config, base_dir=REPO)
    tmp = tmp_path_factory.mktemp("patch_maps")
    every = 8  # one galaxy per 8 x 8 pixels is plenty for the geometry
    xc = pixel_centres(n_pix=settings.n_pix, patch_size_deg=settings.patch_size_deg)[::every]
    y, x = np.meshgrid(xc, xc, indexing="ij")
    positions = [
        inverse_gnomonic(x.ravel(), y.ravel(), centre=c) for c in np.reshape(settings.patch_centres, (-1, 2))
    ]
    ra = np.concatenate([p[0] for p in positions])
    dec = np.concatenate([p[1] for p in positions])
    rng = np.random.default_rng(5)
    edges = np.asarray(settings.zb_edges)
    z_mid = 0.5 * (edges[1:] + edges[:-1])
    cm = settings.columns
    cols = {
        cm.ra: ra,
        cm.dec: dec,
        cm.e1: rng.normal(0.0, 0.2, ra.size),
        cm.e2: rng.normal(0.0, 0.2, ra.size),
        cm.weight: np.ones(ra.size),
        cm.z_b: z_mid[np.arange(ra.size) % len(z_mid)],
    }
    if cm.m is not None:
        cols[cm.m] = np.zeros(ra.size)
    catalogue = _write_fits(tmp / "catalogue.fits", cols)
    maps = tmp / "patch_maps.h5"
    build_patch_maps([catalogue], settings=settings, out_path=maps)
    return config, maps


def test_simulated_surveys_refuse_test_files_with_other_shells(
    demo_patch_maps: tuple[dict[str, object], Path], tmp_path: Path
) -> None:
    """The test-set reader of the inference stage no longer uses the first file's edges for all."""
    from wlcnn.inference.survey_sets import SimulatedSurveys

    config, patch_maps = demo_patch_maps
    survey = config["survey"]
    geometry = {"n_pix": survey["n_pix"], "n_bins": len(survey["zb_edges"]) - 1}
    first = _write_map_file(tmp_path / "sim00.h5", **geometry)
    second = _shifted_edges_like(tmp_path / "sim01.h5", **geometry)
    with pytest.raises(MapFileContentError) as info:
        SimulatedSurveys(map_files=[first, second], config=config, patch_maps_path=patch_maps, a_ia=0.0)
    _assert_message(str(info.value), path=second, field="shells/z_near", expected="shell 0", found="0.35")
    assert str(first) in str(info.value)
    # The control: two files of one shell plan are accepted.
    same = _write_map_file(tmp_path / "sim02.h5", **geometry)
    surveys = SimulatedSurveys(map_files=[first, same], config=config, patch_maps_path=patch_maps, a_ia=0.0)
    np.testing.assert_array_equal(surveys.z_edges[:, 0], Z_EDGES[:-1])
    assert _entries(tmp_path) == ["sim00.h5", "sim01.h5", "sim02.h5"]


def test_simulated_surveys_refuse_maps_of_another_patch_size(
    demo_patch_maps: tuple[dict[str, object], Path], tmp_path: Path
) -> None:
    from wlcnn.inference.survey_sets import SimulatedSurveys

    config, patch_maps = demo_patch_maps
    maps = _write_map_file(tmp_path / "sim00.h5", n_bins=len(config["survey"]["zb_edges"]) - 1)
    with pytest.raises(MapFileContentError) as info:
        SimulatedSurveys(map_files=[maps], config=config, patch_maps_path=patch_maps, a_ia=0.0)
    n_pix = config["survey"]["n_pix"]
    _assert_message(str(info.value), path=maps, field="n_pix", expected=f"{n_pix} as in", found=f"{MAP_PIX}")
    assert str(patch_maps) in str(info.value)


def test_training_cli_names_a_truncated_map_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wlcnn.training.cli import main

    maps = _write_map_file(tmp_path / "sim00.h5")
    _truncate(maps)
    out = tmp_path / "training"
    argv = ["--config", str(REPO / "config" / "demo.yaml"), "--network", "tiny", "--maps", str(maps)]
    assert main([*argv, "--out", str(out)]) == EXIT_BAD_INPUT
    _assert_message(
        capsys.readouterr().err, path=maps, field="file", expected="a complete HDF5", found="truncated"
    )
    assert not out.exists()
    assert _entries(tmp_path) == ["sim00.h5"]
    with pytest.raises(MapFileContentError):
        read_map_attrs(maps)


# --------------------------------------------------------------------------------------------
# Summaries and data vectors (python -m wlcnn.inference constrain)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inference_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real summaries and data vector of the toy statistic, and the config to constrain them."""
    from wlcnn.inference.cli import main

    tmp = tmp_path_factory.mktemp("inference")
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["run"]["output_dir"] = str(tmp / "results")
    cfg["inference"].update(n_surveys=N_SURVEYS, n_a_ia=3, blind=False)
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    common = ["--config", str(config), "--base-dir", str(REPO), "--label", "toy"]
    summaries, data = tmp / "summaries.h5", tmp / "data.h5"
    predictor = ["--predictor", f"{TOY}:predictor_factory"]
    assert (
        main(
            ["summaries", *common, *predictor, "--surveys", f"{TOY}:survey_factory", "--out", str(summaries)]
        )
        == 0
    )
    assert (
        main(["data", *common, *predictor, "--observation", f"{TOY}:observation_factory", "--out", str(data)])
        == 0
    )
    return {"config": config, "summaries": summaries, "data": data}


def _replace_dataset(name: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[h5py.File], None]:
    def damage(f: h5py.File) -> None:
        values = change(f[name][()].copy())
        del f[name]
        f[name] = values

    return damage


def _set_entry(index: tuple[int, ...], value: float) -> Callable[[np.ndarray], np.ndarray]:
    def change(values: np.ndarray) -> np.ndarray:
        values[index] = value
        return values

    return change


def _constant_outputs(values: np.ndarray) -> np.ndarray:
    values[2, 1] = values[2, 1, 0]  # every survey of one grid value identical: singular Ŝ
    return values


def _del_attr(name: str) -> Callable[[h5py.File], None]:
    def damage(f: h5py.File) -> None:
        del f.attrs[name]

    return damage


def _set_attr(name: str, value: str) -> Callable[[h5py.File], None]:
    def damage(f: h5py.File) -> None:
        f.attrs[name] = value

    return damage


def _few_surveys(f: h5py.File) -> None:
    for name in ("predictions", "seeds"):
        values = f[name][()][:, :, :3]  # 3 surveys for 4 outputs: no invertible covariance
        del f[name]
        f[name] = values


def _shorter_data(f: h5py.File) -> None:
    f.attrs["output_names"] = json.dumps(json.loads(f.attrs["output_names"])[:3])
    values = f["data"][()][:3]
    del f["data"]
    f["data"] = values


@dataclass(frozen=True)
class InferenceCase:
    which: str  # "summaries" or "data": the file that is damaged
    damage: Callable[[h5py.File], None] | str  # or "truncate" / "missing"
    field: str
    expected: str
    found: str


INFERENCE_CASES = {
    "summaries truncated": InferenceCase(
        "summaries", "truncate", "file", "a complete HDF5 file", "truncated"
    ),
    "data vector truncated": InferenceCase("data", "truncate", "file", "a complete HDF5 file", "truncated"),
    "summaries missing": InferenceCase(
        "summaries", "missing", "file", "an existing HDF5 file", "no such file"
    ),
    "no predictions dataset": InferenceCase(
        "summaries", lambda f: f.__delitem__("predictions"), "predictions", "this dataset", "datasets ["
    ),
    "no data dataset": InferenceCase(
        "data", lambda f: f.__delitem__("data"), "data", "this dataset", "datasets []"
    ),
    "no output_names attribute": InferenceCase(
        "summaries", _del_attr("output_names"), "attrs/output_names", "this attribute", "attributes ["
    ),
    "output_names not JSON": InferenceCase(
        "data", _set_attr("output_names", "[t0, t1"), "attrs/output_names", "JSON text", "'[t0, t1'"
    ),
    "wrong schema": InferenceCase(
        "summaries", _set_attr("schema", "wlcnn.summaries/0"), "attrs/schema", "'wlcnn.summaries/1'", "/0'"
    ),
    "NaN in the data vector": InferenceCase(
        "data", _replace_dataset("data", _set_entry((1,), np.nan)), "data", "finite entries", "nan at entry 1"
    ),
    "inf in a prediction": InferenceCase(
        "summaries",
        _replace_dataset("predictions", _set_entry((0, 1, 2, 3), np.inf)),
        "predictions",
        "finite predictions",
        "inf at cosmology",
    ),
    "seeds of the wrong shape": InferenceCase(
        "summaries", _replace_dataset("seeds", lambda s: s[:, :2]), "seeds", "shape (", "shape ("
    ),
    "data longer than its names": InferenceCase(
        "data",
        _replace_dataset("data", lambda d: np.append(d, 0.0)),
        "data",
        "one entry per output",
        "shape (5,)",
    ),
    "too few surveys for the covariance": InferenceCase(
        "summaries", _few_surveys, "predictions", "N > p = 4", "N = 3 surveys"
    ),
    "singular covariance": InferenceCase(
        "summaries",
        _replace_dataset("predictions", _constant_outputs),
        "predictions",
        "positive-definite",
        "singular",
    ),
    "data vector of another statistic": InferenceCase(
        "data", _shorter_data, "data", "4 entries like the summaries", "found 3"
    ),
}


@pytest.mark.parametrize("case", list(INFERENCE_CASES), ids=list(INFERENCE_CASES))
def test_constrain_refuses_bad_summaries_and_data_vectors(
    case: str, inference_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from wlcnn.inference.cli import main

    spec = INFERENCE_CASES[case]
    files = {"summaries": inference_files["summaries"], "data": inference_files["data"]}
    damaged = tmp_path / f"damaged_{spec.which}.h5"
    if spec.damage != "missing":
        shutil.copy(files[spec.which], damaged)
    if spec.damage == "truncate":
        _truncate(damaged)
    elif callable(spec.damage):
        with h5py.File(damaged, "r+") as f:
            spec.damage(f)
    files[spec.which] = damaged
    before = _entries(tmp_path)
    out = tmp_path / "results"
    status = main(
        [
            "constrain",
            "--config",
            str(inference_files["config"]),
            "--base-dir",
            str(REPO),
            "--summaries",
            str(files["summaries"]),
            "--data",
            str(files["data"]),
            "--label",
            "toy",
            "--out",
            str(out),
        ]
    )
    assert status == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    if spec.damage == "missing":  # refused by the argument parser, before any file is read
        assert "--summaries" in err and "expected an existing file" in err and str(damaged) in err, err
    else:
        assert len(err.strip().splitlines()) == 1, err
        _assert_message(err, path=damaged, field=spec.field, expected=spec.expected, found=spec.found)
    assert _entries(tmp_path) == before  # no results directory, no hidden temporary


def test_undamaged_summaries_and_data_are_read(inference_files: dict[str, Path]) -> None:
    from wlcnn.inference.summaries import read_data_vector, read_summaries

    summaries = read_summaries(inference_files["summaries"])
    data = read_data_vector(inference_files["data"])
    assert summaries.predictions.shape[2:] == (N_SURVEYS, 4) and data.data.shape == (4,)
    assert summaries.source == str(inference_files["summaries"])


def test_likelihood_refuses_a_nan_data_vector_given_in_memory(inference_files: dict[str, Path]) -> None:
    from wlcnn.inference.analysis import InferenceSettings, build_likelihood
    from wlcnn.inference.summaries import SummariesFileError, read_data_vector, read_summaries

    data = read_data_vector(inference_files["data"])
    data = type(data)(label="mock", data=np.array([0.1, np.nan, 0.2, 0.3]), output_names=data.output_names)
    settings = InferenceSettings.from_config(
        yaml.safe_load(inference_files["config"].read_text()), base_dir=REPO
    )
    with pytest.raises(SummariesFileError) as info:
        build_likelihood(summaries=read_summaries(inference_files["summaries"]), data=data, settings=settings)
    _assert_message(
        str(info.value), path="<data vector 'mock'>", field="data", expected="finite", found="nan at entry 1"
    )


# --------------------------------------------------------------------------------------------
# Trained-model files
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_config() -> dict[str, object]:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory, demo_config: dict[str, object]) -> Path:
    """A real exported model for the demo survey's patches (tiny preset)."""
    from wlcnn.training.networks import build_network, network_spec

    survey = demo_config["survey"]
    shape = (survey["n_pix"], survey["n_pix"], 3 * (len(survey["zb_edges"]) - 1))
    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_network(network_spec("tiny"), input_shape=shape, seed=1).save(path)
    return path


def _rewrite_archive(
    src: Path, dst: Path, *, drop: str = "", replace: tuple[str, bytes] | None = None
) -> None:
    with zipfile.ZipFile(src) as archive, zipfile.ZipFile(dst, "w") as out:
        for name in archive.namelist():
            if name == drop:
                continue
            out.writestr(name, replace[1] if replace and name == replace[0] else archive.read(name))


def _nan_weights(src: Path, dst: Path) -> None:
    import keras

    model = keras.models.load_model(src, compile=False)
    layer = model.get_layer("outputs")
    layer.set_weights([np.full_like(w, np.nan) for w in layer.get_weights()])
    model.save(dst)


def _other_patch_size(src: Path, dst: Path) -> None:
    from wlcnn.training.networks import build_network, network_spec

    build_network(network_spec("tiny"), input_shape=(16, 16, 12), seed=1).save(dst)


MODEL_CASES = {
    "truncated .keras": (
        lambda src, dst: dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2]),
        "file",
        "a .keras zip archive",
        "not a complete zip archive",
    ),
    "no weights member": (
        lambda src, dst: _rewrite_archive(src, dst, drop="model.weights.h5"),
        "model.weights.h5",
        "the weights member",
        "members ['metadata.json', 'config.json']",
    ),
    "config.json not JSON": (
        lambda src, dst: _rewrite_archive(src, dst, replace=("config.json", b"{broken")),
        "config.json",
        "JSON text",
        "{broken",
    ),
    "model for other patches": (
        _other_patch_size,
        "inputs",
        "patches of shape (128, 128, 12)",
        "(16, 16, 12)",
    ),
    "NaN predictions": (_nan_weights, "outputs", "finite predictions", "nan for output 'omega_m'"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES), ids=list(MODEL_CASES))
def test_bad_model_files_are_named(
    case: str, model_file: Path, demo_config: dict[str, object], tmp_path: Path
) -> None:
    from wlcnn.inference.predictors import make_predictor
    from wlcnn.training.export import ModelFileError

    damage, field, expected, found = MODEL_CASES[case]
    damaged = tmp_path / "model.keras"
    damage(model_file, damaged)
    before = _entries(tmp_path)
    survey = demo_config["survey"]
    patches = np.zeros((2, survey["n_pix"], survey["n_pix"], 3 * (len(survey["zb_edges"]) - 1)), np.float32)
    # the damage shows when the model is loaded, which may be at either call
    with pytest.raises(ModelFileError) as info:  # noqa: PT012
        predict, _ = make_predictor("cnn", config=demo_config, model_path=damaged)
        predict(patches)
    _assert_message(str(info.value), path=damaged, field=field, expected=expected, found=found)
    assert _entries(tmp_path) == before


def test_undamaged_model_predicts_finite_values(model_file: Path, demo_config: dict[str, object]) -> None:
    from wlcnn.inference.predictors import make_predictor

    survey = demo_config["survey"]
    predict, names = make_predictor("cnn", config=demo_config, model_path=model_file)
    out = predict(np.zeros((2, survey["n_pix"], survey["n_pix"], 12), np.float32))
    assert out.shape == (2, len(names)) and np.isfinite(out).all()
