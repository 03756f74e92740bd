"""Two map sets compared statistic by statistic (CosmoGAN's validation, SPEC §10; issue 15).

For two sets of κ maps (e.g. two simulations of one cosmology, or a mock observation's
noise-free maps against another cosmology) every map gets, per tomographic bin,

* the pixel histogram (:func:`.pixel_histogram`),
* the binned flat-sky power spectrum (:func:`.power_spectrum`),
* the Minkowski functionals V0, V1, V2 (:func:`.minkowski_functionals`),
* the peak counts (:func:`.peak_counts`).

Thresholds and bin edges are given in units ν of the *reference* σ0: the root-mean-square pixel
standard deviation of set A in that tomographic bin. Both sets are then binned on the same
absolute κ edges, so that an amplitude difference (σ8) shows in every statistic; per-map σ
units would divide it out of all but the power spectrum.

Each bin of each statistic is tested with the two-sided Kolmogorov-Smirnov test on the full
sets (the *observed* p-value) and with the bootstrapped KS / Anderson-Darling tests of
:func:`.two_sample_tests` (the spread of p-values under resampling, CosmoGAN Fig. 5). The
correlation matrices of the bins of a statistic are compared with :func:`.correlation_difference`.

Verdict. The sets are called *different* when the smallest observed KS p-value over all bins of
all statistics, Bonferroni-corrected for the number of bins tested, is below ``alpha``. The
correction ignores the strong correlations between bins, so it is conservative: a "consistent"
verdict means no single bin differs at the corrected level, not that the sets are proven equal.
The maps of one simulation are projections of one box and not independent, so the tests are
approximate for them (the p-values are too small when box-to-box scatter matters).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(size=(40, 32, 32)), rng.normal(size=(40, 32, 32))
>>> settings = CompareSettings(n_bootstrap=2, ps_ell_range=(200.0, 1000.0), ps_n_ell_bins=3)
>>> result = compare_map_sets(a, b, side_deg=5.0, settings=settings, seed=1)
>>> result.different, sorted(result.statistics)[:2]
(False, ['peak_counts', 'pixel_histogram'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from wlcnn.maps.mapfile import MapFileContentError, check_consistent_map_files
from wlcnn.statistics.histogram import pixel_histogram
from wlcnn.statistics.minkowski import minkowski_functionals
from wlcnn.statistics.peaks import peak_counts
from wlcnn.statistics.power_spectrum import power_spectrum
from wlcnn.statistics.two_sample import correlation_difference, two_sample_tests
from wlcnn.survey.smoothing import smooth

__all__ = [
    "COMPARE_FILES",
    "STATISTICS",
    "CompareSettings",
    "RNG_IDENTITY",
    "MapComparison",
    "StatisticComparison",
    "compare_config_problems",
    "compare_map_sets",
    "read_kappa_maps",
    "reference_sigma",
]

#: Statistics compared, in report order; the Minkowski functionals count as three.
STATISTICS = ("pixel_histogram", "power_spectrum", "v0", "v1", "v2", "peak_counts")
#: Axis label of each statistic's bins.
BIN_LABELS = {
    "pixel_histogram": "ν = κ / σ_ref",
    "power_spectrum": "ℓ",
    "v0": "ν = κ_t / σ_ref",
    "v1": "ν = κ_t / σ_ref",
    "v2": "ν = κ_t / σ_ref",
    "peak_counts": "ν = κ_peak / σ_ref",
}
#: The identity of the comparisons' bootstrap streams (with the run's seed and the pair's name).
RNG_IDENTITY = "compare_maps"
#: Fewest maps per set: the two-sample tests and correlation matrices need two.
_MIN_MAPS = 2
#: Arcminutes per degree (map pixel sizes are kept in degrees).
_ARCMIN_PER_DEG = 60.0
Expectation = Literal["same", "different"]
_EXPECTATIONS = ("same", "different")


@dataclass(frozen=True)
class CompareSettings:
    """Binning and test settings of a comparison (the ``statistics`` configuration block).

    Attributes
    ----------
    histogram_nu_range, histogram_n_bins
        Pixel-histogram range in units of the reference σ0 and number of bins.
    mf_nu_range, mf_n_thresholds
        Threshold-bin range of the Minkowski functionals (values at the bin centres).
    peaks_nu_range, peaks_n_bins
        Peak-height range and bins.
    ps_ell_range, ps_n_ell_bins
        Multipole range and logarithmic bins of the power spectrum.
    smoothing_arcmin, smoothing_truncate
        Gaussian smoothing σ of the maps before every statistic (0: none), and its truncation
        radius in σ.
    n_bootstrap
        Resamplings of the bootstrapped tests.
    alpha
        Significance level of the verdict (module doc).
    """

    histogram_nu_range: tuple[float, float] = (-3.0, 5.0)
    histogram_n_bins: int = 16
    mf_nu_range: tuple[float, float] = (-2.0, 4.0)
    mf_n_thresholds: int = 8
    peaks_nu_range: tuple[float, float] = (-1.0, 5.0)
    peaks_n_bins: int = 6
    ps_ell_range: tuple[float, float] = (100.0, 3000.0)
    ps_n_ell_bins: int = 8
    smoothing_arcmin: float = 0.0
    smoothing_truncate: float = 4.0
    n_bootstrap: int = 50
    alpha: float = 0.01

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> CompareSettings:
        """Settings from the ``statistics`` block (keys not given keep their defaults)."""
        names = set(cls.__dataclass_fields__)
        values: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in block.items() if k in names
        }
        return cls(**values)

    def edges(self, statistic: str) -> np.ndarray:
        """Bin edges of ``statistic``: ν edges, or ℓ edges for the power spectrum."""
        if statistic == "power_spectrum":
            lo, hi = self.ps_ell_range
            return np.geomspace(lo, hi, self.ps_n_ell_bins + 1)
        if statistic == "pixel_histogram":
            return np.linspace(*self.histogram_nu_range, self.histogram_n_bins + 1)
        if statistic == "peak_counts":
            return np.linspace(*self.peaks_nu_range, self.peaks_n_bins + 1)
        return np.linspace(*self.mf_nu_range, self.mf_n_thresholds + 1)


@dataclass(frozen=True)
class StatisticComparison:
    """One statistic of both sets and its tests.

    Attributes
    ----------
    name
        One of :data:`STATISTICS`.
    x
        Bin positions (ν centres, or the mean ℓ of the modes), shape (n_x,).
    values_a, values_b
        Per-map values, shape (n_maps, n_tomographic_bins, n_x).
    ks_pvalue
        Observed KS p-value per (tomographic bin, x), shape (n_tomographic_bins, n_x).
    bootstrap_ks, bootstrap_ad
        Bootstrapped p-values, shape (n_bootstrap, n_tomographic_bins, n_x).
    correlation_difference
        Correlation matrix of A minus that of B over the flattened bins (NaN where a bin is
        constant in a set).
    """

    name: str
    x: np.ndarray
    values_a: np.ndarray
    values_b: np.ndarray
    ks_pvalue: np.ndarray
    bootstrap_ks: np.ndarray
    bootstrap_ad: np.ndarray
    correlation_difference: np.ndarray

    @property
    def n_tests(self) -> int:
        """Bins tested (tomographic bins × x)."""
        return int(self.ks_pvalue.size)


@dataclass(frozen=True)
class MapComparison:
    """Everything a comparison computed (:meth:`to_json` for the JSON product).

    Attributes
    ----------
    statistics
        :class:`StatisticComparison` per name of :data:`STATISTICS`.
    reference_sigma
        σ0 of set A per tomographic bin, the unit of every ν edge.
    settings
        The settings used.
    seed
        Base seed of the bootstraps.
    labels
        Names of set A and set B.
    meta
        Further JSON-able facts written with the numbers (files, expectation).
    """

    statistics: dict[str, StatisticComparison]
    reference_sigma: np.ndarray
    settings: CompareSettings
    seed: int
    labels: tuple[str, str] = ("a", "b")
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tests(self) -> int:
        """Bins tested over all statistics (the Bonferroni factor)."""
        return sum(s.n_tests for s in self.statistics.values())

    @property
    def min_pvalue_corrected(self) -> float:
        """Smallest observed KS p-value over every bin, times :attr:`n_tests`, at most 1."""
        smallest = min(float(np.nanmin(s.ks_pvalue)) for s in self.statistics.values())
        return min(1.0, smallest * self.n_tests)

    @property
    def different(self) -> bool:
        """The verdict (module doc): True when the sets differ at level ``settings.alpha``."""
        return self.min_pvalue_corrected < self.settings.alpha

    def to_json(self) -> dict[str, Any]:
        """Every number of the comparison as JSON-able nested lists (NaN written as None)."""
        alpha = self.settings.alpha
        out: dict[str, Any] = {
            "labels": {"a": self.labels[0], "b": self.labels[1]},
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.settings).items()},
            "seed": self.seed,
            "reference_sigma": _json_array(self.reference_sigma),
            "n_maps": {
                "a": int(next(iter(self.statistics.values())).values_a.shape[0]),
                "b": int(next(iter(self.statistics.values())).values_b.shape[0]),
            },
            "statistics": {},
            "verdict": {
                "different": self.different,
                "min_pvalue_corrected": self.min_pvalue_corrected,
                "n_tests": self.n_tests,
                "alpha": alpha,
                "method": "smallest observed two-sided KS p-value over all bins, Bonferroni-corrected",
            },
            **self.meta,
        }
        for name, s in self.statistics.items():
            ks_frac = (s.bootstrap_ks < alpha).mean(axis=0)
            ad_frac = (s.bootstrap_ad < alpha).mean(axis=0)
            finite = np.isfinite(s.correlation_difference)
            out["statistics"][name] = {
                "x": _json_array(s.x),
                "x_label": BIN_LABELS[name],
                "mean": {
                    "a": _json_array(s.values_a.mean(axis=0)),
                    "b": _json_array(s.values_b.mean(axis=0)),
                },
                "std": {
                    "a": _json_array(s.values_a.std(axis=0, ddof=1)),
                    "b": _json_array(s.values_b.std(axis=0, ddof=1)),
                },
                "per_map": {"a": _json_array(s.values_a), "b": _json_array(s.values_b)},
                "ks_pvalue": _json_array(s.ks_pvalue),
                "bootstrap": {
                    "ks_pvalues": _json_array(s.bootstrap_ks),
                    "ad_pvalues": _json_array(s.bootstrap_ad),
                    "ks_median": _json_array(np.median(s.bootstrap_ks, axis=0)),
                    "ad_median": _json_array(np.median(s.bootstrap_ad, axis=0)),
                    "ks_fraction_rejected": _json_array(ks_frac),
                    "ad_fraction_rejected": _json_array(ad_frac),
                },
                "min_ks_pvalue": float(np.nanmin(s.ks_pvalue)),
                "correlation_difference": _json_array(s.correlation_difference),
                "max_abs_correlation_difference": (
                    float(np.abs(s.correlation_difference[finite]).max()) if finite.any() else None
                ),
            }
        return out


def _json_array(values: npt.ArrayLike) -> Any:
    """Nested lists with NaN and infinities written as None (JSON has no NaN)."""
    arr = np.asarray(values, dtype=np.float64)
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def _as_tomographic(maps: npt.ArrayLike, name: str) -> np.ndarray:
    """Maps as float64 (n_maps, n_tomographic_bins, N, N); a (n_maps, N, N) stack is one bin."""
    arr = np.asarray(maps, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[-1] != arr.shape[-2] or arr.shape[0] < _MIN_MAPS:
        raise ValueError(
            f"{name}: expected maps shaped (n_maps >= {_MIN_MAPS}, [n_bins,] N, N), found {np.shape(maps)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite map values, found NaN or infinity")
    return arr


def reference_sigma(maps: np.ndarray) -> np.ndarray:
    """Root-mean-square over maps of each map's pixel σ0, per tomographic bin, shape (n_bins,)."""
    per_map = maps.reshape(*maps.shape[:2], -1).std(axis=2)
    return np.sqrt((per_map**2).mean(axis=0))


def _smooth(maps: np.ndarray, *, side_deg: float, settings: CompareSettings) -> np.ndarray:
    if settings.smoothing_arcmin <= 0:
        return maps

    pixel_arcmin = side_deg * _ARCMIN_PER_DEG / maps.shape[-1]
    return smooth(
        maps, sigma_pix=settings.smoothing_arcmin / pixel_arcmin, truncate=settings.smoothing_truncate
    )


def _per_map_statistics(
    maps: np.ndarray, *, sigma_ref: np.ndarray, side_deg: float, settings: CompareSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every statistic of every map: values (n_maps, n_bins, n_x) and x (n_x,) per name."""
    values: dict[str, list[np.ndarray]] = {name: [] for name in STATISTICS}
    x: dict[str, np.ndarray] = {}
    ell_edges = settings.edges("power_spectrum")
    for t in range(maps.shape[1]):
        tomo = maps[:, t]
        hist_edges = settings.edges("pixel_histogram")
        values["pixel_histogram"].append(pixel_histogram(tomo, hist_edges * sigma_ref[t]).pdf * sigma_ref[t])
        ps = power_spectrum(tomo, side_deg=side_deg, ell_edges=ell_edges)
        values["power_spectrum"].append(ps.cl)
        x["power_spectrum"] = ps.ell
        mf = minkowski_functionals(tomo, settings.edges("v0") * sigma_ref[t])
        for name in ("v0", "v1", "v2"):
            values[name].append(getattr(mf, name))
        values["peak_counts"].append(
            peak_counts(tomo, settings.edges("peak_counts") * sigma_ref[t]).counts.astype(np.float64)
        )
    for name in STATISTICS:
        if name != "power_spectrum":
            e = settings.edges(name)
            x[name] = 0.5 * (e[1:] + e[:-1])
    return {name: np.stack(v, axis=1) for name, v in values.items()}, x


def compare_map_sets(
    maps_a: npt.ArrayLike,
    maps_b: npt.ArrayLike,
    *,
    side_deg: float,
    settings: CompareSettings,
    seed: int,
    labels: tuple[str, str] = ("a", "b"),
) -> MapComparison:
    """Compare two map sets with every statistic and its two-sample tests (module doc).

    Parameters
    ----------
    maps_a, maps_b
        Maps shaped (n_maps, n_tomographic_bins, N, N) or (n_maps, N, N), the same bins and N;
        set A is the reference whose σ0 is the unit of the ν edges.
    side_deg
        Side of a map, degrees.
    settings
        Binning and test settings.
    seed
        Base seed of the bootstrap resampling (one stream per statistic).
    labels
        Names of the two sets (plots and JSON).

    Returns
    -------
    MapComparison
        Per-statistic values, p-values and correlation differences, and the verdict.

    Raises
    ------
    ValueError
        Maps not shaped as above, not finite, sets of different geometry, or too few maps.
    """
    a = _as_tomographic(maps_a, "maps_a")
    b = _as_tomographic(maps_b, "maps_b")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"maps_b: expected the bins and pixels of maps_a {a.shape[1:]}, found {b.shape[1:]}")
    a = _smooth(a, side_deg=side_deg, settings=settings)
    b = _smooth(b, side_deg=side_deg, settings=settings)
    sigma_ref = reference_sigma(a)
    if not np.all(sigma_ref > 0):
        raise ValueError(f"maps_a: expected maps with a positive standard deviation, found σ0 = {sigma_ref}")
    values_a, x = _per_map_statistics(a, sigma_ref=sigma_ref, side_deg=side_deg, settings=settings)
    values_b, _ = _per_map_statistics(b, sigma_ref=sigma_ref, side_deg=side_deg, settings=settings)
    results = {}
    for k, name in enumerate(STATISTICS):
        va, vb = values_a[name], values_b[name]
        shape = va.shape[1:]
        # a bin where both sets are constant cannot differ (scipy would return NaN for it)
        with np.errstate(invalid="ignore"):
            ks = stats.ks_2samp(va.reshape(len(va), -1), vb.reshape(len(vb), -1), axis=0).pvalue
        ks = np.where(np.isfinite(ks), ks, 1.0)
        boot = two_sample_tests(va, vb, n_bootstrap=settings.n_bootstrap, seed=seed + k)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = correlation_difference(va, vb)
        results[name] = StatisticComparison(
            name=name,
            x=x[name],
            values_a=va,
            values_b=vb,
            ks_pvalue=ks.reshape(shape),
            bootstrap_ks=boot.ks_pvalues.reshape(-1, *shape),
            bootstrap_ad=boot.ad_pvalues.reshape(-1, *shape),
            correlation_difference=corr,
        )
    return MapComparison(
        statistics=results, reference_sigma=sigma_ref, settings=settings, seed=seed, labels=labels
    )


def read_kappa_maps(paths: Sequence[str | Path]) -> tuple[np.ndarray, dict[str, Any]]:
    """κ maps of one or several map files, concatenated over realisations, and the first file's attributes.

    The files must agree on their geometry (:func:`wlcnn.maps.mapfile.check_consistent_map_files`).

    Raises
    ------
    wlcnn.maps.mapfile.MapFileContentError
        A file that is missing, damaged, without κ maps, or of another geometry.
    """
    import h5py

    attrs = check_consistent_map_files(list(paths), shells=False)
    stacks = []
    for path in paths:
        with h5py.File(path, "r") as fh:
            if "kappa" not in fh:
                raise MapFileContentError(
                    path, "kappa", "a κ dataset (a map file with born = true)", "no such dataset"
                )
            stacks.append(np.asarray(fh["kappa"][...], dtype=np.float64))
    return np.concatenate(stacks), attrs


def compare_config_problems(
    cfg: Mapping[str, Any], *, simulation_names: Mapping[str, Sequence[str]]
) -> list[str]:
    """What the schema cannot check in ``statistics``: pairs naming simulations of the grid.

    Parameters
    ----------
    cfg
        The configuration.
    simulation_names
        Cosmology id of the grid -> names of its simulations (``sim00``, ...).

    Returns
    -------
    list of str
        One line per problem, naming its key, what was expected and what was found.
    """
    block = cfg.get("statistics", {})
    problems: list[str] = []
    problems.extend(
        f"statistics.{key}: expected [low, high] with low < high, found {block[key]}"
        for key in ("histogram_nu_range", "mf_nu_range", "peaks_nu_range", "ps_ell_range")
        if key in block and not block[key][0] < block[key][1]
    )
    seen: set[str] = set()
    for i, pair in enumerate(block.get("compare", [])):
        where = f"statistics.compare[{i}]"
        if pair["name"] in seen:
            problems.append(
                f"{where}.name: expected a name not used by another pair, found {pair['name']!r} twice"
            )
        seen.add(pair["name"])
        for side in ("a", "b"):
            cosmo, sim = pair[side]["cosmology"], pair[side]["simulation"]
            if cosmo not in simulation_names:
                problems.append(
                    f"{where}.{side}.cosmology: expected a cosmology of cosmology.grid "
                    f"({', '.join(sorted(simulation_names))}), found {cosmo!r}"
                )
            elif sim not in simulation_names[cosmo]:
                problems.append(
                    f"{where}.{side}.simulation: expected a simulation of cosmology {cosmo} "
                    f"({', '.join(simulation_names[cosmo])}), found {sim!r}"
                )
        if pair.get("expect", "same") not in _EXPECTATIONS:
            problems.append(f"{where}.expect: expected one of {_EXPECTATIONS}, found {pair['expect']!r}")
    return problems


#: Files of a comparison, by key (the rule's outputs): JSON of every number, then the figures.
COMPARE_FILES = {
    "json": "comparison.json",
    "bands": "bands.png",
    "distributions": "distributions.png",
    "pvalues": "pvalues.png",
    "correlation": "correlation_difference.png",
}
