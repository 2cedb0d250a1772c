"""``reason4rec serve``: load the base model and adapters once, then serve them until stopped.

The bind is checked and the socket bound before anything slow happens (see :mod:`.security`):
an unsafe address or a port in use is refused in a second, as one line, not after the model
loaded. The socket is bound here, so ``--port 0`` works and the line ``reason4rec serve:
listening on http://HOST:PORT/v1`` on standard output says where (scripts and tests wait for
it). SIGTERM and SIGINT shut down gracefully: no new connections, requests in flight finish (up
to ``serve.graceful_timeout_s``), the batcher drains, and the process exits with status 0.

Example:
    >>> serve(load_config(), host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import errno
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..config import Config
from .security import ServeError, check_bind, is_loopback

READY = "reason4rec serve: listening on {url}"


def serve(config: Config, *, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          status: Callable[[str], None] | None = None) -> None:
    """Serve the configured adapters (``config.agent.adapters``, else the shipped ones).

    Raises:
        ServeError: a non-loopback ``host`` without ``api_key``, an empty key, or an address that
            cannot be bound (port in use, no such address); all before the model loads.
        AdapterError, Reason4RecError: the base model or adapters cannot be loaded.
    """
    import uvicorn

    from ..experts import adapter_dirs, local_backend
    from .app import create_app

    check_bind(host, api_key)
    sock = bind(host, port)
    try:
        dirs = adapter_dirs(config.agent.adapters, with_one_step=False)
        if status is not None:
            status(f"loading {config.base_model.name_or_path} with adapters {', '.join(dirs)}")
        backend = local_backend(config, dirs, batch_size=config.serve.batch_size, status=status)
    except BaseException:
        sock.close()
        raise
    app = create_app(backend, config.serve, api_key=api_key)
    settings = uvicorn.Config(app, host=host, port=port, log_config=_log_config(), access_log=False,
                              timeout_graceful_shutdown=config.serve.graceful_timeout_s or None,
                              server_header=False)
    server = uvicorn.Server(settings)
    # Listen before saying READY: a client that connects at once waits in the backlog until
    # uvicorn starts accepting, instead of being refused (seen on a loaded machine).
    sock.listen(settings.backlog)
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(READY.format(url=f"http://{shown}:{bound_port}/v1"), flush=True)
    if not is_loopback(host):
        print("reason4rec serve: reachable from the network; clients must send the API key",
              file=sys.stderr, flush=True)
    with _exit_cleanly():
        server.run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening), as uvicorn would bind it.

    Raises:
        ServeError: the port is in use, or the address is not one of this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is in use by another program: stop it, or choose "
                             "another --port (0 picks a free one)") from None
        raise ServeError(f"cannot bind {host}:{port}: {err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock


@contextmanager
def _exit_cleanly() -> Iterator[None]:
    """Let a shutdown signal end in exit status 0.

    uvicorn handles SIGTERM/SIGINT itself (graceful shutdown) and afterwards re-raises the signal
    against the handlers that were installed before it; with Python's defaults that turns a clean
    shutdown into death by SIGTERM or a KeyboardInterrupt. Handlers that ignore it keep it clean.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, plus our own logger (errors with tracebacks go to standard error)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["reason4rec"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
