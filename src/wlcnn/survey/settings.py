"""The survey stage's settings, read from the ``survey:`` block of the configuration.

Every number of SPEC §4–§6 (patch geometry, tomographic edges, bias values, padding, smoothing
scale) lives in ``config/config.yaml``; nothing is hard-coded in the survey code. This module
turns the validated configuration into a frozen :class:`SurveySettings` and adds the checks a
JSON schema cannot express (:func:`survey_config_problems`).

Examples
--------
>>> from wlcnn.survey.settings import SurveySettings
>>> s = SurveySettings.from_config({"survey": {
...     "n_patches": 1, "patch_centres": [[180.0, 0.0]], "patch_size_deg": 5.0, "n_pix": 128,
...     "zb_edges": [0.1, 0.3], "multiplicative_bias": [-0.01], "additive_bias": [0.0],
...     "multiplicative_bias_sigma": 0.01, "ks_padding": 64, "smoothing_arcmin": 2.34,
...     "sigma_e": 0.29}})
>>> round(s.pixel_arcmin, 5), round(s.smoothing_sigma_pix, 4), s.n_bins
(2.34375, 0.9984, 1)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ARCMIN_PER_DEG",
    "MOCK_OBSERVATION_KEYS",
    "ColumnMap",
    "MockSettings",
    "Selection",
    "SurveySettings",
    "survey_config_problems",
]

#: Arc-minutes per degree.
ARCMIN_PER_DEG = 60.0


@dataclass(frozen=True)
class ColumnMap:
    """Catalogue column names of the quantities the survey stage reads.

    ``m`` is ``None`` when the catalogue has no per-object multiplicative bias.
    """

    ra: str = "RAJ2000"
    dec: str = "DECJ2000"
    e1: str = "e1"
    e2: str = "e2"
    weight: str = "weight"
    z_b: str = "Z_B"
    m: str | None = "m"

    def items(self) -> list[tuple[str, str]]:
        """``(field, column)`` pairs of the columns to read (``m`` left out when ``None``)."""
        pairs = [
            ("ra", self.ra),
            ("dec", self.dec),
            ("e1", self.e1),
            ("e2", self.e2),
            ("weight", self.weight),
            ("z_b", self.z_b),
        ]
        if self.m is not None:
            pairs.append(("m", self.m))
        return pairs


@dataclass(frozen=True)
class Selection:
    """A row cut on one catalogue column; a row is kept when every given condition holds."""

    column: str
    min: float | None = None
    max: float | None = None
    equals: tuple[float, ...] | None = None
    bits_unset: int | None = None

    def keep(self, values: np.ndarray) -> np.ndarray:
        """Boolean array: which rows pass this cut."""
        ok = np.ones(values.shape, dtype=bool)
        if self.min is not None:
            ok &= values >= self.min
        if self.max is not None:
            ok &= values <= self.max
        if self.equals is not None:
            ok &= np.isin(values, np.asarray(self.equals))
        if self.bits_unset is not None:
            ok &= (values.astype(np.int64) & int(self.bits_unset)) == 0
        return ok

    @property
    def label(self) -> str:
        """Short description used in the selection table."""
        parts = []
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.equals is not None:
            parts.append(f"in {list(self.equals)}")
        if self.bits_unset is not None:
            parts.append(f"& {self.bits_unset:#x} == 0")
        return f"{self.column} {' and '.join(parts)}"


#: ``survey.mock`` keys that say which extra mock observations exist (ray-traced, baryonified),
#: not how the mock catalogue's galaxies are drawn.
MOCK_OBSERVATION_KEYS = ("ray_traced", "baryonified")


@dataclass(frozen=True)
class MockSettings:
    """Parameters of the KiDS-450-like mock catalogue (``survey.mock``); see the schema."""

    n_gal_arcmin2: float
    bin_fractions: tuple[float, ...]
    outside_fraction: float = 0.15
    outside_margin_deg: float = 1.5
    zb_outside_fraction: float = 0.05
    holes_per_deg2: float = 1.5
    hole_radius_arcmin: tuple[float, float] = (2.0, 10.0)
    empty_square_deg: float = 1.0
    density_contrast: float = 0.3
    density_scale_arcmin: float = 40.0
    weight_shape: float = 2.0
    weight_scale: float = 6.0
    zero_weight_fraction: float = 0.01
    m_scatter: float = 0.03
    invalid_fraction: float = 0.0


@dataclass(frozen=True)
class SurveySettings:
    """Everything the survey stage needs to know, from the configuration.

    Attributes
    ----------
    patch_centres
        (n_patches, 2) array of [RA, Dec] in degrees.
    patch_size_deg, n_pix
        Side of a gnomonic patch (degrees, in tangent-plane units) and pixels per side.
    zb_edges
        Tomographic bin edges in Z_B; bin b holds ``zb_edges[b] < Z_B <= zb_edges[b+1]``.
    multiplicative_bias, additive_bias
        Per-bin values from the configuration (the paper's); used when the ``*_from`` source is
        ``"config"``, otherwise kept for comparison.
    ks_padding
        Zero padding (pixels, each side) before the FFTs of κ→γ and of mode removal.
    smoothing_arcmin, smoothing_truncate
        Gaussian smoothing σ (arcmin) and truncation radius (in σ).
    """

    patch_centres: np.ndarray
    patch_size_deg: float
    n_pix: int
    zb_edges: tuple[float, ...]
    sigma_e: float
    multiplicative_bias: tuple[float, ...]
    multiplicative_bias_sigma: float
    additive_bias: tuple[float, ...]
    ks_padding: int
    smoothing_arcmin: float
    catalogue: tuple[str, ...] = ()
    catalogue_format: str = "auto"
    catalogue_table: str | int | None = None
    columns: ColumnMap = field(default_factory=ColumnMap)
    flip_e1: bool = False
    flip_e2: bool = False
    selections: tuple[Selection, ...] = ()
    invalid_rows: str = "drop"
    chunk_rows: int = 1 << 20
    n_eff_arcmin2: float | None = None
    multiplicative_bias_from: str = "data"
    additive_bias_from: str = "data"
    smoothing_truncate: float = 4.0
    mask_after_mode_removal: bool = True
    mock: MockSettings | None = None

    @property
    def n_patches(self) -> int:
        """Number of patches."""
        return int(self.patch_centres.shape[0])

    @property
    def n_bins(self) -> int:
        """Number of tomographic bins."""
        return len(self.zb_edges) - 1

    @property
    def pixel_deg(self) -> float:
        """Pixel side in degrees (tangent-plane units)."""
        return self.patch_size_deg / self.n_pix

    @property
    def pixel_arcmin(self) -> float:
        """Pixel side in arc-minutes."""
        return self.pixel_deg * ARCMIN_PER_DEG

    @property
    def smoothing_sigma_pix(self) -> float:
        """Gaussian smoothing σ in pixels (2.34 arcmin ≈ 1 pixel of 5 deg / 128)."""
        return self.smoothing_arcmin / self.pixel_arcmin

    def config_subset(self) -> dict[str, Any]:
        """JSON-able settings, for provenance records."""
        return {
            "patch_centres": self.patch_centres.tolist(),
            "patch_size_deg": self.patch_size_deg,
            "n_pix": self.n_pix,
            "zb_edges": list(self.zb_edges),
            "columns": dict(self.columns.items()),
            "flip_e1": self.flip_e1,
            "flip_e2": self.flip_e2,
            "selections": [s.label for s in self.selections],
            "invalid_rows": self.invalid_rows,
            "multiplicative_bias_from": self.multiplicative_bias_from,
            "multiplicative_bias": list(self.multiplicative_bias),
            "additive_bias_from": self.additive_bias_from,
            "additive_bias": list(self.additive_bias),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, base_dir: str | Path = ".") -> SurveySettings:
        """Build the settings from a whole (validated) configuration.

        Parameters
        ----------
        config
            The parsed configuration; its ``survey`` block is read, ``shells`` is cross-checked
            (patch size and pixels must agree with the simulated maps).
        base_dir
            Directory against which relative file paths are resolved.

        Raises
        ------
        ValueError
            If :func:`survey_config_problems` finds a problem.
        """
        problems = survey_config_problems(config)
        if problems:
            raise ValueError("invalid survey configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        survey = config["survey"]
        base = Path(base_dir)
        catalogue = survey.get("catalogue", ())
        catalogue = (catalogue,) if isinstance(catalogue, str) else tuple(catalogue)
        columns = ColumnMap(**survey["columns"]) if "columns" in survey else ColumnMap()
        selections = tuple(
            Selection(
                column=s["column"],
                min=s.get("min"),
                max=s.get("max"),
                equals=tuple(s["equals"]) if "equals" in s else None,
                bits_unset=s.get("bits_unset"),
            )
            for s in survey.get("selections", ())
        )
        mock = None
        if "mock" in survey:
            raw = dict(survey["mock"])
            for key in MOCK_OBSERVATION_KEYS:  # which mock observations exist, not how galaxies are drawn
                raw.pop(key, None)
            raw["bin_fractions"] = tuple(raw["bin_fractions"])
            if "hole_radius_arcmin" in raw:
                raw["hole_radius_arcmin"] = tuple(raw["hole_radius_arcmin"])
            mock = MockSettings(**raw)
        optional = {
            k: survey[k]
            for k in (
                "catalogue_format",
                "catalogue_table",
                "flip_e1",
                "flip_e2",
                "invalid_rows",
                "chunk_rows",
                "n_eff_arcmin2",
                "multiplicative_bias_from",
                "additive_bias_from",
                "smoothing_truncate",
                "mask_after_mode_removal",
            )
            if k in survey
        }
        return cls(
            patch_centres=np.asarray(survey["patch_centres"], dtype=float).reshape(-1, 2),
            patch_size_deg=float(survey["patch_size_deg"]),
            n_pix=int(survey["n_pix"]),
            zb_edges=tuple(float(z) for z in survey["zb_edges"]),
            sigma_e=float(survey["sigma_e"]),
            multiplicative_bias=tuple(float(m) for m in survey["multiplicative_bias"]),
            multiplicative_bias_sigma=float(survey["multiplicative_bias_sigma"]),
            additive_bias=tuple(float(c) for c in survey["additive_bias"]),
            ks_padding=int(survey["ks_padding"]),
            smoothing_arcmin=float(survey["smoothing_arcmin"]),
            catalogue=tuple(str(base / c) for c in catalogue),
            columns=columns,
            selections=selections,
            mock=mock,
            **optional,
        )


_REQUIRED = (
    "n_patches",
    "patch_centres",
    "patch_size_deg",
    "n_pix",
    "zb_edges",
    "sigma_e",
    "multiplicative_bias",
    "multiplicative_bias_sigma",
    "additive_bias",
    "ks_padding",
    "smoothing_arcmin",
)


def survey_config_problems(config: Mapping[str, Any]) -> list[str]:
    """Checks of the ``survey`` block that a JSON schema cannot express.

    Returns a list of problems (empty if none), each naming its key: required keys, the number
    of patch centres against ``n_patches``, increasing ``zb_edges``, per-bin list lengths,
    agreement of the patch geometry with ``shells``, and the mock's ``bin_fractions`` length.
    """
    survey = config.get("survey")
    if survey is None:
        return ["survey: the survey block is missing"]
    problems = [f"survey.{key}: required by the survey stage" for key in _REQUIRED if key not in survey]
    if problems:
        return problems
    centres = survey["patch_centres"]
    if len(centres) != survey["n_patches"]:
        problems.append(
            f"survey.patch_centres: expected {survey['n_patches']} centres (survey.n_patches), "
            f"found {len(centres)}"
        )
    edges = survey["zb_edges"]
    if any(b <= a for a, b in itertools.pairwise(edges)):
        problems.append(f"survey.zb_edges: expected strictly increasing edges, found {edges}")
    n_bins = len(edges) - 1
    problems.extend(
        f"survey.{key}: expected {n_bins} values (one per bin), found {len(survey[key])}"
        for key in ("multiplicative_bias", "additive_bias")
        if len(survey[key]) != n_bins
    )
    if "mock" in survey and len(survey["mock"]["bin_fractions"]) != n_bins:
        problems.append(
            f"survey.mock.bin_fractions: expected {n_bins} values (one per bin), "
            f"found {len(survey['mock']['bin_fractions'])}"
        )
    if "mock" in survey:
        lo, hi = survey["mock"].get("hole_radius_arcmin", (0.0, 1.0))
        if not 0 <= lo <= hi:
            problems.append(f"survey.mock.hole_radius_arcmin: expected 0 <= low <= high, found {[lo, hi]}")
    shells = config.get("shells", {})
    problems.extend(
        f"survey.{key}: {survey[key]} differs from shells.{key} = {shells[key]}; the data "
        "maps must have the geometry of the simulated maps"
        for key in ("patch_size_deg", "n_pix")
        if key in shells and shells[key] != survey[key]
    )
    if (
        survey.get("multiplicative_bias_from", "data") == "data"
        and survey.get("columns", {}).get("m", "m") is None
    ):
        problems.append(
            "survey.multiplicative_bias_from: 'data' needs a per-object m column "
            "(survey.columns.m is null); use 'config'"
        )
    return problems
