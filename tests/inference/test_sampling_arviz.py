"""ArviZ itself opens the netCDF chain the project writes (issue 13: an independent reader).

:func:`wlcnn.inference.sampling.write_arviz_netcdf` writes the file with h5py alone; here
``arviz.from_netcdf`` (xarray's netCDF reader underneath) reads it back. A small hand-made chain
(blinded, thinned) keeps the test fast; the layout checked is the one the module doc promises:
``posterior`` with ``omega_m``, ``sigma8``, ``a_ia``, ``s8`` over ``(chain, draw)`` = (walkers,
post-burn-in thinned steps), and ``sample_stats`` with ``lp``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from wlcnn.inference.constraints import s8
from wlcnn.inference.likelihood import PARAMETER_NAMES
from wlcnn.inference.sampling import Chain, write_arviz_netcdf

with warnings.catch_warnings():
    # ArviZ announces its 1.0 refactor with a FutureWarning on import; not this test's concern.
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

N_STEPS, N_WALKERS, N_BURN, THIN = 61, 6, 11, 2
#: Blinding offsets (δΩm, δσ8, δA_IA, δS8): S8 is shifted by its own offset.
SHIFT = (0.01, -0.02, 0.3, 0.05)
DOCUMENTED = (*PARAMETER_NAMES, "s8")


@pytest.fixture
def written(tmp_path: Path) -> tuple[Chain, Path]:
    rng = np.random.default_rng(13)
    shape = (N_STEPS, N_WALKERS)
    samples = np.stack(
        [rng.uniform(0.2, 0.4, shape), rng.uniform(0.7, 0.9, shape), rng.normal(0.0, 1.0, shape)], axis=-1
    )
    chain = Chain(
        samples=samples,
        log_prob=rng.normal(size=shape),
        acceptance_fraction=np.full(N_WALKERS, 0.3),
        settings={"n_walkers": N_WALKERS, "n_steps": N_STEPS, "n_burn": N_BURN, "thin": THIN},
        autocorr_time=dict.fromkeys(PARAMETER_NAMES, 1.0),
        label="toy",
    ).shifted(SHIFT, blinded=True)
    return chain, write_arviz_netcdf(tmp_path / "chain.nc", chain)


def test_arviz_opens_the_chain_with_the_documented_layout(written: tuple[Chain, Path]) -> None:
    chain, path = written
    idata = az.from_netcdf(path)
    assert set(idata.groups()) == {"posterior", "sample_stats"}
    n_draw = len(range(N_BURN, N_STEPS, THIN))  # counted by hand: post burn-in, every THIN-th step
    post = idata.posterior
    assert set(post.data_vars) == set(DOCUMENTED)
    for name in DOCUMENTED:
        assert post[name].dims == ("chain", "draw")
        assert post[name].shape == (N_WALKERS, n_draw)
    assert idata.sample_stats["lp"].shape == (N_WALKERS, n_draw)
    # A walker is a chain: walker 2's Ωm after burn-in, thinned.
    np.testing.assert_array_equal(post["omega_m"].sel(chain=2).values, chain.samples[N_BURN::THIN, 2, 0])


def test_arviz_s8_mean_is_the_chains(written: tuple[Chain, Path]) -> None:
    chain, path = written
    idata = az.InferenceData.from_netcdf(path)
    post = idata.posterior
    assert float(post["s8"].mean()) == pytest.approx(float(chain.flat_s8().mean()), rel=1e-12)
    assert float(post["omega_m"].mean()) == pytest.approx(float(chain.flat()[:, 0].mean()), rel=1e-12)
    # The reported (blinded) S8, shifted by its own offset, not S8 recomputed from the shifted
    # Ωm and σ8: the two differ by far more than rounding here.
    recomputed = s8(post["omega_m"].values, post["sigma8"].values)
    assert abs(float(post["s8"].mean()) - float(np.mean(recomputed))) > SHIFT[3] / 2
    # ArviZ's own summary agrees (its rounding: 3 decimals).
    summary = az.summary(idata, var_names=["s8"], kind="stats")
    assert float(summary.loc["s8", "mean"]) == pytest.approx(float(chain.flat_s8().mean()), abs=5e-4)
    assert post["s8"].size == chain.flat_s8().size
