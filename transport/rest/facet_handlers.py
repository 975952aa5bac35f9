"""``POST /collections/{name}/facet``: counts of points per value of a payload key."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shards.facet import FacetRequest, facet, facet_type
from transport.rest.envelope import ok, started_at
from transport.rest.point_handlers import _body, _collection, _read_options
from transport.rest.vector_parsing import parse_bool, parse_filter_field, parse_uint, require_field, type_error


def parse_facet(body: dict[str, Any]) -> FacetRequest:
    """``{key, filter?, limit (default 10, at least 1), exact?}``."""
    key = require_field(body, "key")
    if not isinstance(key, str):
        raise type_error(key, "a string", "key")
    return FacetRequest(
        key=key,
        filter=parse_filter_field(body.get("filter")),
        limit=parse_uint(body.get("limit"), "limit", default=10, minimum=1),
        exact=parse_bool(body.get("exact"), "exact", default=False),
    )


async def facet_handler(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    parsed = parse_facet(body)
    options = _read_options(request, body)
    catalog = request.app["ctx"].catalog
    meta = catalog.state.collections.get(collection.name)
    spec = meta.payload_indexes.get(parsed.key) if meta is not None else None
    data_type = facet_type(parsed.key, spec)
    hits = await facet(collection, parsed, data_type, options)
    return ok({"hits": [{"value": value, "count": count} for value, count in hits]}, started_at(request))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/collections/{name}/facet", facet_handler)
