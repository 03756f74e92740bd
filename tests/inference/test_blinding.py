"""Blinding: outputs shifted by the stored secret, warnings on plots, recorded unblinding."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

import wlcnn.inference.plots as plots_module
from tests.inference.toy_analysis import TRUTH, toy_inputs
from wlcnn.inference.analysis import (
    RESULT_FILES,
    UNBLINDED_DIR,
    UNBLINDING_RECORD,
    InferenceSettings,
    constrain,
    unblind,
)
from wlcnn.inference.blinding import load_or_create_secret
from wlcnn.inference.sampling import read_chain


def _settings(tmp_path, *, blind: bool) -> InferenceSettings:
    return InferenceSettings(
        base_seed=3,
        prior_box=((0.1, 0.5), (0.4, 1.4)),
        a_ia_range=(-6.0, 6.0),
        n_a_ia=5,
        n_surveys=60,
        n_patch_sets=1,
        batch_size=8,
        n_walkers=16,
        n_steps=700,
        n_burn=200,
        thin=1,
        grid_shape=(24, 24, 12),
        blind=blind,
        blinding_scales={"omega_m": 0.1, "sigma8": 0.15, "a_ia": 2.0},
        secret_path=tmp_path / "secret" / "blinding.json",
        published_s8=({"label": "published", "s8": 0.777, "plus": 0.038, "minus": 0.036},),
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("blind")
    summ, data = toy_inputs()
    figures: list = []
    original_close = plots_module.plt.close

    def capture(fig=None):
        figures.append(fig)
        original_close(fig)

    plots_module.plt.close = capture
    try:
        clear = constrain(
            summaries=summ,
            data=data,
            settings=_settings(tmp, blind=False),
            out_dir=tmp / "clear",
            label="toy",
            truth=TRUTH,
        )
        n_clear = len(figures)
        blinded = constrain(
            summaries=summ, data=data, settings=_settings(tmp, blind=True), out_dir=tmp / "blind", label="toy"
        )
        blind_figs = figures[n_clear:]
        clear_figs = figures[:n_clear]
    finally:
        plots_module.plt.close = original_close
    return {
        "tmp": tmp,
        "clear": clear,
        "blinded": blinded,
        "clear_figs": clear_figs,
        "blind_figs": blind_figs,
    }


def _texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.texts)


def test_secret_is_private_and_stable(runs: dict) -> None:
    path = runs["tmp"] / "secret" / "blinding.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not str(path).startswith(str(runs["tmp"] / "blind"))  # stored apart from the results
    first = load_or_create_secret(path, scales={})
    assert load_or_create_secret(path, scales={"omega_m": 9.0}).shift == first.shift
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError):
        load_or_create_secret(path, scales={})
    os.chmod(path, 0o600)


def test_blinded_outputs_are_shifted_by_the_secret(runs: dict) -> None:
    secret = load_or_create_secret(runs["tmp"] / "secret" / "blinding.json", scales={})
    shift = dict(zip(("omega_m", "sigma8", "a_ia"), secret.shift, strict=True))
    assert all(abs(v) > 0 for v in shift.values())
    clear, blinded = runs["clear"], runs["blinded"]
    assert blinded["blinded"] is True and clear["blinded"] is False
    for name in ("omega_m", "sigma8", "a_ia"):
        assert blinded[name]["median"] == pytest.approx(clear[name]["median"] + shift[name], abs=1e-10)
        assert blinded[name]["plus"] == pytest.approx(clear[name]["plus"], abs=1e-10)
    assert blinded["area_95"] == pytest.approx(clear["area_95"], rel=1e-8)
    assert blinded["s8"]["median"] != pytest.approx(clear["s8"]["median"], abs=1e-6)
    chain_b = read_chain(runs["tmp"] / "blind" / RESULT_FILES["chain"])
    chain_c = read_chain(runs["tmp"] / "clear" / RESULT_FILES["chain"])
    assert chain_b.blinded and not chain_c.blinded
    np.testing.assert_allclose(
        chain_b.samples - chain_c.samples,
        np.broadcast_to(secret.vector[:3], chain_c.samples.shape),
        atol=1e-12,
    )
    assert "BLINDED" in (runs["tmp"] / "blind" / RESULT_FILES["table_md"]).read_text()
    assert "truth" not in blinded  # no truth on blinded outputs


def test_every_blinded_plot_carries_the_warning(runs: dict) -> None:
    assert len(runs["blind_figs"]) == 4 and len(runs["clear_figs"]) == 4  # contours, S8-A_IA, whisker, traces
    assert all("BLINDED" in _texts(f) for f in runs["blind_figs"])
    assert not any("BLINDED" in _texts(f) for f in runs["clear_figs"])
    for key in ("contours", "s8_a_ia", "whisker", "traces"):
        assert (runs["tmp"] / "blind" / RESULT_FILES[key]).stat().st_size > 1000


def test_unblinding_restores_the_true_numbers_and_is_recorded(runs: dict) -> None:
    tmp = runs["tmp"]
    with pytest.raises(ValueError, match="reason"):
        unblind(results_dir=tmp / "blind", settings=_settings(tmp, blind=True), reason="  ")
    row = unblind(
        results_dir=tmp / "blind",
        settings=_settings(tmp, blind=True),
        reason="pipeline frozen (test)",
        by="tester",
    )
    clear = runs["clear"]
    for name in ("s8", "omega_m", "sigma8", "a_ia"):
        assert row[name]["median"] == pytest.approx(clear[name]["median"], abs=1e-10)
        assert row[name]["minus"] == pytest.approx(clear[name]["minus"], abs=1e-10)
    assert row["blinded"] is False and row["unblinded"] is True
    table = json.loads((tmp / "blind" / UNBLINDED_DIR / RESULT_FILES["table_json"]).read_text())
    assert table["blinded"] is False
    record = json.loads((tmp / "blind" / UNBLINDING_RECORD).read_text())
    assert (
        len(record) == 1 and record[0]["by"] == "tester" and record[0]["reason"] == "pipeline frozen (test)"
    )
    assert set(record[0]["secret"]["shift"]) == {"omega_m", "sigma8", "a_ia", "s8"}
    assert len(record[0]["inputs"]) == 2 and all("sha256" in r for r in record[0]["inputs"])
    # The blinded results themselves are left as they were.
    assert json.loads((tmp / "blind" / RESULT_FILES["table_json"]).read_text())["blinded"] is True


def test_unblinding_needs_blinded_results_and_an_existing_secret(runs: dict, tmp_path) -> None:
    with pytest.raises(ValueError, match="not blinded"):
        unblind(results_dir=runs["tmp"] / "clear", settings=_settings(runs["tmp"], blind=True), reason="x")
    with pytest.raises(FileNotFoundError):
        unblind(results_dir=runs["tmp"] / "blind", settings=_settings(tmp_path, blind=True), reason="x")


def test_clear_run_reports_truth_and_grid_check(runs: dict) -> None:
    clear = runs["clear"]
    assert clear["truth_in_95"] is True
    assert clear["grid_check"]["consistent"] is True
    assert clear["n_surveys"] == 60 and clear["n_data"] == 4
