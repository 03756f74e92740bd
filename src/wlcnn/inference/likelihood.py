"""The summary-statistic likelihood (SPEC §8): Sellentin-Heavens form on an interpolated model.

For a data vector d of length p, a model mean μ̂ estimated from M simulated surveys and a
covariance Ŝ estimated from N surveys, Sellentin & Heavens (2016) and Jeffrey & Abdalla (2018)
give the likelihood marginalised over the true mean and covariance:

    P(d | μ̂, M, Ŝ, N) = c_p |Ŝ|^(−1/2) (1 + M Q / ((M+1)(N−1)))^(−N/2),
    Q = (d − μ̂)ᵀ Ŝ⁻¹ (d − μ̂),
    c_p = Γ(N/2) / (Γ((N−p)/2) [π (N−1)(M+1)/M]^(p/2)).

It is a multivariate Student-t with ν = N − p degrees of freedom and shape
Ŝ (N−1)(M+1) / (M (N−p)); it tends to the Gaussian N(μ̂, Ŝ) as N, M → ∞. The normalisation c_p
is kept because the counts may differ between grid nodes.

μ̂ and Ŝ are known at the simulated cosmologies (nodes in (Ωm, σ8)) for a list of A_IA values.
At any θ = (Ωm, σ8, A_IA) they are interpolated linearly over a Delaunay triangulation of the
nodes (barycentric weights in the triangle holding (Ωm, σ8)) and linearly in A_IA. A convex
combination of positive-definite matrices is positive definite, so Ŝ(θ) stays a covariance. The
prior is flat on the convex hull of the nodes × [A_IA min, A_IA max], zero outside.

Examples
--------
>>> import numpy as np
>>> from scipy import stats
>>> d, mu, cov = np.array([0.3, -0.2]), np.zeros(2), np.array([[1.0, 0.3], [0.3, 2.0]])
>>> big = 10**8
>>> lp = sellentin_heavens_logpdf(d, mean=mu, covariance=cov, n_cov=big, n_mean=big)
>>> bool(np.isclose(lp, stats.multivariate_normal(mu, cov).logpdf(d), atol=1e-6))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
from scipy.linalg import solve_triangular
from scipy.spatial import Delaunay
from scipy.special import gammaln

__all__ = [
    "PARAMETER_LABELS",
    "PARAMETER_NAMES",
    "GridInterpolator",
    "InterpolationWeights",
    "SummaryLikelihood",
    "sellentin_heavens_logpdf",
]

#: Order of the parameters of θ everywhere in this package.
PARAMETER_NAMES = ("omega_m", "sigma8", "a_ia")
#: LaTeX labels (getdist, matplotlib) of :data:`PARAMETER_NAMES`.
PARAMETER_LABELS = {"omega_m": r"\Omega_{\rm m}", "sigma8": r"\sigma_8", "a_ia": r"A_{\rm IA}"}
#: Points per vectorised batch: bounds the (batch, p, p) temporaries of the covariance algebra.
_CHUNK = 4096
#: Vertices of a triangle.
_N_VERTICES = 3
#: Barycentric tolerance of the point location (unit-square coordinates): points on the hull's
#: edges, e.g. simulated cosmologies on its boundary, are inside.
_EDGE_TOLERANCE = 1e-10
#: Grid values entering one point: 3 triangle vertices × the 2 ends of its A_IA interval.
_N_CORNERS = 2 * _N_VERTICES


def sellentin_heavens_logpdf(
    data: np.ndarray,
    *,
    mean: np.ndarray,
    covariance: np.ndarray,
    n_cov: int | np.ndarray,
    n_mean: int | np.ndarray,
) -> np.ndarray:
    """Log of the normalised Sellentin-Heavens / Jeffrey-Abdalla likelihood (module doc).

    Parameters
    ----------
    data
        Data vector(s), shape (..., p) (broadcast against ``mean``).
    mean
        Estimated mean(s) μ̂, shape (..., p).
    covariance
        Estimated covariance(s) Ŝ, shape (..., p, p), symmetric positive definite.
    n_cov
        N, the number of surveys behind Ŝ (scalar or shape (...)); must exceed p.
    n_mean
        M, the number of surveys behind μ̂ (scalar or shape (...)); must be >= 1.

    Returns
    -------
    numpy.ndarray
        ln P, shape (...) (a 0-d array for single vectors), in units of ln(1/[d]^p).

    Raises
    ------
    ValueError
        N <= p (the Student-t has no proper normalisation) or M < 1.
    """
    mean = np.asarray(mean, dtype=np.float64)
    covariance = np.asarray(covariance, dtype=np.float64)
    diff = np.asarray(data, dtype=np.float64) - mean
    p = diff.shape[-1]
    n = np.asarray(n_cov, dtype=np.float64)
    m = np.asarray(n_mean, dtype=np.float64)
    if np.any(n <= p):
        raise ValueError(f"the covariance needs more surveys than data-vector entries: N = {n} <= p = {p}")
    if np.any(m < 1):
        raise ValueError(f"the mean needs at least one survey: M = {m}")
    chol = np.linalg.cholesky(covariance)
    # Q = |L⁻¹ (d − μ)|², and ln|Ŝ| = 2 Σ ln L_ii: one factorisation for both.
    whitened = np.linalg.solve(chol, diff[..., None])[..., 0]
    q = np.sum(whitened**2, axis=-1)
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    return _log_student(q, log_det=log_det, p=p, n=n, m=m)


def _log_student(
    q: np.ndarray, *, log_det: np.ndarray | float, p: int, n: np.ndarray | float, m: np.ndarray
) -> np.ndarray:
    """Log-likelihood from Q and ln|Ŝ| (module doc)."""
    log_norm = gammaln(n / 2) - gammaln((n - p) / 2) - 0.5 * p * np.log(np.pi * (n - 1) * (m + 1) / m)
    return log_norm - 0.5 * log_det - 0.5 * n * np.log1p(m * q / ((m + 1) * (n - 1)))


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _interpolated_quadratic_forms(
    covariance: np.ndarray,
    mean: np.ndarray,
    data: np.ndarray,
    corners: np.ndarray,
    corner_weights: np.ndarray,
    order: np.ndarray,
    q: np.ndarray,
    log_det: np.ndarray,
) -> int:
    """Q and ln|Ŝ| at many points with Ŝ, μ̂ interpolated in place (:meth:`SummaryLikelihood.log_likelihood`).

    Per point the lower triangle of Ŝ = Σ_k w_k Ŝ_k over its 6 grid values is accumulated into
    one reused (p + 1, p + 1) buffer whose last row is d − μ̂, and factored in place,
    column by column (left-looking Cholesky-Crout). The last row of the factor of the bordered
    matrix [[Ŝ, ·], [(d − μ̂)ᵀ, ·]] is z = L⁻¹ (d − μ̂), so the whitening comes with the
    factorisation and Q = |z|². Column by column, the entries below a diagonal are independent
    dot products of contiguous rows (two at a time, sharing the loads of the column's row), so
    they pipeline; a row-by-row factorisation chains every entry on the previous one and was
    twice slower (it is latency-bound). Nothing of size (n, p, p) is ever made, and only the
    lower triangle of the inputs is read. ``fastmath`` allows reassociation (vectorised dot
    products); the results differ from a LAPACK factorisation by rounding only.

    Parameters
    ----------
    covariance
        (n_grid, p, p) Ŝ per flattened (node, A_IA) grid value.
    mean
        (n_grid, p) μ̂ per grid value.
    data
        (p,) data vector.
    corners, corner_weights
        (n, 6) flattened grid values entering each point and their weights (sum to 1).
    order
        (n,) processing order of the points (sorted by grid value, so that neighbours share
        cached rows).
    q, log_det
        (n,) outputs.

    Returns
    -------
    int
        −1 when every Ŝ was positive definite, else the index of the first point that was not.
    """
    p = data.shape[0]
    n_corners = corners.shape[1]
    # Rows 0..p-1: the lower triangle of Ŝ; row p: d − μ̂ (the border whose factor row is z).
    chol = np.empty((p + 1, p + 1))
    for i_order in range(order.shape[0]):
        point = order[i_order]
        for row in range(p):
            for col in range(row + 1):
                chol[row, col] = 0.0
            chol[p, row] = data[row]
        for k in range(n_corners):
            w = corner_weights[point, k]
            if w == 0.0:
                continue
            c = corners[point, k]
            for row in range(p):
                for col in range(row + 1):
                    chol[row, col] += w * covariance[c, row, col]
                chol[p, row] -= w * mean[c, row]
        log_diag = 0.0
        for j in range(p):
            s = chol[j, j]
            for k in range(j):
                s -= chol[j, k] * chol[j, k]
            if not s > 0.0:
                return point
            diag = np.sqrt(s)
            chol[j, j] = diag
            log_diag += np.log(diag)
            inverse = 1.0 / diag
            # L_ij = (A_ij − Σ_{k<j} L_ik L_jk) / L_jj for every i > j, the border row p included.
            i = j + 1
            while i < p:
                t0 = chol[i, j]
                t1 = chol[i + 1, j]
                for k in range(j):
                    l_jk = chol[j, k]
                    t0 -= chol[i, k] * l_jk
                    t1 -= chol[i + 1, k] * l_jk
                chol[i, j] = t0 * inverse
                chol[i + 1, j] = t1 * inverse
                i += 2
            if i == p:
                t = chol[p, j]
                for k in range(j):
                    t -= chol[p, k] * chol[j, k]
                chol[p, j] = t * inverse
        total = 0.0
        for j in range(p):
            total += chol[p, j] * chol[p, j]
        q[point] = total
        log_det[point] = 2.0 * log_diag
    return -1


@dataclass(frozen=True)
class InterpolationWeights:
    """Where points fall on the (node, A_IA) grid and with which weights.

    Attributes
    ----------
    nodes
        (n, 3) indices of the triangle's vertices among the cosmology nodes.
    node_weights
        (n, 3) barycentric weights in (Ωm, σ8) (sum to 1; zero for points outside the hull).
    a_ia_index
        (n,) index j of the A_IA interval [a_j, a_(j+1)] holding the point.
    a_ia_fraction
        (n,) position t in that interval: value = (1 − t) v_j + t v_(j+1).
    inside
        (n,) True where the point is inside the prior (hull × A_IA range).
    """

    nodes: np.ndarray
    node_weights: np.ndarray
    a_ia_index: np.ndarray
    a_ia_fraction: np.ndarray
    inside: np.ndarray


def _subset(weights: InterpolationWeights, keep: np.ndarray) -> InterpolationWeights:
    return InterpolationWeights(
        nodes=weights.nodes[keep],
        node_weights=weights.node_weights[keep],
        a_ia_index=weights.a_ia_index[keep],
        a_ia_fraction=weights.a_ia_fraction[keep],
        inside=weights.inside[keep],
    )


class GridInterpolator:
    """Piecewise-linear interpolation over a Delaunay triangulation in (Ωm, σ8) × linear in A_IA.

    Parameters
    ----------
    nodes
        (n_c, 2) simulated (Ωm, σ8).
    a_ia
        (n_a,) strictly increasing A_IA values (n_a >= 2).
    scale
        ((Ωm low, Ωm high), (σ8 low, σ8 high)): the box mapped onto the unit square before the
        triangulation. Delaunay triangulations are not invariant under stretching one axis, and
        σ8 spans a wider range than Ωm, so the nodes are triangulated in prior units (default:
        their bounding box). Interpolated values at nodes and the hull do not depend on it.

    Raises
    ------
    ValueError
        Fewer than 3 nodes, nodes all on one line, duplicate nodes or A_IA not increasing.

    Examples
    --------
    >>> import numpy as np
    >>> interp = GridInterpolator(nodes=np.array([[0.2, 0.6], [0.4, 0.6], [0.3, 1.0]]),
    ...                           a_ia=np.array([-1.0, 1.0]))
    >>> values = np.array([[[0.0], [2.0]], [[1.0], [3.0]], [[5.0], [7.0]]])  # (n_c, n_a, 1)
    >>> interp.interpolate(values, points=np.array([[0.3, 0.6, 0.0], [0.9, 0.6, 0.0]]))[:, 0]
    array([1.5, 0. ])
    """

    def __init__(
        self,
        *,
        nodes: np.ndarray,
        a_ia: np.ndarray,
        scale: Sequence[Sequence[float]] | np.ndarray | None = None,
    ) -> None:
        nodes = np.asarray(nodes, dtype=np.float64)
        a_ia = np.asarray(a_ia, dtype=np.float64)
        if nodes.ndim != 2 or nodes.shape[1] != 2 or len(nodes) < _N_VERTICES:
            raise ValueError(f"expected at least 3 nodes of shape (n, 2), found {nodes.shape}")
        if len(np.unique(nodes, axis=0)) != len(nodes):
            raise ValueError("duplicate (omega_m, sigma8) nodes")
        if a_ia.ndim != 1 or len(a_ia) < 2 or np.any(np.diff(a_ia) <= 0):
            raise ValueError(f"expected at least two strictly increasing A_IA values, found {a_ia}")
        if scale is None:
            scale = np.stack([nodes.min(axis=0), nodes.max(axis=0)], axis=1)
        self._lo = np.array([scale[0][0], scale[1][0]], dtype=np.float64)
        self._span = np.array([scale[0][1] - scale[0][0], scale[1][1] - scale[1][0]], dtype=np.float64)
        if np.any(self._span <= 0):
            raise ValueError(f"scale must have low < high on both axes, found {scale}")
        self.nodes = nodes
        self.a_ia = a_ia
        unit = self._to_unit(nodes)
        if np.linalg.matrix_rank(unit[1:] - unit[0], tol=1e-9) < 2:
            raise ValueError("the nodes lie on one line: no 2-D triangulation")
        # "Qt" keeps the triangulated output; "Qbb Qc Qz" are SciPy's defaults for 2-D, stable
        # on the grid's regular lines of points.
        self.triangulation = Delaunay(unit, qhull_options="Qbb Qc Qz Qt")
        # Barycentric maps of the triangles, b = T (x − r), by the closed-form 2×2 inverse:
        # SciPy's Delaunay.transform goes through LAPACK per triangle, which can cost ~1 s when a
        # multi-threaded BLAS competes for a loaded machine, for every new likelihood.
        vertices = unit[self.triangulation.simplices]  # (n_tri, 3, 2)
        self._origin = vertices[:, 2]
        edges = np.stack([vertices[:, 0] - self._origin, vertices[:, 1] - self._origin], axis=2)  # columns
        det = edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]
        self._inverse = (
            np.stack(
                [
                    np.stack([edges[:, 1, 1], -edges[:, 0, 1]], axis=1),
                    np.stack([-edges[:, 1, 0], edges[:, 0, 0]], axis=1),
                ],
                axis=1,
            )
            / det[:, None, None]
        )

    def _to_unit(self, xy: np.ndarray) -> np.ndarray:
        return (xy - self._lo) / self._span

    @property
    def hull(self) -> np.ndarray:
        """(k, 2) vertices of the convex hull in (Ωm, σ8), counter-clockwise, closed (first = last)."""
        from scipy.spatial import ConvexHull

        hull = ConvexHull(self.nodes)
        vertices = self.nodes[hull.vertices]
        return np.vstack([vertices, vertices[:1]])

    @property
    def a_ia_range(self) -> tuple[float, float]:
        """(lowest, highest) A_IA of the grid."""
        return float(self.a_ia[0]), float(self.a_ia[-1])

    def _locate(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Triangle index (−1 outside) and barycentric weights (n, 3) of (n, 2) unit-square points."""
        dx = unit[:, None, 0] - self._origin[None, :, 0]
        dy = unit[:, None, 1] - self._origin[None, :, 1]
        b0 = self._inverse[None, :, 0, 0] * dx + self._inverse[None, :, 0, 1] * dy
        b1 = self._inverse[None, :, 1, 0] * dx + self._inverse[None, :, 1, 1] * dy
        b2 = 1.0 - b0 - b1
        # Every triangle is tested (a few hundred at most): points on a shared edge take the first.
        hit = (b0 >= -_EDGE_TOLERANCE) & (b1 >= -_EDGE_TOLERANCE) & (b2 >= -_EDGE_TOLERANCE)
        found = hit.any(axis=1)
        simplex = np.where(found, hit.argmax(axis=1), -1)
        rows = np.arange(len(unit))
        safe = np.where(found, simplex, 0)
        bary = np.stack([b0[rows, safe], b1[rows, safe], b2[rows, safe]], axis=1)
        return simplex, bary

    def in_hull(self, omega_m_sigma8: np.ndarray) -> np.ndarray:
        """True where (n, 2) points lie in the convex hull of the nodes (edges included)."""
        xy = np.atleast_2d(np.asarray(omega_m_sigma8, dtype=np.float64))
        return self._locate(self._to_unit(xy))[0] >= 0

    def weights(self, points: np.ndarray) -> InterpolationWeights:
        """Interpolation weights of (n, 3) points θ = (Ωm, σ8, A_IA); see :class:`InterpolationWeights`."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        unit = self._to_unit(points[:, :2])
        simplex, bary = self._locate(unit)
        in_hull = simplex >= 0
        safe = np.where(in_hull, simplex, 0)
        # Clip the edge tolerance away and renormalise, so weights stay a convex combination.
        node_weights = np.clip(bary, 0.0, 1.0)
        node_weights = np.where(in_hull[:, None], node_weights / node_weights.sum(axis=1, keepdims=True), 0.0)
        a = points[:, 2]
        in_range = (a >= self.a_ia[0]) & (a <= self.a_ia[-1])
        index = np.clip(np.searchsorted(self.a_ia, a, side="right") - 1, 0, len(self.a_ia) - 2)
        fraction = (a - self.a_ia[index]) / (self.a_ia[index + 1] - self.a_ia[index])
        inside = in_hull & in_range
        return InterpolationWeights(
            nodes=self.triangulation.simplices[safe],
            node_weights=node_weights * inside[:, None],
            a_ia_index=index,
            a_ia_fraction=np.where(inside, np.clip(fraction, 0.0, 1.0), 0.0),
            inside=inside,
        )

    def interpolate(
        self,
        values: np.ndarray,
        *,
        points: np.ndarray | None = None,
        weights: InterpolationWeights | None = None,
    ) -> np.ndarray:
        """Values (n_c, n_a, ...) at (n, 3) points: shape (n, ...), zero outside the prior.

        Give either ``points`` or precomputed ``weights``.
        """
        if weights is None:
            if points is None:
                raise TypeError("give points or weights")
            weights = self.weights(points)
        values = np.asarray(values)
        j, t = weights.a_ia_index, weights.a_ia_fraction
        extra = (1,) * (values.ndim - 2)
        out = 0.0
        for k in range(_N_VERTICES):
            node = weights.nodes[:, k]
            w = weights.node_weights[:, k].reshape(-1, *extra)
            tt = t.reshape(-1, *extra)
            out = out + w * ((1.0 - tt) * values[node, j] + tt * values[node, j + 1])
        return np.asarray(out)

    def corners(self, weights: InterpolationWeights) -> tuple[np.ndarray, np.ndarray]:
        """The 6 grid values entering each point, flattened, and their weights.

        Returns
        -------
        tuple of numpy.ndarray
            (n, 6) indices into values reshaped to (n_c n_a, ...) (vertex k at the low, then the
            high end of the A_IA interval), and (n, 6) weights w_k (1 − t), w_k t.
        """
        n_a = len(self.a_ia)
        low = weights.nodes * n_a + weights.a_ia_index[:, None]
        t = weights.a_ia_fraction[:, None]
        index = np.concatenate([low, low + 1], axis=1)
        corner_weights = np.concatenate([weights.node_weights * (1.0 - t), weights.node_weights * t], axis=1)
        return index, corner_weights

    def smallest_count(self, counts: np.ndarray, *, weights: InterpolationWeights) -> np.ndarray:
        """Smallest count (n_c, n_a) among the grid values that enter each point (conservative N, M)."""
        counts = np.asarray(counts, dtype=np.float64)
        j, t = weights.a_ia_index, weights.a_ia_fraction
        candidates = []
        for k in range(_N_VERTICES):
            node = weights.nodes[:, k]
            w = weights.node_weights[:, k]
            candidates.append(np.where(w * (1 - t) > 0, counts[node, j], np.inf))
            candidates.append(np.where(w * t > 0, counts[node, j + 1], np.inf))
        return np.min(candidates, axis=0)


class SummaryLikelihood:
    """Posterior of θ = (Ωm, σ8, A_IA) for one data vector and an interpolated summary model.

    Parameters
    ----------
    nodes
        (n_c, 2) simulated (Ωm, σ8).
    a_ia
        (n_a,) increasing A_IA values of the summaries.
    mean
        (n_c, n_a, p) μ̂ per node and A_IA.
    covariance
        (n_c, n_a, p, p) Ŝ per node and A_IA; ignored when ``fixed_covariance`` is given.
    n_mean, n_cov
        (n_c, n_a) surveys behind μ̂ and Ŝ (M and N). Where several grid values enter a point,
        the smallest count is used (conservative).
    data
        (p,) observed data vector.
    fixed_covariance
        (p, p): use this covariance everywhere (power-spectrum baseline, SPEC §8) instead of the
        interpolated one; ``fixed_n_cov`` is then its N.
    fixed_n_cov
        N of ``fixed_covariance``.
    a_ia_range
        Prior range of A_IA; default the grid's range; must lie within it (no extrapolation).
    scale
        Triangulation box, see :class:`GridInterpolator`.

    Notes
    -----
    Calling the object with (n, 3) points returns the log posterior (up to a constant), −inf
    outside the prior; this is the vectorised function the samplers use.
    """

    def __init__(
        self,
        *,
        nodes: np.ndarray,
        a_ia: np.ndarray,
        mean: np.ndarray,
        covariance: np.ndarray | None,
        n_mean: np.ndarray,
        n_cov: np.ndarray,
        data: np.ndarray,
        fixed_covariance: np.ndarray | None = None,
        fixed_n_cov: int | None = None,
        a_ia_range: Sequence[float] | None = None,
        scale: Sequence[Sequence[float]] | np.ndarray | None = None,
    ) -> None:
        self.interpolator = GridInterpolator(nodes=nodes, a_ia=a_ia, scale=scale)
        n_c, n_a = len(self.interpolator.nodes), len(self.interpolator.a_ia)
        # Own, contiguous copies: the fused kernel reads flat views of them, and a caller may
        # replace one grid value in place (leave-one-out, :mod:`.coverage`).
        self.mean = np.array(mean, dtype=np.float64, order="C")
        self.data = np.asarray(data, dtype=np.float64)
        p = self.data.shape[-1]
        if self.mean.shape != (n_c, n_a, p):
            raise ValueError(f"mean: expected shape {(n_c, n_a, p)}, found {self.mean.shape}")
        # A NaN or inf here does not fail: it silently makes every likelihood NaN (or the
        # posterior zero everywhere). Refuse it, naming the entry.
        for name, values in (("data", self.data), ("mean", self.mean)):
            bad = np.argwhere(~np.isfinite(values))
            if len(bad):
                raise ValueError(
                    f"{name}: expected finite values, found {values[tuple(bad[0])]} at {bad[0].tolist()}"
                )
        self.n_mean = np.array(np.broadcast_to(np.asarray(n_mean, dtype=np.float64), (n_c, n_a)))
        if fixed_covariance is not None:
            self.fixed_covariance: np.ndarray | None = np.asarray(fixed_covariance, dtype=np.float64)
            if self.fixed_covariance.shape != (p, p) or fixed_n_cov is None:
                raise ValueError(f"fixed_covariance: expected shape {(p, p)} and fixed_n_cov")
            self.fixed_n_cov = float(fixed_n_cov)
            if self.fixed_n_cov <= p:
                raise ValueError(f"fixed_n_cov = {fixed_n_cov} must exceed the data-vector length {p}")
            self.covariance = None
            self.n_cov = None
            try:
                self._fixed_cholesky: np.ndarray | None = np.linalg.cholesky(self.fixed_covariance)
            except np.linalg.LinAlgError:
                finite = np.isfinite(self.fixed_covariance).all()
                eigen_min = float(np.linalg.eigvalsh(self.fixed_covariance)[0]) if finite else np.nan
                raise ValueError(
                    "fixed_covariance: expected a positive-definite matrix, found smallest eigenvalue "
                    f"{eigen_min:.3g}"
                ) from None
            self._fixed_log_det = 2.0 * float(np.sum(np.log(np.diag(self._fixed_cholesky))))
        else:
            if covariance is None:
                raise ValueError("give covariance or fixed_covariance")
            self.fixed_covariance = None
            self._fixed_cholesky = None
            self.covariance = np.array(covariance, dtype=np.float64, order="C")
            if self.covariance.shape != (n_c, n_a, p, p):
                raise ValueError(
                    f"covariance: expected shape {(n_c, n_a, p, p)}, found {self.covariance.shape}"
                )
            self.n_cov = np.array(np.broadcast_to(np.asarray(n_cov, dtype=np.float64), (n_c, n_a)))
        grid_lo, grid_hi = self.interpolator.a_ia_range
        lo, hi = (grid_lo, grid_hi) if a_ia_range is None else (float(a_ia_range[0]), float(a_ia_range[1]))
        if lo < grid_lo - 1e-12 or hi > grid_hi + 1e-12 or lo >= hi:
            raise ValueError(
                f"a_ia_range {[lo, hi]} must lie within the summaries' A_IA grid {[grid_lo, grid_hi]}"
            )
        self.a_ia_range = (lo, hi)

    @property
    def n_data(self) -> int:
        """Length p of the data vector."""
        return int(self.data.shape[-1])

    @property
    def hull(self) -> np.ndarray:
        """Closed polygon (k, 2) of the (Ωm, σ8) prior."""
        return self.interpolator.hull

    def in_prior(self, theta: np.ndarray) -> np.ndarray:
        """True where (n, 3) points lie in the prior support (hull × A_IA range)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        a = theta[:, 2]
        return self.interpolator.in_hull(theta[:, :2]) & (a >= self.a_ia_range[0]) & (a <= self.a_ia_range[1])

    def model(
        self, theta: np.ndarray, *, weights: InterpolationWeights | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Interpolated (μ̂ (n, p), Ŝ (n, p, p), M (n,), N (n,)) at (n, 3) points inside the prior."""
        if weights is None:
            weights = self.interpolator.weights(theta)
        mean = self.interpolator.interpolate(self.mean, weights=weights)
        n_mean = self.interpolator.smallest_count(self.n_mean, weights=weights)
        if self.fixed_covariance is not None:
            cov = np.broadcast_to(self.fixed_covariance, (len(mean), self.n_data, self.n_data))
            n_cov = np.full(len(mean), self.fixed_n_cov)
        else:
            assert self.covariance is not None  # stored unless the covariance is fixed
            assert self.n_cov is not None
            cov = self.interpolator.interpolate(self.covariance, weights=weights)
            n_cov = self.interpolator.smallest_count(self.n_cov, weights=weights)
        return mean, cov, n_mean, n_cov

    def log_likelihood(self, theta: np.ndarray, *, data: np.ndarray | None = None) -> np.ndarray:
        """Log-likelihood ln P(d | θ) at (n, 3) points, −inf outside the prior.

        ``data`` replaces the stored data vector (e.g. many mock data vectors, one model).
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        d = self.data if data is None else np.asarray(data, dtype=np.float64)
        out = np.full(len(theta), -np.inf)
        for start in range(0, len(theta), _CHUNK):
            block = theta[start : start + _CHUNK]
            # One triangle search per point serves both the prior and the interpolation.
            weights = self.interpolator.weights(block)
            a = block[:, 2]
            inside = weights.inside & (a >= self.a_ia_range[0]) & (a <= self.a_ia_range[1])
            if not np.any(inside):
                continue
            sub = _subset(weights, inside)
            if self._fixed_cholesky is not None:
                # One factorisation for all points: a triangular solve per block instead of a
                # Cholesky per point (the power-spectrum baseline has p = 70).
                mean = self.interpolator.interpolate(self.mean, weights=sub)
                n_mean = self.interpolator.smallest_count(self.n_mean, weights=sub)
                whitened = solve_triangular(self._fixed_cholesky, (d - mean).T, lower=True)
                lp = _log_student(
                    np.sum(whitened**2, axis=0),
                    log_det=self._fixed_log_det,
                    p=self.n_data,
                    n=np.float64(self.fixed_n_cov),
                    m=n_mean,
                )
            else:
                lp = self._interpolated_log_likelihood(d, weights=sub)
            out[start : start + len(block)][inside] = lp
        return out

    def _interpolated_log_likelihood(self, data: np.ndarray, *, weights: InterpolationWeights) -> np.ndarray:
        """Log-likelihood at points inside the prior, Ŝ interpolated (fused kernel, no (n, p, p) arrays)."""
        p = self.n_data
        assert self.n_cov is not None  # this path runs only without a fixed covariance
        index, corner_weights = self.interpolator.corners(weights)
        # Points sharing grid values are processed one after the other: their rows stay in cache.
        order = np.argsort(index[:, 0], kind="stable")
        q = np.empty(len(index))
        log_det = np.empty(len(index))
        failed = _interpolated_quadratic_forms(
            self._flat_covariance,
            self._flat_mean,
            np.ascontiguousarray(data, dtype=np.float64).reshape(p),
            index,
            corner_weights,
            order,
            q,
            log_det,
        )
        if failed >= 0:
            raise np.linalg.LinAlgError(
                "the interpolated covariance is not positive definite at grid values "
                f"{index[failed].tolist()}"
            )
        n_mean = self.interpolator.smallest_count(self.n_mean, weights=weights)
        n_cov = self.interpolator.smallest_count(self.n_cov, weights=weights)
        if np.any(n_cov <= p):
            raise ValueError(f"the covariance needs more surveys than data-vector entries: N <= p = {p}")
        return _log_student(q, log_det=log_det, p=p, n=n_cov, m=n_mean)

    @property
    def _flat_covariance(self) -> np.ndarray:
        """(n_c n_a, p, p) view of the covariances (they are stored contiguous: no copy)."""
        assert self.covariance is not None  # stored unless the covariance is fixed
        return self.covariance.reshape(-1, self.n_data, self.n_data)

    @property
    def _flat_mean(self) -> np.ndarray:
        """(n_c n_a, p) view of the means (no copy)."""
        return self.mean.reshape(-1, self.n_data)

    def log_prior(self, theta: np.ndarray) -> np.ndarray:
        """Ln of the flat prior (0 inside, −inf outside; unnormalised)."""
        return np.where(self.in_prior(theta), 0.0, -np.inf)

    def log_posterior(self, theta: np.ndarray) -> np.ndarray:
        """Ln posterior up to a constant, (n,) for (n, 3) points."""
        return self.log_likelihood(theta)

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        """:meth:`log_posterior` (the vectorised function handed to the samplers)."""
        return self.log_posterior(theta)
