"""The Fig. 4 validation machinery, on maps whose spectra are known analytically.

Gaussian κ and κ_IA maps, cut from larger skies, are drawn with the Born-Limber GG, GI and II
spectra of a map file's own shells (κ_IA correlated with κ as the NLA model says), plus the
particle shot noise that the validation subtracts. They must pass; maps with the wrong
amplitude or the wrong IA sign must fail. The comparison on real simulations runs after the
demo (`.ci/check_validation.py`).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from wlcnn.cosmology import comoving_distance, make_cosmology
from wlcnn.lensing.born import shell_weights_from_config
from wlcnn.lensing.random_fields import gaussian_random_field
from wlcnn.lensing.theory import born_limber_spectra
from wlcnn.maps.validation import power_spectrum_validation, shell_shot_noise
from wlcnn.seeding import rng_for

ROOT = Path(__file__).resolve().parents[2]
LENSING = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["lensing"]
COSMO = {"omega_m": 0.3, "sigma8": 0.8, "omega_b": 0.0493, "h": 0.6736, "n_s": 0.9649}
Z_EDGES = np.array([0.0, 0.075, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0, 1.2, 1.4])
N_PIX, SIDE_DEG, N_MAPS = 128, 5.0, 300
ELL = np.geomspace(10.0, 2.0e4, 200)
# Few particles, so that the shot noise matters at l ~ 400 and its subtraction is tested.
N_PARTICLES, BOX = 64**3, 256.0


def _write_map_file(
    path: Path, *, amplitude: float = 1.0, ia_sign: float = 1.0, seed: int = 0, n_maps: int = N_MAPS
) -> Path:
    cosmo = make_cosmology(**COSMO, radiation=False)
    z_pairs = np.stack([Z_EDGES[:-1], Z_EDGES[1:]], axis=1)
    weights = shell_weights_from_config(cosmo=cosmo, z_edges=z_pairs, lensing=LENSING, base_dir=ROOT)
    spectra = born_limber_spectra(cosmo=cosmo, weights=weights, ell=ELL, independent_shells=True)
    r = np.asarray(comoving_distance(cosmo, Z_EDGES))
    info = {
        "n_particles": N_PARTICLES,
        "box": BOX,
        "cosmology": COSMO,
        "r_near": r[:-1],
        "r_far": r[1:],
        "born_weights": weights.born_weights,
        "ia_weights": weights.ia_weights,
        "delta_d": weights.delta_d,
    }
    n_bins = weights.born_weights.shape[0]
    # Particle shot noise of the Born sums κ and κ_IA (the same particles: correlated).
    per_sr = N_PARTICLES / BOX**3 * (r[1:] ** 3 - r[:-1] ** 3) / 3.0
    coeff_g = 1.5 * COSMO["omega_m"] * weights.born_weights * weights.delta_d
    coeff_i = weights.ia_weights * weights.delta_d
    noise_gg, noise_gi, noise_ii = (
        (a * c / per_sr).sum(axis=1) for a, c in ((coeff_g, coeff_g), (coeff_g, coeff_i), (coeff_i, coeff_i))
    )
    np.testing.assert_allclose(noise_gg, shell_shot_noise(info, a_ia=0.0))
    pixel_sr = np.deg2rad(SIDE_DEG / N_PIX) ** 2
    # Real patches are cut from a larger sky, not periodic: draw periodic fields of twice the
    # side and keep one quadrant, so that the patch-window part of the theory is tested too.
    big = 2 * N_PIX
    freq = np.fft.fftfreq(big, 1.0 / big)
    mode_ell = np.hypot(*np.meshgrid(freq, freq)) * 360.0 / (2 * SIDE_DEG)
    kappa = np.empty((n_maps, n_bins, N_PIX, N_PIX))
    kappa_ia = np.empty_like(kappa)
    geometry = {"ell": ELL, "n_pix": big, "side_deg": 2 * SIDE_DEG, "n_maps": n_maps}
    for b in range(n_bins):
        gg, gi, ii = spectra.gg[b, b], spectra.gi[b, b], spectra.ii[b, b]
        # κ_IA = (GI/GG) κ + an independent field with II - GI²/GG: the NLA correlation.
        common = gaussian_random_field(cl=gg, rng=rng_for(seed, "g", b), **geometry)
        own = gaussian_random_field(cl=ii - gi**2 / gg, rng=rng_for(seed, "i", b), **geometry)
        filt = np.interp(np.log(np.maximum(mode_ell, 1.0)), np.log(ELL), gi / gg)
        shaped = np.fft.ifft2(np.fft.fft2(common) * filt).real[:, :N_PIX, :N_PIX]
        common, own = common[:, :N_PIX, :N_PIX], own[:, :N_PIX, :N_PIX]
        white_1, white_2 = rng_for(seed, "noise", b).standard_normal((2, n_maps, N_PIX, N_PIX))
        beta = noise_gi[b] / noise_gg[b]
        noise_k = np.sqrt(noise_gg[b] / pixel_sr) * white_1
        noise_i = beta * noise_k + np.sqrt((noise_ii[b] - beta * noise_gi[b]) / pixel_sr) * white_2
        kappa[:, b] = amplitude * common + noise_k
        kappa_ia[:, b] = ia_sign * (amplitude * (shaped + own) + noise_i)
    with h5py.File(path, "w") as fh:
        fh["kappa"] = kappa.astype(np.float32)
        fh["kappa_ia"] = kappa_ia.astype(np.float32)
        shells = {"z_near": Z_EDGES[:-1], "z_far": Z_EDGES[1:], "r_near": r[:-1], "r_far": r[1:]}
        for name, values in shells.items():
            fh[f"shells/{name}"] = values
        fh["weights/born"] = weights.born_weights
        fh["weights/ia"] = weights.ia_weights
        fh["weights/delta_d"] = weights.delta_d
        fh.attrs.update(
            {
                "cosmology": json.dumps(COSMO),
                "n_particles": N_PARTICLES,
                "box": BOX,
                "patch_size_deg": SIDE_DEG,
                "n_pix": N_PIX,
            }
        )
    return path


#: Independent "boxes" of the theory maps: errors are box-to-box, so they need several.
N_BOXES = 4


@pytest.fixture(scope="module")
def theory_maps(tmp_path_factory):
    directory = tmp_path_factory.mktemp("validation")
    return [
        _write_map_file(directory / f"maps{i}.h5", seed=i, n_maps=N_MAPS // N_BOXES) for i in range(N_BOXES)
    ]


def _validate(path: Path | list[Path], tmp_path: Path) -> dict:
    return power_spectrum_validation(
        path if isinstance(path, list) else [path],
        lensing=LENSING,
        base_dir=ROOT,
        ell_range=(90.0, 400.0),
        n_ell_bins=4,
        tolerance=0.15,
        tolerance_ia=0.2,
        plot_path=tmp_path / "fig4.png",
        json_path=tmp_path / "fig4.json",
    )


def test_maps_drawn_from_the_theory_pass(theory_maps, tmp_path):
    result = _validate(theory_maps, tmp_path)
    deviations = {k: result[k]["max_deviation"] for k in ("no_ia", "gi", "ii")}
    assert result["passed"] and result["passed_ia"], deviations
    # the estimator is unbiased: mean ratios within a few standard errors of 1
    for key in ("no_ia", "ia", "gi", "ii"):
        ratio, err = np.array(result[key]["ratio"]), np.array(result[key]["ratio_err"])
        assert np.all(np.abs(ratio - 1.0) < 5.0 * err + 0.02), (key, ratio)
    assert np.all(np.array(result["gi"]["theory"]) < 0)  # GI is negative
    assert (tmp_path / "fig4.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "fig4.json").read_text())["n_maps"] == N_MAPS


def test_wrong_amplitude_or_ia_sign_fails(tmp_path):
    # 30 % too much power, or κ_IA of the wrong sign, is plain with fewer maps
    loud_maps = _write_map_file(tmp_path / "loud.h5", amplitude=np.sqrt(1.3), seed=1, n_maps=60)
    loud = _validate(loud_maps, tmp_path)
    assert not loud["passed"]
    flipped = _validate(_write_map_file(tmp_path / "flipped.h5", ia_sign=-1.0, seed=2, n_maps=60), tmp_path)
    assert not flipped["passed_ia"]
    assert np.all(np.array(flipped["gi"]["ratio"]) < 0)
