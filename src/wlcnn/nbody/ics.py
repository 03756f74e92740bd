"""Initial conditions: a Gaussian random field and its Lagrangian perturbation theory displacements.

Conventions (as in N-GenIC / 2LPTic, Scoccimarro 1998; Crocce et al. 2006):

- Particles start on a regular lattice ``q = (i, j, k) * box / N`` (comoving Mpc/h).
- The linear density contrast ``delta(q)`` is drawn at z = 0 (P(k) from pyccl) and scaled with
  the growth factors; positions are

  ``x = q + D1(a) psi1(q) + D2(a) psi2(q)``

  with ``psi1 = -grad phi1``, ``lap phi1 = delta`` (Zel'dovich) and ``psi2 = grad phi2``,
  ``lap phi2 = sum_{i<j} [phi1_ii phi1_jj - phi1_ij^2]`` (second order), where D1 = D+ is
  normalised to 1 at z = 0 and ``D2 ~ -3/7 D1^2 Omega_m(a)^(-1/143)`` (Bouchet et al. 1995).
- Peculiar velocities ``v = a H(a) [f1 D1 psi1 + f2 D2 psi2]`` with ``H(a) = 100 E(a)``
  km/s/(Mpc/h), ``f1 = dlnD1/dlna`` (pyccl) and ``f2 ~ 2 Omega_m(a)^(6/11)``.

Random numbers: one ``numpy.random.default_rng(seed)`` draws unit white noise in real space,
in C order, so the field is bit-for-bit reproducible and independent of threads and of the FFT
library's thread count (the FFTs themselves are deterministic). Fourier convention: the
unnormalised DFT of the grid values, ``delta_k = sum_x delta(x) exp(-i k.x)``, so that
``P(k) = |delta_k|^2 V / N^6``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyccl
import scipy.fft

from wlcnn.cosmology import growth_factor, growth_rate, hubble_e, linear_power, omega_m_of_z

__all__ = [
    "D2_OMEGA_EXPONENT",
    "D2_PREFACTOR",
    "F2_OMEGA_EXPONENT",
    "HUBBLE_KM_S_PER_MPC_H",
    "InitialConditions",
    "grid_wavenumbers",
    "lattice_positions",
    "linear_density_field",
    "lpt_displacements",
    "make_initial_conditions",
    "second_order_growth",
    "wrap_periodic",
]

#: H0 in km/s per Mpc/h: H(a) = 100 E(a) km/s/(Mpc/h) whatever h is.
HUBBLE_KM_S_PER_MPC_H = 100.0

#: D2 = D2_PREFACTOR * D1^2 * Omega_m(a)^D2_OMEGA_EXPONENT (Bouchet et al. 1995, flat LCDM fit).
D2_PREFACTOR = -3.0 / 7.0
D2_OMEGA_EXPONENT = -1.0 / 143.0
#: f2 = dln D2 / dln a = 2 Omega_m(a)^F2_OMEGA_EXPONENT (Bouchet et al. 1995).
F2_OMEGA_EXPONENT = 6.0 / 11.0


@dataclass(frozen=True)
class InitialConditions:
    """Particles at the starting time.

    Attributes
    ----------
    a, redshift
        Scale factor and redshift of the initial conditions.
    pos
        ``(N^3, 3)`` float64 comoving positions in Mpc/h, wrapped into ``[0, box)``.
    vel
        ``(N^3, 3)`` float64 peculiar velocities in km/s.
    ids
        ``(N^3,)`` uint64 particle IDs 1..N^3 in lattice (C) order.
    delta_k
        The realised linear density field at z = 0, ``rfftn`` layout ``(N, N, N//2+1)``
        complex128 (DFT convention of the module docstring); lets tests divide out cosmic
        variance.
    box
        Box side in Mpc/h.
    """

    a: float
    redshift: float
    pos: np.ndarray
    vel: np.ndarray
    ids: np.ndarray
    delta_k: np.ndarray
    box: float


def grid_wavenumbers(*, n_grid: int, box: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wave-number components of an ``rfftn`` grid, shaped for broadcasting.

    Parameters
    ----------
    n_grid
        Grid points per side.
    box
        Box side in Mpc/h.

    Returns
    -------
    kx, ky, kz
        Arrays of shape ``(n, 1, 1)``, ``(1, n, 1)`` and ``(1, 1, n//2+1)`` in h/Mpc.
    """
    k_fund = 2.0 * np.pi / box
    k_full = np.fft.fftfreq(n_grid, d=1.0 / n_grid) * k_fund
    k_half = np.fft.rfftfreq(n_grid, d=1.0 / n_grid) * k_fund
    return k_full[:, None, None], k_full[None, :, None], k_half[None, None, :]


def _nyquist_mask(n_grid: int) -> np.ndarray:
    """Boolean ``rfftn``-shaped mask of the modes to keep: not k = 0, no Nyquist component.

    Why: a real field's Nyquist coefficients are real, so ``i k delta_k`` there cannot be
    represented; zeroing them keeps every derived field exactly real and isotropic.
    """
    idx_full = np.fft.fftfreq(n_grid, d=1.0 / n_grid).astype(np.int64)
    idx_half = np.fft.rfftfreq(n_grid, d=1.0 / n_grid).astype(np.int64)
    nyq = n_grid // 2
    keep_x = np.abs(idx_full) != nyq
    keep_z = idx_half != nyq
    mask = keep_x[:, None, None] & keep_x[None, :, None] & keep_z[None, None, :]
    mask[0, 0, 0] = False
    return mask


def linear_density_field(
    *, cosmo: pyccl.Cosmology, n_grid: int, box: float, seed: int, workers: int = 1
) -> np.ndarray:
    """Draw a Gaussian random linear density field at z = 0.

    Parameters
    ----------
    cosmo
        pyccl cosmology providing the linear P(k) (in h-units via :mod:`wlcnn.cosmology`).
    n_grid
        Grid points per side (even).
    box
        Box side in Mpc/h.
    seed
        Seed of ``numpy.random.default_rng``.
    workers
        Threads for ``scipy.fft`` (results do not depend on it).

    Returns
    -------
    numpy.ndarray
        ``(n, n, n//2+1)`` complex128 DFT coefficients ``delta_k`` with
        ``<|delta_k|^2> = P_lin(k, z=0) n^6 / V``; the k = 0 mode and the Nyquist planes are 0.
    """
    if n_grid < 2 or n_grid % 2:
        raise ValueError(f"n_grid must be even and >= 2, got {n_grid}")
    if box <= 0:
        raise ValueError(f"box must be positive, got {box}")
    rng = np.random.default_rng(seed)
    # White noise in real space (not in Fourier space) so that the field is Hermitian by
    # construction and the phases of a given seed do not depend on the FFT layout.
    white = rng.standard_normal((n_grid, n_grid, n_grid))
    white_k = scipy.fft.rfftn(white, workers=workers)
    kx, ky, kz = grid_wavenumbers(n_grid=n_grid, box=box)
    k = np.sqrt(kx**2 + ky**2 + kz**2)
    mask = _nyquist_mask(n_grid)
    amplitude = np.zeros(k.shape)
    volume = box**3
    # <|white_k|^2> = n^3, so this factor gives <|delta_k|^2> = P n^6 / V.
    amplitude[mask] = np.sqrt(np.asarray(linear_power(cosmo, k[mask], 0.0)) * n_grid**3 / volume)
    return white_k * amplitude


def lpt_displacements(
    delta_k: np.ndarray, *, box: float, order: int = 2, workers: int = 1
) -> tuple[np.ndarray, np.ndarray | None]:
    """First- and second-order LPT displacement fields on the grid of ``delta_k``.

    Parameters
    ----------
    delta_k
        ``(n, n, n//2+1)`` linear density field at z = 0 (see :func:`linear_density_field`).
    box
        Box side in Mpc/h.
    order
        1 (Zel'dovich) or 2 (2LPT).
    workers
        Threads for ``scipy.fft``.

    Returns
    -------
    psi1
        ``(n^3, 3)`` float64 Zel'dovich displacement at D1 = 1 in Mpc/h (C order of the grid).
    psi2
        ``(n^3, 3)`` float64 ``grad phi2`` in Mpc/h (multiply by D2), or None for ``order=1``.
    """
    if order not in (1, 2):
        raise ValueError(f"LPT order must be 1 or 2, got {order}")
    n = delta_k.shape[0]
    kx, ky, kz = grid_wavenumbers(n_grid=n, box=box)
    kvec = (kx, ky, kz)
    k2 = kx**2 + ky**2 + kz**2
    k2[0, 0, 0] = 1.0  # delta_k is 0 there; avoids 0/0
    mask = _nyquist_mask(n)
    # phi1_k = -delta_k / k^2 (lap phi1 = delta); psi1 = -grad phi1 -> i k delta_k / k^2.
    phi1_k = np.where(mask, -delta_k / k2, 0.0)
    shape = (n, n, n)
    psi1 = np.empty((n**3, 3))
    for axis in range(3):
        psi1[:, axis] = scipy.fft.irfftn(-1j * kvec[axis] * phi1_k, s=shape, workers=workers).ravel()
    if order == 1:
        return psi1, None

    # Second derivatives phi1_ij = IFFT(-k_i k_j phi1_k).
    def hessian(i: int, j: int) -> np.ndarray:
        return scipy.fft.irfftn(-kvec[i] * kvec[j] * phi1_k, s=shape, workers=workers)

    p_xx, p_yy, p_zz = hessian(0, 0), hessian(1, 1), hessian(2, 2)
    source = p_xx * p_yy + p_xx * p_zz + p_yy * p_zz
    del p_xx, p_yy, p_zz
    for i, j in ((0, 1), (0, 2), (1, 2)):
        source -= hessian(i, j) ** 2
    source_k = scipy.fft.rfftn(source, workers=workers)
    del source
    # lap phi2 = source -> phi2_k = -source_k / k^2; psi2 = grad phi2 = i k phi2_k.
    phi2_k = np.where(mask, -source_k / k2, 0.0)
    psi2 = np.empty((n**3, 3))
    for axis in range(3):
        psi2[:, axis] = scipy.fft.irfftn(1j * kvec[axis] * phi2_k, s=shape, workers=workers).ravel()
    return psi1, psi2


def second_order_growth(cosmo: pyccl.Cosmology, z: float) -> tuple[float, float]:
    """Second-order growth factor and rate, flat-LCDM fits of Bouchet et al. (1995).

    Parameters
    ----------
    cosmo
        pyccl cosmology.
    z
        Redshift.

    Returns
    -------
    d2
        ``-3/7 D1^2 Omega_m(z)^(-1/143)`` (negative; D1 normalised to 1 at z = 0).
    f2
        ``d ln D2 / d ln a = 2 Omega_m(z)^(6/11)``.
    """
    d1 = float(growth_factor(cosmo, z))
    om = float(omega_m_of_z(cosmo, z))
    return D2_PREFACTOR * d1**2 * om**D2_OMEGA_EXPONENT, 2.0 * om**F2_OMEGA_EXPONENT


def wrap_periodic(x: np.ndarray, *, box: float, dtype: type[np.floating] = np.float64) -> np.ndarray:
    """Wrap comoving positions into ``[0, box)`` and cast to ``dtype``.

    Why not just ``np.mod``: for a tiny negative ``x``, ``x % box`` rounds to ``box`` itself, and
    a cast to float32 can round ``box - eps`` up to ``box``; such values are mapped to 0, their
    periodic image, so the half-open interval holds exactly in the returned precision.

    Parameters
    ----------
    x
        Positions in Mpc/h (any shape).
    box
        Box side in Mpc/h.
    dtype
        Output floating type.

    Returns
    -------
    numpy.ndarray
        Wrapped positions of type ``dtype``, all in ``[0, box)``.
    """
    out = np.mod(x, box).astype(dtype, copy=False)
    out[out >= dtype(box)] = 0.0
    return out


def lattice_positions(*, n_grid: int, box: float) -> np.ndarray:
    """Unperturbed lattice ``q = (i, j, k) box / n`` in C order, ``(n^3, 3)`` float64 Mpc/h."""
    cell = box / n_grid
    i = np.arange(n_grid, dtype=np.float64) * cell
    qx, qy, qz = np.meshgrid(i, i, i, indexing="ij")
    return np.stack([qx.ravel(), qy.ravel(), qz.ravel()], axis=1)


def make_initial_conditions(
    *,
    cosmo: pyccl.Cosmology,
    n_particles_1d: int,
    box: float,
    z_init: float,
    seed: int,
    lpt_order: int = 2,
    workers: int = 1,
) -> InitialConditions:
    """Particles displaced from a lattice with 1LPT or 2LPT at ``z_init``.

    Parameters
    ----------
    cosmo
        pyccl cosmology.
    n_particles_1d
        Particles per side N (even); the displacement field lives on the same N^3 grid.
    box
        Box side in Mpc/h.
    z_init
        Starting redshift.
    seed
        Seed of the random phases (same seed -> bit-identical output).
    lpt_order
        1 (Zel'dovich) or 2 (2LPT, recommended: smaller transients).
    workers
        Threads for ``scipy.fft`` (results do not depend on it).

    Returns
    -------
    InitialConditions
        Positions (Mpc/h, in [0, box)), peculiar velocities (km/s), IDs and the field.
    """
    if z_init < 0:
        raise ValueError(f"z_init must be >= 0, got {z_init}")
    delta_k = linear_density_field(cosmo=cosmo, n_grid=n_particles_1d, box=box, seed=seed, workers=workers)
    psi1, psi2 = lpt_displacements(delta_k, box=box, order=lpt_order, workers=workers)
    a = 1.0 / (1.0 + z_init)
    d1 = float(growth_factor(cosmo, z_init))
    f1 = float(growth_rate(cosmo, z_init))
    # H(a) in km/s per Mpc/h; v = a H f D psi for each order.
    a_hubble = a * HUBBLE_KM_S_PER_MPC_H * float(hubble_e(cosmo, z_init))
    disp = d1 * psi1
    vel = (a_hubble * f1 * d1) * psi1
    if psi2 is not None:
        d2, f2 = second_order_growth(cosmo, z_init)
        disp += d2 * psi2
        vel += (a_hubble * f2 * d2) * psi2
    pos = wrap_periodic(lattice_positions(n_grid=n_particles_1d, box=box) + disp, box=box)
    ids = np.arange(1, n_particles_1d**3 + 1, dtype=np.uint64)
    return InitialConditions(
        a=a, redshift=float(z_init), pos=pos, vel=vel, ids=ids, delta_k=delta_k, box=float(box)
    )
