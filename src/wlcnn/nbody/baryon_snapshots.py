"""Baryonified simulations: every snapshot of an ingested simulation through the correction model.

:func:`baryonify_simulation` reads an ingestion manifest, baryonifies each canonical snapshot
(:func:`wlcnn.nbody.baryons.baryonify_canonical`) and writes a manifest of the same form, so the
map stage reads a baryonified simulation exactly as an ingested one. The manifest keeps the
original simulation's identity (cosmology, simulation), which seeds the map stage's random
rotations and shifts: the baryonified maps differ from the original ones by the baryons only
(the paper kept "the simulations seeds the same, wherever possible").

:func:`power_suppression` is the model's check: P(k) of the baryonified over the original
snapshot, against :func:`wlcnn.nbody.baryons.predicted_power_ratio` for the halo catalogue found.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from wlcnn.atomic import atomic_path, atomic_write_text, check_output_paths
from wlcnn.ingest import MANIFEST_SCHEMA
from wlcnn.nbody.baryons import BaryonParameters, baryonify_canonical, predicted_power_ratio
from wlcnn.nbody.fof import HaloCatalogue
from wlcnn.nbody.power import power_spectrum
from wlcnn.provenance import file_record, provenance_record, utc_now

__all__ = ["baryonify_simulation", "plot_power_suppression", "power_suppression"]

log = logging.getLogger(__name__)

#: Bins of the P(k) check: linear, from k_f / 2 to the mesh Nyquist frequency.
SUPPRESSION_K_BINS = 32


def baryonify_simulation(
    manifest_in: str | Path,
    outputs: Sequence[str | Path],
    manifest_out: str | Path,
    *,
    parameters: BaryonParameters,
    strength: str,
    linking_length: float,
    min_members: int,
    config_subset: Mapping[str, Any],
    checksum: str = "sha256",
) -> dict[str, Any]:
    """Baryonify every snapshot of an ingested simulation; returns (and writes) its manifest.

    Parameters
    ----------
    manifest_in
        The original simulation's ingestion ``manifest.json``.
    outputs
        One canonical output file per snapshot, manifest order.
    manifest_out
        The baryonified simulation's manifest.
    parameters, strength
        The model's parameters and the name of that parameter set (``A``, ``B``, ...).
    linking_length, min_members
        Friends-of-friends settings.
    config_subset
        What the outputs depend on (stored in their provenance).
    checksum
        Checksum algorithm of the file records.

    Raises
    ------
    ValueError
        ``outputs`` has a different length than the manifest's snapshots.
    wlcnn.io.errors.SnapshotError
        A snapshot lacks what the model needs (see :func:`baryonify_canonical`).
    """
    manifest_in = Path(manifest_in)
    source = json.loads(manifest_in.read_text())
    entries_in = source["snapshots"]
    if len(entries_in) != len(outputs):
        raise ValueError(
            f"{manifest_in}: snapshots: expected {len(outputs)} (one per output), found {len(entries_in)}"
        )
    paths_in = [
        Path(e["path"]) if Path(e["path"]).is_absolute() else manifest_in.parent / e["path"]
        for e in entries_in
    ]
    check_output_paths([*outputs, manifest_out], inputs=[manifest_in, *paths_in])
    started_all = utc_now()
    entries = []
    for entry, path_in, out in zip(entries_in, paths_in, outputs, strict=True):
        started, t0 = utc_now(), time.perf_counter()
        inputs = [file_record(path_in, checksum=checksum)]
        prov = provenance_record(
            step="baryonify_snapshot", inputs=inputs, config=config_subset, started=started
        )
        summary = baryonify_canonical(
            path_in,
            out,
            parameters=parameters,
            linking_length=linking_length,
            min_members=min_members,
            provenance=prov,
        )
        seconds = time.perf_counter() - t0
        log.info(
            "%s -> %s: z=%.3f, %d haloes, %d particles moved (max %.2f Mpc/h), %.2f s",
            path_in.name,
            Path(out).name,
            float(entry["redshift"]),
            summary["n_haloes"],
            summary["n_moved"],
            summary["max_displacement"],
            seconds,
        )
        entries.append(
            {
                **{k: entry[k] for k in ("index", "redshift", "a", "n_particles") if k in entry},
                "path": str(Path(out).resolve()),
                "source": inputs,
                "output": file_record(out, checksum=checksum),
                "baryons": {**summary, "seconds": round(seconds, 3)},
            }
        )
    identity = {**(source.get("identity") or {}), "baryons": strength}
    result = {
        "schema": MANIFEST_SCHEMA,
        "identity": identity,
        "cosmology": source["cosmology"],
        "box": source["box"],
        "snapshots": entries,
        "provenance": provenance_record(
            step="baryonify_snapshot",
            inputs=[file_record(manifest_in, checksum=checksum), *(e["output"] for e in entries)],
            config=config_subset,
            started=started_all,
        ),
    }
    atomic_write_text(manifest_out, json.dumps(result, indent=1))
    return result


def _read(path: str | Path) -> tuple[np.ndarray, dict[str, Any], HaloCatalogue | None]:
    with h5py.File(path, "r") as fh:
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in fh.attrs.items()}
        pos = fh["particles/pos"][()]
        catalogue = None
        if "haloes" in fh:
            catalogue = HaloCatalogue(
                centres=fh["haloes/centres"][()],
                masses=fh["haloes/masses"][()],
                n_members=fh["haloes/n_members"][()],
                box=float(attrs["box"]),
                linking_length=float("nan"),
            )
    return pos, attrs, catalogue


def power_suppression(
    original: str | Path,
    baryonified: str | Path,
    *,
    parameters: BaryonParameters,
    n_mesh: int,
    k_max: float,
) -> dict[str, Any]:
    """Measured and predicted P_DMB(k) / P_DMO(k) of one snapshot.

    Parameters
    ----------
    original, baryonified
        The canonical snapshot and its baryonified version (which holds the halo catalogue).
    parameters
        The model's parameters (for the prediction).
    n_mesh
        FFT mesh per side.
    k_max
        Largest k (h/Mpc) of the summary's agreement figure.

    Returns
    -------
    dict
        ``k``, ``measured``, ``predicted`` (lists), ``redshift``, ``n_haloes``,
        ``max_abs_difference`` and ``min_measured`` for ``k <= k_max``.
    """
    pos_dmo, attrs, _ = _read(original)
    pos_dmb, _, catalogue = _read(baryonified)
    if catalogue is None:
        raise ValueError(
            f"{baryonified}: /haloes: expected the halo catalogue of a baryonified file, found none"
        )
    box = float(attrs["box"])
    k, p_dmo, _ = power_spectrum(pos_dmo, box=box, n_mesh=n_mesh, n_bins=SUPPRESSION_K_BINS)
    _, p_dmb, _ = power_spectrum(pos_dmb, box=box, n_mesh=n_mesh, n_bins=SUPPRESSION_K_BINS)
    predicted = predicted_power_ratio(
        k,
        p_dmo,
        catalogue,
        n_particles=len(pos_dmo),
        particle_mass=float(attrs["particle_mass"]),
        redshift=float(attrs["redshift"]),
        omega_m=float(attrs["omega_m"]),
        omega_b=float(attrs["omega_b"]),
        parameters=parameters,
    )
    measured = p_dmb / p_dmo
    held = k <= k_max
    return {
        "redshift": float(attrs["redshift"]),
        "n_haloes": len(catalogue),
        "n_mesh": n_mesh,
        "k_max": k_max,
        "k": k.tolist(),
        "measured": measured.tolist(),
        "predicted": predicted.tolist(),
        "max_abs_difference": float(np.max(np.abs(measured[held] - predicted[held]))) if held.any() else None,
        "min_measured": float(measured[held].min()) if held.any() else None,
    }


def plot_power_suppression(out_path: str | Path, result: Mapping[str, Any], *, title: str) -> Path:
    """Measured and predicted P(k) ratio (the baryonic suppression) of one snapshot."""
    import matplotlib  # lazy: plotting is only needed by the validation rule

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: after the backend is chosen

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    k = np.asarray(result["k"])
    ax.plot(k, result["measured"], "o", ms=3, label="measured (particles, CIC)")
    ax.plot(k, result["predicted"], "-", label="model (one-halo swap of the profiles)")
    ax.axvline(result["k_max"], color="grey", lw=0.8, ls=":")
    ax.axhline(1.0, color="black", lw=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("k [h/Mpc]")
    ax.set_ylabel("P_DMB(k) / P_DMO(k)")
    ax.set_title(f"{title}: z = {result['redshift']:.2f}, {result['n_haloes']} FoF haloes", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out_path)
    with atomic_path(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip(".") or "png", dpi=120)
    plt.close(fig)
    return out
