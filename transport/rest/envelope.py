"""Qdrant's REST envelopes, and the one place domain errors become HTTP statuses."""

from __future__ import annotations

import contextvars
import math
import time
from typing import Any

import orjson
from aiohttp import web

from consensus import errors
from transport.rest.call import ApiCall

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.BadInput: 400,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Forbidden: 403,
    errors.Unauthorized: 401,
    errors.PreconditionFailed: 400,
    errors.ServiceUnavailable: 503,
    errors.Timeout: 408,
    errors.RateLimited: 429,
    errors.InternalError: 500,
}


def status_for(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_DUMPS_OPTIONS)


# An in-process caller (the gRPC API) that wants handler results as Python values sets a
# list here for the duration of its call; ``ok`` then hands the result over unencoded.
RESULT_SINK: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("result_sink", default=None)


def ok(result: Any, started: float, status: int = 200) -> web.Response:
    sink = RESULT_SINK.get()
    if sink is not None:
        sink.append(result)
        return web.Response(status=status)
    body = b'{"result":%s,"status":"ok","time":%s}' % (dumps(result), repr(time.perf_counter() - started).encode())
    return web.Response(body=body, status=status, content_type="application/json")


def error(message: str, started: float, status: int) -> web.Response:
    body = {"status": {"error": message}, "time": time.perf_counter() - started}
    return web.Response(body=dumps(body), status=status, content_type="application/json")


def plain_error(message: str, status: int) -> web.Response:
    """A bare text error, as Qdrant's API-key middleware answers (outside the JSON envelope)."""
    return web.Response(text=message, status=status, content_type="text/plain")


def started_at(request: web.Request) -> float:
    return request.get("started", time.perf_counter())


async def read_json(request: web.Request, required: bool = True) -> Any:
    """Decode a request body; empty bodies give None unless one is required.

    An in-process :class:`ApiCall` (the gRPC API) carries its body already decoded.
    """
    if isinstance(request, ApiCall):
        if request.body is None and required:
            raise errors.BadInput("Json deserialize error: EOF while parsing a value at line 1 column 0")
        return request.body
    raw = await request.read()
    if not raw.strip():
        if required:
            raise errors.BadInput("Json deserialize error: EOF while parsing a value at line 1 column 0")
        return None
    try:
        # orjson rejects NaN and Infinity, as Qdrant does, and is several times
        # faster than the standard library on vector-heavy bodies.
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.BadInput(f"Json deserialize error: {exc}") from None


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
