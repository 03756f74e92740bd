"""Every subpackage ``__init__`` follows the one lazy-loading pattern of :mod:`wlcnn._lazy`.

The pattern (checked on the source with :mod:`ast`, never by trusting the helper): a literal
``__all__``, a literal ``_HOME`` table (public name -> submodule) naming exactly those names,
``if TYPE_CHECKING:`` imports of each name from its home (what mypy and IDEs read), one
``__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)`` call, and no other
first-party import. At run time every name resolves to the object its home module defines,
``dir()`` lists them, an unknown name raises AttributeError naming the package, and importing a
package (in a fresh interpreter) imports none of its submodules, nor TensorFlow, mpi4py,
matplotlib or healpy.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import wlcnn

SRC = Path(wlcnn.__file__).resolve().parent
#: The one first-party module a package ``__init__`` may import at run time.
HELPER = "wlcnn._lazy"
#: Heavy third-party stacks that importing a package must not pull in.
HEAVY = ("tensorflow", "mpi4py", "matplotlib", "healpy")
#: The call every ``__init__`` ends with, as ruff formats it.
ATTACH_CALL = "__getattr__, __dir__ = attach(__name__, _HOME, public=__all__)"


def _subpackages() -> list[str]:
    """Every subpackage of wlcnn, found from the files (new ones are checked too)."""
    return sorted(info.name for info in pkgutil.iter_modules([str(SRC)]) if info.ispkg)


PACKAGES = _subpackages()


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _literal(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no literal module-level {name} assignment")


def test_all_expected_subpackages_are_walked() -> None:
    # By hand: the subpackages the tree had when the pattern was introduced.
    expected = {"inference", "io", "lensing", "maps", "nbody", "statistics", "survey", "training"}
    assert expected <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_init_uses_the_lazy_pattern(package: str) -> None:
    path = SRC / package / "__init__.py"
    source = path.read_text()
    tree = ast.parse(source)
    full = f"wlcnn.{package}"
    eager, typed, functions = [], {}, []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            functions.append(node.name)
        if _is_type_checking(node):
            for child in ast.walk(node):
                if isinstance(child, ast.ImportFrom):
                    typed.update({a.asname or a.name: child.module for a in child.names})
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.ImportFrom) and child.level:
                eager.append(f"line {child.lineno}: relative import")
            elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("wlcnn"):
                if child.module != HELPER:
                    eager.append(f"line {child.lineno}: from {child.module}")
            elif isinstance(child, ast.Import):
                eager += [
                    f"line {child.lineno}: import {a.name}" for a in child.names if a.name.startswith("wlcnn")
                ]
    assert not eager, f"{path}: eager first-party imports {eager}; use the _HOME table"
    assert not functions, f"{path}: defines {functions}; the pattern's hooks come from {HELPER}.attach"
    assert ATTACH_CALL in source, f"{path}: expected the line {ATTACH_CALL!r}"
    public = _literal(tree, "__all__")
    homes = _literal(tree, "_HOME")
    assert isinstance(public, list) and isinstance(homes, dict)
    assert len(set(public)) == len(public), f"{path}: duplicate names in __all__"
    assert sorted(public) == sorted(homes), f"{path}: __all__ and _HOME name different names"
    # What type checkers see: each public name, imported from the module _HOME says.
    assert typed == {name: f"{full}.{home}" for name, home in homes.items()}, (
        f"{path}: the TYPE_CHECKING imports must import each name of __all__ from its _HOME module"
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_resolve_to_their_home_objects(package: str) -> None:
    module = importlib.import_module(f"wlcnn.{package}")
    homes = _literal(ast.parse((SRC / package / "__init__.py").read_text()), "_HOME")
    assert isinstance(homes, dict)
    listed = dir(module)
    for name in module.__all__:
        home = importlib.import_module(f"wlcnn.{package}.{homes[name]}")
        assert getattr(module, name) is getattr(home, name), f"wlcnn.{package}.{name}"
        assert name in listed
    with pytest.raises(AttributeError, match=rf"'wlcnn\.{package}' has no attribute 'no_such_name'"):
        _ = module.no_such_name


def _fresh_interpreter(code: str) -> str:
    """Run ``code`` in a new interpreter (nothing of this test process preloaded); its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_a_package_imports_nothing_heavy(package: str) -> None:
    code = f"""
        import sys
        import wlcnn.{package}
        heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
        first_party = sorted(m for m in sys.modules if m.startswith("wlcnn.") and m != "{HELPER}")
        print(heavy, first_party[1:] if first_party[:1] == ["wlcnn.{package}"] else first_party)
    """
    assert _fresh_interpreter(code) == "[] []", f"import wlcnn.{package} imported (heavy, first-party)"


def test_a_submodule_named_like_its_function_stays_the_function() -> None:
    # The submodule imported first, directly: the import system then sets the package's
    # attribute to the submodule; the public name (the estimator function) must win.
    code = """
        import importlib, types
        sub = importlib.import_module("wlcnn.statistics.power_spectrum")
        import wlcnn.statistics as stats
        from wlcnn.statistics import power_spectrum
        print(stats.power_spectrum is sub.power_spectrum is power_spectrum,
              isinstance(power_spectrum, types.ModuleType))
    """
    assert _fresh_interpreter(code) == "True False"


def test_a_submodule_not_in_the_table_is_still_importable_from_its_package() -> None:
    from wlcnn.io import canonical
    from wlcnn.statistics import plots

    assert isinstance(canonical, ModuleType) and canonical.__name__ == "wlcnn.io.canonical"
    assert isinstance(plots, ModuleType) and plots.__name__ == "wlcnn.statistics.plots"


def _fake_package(root: Path, *, public: str, homes: str) -> None:
    pkg = root / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        f"from wlcnn._lazy import attach\n__all__ = {public}\n_HOME = {homes}\n{ATTACH_CALL}\n"
    )
    (pkg / "alpha.py").write_text("VALUE = 1\n")
    (pkg / "beta.py").write_text("def beta():\n    return 2\n")


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m == "fakepkg" or m.startswith("fakepkg.")]:
        del sys.modules[name]


def test_attach_loads_on_first_use_and_keeps_same_named_functions(fake_package: Path) -> None:
    _fake_package(fake_package, public='["VALUE", "beta"]', homes='{"VALUE": "alpha", "beta": "beta"}')
    pkg = importlib.import_module("fakepkg")
    assert "fakepkg.alpha" not in sys.modules  # nothing loaded yet
    assert pkg.VALUE == 1
    assert "fakepkg.alpha" in sys.modules
    assert "beta" not in vars(pkg)
    importlib.import_module("fakepkg.beta")  # the import system sets pkg.beta = <module>
    assert pkg.beta() == 2  # ... and the function stays
    assert {"VALUE", "beta"} <= set(dir(pkg))
    with pytest.raises(AttributeError, match="module 'fakepkg' has no attribute 'gamma'"):
        _ = pkg.gamma


def test_attach_refuses_a_table_that_disagrees_with_all(fake_package: Path) -> None:
    _fake_package(fake_package, public='["VALUE", "beta"]', homes='{"VALUE": "alpha"}')
    with pytest.raises(
        ValueError, match=r"fakepkg: __all__ and the lazy table differ: no home for \['beta'\]"
    ):
        importlib.import_module("fakepkg")
