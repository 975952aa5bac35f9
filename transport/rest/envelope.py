"""Qdrant's REST envelopes, and the one place domain errors become HTTP statuses."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from aiohttp import web

from consensus import errors

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


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default)


def ok(result: Any, started: float, status: int = 200) -> web.Response:
    body = '{"result":%s,"status":"ok","time":%s}' % (dumps(result), repr(time.perf_counter() - started))
    return web.Response(body=body.encode(), status=status, content_type="application/json")


def error(message: str, started: float, status: int) -> web.Response:
    body = {"status": {"error": message}, "time": time.perf_counter() - started}
    return web.Response(text=dumps(body), status=status, content_type="application/json")


def started_at(request: web.Request) -> float:
    return request.get("started", time.perf_counter())


def reject_non_finite(value: Any) -> Any:
    """json.loads hook: Qdrant rejects NaN and Infinity in request bodies."""
    raise errors.BadInput(f"Json deserialize error: {value} is not a valid JSON number")


async def read_json(request: web.Request, required: bool = True) -> Any:
    """Decode a request body; empty bodies give None unless one is required."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise errors.BadInput("Json deserialize error: EOF while parsing a value at line 1 column 0")
        return None
    try:
        return json.loads(raw, parse_constant=reject_non_finite)
    except ValueError as exc:
        raise errors.BadInput(f"Json deserialize error: {exc}") from None
    except RecursionError:
        raise errors.BadInput("Json deserialize error: recursion limit exceeded") from None


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
