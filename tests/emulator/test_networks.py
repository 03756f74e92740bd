"""DCGAN generator and discriminator: shapes, output range, parameter counts by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from wlcnn.emulator.networks import N_CONDITIONS, build_discriminator, build_generator, normalise_condition
from wlcnn.emulator.settings import EmulatorSettings

N_BINS = 4


def _bn(c: int) -> int:
    return 4 * c  # gamma, beta, moving mean, moving variance


def _conv(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out + c_out


@pytest.mark.parametrize("conditional", [False, True])
def test_generator_shapes_and_parameters(conditional: bool) -> None:
    s = EmulatorSettings(n_pix=32, latent_dim=8, base_filters=4, kernel_size=3, conditional=conditional)
    g = build_generator(s, n_bins=N_BINS)
    n_in = s.latent_dim + (N_CONDITIONS if conditional else 0)
    n0, f8 = 2, 8 * s.base_filters
    expected = n_in * n0 * n0 * f8 + n0 * n0 * f8 + _bn(f8)
    chans = [f8, 4 * s.base_filters, 2 * s.base_filters, s.base_filters, N_BINS]
    for layer, (c_in, c_out) in enumerate(itertools.pairwise(chans)):
        expected += _conv(s.kernel_size, c_in, c_out)
        expected += _bn(c_out) if layer < len(chans) - 2 else 0  # none on the tanh output
    assert g.count_params() == expected
    z = np.random.default_rng(0).standard_normal((3, s.latent_dim)).astype(np.float32)
    inputs = [z, np.zeros((3, N_CONDITIONS), np.float32)] if conditional else z
    out = np.asarray(g(inputs, training=False))
    assert out.shape == (3, 32, 32, N_BINS)
    assert np.all(np.abs(out) < 1.0)


@pytest.mark.parametrize("conditional", [False, True])
def test_discriminator_shapes_and_parameters(conditional: bool) -> None:
    s = EmulatorSettings(n_pix=32, base_filters=4, kernel_size=3, conditional=conditional)
    d = build_discriminator(s, n_bins=N_BINS)
    chans = [N_BINS + (N_CONDITIONS if conditional else 0), 4, 8, 16, 32]
    expected = sum(_conv(3, a, b) for a, b in itertools.pairwise(chans))
    expected += sum(_bn(c) for c in chans[2:])  # no batch normalisation after the first conv
    expected += 2 * 2 * 32 + 1  # dense logit on the 2 x 2 x 8f features
    assert d.count_params() == expected
    x = np.zeros((2, 32, 32, N_BINS), np.float32)
    inputs = [x, np.zeros((2, N_CONDITIONS), np.float32)] if conditional else x
    assert np.asarray(d(inputs, training=False)).shape == (2, 1)


def test_normalise_condition_maps_prior_edges() -> None:
    prior = {"omega_m": [0.1, 0.5], "sigma8": [0.4, 1.4]}
    out = normalise_condition([0.1, 0.5, 0.3], [1.4, 0.4, 0.9], prior=prior)
    np.testing.assert_allclose(out, [[-1, 1], [1, -1], [0, 0]], atol=1e-6)
