"""Stamp simulation: the simulator checked by an independent shape measurement (GalSim HSM),
seeded determinism independent of chunking, the HDF5 reader's errors, atomic writes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from wlcnn.shapes.moments import hsm_shear
from wlcnn.shapes.stamps import psf_image, read_stamp_file, render_shapes, simulate_stamps, write_stamp_file
from wlcnn.survey.catalogue import CatalogueError

SEED = 11
#: S/N of "noise-free" stamps (the noise is there but negligible).
NOISE_FREE_SNR = (1.0e6, 1.0e6)
#: HSM re-Gaussianisation of a well-resolved exponential disc: a few 1e-3 of shear.
RECOVERY_TOLERANCE = 0.01


def test_hsm_recovers_the_known_shape_of_a_noise_free_stamp(stamps_cfg):
    # A round exponential disc drawn with a known shape: HSM (a separate code path, GalSim's
    # moments) must find that shape after PSF correction.
    cfg = replace(stamps_cfg, snr=NOISE_FREE_SNR, sersic_n=(1.0, 1.0), half_light_radius_arcsec=(0.8, 0.8))
    shapes = np.array([[0.1, -0.05], [-0.15, 0.08], [0.0, 0.2]])
    stamps = render_shapes(cfg, e1=shapes[:, 0], e2=shapes[:, 1], seed=SEED, label="hsm")
    result = hsm_shear(stamps.stamps, psf_image=psf_image(cfg), pixel_scale_arcsec=cfg.pixel_scale_arcsec)
    assert result.n_failed == 0
    np.testing.assert_allclose(result.g, shapes, atol=RECOVERY_TOLERANCE)


def test_simulated_shear_is_recovered_by_hsm_on_average(stamps_cfg):
    # Intrinsic shapes switched off: every stamp's measured shape is its drawn shear.
    cfg = replace(stamps_cfg, snr=NOISE_FREE_SNR, sigma_intrinsic=0.0, half_light_radius_arcsec=(0.6, 1.0))
    stamps = simulate_stamps(cfg, seed=SEED, label="truth", start=0, stop=12, augment=False)
    result = hsm_shear(stamps.stamps, psf_image=psf_image(cfg), pixel_scale_arcsec=cfg.pixel_scale_arcsec)
    ok = ~result.failed
    assert ok.sum() >= 10
    np.testing.assert_allclose(result.g[ok], stamps.shear[ok], atol=2 * RECOVERY_TOLERANCE)
    assert np.all(np.abs(stamps.shear) <= cfg.shear_max)


def test_stamps_are_seeded_per_stamp_whatever_the_chunking(stamps_cfg):
    whole = simulate_stamps(stamps_cfg, seed=SEED, label="train", start=0, stop=6, augment=True)
    tail = simulate_stamps(stamps_cfg, seed=SEED, label="train", start=3, stop=6, augment=True)
    np.testing.assert_array_equal(whole.stamps[3:], tail.stamps)
    np.testing.assert_array_equal(whole.shear[3:], tail.shear)
    other = simulate_stamps(stamps_cfg, seed=SEED, label="calibration", start=0, stop=6, augment=True)
    assert not np.allclose(other.shear, whole.shear)
    # the augmentations stay within the configured ranges; an unaugmented set has none
    assert np.all(np.abs(whole.scale - 1.0) <= stamps_cfg.scale_augmentation)
    assert np.all(np.abs(whole.offset_pix) <= stamps_cfg.max_offset_pix)
    plain = simulate_stamps(stamps_cfg, seed=SEED, label="train", start=0, stop=2, augment=False)
    assert np.all(plain.scale == 1.0) and np.all(plain.offset_pix == 0.0)


def test_noise_level_gives_the_drawn_snr(stamps_cfg):
    stamps = simulate_stamps(stamps_cfg, seed=SEED, label="snr", start=0, stop=4, augment=False)
    assert np.all((stamps.snr >= stamps_cfg.snr[0]) & (stamps.snr <= stamps_cfg.snr[1]))
    # the noise sigma is sqrt(sum I^2) / snr of the clean image: pixel variance of a large
    # border region (no galaxy light) matches it
    border = np.concatenate(
        [stamps.stamps[:, :3, :].reshape(4, -1), stamps.stamps[:, -3:, :].reshape(4, -1)], axis=1
    )
    np.testing.assert_allclose(border.std(axis=1), stamps.noise_sigma, rtol=0.25)


def test_stamp_file_is_written_in_chunks_and_read_back(tmp_path: Path, stamps_cfg):
    path = tmp_path / "train.h5"
    cfg = replace(stamps_cfg, chunk_stamps=2)
    write_stamp_file(path, cfg, n=5, seed=SEED, label="train", augment=True, provenance={"step": "test"})
    stamps, _ = read_stamp_file(path, stamp_size=cfg.stamp_size)
    direct = simulate_stamps(cfg, seed=SEED, label="train", start=0, stop=5, augment=True)
    np.testing.assert_array_equal(stamps.stamps, direct.stamps)
    np.testing.assert_array_equal(stamps.shear, direct.shear)
    with h5py.File(path, "r") as fh:
        assert fh["stamps"].chunks[0] == 2
        assert "provenance" in fh.attrs


def test_a_failing_write_leaves_no_file_and_no_temporary(tmp_path: Path, stamps_cfg):
    bad = replace(stamps_cfg, psf={"profile": "gaussian"})
    with pytest.raises(ValueError, match=r"shapes\.stamps\.psf\.profile"):
        write_stamp_file(tmp_path / "x.h5", bad, n=3, seed=SEED, label="x", augment=False, provenance={})
    assert list(tmp_path.iterdir()) == []


def test_wrong_stamp_shape_is_a_clear_error(tmp_path: Path, stamps_cfg):
    path = tmp_path / "small.h5"
    write_stamp_file(
        path, replace(stamps_cfg, stamp_size=24), n=2, seed=SEED, label="x", augment=False, provenance={}
    )
    with pytest.raises(CatalogueError) as info:
        read_stamp_file(path, stamp_size=stamps_cfg.stamp_size)
    message = str(info.value)
    assert str(path) in message and "'stamps'" in message
    assert "expected shape (N, 32, 32)" in message and "found shape (2, 24, 24)" in message


def test_missing_dataset_is_a_clear_error(tmp_path: Path, stamps_cfg):
    path = tmp_path / "nosnr.h5"
    write_stamp_file(path, stamps_cfg, n=2, seed=SEED, label="x", augment=False, provenance={})
    with h5py.File(path, "r+") as fh:
        del fh["snr"]
    with pytest.raises(CatalogueError) as info:
        read_stamp_file(path, stamp_size=stamps_cfg.stamp_size)
    message = str(info.value)
    assert str(path) in message and "'snr'" in message
    assert "expected this dataset to exist" in message and "found datasets" in message
