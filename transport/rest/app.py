"""The aiohttp application: middlewares (timing, auth, errors, metrics) and routes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from consensus.errors import DomainError, Unauthorized
from transport.rest import alias_handlers, cluster_handlers, collection_handlers, point_handlers, service_handlers
from transport.rest import facet_handlers, legacy_recommend, legacy_search
from transport.rest import group_handlers, matrix_handlers, snapshot_handlers
from transport.rest.auth import ApiKeyPolicy
from transport.rest.envelope import error, plain_error, status_for

logger = logging.getLogger(__name__)


@dataclass
class RestContext:
    """What handlers reach through ``request.app["ctx"]``."""

    catalog: Any  # node.catalog.CollectionCatalog
    metrics: Any  # node.metrics.NodeMetrics
    telemetry: Callable[[], dict[str, Any]]
    is_ready: Callable[[], bool]
    wake_optimizer: Callable[[], None]
    cluster: Any = None  # node.cluster_admin.ClusterAdmin
    snapshots_path: str = "./snapshots"


def _endpoint(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unknown"


@web.middleware
async def _edge_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
    """The single middleware (each extra one costs every request): CORS, auth, errors, metrics."""
    if request.app["cors"] and "Origin" in request.headers:
        return await _with_cors(request, handler)
    return await _serve(request, handler)


async def _serve(request: web.Request, handler: Callable) -> web.StreamResponse:
    started = time.perf_counter()
    request["started"] = started
    ctx: RestContext = request.app["ctx"]
    try:
        request.app["auth"].check(request.method, request.path, request.headers)
        response = await handler(request)
    except Unauthorized as exc:
        response = plain_error(exc.message, 401)
    except DomainError as exc:
        response = error(exc.message, started, status_for(exc))
        if getattr(exc, "retry_after", None) is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
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


_CORS_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


async def _with_cors(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Qdrant's ``service.enable_cors``: browsers on any origin may call the API.

    Preflights are answered here, before the key check, as Qdrant's CORS layer
    sits outside its auth layer (a preflight never carries the key).
    """
    origin = request.headers["Origin"]
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=200)
        response.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
        requested_headers = request.headers.get("Access-Control-Request-Headers")
        if requested_headers:
            response.headers["Access-Control-Allow-Headers"] = requested_headers
    else:
        response = await _serve(request, handler)
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers.add("Vary", "Origin")
    return response


def build_app(
    ctx: RestContext,
    api_key: str | None,
    read_only_api_key: str | None,
    max_body_mb: int = 32,
    enable_cors: bool = True,
) -> web.Application:
    app = web.Application(middlewares=[_edge_middleware], client_max_size=max_body_mb * 1024 * 1024)
    app["cors"] = enable_cors
    app["ctx"] = ctx
    app["auth"] = ApiKeyPolicy(api_key, read_only_api_key)
    # aiohttp tries routes in the order they were added: the hot ones go first.
    point_handlers.add_routes(app)
    legacy_search.add_routes(app)
    legacy_recommend.add_routes(app)
    group_handlers.add_routes(app)
    matrix_handlers.add_routes(app)
    facet_handlers.add_routes(app)
    snapshot_handlers.add_routes(app)
    alias_handlers.add_routes(app)  # before /collections/{name}: "aliases" is not a collection
    collection_handlers.add_routes(app)
    cluster_handlers.add_routes(app)
    service_handlers.add_routes(app)
    return app
