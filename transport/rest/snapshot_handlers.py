"""Snapshot endpoints: collection (``/collections/{name}/snapshots``), shard
(``/collections/{name}/shards/{shard_id}/snapshots``) and full (``/snapshots``).

Handlers only parse and render; the work is in ``node.snapshots`` and ``node.full_snapshots``.
"""

from __future__ import annotations

import os
from typing import Awaitable, Callable

from aiohttp import web

from consensus.errors import BadInput
from node import snapshot_archive
from node.full_snapshots import FullSnapshots
from node.snapshots import SnapshotManager, parse_priority
from transport.rest.envelope import ok, read_json, started_at


def _manager(request: web.Request) -> SnapshotManager:
    ctx = request.app["ctx"]
    cluster = getattr(ctx, "cluster", None)
    creator = cluster.create_shard_key if cluster is not None else None
    return SnapshotManager(ctx.catalog, ctx.snapshots_path, creator)


def _shard_id(request: web.Request) -> int:
    raw = request.match_info["shard_id"]
    if not raw.isdigit():
        raise BadInput(f"Bad request: shard id `{raw}` is not a non-negative integer")
    return int(raw)


def _file(path: str) -> web.FileResponse:
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{os.path.basename(path)}"',
        },
    )


async def _recover_upload(
    request: web.Request, manager: SnapshotManager, recover: Callable[[str, str | None, str | None], Awaitable[bool]]
) -> web.Response:
    """Save the multipart ``snapshot`` field to a temporary file and recover from it."""
    if not request.content_type.startswith("multipart/"):
        raise BadInput("Bad request: expected a multipart form with a `snapshot` file")
    checksum = request.query.get("checksum")
    priority = parse_priority(request.query.get("priority"))
    reader = await request.multipart()
    tmp = manager.temp_upload_path()
    try:
        found = False
        while True:
            part = await reader.next()
            if part is None:
                break
            if getattr(part, "name", None) != "snapshot":
                continue
            with open(tmp, "wb") as handle:
                while True:
                    chunk = await part.read_chunk(1 << 16)
                    if not chunk:
                        break
                    handle.write(chunk)
            found = True
            break
        if not found:
            raise BadInput("Bad request: multipart form field `snapshot` is missing")
        result = await recover(tmp, checksum, priority)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return ok(result, started_at(request))


# ---------------------------------------------------------------------- collection snapshots


async def create_snapshot(request: web.Request) -> web.Response:
    result = await _manager(request).create(request.match_info["name"])
    return ok(result, started_at(request))


async def list_snapshots(request: web.Request) -> web.Response:
    return ok(_manager(request).list(request.match_info["name"]), started_at(request))


async def download_snapshot(request: web.Request) -> web.StreamResponse:
    return _file(_manager(request).file_path(request.match_info["name"], request.match_info["snapshot"]))


async def delete_snapshot(request: web.Request) -> web.Response:
    result = _manager(request).delete(request.match_info["name"], request.match_info["snapshot"])
    return ok(result, started_at(request))


async def recover_snapshot(request: web.Request) -> web.Response:
    body = await read_json(request)
    result = await _manager(request).recover_from_location(request.match_info["name"], body)
    return ok(result, started_at(request))


async def upload_snapshot(request: web.Request) -> web.Response:
    manager = _manager(request)
    name = request.match_info["name"]
    return await _recover_upload(
        request, manager, lambda path, checksum, priority: manager.recover_file(name, path, checksum, priority)
    )


# ---------------------------------------------------------------------- shard snapshots


async def create_shard_snapshot(request: web.Request) -> web.Response:
    result = await _manager(request).create_shard(request.match_info["name"], _shard_id(request))
    return ok(result, started_at(request))


async def list_shard_snapshots(request: web.Request) -> web.Response:
    result = _manager(request).list_shard(request.match_info["name"], _shard_id(request))
    return ok(result, started_at(request))


async def download_shard_snapshot(request: web.Request) -> web.StreamResponse:
    path = _manager(request).shard_file_path(
        request.match_info["name"], _shard_id(request), request.match_info["snapshot"]
    )
    return _file(path)


async def delete_shard_snapshot(request: web.Request) -> web.Response:
    result = _manager(request).delete_shard(
        request.match_info["name"], _shard_id(request), request.match_info["snapshot"]
    )
    return ok(result, started_at(request))


async def recover_shard_snapshot(request: web.Request) -> web.Response:
    body = await read_json(request)
    result = await _manager(request).recover_shard_from_location(request.match_info["name"], _shard_id(request), body)
    return ok(result, started_at(request))


async def upload_shard_snapshot(request: web.Request) -> web.Response:
    manager = _manager(request)
    name, shard_id = request.match_info["name"], _shard_id(request)
    return await _recover_upload(
        request,
        manager,
        lambda path, checksum, priority: manager.recover_shard_file(name, shard_id, path, checksum, priority),
    )


async def stream_shard_snapshot(request: web.Request) -> web.StreamResponse:
    """``GET .../shards/{id}/snapshot``: a fresh shard snapshot, streamed and not kept."""
    manager = _manager(request)
    shard_id = _shard_id(request)
    tmp = snapshot_archive.temp_file(manager.root)
    try:
        name = await manager.write_shard_archive(request.match_info["name"], shard_id, tmp)
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{name}-shard-{shard_id}.snapshot"',
            }
        )
        response.content_length = os.path.getsize(tmp)
        await response.prepare(request)
        with open(tmp, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------- full snapshots


def _full(request: web.Request) -> FullSnapshots:
    return FullSnapshots(_manager(request))


async def create_full_snapshot(request: web.Request) -> web.Response:
    return ok(await _full(request).create(), started_at(request))


async def list_full_snapshots(request: web.Request) -> web.Response:
    return ok(_full(request).list(), started_at(request))


async def download_full_snapshot(request: web.Request) -> web.StreamResponse:
    return _file(_full(request).file_path(request.match_info["snapshot"]))


async def delete_full_snapshot(request: web.Request) -> web.Response:
    return ok(_full(request).delete(request.match_info["snapshot"]), started_at(request))


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_put("/collections/{name}/snapshots/recover", recover_snapshot)
    router.add_post("/collections/{name}/snapshots/upload", upload_snapshot)
    router.add_post("/collections/{name}/snapshots", create_snapshot)
    router.add_get("/collections/{name}/snapshots", list_snapshots)
    router.add_get("/collections/{name}/snapshots/{snapshot}", download_snapshot)
    router.add_delete("/collections/{name}/snapshots/{snapshot}", delete_snapshot)
    shard = "/collections/{name}/shards/{shard_id}"
    router.add_put(f"{shard}/snapshots/recover", recover_shard_snapshot)
    router.add_post(f"{shard}/snapshots/upload", upload_shard_snapshot)
    router.add_post(f"{shard}/snapshots", create_shard_snapshot)
    router.add_get(f"{shard}/snapshots", list_shard_snapshots)
    router.add_get(f"{shard}/snapshots/{{snapshot}}", download_shard_snapshot)
    router.add_delete(f"{shard}/snapshots/{{snapshot}}", delete_shard_snapshot)
    router.add_get(f"{shard}/snapshot", stream_shard_snapshot)
    router.add_post("/snapshots", create_full_snapshot)
    router.add_get("/snapshots", list_full_snapshots)
    router.add_get("/snapshots/{snapshot}", download_full_snapshot)
    router.add_delete("/snapshots/{snapshot}", delete_full_snapshot)
