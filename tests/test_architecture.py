"""The code's shape a newcomer relies on: a front door (``__all__``) to every package, every name
in it real, and cli.py only the command table. Layers and cycles are import-linter's contracts
(``./run.sh lint``)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_has_a_front_door_whose_names_all_exist(package):
    module = importlib.import_module(package)
    public = getattr(module, "__all__", None)
    assert public, f"{package} has no __all__"
    for name in public:
        found = hasattr(module, name) or importlib.util.find_spec(f"{package}.{name}") is not None
        assert found, f"{package}.__all__ names {name!r}, which does not exist"
        exported = getattr(module, "_EXPORTS", {})
        if name in exported:  # a lazy name that is also a submodule's would be shadowed by it once imported
            assert importlib.util.find_spec(f"{package}.{name}") is None, f"{package}.{name} is a module and a name"


def test_cli_is_the_command_table():
    from reason4rec import cli

    registered = {command.name for command in cli.app.registered_commands}
    groups = {group.name for group in cli.app.registered_groups}
    assert registered == set(cli.COMMANDS) and groups == set(cli.GROUPS)
    defined = [line for line in (ROOT / "cli.py").read_text().splitlines() if line.startswith("def ")]
    assert defined == ["def main() -> None:"], "commands belong in commands/, cli.py maps names to them"
