"""``qdrant.Qdrant/HealthCheck`` and the standard ``grpc.health.v1.Health`` service."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from node.version import VERSION
from proto.api import health_pb2
from transport.grpc_api import pb
from transport.grpc_api.routes import route


async def _health_check(ctx: Any, request: Any) -> Any:
    return pb.HealthCheckReply(title="qdrant - vector search engine", version=VERSION)


def _status(ctx: Any) -> int:
    serving = health_pb2.HealthCheckResponse.SERVING
    return serving if ctx.is_ready() else health_pb2.HealthCheckResponse.NOT_SERVING


async def _check(ctx: Any, request: Any) -> Any:
    return health_pb2.HealthCheckResponse(status=_status(ctx))


async def _watch(ctx: Any, request: Any) -> AsyncIterator[Any]:
    """Sends the status, then each change (polled), until the client goes away."""
    last = None
    while True:
        status = _status(ctx)
        if status != last:
            yield health_pb2.HealthCheckResponse(status=status)
            last = status
        await asyncio.sleep(1.0)


route("qdrant.Qdrant", "HealthCheck", pb.HealthCheckRequest, pb.HealthCheckReply, None, None, direct=_health_check)
route("grpc.health.v1.Health", "Check", health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse,
      None, None, direct=_check)
route("grpc.health.v1.Health", "Watch", health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse,
      None, None, direct=_watch, streaming=True)
