"""Argument types of the command lines: checked numbers and ranges with one-line errors.

Each factory returns a function for ``argparse``'s ``type=``; a bad value raises
:class:`argparse.ArgumentTypeError`, which argparse turns into exit status 2 and the message
``argument --OPTION: expected ..., found '...'`` (the option, what was expected, what was found)
instead of a traceback.

Examples
--------
>>> count = integer(minimum=1)
>>> count("3")
3
>>> count("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected an integer >= 1, found '0'
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "existing_file",
    "integer",
    "number_list",
    "number_pair",
    "output_directory",
    "output_file",
    "real",
]

#: Separator of ``lo:hi:n`` ranges and of comma lists.
RANGE_SEPARATOR = ":"
LIST_SEPARATOR = ","
#: Fields of a ``lo:hi:n`` range.
RANGE_FIELDS = 3


def integer(*, minimum: int | None = None) -> Callable[[str], int]:
    """An integer, at least ``minimum``."""
    expected = "an integer" + (f" >= {minimum}" if minimum is not None else "")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def _interval(low: float | None, high: float | None, *, open_low: bool, open_high: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None:
        return f"a number {'>' if open_low else '>='} {low:g}"
    if low is None:
        return f"a number {'<' if open_high else '<='} {high:g}"
    return f"a number in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"


def _check_real(
    text: str,
    *,
    minimum: float | None,
    maximum: float | None,
    open_low: bool,
    open_high: bool,
    context: str = "",
) -> float:
    expected = _interval(minimum, maximum, open_low=open_low, open_high=open_high)
    found = f"{text!r}" + (f" in {context!r}" if context else "")
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, found {found}") from None
    below = minimum is not None and (value <= minimum if open_low else value < minimum)
    above = maximum is not None and (value >= maximum if open_high else value > maximum)
    if not math.isfinite(value) or below or above:
        raise argparse.ArgumentTypeError(f"expected {expected}, found {found}")
    return value


def real(
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
) -> Callable[[str], float]:
    """A finite number in [``minimum``, ``maximum``] (open ends where asked)."""

    def parse(text: str) -> float:
        return _check_real(text, minimum=minimum, maximum=maximum, open_low=open_low, open_high=open_high)

    parse.__name__ = "real"
    return parse


def number_list(
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
) -> Callable[[str], np.ndarray]:
    """``lo:hi:n`` (n evenly spaced values, lo <= hi, n >= 1) or a comma list ``a,b,c``.

    Every value must be a finite number in the given interval.
    """
    check = functools.partial(
        _check_real, minimum=minimum, maximum=maximum, open_low=open_low, open_high=open_high
    )

    def parse(text: str) -> np.ndarray:
        if RANGE_SEPARATOR in text:
            fields = text.split(RANGE_SEPARATOR)
            if len(fields) != RANGE_FIELDS:
                raise argparse.ArgumentTypeError(
                    f"expected 'lo:hi:n' (three fields) or a comma list, found {text!r} "
                    f"({len(fields)} field(s))"
                )
            lo, hi = (check(f, context=text) for f in fields[:2])
            n = fields[2]
            if not n.strip().isdigit() or int(n) < 1:
                raise argparse.ArgumentTypeError(
                    f"expected a number of values n >= 1 in 'lo:hi:n', found {n!r} in {text!r}"
                )
            if lo > hi:
                raise argparse.ArgumentTypeError(f"expected lo <= hi in 'lo:hi:n', found {text!r}")
            return np.linspace(lo, hi, int(n))
        values = [check(f, context=text) for f in text.split(LIST_SEPARATOR)]
        return np.array(values)

    parse.__name__ = "number list"
    return parse


def number_pair(
    *,
    first: Callable[[str], float],
    second: Callable[[str], float],
    names: tuple[str, str],
) -> Callable[[str], tuple[float, float]]:
    """Two numbers ``a,b`` (e.g. ``OM,S8``), each checked by its own type function."""

    def parse(text: str) -> tuple[float, float]:
        fields = text.split(LIST_SEPARATOR)
        if len(fields) != len(names):
            raise argparse.ArgumentTypeError(f"expected two numbers '{names[0]},{names[1]}', found {text!r}")
        values = []
        for field, name, check in zip(fields, names, (first, second), strict=True):
            try:
                values.append(check(field))
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError(f"{name}: {exc} in {text!r}") from None
        return values[0], values[1]

    parse.__name__ = "number pair"
    return parse


def existing_file(text: str) -> str:
    """A path to an existing file (not a directory)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a file, found the directory {text!r}")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"expected an existing file, found no such file {text!r}")
    return text


def output_file(text: str) -> str:
    """A path a file can be written to: not a directory, and not below a file."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a file name, found the directory {text!r}")
    if path.parent.exists() and not path.parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"expected {str(path.parent)!r} to be a directory, found a file (in {text!r})"
        )
    return text


def output_directory(text: str) -> str:
    """A directory to write into (created if missing), not an existing file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a directory, found the file {text!r}")
    return text
