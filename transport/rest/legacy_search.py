"""The pre-``query`` search endpoints: ``/points/search``, ``/points/search/batch``, and ``/points/query/batch``.

``/points/search`` takes Qdrant's ``SearchRequest``: ``vector`` is a plain dense
vector (the unnamed one), ``{"name", "vector"}`` for a named dense vector, or
``{"name", "vector": {"indices", "values"}}`` for a sparse one. Answers are the
same scored points ``/points/query`` renders, as a bare list.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from shards.collection import Collection
from shards.operations import SearchRequest
from shards.types import DEFAULT_VECTOR, PayloadSelector, ScoredPoint, VectorSelector
from transport.rest.envelope import ok, started_at
from node import strict_mode
from transport.rest.point_handlers import (
    _body,
    _collection,
    _read_options,
    _schema,
    run_query,
    strict_query,
    strict_read,
)
from transport.rest.query_parsing import (
    _optional_number,
    _parse_search_params,
    _with_vector_field,
    parse_with_payload,
    parse_with_vector,
)
from transport.rest.rendering import render_scored_point
from transport.rest.vector_parsing import (
    VectorSchema,
    format_error,
    inference_error,
    is_inference_object,
    parse_filter_field,
    parse_uint,
    require_object,
    type_error,
    parse_vector_value,
)


def _no_variant(where: str) -> Exception:
    return format_error(
        "data did not match any variant of untagged enum NamedVectorStruct: expected a vector, "
        "{\"name\", \"vector\"} or {\"name\", \"vector\": {\"indices\", \"values\"}}",
        where,
    )


def _parse_named_vector(raw: Any, schema: VectorSchema, where: str) -> tuple[str, Any]:
    """``vector`` of a SearchRequest: ``(vector name, parsed query vector)``."""
    if raw is None:
        raise format_error("missing field `vector`", where.rsplit(".", 1)[0] if "." in where else "")
    if isinstance(raw, list):
        return DEFAULT_VECTOR, parse_vector_value(raw, DEFAULT_VECTOR, schema, where, dense_as_single_multi=True)
    if not isinstance(raw, dict):
        raise _no_variant(where)
    if is_inference_object(raw):
        raise inference_error()
    name, value = raw.get("name"), raw.get("vector")
    if not isinstance(name, str) or value is None:
        raise _no_variant(where)
    if isinstance(value, dict):
        if "indices" not in value and "values" not in value:
            raise _no_variant(f"{where}.vector")
    elif not isinstance(value, list):
        raise _no_variant(f"{where}.vector")
    return name, parse_vector_value(value, name, schema, f"{where}.vector", dense_as_single_multi=True)


def parse_search(body: Any, schema: VectorSchema, where: str = "") -> SearchRequest:
    """One ``SearchRequest`` body; ``limit`` (alias ``top``) is required, as in Qdrant."""
    body = require_object(body, where)

    def at(key: str) -> str:
        return f"{where}.{key}" if where else key

    name, query = _parse_named_vector(body.get("vector"), schema, at("vector"))
    raw_limit = body.get("limit")
    if raw_limit is None:
        raw_limit = body.get("top")
    if raw_limit is None:
        raise format_error("missing field `limit`", where)
    hnsw_ef, exact = _parse_search_params(body.get("params"), at("params"))
    return SearchRequest(
        vector_name=name,
        query=query,
        limit=parse_uint(raw_limit, at("limit"), default=0, minimum=1),
        offset=parse_uint(body.get("offset"), at("offset"), default=0),
        filter=parse_filter_field(body.get("filter"), at("filter")),
        score_threshold=_optional_number(body.get("score_threshold"), at("score_threshold")),
        with_payload=parse_with_payload(body.get("with_payload"), PayloadSelector(enabled=False), at("with_payload")),
        with_vector=parse_with_vector(_with_vector_field(body), VectorSelector(enabled=False), at("with_vector")),
        hnsw_ef=hnsw_ef,
        exact=exact,
    )


def _searches(body: dict[str, Any]) -> list[Any]:
    raw = body.get("searches")
    if raw is None:
        raise format_error("missing field `searches`")
    if not isinstance(raw, list):
        raise type_error(raw, "a sequence", "searches")
    return raw


def _render(collection: Collection, hits: list[ScoredPoint]) -> list[dict[str, Any]]:
    return [render_scored_point(hit, collection.config) for hit in hits]


async def search(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    parsed = parse_search(body, _schema(collection))
    strict_read(request, collection, limit=parsed.limit, filters=[parsed.filter], params=body.get("params"))
    hits = await collection.search(parsed, _read_options(request, body))
    return ok(_render(collection, hits), started_at(request))


async def search_batch(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    schema = _schema(collection)
    jobs = []
    searches = _searches(body)
    strict_mode.check_batch_size(collection.config, len(searches))
    for i, raw in enumerate(searches):
        parsed = parse_search(raw, schema, f"searches[{i}]")
        strict_read(request, collection, limit=parsed.limit, filters=[parsed.filter], params=raw.get("params"))
        jobs.append(collection.search(parsed, _read_options(request, raw)))
    answers = await asyncio.gather(*jobs)
    return ok([_render(collection, hits) for hits in answers], started_at(request))


async def query_batch(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    searches = _searches(body)
    for i, raw in enumerate(searches):
        require_object(raw, f"searches[{i}]")
    strict_mode.check_batch_size(collection.config, len(searches))
    answers = []
    for raw in searches:  # in order: the first invalid request gives the error, as for a single query

        def check(parsed: Any, raw: Any = raw) -> None:
            strict_query(request, collection, raw, parsed)

        answers.append(await run_query(collection, raw, _read_options(request, raw), check=check))
    return ok([{"points": _render(collection, hits)} for hits in answers], started_at(request))


def add_routes(app: web.Application) -> None:
    base = "/collections/{name}/points"
    app.router.add_post(base + "/search", search)
    app.router.add_post(base + "/search/batch", search_batch)
    app.router.add_post(base + "/query/batch", query_batch)
