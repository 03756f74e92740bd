"""Input pipeline: deterministic draws, HDF5 streaming, per-replica split, forward-model adapters."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import tensorflow as tf

from wlcnn.training.forward import ForwardFn, StandInForwardModel, SurveyForwardModel
from wlcnn.training.input_pipeline import (
    TRAIN_STREAM,
    ExamplePlanner,
    MapReader,
    dataset_for_replicas,
    per_replica_batch,
    scan_map_files,
)
from wlcnn.training.synthetic import write_synthetic_map_files

COSMOLOGIES = [(0.2, 0.9), (0.3, 0.8), (0.4, 0.7), (0.25, 0.6), (0.35, 1.0)]
N_PATCHES, N_BINS, N_PIX = 3, 2, 16


@pytest.fixture(scope="module")
def maps(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    return write_synthetic_map_files(
        tmp_path_factory.mktemp("maps"),
        cosmologies=COSMOLOGIES,
        n_realisations=4,
        n_bins=N_BINS,
        n_pix=N_PIX,
        seed=9,
        n_train_sims=2,
    )


def _planner(files: list[Path], per_step: int = 4, seed: int = 1) -> ExamplePlanner:
    return ExamplePlanner(
        scan_map_files(files),
        base_seed=seed,
        stream=TRAIN_STREAM,
        n_patches=N_PATCHES,
        a_ia_range=(-6.0, 6.0),
        per_step=per_step,
    )


def test_scan_groups_files_by_cosmology(maps: tuple[list[Path], list[Path]]) -> None:
    cosmos = scan_map_files(maps[0])
    assert [c.cosmology_id for c in cosmos] == [f"c{i:03d}" for i in range(len(COSMOLOGIES))]
    assert all(len(c.files) == 2 and c.pool_size == 8 for c in cosmos)
    assert (cosmos[2].omega_m, cosmos[2].sigma8) == COSMOLOGIES[2]


def test_draws_depend_only_on_seed_step_and_example(maps: tuple[list[Path], list[Path]]) -> None:
    a, b = _planner(maps[0]), _planner(maps[0])
    p, q = a.plan(17, 2), b.plan(17, 2)
    assert p.cosmology == q.cosmology and p.a_ia == q.a_ia
    assert np.array_equal(p.realisation, q.realisation) and np.array_equal(p.seed, q.seed)
    assert a.plan(18, 2).a_ia != p.a_ia and _planner(maps[0], seed=2).plan(17, 2).a_ia != p.a_ia
    # Distinct cosmologies within a step; realisations without replacement within an example.
    for step in range(20):
        assert len(set(a.cosmologies_of_step(step).tolist())) == 4
        plan = a.plan(step, 0)
        assert (
            len({(int(f), int(r)) for f, r in zip(plan.file_index, plan.realisation, strict=True)})
            == N_PATCHES
        )
        assert -6.0 <= plan.a_ia <= 6.0
        np.testing.assert_allclose(plan.theta, [*COSMOLOGIES[plan.cosmology], plan.a_ia / 10], rtol=1e-6)


def test_reader_returns_the_planned_realisations(maps: tuple[list[Path], list[Path]]) -> None:
    planner = _planner(maps[0])
    reader = MapReader(planner.cosmologies)
    plan = planner.plan(3, 1)
    kappa, kappa_ia = reader.read(plan)
    cosmo = planner.cosmologies[plan.cosmology]
    for i, (f, r) in enumerate(zip(plan.file_index, plan.realisation, strict=True)):
        with h5py.File(cosmo.files[f], "r") as fh:
            np.testing.assert_array_equal(kappa[i], fh["kappa"][r])
            np.testing.assert_array_equal(kappa_ia[i], fh["kappa_ia"][r])
    reader.close()


def _batches(ds: tf.data.Dataset, n: int) -> list[dict[str, np.ndarray]]:
    return [{k: v.numpy() for k, v in e.items()} for e in ds.take(n)]


def test_replica_split_covers_the_global_batch_in_order(maps: tuple[list[Path], list[Path]]) -> None:
    planner = _planner(maps[0])
    reader = MapReader(planner.cosmologies)
    one = _batches(
        dataset_for_replicas(planner=planner, reader=reader, start_step=5, stop_step=7, num_replicas=1), 2
    )
    assert one[0]["kappa"].shape == (4, N_PATCHES, N_BINS, N_PIX, N_PIX)
    # Two workers with two replicas each: worker p's batches are replicas 2p, 2p + 1.
    parts = [
        _batches(
            dataset_for_replicas(
                planner=planner,
                reader=reader,
                start_step=5,
                stop_step=7,
                num_replicas=4,
                pipeline_id=p,
                num_pipelines=2,
            ),
            4,
        )
        for p in (0, 1)
    ]
    for step in range(2):
        merged = [parts[0][2 * step], parts[0][2 * step + 1], parts[1][2 * step], parts[1][2 * step + 1]]
        for key in ("kappa", "theta", "seed", "a_ia"):
            np.testing.assert_array_equal(np.concatenate([m[key] for m in merged]), one[step][key])
    # Starting at step 6 gives step 6 of the run that started at 5 (resumption sees the same data).
    later = _batches(
        dataset_for_replicas(planner=planner, reader=reader, start_step=6, stop_step=7, num_replicas=1), 1
    )
    np.testing.assert_array_equal(later[0]["kappa"], one[1]["kappa"])
    with pytest.raises(ValueError, match="multiple"):
        per_replica_batch(4, 3)


def test_stand_in_forward_model_is_seeded() -> None:
    fwd = StandInForwardModel(noise_sigma=0.1)
    assert isinstance(fwd, ForwardFn)
    kappa = tf.random.stateless_normal((2, N_PATCHES, N_BINS, 8, 8), seed=(1, 2))
    kappa_ia = tf.random.stateless_normal((2, N_PATCHES, N_BINS, 8, 8), seed=(3, 4))
    a_ia = tf.constant([1.5, -2.0])
    seeds = tf.constant([[1, 2], [3, 4]], tf.int64)
    clean = fwd(kappa, kappa_ia, a_ia, seeds, noise=False).numpy()
    assert clean.shape == (2, N_PATCHES, 8, 8, N_BINS)
    np.testing.assert_allclose(
        clean[1, 0, :, :, 1], (kappa[1, 0, 1] - 2.0 * kappa_ia[1, 0, 1]).numpy(), rtol=1e-6
    )
    noisy = fwd(kappa, kappa_ia, a_ia, seeds, noise=True).numpy()
    np.testing.assert_array_equal(noisy, fwd(kappa, kappa_ia, a_ia, seeds, noise=True).numpy())
    assert 0.05 < np.std(noisy - clean) < 0.2


def test_survey_adapter_matches_the_numpy_reference() -> None:
    survey = pytest.importorskip("wlcnn.survey.forward_model")
    from wlcnn.survey.shape_noise import noise_ingredients

    rng = np.random.default_rng(5)
    shape = (2, 2, 32, 32)
    counts = rng.poisson(3.0, size=shape) * (rng.random(shape) > 0.1)
    index = np.repeat(np.arange(counts.size), counts.ravel())
    ing = noise_ingredients(
        pixel_index=index,
        weight=rng.gamma(2.0, 3.0, index.size),
        e1=rng.normal(0, 0.29, index.size),
        e2=rng.normal(0, 0.29, index.size),
        map_shape=shape,
    )
    ref = survey.ForwardModel(
        mask=counts > 0,
        noise=ing,
        multiplicative_bias=np.array([-0.01, -0.02]),
        multiplicative_bias_sigma=0.01,
        padding=8,
        smoothing_sigma_pix=1.0,
        smoothing_truncate=4.0,
    )
    tf_model = survey.TFForwardModel(ref)
    adapter = SurveyForwardModel(tf_model, identity="test")
    kappa = (0.02 * rng.standard_normal(shape)).astype(np.float32)
    kappa_ia = (0.002 * rng.standard_normal(shape)).astype(np.float32)
    seed = np.array([11, 12], np.int64)
    a_ia = 2.5
    draws = tf_model.draw(seed, a_ia_range=(0.0, 1.0))
    ref_draws = survey.ForwardDraws(a_ia=a_ia, m_error=draws.m_error.numpy(), phase=draws.phase.numpy())
    for noise, expected in (
        (True, ref.simulate(kappa, kappa_ia, ref_draws)),
        (False, ref.simulate_noise_free(kappa, kappa_ia, ref_draws)),
    ):
        got = adapter(
            tf.constant(kappa[None]),
            tf.constant(kappa_ia[None]),
            tf.constant([a_ia]),
            tf.constant(seed[None]),
            noise=noise,
        ).numpy()[0]
        assert got.shape == (2, 32, 32, 6)
        np.testing.assert_allclose(got, expected, atol=2e-5 * np.abs(expected).max())
