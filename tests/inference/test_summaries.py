"""Simulated-survey predictions → μ̂, Ŝ; seeds; network combination; HDF5 layout."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from wlcnn.inference.summaries import (
    DataVector,
    compute_summaries,
    concatenate_data_vectors,
    concatenate_summaries,
    merge_cosmologies,
    predict_data_vector,
    predict_surveys,
    read_data_vector,
    read_summaries,
    survey_seed,
    write_data_vector,
    write_summaries,
)

N_PATCHES = 5
COSMOLOGIES = [("c000", 0.2, 0.9), ("c001", 0.3, 0.8), ("c002", 0.4, 0.7)]
A_IA = [-1.0, 0.0, 2.0]


def _make_survey_for(cid: str, a_ia: float):
    """Stand-in forward model: patch 'maps' (n_patches, 4, 4) whose content depends on the seed."""
    om = {c: o for c, o, _ in COSMOLOGIES}[cid]

    def make(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return om + 0.1 * a_ia + rng.normal(size=(N_PATCHES, 4, 4))

    return make


class _Network:
    """Stand-in network: (n, 4, 4) → (n, 3); records its batch sizes."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.batches: list[int] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(len(batch))
        flat = batch.reshape(len(batch), -1)
        return self.scale * np.column_stack([flat.mean(axis=1), flat[:, 0], flat.std(axis=1)])


def _summaries(label: str, scale: float, *, n_surveys: int = 30, batch_size: int = 12):
    net = _Network(scale)
    s = compute_summaries(
        label=label,
        predict=net,
        make_survey_for=_make_survey_for,
        cosmologies=COSMOLOGIES,
        a_ia=A_IA,
        n_surveys=n_surveys,
        base_seed=42,
        batch_size=batch_size,
    )
    return s, net


def test_seeds_depend_on_identity_only() -> None:
    a = survey_seed(base_seed=1, cosmology_id="c000", a_ia_index=2, index=3)
    assert a == survey_seed(base_seed=1, cosmology_id="c000", a_ia_index=2, index=3)
    others = {
        survey_seed(base_seed=b, cosmology_id=c, a_ia_index=j, index=i)
        for b, c, j, i in [(2, "c000", 2, 3), (1, "c001", 2, 3), (1, "c000", 1, 3), (1, "c000", 2, 4)]
    }
    assert a not in others and len(others) == 4
    assert 0 <= a < 2**63


def test_survey_average_and_batching() -> None:
    seeds = list(range(7))
    net = _Network(1.0)
    got = predict_surveys(predict=net, make_survey=_make_survey_for("c000", 0.0), seeds=seeds, batch_size=12)
    assert max(net.batches) <= 12 and sum(net.batches) == 7 * N_PATCHES
    ref = np.stack([_Network(1.0)(_make_survey_for("c000", 0.0)(s)).mean(axis=0) for s in seeds])
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    # Batch size changes nothing but the batching.
    again = predict_surveys(
        predict=_Network(1.0), make_survey=_make_survey_for("c000", 0.0), seeds=seeds, batch_size=1
    )
    np.testing.assert_allclose(again, got, rtol=1e-12)


def test_mean_and_covariance_per_grid_value() -> None:
    s, _ = _summaries("net_a", 1.0)
    assert s.predictions.shape == (3, 3, 30, 3) and s.seeds.shape == (3, 3, 30)
    np.testing.assert_allclose(s.mean[1, 2], s.predictions[1, 2].mean(axis=0))
    np.testing.assert_allclose(s.covariance[2, 0], np.cov(s.predictions[2, 0].T))
    assert np.all(s.n_surveys == 30)
    # The stand-in's first output tracks Ωm + 0.1 A_IA: μ̂ must too.
    expect = np.array([[om + 0.1 * a for a in A_IA] for _, om, _ in COSMOLOGIES])
    np.testing.assert_allclose(s.mean[..., 0], expect, atol=0.05)


def test_combination_concatenates_with_cross_covariance() -> None:
    a, _ = _summaries("net_a", 1.0)
    b, _ = _summaries("net_b", -2.0)
    np.testing.assert_array_equal(a.seeds, b.seeds)  # same surveys for every network
    both = concatenate_summaries([a, b], label="combined")
    assert both.predictions.shape[-1] == 6 and both.components == ("net_a", "net_b")
    assert both.output_names[3] == "net_b:out0"
    joint = np.cov(np.concatenate([a.predictions[0, 1], b.predictions[0, 1]], axis=1).T)
    np.testing.assert_allclose(both.covariance[0, 1], joint, rtol=1e-12)
    # Same surveys, network b = −2 × network a: the cross block is −2 × the auto block.
    np.testing.assert_allclose(both.covariance[0, 1][:3, 3:], -2.0 * a.covariance[0, 1], rtol=1e-10)


def test_combination_refuses_different_surveys() -> None:
    a, _ = _summaries("net_a", 1.0)
    other = compute_summaries(
        label="x",
        predict=_Network(1.0),
        make_survey_for=_make_survey_for,
        cosmologies=COSMOLOGIES,
        a_ia=A_IA,
        n_surveys=30,
        base_seed=43,
        batch_size=12,
    )
    with pytest.raises(ValueError, match="seeds differ"):
        concatenate_summaries([a, other], label="bad")


def test_hdf5_round_trip_and_layout(tmp_path) -> None:
    s, _ = _summaries("net_a", 1.0, n_surveys=5)
    write_summaries(tmp_path / "s.h5", s)
    back = read_summaries(tmp_path / "s.h5")
    np.testing.assert_array_equal(back.predictions, s.predictions)
    np.testing.assert_array_equal(back.seeds, s.seeds)
    assert back.cosmology_ids == s.cosmology_ids and back.label == "net_a"
    with h5py.File(tmp_path / "s.h5") as f:
        assert {"mean", "covariance", "n_surveys", "a_ia", "omega_m", "sigma8", "cosmology_id"} <= set(f)
        np.testing.assert_allclose(f["covariance"][()], s.covariance)
        assert f["seeds"].dtype == np.uint64


def test_merge_per_cosmology_parts() -> None:
    full, _ = _summaries("net_a", 1.0, n_surveys=5)
    parts = [
        compute_summaries(
            label="net_a",
            predict=_Network(1.0),
            make_survey_for=_make_survey_for,
            cosmologies=[c],
            a_ia=A_IA,
            n_surveys=5,
            base_seed=42,
            batch_size=12,
        )
        for c in COSMOLOGIES
    ]
    merged = merge_cosmologies(parts)
    np.testing.assert_allclose(merged.predictions, full.predictions)
    with pytest.raises(ValueError, match="more than one"):
        merge_cosmologies([parts[0], parts[0]])


def test_data_vector(tmp_path) -> None:
    inputs = _make_survey_for("c001", 0.0)(123)
    vec = predict_data_vector(predict=_Network(1.0), inputs=inputs, batch_size=2, label="net_a")
    np.testing.assert_allclose(vec.data, _Network(1.0)(inputs).mean(axis=0))
    write_data_vector(tmp_path / "d.h5", vec)
    back = read_data_vector(tmp_path / "d.h5")
    np.testing.assert_array_equal(back.data, vec.data)
    both = concatenate_data_vectors(
        [vec, DataVector(label="b", data=np.ones(2), output_names=("u", "v"))], label="ab"
    )
    assert both.data.shape == (5,) and both.output_names[-1] == "b:v"
