"""One analysis end to end: summaries + data vector → chain, grid check, Table II, plots.

:func:`constrain` builds the likelihood (:mod:`.likelihood`), evaluates the posterior on a
dense grid, starts emcee walkers from it, samples (:mod:`.sampling`), compares the two, and
writes the results of one analysis (a network, a combination, the power spectrum, a mock) into
one directory (:data:`RESULT_FILES`). With blinding on, everything written is shifted by the
secret offset (:mod:`.blinding`); :func:`unblind` is the explicit, recorded step that writes the
true results beside them (``unblinded/``). :func:`compare` gathers several analyses into one
table and one S8 whisker plot (the paper's Figs. 7 and 9).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from wlcnn.inference.blinding import DEFAULT_SCALES, load_or_create_secret, record_unblinding
from wlcnn.inference.constraints import CONTOUR_LEVELS, constraints_row, hpd_contains, s8, write_table
from wlcnn.inference.likelihood import PARAMETER_NAMES, SummaryLikelihood
from wlcnn.inference.map_statistics import (
    DEFAULT_MF_FUNCTIONALS,
    DEFAULT_MF_N_THRESHOLDS,
    DEFAULT_MF_NU_RANGE,
    DEFAULT_PEAKS_N_BINS,
    DEFAULT_PEAKS_NU_RANGE,
)
from wlcnn.inference.power_spectrum import fixed_covariance
from wlcnn.inference.sampling import (
    Chain,
    GridPosterior,
    compare_with_grid,
    evaluate_grid,
    initial_walkers_from_grid,
    read_chain,
    read_grid,
    run_emcee,
    walker_rng,
    write_arviz_netcdf,
    write_chain,
    write_getdist_chain,
    write_grid,
)
from wlcnn.inference.summaries import DataVector, Summaries, SummariesFileError
from wlcnn.inference.survey_sets import TENSORFLOW_FORWARD_MODEL
from wlcnn.provenance import file_record, provenance_record, utc_now, write_rendered_sidecars

__all__ = [
    "DEFAULTS",
    "RESULT_FILES",
    "InferenceSettings",
    "build_likelihood",
    "compare",
    "constrain",
    "sample_posterior",
    "unblind",
]

#: File names of one analysis' results.
RESULT_FILES = {
    "chain": "chain.h5",
    "getdist_root": "chain",
    "netcdf": "chain.nc",
    "grid": "grid.h5",
    "table_json": "constraints.json",
    "table_md": "constraints.md",
    "contours": "omega_m_sigma8.png",
    "s8_a_ia": "s8_a_ia.png",
    "whisker": "s8_whisker.png",
    "traces": "chain_traces.png",
}
#: Subdirectory of the unblinded results, and the record of unblinding steps.
UNBLINDED_DIR = "unblinded"
UNBLINDING_RECORD = "unblinding.json"
#: Values of the ``inference`` keys the configuration leaves out (SPEC §7, §8).
DEFAULTS: dict[str, Any] = {
    "n_surveys": 200,
    "n_a_ia": 25,
    "a_ia_range": [-6.0, 6.0],
    "n_patch_sets": 100,
    "batch_size": 64,
    # The test surveys' forward model: the batched TensorFlow one (fast path) or the NumPy reference.
    "survey_forward_model": TENSORFLOW_FORWARD_MODEL,
    "ps_n_ell_bins": 7,
    "ps_ell_range": [75.0, 3500.0],
    "ps_covariance_a_ia": 0.0,
    # Map statistics (:mod:`.map_statistics`, which reads these keys itself).
    "peaks_nu_range": list(DEFAULT_PEAKS_NU_RANGE),
    "peaks_n_bins": DEFAULT_PEAKS_N_BINS,
    "mf_nu_range": list(DEFAULT_MF_NU_RANGE),
    "mf_n_thresholds": DEFAULT_MF_N_THRESHOLDS,
    "mf_functionals": list(DEFAULT_MF_FUNCTIONALS),
    "combinations": [],
    "sampler": {"n_walkers": 64, "n_steps": 5000, "n_burn": 1000, "thin": 1, "max_steps": 50000},
    "grid_shape": [64, 64, 25],
    "blind": False,
    "blinding_scales": dict(DEFAULT_SCALES),
    "published_s8": [],
}
#: Default place of the blinding secret, relative to ``run.output_dir`` (apart from the results).
_SECRET_DEFAULT = "blinding/secret.json"  # noqa: S105 - a file name, not a secret


@dataclass(frozen=True)
class InferenceSettings:
    """What the inference stage takes from the configuration (``inference`` block and a few others).

    Attributes
    ----------
    base_seed
        ``run.seed``.
    prior_box
        ((Ωm low, Ωm high), (σ8 low, σ8 high)) of ``cosmology.prior``: triangulation and
        distance units.
    a_ia_range
        Prior range of A_IA (and the range of the summaries' A_IA grid).
    n_a_ia
        A_IA values of the summaries, linearly spaced over ``a_ia_range``.
    n_surveys
        Simulated surveys per (cosmology, A_IA).
    n_patch_sets
        Sets of patches the test maps are split into.
    batch_size
        Patches per ``predict`` call.
    n_walkers, n_steps, n_burn, thin
        emcee settings (``n_steps``: the minimum length).
    max_steps
        The chain is extended until converged or this long (``inference.sampler.max_steps``;
        None: ``n_steps``, no extension).
    grid_shape
        Points per axis (Ωm, σ8, A_IA) of the dense-grid check.
    blind
        Blind the outputs.
    blinding_scales
        Half-widths of the secret offsets.
    secret_path
        The blinding secret file.
    published_s8
        ``{label, s8, plus, minus}`` of published results for the whisker plot.
    ps_ell_range, ps_n_ell_bins
        Multipole binning of the power-spectrum baseline.
    ps_covariance_a_ia
        A_IA of the baseline's fixed covariance.
    combinations
        ``{name, members}``: labels concatenated into one data vector.
    """

    base_seed: int
    prior_box: tuple[tuple[float, float], tuple[float, float]]
    a_ia_range: tuple[float, float]
    n_a_ia: int
    n_surveys: int
    n_patch_sets: int
    batch_size: int
    n_walkers: int
    n_steps: int
    n_burn: int
    thin: int
    grid_shape: tuple[int, int, int]
    blind: bool
    blinding_scales: Mapping[str, float]
    secret_path: Path
    published_s8: tuple[Mapping[str, Any], ...] = ()
    ps_ell_range: tuple[float, float] = (75.0, 3500.0)
    ps_n_ell_bins: int = 7
    ps_covariance_a_ia: float = 0.0
    combinations: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    max_steps: int | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], *, base_dir: str | Path = ".") -> InferenceSettings:
        """Settings from a validated configuration (missing ``inference`` keys: :data:`DEFAULTS`)."""
        block = {**DEFAULTS, **cfg.get("inference", {})}
        sampler = {**DEFAULTS["sampler"], **block["sampler"]}
        prior = cfg["cosmology"]["prior"]
        out = Path(base_dir) / cfg["run"]["output_dir"]
        secret = (
            Path(base_dir) / block["blinding_secret"] if "blinding_secret" in block else out / _SECRET_DEFAULT
        )
        return cls(
            base_seed=int(cfg["run"]["seed"]),
            prior_box=(tuple(prior["omega_m"]), tuple(prior["sigma8"])),
            a_ia_range=(float(block["a_ia_range"][0]), float(block["a_ia_range"][1])),
            n_a_ia=int(block["n_a_ia"]),
            n_surveys=int(block["n_surveys"]),
            n_patch_sets=int(block["n_patch_sets"]),
            batch_size=int(block["batch_size"]),
            n_walkers=int(sampler["n_walkers"]),
            n_steps=int(sampler["n_steps"]),
            n_burn=int(sampler["n_burn"]),
            thin=int(sampler["thin"]),
            # validate_config refuses max_steps < n_steps; an unvalidated mapping is not extended
            max_steps=max(int(sampler["max_steps"]), int(sampler["n_steps"])),
            grid_shape=tuple(int(n) for n in block["grid_shape"]),  # type: ignore[arg-type]
            blind=bool(block["blind"]),
            blinding_scales={**DEFAULT_SCALES, **block["blinding_scales"]},
            secret_path=secret,
            published_s8=tuple(block["published_s8"]),
            ps_ell_range=(float(block["ps_ell_range"][0]), float(block["ps_ell_range"][1])),
            ps_n_ell_bins=int(block["ps_n_ell_bins"]),
            ps_covariance_a_ia=float(block["ps_covariance_a_ia"]),
            combinations=tuple(block["combinations"]),
        )

    @property
    def a_ia_values(self) -> np.ndarray:
        """The A_IA grid of the summaries (SPEC: 25 values in [−6, 6])."""
        return np.linspace(self.a_ia_range[0], self.a_ia_range[1], self.n_a_ia)


def build_likelihood(
    *,
    summaries: Summaries,
    data: DataVector,
    settings: InferenceSettings,
    fixed_covariance_near: Sequence[float] | None = None,
) -> tuple[SummaryLikelihood, dict[str, Any]]:
    """The likelihood of ``data`` under ``summaries`` (and facts about it for the table).

    ``fixed_covariance_near`` = (Ωm, σ8): use the fixed covariance of the node nearest to it at
    A_IA = ``settings.ps_covariance_a_ia`` (power-spectrum baseline); default: interpolated Ŝ.
    """
    # Errors name the files the summaries and the data came from (or the label, in memory).
    model_file = summaries.source or f"<summaries {summaries.label!r}>"
    data_file = data.source or f"<data vector {data.label!r}>"
    n_model = summaries.predictions.shape[-1]
    if len(data.data) != n_model:
        raise SummariesFileError(
            data_file, "data", f"{n_model} entries like the summaries {model_file}", f"{len(data.data)}"
        )
    if data.output_names != summaries.output_names:
        raise SummariesFileError(
            data_file,
            "attrs/output_names",
            f"the outputs of the summaries {model_file}: {list(summaries.output_names)}",
            f"{list(data.output_names)}",
        )
    non_finite = np.flatnonzero(~np.isfinite(np.asarray(data.data, dtype=np.float64)))
    if len(non_finite):
        i = int(non_finite[0])
        raise SummariesFileError(
            data_file, "data", "finite entries", f"{data.data[i]} at entry {i} ({data.output_names[i]!r})"
        )
    info: dict[str, Any] = {"n_data": len(data.data), "n_surveys": int(summaries.n_surveys.min())}
    if info["n_surveys"] <= info["n_data"]:
        raise SummariesFileError(
            model_file,
            "predictions",
            f"more surveys per (cosmology, A_IA) than data-vector entries (N > p = {info['n_data']}) "
            "for an invertible covariance",
            f"N = {info['n_surveys']} surveys: raise inference.n_surveys",
        )
    fixed = None
    fixed_n = None
    if fixed_covariance_near is None:
        # A singular Ŝ (e.g. two combined outputs that are identical) fails deep in the sampler;
        # say which file and grid value it is instead.
        eigen_min = np.linalg.eigvalsh(summaries.covariance)[..., 0]
        bad = np.argwhere(eigen_min <= 0)
        if len(bad):
            c, j = bad[0]
            raise SummariesFileError(
                model_file,
                "predictions",
                "a positive-definite covariance at every (cosmology, A_IA)",
                f"a singular one at {summaries.cosmology_ids[c]}, A_IA = {summaries.a_ia[j]:g} "
                f"(smallest eigenvalue {eigen_min[c, j]:.3g}: constant or linearly dependent outputs, "
                "e.g. the same network combined twice?)",
            )
    else:
        widths = [hi - lo for lo, hi in settings.prior_box]
        fixed, fixed_n, cid, a_used = fixed_covariance(
            summaries, target=fixed_covariance_near, scale=widths, a_ia=settings.ps_covariance_a_ia
        )
        info["fixed_covariance"] = {"cosmology": cid, "a_ia": a_used, "n_surveys": fixed_n}
    likelihood = SummaryLikelihood(
        nodes=summaries.nodes,
        a_ia=summaries.a_ia,
        mean=summaries.mean,
        covariance=None if fixed is not None else summaries.covariance,
        n_mean=summaries.n_surveys,
        n_cov=summaries.n_surveys,
        data=data.data,
        fixed_covariance=fixed,
        fixed_n_cov=fixed_n,
        a_ia_range=settings.a_ia_range,
        scale=settings.prior_box,
    )
    return likelihood, info


def sample_posterior(
    likelihood: SummaryLikelihood, *, settings: InferenceSettings, label: str
) -> tuple[Chain, GridPosterior, dict[str, Any]]:
    """Dense grid, then emcee started from it; returns (chain, grid, chain-vs-grid comparison)."""
    hull = likelihood.hull
    bounds = [
        (hull[:, 0].min(), hull[:, 0].max()),
        (hull[:, 1].min(), hull[:, 1].max()),
        likelihood.a_ia_range,
    ]
    grid = replace(
        evaluate_grid(likelihood, bounds=bounds, shape=settings.grid_shape, label=label), prior_hull=hull
    )
    initial = initial_walkers_from_grid(
        grid,
        in_prior=likelihood.in_prior,
        n_walkers=settings.n_walkers,
        rng=walker_rng(settings.base_seed, ("constrain", label)),
    )
    chain = run_emcee(
        likelihood,
        initial=initial,
        n_steps=settings.n_steps,
        n_burn=settings.n_burn,
        thin=settings.thin,
        max_steps=settings.max_steps,
        base_seed=settings.base_seed,
        identity=("constrain", label),
        label=label,
    )
    return chain, grid, compare_with_grid(chain.flat(), grid)


def _write_results(
    out_dir: Path,
    *,
    chain: Chain,
    grid: GridPosterior,
    label: str,
    blinded: bool,
    published: Sequence[Mapping[str, Any]],
    truth: Sequence[float] | None,
    extra: Mapping[str, Any],
    provenance: Mapping[str, Any],
    a_ia_range: Sequence[float],
) -> dict[str, Any]:
    """Write chain, grid, table and plots of one analysis (values as given: blinded or not).

    Beside the chain: its getdist root and ArviZ netCDF (:mod:`.sampling`), with the prior
    ranges (the hull's bounding box and ``a_ia_range``).
    """
    from wlcnn.inference.plots import (  # lazy: matplotlib only when plotting
        plot_chain_traces,
        plot_omega_m_sigma8,
        plot_s8_a_ia,
        plot_s8_whiskers,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {key: out_dir / name for key, name in RESULT_FILES.items()}
    samples = chain.flat()
    # the reported S8 column: a blinded chain's S8 carries its own offset (width unchanged)
    samples_s8 = np.column_stack([samples, chain.flat_s8()])
    mass_2d = grid.weights().sum(axis=2)
    row_extra = dict(extra)
    row_extra["blinded"] = blinded
    if truth is not None and not blinded:
        row_extra["truth"] = dict(zip(PARAMETER_NAMES, map(float, truth), strict=True))
        row_extra["truth"]["s8"] = float(s8(truth[0], truth[1]))
        for level in CONTOUR_LEVELS:
            row_extra[f"truth_in_{round(100 * level)}"] = hpd_contains(
                mass_2d, x=grid.axes[0], y=grid.axes[1], level=level, point=truth[:2]
            )
    row = constraints_row(
        label=label,
        samples=samples,
        s8_samples=samples_s8[:, -1],
        grid_mass_2d=mass_2d,
        grid_axes_2d=(grid.axes[0], grid.axes[1]),
        extra=row_extra,
    )
    write_chain(files["chain"], chain)
    write_grid(files["grid"], grid)
    hull = grid.prior_hull
    prior_ranges = None
    if hull is not None:
        prior_ranges = {
            "omega_m": (float(hull[:, 0].min()), float(hull[:, 0].max())),
            "sigma8": (float(hull[:, 1].min()), float(hull[:, 1].max())),
            "a_ia": (float(a_ia_range[0]), float(a_ia_range[1])),
        }
    exported = write_getdist_chain(files["getdist_root"], chain, ranges=prior_ranges)
    exported.append(write_arviz_netcdf(files["netcdf"], chain))
    write_table(
        [row],
        json_path=files["table_json"],
        markdown_path=files["table_md"],
        blinded=blinded,
        provenance=provenance,
    )
    shown_truth = None if blinded else truth
    plot_omega_m_sigma8(
        files["contours"],
        analyses=[(label, samples)],
        grids=[grid],
        hull=grid.prior_hull,
        blinded=blinded,
        truth=None if shown_truth is None else shown_truth[:2],
    )
    plot_s8_a_ia(
        files["s8_a_ia"],
        analyses=[(label, samples_s8)],
        blinded=blinded,
        truth=None if shown_truth is None else (float(s8(shown_truth[0], shown_truth[1])), shown_truth[2]),
    )
    plot_s8_whiskers(
        files["whisker"],
        entries=[{"label": label, **row["s8"]}],
        published=published,
        blinded=blinded,
        truth=None if shown_truth is None else float(s8(shown_truth[0], shown_truth[1])),
    )
    plot_chain_traces(
        files["traces"],
        samples=chain.samples,
        n_burn=int(chain.settings["n_burn"]),
        autocorr_time=chain.autocorr_time,
        blinded=blinded,
        reported_s8=chain.s8 if blinded else None,
        label=label,
    )
    # the table and plots are rendered from the chain and grid, which hold the full record
    write_rendered_sidecars(
        [files[key] for key in ("table_md", "contours", "s8_a_ia", "whisker", "traces")] + exported,
        sources=[files["chain"], files["grid"]],
        step="inference.render",
    )
    return row


def constrain(
    *,
    summaries: Summaries,
    data: DataVector,
    settings: InferenceSettings,
    out_dir: str | Path,
    label: str,
    truth: Sequence[float] | None = None,
    fixed_covariance_near: Sequence[float] | None = None,
    inputs: Sequence[str | Path] = (),
    config_subset: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Constraints of one analysis, written to ``out_dir`` (:data:`RESULT_FILES`); returns its table row.

    Parameters
    ----------
    summaries
        The summary-statistic model (one label or a concatenation).
    data
        The observed data vector (same outputs).
    settings
        Inference settings.
    out_dir
        Results directory of this analysis.
    label
        Analysis name.
    truth
        (Ωm, σ8, A_IA) of a mock observation (marked on plots; ``truth_in_68/95`` in the table).
    fixed_covariance_near
        See :func:`build_likelihood` (power-spectrum baseline).
    inputs
        Input files, for the provenance record.
    config_subset
        Configuration that affects the result, for the provenance record.
    """
    started = utc_now()
    out_dir = Path(out_dir)
    likelihood, info = build_likelihood(
        summaries=summaries, data=data, settings=settings, fixed_covariance_near=fixed_covariance_near
    )
    chain, grid, check = sample_posterior(likelihood, settings=settings, label=label)
    shift = np.zeros(len(PARAMETER_NAMES))
    if settings.blind:
        shift = load_or_create_secret(settings.secret_path, scales=settings.blinding_scales).vector
    extra = {
        **info,
        "converged": chain.converged,
        "autocorr_time": dict(chain.autocorr_time),
        "mean_acceptance": float(np.mean(chain.acceptance_fraction)),
        "grid_check": {k: v for k, v in check.items() if k in ("consistent", "tolerance_sigma")}
        | {
            name: {k: v for k, v in check[name].items() if k in ("mean_shift_sigma", "std_ratio")}
            for name in PARAMETER_NAMES
        },
    }
    provenance = provenance_record(
        step="inference.constrain",
        inputs=[file_record(p) for p in inputs],
        config=dict(config_subset or {}),
        started=started,
        extra={"label": label},
    )
    chain = replace(chain, provenance=provenance)
    grid = replace(grid, provenance=provenance)
    return _write_results(
        out_dir,
        chain=chain.shifted(shift, blinded=settings.blind),
        grid=grid.shifted(shift, blinded=settings.blind),
        label=label,
        blinded=settings.blind,
        published=settings.published_s8,
        truth=truth,
        extra=extra,
        provenance=provenance,
        a_ia_range=settings.a_ia_range,
    )


def unblind(
    *, results_dir: str | Path, settings: InferenceSettings, reason: str, by: str | None = None
) -> dict[str, Any]:
    """The explicit unblinding step: remove the secret offset and write ``results_dir/unblinded``.

    The blinded results stay as they are; the step is appended to ``results_dir/unblinding.json``
    (who, when, why, code state, the offset, checksums of the blinded inputs).

    Raises
    ------
    FileNotFoundError
        No blinding secret at ``settings.secret_path`` (it is never created here).
    ValueError
        The results are not blinded.
    """
    results_dir = Path(results_dir)
    if not settings.secret_path.exists():
        raise FileNotFoundError(f"no blinding secret at {settings.secret_path}")
    secret = load_or_create_secret(settings.secret_path, scales={})
    chain_path, grid_path = results_dir / RESULT_FILES["chain"], results_dir / RESULT_FILES["grid"]
    chain, grid = read_chain(chain_path), read_grid(grid_path)
    if not (chain.blinded and grid.blinded):
        raise ValueError(f"{results_dir}: results are not blinded")
    table = json.loads((results_dir / RESULT_FILES["table_json"]).read_text())
    row = table["rows"][0]
    extra = {
        k: v
        for k, v in row.items()
        if k
        in (
            "n_data",
            "n_surveys",
            "fixed_covariance",
            "converged",
            "autocorr_time",
            "mean_acceptance",
            "grid_check",
        )
    }
    out = results_dir / UNBLINDED_DIR
    unblinded_row = _write_results(
        out,
        chain=chain.shifted(-secret.vector, blinded=False),
        grid=grid.shifted(-secret.vector, blinded=False),
        label=chain.label,
        blinded=False,
        published=settings.published_s8,
        truth=None,
        extra={**extra, "unblinded": True},
        provenance=dict(table.get("provenance", {})),
        a_ia_range=settings.a_ia_range,
    )
    record_unblinding(
        results_dir / UNBLINDING_RECORD,
        secret=secret,
        reason=reason,
        inputs=[chain_path, grid_path],
        outputs=[out / name for name in RESULT_FILES.values() if (out / name).exists()],
        by=by,
    )
    return unblinded_row


def compare(
    *,
    tables: Sequence[str | Path],
    out_plot: str | Path,
    out_json: str | Path,
    out_markdown: str | Path,
    published: Sequence[Mapping[str, Any]] = (),
    truth_s8: float | None = None,
    title: str = "",
    coverage: Sequence[str | Path] = (),
    chains: Sequence[str | Path] = (),
    out_triangle: str | Path | None = None,
    truth: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """Gather several analyses' tables into one (JSON, Markdown) and one S8 whisker plot.

    With the analyses of several mock observations this is the robustness plot (Fig. 7); with
    this work's analyses beside ``published`` values, Fig. 9. Blinded if any input is.
    ``coverage`` files (:func:`wlcnn.inference.coverage.run_coverage`) add each analysis'
    calibration statement to its row and below the Markdown table; ``chains`` (one per table, in
    the same order) with ``out_triangle`` give the triangle plot of all analyses overlaid, with
    ``truth`` (Ωm, σ8, A_IA) marked unless blinded.
    """
    from wlcnn.inference.plots import plot_s8_whiskers  # lazy: matplotlib only when plotting

    rows: list[dict[str, Any]] = []
    blinded = False
    for path in tables:
        payload = json.loads(Path(path).read_text())
        blinded |= bool(payload["blinded"])
        rows.extend(payload["rows"])
    statements = {}
    for path in coverage:
        payload = json.loads(Path(path).read_text())
        statements[str(payload["label"])] = str(payload["statement"])
    for row in rows:
        if str(row["analysis"]) in statements:
            row["coverage"] = statements[str(row["analysis"])]
    write_table(
        rows,
        json_path=out_json,
        markdown_path=out_markdown,
        blinded=blinded,
        provenance={"tables": [str(p) for p in tables], "coverage": [str(p) for p in coverage]},
    )
    plot_s8_whiskers(
        out_plot,
        entries=[{"label": r["analysis"], **r["s8"]} for r in rows],
        published=published,
        blinded=blinded,
        truth=truth_s8,
        title=title,
    )
    if out_triangle is not None and chains:
        from wlcnn.inference.plots import plot_triangle  # lazy: matplotlib only when plotting

        # each chain lies in its analysis' results directory, named after the analysis
        read = [(Path(path).parent.name, read_chain(path)) for path in chains]
        plot_triangle(
            out_triangle,
            analyses=[(name, np.column_stack([c.flat(), c.flat_s8()])) for name, c in read],
            blinded=blinded,
            truth=None if blinded else truth,
        )
    return rows
