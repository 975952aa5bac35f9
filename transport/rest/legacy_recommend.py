"""The pre-``query`` explore endpoints: ``/points/recommend``, ``/points/discover`` and their batches.

``RecommendRequest``: ``positive``, ``negative`` (point ids or vectors),
``lookup_from`` (read example ids from another collection),
``strategy``, ``using``, ``filter``, ``params``, ``limit`` (required), ``offset``,
``score_threshold``, ``with_payload``, ``with_vector``. ``DiscoverRequest``:
``target`` (without it, a context search), ``context`` (pairs), and the same
common fields. Answers are bare lists of scored points, as ``/points/search``;
scoring is :mod:`shards.recommend`'s.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from aiohttp import web

from shards.operations import SearchRequest
from shards.recommend import run_explore
from shards.types import DEFAULT_VECTOR, PayloadSelector, VectorSelector
from transport.rest.envelope import ok, started_at
from transport.rest.explore_parsing import parse_legacy_discover, parse_legacy_recommend, parse_lookup_from
from transport.rest.legacy_search import _render, _searches
from transport.rest.point_handlers import _body, _collection, _read_options, _schema
from transport.rest.query_parsing import (
    _optional_number,
    _parse_search_params,
    _with_vector_field,
    parse_with_payload,
    parse_with_vector,
)
from transport.rest.vector_parsing import (
    VectorSchema,
    format_error,
    parse_filter_field,
    parse_uint,
    require_object,
    type_error,
)


def _parse(body: Any, schema: VectorSchema, explore_parser, where: str = ""):
    body = require_object(body, where)

    def at(key: str) -> str:
        return f"{where}.{key}" if where else key

    lookup = parse_lookup_from(body.get("lookup_from"), at("lookup_from"))
    using = body.get("using")
    if using is None:
        using = DEFAULT_VECTOR
    elif not isinstance(using, str):
        raise type_error(using, "a string", at("using"))
    query = replace(explore_parser(body, using, schema, where), lookup=lookup)
    if body.get("limit") is None:
        raise format_error("missing field `limit`", where)
    hnsw_ef, exact = _parse_search_params(body.get("params"), at("params"))
    request = SearchRequest(
        vector_name=using,
        query=query,  # type: ignore[arg-type]
        limit=parse_uint(body.get("limit"), at("limit"), default=0, minimum=1),
        offset=parse_uint(body.get("offset"), at("offset"), default=0),
        filter=parse_filter_field(body.get("filter"), at("filter")),
        score_threshold=_optional_number(body.get("score_threshold"), at("score_threshold")),
        with_payload=parse_with_payload(body.get("with_payload"), PayloadSelector(enabled=False), at("with_payload")),
        with_vector=parse_with_vector(_with_vector_field(body), VectorSelector(enabled=False), at("with_vector")),
        hnsw_ef=hnsw_ef,
        exact=exact,
    )
    return request


def parse_recommend(body: Any, schema: VectorSchema, where: str = "") -> SearchRequest:
    """A ``RecommendRequest``; ``request.query`` is the :class:`~shards.recommend.ExploreQuery`."""
    return _parse(body, schema, parse_legacy_recommend, where)


def parse_discover(body: Any, schema: VectorSchema, where: str = "") -> SearchRequest:
    """A ``DiscoverRequest``; ``request.query`` is the :class:`~shards.recommend.ExploreQuery`."""
    return _parse(body, schema, parse_legacy_discover, where)


def _single(parse):
    async def handler(request: web.Request) -> web.Response:
        collection = _collection(request)
        body = await _body(request)
        parsed = parse(body, _schema(collection))
        hits = await run_explore(collection, parsed, parsed.query, _read_options(request, body))
        return ok(_render(collection, hits), started_at(request))

    return handler


def _batch(parse):
    async def handler(request: web.Request) -> web.Response:
        collection = _collection(request)
        body = await _body(request)
        schema = _schema(collection)
        parsed = [parse(raw, schema, f"searches[{i}]") for i, raw in enumerate(_searches(body))]
        raws = _searches(body)
        answers = await asyncio.gather(
            *(run_explore(collection, p, p.query, _read_options(request, raw)) for p, raw in zip(parsed, raws))
        )
        return ok([_render(collection, hits) for hits in answers], started_at(request))

    return handler


def add_routes(app: web.Application) -> None:
    base = "/collections/{name}/points"
    app.router.add_post(base + "/recommend", _single(parse_recommend))
    app.router.add_post(base + "/recommend/batch", _batch(parse_recommend))
    app.router.add_post(base + "/discover", _single(parse_discover))
    app.router.add_post(base + "/discover/batch", _batch(parse_discover))
