"""Service endpoints: root, health probes, metrics, telemetry."""

from __future__ import annotations

from aiohttp import web

from node.version import VERSION
from transport.rest.envelope import ok, started_at


async def root(request: web.Request) -> web.Response:
    return web.json_response({"title": "qdrant - vector search engine", "version": VERSION, "commit": None})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="healthz check passed", content_type="text/plain")


async def readyz(request: web.Request) -> web.Response:
    if request.app["ctx"].is_ready():
        return web.Response(text="all shards are ready", content_type="text/plain")
    return web.Response(text="some shards are not ready", status=503, content_type="text/plain")


async def metrics(request: web.Request) -> web.Response:
    body = request.app["ctx"].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def telemetry(request: web.Request) -> web.Response:
    return ok(request.app["ctx"].telemetry(), started_at(request))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/telemetry", telemetry)
