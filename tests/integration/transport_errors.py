"""Error assertions that hold over both client transports.

Over REST the client raises ``UnexpectedResponse`` with the HTTP status; over
gRPC it raises ``grpc.RpcError`` with the status code the server maps the
same domain error to. ``expect_error(400, "fragment")`` accepts either.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Optional

import grpc
from qdrant_client.http.exceptions import UnexpectedResponse

GRPC_CODE_BY_STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ALREADY_EXISTS,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
}


@dataclass
class CaughtError:
    """What the block raised, in transport-neutral terms (filled when the block exits)."""

    status: Optional[int] = None  # the HTTP status, or the one the gRPC code stands for
    message: str = ""
    transport: str = ""


def _status_of(code: grpc.StatusCode) -> Optional[int]:
    for status, mapped in GRPC_CODE_BY_STATUS.items():
        if mapped == code:
            return status
    return None


@contextlib.contextmanager
def expect_error(status: int, fragment: str = "") -> Iterator[CaughtError]:
    """The block must fail with HTTP ``status`` (REST) or its gRPC code, with ``fragment`` in the message."""
    caught = CaughtError()
    try:
        yield caught
    except UnexpectedResponse as exc:
        caught.status, caught.transport = exc.status_code, "rest"
        caught.message = exc.content.decode(errors="replace") if isinstance(exc.content, bytes) else str(exc)
        assert exc.status_code == status, f"expected HTTP {status}, got {exc.status_code}: {caught.message}"
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        caught.status, caught.transport = _status_of(code), "grpc"
        caught.message = exc.details() or ""  # type: ignore[attr-defined]
        expected = GRPC_CODE_BY_STATUS[status]
        assert code == expected, f"expected {expected} (HTTP {status}), got {code}: {caught.message}"
    else:
        raise AssertionError(f"expected an error with status {status}, but the call succeeded")
    assert fragment in caught.message, f"{fragment!r} not in error message {caught.message!r}"
