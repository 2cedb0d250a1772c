"""A package's front door whose names load on first use.

Every package exports its public names from its ``__init__``; where the modules behind them are
heavy (torch, chromadb, scikit-learn), the ``__init__`` maps each name to its module and hands
this module's :func:`lazy_attributes` to Python as the package's ``__getattr__``, so importing the
package (``reason4rec --help``) stays cheap and the first use of a name imports its module.

Example:
    >>> __getattr__ = lazy_attributes(__name__, {"Memory": ".service"})  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_attributes(package: str, names: Mapping[str, str], modules: Iterable[str] = ()) -> Callable[[str], Any]:
    """``__getattr__`` for ``package``: each of ``names`` from its module (``".module"``, or
    ``".module:attribute"`` where the exported name differs), each of ``modules`` as a submodule."""
    submodules = frozenset(modules)

    def __getattr__(name: str) -> Any:
        if name in names:
            module, _, attribute = names[name].partition(":")
            return getattr(importlib.import_module(module, package), attribute or name)
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
