"""The one lazy-loading pattern of the subpackages' ``__init__`` (PEP 562).

Every subpackage ``__init__`` holds a docstring, ``if TYPE_CHECKING:`` imports of its public
names (so that mypy and IDEs see them), a literal ``__all__``, a ``_HOME`` table mapping each
public name to the submodule that defines it, and one call::

    __getattr__, __dir__ = attach(__name__, _HOME, public=__all__)

Nothing first-party is imported when the package is: a name's submodule is imported on first
access (``wlcnn.maps.plan_maps``, ``from wlcnn.maps import plan_maps``), so that a light tool
(``wlcnn inspect``, the Snakefile at parse time) does not pay for TensorFlow, numba, healpy,
mpi4py or matplotlib it never uses. Submodules themselves are imported as usual
(``from wlcnn.io import canonical`` still works: an unknown name raises :class:`AttributeError`,
which is what sends the import system on to the submodule).

A public name that is also the name of its own submodule (``wlcnn.statistics.power_spectrum``,
the function, lives in ``wlcnn/statistics/power_spectrum.py``) stays the public name: the
import system would otherwise overwrite the package attribute with the submodule once anything
imports the submodule directly.

Examples
--------
>>> import wlcnn.statistics
>>> "peak_counts" in dir(wlcnn.statistics)
True
>>> wlcnn.statistics.no_such_name
Traceback (most recent call last):
...
AttributeError: module 'wlcnn.statistics' has no attribute 'no_such_name'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

__all__ = ["attach"]


class _PublicNamesFirst(ModuleType):
    """A package whose public names win over same-named submodules set by the import system."""

    _wlcnn_homes: Mapping[str, str]

    def __setattr__(self, name: str, value: Any) -> None:
        # importlib sets ``package.<child> = <child module>`` once the child is loaded; for a
        # child named like the public name it defines, keep that name (the function) instead.
        if (
            isinstance(value, ModuleType)
            and self._wlcnn_homes.get(name) == name
            and value.__name__ == f"{self.__name__}.{name}"
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


def attach(
    package: str, homes: Mapping[str, str], *, public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Make ``package``'s public names load their submodules on first access.

    Parameters
    ----------
    package
        The package's ``__name__``; it must be in :data:`sys.modules` (call from its ``__init__``).
    homes
        Public name -> the submodule that defines it, relative to ``package`` (``"born"``).
    public
        The package's ``__all__``: exactly the names of ``homes``.

    Returns
    -------
    tuple
        The module's ``__getattr__`` and ``__dir__`` (PEP 562).

    Raises
    ------
    ValueError
        If ``public`` and ``homes`` do not name the same names (a name exported without a home,
        or a home of a name not exported).
    """
    if sorted(public) != sorted(homes):
        missing = sorted(set(public) - set(homes))
        extra = sorted(set(homes) - set(public))
        raise ValueError(
            f"{package}: __all__ and the lazy table differ: no home for {missing}, not in __all__: {extra}"
        )
    module = sys.modules[package]
    if any(name == home for name, home in homes.items()):
        module.__class__ = _PublicNamesFirst
        module._wlcnn_homes = dict(homes)  # type: ignore[attr-defined]  # the class annotates it

    def __getattr__(name: str) -> Any:  # noqa: N807 - the PEP 562 hook's name
        try:
            home = homes[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        # Cache, as an eager import would: later accesses do not come back here.
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the PEP 562 hook's name
        return sorted({*vars(module), *public})

    return __getattr__, __dir__
