"""The commands of the ``reason4rec`` CLI (typer), one module a family; :mod:`..cli` is their table.

:mod:`.options` holds the flags every command shares (``--config``, ``--home``, ``--model``,
``--backend``, ...) as annotated types, declared once, and their merging into the config.
"""

__all__ = ["assistant", "doctor", "memory", "models", "options", "research", "serving"]
