"""Who may talk to the server and how much they may send.

The server binds loopback unless told otherwise, and refuses any other address without an API
key: a model server reachable from the network with no key is a free GPU (or CPU) for anyone.
Keys are compared in constant time. Request bodies are counted as they arrive and cut off at a
limit before anything parses them.

Example:
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    >>> bearer_matches("Bearer s3cret", "s3cret"), bearer_matches("Bearer guess", "s3cret")
    (True, False)
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..errors import Reason4RecError
from .errors import ApiError, logger, send_error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServeError(Reason4RecError, ValueError):
    """The server cannot start as asked (an unsafe bind, an empty key); the message says why."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); names are not resolved."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse a network-reachable bind without a key, and a key that is blank.

    Raises:
        ServeError: ``host`` is not loopback and no key is set, or the key is empty.
    """
    if api_key is not None and not api_key.strip():
        raise ServeError("the API key is empty; give a real key or none at all")
    if api_key is None and not is_loopback(host):
        raise ServeError(
            f"refusing to bind {host!r} without an API key: anyone who can reach it could use the "
            "model. Pass --api-key KEY (or set REASON4REC_API_KEY), or bind 127.0.0.1")


def bearer_matches(authorization: str | None, api_key: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <api_key>`` (constant-time compare)."""
    scheme, _, supplied = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        supplied = ""
    return hmac.compare_digest(supplied.strip().encode(), api_key.encode())


def require_key(authorization: str | None, api_key: str | None) -> None:
    """Raise a 401 :class:`ApiError` unless no key is configured or the header matches it."""
    if api_key is None:
        return
    if not authorization:
        raise ApiError(401, "missing API key: send the header `Authorization: Bearer <key>`",
                       type="authentication_error", code="invalid_api_key")
    if not bearer_matches(authorization, api_key):
        raise ApiError(401, "incorrect API key provided", type="authentication_error",
                       code="invalid_api_key")


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit`` bytes with a 413 before the application reads them.

    A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted as
    it arrives. The whole (small) body is then handed to the application unchanged.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the client to disconnect

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        error = ApiError(413, f"the request body is larger than {self.limit} bytes",
                         code="request_too_large")
        await send_error(send, error, [(b"connection", b"close")])


class AuthMiddleware:
    """Answer 401 to any ``/v1`` request without the right bearer key, before its body is read.

    ``/health`` stays open (load balancers and the CLI probe it without a key), as in vLLM.
    """

    def __init__(self, app: ASGIApp, api_key: str | None, prefix: str = "/v1") -> None:
        self.app, self.api_key, self.prefix = app, api_key, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.api_key is not None and scope["path"].startswith(self.prefix):
            header = dict(scope.get("headers") or []).get(b"authorization")
            try:
                require_key(header.decode("latin-1") if header is not None else None, self.api_key)
            except ApiError as error:
                await send_error(send, error, [(b"www-authenticate", b"Bearer")])
                return
        await self.app(scope, receive, send)


class CatchAllMiddleware:
    """Log an unexpected exception with its traceback here and send the client a generic 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            logger.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await send_error(send, ApiError.internal())
