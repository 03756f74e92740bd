import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from wlcnn.config import ConfigError, load_config, output_redshifts, validate_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml"])
def test_shipped_configs_are_valid(name):
    cfg = load_config(REPO / "config" / name, base_dir=REPO)
    assert cfg["run"]["name"]


def test_paper_defaults_carry_the_spec_numbers():
    cfg = load_config(REPO / "config" / "config.yaml", base_dir=REPO)
    assert cfg["cosmology"]["fixed"] == {"omega_b": 0.0493, "h": 0.6736, "n_s": 0.9649}
    assert cfg["cosmology"]["prior"] == {"omega_m": [0.1, 0.5], "sigma8": [0.4, 1.4]}
    sims = cfg["simulations"]
    assert (
        sims["n_particles_1d"],
        sims["box_size"],
        sims["box_unit"],
        sims["z_initial"],
        sims["n_steps"],
    ) == (256, 500, "Mpc", 50, 500)
    survey = cfg["survey"]
    assert survey["zb_edges"] == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert survey["multiplicative_bias"] == [-0.015, -0.011, -0.010, -0.020]
    assert (survey["sigma_e"], survey["n_eff_arcmin2"], survey["n_patches"]) == (0.29, 8.53, 20)
    assert cfg["training"]["learning_rate"] == 5e-6
    assert cfg["inference"]["n_a_ia"] == 25


def test_paper_output_redshifts():
    # SPEC §1: 51 snapshots, dz = 0.1 for z > 1.55 (3.45 ... 1.55), dz = 0.05 below, down to 0.
    z = output_redshifts({"z_max": 3.45, "z_switch": 1.55, "dz_high": 0.1, "dz_low": 0.05})
    expected = np.concatenate([np.arange(345, 154, -10), np.arange(150, -1, -5)]) / 100
    assert len(z) == 51
    np.testing.assert_allclose(z, expected, atol=1e-12)


def _problems(cfg) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_config(cfg, source="test.yaml", base_dir=REPO)
    assert "test.yaml" in str(info.value)
    return info.value.problems


def test_misspelt_key_is_rejected_with_suggestion(demo):
    bad = copy.deepcopy(demo)
    bad["ingest"]["chunk_sise"] = bad["ingest"].pop("chunk_size")
    problems = _problems(bad)
    assert any("ingest: unknown key 'chunk_sise'" in p and "did you mean 'chunk_size'" in p for p in problems)
    assert any("chunk_size" in p and "required" in p for p in problems)


def test_wrong_type_and_range_and_enum_name_the_key_and_allowed_values(demo):
    bad = copy.deepcopy(demo)
    bad["simulations"]["n_particles_1d"] = "32"
    bad["cosmology"]["fixed"]["h"] = 3.0
    bad["simulations"]["code"] = "pkdgrav"
    problems = "\n".join(_problems(bad))
    assert "simulations.n_particles_1d: expected integer, found str '32'" in problems
    assert "cosmology.fixed.h: 3.0 out of range; allowed: <= 1.0" in problems
    assert "simulations.code: 'pkdgrav' is not allowed; allowed values: ['pkdgrav3'" in problems


def test_every_problem_is_reported_at_once(demo):
    bad = copy.deepcopy(demo)
    bad["run"]["seed"] = -1
    bad["typo_section"] = {}
    assert len(_problems(bad)) == 2


def test_semantic_checks(demo):
    bad = copy.deepcopy(demo)
    bad["cosmology"]["prior"]["omega_m"] = [0.5, 0.1]
    assert any("low < high" in p for p in _problems(bad))
    bad = copy.deepcopy(demo)
    bad["survey"] = {"zb_edges": [0.1, 0.3, 0.5], "multiplicative_bias": [0.0]}
    assert any("survey.multiplicative_bias: expected 2 values" in p for p in _problems(bad))
    bad = copy.deepcopy(demo)
    bad["simulations"]["code"] = "gadget2"
    assert any("simulations.directory: required" in p for p in _problems(bad))
    bad = copy.deepcopy(demo)
    bad["simulations"]["z_initial"] = 1.0
    assert any("z_initial" in p for p in _problems(bad))
    bad = copy.deepcopy(demo)
    bad["cosmology"]["grid"] = "config/grids/missing.csv"
    assert any("missing.csv does not exist" in p for p in _problems(bad))


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("run: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        load_config(path)


def test_shells_thicker_than_the_box_are_refused(demo):
    # Replicas would repeat structures along the line of sight: the demo's old dz = 0.2 shells
    # (449 Mpc/h at z 0.6-0.8 for Omega_m = 0.2) in a 256 Mpc/h box.
    cfg = copy.deepcopy(demo)
    cfg["simulations"]["output_redshifts"] = {"z_max": 1.4, "z_switch": 0.6, "dz_high": 0.2, "dz_low": 0.1}
    (problem,) = _problems(cfg)
    assert "thicker than the 256.0 Mpc/h box" in problem and "z 0.600-0.800: 449 Mpc/h" in problem
    assert "z 1.200-1.400" in problem and "output_redshifts" in problem
    cfg["simulations"]["box_size"] = 512  # a bigger box holds the same shells
    validate_config(cfg, source="test.yaml", base_dir=REPO)
