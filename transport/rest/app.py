"""The aiohttp application: middlewares (timing, auth, errors, metrics) and routes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from consensus.errors import DomainError
from transport.rest import collection_handlers, point_handlers, service_handlers
from transport.rest.auth import ApiKeyPolicy
from transport.rest.envelope import error, status_for

logger = logging.getLogger(__name__)


@dataclass
class RestContext:
    """What handlers reach through ``request.app["ctx"]``."""

    catalog: Any  # node.catalog.CollectionCatalog
    metrics: Any  # node.metrics.NodeMetrics
    telemetry: Callable[[], dict[str, Any]]
    is_ready: Callable[[], bool]
    wake_optimizer: Callable[[], None]


def _endpoint(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unknown"


@web.middleware
async def _edge_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
    started = time.perf_counter()
    request["started"] = started
    ctx: RestContext = request.app["ctx"]
    try:
        request.app["auth"].check(request.method, request.path, request.headers)
        response = await handler(request)
    except DomainError as exc:
        response = error(exc.message, started, status_for(exc))
    except web.HTTPException as exc:
        if exc.status == 404 and request.match_info.route.resource is None:
            response = error(f"Not found: {request.path}", started, 404)
        elif exc.status == 405:
            response = error(f"Method {request.method} not allowed for {request.path}", started, 405)
        elif exc.status == 413:
            response = error("Payload too large", started, 413)
        else:
            raise
    except Exception:
        logger.exception("unhandled error serving %s %s", request.method, request.path)
        response = error("Service internal error: unexpected failure", started, 500)
    ctx.metrics.observe_rest(request.method, _endpoint(request), response.status, time.perf_counter() - started)
    return response


def build_app(ctx: RestContext, api_key: str | None, read_only_api_key: str | None, max_body_mb: int = 32) -> web.Application:
    app = web.Application(middlewares=[_edge_middleware], client_max_size=max_body_mb * 1024 * 1024)
    app["ctx"] = ctx
    app["auth"] = ApiKeyPolicy(api_key, read_only_api_key)
    service_handlers.add_routes(app)
    collection_handlers.add_routes(app)
    point_handlers.add_routes(app)
    return app
