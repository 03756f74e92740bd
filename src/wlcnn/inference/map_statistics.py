"""Peak counts and Minkowski functionals as inference statistics (issue 15, item 4; SPEC §10a).

Like the power-spectrum baseline (:mod:`.power_spectrum`), these statistics are computed on
exactly the maps the CNN sees: the κ_E channels of the CNN inputs (same mode removal,
smoothing, mask and noise), one tomographic bin at a time. A patch's data vector is, per bin,

* ``peaks``: the number of local maxima (8 neighbours) per height bin, heights ν = κ/σ0 in
  units of the map's own σ0 (:func:`wlcnn.statistics.peak_counts`);
* ``minkowski``: the chosen functionals among V0, V1, V2 at the threshold-bin centres, thresholds
  in units of σ0 (:func:`wlcnn.statistics.minkowski_functionals`; V1 in pixel⁻¹, V2 in pixel⁻²);

concatenated bin by bin (bin 0 first); a survey's vector is the mean over its patches
(:mod:`.summaries` averages them), and the summaries → likelihood → contours path is that of
every other statistic. Entries: n_bins × n_height_bins for peaks, n_bins × n_functionals ×
n_thresholds for the functionals; they must stay well below the number of simulated surveys
(the covariance is estimated from them).

Masking. By default every pixel counts, as for the power spectrum: simulations and data go
through the same masks, so the model absorbs the edge effects. With ``patch_masks`` (the
survey's (n_patches, n_bins, N, N) footprint), masked pixels and their neighbours are left out;
patch i of a batch is then taken to be patch ``i mod n_patches`` of a survey, which holds for
:func:`~wlcnn.inference.summaries.predict_surveys` (it stacks whole surveys) and for a data
vector predicted in batches that are a multiple of n_patches (checked: a batch of another
length is refused).

This module must not import TensorFlow.

Examples
--------
>>> import numpy as np
>>> stat = MapStatistic(kind="peaks", nu_edges=np.linspace(0.0, 4.0, 5), n_bins=2,
...                     from_cnn_inputs=False)
>>> maps = np.random.default_rng(0).normal(size=(3, 32, 32, 2))
>>> stat(maps).shape, stat.output_names[:2]
((3, 8), ('peaks_b0_nu0', 'peaks_b0_nu1'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from wlcnn import statistics
from wlcnn.inference.power_spectrum import kappa_channels

__all__ = [
    "DEFAULT_MF_FUNCTIONALS",
    "DEFAULT_MF_NU_RANGE",
    "DEFAULT_MF_N_THRESHOLDS",
    "DEFAULT_PEAKS_NU_RANGE",
    "DEFAULT_PEAKS_N_BINS",
    "MAP_STATISTICS",
    "MINKOWSKI",
    "MINKOWSKI_FUNCTIONALS",
    "PEAKS",
    "MapStatistic",
    "data_vector_length",
    "map_statistic_from_config",
    "map_statistics_config_problems",
]

#: Labels of the map statistics (the inference stage selects statistics by these names).
PEAKS = "peaks"
MINKOWSKI = "minkowski"
MAP_STATISTICS = (PEAKS, MINKOWSKI)
#: The functionals a ``minkowski`` statistic may use, in data-vector order.
MINKOWSKI_FUNCTIONALS = ("v0", "v1", "v2")

#: Peak heights ν = κ/σ0 (Kacprzak et al. 2016 use ν up to ~4-5 on KiDS-like noise).
DEFAULT_PEAKS_NU_RANGE = (0.0, 4.0)
DEFAULT_PEAKS_N_BINS = 8
#: Thresholds of the functionals, in σ0 (the Gaussian-like part of the excursion sets).
DEFAULT_MF_NU_RANGE = (-2.0, 3.0)
DEFAULT_MF_N_THRESHOLDS = 5
DEFAULT_MF_FUNCTIONALS = MINKOWSKI_FUNCTIONALS

Kind = Literal["peaks", "minkowski"]


@dataclass(frozen=True)
class MapStatistic:
    """Peaks or Minkowski functionals as a ``predict`` callable: patches (n, …) → vectors (n, p).

    Attributes
    ----------
    kind
        ``"peaks"`` or ``"minkowski"``.
    nu_edges
        Increasing edges in units of each map's σ0: peak-height bins, or threshold bins whose
        centres are the thresholds of the functionals.
    n_bins
        Tomographic bins; with ``from_cnn_inputs`` the κ channels are taken from CNN inputs
        (n, N, N, 3 n_bins), otherwise the inputs are κ maps (n, N, N, n_bins).
    functionals
        For ``minkowski``: which of ``v0``, ``v1``, ``v2`` enter the data vector.
    from_cnn_inputs
        See ``n_bins``.
    patch_masks
        Optional (n_patches, n_bins, N, N) footprint, ``True`` = observed (module doc).
    """

    kind: Kind
    nu_edges: np.ndarray
    n_bins: int
    functionals: tuple[str, ...] = DEFAULT_MF_FUNCTIONALS
    from_cnn_inputs: bool = True
    patch_masks: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in MAP_STATISTICS:
            raise ValueError(f"kind: expected one of {MAP_STATISTICS}, found {self.kind!r}")
        unknown = [f for f in self.functionals if f not in MINKOWSKI_FUNCTIONALS]
        if not self.functionals or unknown or len(set(self.functionals)) != len(self.functionals):
            raise ValueError(
                f"functionals: expected distinct names among {MINKOWSKI_FUNCTIONALS}, "
                f"found {self.functionals}"
            )
        if self.patch_masks is not None and np.shape(self.patch_masks)[1:2] != (self.n_bins,):
            raise ValueError(
                f"patch_masks: expected shape (n_patches, {self.n_bins}, N, N), "
                f"found {np.shape(self.patch_masks)}"
            )

    @property
    def n_levels(self) -> int:
        """Height bins (peaks) or thresholds (functionals) per map."""
        return len(self.nu_edges) - 1

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the p entries: ``peaks_b{bin}_nu{k}`` or ``{v}_b{bin}_nu{k}``."""
        per_bin = (PEAKS,) if self.kind == PEAKS else self.functionals
        return tuple(
            f"{name}_b{b}_nu{k}" for b in range(self.n_bins) for name in per_bin for k in range(self.n_levels)
        )

    def _mask_for(self, n_maps: int) -> np.ndarray | None:
        """(n, n_bins, N, N) masks of a batch of n patches, or None."""
        if self.patch_masks is None:
            return None
        n_patches = len(self.patch_masks)
        if n_maps % n_patches:
            raise ValueError(
                f"batch of {n_maps} patches: expected whole surveys of {n_patches} patches "
                "(patch i is patch i mod n_patches of its survey)"
            )
        return np.asarray(self.patch_masks, dtype=bool)[np.arange(n_maps) % n_patches]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(n, p) statistic vectors of a batch of patches."""
        maps = kappa_channels(batch, n_bins=self.n_bins) if self.from_cnn_inputs else np.asarray(batch)
        if maps.shape[-1] != self.n_bins:
            raise ValueError(f"expected {self.n_bins} κ maps per patch, found {maps.shape[-1]}")
        per_map = np.moveaxis(np.asarray(maps, dtype=np.float64), -1, 1)  # (n, n_bins, N, N)
        mask = self._mask_for(len(per_map))
        if self.kind == PEAKS:
            counts = statistics.peak_counts(per_map, self.nu_edges, mask=mask, units="sigma").counts
            return counts.astype(np.float64).reshape(len(per_map), -1)
        mf = statistics.minkowski_functionals(per_map, self.nu_edges, mask=mask, units="sigma")
        values = np.stack([getattr(mf, f) for f in self.functionals], axis=2)  # (n, n_bins, n_f, n_levels)
        return values.reshape(len(per_map), -1)


def data_vector_length(kind: Kind, *, n_bins: int, n_levels: int, n_functionals: int = 1) -> int:
    """Entries of a patch's data vector (module doc)."""
    return n_bins * n_levels * (n_functionals if kind == MINKOWSKI else 1)


def _settings(inference: Mapping[str, Any], kind: Kind) -> tuple[tuple[float, float], int, tuple[str, ...]]:
    """(ν range, levels, functionals) of a statistic from the ``inference`` block (defaults filled)."""
    if kind == PEAKS:
        lo, hi = inference.get("peaks_nu_range", DEFAULT_PEAKS_NU_RANGE)
        return (float(lo), float(hi)), int(inference.get("peaks_n_bins", DEFAULT_PEAKS_N_BINS)), ()
    lo, hi = inference.get("mf_nu_range", DEFAULT_MF_NU_RANGE)
    n = int(inference.get("mf_n_thresholds", DEFAULT_MF_N_THRESHOLDS))
    return (float(lo), float(hi)), n, tuple(inference.get("mf_functionals", DEFAULT_MF_FUNCTIONALS))


def map_statistic_from_config(
    label: str, *, config: Mapping[str, Any], patch_masks: np.ndarray | None = None
) -> MapStatistic:
    """The :class:`MapStatistic` named ``label`` (``peaks`` or ``minkowski``) of a validated config."""
    if label not in MAP_STATISTICS:
        raise ValueError(f"label: expected one of {MAP_STATISTICS}, found {label!r}")
    (lo, hi), n_levels, functionals = _settings(config.get("inference", {}), label)  # type: ignore[arg-type]
    return MapStatistic(
        kind=label,  # type: ignore[arg-type]
        nu_edges=np.linspace(lo, hi, n_levels + 1),
        n_bins=len(config["survey"]["zb_edges"]) - 1,
        functionals=functionals or DEFAULT_MF_FUNCTIONALS,
        patch_masks=patch_masks,
    )


def map_statistics_config_problems(cfg: Mapping[str, Any]) -> list[str]:
    """What the schema cannot check in the map statistics' ``inference`` keys.

    A ν range must be increasing. The data-vector length against ``inference.n_surveys`` is not
    checked here: a configuration may lower ``n_surveys`` for statistics it does not run (the
    likelihood refuses a singular covariance of those it does).

    Returns
    -------
    list of str
        One line per problem, each naming its key, what was expected and what was found.
    """
    inference = cfg.get("inference", {})
    return [
        f"inference.{key}: expected [low, high] with low < high, found {inference[key]}"
        for key in ("peaks_nu_range", "mf_nu_range")
        if key in inference and not inference[key][0] < inference[key][1]
    ]
