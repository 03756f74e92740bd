"""The ``emulator`` configuration block (sizes, optimiser, training length, validation).

Defaults are the seed paper's (CosmoGAN: 64-dimensional latent, Adam 2e-4 with β1 = 0.5, batch
64, 1 % label flipping, 5×5 kernels, LeakyReLU 0.2) at wlcnn's map size (128² patches, four
tomographic bins as channels); ``config/demo.yaml`` shrinks them to a tiny version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

__all__ = ["EmulatorSettings", "emulator_config_problems"]

#: Stride-2 (transposed) convolutions of each network: the map side is a multiple of 2**4.
N_UPSAMPLINGS = 4


@dataclass(frozen=True)
class EmulatorSettings:
    """Settings of the emulator's networks, training and validation.

    Attributes
    ----------
    n_pix
        Side of the emulated maps in pixels; the simulated maps are block-averaged to it (a
        divisor of ``shells.n_pix`` and a multiple of 16).
    latent_dim
        Dimension of the normal latent vector.
    base_filters
        Filters of the discriminator's first convolution and the generator's last hidden one;
        each stride-2 layer doubles (discriminator) or halves (generator) them.
    kernel_size
        Side of every convolution kernel.
    leaky_relu_slope
        Negative slope of the discriminator's LeakyReLU.
    conditional
        Condition both networks on (Ωm, σ8) (:mod:`wlcnn.emulator.networks`).
    holdout
        Cosmologies of the grid left out of the training (the interpolation test).
    n_steps, batch_size
        Optimiser steps and global batch (maps per step, split over the replicas).
    learning_rate, adam_beta1, adam_beta2
        Adam settings of both networks.
    label_flip
        Probability that a label of the discriminator's targets is flipped.
    transform_softness
        ``a`` of the pixel transform (:class:`wlcnn.emulator.pixel_transform.PixelTransform`).
    checkpoint_every, keep_checkpoints, log_every
        Checkpoint, keep and log cadences (steps / count).
    select_every
        Steps between the generator snapshots scored for model selection.
    dev_fraction
        Share of each held-out simulation's maps used as the development set of model
        selection; the rest are the validation maps.
    speed_maps, speed_batch
        Maps generated (in batches of ``speed_batch``) to time the generator.
    interpolation_steps
        Maps along the latent interpolation.
    strategy
        ``tf.distribute`` strategy kind (:func:`wlcnn.training.distribute.make_distribution`).
    compare
        Overrides of the ``statistics`` block for the validation (e.g. 19 Minkowski thresholds).
    """

    n_pix: int = 128
    latent_dim: int = 64
    base_filters: int = 64
    kernel_size: int = 5
    leaky_relu_slope: float = 0.2
    conditional: bool = True
    holdout: tuple[str, ...] = ()
    n_steps: int = 50000
    batch_size: int = 64
    learning_rate: float = 2.0e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    label_flip: float = 0.01
    transform_softness: float = 4.0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    log_every: int = 100
    select_every: int = 1000
    dev_fraction: float = 0.5
    speed_maps: int = 1024
    speed_batch: int = 256
    interpolation_steps: int = 8
    strategy: str = "auto"
    compare: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> EmulatorSettings:
        """Settings from the ``emulator`` block (keys not given keep their defaults)."""
        names = set(cls.__dataclass_fields__)
        values: dict[str, Any] = {k: v for k, v in block.items() if k in names}
        if "holdout" in values:
            values["holdout"] = tuple(values["holdout"])
        return cls(**values)

    #: Keys a resumed training may change (they do not alter the trajectory up to a checkpoint).
    RESUMABLE: ClassVar[tuple[str, ...]] = (
        "n_steps",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "speed_maps",
        "speed_batch",
        "interpolation_steps",
        "strategy",
        "compare",
    )

    def fingerprint_fields(self) -> dict[str, Any]:
        """What the checkpoints depend on: every field but :attr:`RESUMABLE` ones."""
        return {k: v for k, v in asdict(self).items() if k not in self.RESUMABLE}


def emulator_config_problems(
    cfg: Mapping[str, Any], *, grid_ids: Sequence[str], interior_ids: Sequence[str] = ()
) -> list[str]:
    """What the schema cannot check in ``emulator``: sizes that fit the maps, held-out cosmologies.

    Parameters
    ----------
    cfg
        The configuration.
    grid_ids
        Cosmology ids of the grid with training simulations.
    interior_ids
        Ids of interior grid cosmologies (a held-out one must be interior to be interpolated).

    Returns
    -------
    list of str
        One line per problem: key, what was expected, what was found.
    """
    block = cfg.get("emulator")
    if block is None:
        return []
    settings = EmulatorSettings.from_config(block)
    problems = []
    map_pix = int(cfg.get("shells", {}).get("n_pix", settings.n_pix))
    factor = 2**N_UPSAMPLINGS
    if settings.n_pix % factor or map_pix % settings.n_pix:
        problems.append(
            f"emulator.n_pix: expected a multiple of {factor} dividing shells.n_pix = {map_pix}, "
            f"found {settings.n_pix}"
        )
    for cid in settings.holdout:
        if cid not in grid_ids:
            problems.append(
                f"emulator.holdout: expected cosmologies of cosmology.grid with training simulations "
                f"({', '.join(grid_ids)}), found {cid!r}"
            )
        elif interior_ids and cid not in interior_ids:
            problems.append(
                f"emulator.holdout: expected interior grid cosmologies ({', '.join(interior_ids)}) "
                f"so that the held-out one is interpolated, found {cid!r}"
            )
    if len(set(settings.holdout)) >= len(grid_ids):
        problems.append(
            f"emulator.holdout: expected fewer cosmologies than the grid's {len(grid_ids)}, "
            f"found {len(settings.holdout)}"
        )
    return problems
