"""The suite collects in a checkout whose folder name is not a Python identifier."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from package_doctests import PACKAGE_ROOT, module_name


def test_module_names_are_the_package_names():
    assert module_name(PACKAGE_ROOT / "experts" / "backend.py") == "reason4rec.experts.backend"
    assert module_name(PACKAGE_ROOT / "data" / "__init__.py") == "reason4rec.data"
    assert module_name(PACKAGE_ROOT / "config.py") == "reason4rec.config"


def test_a_checkout_named_reason4rec_main_collects_its_docstring_examples(tmp_path: Path):
    """``git clone ... reason4rec-main``: pytest's own doctest collection would import
    ``reason4rec-main.experts.backend`` and fail on its relative imports."""
    checkout = tmp_path / "reason4rec-main"
    tops = [top for top in PACKAGE_ROOT.iterdir() if top.name not in {".venv", "artifacts", ".git"}]
    sources = [top for top in tops if top.suffix == ".py"]
    sources += [file for top in tops if top.is_dir() for file in top.rglob("*.py")]
    for source in sources:  # the package's own files only: never a walk through the virtual environment
        relative = source.relative_to(PACKAGE_ROOT)
        (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, checkout / relative)
    shutil.copy2(PACKAGE_ROOT / "pyproject.toml", checkout / "pyproject.toml")
    importable = tmp_path / "site"
    importable.mkdir()
    (importable / "reason4rec").symlink_to(checkout)  # the copy is the installed package, as in a clone's venv
    env = {**os.environ, "PYTHONPATH": str(importable)}
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             "experts/backend.py", "config.py", "data", "tests/fakes.py"],
                            cwd=checkout, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "experts/backend.py::reason4rec.experts.backend.LocalBackend.complete" in result.stdout
    assert "tests/fakes.py::tests.fakes.FakeBackend" in result.stdout
