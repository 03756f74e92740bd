"""The two workflow steps of the emulator: train (and select) the generator, then validate it.

:func:`run_training` (rule ``train_emulator``) reads the training simulations' maps of every
cosmology not held out, fits the pixel transform, trains the GAN (:mod:`.training`) with model
selection on a development set (the first ``dev_fraction`` of each training cosmology's test
simulation maps) and writes the selected generator, its description (transform, settings,
selection; with provenance), the loss history and the loss figure.

:func:`run_validation` (rule ``validate_emulator``) compares, for every cosmology with a test
simulation, generated maps against the rest of its test maps (never seen in training or model
selection) with :func:`wlcnn.statistics.compare.compare_map_sets`; a held-out cosmology is the
interpolation test. Two controls show that the tests have power on the same maps: two
independent simulations of the held-out (else the first) cosmology (expected: consistent) and
that cosmology against its nearest other grid cosmology (expected: different). It adds the
memorisation tests, a latent interpolation, the generation speed against the simulation path's
cost per map, the figures, a Markdown report and a JSON of every number.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.atomic import atomic_path, atomic_write_text
from wlcnn.emulator import plots
from wlcnn.emulator.data import CosmologyMaps, channels_first, read_emulator_maps
from wlcnn.emulator.networks import normalise_condition
from wlcnn.emulator.pixel_transform import PixelTransform
from wlcnn.emulator.settings import EmulatorSettings
from wlcnn.emulator.validation import (
    NearestDistances,
    generate,
    generation_speed,
    latent_interpolation,
    nearest_training_distances,
    power_spectrum_chi2,
    simulation_cost_per_map,
)
from wlcnn.provenance import file_record, provenance_record, utc_now, write_rendered_sidecars
from wlcnn.seeding import seed_sequence_for
from wlcnn.statistics import plots as statistics_plots
from wlcnn.statistics.compare import CompareSettings, MapComparison, compare_map_sets

__all__ = ["TRAINING_FILES", "VALIDATION_FILES", "run_training", "run_validation"]

log = logging.getLogger("wlcnn.emulator")

#: Outputs of the training step, by key.
TRAINING_FILES = {
    "generator": "generator.keras",
    "emulator": "emulator.json",
    "history": "history.csv",
    "loss_plot": "training_loss.png",
}
#: Outputs of the validation step, by key.
VALIDATION_FILES = {
    "json": "validation.json",
    "report": "report.md",
    "samples": "samples.png",
    "pvalues_summary": "pvalues_summary.png",
    "memorisation": "memorisation.png",
    "interpolation": "latent_interpolation.png",
    "bands": "heldout_bands.png",
    "pvalues": "heldout_pvalues.png",
    "correlation": "heldout_correlation_difference.png",
}


def _dev_split(n_maps: int, fraction: float) -> int:
    """Maps of a test simulation used for model selection (at least one, at most all but two)."""
    return min(max(1, round(n_maps * fraction)), n_maps - 2)


def _condition(maps: CosmologyMaps, settings: EmulatorSettings, prior: Mapping[str, Sequence[float]]) -> Any:
    if not settings.conditional:
        return None
    return normalise_condition(maps.omega_m, maps.sigma8, prior=dict(prior))


def _bootstrap_seed(seed: int, name: str) -> int:
    """Base seed of one comparison's bootstraps, from the run's seed and the comparison's name."""
    return int(seed_sequence_for(seed, "emulator", "compare", name).generate_state(1)[0])


def _compare_settings(statistics: Mapping[str, Any], settings: EmulatorSettings) -> CompareSettings:
    return CompareSettings.from_config(
        {**{k: v for k, v in statistics.items() if k != "compare"}, **settings.compare}
    )


def _ell_edges(statistics: Mapping[str, Any], settings: EmulatorSettings) -> np.ndarray:
    return _compare_settings(statistics, settings).edges("power_spectrum")


def run_training(
    train_files: Mapping[str, Sequence[str]],
    dev_files: Mapping[str, Sequence[str]],
    *,
    outputs: Mapping[str, str],
    settings: EmulatorSettings,
    statistics: Mapping[str, Any],
    prior: Mapping[str, Sequence[float]],
    seed: int,
    checkpoint_dir: str,
    config_subset: Mapping[str, Any],
) -> None:
    """Train, select and write the generator (module doc); ``outputs`` per key of :data:`TRAINING_FILES`."""
    import keras  # lazy: the emulator package is used without TensorFlow

    from wlcnn.emulator.training import train_gan  # lazy: it needs TensorFlow's runtime settings first

    started = utc_now()
    trained = {
        c: read_emulator_maps(f, n_pix=settings.n_pix)
        for c, f in train_files.items()
        if c not in settings.holdout
    }
    dev = {c: read_emulator_maps(f, n_pix=settings.n_pix) for c, f in dev_files.items() if c in trained}
    transform = PixelTransform.fit(
        np.concatenate([m.maps for m in trained.values()]), softness=settings.transform_softness
    )
    maps = np.concatenate([transform.forward(m.maps) for m in trained.values()])
    conditions = (
        np.concatenate(
            [np.repeat(_condition(m, settings, prior)[None], len(m.maps), 0) for m in trained.values()]
        )
        if settings.conditional
        else None
    )
    side_deg = next(iter(trained.values())).side_deg
    ell_edges = _ell_edges(statistics, settings)
    dev_sets = {c: m.maps[: _dev_split(len(m.maps), settings.dev_fraction)] for c, m in dev.items()}

    def score(generator: Any) -> float:
        chi2 = [
            power_spectrum_chi2(
                generate(
                    generator,
                    transform,
                    n_maps=len(ref),
                    condition=_condition(dev[c], settings, prior),
                    seed=seed,
                    identity=("development", c),
                    batch=settings.speed_batch,
                ),
                ref,
                side_deg=side_deg,
                ell_edges=ell_edges,
            )
            for c, ref in dev_sets.items()
        ]
        return float(np.mean(chi2))

    result = train_gan(
        maps,
        conditions,
        settings=settings,
        seed=seed,
        out_dir=str(Path(outputs["history"]).parent),
        checkpoint_dir=checkpoint_dir,
        score=score if dev_sets else None,
        config_subset=config_subset,
    )
    with atomic_path(outputs["generator"], suffix=".keras", suffix_last=True) as tmp:
        keras.saving.save_model(result.generator, tmp)
    record = {
        "transform": transform.to_json(),
        "settings": asdict(settings),
        "conditioning": (
            "(Ωm, σ8) scaled to [-1, 1] over cosmology.prior: concatenated to the latent vector, and "
            "constant feature planes concatenated to the discriminator's input"
            if settings.conditional
            else "none (one cosmology, as in CosmoGAN)"
        ),
        "prior": {k: list(v) for k, v in prior.items()},
        "training_cosmologies": {
            c: {"omega_m": m.omega_m, "sigma8": m.sigma8, "n_maps": len(m.maps)} for c, m in trained.items()
        },
        "holdout": list(settings.holdout),
        "side_deg": side_deg,
        "selection": {
            "step": result.selected_step,
            "ps_chi2": None if math.isnan(result.selected_chi2) else result.selected_chi2,
            "method": "mean over development cosmologies and (bin, ℓ) of ((C̄_gen - C̄_dev) / σ_dev)²",
            "development_maps": {c: len(v) for c, v in dev_sets.items()},
        },
        "resumed_from_step": result.start_step,
        "strategy": result.distribution.describe(),
        "parameters": {"generator": int(result.generator.count_params())},
    }
    inputs = [p for files in (*train_files.values(), *dev_files.values()) for p in files]
    record["provenance"] = provenance_record(
        step="emulator.train",
        inputs=[file_record(p) for p in inputs],
        config=dict(config_subset),
        started=started,
    )
    plots.plot_training(outputs["loss_plot"], result.history, selected_step=result.selected_step)
    atomic_write_text(outputs["emulator"], json.dumps(record, indent=1) + "\n")
    write_rendered_sidecars(
        [outputs["loss_plot"], outputs["history"], outputs["generator"]],
        sources=[outputs["emulator"]],
        step="emulator.train.render",
    )


def _summary(name: str, comparison: MapComparison, *, expect: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": list(comparison.labels),
        "expect": expect,
        "different": comparison.different,
        "as_expected": comparison.different == (expect == "different"),
        "min_pvalue_corrected": comparison.min_pvalue_corrected,
        "n_tests": comparison.n_tests,
        "min_ks_pvalue": {k: float(np.nanmin(s.ks_pvalue)) for k, s in comparison.statistics.items()},
        "median_bootstrap_ks": {
            k: float(np.median(s.bootstrap_ks)) for k, s in comparison.statistics.items()
        },
        "median_bootstrap_ad": {
            k: float(np.median(s.bootstrap_ad)) for k, s in comparison.statistics.items()
        },
    }


def run_validation(
    generator_path: str,
    emulator_path: str,
    test_files: Mapping[str, Sequence[str]],
    train_files: Mapping[str, Sequence[str]],
    *,
    benchmark_files: Sequence[str],
    n_simulated_maps: int,
    outputs: Mapping[str, str],
    settings: EmulatorSettings,
    statistics: Mapping[str, Any],
    seed: int,
    config_subset: Mapping[str, Any],
) -> dict[str, Any]:
    """Validate the generator (module doc); ``outputs`` per key of :data:`VALIDATION_FILES`."""
    import keras  # lazy: the emulator package is used without TensorFlow

    started = utc_now()
    record_in = json.loads(Path(emulator_path).read_text())
    transform = PixelTransform.from_json(record_in["transform"])
    prior = record_in["prior"]
    generator = keras.saving.load_model(generator_path, compile=False)
    compare = _compare_settings(statistics, settings)
    ell_edges = compare.edges("power_spectrum")
    tests = {c: read_emulator_maps(f, n_pix=settings.n_pix) for c, f in test_files.items()}
    trains = {c: read_emulator_maps(f, n_pix=settings.n_pix) for c, f in train_files.items()}
    side_deg = next(iter(tests.values())).side_deg
    held_out = {c: m.maps[_dev_split(len(m.maps), settings.dev_fraction) :] for c, m in tests.items()}
    generated = {
        c: generate(
            generator,
            transform,
            n_maps=len(held_out[c]),
            condition=_condition(m, settings, prior),
            seed=seed,
            identity=("validation", c),
            batch=settings.speed_batch,
        )
        for c, m in tests.items()
    }
    comparisons: dict[str, MapComparison] = {}
    rows = []
    for c in tests:
        role = "held out (interpolation)" if c in settings.holdout else "trained"
        comparisons[c] = compare_map_sets(
            channels_first(held_out[c]),
            channels_first(generated[c]),
            side_deg=side_deg,
            settings=compare,
            seed=_bootstrap_seed(seed, f"GAN_{c}"),
            labels=(f"{c} simulated", f"{c} generated"),
        )
        rows.append({**_summary(f"GAN_{c}", comparisons[c], expect="same"), "cosmology": c, "role": role})
    # controls on the same maps: the tests must pass two simulations and fail another cosmology
    focus = next((c for c in settings.holdout if c in tests), next(iter(tests)))
    others = [c for c in tests if c != focus]
    norm = {c: normalise_condition(m.omega_m, m.sigma8, prior=prior) for c, m in tests.items()}
    nearest = min(others, key=lambda c: float(np.sum((norm[c] - norm[focus]) ** 2)))
    controls = {
        f"sims_{focus}": (held_out[focus], trains[focus].maps if focus in trains else None, "same"),
        f"{focus}_vs_{nearest}": (held_out[focus], held_out[nearest], "different"),
    }
    for k, (name, (a, b, expect)) in enumerate(controls.items()):
        if b is None:
            continue
        comparison = compare_map_sets(
            channels_first(a),
            channels_first(b),
            side_deg=side_deg,
            settings=compare,
            seed=seed + len(tests) + k,
        )
        rows.append({**_summary(name, comparison, expect=expect), "cosmology": focus, "role": "control"})
    # memorisation: generated and held-out maps of each training cosmology against its training maps
    trained_ids = [c for c in tests if c in trains and c not in settings.holdout]
    memo: dict[str, dict[str, NearestDistances]] = {"generated": {}, "held-out simulated": {}}
    for c in trained_ids:
        for label, maps in (("generated", generated[c]), ("held-out simulated", held_out[c])):
            d = nearest_training_distances(maps, trains[c].maps, side_deg=side_deg, ell_edges=ell_edges)
            memo[label][c] = d
    memo_flat = {
        label: {
            "pixel": np.concatenate([d.pixel for d in per.values()]),
            "power_spectrum": np.concatenate([d.power_spectrum for d in per.values()]),
        }
        for label, per in memo.items()
    }
    memorisation: dict[str, Any] = {
        label: {space: {"median": float(np.median(v)), "min": float(v.min())} for space, v in d.items()}
        for label, d in memo_flat.items()
    }
    memorisation["ratio_of_medians_generated_to_held_out"] = {
        space: float(
            np.median(memo_flat["generated"][space]) / np.median(memo_flat["held-out simulated"][space])
        )
        for space in ("pixel", "power_spectrum")
    }
    interp = latent_interpolation(
        generator,
        transform,
        steps=settings.interpolation_steps,
        condition=_condition(tests[focus], settings, prior),
        seed=seed,
    )
    speed: dict[str, Any] = generation_speed(
        generator,
        n_maps=settings.speed_maps,
        batch=settings.speed_batch,
        condition=_condition(tests[focus], settings, prior),
        seed=seed,
    )
    import tensorflow as tf  # lazy: as keras above

    speed["device"] = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    cost = simulation_cost_per_map(benchmark_files, n_maps=n_simulated_maps)
    speed["simulation_path"] = asdict(cost) if cost else None
    if cost:
        speed["speed_up_wall"] = speed["maps_per_second"] * cost.wall_seconds_per_map
        speed["speed_up_cpu"] = speed["maps_per_second"] * cost.cpu_seconds_per_map
    record: dict[str, Any] = {
        "summary": rows,
        "alpha": compare.alpha,
        "heldout_focus": focus,
        "control_other_cosmology": nearest,
        "memorisation": memorisation,
        "latent_interpolation": {
            "pixel_sigma_per_step": [np.std(m, axis=(0, 1)).tolist() for m in interp],
        },
        "speed": speed,
        "selection": record_in["selection"],
        "comparisons": {c: comp.to_json() for c, comp in comparisons.items()},
    }
    files = [p for fs in (*test_files.values(), *train_files.values()) for p in fs]
    record["provenance"] = provenance_record(
        step="emulator.validate",
        inputs=[file_record(p) for p in [generator_path, emulator_path, *files]],
        config=dict(config_subset),
        started=started,
    )
    plots.plot_samples(outputs["samples"], {c: (held_out[c], generated[c]) for c in tests})
    plots.plot_pvalue_summary(outputs["pvalues_summary"], rows, alpha=compare.alpha)
    plots.plot_memorisation(outputs["memorisation"], memo_flat)
    plots.plot_interpolation(outputs["interpolation"], interp)
    title = f"{focus}: simulated vs generated"
    statistics_plots.plot_statistic_bands(outputs["bands"], comparisons[focus], title=f"{title}, mean ± σ")
    statistics_plots.plot_pvalues(outputs["pvalues"], comparisons[focus])
    statistics_plots.plot_correlation_difference(outputs["correlation"], comparisons[focus], title=title)
    atomic_write_text(outputs["report"], _report(record))
    atomic_write_text(outputs["json"], json.dumps(record, indent=1) + "\n")
    write_rendered_sidecars(
        [outputs[k] for k in VALIDATION_FILES if k != "json"],
        sources=[outputs["json"]],
        step="emulator.validate.render",
    )
    return record


def _report(record: Mapping[str, Any]) -> str:
    """The report items: verdict table, memorisation, speed."""
    lines = [
        "# GAN emulator validation",
        "",
        (
            f"Smallest KS p-value over all bins × n bins (α = {record['alpha']}); "
            "median bootstrapped KS / AD p-value over all bins."
        ),
        "",
        "| comparison | role | expect | min p × n | verdict | median KS | median AD |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in record["summary"]:
        ks = np.median(list(r["median_bootstrap_ks"].values()))
        ad = np.median(list(r["median_bootstrap_ad"].values()))
        verdict = "different" if r["different"] else "consistent"
        lines.append(
            f"| {r['name']} | {r['role']} | {r['expect']} | {r['min_pvalue_corrected']:.3g} | {verdict} | "
            f"{ks:.3g} | {ad:.3g} |"
        )
    ratio = record["memorisation"]["ratio_of_medians_generated_to_held_out"]
    speed = record["speed"]
    lines += [
        "",
        (
            f"Memorisation: median nearest-training-map distance, generated / held-out simulated: pixel "
            f"{ratio['pixel']:.3g}, power spectrum {ratio['power_spectrum']:.3g} (≪ 1 would mean copies)."
        ),
        "",
        f"Speed: {speed['maps_per_second']:.4g} maps/s on {speed['device']} (batch {speed['batch']}).",
    ]
    if speed.get("simulation_path"):
        sim = speed["simulation_path"]
        lines.append(
            f"Simulation + projection path: {sim['wall_seconds_per_map']:.3g} s wall, "
            f"{sim['cpu_seconds_per_map']:.3g} CPU-s per map; generator ×{speed['speed_up_wall']:.3g} (wall)."
        )
    return "\n".join(lines) + "\n"
