"""The table of gRPC methods: each names the REST handler that runs it and how to translate.

A :class:`Route` turns a request message into an in-process REST call
(path parameters, query parameters, JSON body), and the REST result into the
reply message. Services register their routes here; the server serves the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, NamedTuple

from transport.grpc_api import engine


class RestCall(NamedTuple):
    """The REST request a gRPC request stands for."""

    method: str
    path: str
    match_info: dict[str, str]
    query: dict[str, str]
    body: Any = None


def _fill_result(reply: Any, result: Any) -> None:
    field_ = reply.DESCRIPTOR.fields_by_name.get("result")
    if field_ is not None and result is not None:
        engine.fill_field(reply, field_, result)


@dataclass(frozen=True)
class Route:
    """One gRPC method served by a REST handler (or by ``direct`` when REST has no twin)."""

    service: str  # e.g. "qdrant.Points"
    name: str  # e.g. "Upsert"
    request: type
    reply: type
    handler: Callable[[Any], Awaitable[Any]] | None  # the aiohttp handler
    to_call: Callable[[Any], RestCall] | None
    to_reply: Callable[[Any, Any], None] = _fill_result  # (reply, REST result)
    direct: Callable[[Any, Any], Awaitable[Any]] | None = None  # (context, request) -> reply
    streaming: bool = False
    envelope: bool = True  # False: the handler's whole JSON body is the result
    read_only: bool = field(default=False)

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"


ROUTES: list[Route] = []


def route(service: str, name: str, request: type, reply: type, handler: Any, to_call: Any, **kw: Any) -> Route:
    """Register a method."""
    entry = Route(service, name, request, reply, handler, to_call, **kw)
    ROUTES.append(entry)
    return entry
