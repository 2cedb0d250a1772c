"""Docstring examples collected under the package's real name (a pytest plugin, ``-p package_doctests``).

pytest's own ``--doctest-modules`` names a module after the folders above it, so in a checkout
called ``reason4rec-main`` the examples of ``experts/backend.py`` would run as
``reason4rec-main.experts.backend`` and their relative imports fail. Importing each file as
``reason4rec.<layer>.<module>`` (the installed package, which is this checkout) works in any folder
and runs the examples against the same module objects the tests use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.doctest import DoctestModule  # pytest exports no public name for it

PACKAGE = "reason4rec"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def module_name(path: Path) -> str:
    """``experts/backend.py`` -> ``reason4rec.experts.backend``; ``data/__init__.py`` -> ``reason4rec.data``."""
    parts = path.resolve().relative_to(PACKAGE_ROOT).with_suffix("").parts
    return ".".join([PACKAGE, *(part for part in parts if part != "__init__")])


class _ImportedFromPackage:
    path: Path

    def _getobj(self) -> ModuleType:
        return importlib.import_module(module_name(self.path))


class PackageDoctestModule(_ImportedFromPackage, DoctestModule):
    """The docstring examples of one package module."""


class PackageModule(_ImportedFromPackage, pytest.Module):
    """A package module named on the command line or in ``testpaths`` (``config.py``): pytest
    collects it as a test module too, and must import it under the same name."""


class PackageFolder(pytest.Package):
    """A layer folder: pytest imports its ``__init__.py`` before its items run (for a
    ``setup_module``, which the package does not use), so under the package's name as well."""

    def setup(self) -> None:
        importlib.import_module(module_name(self.path / "__init__.py"))


def _in_package(file_path: Path) -> bool:
    path = file_path.resolve()
    return (path.suffix == ".py" and path.is_relative_to(PACKAGE_ROOT) and not path.is_relative_to(TESTS)
            and path.name not in {"__main__.py", "conftest.py"})


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> DoctestModule | None:
    if _in_package(file_path):
        return PackageDoctestModule.from_parent(parent, path=file_path)
    if file_path.suffix == ".py" and file_path.resolve().is_relative_to(TESTS):  # the shared fakes' examples
        return DoctestModule.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> PackageModule | None:
    return PackageModule.from_parent(parent, path=module_path) if _in_package(module_path) else None


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> PackageFolder | None:
    init = path / "__init__.py"
    return PackageFolder.from_parent(parent, path=path) if init.is_file() and _in_package(init) else None
