"""The ``training:`` configuration block as typed settings, and the curriculum of each network.

:class:`TrainingSettings` holds every key of the block (defaults: the paper's values, SPEC §6),
:func:`stages_for` resolves the curriculum of one network, and :func:`network_config_subset` is
the part of the configuration one network's result depends on: the Snakemake rule passes it as
``params`` so that editing one network's curriculum reruns that network only, and the trainer
stores it in the checkpoint directory to decide whether a rerun may continue old checkpoints.

Examples
--------
>>> s = TrainingSettings.from_config({"n_steps": 100, "curriculum": {"tiny": [
...     {"name": "noise_free", "noise": False, "steps": 40}, {"name": "noisy", "noise": True}]}})
>>> [(st.name, st.noise, st.start, st.stop) for st in stages_for(s, "tiny")]
[('noise_free', False, 0, 40), ('noisy', True, 40, 140)]
>>> [(st.name, st.stop) for st in stages_for(s, "resnet_3x3_15")]
[('noisy', 100)]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "MIXED_PRECISION_MODES",
    "RESUMABLE_KEYS",
    "Stage",
    "TrainingSettings",
    "mixture_components_for",
    "network_config_subset",
    "resume_fingerprint",
    "stages_for",
]

#: Values of ``training.mixed_precision``: compute dtype of the network (variables stay float32).
MIXED_PRECISION_MODES = ("none", "float16", "bfloat16")
#: Keys that may change between a run and its continuation without invalidating the checkpoints:
#: they change how long, how often or how fast it runs, not what the weights become.
RESUMABLE_KEYS = frozenset(
    {
        "n_steps",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "validation_every",
        "validation_cosmologies",
        "mixed_precision",
        "xla",
        "deterministic",
        "input_threads",
        "prefetch_batches",
        "resources",
        "networks",
    }
)
#: Name of the default single stage (noisy maps for ``n_steps`` steps).
DEFAULT_STAGE = "noisy"


@dataclass(frozen=True)
class Stage:
    """One stage of a curriculum, in global optimizer steps ``[start, stop)``.

    Attributes
    ----------
    name
        Label used in the log, the history and TensorBoard.
    noise
        Whether the forward model adds shape noise (``False``: noise-free pre-training).
    start, stop
        First and one-past-last global step of the stage.
    learning_rate
        Learning rate of the stage (the block's ``learning_rate`` unless the stage sets one).
    noise_ramp_steps
        Steps over which the shape noise grows linearly from 0 to its full amplitude at the start
        of a noisy stage (0: full noise from the first step). A network pre-trained noise-free
        meets noise-dominated inputs gradually instead of all at once.
    """

    name: str
    noise: bool
    start: int
    stop: int
    learning_rate: float
    noise_ramp_steps: int = 0

    @property
    def steps(self) -> int:
        """Number of steps of the stage."""
        return self.stop - self.start

    def noise_scale(self, step: int) -> float:
        """Amplitude of the shape noise (0 ... 1) at global step ``step`` (0-based) of the stage.

        >>> Stage("ramp", True, 100, 200, 1e-3, noise_ramp_steps=4).noise_scale(101)
        0.5
        """
        if not self.noise:
            return 0.0
        if self.noise_ramp_steps <= 0:
            return 1.0
        return min(1.0, (step - self.start + 1) / self.noise_ramp_steps)


@dataclass(frozen=True)
class TrainingSettings:
    """Every key of the ``training:`` block (see ``workflow/schemas/config.schema.yaml``).

    Defaults are the paper's values (SPEC §6), so tests and the benchmark can start from them.
    Units: learning rates per optimizer step; ``a_ia_range`` in units of A_IA (dimensionless).
    """

    networks: tuple[str, ...] = ("resnet_5x5_10", "resnet_3x3_15", "resnet_3x3_25")
    channels: int | None = None
    a_ia_range: tuple[float, float] = (-6.0, 6.0)
    cosmologies_per_step: int = 8
    learning_rate: float = 5.0e-6
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1.0e-8
    clip_global_norm: float = 100.0
    n_steps: int = 1_500_000
    validation_every: int = 250
    validation_cosmologies: int | None = None
    bias_lambda: float = 0.0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 100
    curriculum: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    mixed_precision: str = "none"
    xla: bool = False
    deterministic: bool = False
    input_threads: int = 2
    prefetch_batches: int = 2
    resources: Mapping[str, Any] = field(default_factory=dict)
    #: K of each network's mixture-density head (absent networks: 1, the Cholesky head).
    mixture_components: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> TrainingSettings:
        """Settings from a ``training:`` block (a mapping); absent keys take the defaults."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(block) - known)
        if unknown:
            raise ValueError(f"training: unknown key(s) {unknown}; allowed: {sorted(known)}")
        values: dict[str, Any] = dict(block)
        if "networks" in values:
            values["networks"] = tuple(values["networks"])
        if "a_ia_range" in values:
            lo, hi = (float(v) for v in values["a_ia_range"])
            if hi < lo:
                raise ValueError(
                    f"training.a_ia_range: expected [low, high] with low <= high, found {[lo, hi]}"
                )
            values["a_ia_range"] = (lo, hi)
        if "curriculum" in values:
            values["curriculum"] = {k: tuple(dict(s) for s in v) for k, v in values["curriculum"].items()}
        if "mixture_components" in values:
            components = dict(values["mixture_components"] or {})
            for name, k in components.items():
                # bool is an int in Python: reject it explicitly (``true`` is not a K).
                if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                    raise ValueError(
                        f"training.mixture_components.{name}: expected an integer >= 1, found {k!r}"
                    )
            values["mixture_components"] = components
        if values.get("mixed_precision", "none") not in MIXED_PRECISION_MODES:
            raise ValueError(
                f"training.mixed_precision: {values['mixed_precision']!r} not in "
                f"{list(MIXED_PRECISION_MODES)}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping of every key (the inverse of :meth:`from_config`)."""
        out = asdict(self)
        out["networks"] = list(self.networks)
        out["a_ia_range"] = list(self.a_ia_range)
        out["curriculum"] = {k: [dict(s) for s in v] for k, v in self.curriculum.items()}
        out["resources"] = dict(self.resources)
        out["mixture_components"] = dict(self.mixture_components)
        return out

    @property
    def validation_batch(self) -> int:
        """Cosmologies in the held-out validation batch (default: one training batch's worth)."""
        return self.validation_cosmologies or self.cosmologies_per_step


def stages_for(settings: TrainingSettings, network: str) -> list[Stage]:
    """The curriculum of ``network``, as consecutive :class:`Stage` objects.

    A network listed in ``settings.curriculum`` runs its stages in order; every stage gives
    ``steps``, except that the last may leave it out and then runs ``n_steps`` steps (so that the
    paper's "1 M noise-free + 1.5 M noisy" is ``[{noise: false, steps: 1000000}, {noise: true}]``).
    Any other network runs one noisy stage of ``n_steps`` steps.
    """
    spec = settings.curriculum.get(network) or ({"name": DEFAULT_STAGE, "noise": True},)
    stages: list[Stage] = []
    start = 0
    for i, raw in enumerate(spec):
        last = i == len(spec) - 1
        if "steps" not in raw and not last:
            raise ValueError(
                f"training.curriculum.{network}[{i}]: 'steps' is required except in the last stage"
            )
        steps = int(raw.get("steps", settings.n_steps))
        if steps < 1:
            raise ValueError(f"training.curriculum.{network}[{i}]: steps must be >= 1, found {steps}")
        ramp = int(raw.get("noise_ramp_steps", 0))
        if ramp < 0 or (ramp > 0 and not bool(raw.get("noise", True))):
            raise ValueError(
                f"training.curriculum.{network}[{i}]: noise_ramp_steps must be >= 0 and only in a "
                f"noisy stage, found {ramp} (noise: {raw.get('noise', True)})"
            )
        stages.append(
            Stage(
                name=str(raw.get("name", f"stage{i}")),
                noise=bool(raw.get("noise", True)),
                start=start,
                stop=start + steps,
                learning_rate=float(raw.get("learning_rate", settings.learning_rate)),
                noise_ramp_steps=ramp,
            )
        )
        start += steps
    return stages


def mixture_components_for(settings: TrainingSettings, network: str) -> int:
    """K of ``network``'s head (``training.mixture_components``; 1 when not listed)."""
    return int(settings.mixture_components.get(network, 1))


def network_config_subset(settings: TrainingSettings, network: str) -> dict[str, Any]:
    """The configuration one network's training depends on (other networks' curricula removed).

    ``mixture_components`` appears only when this network's K is not 1: a K = 1 network's subset
    (its checkpoints' fingerprint, its ``training_config.json``) is the same as before the key
    existed, and another network's K does not touch it.
    """
    out = settings.to_dict()
    out.pop("networks")
    out.pop("mixture_components")
    out["curriculum"] = [dict(s) for s in settings.curriculum.get(network, ())]
    out["network"] = network
    k = mixture_components_for(settings, network)
    if k != 1:
        out["mixture_components"] = k
    return out


def resume_fingerprint(
    subset: Mapping[str, Any], *, extra: Mapping[str, Any] | None = None, stages: Sequence[Stage] = ()
) -> str:
    """SHA-256 of what checkpoints depend on: ``subset`` minus :data:`RESUMABLE_KEYS`.

    The last stage's length is left out too (it may grow: training continues to the new end),
    as is the ``steps`` key of the last curriculum entry.
    """
    kept = {k: v for k, v in subset.items() if k not in RESUMABLE_KEYS}
    curriculum = [dict(s) for s in kept.get("curriculum", [])]
    if curriculum:
        curriculum[-1].pop("steps", None)
    kept["curriculum"] = curriculum
    kept["stage_starts"] = [(s.name, s.noise, s.start, s.learning_rate) for s in stages]
    if extra:
        kept["extra"] = dict(extra)
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
