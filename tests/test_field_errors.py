"""The input errors that name (file, field, expected, found) share one implementation.

Each stage keeps its own error type (callers catch what they mean), but the message shape lives
in :class:`wlcnn._errors.FieldError` alone: checked for every such type, and the source is
searched so that a new copy of the constructor is caught.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from wlcnn._errors import FieldError
from wlcnn.inference.blinding import UnblindingError
from wlcnn.inference.summaries import SummariesFileError
from wlcnn.science_report import ScienceReportError
from wlcnn.shapes.constraints_comparison import ConstraintsComparisonError
from wlcnn.training.export import ModelFileError

SRC = Path(__file__).resolve().parents[1] / "src" / "wlcnn"
FIELD_ERRORS = (
    UnblindingError,
    SummariesFileError,
    ScienceReportError,
    ConstraintsComparisonError,
    ModelFileError,
)
#: The constructor's parameters that make a (file, field, expected, found) error.
SIGNATURE = ["self", "path", "field", "expected", "found"]


@pytest.mark.parametrize("error", FIELD_ERRORS, ids=lambda e: e.__name__)
def test_each_error_names_file_field_expected_and_found(error: type[FieldError]) -> None:
    exc = error(Path("run") / "table.json", "rows[2].area_68", "a number > 0", "'nan'")
    assert isinstance(exc, FieldError) and isinstance(exc, ValueError)
    assert str(exc) == f"{Path('run') / 'table.json'}: rows[2].area_68: expected a number > 0, found 'nan'"
    assert (exc.path, exc.field, exc.expected, exc.found) == (
        Path("run") / "table.json",
        "rows[2].area_68",
        "a number > 0",
        "'nan'",
    )
    # each stage's type stays distinct: catching one does not catch the others
    assert all(not issubclass(error, other) for other in FIELD_ERRORS if other is not error)


def test_no_module_repeats_the_field_error_constructor() -> None:
    copies = [
        f"{path.relative_to(SRC)}:{node.name}"
        for path in SRC.rglob("*.py")
        if path.name != "_errors.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef)
        and item.name == "__init__"
        and [a.arg for a in item.args.args] == SIGNATURE
        and not item.args.kwonlyargs  # a richer error (e.g. naming a second file) is its own thing
    ]
    assert copies == [], f"subclass wlcnn._errors.FieldError instead of repeating its constructor: {copies}"
