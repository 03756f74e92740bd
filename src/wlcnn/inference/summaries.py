"""Summary statistics (SPEC §7): simulated-survey predictions → μ̂ and Ŝ per (cosmology, A_IA).

One *simulated survey* is a set of patches (20 in the paper) built from test maps with its own
bootstrap n(z), m-bias error and shape-noise realisation; the network predicts each patch and
the predictions are averaged over the patches. S surveys per cosmology and per A_IA value give
the mean μ̂ and covariance Ŝ (unbiased, 1/(S−1)) of the survey-averaged predictions.

The pieces that need maps, survey and network are pluggable:

``make_survey(seed) -> inputs``
    The inputs (n_patches, ...) of one simulated survey, fully determined by ``seed`` (it picks
    the patch set, the n(z) realisation, the m-bias error and the noise). Built per (cosmology,
    A_IA) by the caller.
``make_survey.make_batch(seeds) -> inputs`` (optional)
    The inputs (n_surveys, n_patches, ...) of several surveys at once, each equal to
    ``make_survey(seed)``: when ``make_survey`` has it (and its ``n_patches``), surveys are built
    ``batch_size // n_patches`` at a time, so that a batched forward model (TensorFlow, on a
    GPU) builds them in one call (:class:`BatchMakeSurvey`).
``predict(batch) -> (n, p)``
    Predictions for a batch of patch inputs (the network; or the power spectrum of
    :mod:`wlcnn.inference.power_spectrum`). Called with several surveys' patches stacked, up to
    ``batch_size`` patches at a time, so that a GPU sees large batches.

Seeds come from :func:`survey_seed` ``(base_seed, cosmology id, A_IA index, survey index)`` and
*not* from the network: every network sees exactly the same simulated surveys, so that the
predictions of several networks (or training stages) can be concatenated into one data vector
whose covariance includes their cross-correlation (:func:`concatenate_summaries`, SPEC §8).

HDF5 layout (:func:`write_summaries`, one file per label = network, stage or statistic)
---------------------------------------------------------------------------------------
======================  ===========================  ==============================================
dataset                 shape, dtype                 meaning
======================  ===========================  ==============================================
``cosmology_id``        (n_c,) str                   grid ids of the cosmologies (nodes)
``omega_m``, ``sigma8`` (n_c,) f8                    node coordinates
``a_ia``                (n_a,) f8                    A_IA values (increasing)
``predictions``         (n_c, n_a, S, p) f8          survey-averaged predictions
``seeds``               (n_c, n_a, S) u8             seed of each simulated survey
``mean``                (n_c, n_a, p) f8             μ̂ (mean over surveys)
``covariance``          (n_c, n_a, p, p) f8          Ŝ (unbiased sample covariance)
``n_surveys``           (n_c, n_a) i8                S (M = N = S in the likelihood)
``predicted_sigma``     (n_c, n_a, S, p) f8          optional: the network's own predicted σ of each
                                                     survey-averaged prediction (see below)
======================  ===========================  ==============================================

``predicted_sigma`` is written for networks only (files without it, older ones included, read
as before with ``predicted_sigma = None``): per survey and output, √(Σᵢ σᵢ²) / n_patches with σᵢ²
the diagonal of patch i's predicted covariance (the Cholesky head's (L Lᵀ)⁻¹ or a mixture head's
covariance), i.e. the σ of the mean over patches if the patches' errors were independent; it is
what the scatter of the survey-averaged predictions would be if the network's σ were calibrated
and the patches independent (:func:`separate_predicted_sigma`).

Root attributes: ``schema`` (:data:`SUMMARIES_SCHEMA`), ``label``, ``components`` (JSON list of
the labels concatenated into this one), ``output_names`` (JSON, p names) and ``provenance``
(JSON, :mod:`wlcnn.provenance`). ``mean``, ``covariance`` and ``n_surveys`` are derived from
``predictions`` and stored for readers that do not recompute.

Observed data vectors (:func:`write_data_vector`) hold ``data`` (p,) with the same attributes.

Examples
--------
>>> import numpy as np
>>> make = lambda seed: np.random.default_rng(seed).normal(size=(4, 2))   # 4 patches
>>> predict = lambda batch: batch.reshape(len(batch), -1)                 # (n, 2)
>>> seeds = [survey_seed(base_seed=1, cosmology_id="c000", a_ia_index=0, index=i) for i in range(3)]
>>> predict_surveys(predict=predict, make_survey=make, seeds=seeds, batch_size=5).shape
(3, 2)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import h5py
import numpy as np

from wlcnn._errors import FieldError
from wlcnn.atomic import atomic_path
from wlcnn.seeding import seed_sequence_for

__all__ = [
    "DATA_SCHEMA",
    "SUMMARIES_SCHEMA",
    "BatchMakeSurvey",
    "DataVector",
    "MakeSurvey",
    "Predict",
    "Summaries",
    "SummariesFileError",
    "compute_summaries",
    "concatenate_data_vectors",
    "concatenate_summaries",
    "merge_cosmologies",
    "predict_data_vector",
    "predict_surveys",
    "read_data_vector",
    "read_summaries",
    "separate_predicted_sigma",
    "split_summaries",
    "survey_seed",
    "write_data_vector",
    "write_summaries",
]

SUMMARIES_SCHEMA = "wlcnn.summaries/1"
#: The optional dataset of the networks' predicted σ (module docstring).
PREDICTED_SIGMA = "predicted_sigma"
DATA_SCHEMA = "wlcnn.data_vector/1"
#: Identity tag of the simulated-survey seeds (keeps them apart from every other draw).
_SEED_TAG = "test-survey"

Predict = Callable[[np.ndarray], np.ndarray]
MakeSurvey = Callable[[int], np.ndarray]


@runtime_checkable
class BatchMakeSurvey(Protocol):
    """A ``make_survey`` that can also build several surveys in one call (module doc)."""

    #: Patches per survey (decides how many surveys fit in one ``batch_size``).
    n_patches: int

    def __call__(self, seed: int) -> np.ndarray:
        """Inputs (n_patches, ...) of one survey."""
        ...

    def make_batch(self, seeds: Sequence[int]) -> np.ndarray:
        """Inputs (n_surveys, n_patches, ...) of the surveys of ``seeds``, in order."""
        ...


class SummariesFileError(FieldError):
    """A summaries or data-vector file cannot be used as it is.

    Parameters
    ----------
    path
        The offending file (or a description of in-memory data, e.g. ``"<summaries 'cnn'>"``).
    field
        Dataset or attribute at fault, e.g. ``"predictions"`` or ``"attrs/output_names"``.
    expected, found
        What the reader needed and what the file holds.
    """


def _open_h5(path: str | Path) -> h5py.File:
    """Open an HDF5 product for reading; a missing or damaged file names itself (h5py does not)."""
    path = Path(path)
    if not path.is_file():
        found = "a directory" if path.is_dir() else "no such file"
        raise SummariesFileError(path, "file", "an existing HDF5 file", found)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise SummariesFileError(
            path, "file", "a complete HDF5 file (truncated or not HDF5?)", str(exc)
        ) from None


def _dataset(f: h5py.File, path: str | Path, name: str) -> np.ndarray:
    """Dataset ``name`` of an open product, or a :class:`SummariesFileError` naming the file."""
    if name not in f or not isinstance(f[name], h5py.Dataset):
        raise SummariesFileError(path, name, "this dataset", f"datasets {sorted(f)}")
    try:
        return f[name][()]
    except OSError as exc:  # a dataset whose bytes are cut off or damaged
        raise SummariesFileError(path, name, "a readable dataset", str(exc)) from None


def _json_attr(f: h5py.File, path: str | Path, name: str) -> Any:
    """JSON root attribute ``name`` of an open product (decoded)."""
    if name not in f.attrs:
        raise SummariesFileError(path, f"attrs/{name}", "this attribute", f"attributes {sorted(f.attrs)}")
    try:
        return json.loads(f.attrs[name])
    except (TypeError, ValueError) as exc:
        raise SummariesFileError(path, f"attrs/{name}", "JSON text", f"{f.attrs[name]!r} ({exc})") from None


def _first_non_finite(values: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first NaN or ±inf in ``values`` (None when all are finite)."""
    bad = np.argwhere(~np.isfinite(values))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def survey_seed(*, base_seed: int, cosmology_id: str, a_ia_index: int, index: int) -> int:
    """The 63-bit seed of simulated survey ``index`` at (cosmology, A_IA index).

    Independent of the network, so that all networks see the same surveys (module doc).
    """
    words = seed_sequence_for(base_seed, _SEED_TAG, cosmology_id, int(a_ia_index), int(index)).generate_state(
        2, dtype=np.uint32
    )
    # 63 bits: fits int64 (HDF5, TensorFlow stateless seeds) and uint64 alike.
    return int((int(words[0]) << 32 | int(words[1])) >> 1)


def _surveys(make_survey: MakeSurvey, *, seeds: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """The inputs of the surveys of ``seeds`` in order, built a batch at a time where possible."""
    if not isinstance(make_survey, BatchMakeSurvey):
        for seed in seeds:
            yield np.asarray(make_survey(int(seed)))
        return
    per_call = max(1, batch_size // max(1, int(make_survey.n_patches)))
    for start in range(0, len(seeds), per_call):
        yield from np.asarray(make_survey.make_batch([int(s) for s in seeds[start : start + per_call]]))


def predict_surveys(
    *, predict: Predict, make_survey: MakeSurvey, seeds: Sequence[int], batch_size: int
) -> np.ndarray:
    """Survey-averaged predictions (S, p) of the surveys made from ``seeds``.

    Parameters
    ----------
    predict
        Patch inputs (n, ...) → predictions (n, p).
    make_survey
        Seed → inputs (n_patches, ...) of one survey; a :class:`BatchMakeSurvey` builds
        ``batch_size // n_patches`` surveys (at least one) per ``make_batch`` call.
    seeds
        One seed per survey.
    batch_size
        Largest number of patches handed to ``predict`` at once (whole surveys are stacked
        until the next one would exceed it; a survey larger than it is predicted alone).

    Returns
    -------
    numpy.ndarray
        (S, p) float64: mean over each survey's patches of the predictions.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, found {batch_size}")
    out: list[np.ndarray] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        if not pending:
            return
        sizes = [len(x) for x in pending]
        pred = np.asarray(predict(np.concatenate(pending, axis=0)), dtype=np.float64)
        if pred.ndim != 2 or len(pred) != sum(sizes):
            raise ValueError(f"predict returned shape {pred.shape} for {sum(sizes)} patches; expected (n, p)")
        out.extend(part.mean(axis=0) for part in np.split(pred, np.cumsum(sizes)[:-1]))
        pending.clear()

    for seed, inputs in zip(seeds, _surveys(make_survey, seeds=seeds, batch_size=batch_size), strict=True):
        if len(inputs) == 0:
            raise ValueError(f"make_survey({seed}) returned no patches")
        if pending and sum(len(x) for x in pending) + len(inputs) > batch_size:
            flush()
        pending.append(inputs)
    flush()
    return np.stack(out) if out else np.zeros((0, 0))


@dataclass(frozen=True)
class Summaries:
    """Survey predictions of one label (network, stage, statistic) on the (cosmology, A_IA) grid.

    Attributes
    ----------
    label
        Name of the network / stage / statistic (or of a combination).
    cosmology_ids
        (n_c,) grid ids.
    omega_m, sigma8
        (n_c,) node coordinates.
    a_ia
        (n_a,) increasing A_IA values.
    predictions
        (n_c, n_a, S, p) survey-averaged predictions.
    seeds
        (n_c, n_a, S) survey seeds.
    output_names
        p names of the data-vector entries.
    components
        Labels concatenated into this one (``[label]`` for a single network).
    provenance
        Provenance record(s) (JSON-able).
    source
        The file these were read from (None when computed in memory); named in errors.
    predicted_sigma
        (n_c, n_a, S, p) the network's predicted σ of each survey-averaged prediction (module
        docstring), or None (statistics without a network; files written without it).
    """

    label: str
    cosmology_ids: tuple[str, ...]
    omega_m: np.ndarray
    sigma8: np.ndarray
    a_ia: np.ndarray
    predictions: np.ndarray
    seeds: np.ndarray
    output_names: tuple[str, ...]
    components: tuple[str, ...] = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = field(default=None, compare=False)
    predicted_sigma: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        n_c, n_a = len(self.cosmology_ids), len(self.a_ia)
        pred = np.asarray(self.predictions)
        if pred.ndim != 4 or pred.shape[:2] != (n_c, n_a):
            raise ValueError(f"predictions: expected shape ({n_c}, {n_a}, S, p), found {pred.shape}")
        if np.shape(self.seeds) != pred.shape[:3]:
            raise ValueError(f"seeds: expected shape {pred.shape[:3]}, found {np.shape(self.seeds)}")
        if len(self.output_names) != pred.shape[3]:
            raise ValueError(f"output_names: expected {pred.shape[3]} names, found {len(self.output_names)}")
        if pred.shape[2] < 2:
            raise ValueError("at least two surveys per (cosmology, A_IA) are needed for a covariance")
        if self.predicted_sigma is not None and np.shape(self.predicted_sigma) != pred.shape:
            raise ValueError(
                f"predicted_sigma: expected shape {pred.shape} like predictions, "
                f"found {np.shape(self.predicted_sigma)}"
            )

    @property
    def nodes(self) -> np.ndarray:
        """(n_c, 2) (Ωm, σ8)."""
        return np.column_stack([self.omega_m, self.sigma8])

    @property
    def n_surveys(self) -> np.ndarray:
        """(n_c, n_a) surveys per grid value (M = N)."""
        return np.full(self.predictions.shape[:2], self.predictions.shape[2], dtype=np.int64)

    @property
    def mean(self) -> np.ndarray:
        """(n_c, n_a, p) μ̂."""
        return np.asarray(self.predictions).mean(axis=2)

    @property
    def covariance(self) -> np.ndarray:
        """(n_c, n_a, p, p) Ŝ, unbiased (divides by S − 1)."""
        pred = np.asarray(self.predictions)
        dev = pred - pred.mean(axis=2, keepdims=True)
        return np.einsum("casi,casj->caij", dev, dev) / (pred.shape[2] - 1)

    def index_of(self, cosmology_id: str) -> int:
        """Row of a cosmology id."""
        try:
            return self.cosmology_ids.index(cosmology_id)
        except ValueError:
            raise KeyError(f"cosmology {cosmology_id!r} not in summaries {self.label!r}") from None


def compute_summaries(
    *,
    label: str,
    predict: Predict,
    make_survey_for: Callable[[str, float], MakeSurvey],
    cosmologies: Sequence[tuple[str, float, float]],
    a_ia: Sequence[float] | np.ndarray,
    n_surveys: int,
    base_seed: int,
    batch_size: int,
    output_names: Sequence[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Summaries:
    """Predict S simulated surveys per (cosmology, A_IA) and collect them.

    Parameters
    ----------
    label
        Network / stage / statistic name.
    predict
        Patch inputs → predictions (n, p).
    make_survey_for
        (cosmology id, A_IA) → ``make_survey(seed)`` for that grid value.
    cosmologies
        (id, Ωm, σ8) of the test cosmologies.
    a_ia
        A_IA values (increasing; paper: 25 in [−6, 6]).
    n_surveys
        S per grid value (paper: 200).
    base_seed
        Run seed (``run.seed``).
    batch_size
        Patches per ``predict`` call.
    output_names
        Names of the p outputs (default ``out0``, ``out1``, ...).
    provenance
        Provenance record to store.
    """
    a_ia = np.asarray(a_ia, dtype=np.float64)
    seeds = np.zeros((len(cosmologies), len(a_ia), n_surveys), dtype=np.uint64)
    rows = []
    for c, (cid, _, _) in enumerate(cosmologies):
        per_a = []
        for j, a in enumerate(a_ia):
            seeds[c, j] = [
                survey_seed(base_seed=base_seed, cosmology_id=cid, a_ia_index=j, index=i)
                for i in range(n_surveys)
            ]
            per_a.append(
                predict_surveys(
                    predict=predict,
                    make_survey=make_survey_for(cid, float(a)),
                    seeds=[int(s) for s in seeds[c, j]],
                    batch_size=batch_size,
                )
            )
        rows.append(np.stack(per_a))
    predictions = np.stack(rows)
    p = predictions.shape[-1]
    return Summaries(
        label=label,
        cosmology_ids=tuple(c[0] for c in cosmologies),
        omega_m=np.array([c[1] for c in cosmologies], dtype=np.float64),
        sigma8=np.array([c[2] for c in cosmologies], dtype=np.float64),
        a_ia=a_ia,
        predictions=predictions,
        seeds=seeds,
        output_names=tuple(output_names) if output_names is not None else tuple(f"out{i}" for i in range(p)),
        components=(label,),
        provenance=dict(provenance or {}),
    )


def split_summaries(joint: Summaries, *, parts: Sequence[tuple[str, int]]) -> list[Summaries]:
    """Split summaries computed for several statistics at once into one per statistic.

    Several statistics of the same maps (the power spectrum, peaks, Minkowski functionals) are
    computed on the same simulated surveys in one pass (the surveys cost far more than the
    statistics); the survey seeds do not depend on the statistic, so each part equals what a
    separate :func:`compute_summaries` of that statistic gives.

    Parameters
    ----------
    joint
        Summaries whose predictions are the parts' outputs side by side.
    parts
        (label, number of outputs) per statistic, in column order.

    Returns
    -------
    list of Summaries
        One per part, labelled, with its own output names.

    Raises
    ------
    ValueError
        If the parts' outputs do not add up to the joint summaries' outputs.
    """
    total = sum(n for _, n in parts)
    if total != joint.predictions.shape[-1]:
        raise ValueError(f"parts: expected {joint.predictions.shape[-1]} outputs in all, found {total}")
    out, start = [], 0
    for label, n in parts:
        out.append(
            replace(
                joint,
                label=label,
                predictions=joint.predictions[..., start : start + n],
                output_names=joint.output_names[start : start + n],
                components=(label,),
                predicted_sigma=(
                    None if joint.predicted_sigma is None else joint.predicted_sigma[..., start : start + n]
                ),
            )
        )
        start += n
    return out


def separate_predicted_sigma(summaries: Summaries, *, variance_prefix: str, n_patches: int) -> Summaries:
    """Move predicted-variance outputs out of the data vector into ``predicted_sigma``.

    ``summaries`` were computed by a predictor that returns, after its p summaries, the per-patch
    predicted variance of each, named ``variance_prefix`` + name
    (:func:`wlcnn.inference.predictors.make_predictor` with ``predicted_variance=True``); their
    survey averages are the mean variance over the survey's patches, so the predicted σ of the
    survey-averaged prediction is √(mean variance / ``n_patches``) (module docstring). Summaries
    without such outputs are returned unchanged.

    Raises
    ------
    ValueError
        If the variance outputs do not pair one-to-one, in order, with the other outputs, or
        ``n_patches`` < 1.
    """
    names = summaries.output_names
    variance_columns = [i for i, name in enumerate(names) if name.startswith(variance_prefix)]
    if not variance_columns:
        return summaries
    if n_patches < 1:
        raise ValueError(f"n_patches: expected >= 1, found {n_patches}")
    kept = [i for i in range(len(names)) if i not in variance_columns]
    expected = [f"{variance_prefix}{names[i]}" for i in kept]
    if [names[i] for i in variance_columns] != expected:
        raise ValueError(
            f"output_names: expected variance outputs {expected} after the summaries, "
            f"found {[names[i] for i in variance_columns]}"
        )
    pred = np.asarray(summaries.predictions)
    return replace(
        summaries,
        predictions=pred[..., kept],
        output_names=tuple(names[i] for i in kept),
        predicted_sigma=np.sqrt(pred[..., variance_columns] / n_patches),
    )


def concatenate_summaries(parts: Sequence[Summaries], *, label: str) -> Summaries:
    """Combine networks / stages (SPEC §8): concatenate their predictions into one data vector.

    The joint covariance includes the cross-covariance between networks because every part
    predicted the same simulated surveys (same seeds; checked).

    Raises
    ------
    ValueError
        The parts differ in cosmologies, A_IA values or survey seeds.
    """
    if not parts:
        raise ValueError("nothing to concatenate")
    first = parts[0]
    for part in parts[1:]:
        if part.cosmology_ids != first.cosmology_ids or not np.array_equal(part.a_ia, first.a_ia):
            raise ValueError(f"{part.label!r} and {first.label!r} cover different cosmologies or A_IA values")
        if not np.array_equal(part.seeds, first.seeds):
            raise ValueError(
                f"{part.label!r} and {first.label!r} predicted different simulated surveys (seeds differ): "
                "their cross-covariance would be wrong"
            )
    return Summaries(
        label=label,
        cosmology_ids=first.cosmology_ids,
        omega_m=first.omega_m,
        sigma8=first.sigma8,
        a_ia=first.a_ia,
        predictions=np.concatenate([np.asarray(p.predictions) for p in parts], axis=-1),
        seeds=first.seeds,
        output_names=tuple(f"{p.label}:{name}" for p in parts for name in p.output_names),
        components=tuple(c for p in parts for c in (p.components or (p.label,))),
        provenance={"concatenated": [dict(p.provenance) for p in parts]},
    )


def merge_cosmologies(parts: Sequence[Summaries]) -> Summaries:
    """Join summaries of one label computed for disjoint sets of cosmologies (one job each)."""
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    ids = [cid for p in parts for cid in p.cosmology_ids]
    if len(set(ids)) != len(ids):
        raise ValueError("a cosmology appears in more than one part")
    for part in parts[1:]:
        if part.label != first.label or part.output_names != first.output_names:
            raise ValueError(f"cannot merge {part.label!r} into {first.label!r}: different label or outputs")
        if (
            not np.array_equal(part.a_ia, first.a_ia)
            or part.predictions.shape[2:] != first.predictions.shape[2:]
        ):
            raise ValueError(f"{part.label!r}: parts differ in A_IA values or survey counts")
    return Summaries(
        label=first.label,
        cosmology_ids=tuple(ids),
        omega_m=np.concatenate([p.omega_m for p in parts]),
        sigma8=np.concatenate([p.sigma8 for p in parts]),
        a_ia=first.a_ia,
        predictions=np.concatenate([p.predictions for p in parts], axis=0),
        seeds=np.concatenate([p.seeds for p in parts], axis=0),
        output_names=first.output_names,
        components=first.components,
        provenance={"merged": [dict(p.provenance) for p in parts]},
        # Kept only if every part has it: a partial σ grid would not match the predictions.
        predicted_sigma=(
            np.concatenate([np.asarray(p.predicted_sigma) for p in parts], axis=0)
            if all(p.predicted_sigma is not None for p in parts)
            else None
        ),
    )


def write_summaries(path: str | Path, summaries: Summaries) -> None:
    """Write :class:`Summaries` atomically in the layout of the module doc."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = SUMMARIES_SCHEMA
        f.attrs["label"] = summaries.label
        f.attrs["components"] = json.dumps(list(summaries.components))
        f.attrs["output_names"] = json.dumps(list(summaries.output_names))
        f.attrs["provenance"] = json.dumps(summaries.provenance, default=str)
        f.create_dataset("cosmology_id", data=np.array(summaries.cosmology_ids, dtype=h5py.string_dtype()))
        f.create_dataset("omega_m", data=np.asarray(summaries.omega_m, dtype=np.float64))
        f.create_dataset("sigma8", data=np.asarray(summaries.sigma8, dtype=np.float64))
        f.create_dataset("a_ia", data=np.asarray(summaries.a_ia, dtype=np.float64))
        f.create_dataset("predictions", data=np.asarray(summaries.predictions, dtype=np.float64))
        f.create_dataset("seeds", data=np.asarray(summaries.seeds, dtype=np.uint64))
        f.create_dataset("mean", data=summaries.mean)
        f.create_dataset("covariance", data=summaries.covariance)
        f.create_dataset("n_surveys", data=summaries.n_surveys)
        if summaries.predicted_sigma is not None:
            f.create_dataset(PREDICTED_SIGMA, data=np.asarray(summaries.predicted_sigma, dtype=np.float64))


def read_summaries(path: str | Path) -> Summaries:
    """Read a file of :func:`write_summaries`, checking what the likelihood relies on.

    Raises
    ------
    SummariesFileError
        Missing, truncated or foreign file; missing dataset or attribute; shapes that disagree;
        a NaN or ±inf prediction (named by cosmology, A_IA, survey and output).
    """
    with _open_h5(path) as f:
        schema = f.attrs.get("schema")
        if schema != SUMMARIES_SCHEMA:
            raise SummariesFileError(path, "attrs/schema", repr(SUMMARIES_SCHEMA), repr(schema))
        ids = tuple(s.decode() if isinstance(s, bytes) else str(s) for s in _dataset(f, path, "cosmology_id"))
        arrays = {
            name: _dataset(f, path, name) for name in ("omega_m", "sigma8", "a_ia", "predictions", "seeds")
        }
        output_names = tuple(_json_attr(f, path, "output_names"))
        components = tuple(_json_attr(f, path, "components"))
        provenance = _json_attr(f, path, "provenance")
        label = str(f.attrs.get("label", ""))
        # Optional (module docstring): files without it read as before.
        sigma = _dataset(f, path, PREDICTED_SIGMA) if PREDICTED_SIGMA in f else None
    n_c, n_a = len(ids), len(arrays["a_ia"])
    for name in ("omega_m", "sigma8"):
        if arrays[name].shape != (n_c,):
            raise SummariesFileError(
                path, name, f"shape ({n_c},) like cosmology_id", f"shape {arrays[name].shape}"
            )
    pred = arrays["predictions"]
    if pred.ndim != 4 or pred.shape[:2] != (n_c, n_a) or pred.shape[3] != len(output_names):
        raise SummariesFileError(
            path,
            "predictions",
            f"shape ({n_c} cosmologies, {n_a} A_IA values, S surveys, {len(output_names)} outputs)",
            f"shape {pred.shape}",
        )
    if arrays["seeds"].shape != pred.shape[:3]:
        raise SummariesFileError(path, "seeds", f"shape {pred.shape[:3]}", f"shape {arrays['seeds'].shape}")
    if pred.shape[2] < 2:
        raise SummariesFileError(
            path,
            "predictions",
            "at least two surveys per (cosmology, A_IA) for a covariance",
            f"{pred.shape[2]}",
        )
    bad = _first_non_finite(pred)
    if bad is not None:
        c, j, k, i = bad
        raise SummariesFileError(
            path,
            "predictions",
            "finite predictions",
            f"{pred[bad]} at cosmology {ids[c]}, A_IA = {arrays['a_ia'][j]:g}, survey {k}, "
            f"output {output_names[i]!r} (index {list(bad)})",
        )
    if sigma is not None:
        if sigma.shape != pred.shape:
            raise SummariesFileError(
                path, PREDICTED_SIGMA, f"shape {pred.shape} like predictions", f"shape {sigma.shape}"
            )
        invalid = np.argwhere(~(np.isfinite(sigma) & (sigma > 0)))
        if len(invalid):
            bad_sigma = tuple(int(i) for i in invalid[0])
            raise SummariesFileError(
                path,
                PREDICTED_SIGMA,
                "finite positive standard deviations",
                f"{sigma[bad_sigma]} at index {list(bad_sigma)} ({len(invalid)} such value(s))",
            )
    return Summaries(
        label=label,
        cosmology_ids=ids,
        omega_m=arrays["omega_m"],
        sigma8=arrays["sigma8"],
        a_ia=arrays["a_ia"],
        predictions=pred,
        seeds=arrays["seeds"],
        output_names=output_names,
        components=components,
        provenance=provenance,
        source=str(path),
        predicted_sigma=sigma,
    )


@dataclass(frozen=True)
class DataVector:
    """The observed (or mock-observed) data vector of one label: survey-averaged predictions."""

    label: str
    data: np.ndarray
    output_names: tuple[str, ...]
    components: tuple[str, ...] = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)
    #: The file this was read from (None when computed in memory); named in errors.
    source: str | None = field(default=None, compare=False)


def predict_data_vector(
    *,
    predict: Predict,
    inputs: np.ndarray,
    batch_size: int,
    label: str,
    output_names: Sequence[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> DataVector:
    """The data vector of an observed survey: ``predict`` on its patches, averaged over patches.

    ``inputs`` (n_patches, ...) went through the same forward path as the simulations (mode
    removal, smoothing), so data and model are the same statistic.
    """
    inputs = np.asarray(inputs)
    parts = [
        np.asarray(predict(inputs[start : start + batch_size]), dtype=np.float64)
        for start in range(0, len(inputs), batch_size)
    ]
    pred = np.concatenate(parts, axis=0)
    if pred.ndim != 2 or len(pred) != len(inputs):
        raise ValueError(f"predict returned shape {pred.shape} for {len(inputs)} patches; expected (n, p)")
    p = pred.shape[1]
    return DataVector(
        label=label,
        data=pred.mean(axis=0),
        output_names=tuple(output_names) if output_names is not None else tuple(f"out{i}" for i in range(p)),
        components=(label,),
        provenance=dict(provenance or {}),
    )


def concatenate_data_vectors(parts: Sequence[DataVector], *, label: str) -> DataVector:
    """Concatenate observed data vectors in the order of :func:`concatenate_summaries`."""
    if not parts:
        raise ValueError("nothing to concatenate")
    return DataVector(
        label=label,
        data=np.concatenate([np.asarray(p.data, dtype=np.float64) for p in parts]),
        output_names=tuple(f"{p.label}:{name}" for p in parts for name in p.output_names),
        components=tuple(c for p in parts for c in (p.components or (p.label,))),
        provenance={"concatenated": [dict(p.provenance) for p in parts]},
    )


def write_data_vector(path: str | Path, vector: DataVector) -> None:
    """Write a :class:`DataVector` atomically (dataset ``data``, attributes as for summaries)."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = DATA_SCHEMA
        f.attrs["label"] = vector.label
        f.attrs["components"] = json.dumps(list(vector.components))
        f.attrs["output_names"] = json.dumps(list(vector.output_names))
        f.attrs["provenance"] = json.dumps(vector.provenance, default=str)
        f.create_dataset("data", data=np.asarray(vector.data, dtype=np.float64))


def read_data_vector(path: str | Path) -> DataVector:
    """Read a file of :func:`write_data_vector`, checking its shape and values.

    Raises
    ------
    SummariesFileError
        Missing, truncated or foreign file; missing dataset or attribute; a data vector whose
        length disagrees with its output names, or that holds a NaN or ±inf (entry named).
    """
    with _open_h5(path) as f:
        schema = f.attrs.get("schema")
        if schema != DATA_SCHEMA:
            raise SummariesFileError(path, "attrs/schema", repr(DATA_SCHEMA), repr(schema))
        data = _dataset(f, path, "data")
        output_names = tuple(_json_attr(f, path, "output_names"))
        components = tuple(_json_attr(f, path, "components"))
        provenance = _json_attr(f, path, "provenance")
        label = str(f.attrs.get("label", ""))
    if data.shape != (len(output_names),):
        raise SummariesFileError(
            path, "data", f"shape ({len(output_names)},) (one entry per output name)", f"shape {data.shape}"
        )
    bad = _first_non_finite(data)
    if bad is not None:
        raise SummariesFileError(
            path, "data", "finite entries", f"{data[bad]} at entry {bad[0]} ({output_names[bad[0]]!r})"
        )
    return DataVector(
        label=label,
        data=data,
        output_names=output_names,
        components=components,
        provenance=provenance,
        source=str(path),
    )
