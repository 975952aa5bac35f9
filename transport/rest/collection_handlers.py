"""Collection and payload-index endpoints."""

from __future__ import annotations

from aiohttp import web

from consensus.errors import BadInput
from transport.rest.envelope import ok, read_json, started_at


def _catalog(request: web.Request):
    return request.app["ctx"].catalog


def _object_body(body: object) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadInput("Json deserialize error: expected a JSON object")
    return body


async def list_collections(request: web.Request) -> web.Response:
    names = _catalog(request).names()
    return ok({"collections": [{"name": name} for name in names]}, started_at(request))


async def get_collection(request: web.Request) -> web.Response:
    return ok(await _catalog(request).info_across_cluster(request.match_info["name"]), started_at(request))


async def collection_exists(request: web.Request) -> web.Response:
    return ok({"exists": _catalog(request).exists(request.match_info["name"])}, started_at(request))


async def create_collection(request: web.Request) -> web.Response:
    body = _object_body(await read_json(request, required=False))
    result = await _catalog(request).create_collection(request.match_info["name"], body)
    return ok(result, started_at(request))


async def update_collection(request: web.Request) -> web.Response:
    body = _object_body(await read_json(request, required=False))
    result = await _catalog(request).update_collection(request.match_info["name"], body)
    return ok(result, started_at(request))


async def delete_collection(request: web.Request) -> web.Response:
    result = await _catalog(request).delete_collection(request.match_info["name"])
    return ok(result, started_at(request))


async def create_vector_name(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadInput("Json deserialize error: expected a JSON object")
    await _catalog(request).create_vector_name(
        request.match_info["name"], request.match_info["vector_name"], body
    )
    return ok({"operation_id": 0, "status": "completed"}, started_at(request))


async def delete_vector_name(request: web.Request) -> web.Response:
    await _catalog(request).delete_vector_name(request.match_info["name"], request.match_info["vector_name"])
    return ok({"operation_id": 0, "status": "completed"}, started_at(request))


async def create_index(request: web.Request) -> web.Response:
    body = _object_body(await read_json(request))
    if "field_name" not in body:
        raise BadInput("Json deserialize error: missing field `field_name`")
    unknown = set(body) - {"field_name", "field_schema"}
    if unknown:
        raise BadInput(f"Json deserialize error: unknown field `{sorted(unknown)[0]}`, expected `field_name` or `field_schema`")
    await _catalog(request).create_payload_index(
        request.match_info["name"], body["field_name"], body.get("field_schema")
    )
    return ok({"operation_id": 0, "status": "completed"}, started_at(request))


async def delete_index(request: web.Request) -> web.Response:
    await _catalog(request).drop_payload_index(request.match_info["name"], request.match_info["field"])
    return ok({"operation_id": 0, "status": "completed"}, started_at(request))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/collections", list_collections)
    app.router.add_get("/collections/{name}", get_collection)
    app.router.add_put("/collections/{name}", create_collection)
    app.router.add_patch("/collections/{name}", update_collection)
    app.router.add_delete("/collections/{name}", delete_collection)
    app.router.add_get("/collections/{name}/exists", collection_exists)
    app.router.add_put("/collections/{name}/index", create_index)
    app.router.add_delete("/collections/{name}/index/{field}", delete_index)
    app.router.add_put("/collections/{name}/vectors/{vector_name}", create_vector_name)
    app.router.add_delete("/collections/{name}/vectors/{vector_name}", delete_vector_name)
