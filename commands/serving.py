"""``serve``: the experts behind an OpenAI-compatible API (registered by :mod:`..cli`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..app import make_console, models
from .options import (
    AdaptersOption,
    BackendOption,
    ConfigOption,
    DeviceOption,
    DtypeOption,
    FourBitOption,
    HomeOption,
    ModelOption,
    flags_config,
)


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0 = any free port).")] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="REASON4REC_API_KEY",
                     help="Bearer key clients must send (else $REASON4REC_API_KEY).", show_default=False),
    ] = None,
    adapters: AdaptersOption = None,
    config_file: ConfigOption = None,
    home: HomeOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
    four_bit: FourBitOption = None,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Requests for one adapter per batched generation (serve.batch_size).",
                     show_default=False),
    ] = None,
    backend: BackendOption = None,
) -> None:
    """Serve the experts behind an OpenAI-compatible API (the model name picks the adapter).

    Limits (request bytes, max_tokens, prompt tokens, batching, queue) are the [serve] section of
    the config file, or REASON4REC_SERVE__<FIELD>; see docs/serving.md.
    """
    config = flags_config(config_file, home=home, model=model, device=device, dtype=dtype, four_bit=four_bit,
                     backend=backend)
    if adapters:
        config.agent.adapters = adapters
    if batch_size is not None:
        config.serve.batch_size = batch_size
    models.serve(config, host=host, port=port, api_key=api_key, status_console=make_console(stderr=True))
