"""Validation of the convergence maps against theory: the paper's Fig. 4.

The mean flat-sky power spectrum of noise-free, unmasked κ maps (and of κ + κ_IA for A_IA = 1)
of one cosmology is compared per tomographic bin with the Limber spectrum of Born maps built
from exactly the same shells (:func:`wlcnn.lensing.theory.born_limber_spectra`, pyccl halofit
P(k)), averaged over the same DFT modes with the square-pixel window. The particle shot noise
of the shells, known exactly from the shell volumes and the mean particle density, is
subtracted from the measured spectra: for small simulations it dominates at high ℓ.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.atomic import atomic_write_text
from wlcnn.cosmology import make_cosmology
from wlcnn.lensing.born import shell_weights_from_config
from wlcnn.lensing.theory import binned_theory, born_limber_spectra, flat_sky_power_spectrum

__all__ = ["load_kappa_maps", "power_spectrum_validation", "shell_shot_noise"]

#: Theory multipoles (log-spaced) from which the binned theory is averaged.
_THEORY_ELL = np.geomspace(10.0, 2.0e4, 200)
_IA_AMPLITUDE = 1.0  # Fig. 4 shows the maps with and without IA at A_IA = 1


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
    density = info["n_particles"] / info["box"] ** 3  # particles per (Mpc/h)^3
    per_sr = density * (info["r_far"] ** 3 - info["r_near"] ** 3) / 3.0
    coeff = (1.5 * info["cosmology"]["omega_m"] * info["born_weights"] + a_ia * info["ia_weights"]) * info[
        "delta_d"
    ]
    return (coeff**2 / per_sr[None, :]).sum(axis=1)


def _theory_for(
    info: Mapping[str, Any],
    *,
    lensing: Mapping[str, Any],
    base_dir: str | Path,
    edges: np.ndarray,
    a_ia: float,
) -> np.ndarray:
    """Binned Born-Limber theory (n_bins, n_ell) for the shells and cosmology of one map file."""
    c = info["cosmology"]
    cosmo = make_cosmology(
        omega_m=c["omega_m"],
        sigma8=c["sigma8"],
        omega_b=c.get("omega_b", 0.0493),
        h=c.get("h", 0.6736),
        n_s=c.get("n_s", 0.9649),
        radiation=False,
    )
    z_edges = np.stack([info["z_near"], info["z_far"]], axis=1)
    weights = shell_weights_from_config(cosmo=cosmo, z_edges=z_edges, lensing=lensing, base_dir=base_dir)
    spectra = born_limber_spectra(cosmo=cosmo, weights=weights, ell=_THEORY_ELL)
    return binned_theory(
        ell=_THEORY_ELL,
        cl=spectra.auto(a_ia),
        side_deg=float(info["patch_size_deg"]),
        n_pix=int(info["n_pix"]),
        ell_edges=edges,
        pixel_window=True,
    )


def power_spectrum_validation(
    map_files: Sequence[str | Path],
    *,
    lensing: Mapping[str, Any],
    base_dir: str | Path = ".",
    ell_range: Sequence[float],
    n_ell_bins: int,
    tolerance: float,
    plot_path: str | Path | None = None,
    json_path: str | Path | None = None,
) -> dict[str, Any]:
    """Compare the maps' spectra with theory per bin; optionally write the plot and a JSON.

    Every map file is compared with the theory of its own cosmology and shells; the ratios
    sim / theory are averaged over all maps of all files (independent simulations beat down the
    sample variance of each small box, which dominates at low ℓ). The plot shows the mean
    ratio times the theory of the first file's cosmology.

    Returns a JSON-ready dict with ``ell``, per-bin mean spectra, theory, ratios and their
    errors (with and without IA), the largest |ratio - 1| inside ``ell_range`` and ``passed``.
    """
    from wlcnn.lensing.theory import plot_power_spectrum_validation

    lo, hi = ell_range
    edges = np.geomspace(lo, hi, n_ell_bins + 1)
    ratios: dict[str, list[np.ndarray]] = {"no_ia": [], "ia": []}
    reference: dict[str, np.ndarray] = {}
    ell = None
    first_info: dict[str, Any] = {}
    for path in map_files:
        kappa, kappa_ia, info = load_kappa_maps([path])
        first_info = first_info or info
        for label, a_ia, maps in (
            ("no_ia", 0.0, kappa),
            ("ia", _IA_AMPLITUDE, kappa + _IA_AMPLITUDE * kappa_ia),
        ):
            measured = flat_sky_power_spectrum(maps, side_deg=float(info["patch_size_deg"]), ell_edges=edges)
            ell = np.asarray(measured.ell)
            cl = measured.cl - shell_shot_noise(info, a_ia=a_ia)[None, :, None]
            theory = _theory_for(info, lensing=lensing, base_dir=base_dir, edges=edges, a_ia=a_ia)
            ratios[label].append(cl / theory[None])
            reference.setdefault(label, theory)
    c = first_info["cosmology"]
    out: dict[str, Any] = {
        "ell_edges": edges.tolist(),
        "ell": ell.tolist(),
        "tolerance": tolerance,
        "reference_cosmology": c,
        "files": [str(p) for p in map_files],
    }
    for label in ("no_ia", "ia"):
        r = np.concatenate(ratios[label])  # (n_maps, n_bins, n_ell)
        mean, err = r.mean(axis=0), r.std(axis=0, ddof=1) / np.sqrt(r.shape[0])
        out["n_maps"] = int(r.shape[0])
        out[label] = {
            "ratio": mean.tolist(),
            "ratio_err": err.tolist(),
            "theory": reference[label].tolist(),
            "sim_mean": (mean * reference[label]).tolist(),
            "sim_err": (err * reference[label]).tolist(),
            "max_deviation": float(np.max(np.abs(mean - 1.0))),
        }
    # Fig. 4's check is the no-IA comparison; the IA maps must agree in sign and amplitude too.
    out["passed"] = bool(out["no_ia"]["max_deviation"] <= tolerance)
    out["passed_ia"] = bool(out["ia"]["max_deviation"] <= tolerance + 0.05)
    if plot_path is not None:
        plot_power_spectrum_validation(
            ell=ell,
            sim_mean=np.asarray(out["no_ia"]["sim_mean"]),
            sim_err=np.asarray(out["no_ia"]["sim_err"]),
            theory_ell=ell,
            theory=reference["no_ia"],
            sim_mean_ia=np.asarray(out["ia"]["sim_mean"]),
            sim_err_ia=np.asarray(out["ia"]["sim_err"]),
            theory_ia=reference["ia"],
            ell_range=(lo, hi),
            tolerance=tolerance,
            title=f"{out['n_maps']} maps of {len(map_files)} simulations (ratios rescaled to "
            f"Ωm={c['omega_m']:.3f}, σ8={c['sigma8']:.3f}): Born maps vs Limber/halofit",
            path=plot_path,
        )
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(out, indent=1))
    return out
