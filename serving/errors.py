"""Every failure a client sees, in OpenAI's error format, and never a stack trace.

``{"error": {"message", "type", "param", "code"}}`` is what the official clients parse into their
exception types (``BadRequestError``, ``AuthenticationError``, ``NotFoundError``...). Unexpected
exceptions are logged here, on the server, with their traceback; the client gets a generic 500.

Example:
    >>> ApiError.not_found_model("critic", ["reasoner"]).status
    404
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .schemas import ErrorBody, ErrorDetail

logger = logging.getLogger("reason4rec.serving")


class ApiError(Exception):
    """A request the server refuses, with the HTTP status and OpenAI error fields to send."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict[str, Any]:
        detail = ErrorDetail(message=self.message, type=self.type, param=self.param, code=self.code)
        return ErrorBody(error=detail).model_dump(mode="json")

    def content(self) -> bytes:
        return json.dumps(self.body()).encode()

    @classmethod
    def not_found_model(cls, model: str, served: Sequence[str]) -> ApiError:
        return cls(404, f"The model `{model}` does not exist. Served models: {', '.join(served)}.",
                   param="model", code="model_not_found")

    @classmethod
    def internal(cls) -> ApiError:
        return cls(500, "The server had an internal error while processing the request; it is "
                        "logged on the server.", type="server_error", code="internal_error")


def validation_error(errors: Sequence[Any]) -> ApiError:
    """A 400 from pydantic/FastAPI validation problems: malformed JSON or a bad field."""
    if not errors:
        return ApiError(400, "the request body is not valid", code="invalid_request")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return ApiError(400, f"the request body is not valid JSON: {first.get('msg', '')}".strip(),
                        code="invalid_json")
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ApiError(400, message, param=param, code="invalid_value")


async def send_error(send: Callable[[Any], Awaitable[None]], error: ApiError,
                     headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer with ``error`` from raw ASGI code (middleware runs before FastAPI's handlers)."""
    content = error.content()
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(content)).encode()), *headers]})
    await send({"type": "http.response.body", "body": content})
