"""Compare two sets of map files on disk: JSON of every number (with provenance) and the figures.

The computation is :func:`wlcnn.statistics.compare.compare_map_sets`; this module reads the map
files, derives the comparison's bootstrap seed from the run's seed and the pair's name, and writes
:data:`wlcnn.statistics.compare.COMPARE_FILES` atomically (the ``compare_maps`` rule).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wlcnn.atomic import atomic_write_text
from wlcnn.maps.mapfile import check_consistent_map_files
from wlcnn.provenance import file_record, provenance_record, utc_now, write_rendered_sidecars
from wlcnn.seeding import seed_sequence_for
from wlcnn.statistics import plots
from wlcnn.statistics.compare import (
    COMPARE_FILES,
    RNG_IDENTITY,
    CompareSettings,
    Expectation,
    MapComparison,
    compare_map_sets,
    read_kappa_maps,
)

__all__ = ["compare_map_files"]


def compare_map_files(
    files_a: Sequence[str | Path],
    files_b: Sequence[str | Path],
    *,
    outputs: Mapping[str, str | Path],
    name: str,
    settings: CompareSettings,
    seed: int,
    labels: tuple[str, str] = ("a", "b"),
    expect: Expectation = "same",
    config_subset: Mapping[str, Any] | None = None,
) -> MapComparison:
    """Read two sets of map files, compare them and write the JSON (with provenance) and figures.

    Parameters
    ----------
    files_a, files_b
        Map files of set A (the reference) and set B; all of one geometry.
    outputs
        Path per key of :data:`COMPARE_FILES`.
    name
        Name of the comparison (titles, bootstrap stream).
    settings, seed, labels
        See :func:`compare_map_sets`.
    expect
        ``"same"`` or ``"different"``: what the comparison should find (recorded with
        ``as_expected``; the caller decides what a surprise means).
    config_subset
        Configuration the result depends on, for the provenance record.

    Returns
    -------
    MapComparison
        The comparison written.
    """
    started = utc_now()
    maps_a, attrs = read_kappa_maps(files_a)
    maps_b, _ = read_kappa_maps(files_b)
    # the geometry of B must match A (check_consistent_map_files compares with the first file)
    check_consistent_map_files([files_a[0], *files_b], shells=False)
    # one bootstrap stream per comparison: derived from the run's seed and the pair's name
    pair_seed = int(seed_sequence_for(seed, RNG_IDENTITY, name).generate_state(1)[0])
    result = compare_map_sets(
        maps_a,
        maps_b,
        side_deg=float(attrs["patch_size_deg"]),
        settings=settings,
        seed=pair_seed,
        labels=labels,
    )
    result.meta.update(
        name=name,
        files={"a": [str(p) for p in files_a], "b": [str(p) for p in files_b]},
        side_deg=float(attrs["patch_size_deg"]),
        expect=expect,
        as_expected=result.different == (expect == "different"),
    )
    record = result.to_json()
    record["provenance"] = provenance_record(
        step="statistics.compare_maps",
        inputs=[file_record(p) for p in [*files_a, *files_b]],
        config=dict(config_subset or {}),
        started=started,
        extra={"name": name},
    )
    title = f"{name}: {labels[0]} vs {labels[1]}"
    plots.plot_statistic_bands(outputs["bands"], result, title=f"{title}, mean ± σ")
    plots.plot_distributions(
        outputs["distributions"], result, title=f"{title}, per-map distributions (bin 1)"
    )
    plots.plot_pvalues(outputs["pvalues"], result)
    plots.plot_correlation_difference(
        outputs["correlation"], result, title=f"{title}, correlation difference"
    )
    atomic_write_text(outputs["json"], json.dumps(record, indent=1) + "\n")
    figures = [outputs[k] for k in COMPARE_FILES if k != "json"]
    write_rendered_sidecars(figures, sources=[outputs["json"]], step="statistics.compare_maps.render")
    return result
