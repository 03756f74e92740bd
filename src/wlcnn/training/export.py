"""Export of a trained network, and loading it back.

:func:`export_network` writes into the run's output directory::

    model.keras            the trained network (Keras format; per-patch (N, N, C) → 9 outputs, or
                           n_outputs(K, 3) for a K-component mixture head)
    training_config.json   network, training settings, curriculum, input shape, forward model
    provenance.json        inputs, configuration, code and software versions
    loss.png               training and validation loss (the paper's Fig. 11), from history.csv

and a provenance sidecar beside the model, the history and the plot (where ``wlcnn audit``
looks for it). :func:`load_trained_model` reads ``model.keras`` back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wlcnn._errors import FieldError
from wlcnn.atomic import atomic_path, atomic_write_text
from wlcnn.provenance import file_record, provenance_record, write_sidecar
from wlcnn.training.loss import N_PARAMS
from wlcnn.training.mixture_density import mixture_components_from_width, n_outputs
from wlcnn.training.networks import NetworkSpec
from wlcnn.training.plots import plot_loss_curves
from wlcnn.training.settings import Stage

__all__ = [
    "MODEL_FILE",
    "OUTPUT_LAYOUT",
    "STAGE_MODELS_DIR",
    "ModelFileError",
    "TrainedRun",
    "export_network",
    "load_trained_model",
    "output_layout",
    "save_stage_model",
    "stage_model_path",
]

log = logging.getLogger("wlcnn.training")

#: The exported network in the run's output directory.
MODEL_FILE = "model.keras"
#: The network as it was at the end of each curriculum stage but the last (``<stage>.keras``):
#: e.g. the noise-free pre-trained network, for a noise-free analysis beside the noisy one.
STAGE_MODELS_DIR = "stages"
#: The network's description in the run's output directory.
CONFIG_FILE = "training_config.json"
#: The run's provenance record in its output directory.
PROVENANCE_FILE = "provenance.json"
#: The loss history (written by the loop) and its plot.
HISTORY_FILE = "history.csv"
LOSS_PLOT_FILE = "loss.png"
#: What the network's 9 outputs mean (see :mod:`wlcnn.training.loss`).
OUTPUT_LAYOUT = (
    "omega_m",
    "sigma8",
    "a_ia/10",
    "L00_raw",
    "L11_raw",
    "L22_raw",
    "L10",
    "L20",
    "L21",
)


def output_layout(k: int) -> list[str]:
    """Names of the outputs of a K-component head.

    :data:`OUTPUT_LAYOUT` for K = 1; else each component's block with a ``c<i>:`` prefix, then
    the K mixture logits.
    """
    if k == 1:
        return list(OUTPUT_LAYOUT)
    blocks = [f"c{c}:{name}" for c in range(k) for name in OUTPUT_LAYOUT]
    return [*blocks, *(f"logit{c}" for c in range(k))]


#: How the raw diagonal outputs become the Cholesky factor's (positive) diagonal.
DIAGONAL_TRANSFORM = "softplus"


@dataclass(frozen=True)
class TrainedRun:
    """What the export records about a finished training run.

    Attributes
    ----------
    spec, preset
        The network's hyper-parameters and preset name.
    input_shape
        Shape ``(N, N, C)`` of one input patch.
    n_patches, n_bins
        Patches per survey and tomographic bins.
    config
        The training configuration subset the network depends on.
    stages
        The curriculum.
    steps
        Total global steps.
    base_seed
        The run's base seed.
    forward_model
        Identity of the forward model.
    dtype_policy
        The Keras dtype policy.
    distribution
        Description of the distribution strategy.
    train_cosmologies, validation_cosmologies
        :func:`wlcnn.training.input_pipeline.describe_cosmologies` of the map sets.
    """

    spec: NetworkSpec
    preset: str
    input_shape: tuple[int, int, int]
    n_patches: int
    n_bins: int
    config: Mapping[str, Any]
    stages: Sequence[Stage]
    steps: int
    base_seed: int
    forward_model: str
    dtype_policy: str
    distribution: str
    train_cosmologies: Sequence[Mapping[str, Any]]
    validation_cosmologies: Sequence[Mapping[str, Any]]


def _training_config(run: TrainedRun) -> dict[str, Any]:
    """The content of ``training_config.json`` (key order is part of the file).

    ``mixture_components`` is written only for K > 1, so a K = 1 file is unchanged.
    """
    k = int(run.config.get("mixture_components", 1))
    head: dict[str, Any] = {"mixture_components": k} if k != 1 else {}
    return {
        "network": run.spec.__dict__,
        "preset": run.preset,
        "input_shape": list(run.input_shape),
        "n_patches": run.n_patches,
        "n_bins": run.n_bins,
        "outputs": n_outputs(k, N_PARAMS),
        **head,
        "output_layout": output_layout(k),
        "diagonal_transform": DIAGONAL_TRANSFORM,
        "training": run.config,
        "stages": [s.__dict__ for s in run.stages],
        "steps": run.steps,
        "base_seed": run.base_seed,
        "forward_model": run.forward_model,
        "dtype_policy": run.dtype_policy,
        "distribution": run.distribution,
        "train_cosmologies": run.train_cosmologies,
        "validation_cosmologies": run.validation_cosmologies,
    }


def export_network(
    model: Any,
    run: TrainedRun,
    *,
    out_dir: Path,
    train_files: Sequence[str | Path],
    validation_files: Sequence[str | Path],
    started: str,
    checksum: str,
    extra: Mapping[str, Any] | None,
) -> Path:
    """Write model, configuration, provenance and loss plot of a trained network.

    Parameters
    ----------
    model
        The trained Keras model.
    run
        What to record about the run.
    out_dir
        The run's output directory (holds ``history.csv`` if the loop wrote one).
    train_files, validation_files
        The map files trained and validated on (provenance inputs).
    started
        UTC start time of the run (:func:`wlcnn.provenance.utc_now`).
    checksum
        Checksum algorithm of the inputs in the provenance (``"none"``: sizes only).
    extra
        Extra facts for the provenance record.

    Returns
    -------
    Path
        The exported ``model.keras``.
    """
    # lazy: matplotlib only when a network is exported
    model_path = out_dir / MODEL_FILE
    # Keras insists on the '.keras' ending, so the temporary keeps it last
    with atomic_path(model_path, suffix=".keras", suffix_last=True) as tmp:
        model.save(tmp)
    atomic_write_text(out_dir / CONFIG_FILE, json.dumps(_training_config(run), indent=1, default=str))
    inputs = [file_record(p, checksum=checksum) for p in [*train_files, *validation_files]]
    prov = provenance_record(
        step="train_network",
        inputs=inputs,
        config=run.config,
        started=started,
        extra={
            "preset": run.preset,
            "steps": run.steps,
            "base_seed": run.base_seed,
            "forward_model": run.forward_model,
            "distribution": run.distribution,
            **(extra or {}),
        },
    )
    atomic_write_text(out_dir / PROVENANCE_FILE, json.dumps(prov, indent=1, default=str))
    history = out_dir / HISTORY_FILE
    if history.exists():
        plot_loss_curves({run.preset: history}, out_dir / LOSS_PLOT_FILE)
    # the same record beside each product, where `wlcnn audit` looks for it
    for product in (model_path, history, out_dir / LOSS_PLOT_FILE):
        if product.exists():
            write_sidecar(product, prov)
    log.info("exported %s", model_path)
    return model_path


class ModelFileError(FieldError):
    """A trained-model file cannot be used: missing, truncated, damaged or of the wrong shape.

    Parameters
    ----------
    path
        The ``.keras`` file.
    field
        What is at fault: ``"file"``, a member of the archive (``"config.json"``), ``"inputs"``,
        ``"outputs"``.
    expected, found
        What the loader needed and what the file holds.
    """


#: Members every ``.keras`` archive of Keras 3 holds (the weights as .h5 or .npz).
_KERAS_CONFIG = "config.json"
_KERAS_WEIGHTS = ("model.weights.h5", "model.weights.npz")


def _check_keras_archive(path: Path) -> None:
    """Refuse a missing, truncated or incomplete ``.keras`` zip before Keras misreports it.

    Keras says "File not found" for any file that is not a readable zip, e.g. a truncated copy.
    """
    import zipfile

    if not path.is_file():
        found = "a directory" if path.is_dir() else "no such file"
        raise ModelFileError(path, "file", "an existing .keras model file", found)
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            path,
            "file",
            "a .keras zip archive",
            f"{path.stat().st_size} bytes that are not a complete zip archive "
            "(truncated, or not a .keras file?)",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            damaged = archive.testzip()  # reads every member: catches cut or flipped bytes
            config_text = archive.read(_KERAS_CONFIG) if _KERAS_CONFIG in names else None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(
            path, "file", "a readable .keras zip archive", f"{type(exc).__name__}: {exc}"
        ) from None
    if damaged is not None:
        raise ModelFileError(path, damaged, "a member whose CRC matches", "a damaged member")
    if config_text is None:
        raise ModelFileError(path, _KERAS_CONFIG, "this member of the archive", f"members {names}")
    if not any(w in names for w in _KERAS_WEIGHTS):
        raise ModelFileError(path, _KERAS_WEIGHTS[0], "the weights member of the archive", f"members {names}")
    try:
        json.loads(config_text)
    except ValueError as exc:
        raise ModelFileError(path, _KERAS_CONFIG, "JSON text", f"{config_text[:40]!r}... ({exc})") from None


def stage_model_path(out_dir: str | Path, stage: str) -> Path:
    """Where :func:`save_stage_model` writes the network at the end of curriculum stage ``stage``.

    >>> stage_model_path("results/training/tiny", "noise_free").as_posix()
    'results/training/tiny/stages/noise_free.keras'
    """
    return Path(out_dir) / STAGE_MODELS_DIR / f"{stage}.keras"


def save_stage_model(model: Any, *, out_dir: str | Path, stage: str) -> Path:
    """Save ``model`` as it is at the end of curriculum stage ``stage`` (atomically; returns the path).

    Readable by :func:`load_trained_model`, like the final ``model.keras``.
    """
    path = stage_model_path(out_dir, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".keras", suffix_last=True) as tmp:
        model.save(tmp)
    return path


def load_trained_model(path: str | Path, *, input_shape: Sequence[int] | None = None) -> Any:
    """Load an exported ``model.keras`` (per-patch inputs → 9 outputs, see :mod:`wlcnn.training.loss`).

    A K-component mixture head has n_outputs(K, 3) outputs (:mod:`wlcnn.training.mixture_density`).

    Parameters
    ----------
    path
        The ``.keras`` file written by :func:`train_network`.
    input_shape
        Expected shape of one patch (ny, nx, channels); checked against the model when given.

    Raises
    ------
    ModelFileError
        A missing, truncated or damaged file, one Keras cannot load, or a model whose input or
        output shape is not the one expected.
    """
    import keras  # lazy: importing wlcnn.training must not need TensorFlow

    path = Path(path)
    _check_keras_archive(path)
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a damaged archive: all mean the same
        raise ModelFileError(
            path, "file", "a model keras.models.load_model can read", f"{type(exc).__name__}: {exc}"
        ) from None
    n_out = model.output_shape[-1]
    try:
        mixture_components_from_width(int(n_out), n_params=N_PARAMS)
    except ValueError:
        raise ModelFileError(
            path,
            "outputs",
            f"n_outputs(K, {N_PARAMS}) outputs per patch (9 for the Cholesky head, 10 K for a K > 1 mixture)",
            f"{n_out}",
        ) from None
    if input_shape is not None and tuple(model.input_shape[1:]) != tuple(input_shape):
        raise ModelFileError(
            path,
            "inputs",
            f"patches of shape {tuple(input_shape)} (n_pix, n_pix, 3 n_bins of the survey)",
            f"{tuple(model.input_shape[1:])}",
        )
    return model
