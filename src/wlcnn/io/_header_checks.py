"""Plausibility checks of the header facts every reader parses: one place, every format.

A header is read from files written by other codes, so each fact is checked before it is
used or copied into a canonical file: a NaN scale factor would otherwise be ingested as is,
a negative one fail deep inside as "math domain error", and a negative Omega0 be written out
unchanged. Every failure is a :class:`~wlcnn.io.errors.HeaderValueError` that names the file,
the field as the format names it (``Header/Time``, ``/Header/Omega0``, ``dOmega0``, ...), what
was expected and what was found.

Tolerances (all relative, all chosen to accept what real codes write and nothing absurd):

- :data:`SCALE_FACTOR_TOLERANCE`: a run that ends at a = 1 may write a = 1 plus round-off.
- :data:`REDSHIFT_TOLERANCE`: Gadget writes ``Redshift = 1 / Time - 1`` in double precision;
  the two agree to round-off, so 1e-6 of ``1 + z`` is generous and still catches any real edit.
- :data:`PARTICLE_MASS_TOLERANCE`: codes use different values of G and of the megaparsec
  (Gadget-2: G = 6.672e-8 cgs, 5e-5 off the PDG critical density used here), so the mass
  implied by ``Omega_m rho_crit L^3 / N`` matches to a few 1e-4 at best; 1 % accepts every
  convention and still catches a wrong Omega0, box, unit or particle count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from wlcnn.io.errors import HeaderValueError

__all__ = [
    "MAX_PARTICLES",
    "PARTICLE_MASS_TOLERANCE",
    "REDSHIFT_TOLERANCE",
    "RHO_CRIT0",
    "SCALE_FACTOR_TOLERANCE",
    "HeaderFields",
    "check_box",
    "check_density_parameter",
    "check_header",
    "check_mass_table",
    "check_particle_count",
    "check_particle_mass",
    "check_redshift",
    "check_scale_factor",
]

#: Critical density today in (M_sun/h) / (Mpc/h)^3, i.e. 3 H0^2 / (8 pi G) with H0 = 100 h km/s/Mpc:
#: 2.775 366 27e11 h^2 M_sun Mpc^-3 (Particle Data Group, "Astrophysical constants and
#: parameters", Review of Particle Physics 2022).
RHO_CRIT0 = 2.77536627e11

#: Relative slack above a = 1 (round-off of a run that ends exactly today).
SCALE_FACTOR_TOLERANCE = 1e-6
#: Largest accepted ``|z - (1/a - 1)| / (1 + z)``.
REDSHIFT_TOLERANCE = 1e-6
#: Largest accepted relative difference between the stored particle mass and
#: ``Omega_m rho_crit L^3 / N`` (see the module docstring for why 1 %).
PARTICLE_MASS_TOLERANCE = 1e-2
#: More particles than any simulation ever run (the largest have ~4e12) by a factor of ~70:
#: a count above this is a corrupted header, not a simulation.
MAX_PARTICLES = 2**48
#: Omega_m and h must lie in (0, DENSITY_PARAMETER_MAX].
DENSITY_PARAMETER_MAX = 1.0


@dataclass(frozen=True)
class HeaderFields:
    """How one format names its header fields (the names the error messages use).

    Attributes
    ----------
    a, redshift, omega_m, hubble, box, n_particles, particle_mass
        Field names, e.g. ``"Header/Time"`` or ``"offset 0 (header field a)"``.
    """

    a: str
    redshift: str
    omega_m: str
    hubble: str
    box: str
    n_particles: str
    particle_mass: str


def check_scale_factor(path: Path, field: str, a: float) -> None:
    """Require a finite ``0 < a <= 1 + SCALE_FACTOR_TOLERANCE``.

    Raises
    ------
    HeaderValueError
        Otherwise (NaN, infinite, zero, negative, or in the future).
    """
    if not (math.isfinite(a) and 0.0 < a <= 1.0 + SCALE_FACTOR_TOLERANCE):
        raise HeaderValueError(
            path,
            field,
            f"a scale factor 0 < a <= 1 (+ {SCALE_FACTOR_TOLERANCE:g})",
            repr(float(a)),
        )


def check_redshift(path: Path, field: str, redshift: float, *, a: float, a_field: str) -> None:
    """Require the stored redshift to equal ``1/a - 1`` within :data:`REDSHIFT_TOLERANCE` of ``1 + z``.

    ``a`` must already have passed :func:`check_scale_factor`.
    """
    implied = 1.0 / a - 1.0
    if not (math.isfinite(redshift) and abs(redshift - implied) <= REDSHIFT_TOLERANCE * (1.0 + implied)):
        raise HeaderValueError(
            path,
            field,
            f"1/a - 1 = {implied!r} from {a_field} = {a!r} (within {REDSHIFT_TOLERANCE:g} of 1 + z)",
            repr(float(redshift)),
        )


def check_density_parameter(path: Path, field: str, value: float | None) -> None:
    """Require Omega_m or h (when stored) to be finite and in ``(0, 1]``."""
    if value is None:
        return
    if not (math.isfinite(value) and 0.0 < value <= DENSITY_PARAMETER_MAX):
        raise HeaderValueError(path, field, f"a value in (0, {DENSITY_PARAMETER_MAX:g}]", repr(float(value)))


def check_box(path: Path, field: str, box: float | None, *, unit: str) -> None:
    """Require a finite, positive box side (``unit`` names the unit the value is in)."""
    if box is None:
        return
    if not (math.isfinite(box) and box > 0.0):
        raise HeaderValueError(path, field, f"a finite box side > 0 {unit}", f"{float(box)!r} {unit}")


def check_particle_count(path: Path, field: str, n: int) -> None:
    """Require ``0 <= n <= MAX_PARTICLES``."""
    if not 0 <= n <= MAX_PARTICLES:
        raise HeaderValueError(path, field, f"a particle count in [0, {MAX_PARTICLES}]", str(n))


def check_mass_table(path: Path, field: str, value: float) -> None:
    """Require a mass-table entry to be finite and >= 0 (0: per-particle masses follow)."""
    if not (math.isfinite(value) and value >= 0.0):
        raise HeaderValueError(
            path, field, "a finite mass >= 0 (0: masses in a per-particle block)", repr(float(value))
        )


def check_particle_mass(
    path: Path,
    field: str,
    particle_mass: float,
    *,
    omega_m: float,
    box: float,
    n_particles: int,
    fields: HeaderFields,
) -> None:
    """Require the mass per particle to match ``Omega_m rho_crit L^3 / N`` (equal-mass matter only).

    Parameters
    ----------
    path, field
        The file and the field the mass comes from.
    particle_mass
        M_sun/h.
    omega_m, box, n_particles
        Already checked header facts (box in Mpc/h).
    fields
        Field names of the format, quoted in the expected value.
    """
    if not (math.isfinite(particle_mass) and particle_mass > 0.0):
        raise HeaderValueError(
            path, field, "a finite particle mass > 0 M_sun/h", f"{particle_mass!r} M_sun/h"
        )
    if n_particles == 0:
        return
    implied = omega_m * RHO_CRIT0 * box**3 / n_particles
    if abs(particle_mass / implied - 1.0) > PARTICLE_MASS_TOLERANCE:
        raise HeaderValueError(
            path,
            field,
            f"{fields.omega_m} * rho_crit * {fields.box}^3 / {fields.n_particles} = "
            f"{omega_m:g} * {RHO_CRIT0:.6g} * {box:g}^3 / {n_particles} = {implied:.6g} M_sun/h "
            f"(within {PARTICLE_MASS_TOLERANCE:.0%})",
            f"{particle_mass:.6g} M_sun/h",
        )


def check_header(
    path: Path,
    fields: HeaderFields,
    *,
    a: float | None = None,
    redshift: float | None = None,
    omega_m: float | None = None,
    hubble: float | None = None,
    box: float | None = None,
    n_particles: int | None = None,
    particle_mass: float | None = None,
) -> None:
    """Check every header fact a format stores; None means "this format does not store it".

    Parameters
    ----------
    path
        The file the facts come from.
    fields
        How the format names each fact.
    a, redshift
        Scale factor and *stored* redshift (pass None for a redshift computed from ``a``).
    omega_m, hubble
        Omega_m and h.
    box
        Box side in Mpc/h.
    n_particles
        Number of (equal-mass) matter particles.
    particle_mass
        Mass per particle in M_sun/h; checked against the others when they are all known.

    Raises
    ------
    HeaderValueError
        At the first fact that fails, in the order of the parameters.
    """
    if a is not None:
        check_scale_factor(path, fields.a, a)
        if redshift is not None:
            check_redshift(path, fields.redshift, redshift, a=a, a_field=fields.a)
    check_density_parameter(path, fields.omega_m, omega_m)
    check_density_parameter(path, fields.hubble, hubble)
    check_box(path, fields.box, box, unit="Mpc/h")
    if n_particles is not None:
        check_particle_count(path, fields.n_particles, n_particles)
    if particle_mass is not None and omega_m is not None and box is not None and n_particles is not None:
        check_particle_mass(
            path,
            fields.particle_mass,
            particle_mass,
            omega_m=omega_m,
            box=box,
            n_particles=n_particles,
            fields=fields,
        )
