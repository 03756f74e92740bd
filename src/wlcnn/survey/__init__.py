"""Survey forward model: shear catalogue → patch maps, masks, biases, shape noise, CNN inputs.

SPEC §4–§6. One concept per module:

- :mod:`~wlcnn.survey.settings`: the ``survey:`` configuration block as :class:`SurveySettings`;
- :mod:`~wlcnn.survey.catalogue`: FITS / HDF5 / Parquet ingestion, column mapping, validation;
- :mod:`~wlcnn.survey.patches`: gnomonic projection, pixels, tomographic bins, selection table;
- :mod:`~wlcnn.survey.shear_maps`: pixel shear, masks, additive and multiplicative bias, the
  patch-maps HDF5 file;
- :mod:`~wlcnn.survey.shape_noise`: random-rotation shape noise (NumPy and TensorFlow);
- :mod:`~wlcnn.survey.kaiser_squires`: κ ↔ γ with zero padding, mode removal;
- :mod:`~wlcnn.survey.smoothing`: Gaussian smoothing;
- :mod:`~wlcnn.survey.forward_model`: CNN input assembly (NumPy reference and TensorFlow);
- :mod:`~wlcnn.survey.mock_catalogue`: KiDS-450-like mock catalogue and mock observation.

TensorFlow is imported only by the ``*_tf`` functions and :class:`TFForwardModel`.

The names below are loaded on first use (:mod:`wlcnn._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wlcnn._lazy import attach

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from wlcnn.survey.catalogue import Catalogue, CatalogueError, DropCounts, read_catalogue
    from wlcnn.survey.forward_model import (
        ForwardDraws,
        ForwardModel,
        TFForwardModel,
        assemble_inputs_numpy,
        assemble_inputs_tf,
        channel_names,
        stateless_seed,
    )
    from wlcnn.survey.mock_catalogue import (
        generate_mock_galaxies,
        nz_tables_from_config,
        write_mock_catalogue,
        write_mock_observation,
    )
    from wlcnn.survey.patches import SelectionTable, format_selection_table
    from wlcnn.survey.settings import SurveySettings, survey_config_problems
    from wlcnn.survey.shape_noise import NoiseIngredients
    from wlcnn.survey.shear_maps import PatchMaps, build_patch_maps, read_patch_maps, write_patch_maps

__all__ = [
    "Catalogue",
    "CatalogueError",
    "DropCounts",
    "ForwardDraws",
    "ForwardModel",
    "NoiseIngredients",
    "PatchMaps",
    "SelectionTable",
    "SurveySettings",
    "TFForwardModel",
    "assemble_inputs_numpy",
    "assemble_inputs_tf",
    "build_patch_maps",
    "channel_names",
    "format_selection_table",
    "generate_mock_galaxies",
    "nz_tables_from_config",
    "read_catalogue",
    "read_patch_maps",
    "stateless_seed",
    "survey_config_problems",
    "write_mock_catalogue",
    "write_mock_observation",
    "write_patch_maps",
]

#: Public name -> the submodule that defines it (loaded on first use).
_HOME = {
    "Catalogue": "catalogue",
    "CatalogueError": "catalogue",
    "DropCounts": "catalogue",
    "read_catalogue": "catalogue",
    "ForwardDraws": "forward_model",
    "ForwardModel": "forward_model",
    "TFForwardModel": "forward_model",
    "assemble_inputs_numpy": "forward_model",
    "assemble_inputs_tf": "forward_model",
    "channel_names": "forward_model",
    "stateless_seed": "forward_model",
    "generate_mock_galaxies": "mock_catalogue",
    "nz_tables_from_config": "mock_catalogue",
    "write_mock_catalogue": "mock_catalogue",
    "write_mock_observation": "mock_catalogue",
    "SelectionTable": "patches",
    "format_selection_table": "patches",
    "SurveySettings": "settings",
    "survey_config_problems": "settings",
    "NoiseIngredients": "shape_noise",
    "PatchMaps": "shear_maps",
    "build_patch_maps": "shear_maps",
    "read_patch_maps": "shear_maps",
    "write_patch_maps": "shear_maps",
}

__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)
