"""Grouped search endpoints: ``/points/query/groups`` and ``/points/search/groups``.

The body is a ``QueryRequest`` (or a legacy ``SearchRequest``) plus ``group_by``,
``group_size``, ``limit`` (the number of groups) and ``with_lookup``. The search
itself is the ordinary one, run by :func:`shards.grouping.search_groups` with a
growing limit; see that module for the grouping rules.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from aiohttp import web

from consensus.errors import BadInput
from shards.collection import Collection, ReadOptions
from shards.grouping import Group, search_groups
from shards.types import PayloadSelector, PointId, VectorSelector, parse_point_id
from transport.rest.envelope import ok, started_at
from transport.rest.legacy_search import parse_search
from transport.rest.point_handlers import _body, _collection, _read_options, _schema, run_query
from transport.rest.query_parsing import parse_with_payload, parse_with_vector
from transport.rest.rendering import render_record, render_scored_point
from transport.rest.vector_parsing import format_error, parse_uint, require_object, type_error

DEFAULT_GROUP_SIZE = 3
DEFAULT_GROUPS = 10
_GROUP_FIELDS = ("group_by", "group_size", "limit", "with_lookup", "offset")
_FULL_PAYLOAD = PayloadSelector()


def _group_by(body: dict[str, Any]) -> str:
    raw = body.get("group_by")
    if raw is None:
        raise format_error("missing field `group_by`")
    if not isinstance(raw, str):
        raise type_error(raw, "a string", "group_by")
    if not raw:
        raise BadInput("Validation error in JSON body: [group_by: value must not be empty]")
    return raw


def _parse_lookup(raw: Any) -> Optional[tuple[str, PayloadSelector, VectorSelector]]:
    """``with_lookup``: a collection name, or ``{collection, with_payload (true), with_vectors (false)}``."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw, PayloadSelector(), VectorSelector(enabled=False)
    lookup = require_object(raw, "with_lookup")
    name = lookup.get("collection")
    if name is None:
        raise format_error("missing field `collection`", "with_lookup")
    if not isinstance(name, str):
        raise type_error(name, "a string", "with_lookup.collection")
    vectors = lookup.get("with_vectors")
    if vectors is None:
        vectors = lookup.get("with_vector")
    return (
        name,
        parse_with_payload(lookup.get("with_payload"), PayloadSelector(), "with_lookup.with_payload"),
        parse_with_vector(vectors, VectorSelector(enabled=False), "with_lookup.with_vectors"),
    )


def _as_point_id(value: Any) -> Optional[PointId]:
    if isinstance(value, int) and value < 0:
        return None
    try:
        return parse_point_id(value)
    except (BadInput, ValueError, TypeError):
        return None


async def _render_groups(
    request: web.Request,
    collection: Collection,
    groups: list[Group],
    payload: PayloadSelector,
    lookup: Optional[tuple[str, PayloadSelector, VectorSelector]],
) -> dict[str, Any]:
    rendered = []
    for group in groups:
        hits = []
        for hit in group.hits:
            shown = replace(hit, payload=payload.apply(hit.payload or {}))
            hits.append(render_scored_point(shown, collection.config))
        rendered.append({"id": group.id, "hits": hits})
    if lookup is not None:
        name, with_payload, with_vector = lookup
        other = request.app["ctx"].catalog.get(name)
        ids = {i: pid for i, g in enumerate(groups) if (pid := _as_point_id(g.id)) is not None}
        records = await other.retrieve(list(dict.fromkeys(ids.values())), with_payload, with_vector)
        by_id = {record.id: record for record in records}
        for i, out in enumerate(rendered):
            record = by_id.get(ids.get(i)) if i in ids else None
            out["lookup"] = render_record(record, other.config) if record is not None else None
    return {"groups": rendered}


async def query_groups(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    key = _group_by(body)
    group_size = parse_uint(body.get("group_size"), "group_size", default=DEFAULT_GROUP_SIZE, minimum=1)
    limit = parse_uint(body.get("limit"), "limit", default=DEFAULT_GROUPS, minimum=1)
    payload = parse_with_payload(body.get("with_payload"), PayloadSelector(enabled=False))
    lookup = _parse_lookup(body.get("with_lookup"))
    options = _read_options(request, body)
    base = {k: v for k, v in body.items() if k not in _GROUP_FIELDS}
    base["with_payload"] = True  # the grouping key is read from the hits; ``payload`` trims it afterwards

    async def fetch(n: int):
        return await run_query(collection, {**base, "limit": n}, options)

    groups = await search_groups(fetch, key, limit, group_size)
    return ok(await _render_groups(request, collection, groups, payload, lookup), started_at(request))


async def search_groups_legacy(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    key = _group_by(body)
    if body.get("group_size") is None:
        raise format_error("missing field `group_size`")
    group_size = parse_uint(body.get("group_size"), "group_size", default=DEFAULT_GROUP_SIZE, minimum=1)
    parsed = parse_search(body, _schema(collection))  # requires ``limit``: the number of groups
    lookup = _parse_lookup(body.get("with_lookup"))
    options: ReadOptions = _read_options(request, body)

    async def fetch(n: int):
        return await collection.search(replace(parsed, limit=n, offset=0, with_payload=_FULL_PAYLOAD), options)

    groups = await search_groups(fetch, key, parsed.limit, group_size)
    return ok(await _render_groups(request, collection, groups, parsed.with_payload, lookup), started_at(request))


def add_routes(app: web.Application) -> None:
    base = "/collections/{name}/points"
    app.router.add_post(base + "/query/groups", query_groups)
    app.router.add_post(base + "/search/groups", search_groups_legacy)
