"""Issue 17 mock declarations: cosmology.mock_overrides (another H0), survey.mock.ray_traced."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from wlcnn.config import ConfigError, fixed_parameters, load_config, validate_config
from wlcnn.cosmology import make_cosmology
from wlcnn.ingest import ingest_simulation
from wlcnn.io import open_snapshot
from wlcnn.io.canonical import CosmologyMismatchError
from wlcnn.nbody import write_pm_outputs

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "config" / "demo.yaml"
H0_MOCK = "mock01"
MOCK_H = 0.74
#: A tiny PM run: 16^3 particles, two outputs.
N_1D, BOX, Z_INIT, REDSHIFTS, N_STEPS = 16, 64.0, 10.0, [1.0, 0.5], 3


@pytest.fixture
def demo() -> dict[str, Any]:
    return load_config(DEMO)


def _problems(cfg: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, source="demo.yaml", base_dir=REPO)
    return str(info.value)


def test_demo_declares_an_h0_mock_and_a_ray_traced_mock(demo: dict[str, Any]) -> None:
    validate_config(demo, source="demo.yaml", base_dir=REPO)
    assert fixed_parameters(demo, H0_MOCK)["h"] == MOCK_H
    # every other parameter, and every other cosmology, keeps cosmology.fixed
    fixed = demo["cosmology"]["fixed"]
    assert fixed["h"] != MOCK_H
    assert {k: v for k, v in fixed_parameters(demo, H0_MOCK).items() if k != "h"} == {
        k: v for k, v in fixed.items() if k != "h"
    }
    assert fixed_parameters(demo, "c000") == fixed
    assert demo["survey"]["mock"]["ray_traced"] == ["mock00_sim00"]


@pytest.mark.parametrize(
    ("edit", "field", "expected", "found"),
    [
        (
            lambda c: c["cosmology"]["mock_overrides"].update(c000={"h": 0.7}),
            "cosmology.mock_overrides.c000",
            "only 'mock' simulations",
            "'c000'",
        ),
        (
            lambda c: c["cosmology"]["mock_overrides"].update(nosuch={"h": 0.7}),
            "cosmology.mock_overrides.nosuch",
            "only 'mock' simulations",
            "'nosuch'",
        ),
        (
            lambda c: c["survey"]["mock"].update(ray_traced=["mock07_sim00"]),
            "survey.mock.ray_traced",
            "mock simulations of config/grids/demo.csv",
            "'mock07_sim00'",
        ),
        (
            lambda c: c["shells"].update(keep_shells=["test"]),
            "shells.keep_shells",
            "'mock' among the roles",
            "['test']",
        ),
        (
            lambda c: c["cosmology"]["mock_overrides"][H0_MOCK].update(h=1.5),
            "cosmology.mock_overrides.mock01.h",
            "<= 1.0",
            "1.5",
        ),
        (
            lambda c: c["cosmology"]["mock_overrides"][H0_MOCK].update(w0=-0.9),
            "cosmology.mock_overrides.mock01",
            "w0",
            "w0",
        ),
    ],
)
def test_bad_mock_declarations_are_refused(
    demo: dict[str, Any], edit: Any, field: str, expected: str, found: str
) -> None:
    """Each message names the file, the field, what was expected and what was found."""
    cfg = copy.deepcopy(demo)
    edit(cfg)
    message = _problems(cfg)
    assert "demo.yaml" in message
    assert field in message and expected in message and found in message, message


def test_h_override_reaches_the_snapshot_header_and_ingestion(demo: dict[str, Any], tmp_path: Path) -> None:
    """The mock PM code writes the overridden h; ingestion checks the header against it."""
    om, s8 = 0.3, 0.75  # the demo grid's mock01
    params = {"omega_m": om, "sigma8": s8, **fixed_parameters(demo, H0_MOCK)}
    cosmo = make_cosmology(
        omega_m=om, sigma8=s8, omega_b=params["omega_b"], h=params["h"], n_s=params["n_s"], radiation=False
    )
    raw = tmp_path / "raw"
    files = write_pm_outputs(
        cosmo=cosmo,
        n_particles_1d=N_1D,
        box=BOX,
        z_init=Z_INIT,
        output_redshifts=REDSHIFTS,
        n_steps=N_STEPS,
        seed=1,
        out_dir=raw,
    )
    assert open_snapshot(files[0]).header.hubble == pytest.approx(MOCK_H, rel=1e-12)
    kwargs = {
        "requested_redshifts": REDSHIFTS,
        "redshift_tolerance": 1e-6,
        "chunk_size": 4096,
        "reader_options": {"box": BOX},
    }
    out = tmp_path / "ingested"
    outputs = [out / f"snapshot_{i:03d}.h5" for i in range(len(files))]
    manifest = ingest_simulation(files, outputs, out / "manifest.json", cosmology=params, **kwargs)
    assert manifest["cosmology"]["h"] == MOCK_H
    # the same snapshots ingested as if they had the fixed cosmology's h: refused, nothing written
    wrong = tmp_path / "wrong"
    fixed = {"omega_m": om, "sigma8": s8, **demo["cosmology"]["fixed"]}
    with pytest.raises(CosmologyMismatchError) as info:
        ingest_simulation(
            files, [wrong / p.name for p in outputs], wrong / "manifest.json", cosmology=fixed, **kwargs
        )
    message = str(info.value)
    assert str(files[0]) in message and "header h" in message
    assert str(demo["cosmology"]["fixed"]["h"]) in message and str(MOCK_H) in message
    assert not wrong.exists() or not any(wrong.rglob("*"))
