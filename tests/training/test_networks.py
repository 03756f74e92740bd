"""ResNet presets (SPEC §6): structure, output shape, seeded initialisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from wlcnn.training.networks import N_OUTPUTS, PRESETS, build_network, network_spec


@pytest.mark.parametrize(
    ("name", "kernel", "blocks"),
    [("resnet_5x5_10", 5, 10), ("resnet_3x3_15", 3, 15), ("resnet_3x3_25", 3, 25)],
)
def test_paper_presets(name: str, kernel: int, blocks: int) -> None:
    spec = network_spec(name)
    assert (spec.kernel_size, spec.n_blocks, spec.channels) == (kernel, blocks, 128)


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ValueError, match="resnet_3x3_15"):
        network_spec("resnet_9x9")


def test_tiny_network_structure_and_output() -> None:
    spec = network_spec("tiny")
    model = build_network(spec, input_shape=(32, 32, 12), seed=5)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 2 + 2 * spec.n_blocks
    assert [c.strides for c in convs[:2]] == [(2, 2), (2, 2)]
    assert [c.padding for c in convs] == ["valid", "valid"] + ["same"] * (2 * spec.n_blocks)
    assert all(c.filters == spec.channels for c in convs)
    assert not any("normalization" in type(layer).__name__.lower() for layer in model.layers)
    assert sum(isinstance(layer, keras.layers.Add) for layer in model.layers) == spec.n_blocks
    # 'valid' stride-2 convs: (32 - 3) // 2 + 1 = 15, then (15 - 3) // 2 + 1 = 7.
    assert tuple(convs[1].output.shape[1:3]) == (7, 7)
    dense = model.layers[-1]
    assert isinstance(dense, keras.layers.Dense) and dense.activation.__name__ == "linear"
    out = model(np.zeros((3, 32, 32, 12), np.float32))
    assert tuple(out.shape) == (3, N_OUTPUTS)


def test_same_seed_same_weights_other_seed_different() -> None:
    spec = PRESETS["tiny_5x5"]
    a = build_network(spec, input_shape=(24, 24, 4), seed=1).get_weights()
    b = build_network(spec, input_shape=(24, 24, 4), seed=1).get_weights()
    c = build_network(spec, input_shape=(24, 24, 4), seed=2).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_mixed_precision_output_stays_float32() -> None:
    model = build_network(
        network_spec("tiny"), input_shape=(16, 16, 2), seed=0, dtype_policy="mixed_bfloat16"
    )
    assert model.layers[1].compute_dtype == "bfloat16"
    assert str(model(np.ones((1, 16, 16, 2), np.float32)).dtype) in ("float32", "<dtype: 'float32'>")
