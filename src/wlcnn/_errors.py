"""Shared internals of the input errors: one message shape for a file's bad field.

Every bad input a user can hand the pipeline is reported as ``<file>: <field>: expected
<expected>, found <found>`` (the developers' guide). :class:`FieldError` holds that shape once;
each stage subclasses it with its own name and docstring, so callers catch what they mean
(``ModelFileError``, ``SummariesFileError``, ...) and the command lines catch them all alike.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FieldError"]


class FieldError(ValueError):
    """A file (or in-memory stand-in for one) with a field that is not what was expected.

    Parameters
    ----------
    path
        The offending file.
    field
        The entry of it at fault (``"file"`` when the file itself is missing or unreadable).
    expected, found
        What the reader needed and what is there.

    Examples
    --------
    >>> str(FieldError("run/constraints.json", "rows", "a list of analyses", "'none'"))
    "run/constraints.json: rows: expected a list of analyses, found 'none'"
    """

    def __init__(self, path: str | Path, field: str, expected: str, found: str) -> None:
        self.path = Path(path)
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(f"{self.path}: {field}: expected {expected}, found {found}")
