"""Baryonic correction model (Schneider & Teyssier 2015): baryonified particle snapshots.

Every friends-of-friends halo of a dark-matter-only (DMO) snapshot is given a dark-matter +
baryon (DMB) profile, and the particles around it are moved radially so that the mass they
enclose follows the DMB profile instead of the DMO one: a particle at radius ``r`` with
``M_DMO(< r) = q`` moves to ``r'`` with ``M_DMB(< r') = q`` (Schneider & Teyssier 2015, hereafter
ST15, §2). Displacements of overlapping haloes add up.

Profiles (radii in units of ``r200``, the radius enclosing 200 times the critical density):

* DMO: NFW, truncated as ST15 eq. 2.4 at ``r_tr = 4 r200``, concentration of Duffy et al.
  (2008, full sample, c200c);
* central galaxy: ST15 eq. 2.13, ``rho ~ r^-2 exp(-(r / 2 R_h)^2)``, ``R_h = 0.015 r200``; its
  fraction ``f_cgal = A (M / M_1)^-slope`` (amplitude, pivot and slope in the configuration);
* bound gas: ST15 eq. 2.10, ``(ln(1 + x) / x)^Gamma_eff`` inside ``r200 / sqrt(5)``, NFW-shaped
  outside, fraction ``f_bgas = (Omega_b / Omega_m - f_cgal) / (1 + (M_c / M)^beta)`` (eq. 2.19);
* ejected gas: ST15 eq. 2.14, a Gaussian of radius ``r_ej = eta 0.75 r_esc``,
  ``r_esc = 0.5 sqrt(200) r200``, fraction ``Omega_b / Omega_m - f_cgal - f_bgas``;
* relaxed dark matter: fraction ``1 - Omega_b / Omega_m`` of the NFW, adiabatically contracted
  or expanded (ST15 eq. 2.17, ``xi - 1 = a ((M_i / M_f)^n - 1)``, ``a = 0.3``, ``n = 2``).

Every component is normalised to its fraction of the truncated NFW's total mass within the
displacement range (``max_radius_r200``), so both profiles enclose the same mass there and the
displacement vanishes at the edge; beyond it particles stay put. The two-halo (background)
term of ST15 is left out of both profiles: it is common to them and only shifts where the
mass enclosed is reached at large radius, where the displacement is already small.

The model's own prediction of the matter power spectrum change (:func:`predicted_power_ratio`)
is the one-halo term swap: each halo of mass ``M`` adds ``M^2 |u(k)|^2 / (rho_mean^2 V)`` to
P(k), with ``u`` the Fourier transform of its normalised profile, and baryonification replaces
``u_DMO`` by ``u_DMB``.

The model is deterministic: no random draw, the same snapshot gives the same bytes.
Units: comoving Mpc/h, M_sun/h.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from scipy.spatial import cKDTree

from wlcnn.atomic import atomic_path
from wlcnn.io.errors import SnapshotError
from wlcnn.nbody.fof import DEFAULT_LINKING_LENGTH, DEFAULT_MIN_MEMBERS, HaloCatalogue, friends_of_friends

__all__ = [
    "BaryonParameters",
    "BaryonProfiles",
    "baryon_profiles",
    "baryonify_canonical",
    "displace_particles",
    "predicted_power_ratio",
    "r200_comoving",
]

#: Critical density today, (M_sun/h) / (Mpc/h)^3.
RHO_CRIT0 = 2.77536627e11
#: Overdensity (w.r.t. critical) defining halo masses and radii.
DELTA_CRIT = 200.0
#: NFW truncation radius in r200 (ST15 eq. 2.4, epsilon = 4).
TRUNCATION_R200 = 4.0
#: Central-galaxy radius R_h in r200 (ST15 eq. 2.13).
CENTRAL_GALAXY_RADIUS_R200 = 0.015
#: Escape radius in r200: r_esc = 0.5 sqrt(Delta) r_Delta (ST15 §2.2.3).
ESCAPE_RADIUS_R200 = 0.5 * math.sqrt(DELTA_CRIT)
#: r_ej = eta x this x r_esc (ST15 eq. 2.16).
EJECTION_ESCAPE_FACTOR = 0.75
#: Adiabatic relaxation xi - 1 = a ((M_i/M_f)^n - 1) (ST15 eq. 2.17, Abadi et al. 2010).
RELAXATION_A = 0.3
RELAXATION_N = 2.0
#: Fixed-point iterations of the relaxation (converged to < 1e-6 by ~10).
RELAXATION_ITERATIONS = 30
#: Duffy et al. (2008) c200c(M, z), full sample: A (M / M_pivot)^B (1 + z)^C.
DUFFY_A, DUFFY_B, DUFFY_C, DUFFY_PIVOT = 5.71, -0.084, -0.47, 2.0e12
#: Radius grid of the profiles, in r200: smallest radius and points per decade.
PROFILE_R_MIN_R200 = 1.0e-4
PROFILE_POINTS_PER_DECADE = 60
#: Mass nodes per decade of the displacement table (interpolated linearly in log M between).
MASS_NODES_PER_DECADE = 8


@dataclass(frozen=True)
class BaryonParameters:
    """Parameters of one strength of the baryonic correction model.

    Attributes
    ----------
    log10_m_c
        log10 of M_c (M_sun/h): haloes of mass M_c keep half their bound gas (ST15 eq. 2.19).
    eta
        Ejection radius in units of 0.75 r_esc (ST15 eq. 2.16).
    beta
        Slope of the bound gas fraction in halo mass (ST15: 2).
    central_galaxy_amplitude, central_galaxy_pivot, central_galaxy_slope
        ``f_cgal = amplitude (M / pivot)^-slope``, pivot in M_sun/h.
    max_radius_r200
        Particles farther than this (in r200) from a halo are not moved by it.
    """

    log10_m_c: float
    eta: float
    beta: float
    central_galaxy_amplitude: float
    central_galaxy_pivot: float
    central_galaxy_slope: float
    max_radius_r200: float

    @classmethod
    def from_config(cls, block: Mapping[str, Any], *, source: str) -> BaryonParameters:
        """Parameters from a configuration mapping (one strength of ``baryons.strengths``).

        Raises
        ------
        ValueError
            A parameter is missing or not a finite number (the message names ``source``,
            the field, what was expected and what was found).
        """
        values = {}
        for f in fields(cls):
            if f.name not in block:
                raise ValueError(f"{source}: field {f.name!r}: expected a number, found nothing (missing)")
            value = block[f.name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{source}: field {f.name!r}: expected a finite number, found {value!r}")
            values[f.name] = float(value)
        for name in ("eta", "beta", "central_galaxy_pivot", "max_radius_r200"):
            if not values[name] > 0:
                raise ValueError(
                    f"{source}: field {name!r}: expected a positive number, found {values[name]}"
                )
        return cls(**values)


@dataclass(frozen=True)
class BaryonProfiles:
    """Enclosed-mass profiles of one halo mass, in units of M200 against radius in r200.

    Attributes
    ----------
    x
        Radius grid in r200 (increasing, up to ``max_radius_r200``).
    mass_dmo, mass_dmb
        Mass enclosed by the DMO and DMB profiles (equal at the last point).
    fractions
        Mass fractions of the DMB components: ``cgal``, ``bgas``, ``egas``, ``rdm``.
    concentration
        NFW c200c used.
    """

    x: np.ndarray
    mass_dmo: np.ndarray
    mass_dmb: np.ndarray
    fractions: dict[str, float]
    concentration: float

    def displacement(self) -> np.ndarray:
        """Radial displacement in r200 of a particle at each ``x`` (zero at the last point)."""
        # the DMB enclosed mass is made strictly increasing so that it can be inverted
        tiny = np.finfo(float).eps * self.mass_dmb[-1] * np.arange(self.x.size)
        mass_dmb = np.maximum.accumulate(self.mass_dmb) + tiny
        target = np.interp(self.mass_dmo, mass_dmb, self.x)
        disp = target - self.x
        disp[-1] = 0.0
        return disp

    def fourier(self, kr200: np.ndarray, *, which: str) -> np.ndarray:
        """Normalised Fourier profile ``u(k) = sum dM sinc(k r) / M_total`` at ``k r200``."""
        mass = self.mass_dmo if which == "dmo" else self.mass_dmb
        dm = np.diff(mass, prepend=0.0)
        mid = self.x  # each shell's mass placed at its outer radius: grid is fine enough
        arg = np.outer(np.atleast_1d(kr200), mid) / np.pi
        return (np.sinc(arg) @ dm) / mass[-1]


def r200_comoving(mass: np.ndarray | float, *, redshift: float, omega_m: float) -> np.ndarray:
    """Comoving r200c in Mpc/h of haloes of mass M200c (M_sun/h), flat LCDM."""
    e2 = omega_m * (1.0 + redshift) ** 3 + (1.0 - omega_m)
    r_phys = (3.0 * np.asarray(mass, dtype=float) / (4.0 * np.pi * DELTA_CRIT * RHO_CRIT0 * e2)) ** (
        1.0 / 3.0
    )
    return r_phys * (1.0 + redshift)


def _cumulative_mass(x: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Mass enclosed by density ``rho`` on grid ``x`` (trapezoid in ln x, 4 pi x^3 rho)."""
    integrand = 4.0 * np.pi * x**3 * rho
    steps = 0.5 * (integrand[1:] + integrand[:-1]) * np.diff(np.log(x))
    # the inner point holds the mass inside x[0] of a rho ~ x^-1 cusp (2 pi rho x^3)
    return np.concatenate([[0.5 * integrand[0]], 0.5 * integrand[0] + np.cumsum(steps)])


def baryon_profiles(
    mass: float, *, redshift: float, omega_m: float, omega_b: float, parameters: BaryonParameters
) -> BaryonProfiles:
    """DMO and DMB enclosed-mass profiles of a halo of mass M200c ``mass`` (M_sun/h).

    Parameters
    ----------
    mass
        Halo mass M200c, M_sun/h.
    redshift
        Redshift of the snapshot (sets the concentration).
    omega_m, omega_b
        Matter and baryon density parameters (the cosmic baryon fraction).
    parameters
        The model's parameters.
    """
    p = parameters
    n_decades = math.log10(p.max_radius_r200 / PROFILE_R_MIN_R200)
    x = np.logspace(
        math.log10(PROFILE_R_MIN_R200),
        math.log10(p.max_radius_r200),
        int(n_decades * PROFILE_POINTS_PER_DECADE) + 1,
    )
    conc = DUFFY_A * (mass / DUFFY_PIVOT) ** DUFFY_B * (1.0 + redshift) ** DUFFY_C
    truncation = 1.0 / (1.0 + (x / TRUNCATION_R200) ** 2) ** 2
    y = conc * x
    nfw = 1.0 / (y * (1.0 + y) ** 2) * truncation
    mass_nfw = _cumulative_mass(x, nfw)
    norm = np.interp(1.0, x, mass_nfw)  # M(< r200) = M200
    mass_nfw = mass_nfw / norm
    total = mass_nfw[-1]
    f_b = omega_b / omega_m
    f_cgal = min(p.central_galaxy_amplitude * (mass / p.central_galaxy_pivot) ** -p.central_galaxy_slope, f_b)
    f_bgas = (f_b - f_cgal) / (1.0 + (10.0**p.log10_m_c / mass) ** p.beta)
    f_egas = f_b - f_cgal - f_bgas
    f_rdm = 1.0 - f_b

    def normalised(rho: np.ndarray, fraction: float) -> np.ndarray:
        enclosed = _cumulative_mass(x, rho)
        return fraction * total * enclosed / enclosed[-1]

    # bound gas: hydrostatic inside r200/sqrt(5), NFW-shaped outside (ST15 eq. 2.10-2.12)
    y_b = conc / math.sqrt(5.0)
    gamma = (1.0 + 3.0 * y_b) * math.log1p(y_b) / ((1.0 + y_b) * math.log1p(y_b) - y_b)
    inner = (np.log1p(y) / y) ** gamma
    outer_scale = (math.log1p(y_b) / y_b) ** gamma * y_b * (1.0 + y_b) ** 2
    bgas = np.where(y < y_b, inner, outer_scale / (y * (1.0 + y) ** 2)) * truncation
    x_ej = p.eta * EJECTION_ESCAPE_FACTOR * ESCAPE_RADIUS_R200
    egas = np.exp(-0.5 * (x / x_ej) ** 2)
    r_h = CENTRAL_GALAXY_RADIUS_R200
    cgal = np.exp(-((x / (2.0 * r_h)) ** 2)) / x**2
    mass_baryons = normalised(bgas, f_bgas) + normalised(egas, f_egas) + normalised(cgal, f_cgal)
    # relaxed dark matter: the DM shell that started at x_i ends at xi x_i (ST15 eq. 2.17)
    xi = np.ones_like(x)
    for _ in range(RELAXATION_ITERATIONS):
        final = f_rdm * mass_nfw + np.interp(xi * x, x, mass_baryons)
        xi = 1.0 + RELAXATION_A * ((mass_nfw / final) ** RELAXATION_N - 1.0)
    x_final = np.maximum.accumulate(xi * x)
    mass_rdm = f_rdm * np.interp(x, x_final, mass_nfw, right=total)
    return BaryonProfiles(
        x=x,
        mass_dmo=mass_nfw,
        mass_dmb=mass_rdm + mass_baryons,
        fractions={"cgal": f_cgal, "bgas": f_bgas, "egas": f_egas, "rdm": f_rdm},
        concentration=float(conc),
    )


def _mass_nodes(masses: np.ndarray) -> np.ndarray:
    lo, hi = math.log10(masses.min()), math.log10(masses.max())
    n = max(2, math.ceil((hi - lo) * MASS_NODES_PER_DECADE) + 1)
    return np.logspace(lo, hi, n) if hi > lo else np.array([masses.min(), masses.min()])


def displace_particles(
    pos: np.ndarray,
    catalogue: HaloCatalogue,
    *,
    redshift: float,
    omega_m: float,
    omega_b: float,
    parameters: BaryonParameters,
) -> np.ndarray:
    """Baryonified positions: every particle moved by the summed displacement of the haloes.

    Parameters
    ----------
    pos
        ``(N, 3)`` comoving positions in Mpc/h.
    catalogue
        The snapshot's haloes (masses taken as M200c).
    redshift, omega_m, omega_b
        Of the snapshot.
    parameters
        The model's parameters.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` float64 positions wrapped into ``[0, box)``; particles farther than
        ``max_radius_r200`` from every halo keep their position exactly.
    """
    box = catalogue.box
    pos = np.mod(np.asarray(pos, dtype=np.float64), box)
    pos[pos >= box] = 0.0
    if len(catalogue) == 0:
        return pos
    nodes = _mass_nodes(catalogue.masses)
    table = [
        baryon_profiles(m, redshift=redshift, omega_m=omega_m, omega_b=omega_b, parameters=parameters)
        for m in nodes
    ]
    x = table[0].x
    disp_table = np.stack([t.displacement() for t in table])
    r200 = r200_comoving(catalogue.masses, redshift=redshift, omega_m=omega_m)
    log_nodes = np.log(nodes)
    tree = cKDTree(pos, boxsize=box)
    offsets = np.zeros_like(pos)
    for centre, m, radius in zip(catalogue.centres, catalogue.masses, r200, strict=True):
        i = int(np.clip(np.searchsorted(log_nodes, math.log(m)) - 1, 0, nodes.size - 2))
        span = log_nodes[i + 1] - log_nodes[i]
        w = (math.log(m) - log_nodes[i]) / span if span > 0 else 0.0
        row = (1.0 - w) * disp_table[i] + w * disp_table[i + 1]
        idx = np.asarray(tree.query_ball_point(centre, min(parameters.max_radius_r200 * radius, box / 2)))
        if idx.size == 0:
            continue
        sep = pos[idx] - centre
        sep -= box * np.round(sep / box)
        r = np.linalg.norm(sep, axis=1)
        inside = r > 0.0  # a particle exactly at the centre has no direction to move in
        shift = np.interp(r[inside] / radius, x, row, left=0.0, right=0.0) * radius
        offsets[idx[inside]] += sep[inside] * (shift / r[inside])[:, None]
    out = np.mod(pos + offsets, box)
    out[out >= box] = 0.0
    return out


def predicted_power_ratio(
    k: np.ndarray,
    power_dmo: np.ndarray,
    catalogue: HaloCatalogue,
    *,
    n_particles: int,
    particle_mass: float,
    redshift: float,
    omega_m: float,
    omega_b: float,
    parameters: BaryonParameters,
) -> np.ndarray:
    """The model's P_DMB(k) / P_DMO(k): the measured DMO spectrum with the one-halo term swapped.

    ``P_DMB = P_DMO + sum_h M_h^2 (|u_DMB|^2 - |u_DMO|^2) / (rho_mean^2 V)`` with ``M_h`` the
    profile's total mass within the displacement range.

    Parameters
    ----------
    k, power_dmo
        Wavenumbers (h/Mpc) and the measured DMO power spectrum ((Mpc/h)^3, shot noise
        subtracted).
    catalogue
        The haloes the displacement was applied around.
    n_particles, particle_mass
        Of the snapshot (the mean density).
    redshift, omega_m, omega_b, parameters
        As for :func:`displace_particles`.
    """
    k = np.asarray(k, dtype=float)
    volume = catalogue.box**3
    rho_mean = n_particles * particle_mass / volume
    delta_power = np.zeros_like(k)
    if len(catalogue):
        nodes = _mass_nodes(catalogue.masses)
        log_nodes = np.log(nodes)
        r200 = r200_comoving(catalogue.masses, redshift=redshift, omega_m=omega_m)
        profiles = [
            baryon_profiles(m, redshift=redshift, omega_m=omega_m, omega_b=omega_b, parameters=parameters)
            for m in nodes
        ]
        for m, radius in zip(catalogue.masses, r200, strict=True):
            i = int(np.clip(np.searchsorted(log_nodes, math.log(m)) - 1, 0, nodes.size - 2))
            span = log_nodes[i + 1] - log_nodes[i]
            w = (math.log(m) - log_nodes[i]) / span if span > 0 else 0.0
            swaps = []
            for prof in (profiles[i], profiles[i + 1]):
                u_dmo = prof.fourier(k * radius, which="dmo")
                u_dmb = prof.fourier(k * radius, which="dmb")
                swaps.append((m * prof.mass_dmo[-1]) ** 2 * (u_dmb**2 - u_dmo**2))
            delta_power += (1.0 - w) * swaps[0] + w * swaps[1]
    return 1.0 + delta_power / (rho_mean**2 * volume * np.asarray(power_dmo, dtype=float))


def _attr(path: Path, attrs: Mapping[str, Any], name: str) -> float:
    if name not in attrs:
        raise SnapshotError(
            path, f"attribute {name!r}", "the attribute (baryonification needs it)", "nothing"
        )
    return float(attrs[name])


def baryonify_canonical(
    in_path: str | Path,
    out_path: str | Path,
    *,
    parameters: BaryonParameters,
    linking_length: float = DEFAULT_LINKING_LENGTH,
    min_members: int = DEFAULT_MIN_MEMBERS,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Baryonify one canonical snapshot into another canonical file (atomically).

    The output has the input's attributes (with ``provenance`` replaced and a
    ``baryon_correction`` JSON attribute added), its particle IDs, the displaced positions and
    the halo catalogue (``/haloes/centres``, ``/haloes/masses``, ``/haloes/n_members``).

    Returns
    -------
    dict
        ``n_haloes``, ``max_displacement`` (Mpc/h), ``n_moved`` (particles moved).

    Raises
    ------
    wlcnn.io.errors.SnapshotError
        The input lacks an attribute the model needs (``omega_b``, ``particle_mass``, ...) or
        has no particles.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    with h5py.File(in_path, "r") as fh:
        attrs = dict(fh.attrs)
        if "particles/pos" not in fh:
            raise SnapshotError(in_path, "/particles/pos", "particle positions", "no particle dataset")
        pos_in = fh["particles/pos"][()]
        ids = fh["particles/ids"][()] if "particles/ids" in fh else None
    box, mass = _attr(in_path, attrs, "box"), _attr(in_path, attrs, "particle_mass")
    redshift = _attr(in_path, attrs, "redshift")
    omega_m, omega_b = _attr(in_path, attrs, "omega_m"), _attr(in_path, attrs, "omega_b")
    catalogue, _ = friends_of_friends(
        pos_in, box=box, particle_mass=mass, linking_length=linking_length, min_members=min_members
    )
    pos = displace_particles(
        pos_in, catalogue, redshift=redshift, omega_m=omega_m, omega_b=omega_b, parameters=parameters
    )
    moved = np.mod(pos - pos_in, box)
    moved = np.minimum(moved, box - moved)
    shift = np.linalg.norm(moved, axis=1)
    summary = {
        "n_haloes": len(catalogue),
        "max_displacement": float(shift.max()) if shift.size else 0.0,
        "n_moved": int(np.count_nonzero(shift > 0.0)),
    }
    correction = {
        "model": "Schneider & Teyssier 2015 (wlcnn.nbody.baryons)",
        "parameters": asdict(parameters),
        "fof": {"linking_length": linking_length, "min_members": min_members},
        **summary,
    }
    attrs["provenance"] = json.dumps(dict(provenance or {}), default=str)
    attrs["baryon_correction"] = json.dumps(correction)
    with atomic_path(out_path, suffix=".h5") as tmp, h5py.File(tmp, "w") as out:
        out.attrs.update(attrs)
        grp = out.create_group("particles")
        pos32 = pos.astype(np.float32)
        pos32[pos32 >= box] = 0.0  # rounding to float32 can reach the box side
        grp.create_dataset("pos", data=pos32)
        if ids is not None:
            grp.create_dataset("ids", data=ids)
        haloes = out.create_group("haloes")
        haloes.create_dataset("centres", data=catalogue.centres)
        haloes.create_dataset("masses", data=catalogue.masses)
        haloes.create_dataset("n_members", data=catalogue.n_members)
    return summary
