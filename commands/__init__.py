"""The command groups of the ``reason4rec`` CLI (typer); :mod:`..cli` maps them onto one app."""
