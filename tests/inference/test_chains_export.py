"""Chains other tools read (issue 13 item 4): getdist roots, emcee's HDF backend, ArviZ netCDF.

One toy analysis runs through :func:`wlcnn.inference.analysis.constrain` (clear and blinded);
the files beside its chain are read back with getdist and emcee themselves, and their S8
compared with the constraints table.
"""

from __future__ import annotations

import json

import emcee
import h5py
import numpy as np
import pytest
from getdist import loadMCSamples

from tests.inference.toy_analysis import toy_inputs
from wlcnn.inference.analysis import RESULT_FILES, InferenceSettings, constrain
from wlcnn.inference.likelihood import PARAMETER_NAMES
from wlcnn.inference.sampling import read_chain
from wlcnn.records import SIDECAR_SUFFIX

A_IA_RANGE = (-6.0, 6.0)
#: The table prints three decimals: agreement to half a printed digit.
PRINTED = 5e-4


def _settings(tmp_path, *, blind: bool) -> InferenceSettings:
    return InferenceSettings(
        base_seed=3,
        prior_box=((0.1, 0.5), (0.4, 1.4)),
        a_ia_range=A_IA_RANGE,
        n_a_ia=5,
        n_surveys=60,
        n_patch_sets=1,
        batch_size=8,
        n_walkers=16,
        n_steps=1500,
        n_burn=300,
        thin=1,
        grid_shape=(24, 24, 12),
        blind=blind,
        blinding_scales={},
        secret_path=tmp_path / "secret" / "blinding.json",
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("export")
    summ, data = toy_inputs()
    rows = {}
    for blind in (False, True):
        name = "blind" if blind else "clear"
        rows[name] = constrain(
            summaries=summ, data=data, settings=_settings(tmp, blind=blind), out_dir=tmp / name, label="toy"
        )
    return {"tmp": tmp, **rows}


@pytest.mark.parametrize("which", ["clear", "blind"])
def test_getdist_reads_the_root_and_agrees_with_the_table(runs: dict, which: str) -> None:
    out = runs["tmp"] / which
    root = out / RESULT_FILES["getdist_root"]
    for suffix in (".txt", ".paramnames", ".ranges"):
        assert (out / f"chain{suffix}").exists()
        assert (out / f"chain{suffix}{SIDECAR_SUFFIX}").exists()  # provenance sidecar
    mc = loadMCSamples(str(root), settings={"ignore_rows": 0})
    s8 = mc.paramNames.parWithName("s8")
    assert s8.isDerived and s8.label == "S_8"
    assert mc.paramNames.parWithName("omega_m").label == r"\Omega_{\rm m}"
    table = json.loads((out / RESULT_FILES["table_json"]).read_text())["rows"][0]["s8"]
    values = mc.getParams().s8
    assert mc.confidence(values, 0.16, upper=False) == pytest.approx(table["lower"], abs=PRINTED)
    assert mc.confidence(values, 0.16, upper=True) == pytest.approx(table["upper"], abs=PRINTED)
    # getdist's own marginal statistics (mean and 68 % limits from its 1-D density).
    stats = mc.getMargeStats().parWithName("s8")
    width = table["upper"] - table["lower"]
    assert stats.mean == pytest.approx(table["median"], abs=0.05 * width)
    assert stats.limits[0].lower == pytest.approx(table["lower"], abs=0.05 * width)
    assert stats.limits[0].upper == pytest.approx(table["upper"], abs=0.05 * width)
    # Every sample of the table is there, with −ln P.
    chain = read_chain(out / RESULT_FILES["chain"])
    assert mc.numrows == len(chain.flat())
    np.testing.assert_allclose(mc.loglikes, -chain.flat_log_prob())


def test_ranges_hold_the_prior_unless_blinded(runs: dict) -> None:
    clear = loadMCSamples(str(runs["tmp"] / "clear" / "chain"), settings={"ignore_rows": 0})
    assert clear.ranges.getLower("omega_m") == pytest.approx(0.1)
    assert clear.ranges.getUpper("sigma8") == pytest.approx(1.4)
    assert clear.ranges.getLower("a_ia") == pytest.approx(A_IA_RANGE[0])
    blind_text = (runs["tmp"] / "blind" / "chain.ranges").read_text().split("\n")
    # The prior bounds beside shifted values would reveal the secret offset.
    assert all(line.endswith("N N") for line in blind_text if line)


def test_chain_file_is_an_emcee_hdf_backend(runs: dict) -> None:
    path = runs["tmp"] / "clear" / RESULT_FILES["chain"]
    chain = read_chain(path)
    backend = emcee.backends.HDFBackend(str(path), read_only=True)
    np.testing.assert_array_equal(backend.get_chain(), chain.samples)
    np.testing.assert_array_equal(backend.get_log_prob(), chain.log_prob)
    n_burn = chain.settings["n_burn"]
    np.testing.assert_array_equal(backend.get_chain(discard=n_burn, flat=True), chain.flat())
    tau = backend.get_autocorr_time(discard=n_burn, tol=0)
    np.testing.assert_allclose(tau, list(chain.autocorr_time.values()), rtol=1e-12)
    np.testing.assert_allclose(
        backend.accepted / backend.iteration, chain.acceptance_fraction, atol=0.5 / backend.iteration
    )


def test_netcdf_has_arviz_posterior_layout(runs: dict) -> None:
    out = runs["tmp"] / "blind"
    chain = read_chain(out / RESULT_FILES["chain"])
    n_burn = chain.settings["n_burn"]
    assert (out / f"{RESULT_FILES['netcdf']}{SIDECAR_SUFFIX}").exists()
    with h5py.File(out / RESULT_FILES["netcdf"], "r") as f:
        assert set(f) == {"posterior", "sample_stats"}
        post = f["posterior"]
        for i, name in enumerate(PARAMETER_NAMES):
            np.testing.assert_array_equal(post[name][()], chain.samples[n_burn:, :, i].T)
            assert [d.label for d in post[name].dims] == ["chain", "draw"]
            assert post[name].dims[0][0].name == "/posterior/chain"
        # S8 as reported (blinded with its own offset), not recomputed from shifted Ωm, σ8.
        np.testing.assert_array_equal(post["s8"][()], chain.s8[n_burn:].T)
        np.testing.assert_array_equal(f["sample_stats/lp"][()], chain.log_prob[n_burn:].T)
        assert post["chain"].shape == (chain.samples.shape[1],)
        assert int(f.attrs["blinded"]) == 1
