"""Bootstrapped two-sample tests between two map sets (CosmoGAN Sect. 3, SPEC §10).

For every bin of a statistic (a Fourier ring, a threshold, a histogram bin) the per-map values
of set A and set B are compared with the two-sided Kolmogorov-Smirnov test
(:func:`scipy.stats.ks_2samp`) and the k-sample Anderson-Darling test
(:func:`scipy.stats.anderson_ksamp`) under the null hypothesis that both come from one
distribution. Each bootstrap resamples both sets with replacement (their own sizes) and
repeats the tests, giving a distribution of p-values per bin; the generator is
:func:`wlcnn.seeding.rng_for` of the explicit ``seed``, so a result is reproducible.

scipy's Anderson-Darling p-value is interpolated in a table and clipped to [0.001, 0.25]
(scipy warns at the clip; the warning is silenced here and the clip documented): an AD p-value
of 0.001 means "0.001 or less", 0.25 "0.25 or more". Bins where both resampled sets hold one
and the same value (e.g. V0 = 1 far below every map's minimum) cannot differ: p = 1.

:func:`correlation_difference` gives the difference of the two sets' correlation matrices
(CosmoGAN Fig. 4).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(size=(200, 3)), rng.normal(size=(200, 3))
>>> same = two_sample_tests(a, b, n_bootstrap=20, seed=1)
>>> bool(np.all(np.median(same.ks_pvalues, axis=0) > 0.01))
True
>>> shifted = two_sample_tests(a, b + 1.0, n_bootstrap=20, seed=1)
>>> float(np.max(shifted.ks_pvalues)) < 1e-6, float(np.max(shifted.ad_pvalues))
(True, 0.001)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from wlcnn.seeding import rng_for
from wlcnn.statistics.correlation import correlation_matrix

__all__ = ["TwoSampleTests", "correlation_difference", "two_sample_tests"]

#: Identity under which the bootstrap generator is derived from the user's seed.
_RNG_IDENTITY = "two_sample_bootstrap"
#: Fewest maps per set for a two-sample test.
_MIN_MAPS = 2


@dataclass(frozen=True)
class TwoSampleTests:
    """p-values of the bootstrapped two-sample tests, per bootstrap and bin.

    Attributes
    ----------
    ks_pvalues
        Kolmogorov-Smirnov (two-sided) p-values, shape (n_bootstrap, n_bins).
    ad_pvalues
        Anderson-Darling p-values, clipped by scipy to [0.001, 0.25], shape (n_bootstrap, n_bins).
    seed
        The seed the bootstrap was drawn from.
    """

    ks_pvalues: np.ndarray
    ad_pvalues: np.ndarray
    seed: int

    def fraction_rejected(self, *, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Per bin, the fraction of bootstraps with p < ``alpha`` (KS, AD).

        Parameters
        ----------
        alpha
            Significance level.

        Returns
        -------
        tuple
            ``(ks, ad)`` arrays of shape (n_bins,).
        """
        return (self.ks_pvalues < alpha).mean(axis=0), (self.ad_pvalues < alpha).mean(axis=0)


def _as_sample(values: npt.ArrayLike, name: str) -> np.ndarray:
    """(n_maps, n_bins) float64 view of a per-map statistic (extra bin axes flattened)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim < 1 or v.shape[0] < _MIN_MAPS:
        raise ValueError(
            f"{name}: expected per-map values shaped (n_maps >= {_MIN_MAPS}, ...), found {v.shape}"
        )
    return v.reshape(v.shape[0], -1)


def _anderson_pvalue(x: np.ndarray, y: np.ndarray) -> float:
    """The k-sample AD p-value of scipy (clipped, module doc); 1 for two identical constant samples."""
    if np.unique(np.concatenate([x, y])).size < 2:  # one value in both sets (NaN counts as one)
        return 1.0
    with warnings.catch_warnings():
        # scipy warns whenever it clips the p-value to its table's range; that is documented.
        warnings.simplefilter("ignore", UserWarning)
        return float(stats.anderson_ksamp([x, y]).pvalue)


def two_sample_tests(a: npt.ArrayLike, b: npt.ArrayLike, *, n_bootstrap: int, seed: int) -> TwoSampleTests:
    """Bootstrapped KS and AD tests, bin by bin, between two map sets (module doc).

    Parameters
    ----------
    a, b
        Per-map values of one statistic for the two sets, shaped (n_a, ...) and (n_b, ...) with
        the same bin axes.
    n_bootstrap
        Number of bootstrap resamplings (>= 1).
    seed
        Base seed of the bootstrap generator.

    Returns
    -------
    TwoSampleTests
        p-values shaped (n_bootstrap, n_bins), bins flattened in C order.

    Raises
    ------
    ValueError
        Fewer than two maps in a set, different bins, or ``n_bootstrap`` < 1.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(5).normal(size=(50, 2, 2))
    >>> two_sample_tests(x, x, n_bootstrap=3, seed=0).ks_pvalues.shape
    (3, 4)
    """
    x = _as_sample(a, "a")
    y = _as_sample(b, "b")
    if x.shape[1:] != y.shape[1:] or np.shape(a)[1:] != np.shape(b)[1:]:
        raise ValueError(f"b: expected the bins of a {np.shape(a)[1:]}, found {np.shape(b)[1:]}")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap: expected >= 1, found {n_bootstrap}")
    rng = rng_for(seed, _RNG_IDENTITY)
    n_bins = x.shape[1]
    ks = np.empty((n_bootstrap, n_bins))
    ad = np.empty((n_bootstrap, n_bins))
    for t in range(n_bootstrap):
        xs = x[rng.integers(len(x), size=len(x))]
        ys = y[rng.integers(len(y), size=len(y))]
        ks[t] = stats.ks_2samp(xs, ys, axis=0).pvalue
        ad[t] = [_anderson_pvalue(xs[:, k], ys[:, k]) for k in range(n_bins)]
    return TwoSampleTests(ks_pvalues=ks, ad_pvalues=ad, seed=seed)


def correlation_difference(a: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """Correlation matrix of set A minus that of set B (:func:`.correlation_matrix`).

    Parameters
    ----------
    a, b
        Per-map values shaped (n_a, ...) and (n_b, ...) with the same bin axes.

    Returns
    -------
    numpy.ndarray
        (n_bins, n_bins) difference, in [-2, 2].

    Raises
    ------
    ValueError
        Fewer than two maps in a set or different bins.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 1))
    >>> a, b = np.hstack([x, x]), np.hstack([x, -x])
    >>> correlation_difference(a, b).round(6).tolist()
    [[0.0, 2.0], [2.0, 0.0]]
    """
    x = _as_sample(a, "a")
    y = _as_sample(b, "b")
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(f"b: expected the bins of a {np.shape(a)[1:]}, found {np.shape(b)[1:]}")
    return correlation_matrix(x) - correlation_matrix(y)
