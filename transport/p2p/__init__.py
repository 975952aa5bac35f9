"""Internal node-to-node transport on the p2p port (gRPC, ``proto/internal.proto``).

``server.P2PServer`` serves two services and delegates every call to objects
the node provides (``server.ShardHost``, ``server.PeerHost``);
``client.PeerClient`` calls them on other peers. Data-plane values travel in
the byte format of ``shards/wire.py``.

Errors cross the wire as themselves. The server turns a :class:`DomainError`
into a gRPC status (table below) with the message as details and the class
name in the trailing metadata key :data:`ERROR_KIND_KEY`; the client raises
that same class again. A failure without that key is the transport's own:
unreachable peer, deadline, reset connection; the client reports those as
:class:`ServiceUnavailable`.

This module holds only that shared contract, so that the server and the
client agree on it without importing each other.
"""

from __future__ import annotations

import logging

import grpc

from consensus.errors import (
    AlreadyExists,
    BadInput,
    DomainError,
    Forbidden,
    InternalError,
    NotFound,
    PreconditionFailed,
    RateLimited,
    ServiceUnavailable,
    Timeout,
    Unauthorized,
)

logger = logging.getLogger(__name__)

ERROR_KIND_KEY = "x-domain-error"
"""Trailing metadata key naming the DomainError subclass a call failed with."""

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
"""Largest message either side sends or accepts (shard transfer batches are big)."""

STATUS_OF_ERROR: dict[type[DomainError], grpc.StatusCode] = {
    BadInput: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
    ServiceUnavailable: grpc.StatusCode.UNAVAILABLE,
    Timeout: grpc.StatusCode.DEADLINE_EXCEEDED,
}
"""gRPC code of each domain error; any other DomainError (or a bug) is INTERNAL."""

ERROR_CLASSES: dict[str, type[DomainError]] = {
    cls.__name__: cls
    for cls in (
        BadInput,
        NotFound,
        AlreadyExists,
        Forbidden,
        Unauthorized,
        PreconditionFailed,
        ServiceUnavailable,
        Timeout,
        RateLimited,
        InternalError,
    )
}
"""Error classes the client may rebuild, by the name the server sends."""


def status_of(error: DomainError) -> grpc.StatusCode:
    """The gRPC code a domain error is sent with (subclasses map like their base)."""
    for cls in type(error).__mro__:
        code = STATUS_OF_ERROR.get(cls)  # type: ignore[arg-type]
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def kind_of(error: DomainError) -> str:
    """The name sent in :data:`ERROR_KIND_KEY`: the nearest class the client knows."""
    for cls in type(error).__mro__:
        if cls.__name__ in ERROR_CLASSES and ERROR_CLASSES[cls.__name__] is cls:
            return cls.__name__
    return InternalError.__name__
