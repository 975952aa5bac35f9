"""Cluster admin endpoints: /cluster and a collection's shard placement and keys."""

from __future__ import annotations

from aiohttp import web

from consensus.errors import BadInput
from transport.rest.envelope import error, ok, read_json, started_at


def _admin(request: web.Request):
    return request.app["ctx"].cluster


async def cluster_status(request: web.Request) -> web.Response:
    return ok(_admin(request).status(), started_at(request))


async def remove_peer(request: web.Request) -> web.Response:
    admin = _admin(request)
    if not admin.enabled:
        return error("Distributed mode disabled", started_at(request), 405)
    raw = request.match_info["peer_id"]
    if not raw.isdigit():
        raise BadInput(f"Wrong input: peer id `{raw}` is not an unsigned integer")
    force = request.query.get("force", "false").lower() == "true"
    return ok(await admin.remove_peer(int(raw), force), started_at(request))


async def recover(request: web.Request) -> web.Response:
    admin = _admin(request)
    if not admin.enabled:
        return error("Distributed mode disabled", started_at(request), 405)
    return ok(await admin.recover(), started_at(request))


async def collection_cluster(request: web.Request) -> web.Response:
    return ok(await _admin(request).collection_info(request.match_info["name"]), started_at(request))


async def collection_cluster_update(request: web.Request) -> web.Response:
    body = await read_json(request)
    return ok(await _admin(request).apply_operation(request.match_info["name"], body), started_at(request))


async def create_shard_key(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadInput("Json deserialize error: expected a JSON object")
    return ok(await _admin(request).create_shard_key(request.match_info["name"], body), started_at(request))


async def drop_shard_key(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadInput("Json deserialize error: expected a JSON object")
    return ok(await _admin(request).drop_shard_key(request.match_info["name"], body), started_at(request))


async def list_shard_keys(request: web.Request) -> web.Response:
    return ok(_admin(request).shard_keys(request.match_info["name"]), started_at(request))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/cluster", cluster_status)
    app.router.add_delete("/cluster/peer/{peer_id}", remove_peer)
    app.router.add_post("/cluster/recover", recover)
    app.router.add_get("/collections/{name}/cluster", collection_cluster)
    app.router.add_post("/collections/{name}/cluster", collection_cluster_update)
    app.router.add_put("/collections/{name}/shards", create_shard_key)
    app.router.add_get("/collections/{name}/shards", list_shard_keys)
    app.router.add_post("/collections/{name}/shards/delete", drop_shard_key)
