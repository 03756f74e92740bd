"""Simulated surveys from the test set (SPEC §7), and the observed survey, as CNN inputs.

The kept test shells δ_b of a cosmology's test simulations are split into disjoint sets of
``n_patches`` realisations. One simulated survey (:class:`SimulatedSurveys`) is one such set, with
a bootstrap n(z) drawn at random (κ and κ_IA rebuilt from the shells with that n(z)'s Born
weights), a drawn multiplicative-bias error and a noise realisation from the data, passed
through the same forward model as the training maps. Everything is drawn from one seed, so a
survey can be regenerated alone.

These are the ``make_survey`` / ``observation`` callables of :mod:`wlcnn.inference.summaries`.

Two forward models build the CNN inputs from the same draws (``forward_model``):
``"tensorflow"`` (:class:`~wlcnn.survey.forward_model.TFForwardModel`, float32, several surveys
per graph call, on the GPU where there is one; the fast path) and ``"numpy"`` (the float64
reference :class:`~wlcnn.survey.ForwardModel`). Every draw (patch set, n(z) realisation, A_IA,
m-bias errors, noise phases) comes from the same NumPy generator in both, so a seed gives the
same survey in both to float32 rounding (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from wlcnn.cosmology import simulation_cosmology
from wlcnn.lensing.born import BornWeights, born_convergence, shell_weights_from_config
from wlcnn.maps.mapfile import MapFileContentError, check_consistent_map_files
from wlcnn.survey import ForwardModel, SurveySettings
from wlcnn.survey.forward_model import ForwardDraws
from wlcnn.survey.shear_maps import read_patch_maps

if TYPE_CHECKING:
    from wlcnn.survey.forward_model import TFForwardModel

__all__ = [
    "FORWARD_MODELS",
    "NUMPY_FORWARD_MODEL",
    "TENSORFLOW_FORWARD_MODEL",
    "SimulatedSurveys",
    "forward_model_from_config",
    "observed_inputs",
]

#: The float64 NumPy reference forward model.
NUMPY_FORWARD_MODEL = "numpy"
#: The float32 TensorFlow forward model, batched over surveys (the fast path).
TENSORFLOW_FORWARD_MODEL = "tensorflow"
#: Values of ``inference.survey_forward_model``.
FORWARD_MODELS = (TENSORFLOW_FORWARD_MODEL, NUMPY_FORWARD_MODEL)


_MODELS: dict[str, ForwardModel] = {}
#: TensorFlow forward models per NumPy one: its compiled graphs are traced once per job, not once
#: per (cosmology, A_IA) survey maker.
_TF_MODELS: dict[int, TFForwardModel] = {}


def forward_model_from_config(
    config: Mapping[str, Any], *, patch_maps_path: str | Path, base_dir: str | Path = "."
) -> ForwardModel:
    """The NumPy forward model with the survey's masks, noise and biases (cached per file)."""
    # Cached per patch-maps file: many (cosmology, A_IA) survey makers share one forward model.
    key = str(Path(patch_maps_path).resolve())
    if key not in _MODELS:
        settings = SurveySettings.from_config(dict(config), base_dir=base_dir)
        _MODELS[key] = ForwardModel.from_patch_maps(read_patch_maps(patch_maps_path), settings=settings)
    return _MODELS[key]


def observed_inputs(
    config: Mapping[str, Any], *, patch_maps_path: str | Path, base_dir: str | Path = "."
) -> np.ndarray:
    """CNN inputs (n_patches, n_pix, n_pix, 3 n_bins) of the observed survey (mode removal, smoothing)."""
    model = forward_model_from_config(config, patch_maps_path=patch_maps_path, base_dir=base_dir)
    maps = read_patch_maps(patch_maps_path)
    return np.asarray(model.observe(maps.gamma), dtype=np.float32)


class SimulatedSurveys:
    """``make_survey(seed)`` for one (cosmology, A_IA) of the test set.

    Parameters
    ----------
    map_files
        Map files of the cosmology's test simulations (with ``/shells/delta``).
    config
        The validated configuration (``survey``, ``lensing``, ``shells``, ``inference``).
    patch_maps_path
        The survey's patch maps (masks, noise ingredients, biases).
    a_ia
        Intrinsic-alignment amplitude of these surveys.
    base_dir
        Directory the configuration's paths are relative to.
    forward_model
        ``"numpy"`` (the reference) or ``"tensorflow"`` (batched; :meth:`make_batch` builds
        several surveys in one graph call). The surveys agree to float32 rounding.
    noise
        Add the shape noise (default). False: the same surveys without it (the NumPy reference
        path, whatever ``forward_model``), e.g. to score a network on noise-free maps.

    Raises
    ------
    MapFileContentError
        A map file that is missing, truncated or without ``/shells/delta``, files that disagree
        on shell edges, geometry or cosmology (both named), or maps whose n_pix or n_bins differ
        from the survey's patch maps.
    """

    def __init__(
        self,
        *,
        map_files: Sequence[str | Path],
        config: Mapping[str, Any],
        patch_maps_path: str | Path,
        a_ia: float,
        base_dir: str | Path = ".",
        forward_model: str = NUMPY_FORWARD_MODEL,
        noise: bool = True,
    ) -> None:
        if forward_model not in FORWARD_MODELS:
            raise ValueError(
                f"forward_model: expected one of {list(FORWARD_MODELS)}, found {forward_model!r}"
            )
        self.forward_model = forward_model
        self.noise = bool(noise)
        self.model = forward_model_from_config(config, patch_maps_path=patch_maps_path, base_dir=base_dir)
        self._tf_model: Any = None
        self.n_patches = int(config["survey"]["n_patches"])
        self.lensing = config["lensing"]
        self.n_bootstrap = int(self.lensing.get("n_nz_bootstrap", 0))
        self.a_ia = float(a_ia)
        self.base_dir = base_dir
        self.files = [str(p) for p in map_files]
        self._index: list[tuple[int, int]] = []  # (file, realisation) of every kept shell stack
        # All files must share one shell plan, geometry and cosmology: the first file's edges
        # and cosmology are used for every file's shells.
        first = check_consistent_map_files(self.files, same_cosmology=True)
        self.z_edges = first["z_edges"]
        c = first.get("cosmology") or {}
        _, n_bins, n_pix, _ = self.model.mask.shape
        for name, wanted in (("n_pix", n_pix), ("n_bins", n_bins)):
            if name in first and int(first[name]) != wanted:
                raise MapFileContentError(
                    self.files[0],
                    name,
                    f"{wanted} as in the survey's patch maps {patch_maps_path}",
                    f"{first[name]}",
                )
        for i, path in enumerate(self.files):
            with h5py.File(path, "r") as fh:
                if "shells/delta" not in fh:
                    raise MapFileContentError(
                        path,
                        "shells/delta",
                        "this dataset (test and mock simulations keep their shells)",
                        "no such dataset",
                    )
                n_stack, n_shells = fh["shells/delta"].shape[:2]
                if n_shells != len(self.z_edges):
                    raise MapFileContentError(
                        path, "shells/delta", f"{len(self.z_edges)} shells like shells/z_near", f"{n_shells}"
                    )
                self._index += [(i, r) for r in range(n_stack)]
        if "omega_m" not in c or "sigma8" not in c:
            raise MapFileContentError(
                self.files[0], "cosmology", "a JSON object with omega_m and sigma8", f"{c!r}"
            )
        self.cosmo = simulation_cosmology(c)
        n_sets_max = len(self._index) // self.n_patches
        if n_sets_max < 1:
            raise ValueError(
                f"{len(self._index)} test realisations cannot fill one survey of {self.n_patches} patches"
            )
        self.n_sets = min(int(config.get("inference", {}).get("n_patch_sets", n_sets_max)), n_sets_max)
        self._weights: dict[int | None, BornWeights] = {}

    def weights(self, realisation: int | None) -> BornWeights:
        """Born weights of the shells for a bootstrap n(z) (None: the mean n(z))."""
        if realisation not in self._weights:
            self._weights[realisation] = shell_weights_from_config(
                cosmo=self.cosmo,
                z_edges=self.z_edges,
                lensing=self.lensing,
                base_dir=self.base_dir,
                realisation=realisation,
            )
        return self._weights[realisation]

    def _ingredients(self, seed: int) -> tuple[np.ndarray, np.ndarray, ForwardDraws]:
        """κ, κ_IA (n_patches, n_bins, N, N) and the forward-model draws of the survey of ``seed``."""
        rng = np.random.default_rng(seed)
        patch_set = int(rng.integers(self.n_sets))
        nz_realisation = int(rng.integers(self.n_bootstrap)) if self.n_bootstrap else None
        members = self._index[patch_set * self.n_patches : (patch_set + 1) * self.n_patches]
        delta = []
        for file_index, realisation in members:
            with h5py.File(self.files[file_index], "r") as fh:
                delta.append(fh["shells/delta"][realisation])
        maps = born_convergence(delta_shells=np.stack(delta), weights=self.weights(nz_realisation))
        draws = self.model.draw(rng, a_ia_range=(self.a_ia, self.a_ia))
        return maps.kappa, maps.kappa_ia, draws

    def _tensorflow_model(self) -> TFForwardModel:
        """The TensorFlow forward model of this survey (built on first use)."""
        if self._tf_model is None:
            from wlcnn.survey.forward_model import TFForwardModel  # lazy: TensorFlow only on the fast path

            key = id(self.model)  # the NumPy models live in _MODELS for the whole process
            if key not in _TF_MODELS:
                _TF_MODELS[key] = TFForwardModel(self.model)
            self._tf_model = _TF_MODELS[key]
        return self._tf_model

    def __call__(self, seed: int) -> np.ndarray:
        """CNN inputs (n_patches, n_pix, n_pix, 3 n_bins) of the survey drawn from ``seed``."""
        return self.make_batch([seed])[0]

    def make_batch(self, seeds: Sequence[int]) -> np.ndarray:
        """CNN inputs (n_surveys, n_patches, n_pix, n_pix, 3 n_bins) of the surveys of ``seeds``.

        With the TensorFlow forward model all the surveys go through the device in one call;
        with the NumPy one they are built one after the other.
        """
        parts = [self._ingredients(int(seed)) for seed in seeds]
        if not self.noise:
            return np.stack(
                [
                    np.asarray(self.model.simulate_noise_free(k, k_ia, d), dtype=np.float32)
                    for k, k_ia, d in parts
                ]
            )
        if self.forward_model == NUMPY_FORWARD_MODEL:
            return np.stack(
                [np.asarray(self.model.simulate(k, k_ia, d), dtype=np.float32) for k, k_ia, d in parts]
            )
        kappa = np.stack([k for k, _, _ in parts])
        kappa_ia = np.stack([k_ia for _, k_ia, _ in parts])
        batch = self._tensorflow_model().simulate_batch(kappa, kappa_ia, [d for _, _, d in parts])
        return np.asarray(batch, dtype=np.float32)
