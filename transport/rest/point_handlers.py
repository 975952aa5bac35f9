"""Point endpoints: writes, retrieval, scroll, count and query."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from consensus.errors import BadInput, NotFound
from dataclasses import replace

from node import strict_mode
from shards.collection import Collection, ReadOptions
from shards.operations import ScrollRequest, UpdateResult, UpdateVectors, UpsertPoints
from shards import query_plan
from shards.recommend import ExploreQuery, run_explore
from shards.types import PayloadSelector, Record, ScoredPoint, VectorSelector, parse_point_id
from transport.rest import point_parsing as parsing
from transport.rest.envelope import ok, read_json, started_at
from transport.rest.rendering import render_record, render_scored_point, render_update


def _collection(request: web.Request) -> Collection:
    return request.app["ctx"].catalog.get(request.match_info["name"])


def _schema(collection: Collection) -> parsing.VectorSchema:
    return parsing.VectorSchema(dense=collection.dense_params, sparse=collection.sparse_params)


async def _body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadInput("Json deserialize error: expected a JSON object")
    return body


def _read_options(request: web.Request, body: Any) -> ReadOptions:
    """``?consistency=`` (an integer, ``all``, ``majority`` or ``quorum``) and the body's ``shard_key``."""
    raw = request.query.get("consistency")
    consistency: Any = None
    if raw is not None:
        if raw in ("all", "majority", "quorum"):
            consistency = raw
        elif raw.isascii() and raw.isdigit() and int(raw) > 0:
            consistency = int(raw)
        else:
            raise BadInput(
                f"Bad request: invalid consistency `{raw}`: expected a positive integer, all, majority or quorum"
            )
    return ReadOptions(consistency=consistency, shard_keys=parsing.parse_shard_key_selector(body))


def _timeout(request: web.Request) -> int | None:
    raw = request.query.get("timeout")
    return int(raw) if raw is not None and raw.isascii() and raw.isdigit() else None


def _raw_params(params: Any) -> dict[str, Any]:
    """``hnsw_ef``, ``exact`` and ``oversampling`` of a (validated) raw ``params`` object."""
    if not isinstance(params, dict):
        return {}
    quantization = params.get("quantization")
    oversampling = quantization.get("oversampling") if isinstance(quantization, dict) else None
    found = {"hnsw_ef": params.get("hnsw_ef"), "exact": params.get("exact"), "oversampling": oversampling}
    return {k: v for k, v in found.items() if isinstance(v, (int, float)) and (k == "exact") == isinstance(v, bool)}


def strict_read(
    request: web.Request, collection: Collection, *, limit: int | None = None, filters=(), params: Any = None
) -> None:
    """Strict mode of a read: the read rate limit, then the request's limits and filters."""
    config = collection.config
    if strict_mode.active(config) is None:
        return
    catalog = request.app["ctx"].catalog
    catalog.rate_limiters.check(collection.name, config, "read")
    strict_mode.check_query(
        config,
        limit=limit,
        timeout=_timeout(request),
        filters=filters,
        indexed_fields=catalog.indexed_fields(collection.name),
        **_raw_params(params),
    )


async def strict_write(request: web.Request, collection: Collection, op: Any) -> None:
    """Strict mode of one update operation: write rate limit, batch size, collection size, filter."""
    config = collection.config
    strict = strict_mode.active(config)
    if strict is None:
        return
    catalog = request.app["ctx"].catalog
    sized = isinstance(op, (UpsertPoints, UpdateVectors))
    catalog.rate_limiters.check(collection.name, config, "write", len(op.points) if sized else 1)
    strict_mode.check_timeout(config, _timeout(request))
    if sized:
        points = None
        if strict.get("max_points_count") is not None or strict.get("max_collection_vector_size_bytes") is not None:
            points = (await catalog.info_across_cluster(collection.name))["points_count"]
        strict_mode.check_upsert(
            config,
            len(op.points),
            points_count=points if isinstance(op, UpsertPoints) else None,
            vector_bytes=None if points is None else points * strict_mode.vector_bytes_per_point(config),
            name="upsert limit" if isinstance(op, UpsertPoints) else "update limit",
        )
    selector = getattr(op, "selector", None)
    if selector is not None and selector.filter is not None:
        strict_mode.check_filter(config, selector.filter, catalog.indexed_fields(collection.name), write=True)


def _plan_filters(plan: Any):
    yield plan.request.filter
    for prefetch in getattr(plan, "prefetches", ()) or ():
        yield from _plan_filters(prefetch)


def _raw_stages(body: Any):
    """The query object and its prefetches, at any depth (raw, already validated)."""
    if not isinstance(body, dict):
        return
    yield body
    prefetch = body.get("prefetch")
    for stage in prefetch if isinstance(prefetch, list) else [prefetch]:
        yield from _raw_stages(stage)


def strict_query(request: web.Request, collection: Collection, body: Any, parsed: Any) -> None:
    if strict_mode.active(collection.config) is None:
        return
    stages = list(_raw_stages(body))
    limits = [s.get("limit") for s in stages if isinstance(s.get("limit"), int)] or [10]
    strict_read(request, collection, limit=max(limits), filters=list(_plan_filters(parsed)), params=None)
    for stage in stages:
        strict_mode.check_query(collection.config, **_raw_params(stage.get("params")))


async def _write(request: web.Request, parse) -> web.Response:
    collection = _collection(request)
    options = parsing.parse_write_params(request.query)
    body = await _body(request)
    op = parse(body, _schema(collection))
    await strict_write(request, collection, op)
    options = replace(options, shard_keys=parsing.parse_shard_key_selector(body))
    result = await collection.update(op, options)
    request.app["ctx"].wake_optimizer()
    return ok(render_update(result), started_at(request))


def _with_schema(parse):
    return lambda body, schema: parse(body)


async def upsert(request: web.Request) -> web.Response:
    return await _write(request, parsing.parse_upsert)


async def delete_points(request: web.Request) -> web.Response:
    return await _write(request, _with_schema(parsing.parse_delete_points))


async def update_vectors(request: web.Request) -> web.Response:
    return await _write(request, parsing.parse_update_vectors)


async def delete_vectors(request: web.Request) -> web.Response:
    return await _write(request, parsing.parse_delete_vectors)  # checks the names against the schema


async def set_payload(request: web.Request) -> web.Response:
    return await _write(request, _with_schema(parsing.parse_set_payload))


async def overwrite_payload(request: web.Request) -> web.Response:
    return await _write(request, _with_schema(parsing.parse_overwrite_payload))


async def delete_payload(request: web.Request) -> web.Response:
    return await _write(request, _with_schema(parsing.parse_delete_payload))


async def clear_payload(request: web.Request) -> web.Response:
    return await _write(request, _with_schema(parsing.parse_clear_payload))


async def update_batch(request: web.Request) -> web.Response:
    collection = _collection(request)
    options = parsing.parse_write_params(request.query)
    keyed = parsing.parse_update_batch_keyed(await _body(request), _schema(collection))
    results: list[UpdateResult] = []
    for op, _ in keyed:
        await strict_write(request, collection, op)
    for op, shard_keys in keyed:
        results.append(await collection.update(op, replace(options, shard_keys=shard_keys)))
    request.app["ctx"].wake_optimizer()
    return ok([render_update(result) for result in results], started_at(request))


def _render_records(collection: Collection, records: list[Record]) -> list[dict[str, Any]]:
    return [render_record(record, collection.config) for record in records]


async def retrieve(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    ids, with_payload, with_vector = parsing.parse_retrieve(body)
    strict_read(request, collection, limit=len(ids))
    records = await collection.retrieve(ids, with_payload, with_vector, _read_options(request, body))
    return ok(_render_records(collection, records), started_at(request))


async def get_point(request: web.Request) -> web.Response:
    collection = _collection(request)
    raw = request.match_info["id"]
    try:
        point_id = parse_point_id(int(raw) if raw.isascii() and raw.isdigit() else raw)
    except BadInput:
        raise BadInput(f'Wrong input: Can not recognize "{raw}" as point id') from None
    strict_read(request, collection)
    records = await collection.retrieve(
        [point_id], PayloadSelector(), VectorSelector(enabled=True), _read_options(request, None)
    )
    if not records:
        raise NotFound(f"Not found: Point with id {point_id} does not exists!")
    return ok(render_record(records[0], collection.config), started_at(request))


async def scroll(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await read_json(request, required=False) or {}
    if not isinstance(body, dict):
        raise BadInput("Json deserialize error: expected a JSON object")
    scroll_request = parsing.parse_scroll(body)
    strict_read(request, collection, limit=scroll_request.limit, filters=[scroll_request.filter])
    records, next_offset = await collection.scroll(scroll_request, _read_options(request, body))
    return ok(
        {"points": _render_records(collection, records), "next_page_offset": next_offset},
        started_at(request),
    )


async def count(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await read_json(request, required=False) or {}
    if not isinstance(body, dict):
        raise BadInput("Json deserialize error: expected a JSON object")
    count_request = parsing.parse_count(body)
    strict_read(request, collection, filters=[count_request.filter])
    total = await collection.count(count_request, _read_options(request, body))
    return ok({"count": total}, started_at(request))


async def query(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    options = _read_options(request, body)
    hits = await run_query(collection, body, options, check=lambda parsed: strict_query(request, collection, body, parsed))
    points = [render_scored_point(hit, collection.config) for hit in hits]
    return ok({"points": points}, started_at(request))


async def run_query(collection: Collection, body: Any, options: ReadOptions, check=None) -> list[ScoredPoint]:
    """Parse and execute one QueryRequest body (shared by ``/points/query`` and ``/points/query/batch``).

    ``check``, when given, is called with the parsed request before it runs (strict mode).
    """
    parsed = parsing.parse_query(body, _schema(collection))
    if check is not None:
        check(parsed)
    if parsed.is_multi_stage:  # prefetch and/or fusion
        return await query_plan.run_query(collection, parsed.plan(), options)
    if isinstance(parsed.request.query, ExploreQuery):  # recommend, discover, context
        return await run_explore(collection, parsed.request, parsed.request.query, options)
    if parsed.is_scroll:
        return await _scroll_as_hits(collection, parsed.request, options)
    if parsed.by_id is not None:
        return await collection.search_by_id(parsed.request, parsed.by_id, options)
    return await collection.search(parsed.request, options)


async def _scroll_as_hits(collection: Collection, request, options: ReadOptions) -> list[ScoredPoint]:
    """A query without ``query``: points in id order, each with score 0, as Qdrant answers."""
    scroll = ScrollRequest(
        filter=request.filter,
        limit=request.offset + request.limit,
        with_payload=request.with_payload,
        with_vector=request.with_vector,
    )
    records, _ = await collection.scroll(scroll, options)
    return [
        ScoredPoint(id=r.id, version=r.version, score=0.0, payload=r.payload, vectors=r.vectors)
        for r in records[request.offset :]
    ]


def add_routes(app: web.Application) -> None:
    base = "/collections/{name}/points"
    app.router.add_post(base + "/query", query)
    app.router.add_put(base, upsert)
    app.router.add_post(base, retrieve)
    app.router.add_get(base + "/{id}", get_point)
    app.router.add_post(base + "/delete", delete_points)
    app.router.add_put(base + "/vectors", update_vectors)
    app.router.add_post(base + "/vectors/delete", delete_vectors)
    app.router.add_post(base + "/payload", set_payload)
    app.router.add_put(base + "/payload", overwrite_payload)
    app.router.add_post(base + "/payload/delete", delete_payload)
    app.router.add_post(base + "/payload/clear", clear_payload)
    app.router.add_post(base + "/batch", update_batch)
    app.router.add_post(base + "/scroll", scroll)
    app.router.add_post(base + "/count", count)
