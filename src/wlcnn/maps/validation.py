"""Validation of the convergence maps against theory: the paper's Fig. 4.

The mean flat-sky power spectrum of noise-free, unmasked κ maps (and of κ + κ_IA for A_IA = 1,
and the κ × κ_IA and κ_IA × κ_IA spectra against the NLA GI and II terms) is compared per
tomographic bin with the Limber spectrum of Born maps built from exactly the same shells
(:func:`wlcnn.lensing.theory.born_limber_spectra`, pyccl halofit P(k)), with what makes the
maps differ from a continuous Limber spectrum: each shell's δ is a volume average (as particle
counts are), neighbouring shells are uncorrelated (independent random rotations and shifts),
and the DFT of a 5° cut-out sees the spectrum through the patch's square window and the pixel
window. The particle shot noise of the shells, known exactly from the shell volumes and the
mean particle density, is subtracted from the measured spectra.

Which multipoles a simulation can be held to is decided per tomographic bin from the theory
itself: an (ℓ, bin) entry is validated where at least ``resolved_fraction`` of its theory C_ℓ
comes from modes the simulation resolves, ``k_min <= k <= k_max``. By default k_max is the
particle Nyquist frequency π N^(1/3) / L and k_min twice the box's fundamental mode, 4π / L: a
periodic box has no power below 2π / L, and its few largest modes are too sparse to follow
Limber at the patch's lowest multipoles (the demo's 256 Mpc/h boxes: 10-30 % low at
ℓ ≈ 100 in the high-redshift bins). Small boxes with few particles thus validate a narrow
ℓ range, the paper's 256³ particles in 500 Mpc up to ℓ of a few thousand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.atomic import atomic_write_text
from wlcnn.cosmology import simulation_cosmology
from wlcnn.lensing.born import shell_weights_from_config
from wlcnn.lensing.theory import binned_theory, born_limber_spectra, flat_sky_power_spectrum

__all__ = [
    "largest_box_modes",
    "load_kappa_maps",
    "ERROR_METHOD",
    "particle_nyquist",
    "power_spectrum_validation",
    "shell_shot_noise",
]

#: Theory multipoles (log-spaced) from which the binned theory is averaged.
_THEORY_ELL = np.geomspace(10.0, 2.0e4, 200)
_IA_AMPLITUDE = 1.0  # Fig. 4 shows the maps with and without IA at A_IA = 1
#: How the errors of the mean ratios are estimated (written to the JSON).
ERROR_METHOD = (
    "box-to-box: standard deviation of the per-simulation mean ratios / sqrt(number of simulations); "
    "the maps of one simulation are projections of the same box and are not independent "
    "(null with a single simulation)"
)


def _finite_or_none(values: np.ndarray) -> list[Any]:
    """Nested list with NaN written as None (JSON has no NaN)."""
    return np.where(np.isfinite(values), values, None).tolist()  # type: ignore[call-overload]  # None is a valid choice


def _as_array(values: Any) -> np.ndarray:
    """Inverse of :func:`_finite_or_none`: None back to NaN."""
    return np.array(values, dtype=np.float64)


def load_kappa_maps(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """κ and κ_IA stacks of several map files of one cosmology, concatenated over realisations.

    Returns (kappa, kappa_ia, attrs of the first file, with its shells and weights groups).
    """
    kappa, kappa_ia = [], []
    info: dict[str, Any] = {}
    for i, path in enumerate(paths):
        with h5py.File(path, "r") as fh:
            kappa.append(fh["kappa"][...])
            kappa_ia.append(fh["kappa_ia"][...])
            if i == 0:
                info = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in fh.attrs.items()}
                info["cosmology"] = json.loads(info["cosmology"])
                for name in ("z_near", "z_far", "r_near", "r_far"):
                    info[name] = fh["shells"][name][...]
                info["born_weights"] = fh["weights/born"][...]
                info["ia_weights"] = fh["weights/ia"][...]
                info["delta_d"] = fh["weights/delta_d"][...]
    return np.concatenate(kappa), np.concatenate(kappa_ia), info


def shell_shot_noise(info: Mapping[str, Any], *, a_ia: float) -> np.ndarray:
    """Poisson noise C_ℓ (sr, flat) of κ + A_IA κ_IA per bin, from the shells of a map file."""
    return _pair_shot_noise(info, _coefficients(info, 1.0, a_ia), _coefficients(info, 1.0, a_ia))


def _coefficients(info: Mapping[str, Any], lensing: float, ia: float) -> np.ndarray:
    """Per-shell coefficients of δ in ``lensing`` κ + ``ia`` κ_IA, shape (n_bins, n_shells)."""
    g = 1.5 * info["cosmology"]["omega_m"] * info["born_weights"]
    return (lensing * g + ia * info["ia_weights"]) * info["delta_d"]


def _pair_shot_noise(info: Mapping[str, Any], coeff_a: np.ndarray, coeff_b: np.ndarray) -> np.ndarray:
    """Poisson noise of the cross-spectrum of two Born sums of the same shells, per bin."""
    density = info["n_particles"] / info["box"] ** 3  # particles per (Mpc/h)^3
    per_sr = density * (info["r_far"] ** 3 - info["r_near"] ** 3) / 3.0
    return (coeff_a * coeff_b / per_sr[None, :]).sum(axis=1)


def particle_nyquist(info: Mapping[str, Any]) -> float:
    """Particle Nyquist wavenumber π N^(1/3) / L (h/Mpc) of the simulation of a map file."""
    return float(np.pi * np.cbrt(float(info["n_particles"])) / float(info["box"]))


def largest_box_modes(info: Mapping[str, Any]) -> float:
    """Twice the fundamental wavenumber, 4π / L (h/Mpc), of the simulation of a map file."""
    return float(4.0 * np.pi / float(info["box"]))


def _theory_for(
    info: Mapping[str, Any],
    *,
    lensing: Mapping[str, Any],
    base_dir: str | Path,
    edges: np.ndarray,
    k_min: float,
    k_max: float,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Binned Born-Limber theory per comparison (n_bins, n_ell) for the shells of one map file.

    Keys: ``no_ia`` (GG), ``ia`` (GG + 2GI + II at A_IA = 1), ``gi`` (κ × κ_IA) and ``ii``.
    Also returns, per key, the fraction of each binned C_ℓ from ``k_min <= k <= k_max``.
    """
    c = info["cosmology"]
    cosmo = simulation_cosmology(c)
    z_edges = np.stack([info["z_near"], info["z_far"]], axis=1)
    weights = shell_weights_from_config(cosmo=cosmo, z_edges=z_edges, lensing=lensing, base_dir=base_dir)

    def binned(spectra: Any) -> dict[str, np.ndarray]:
        diag = np.arange(spectra.gg.shape[0])
        curves = {
            "no_ia": spectra.auto(0.0),
            "ia": spectra.auto(_IA_AMPLITUDE),
            "gi": spectra.gi[diag, diag],
            "ii": spectra.ii[diag, diag],
        }
        return {
            key: binned_theory(
                ell=_THEORY_ELL,
                cl=cl,
                side_deg=float(info["patch_size_deg"]),
                n_pix=int(info["n_pix"]),
                ell_edges=edges,
                pixel_window=True,
                patch_window=True,
            )
            for key, cl in curves.items()
        }

    full = binned(born_limber_spectra(cosmo=cosmo, weights=weights, ell=_THEORY_ELL, independent_shells=True))
    resolved = binned(
        born_limber_spectra(
            cosmo=cosmo, weights=weights, ell=_THEORY_ELL, independent_shells=True, k_min=k_min, k_max=k_max
        )
    )
    return full, {key: resolved[key] / full[key] for key in full}


#: The comparisons made per map file: (maps a, maps b) as (lensing, IA) amplitudes of the Born
#: sums κ + A κ_IA whose (cross-)spectrum is compared with the theory of the same key.
_COMPARISONS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "no_ia": ((1.0, 0.0), (1.0, 0.0)),
    "ia": ((1.0, _IA_AMPLITUDE), (1.0, _IA_AMPLITUDE)),
    "gi": ((1.0, 0.0), (0.0, 1.0)),
    "ii": ((0.0, 1.0), (0.0, 1.0)),
}


def power_spectrum_validation(
    map_files: Sequence[str | Path],
    *,
    lensing: Mapping[str, Any],
    base_dir: str | Path = ".",
    ell_range: Sequence[float],
    n_ell_bins: int,
    tolerance: float,
    tolerance_ia: float = 0.2,
    k_min: float | None = None,
    k_max: float | None = None,
    resolved_fraction: float = 0.9,
    plot_path: str | Path | None = None,
    json_path: str | Path | None = None,
) -> dict[str, Any]:
    """Compare the maps' spectra with theory per bin; optionally write the plot and a JSON.

    Every map file is compared with the theory of its own cosmology and shells; the ratios
    sim / theory are averaged per file (one simulation box), then over the files (independent
    simulations beat down the sample variance of each small box, which dominates at low ℓ).
    Errors are box-to-box: the spread of the per-file means / √(number of files)
    (:data:`ERROR_METHOD`); a file's projections of one box are not independent samples. The
    plot shows the mean ratio times the theory of the first file's cosmology.

    Four comparisons are made: ``no_ia`` (κ, the paper's Fig. 4), ``ia`` (κ + κ_IA at
    A_IA = 1), ``gi`` (the cross-spectrum κ × κ_IA against the NLA GI term: negative) and ``ii``
    (κ_IA against the NLA II term).

    Parameters
    ----------
    map_files
        Map files (:mod:`wlcnn.maps.mapfile`), each compared with its own theory.
    lensing
        The configuration's ``lensing`` block (n(z) files and constants).
    base_dir
        Directory the n(z) paths are relative to.
    ell_range, n_ell_bins
        Multipole range and number of logarithmic bins.
    tolerance
        Largest accepted |sim/theory - 1| of κ (``no_ia``) over the validated entries.
    tolerance_ia
        The same for the GI and II comparisons (the sign and amplitude of IA).
    k_min, k_max
        Wavenumbers (h/Mpc) the simulations resolve; None: twice the box's fundamental mode
        (the largest over all files) and the particle Nyquist frequency (the smallest).
    resolved_fraction
        An (ℓ, bin) entry is validated where at least this fraction of its theory comes from
        ``k_min <= k <= k_max``, in every file.
    plot_path, json_path
        Where to write the Fig. 4 plot and the JSON result (atomically); None to skip.

    Returns
    -------
    dict
        JSON-ready: ``ell``, per comparison the mean spectra, theory, ratios and their errors
        and the largest |ratio - 1| over validated entries, ``validated`` (n_bins, n_ell
        booleans), ``ell_max_validated`` per bin, ``passed`` (κ within ``tolerance`` and every
        bin validated somewhere) and ``passed_ia`` (GI and II within ``tolerance_ia``).

    Examples
    --------
    Gaussian maps drawn from the Born-Limber theory of a file's shells pass; see
    ``tests/maps/test_validation.py``.
    """
    from wlcnn.lensing.plots import plot_power_spectrum_validation  # lazy: matplotlib only when plotting

    lo, hi = ell_range
    edges = np.geomspace(lo, hi, n_ell_bins + 1)
    ratios: dict[str, list[np.ndarray]] = {key: [] for key in _COMPARISONS}
    reference: dict[str, np.ndarray] = {}
    validated: dict[str, np.ndarray] = {}
    ell = None
    first_info: dict[str, Any] = {}
    if k_min is None or k_max is None:
        attrs = []
        for path in map_files:
            with h5py.File(path, "r") as fh:
                attrs.append(dict(fh.attrs))
        k_min = max(largest_box_modes(a) for a in attrs) if k_min is None else k_min
        k_max = min(particle_nyquist(a) for a in attrs) if k_max is None else k_max
    for path in map_files:
        kappa, kappa_ia, info = load_kappa_maps([path])
        first_info = first_info or info
        theory, fraction = _theory_for(
            info, lensing=lensing, base_dir=base_dir, edges=edges, k_min=k_min, k_max=k_max
        )
        side = float(info["patch_size_deg"])
        for key, ((ga, ia), (gb, ib)) in _COMPARISONS.items():
            maps_a = ga * kappa + ia * kappa_ia
            maps_b = gb * kappa + ib * kappa_ia
            same = (ga, ia) == (gb, ib)
            measured = flat_sky_power_spectrum(
                maps_a, side_deg=side, ell_edges=edges, other=None if same else maps_b
            )
            ell = np.asarray(measured.ell)
            noise = _pair_shot_noise(info, _coefficients(info, ga, ia), _coefficients(info, gb, ib))
            ratios[key].append((measured.cl - noise[None, :, None]) / theory[key][None])
            reference.setdefault(key, theory[key])
            ok = fraction[key] >= resolved_fraction
            validated[key] = ok if key not in validated else validated[key] & ok
    assert ell is not None  # set by the first map file; an empty list is refused above
    c = first_info["cosmology"]
    mask = validated["no_ia"]
    out: dict[str, Any] = {
        "ell_edges": edges.tolist(),
        "ell": ell.tolist(),
        "tolerance": tolerance,
        "tolerance_ia": tolerance_ia,
        "k_min": k_min,
        "k_max": k_max,
        "resolved_fraction": resolved_fraction,
        "validated": mask.tolist(),
        "ell_min_validated": [float(edges[:-1][m].min()) if m.any() else None for m in mask],
        "ell_max_validated": [float(edges[1:][m].max()) if m.any() else None for m in mask],
        "reference_cosmology": c,
        "files": [str(p) for p in map_files],
    }
    out["error_method"] = ERROR_METHOD
    out["n_boxes"] = len(map_files)
    for key in _COMPARISONS:
        # The maps of one file are projections of the same box: not independent. The error of
        # the mean is the spread of the per-box means over the boxes (needs 2 boxes or more).
        per_box = np.stack([r.mean(axis=0) for r in ratios[key]])  # (n_boxes, n_bins, n_ell)
        mean = per_box.mean(axis=0)
        n_box = per_box.shape[0]
        err = per_box.std(axis=0, ddof=1) / np.sqrt(n_box) if n_box > 1 else np.full_like(mean, np.nan)
        ok = validated[key]
        out["n_maps"] = int(sum(len(r) for r in ratios[key]))
        deviation_sigma = np.abs(mean - 1.0) / err
        out[key] = {
            "ratio": mean.tolist(),
            "ratio_err": _finite_or_none(err),
            "box_scatter": _finite_or_none(per_box.std(axis=0, ddof=1) if n_box > 1 else err),
            "theory": reference[key].tolist(),
            "sim_mean": (mean * reference[key]).tolist(),
            "sim_err": _finite_or_none(err * reference[key]),
            "validated": ok.tolist(),
            "max_deviation": float(np.max(np.abs(mean - 1.0)[ok])) if ok.any() else None,
            "max_deviation_sigma": (
                float(np.max(deviation_sigma[ok])) if ok.any() and np.all(np.isfinite(err[ok])) else None
            ),
        }

    def deviation(key: str) -> float:
        value = out[key]["max_deviation"]
        return float("inf") if value is None else value

    every_bin = bool(mask.any(axis=1).all())
    out["passed"] = bool(every_bin and deviation("no_ia") <= tolerance)
    out["passed_ia"] = bool(max(deviation("gi"), deviation("ii")) <= tolerance_ia)
    if plot_path is not None:
        plot_power_spectrum_validation(
            ell=ell,
            sim_mean=np.asarray(out["no_ia"]["sim_mean"]),
            sim_err=_as_array(out["no_ia"]["sim_err"]),
            theory_ell=ell,
            theory=reference["no_ia"],
            sim_mean_ia=np.asarray(out["ia"]["sim_mean"]),
            sim_err_ia=_as_array(out["ia"]["sim_err"]),
            theory_ia=reference["ia"],
            ell_range=(lo, hi),
            tolerance=tolerance,
            validated=mask,
            title=f"{out['n_maps']} maps of {len(map_files)} simulations (ratios rescaled to "
            f"Ωm={c['omega_m']:.3f}, σ8={c['sigma8']:.3f}) vs Born-Limber/halofit; filled: ≥ "
            f"{resolved_fraction:.0%} of theory from {k_min:.3f} ≤ k ≤ {k_max:.2f} h/Mpc; "
            f"error bars: box-to-box scatter / √{len(map_files)} boxes",
            path=plot_path,
        )
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(out, indent=1))
    return out
