"""Compiled binning of rfft2 power into multipole bins, for :func:`.power_spectrum`.

A module of its own so that importing :mod:`wlcnn.statistics.power_spectrum` (the inference
baseline) does not import numba; :func:`.power_spectrum` imports this on first use.
"""

from __future__ import annotations

import numba

__all__ = ["bin_power", "bin_values"]


@numba.njit(cache=True, nogil=True)
def bin_power(fa, fb, cross, modes, bins, weights, out, first):  # pragma: no cover - compiled
    """Add the weighted power of each map's listed modes to its bins: ``out[first + m, bin]``.

    ``fa``, ``fb``: ``(n_maps, n_modes)`` rfft2 coefficients (``fb`` used only for a cross
    spectrum). Modes are visited in the order of ``modes``, as ``np.bincount`` does, so the sums
    are the same to the last bit.
    """
    for m in range(fa.shape[0]):
        row = out[first + m]
        for t in range(modes.size):
            a = fa[m, modes[t]]
            if cross:
                c = fb[m, modes[t]]
                power = a.real * c.real + a.imag * c.imag
            else:
                power = a.real**2 + a.imag**2
            row[bins[t]] += power * weights[t]


@numba.njit(cache=True, nogil=True)
def bin_values(values, modes, bins, weights, out):  # pragma: no cover - compiled
    """Add the weighted real per-mode ``values`` ``(n_maps, n_modes)`` of each map to its bins.

    Same visiting order as :func:`bin_power` (and ``np.bincount``): the same sums to the bit.
    """
    for m in range(values.shape[0]):
        row = out[m]
        for t in range(modes.size):
            row[bins[t]] += values[m, modes[t]] * weights[t]
