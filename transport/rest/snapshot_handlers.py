"""Collection snapshot endpoints: ``/collections/{name}/snapshots``."""

from __future__ import annotations

import os

from aiohttp import web

from consensus.errors import BadInput
from node.snapshots import SnapshotManager
from transport.rest.envelope import ok, read_json, started_at


def _manager(request: web.Request) -> SnapshotManager:
    ctx = request.app["ctx"]
    return SnapshotManager(ctx.catalog, ctx.snapshots_path)


async def create_snapshot(request: web.Request) -> web.Response:
    result = await _manager(request).create(request.match_info["name"])
    return ok(result, started_at(request))


async def list_snapshots(request: web.Request) -> web.Response:
    return ok(_manager(request).list(request.match_info["name"]), started_at(request))


async def download_snapshot(request: web.Request) -> web.StreamResponse:
    path = _manager(request).file_path(request.match_info["name"], request.match_info["snapshot"])
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{os.path.basename(path)}"',
        },
    )


async def delete_snapshot(request: web.Request) -> web.Response:
    result = _manager(request).delete(request.match_info["name"], request.match_info["snapshot"])
    return ok(result, started_at(request))


async def recover_snapshot(request: web.Request) -> web.Response:
    body = await read_json(request)
    result = await _manager(request).recover_from_location(request.match_info["name"], body)
    return ok(result, started_at(request))


async def upload_snapshot(request: web.Request) -> web.Response:
    manager = _manager(request)
    if not request.content_type.startswith("multipart/"):
        raise BadInput("Bad request: expected a multipart form with a `snapshot` file")
    checksum = request.query.get("checksum")
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
        result = await manager.recover_file(request.match_info["name"], tmp, checksum)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return ok(result, started_at(request))


def add_routes(app: web.Application) -> None:
    app.router.add_put("/collections/{name}/snapshots/recover", recover_snapshot)
    app.router.add_post("/collections/{name}/snapshots/upload", upload_snapshot)
    app.router.add_post("/collections/{name}/snapshots", create_snapshot)
    app.router.add_get("/collections/{name}/snapshots", list_snapshots)
    app.router.add_get("/collections/{name}/snapshots/{snapshot}", download_snapshot)
    app.router.add_delete("/collections/{name}/snapshots/{snapshot}", delete_snapshot)
