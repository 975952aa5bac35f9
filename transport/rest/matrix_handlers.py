"""Distance matrix endpoints: ``/points/search/matrix/pairs`` and ``/points/search/matrix/offsets``.

Body: ``{sample (10), limit (3), filter, using, shard_key}``. ``sample`` points are
drawn (with a fixed seed) among those matching ``filter`` that have the ``using``
vector; each gets its ``limit`` nearest other sample points (see ``shards.matrix``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shards.collection import Collection, ReadOptions
from shards.conditions import HasVectorCondition
from shards.filters import Filter
from shards.matrix import neighbours, sample_ids
from shards.operations import ScrollRequest
from shards.query_plan import merge_filters
from shards.types import DEFAULT_VECTOR, PayloadSelector, PointId, VectorSelector
from transport.rest.envelope import ok, read_json, started_at
from transport.rest.point_handlers import _collection, _read_options
from transport.rest.rendering import f32
from transport.rest.vector_parsing import parse_filter_field, parse_uint, require_object, type_error, vector_name_error

SCROLL_PAGE = 10_000


async def _matching_ids(collection: Collection, filt: Filter, options: ReadOptions) -> list[PointId]:
    ids: list[PointId] = []
    offset = None
    while True:
        request = ScrollRequest(
            filter=filt,
            limit=SCROLL_PAGE,
            offset=offset,
            with_payload=PayloadSelector(enabled=False),
            with_vector=VectorSelector(enabled=False),
        )
        records, offset = await collection.scroll(request, options)
        ids.extend(record.id for record in records)
        if offset is None:
            return ids


async def _matrix(request: web.Request) -> tuple[list[PointId], list[list[tuple[int, float]]]]:
    collection = _collection(request)
    body = await read_json(request, required=False) or {}
    body = require_object(body)
    sample = parse_uint(body.get("sample"), "sample", default=10, minimum=2)
    limit = parse_uint(body.get("limit"), "limit", default=3, minimum=1)
    using = body.get("using")
    if using is None:
        using = DEFAULT_VECTOR
    elif not isinstance(using, str):
        raise type_error(using, "a string", "using")
    if using not in collection.dense_params and using not in collection.sparse_params:
        raise vector_name_error(using)
    options = _read_options(request, body)
    filt = merge_filters(parse_filter_field(body.get("filter")), Filter(must=(HasVectorCondition(using),)))
    chosen = sample_ids(await _matching_ids(collection, filt, options), sample)
    records = await collection.retrieve(
        chosen, PayloadSelector(enabled=False), VectorSelector(enabled=True, names=(using,)), options
    )
    vectors = {r.id: (r.vectors or {}).get(using) for r in records}
    ids = [pid for pid in chosen if vectors.get(pid) is not None]  # a point deleted meanwhile drops out
    params = collection.dense_params.get(using)
    rows = neighbours([vectors[pid] for pid in ids], params.distance if params else None, limit)
    return ids, rows


async def matrix_pairs(request: web.Request) -> web.Response:
    ids, rows = await _matrix(request)
    pairs: list[dict[str, Any]] = [
        {"a": ids[i], "b": ids[j], "score": f32(score)} for i, row in enumerate(rows) for j, score in row
    ]
    return ok({"pairs": pairs}, started_at(request))


async def matrix_offsets(request: web.Request) -> web.Response:
    ids, rows = await _matrix(request)
    flat = [(i, j, score) for i, row in enumerate(rows) for j, score in row]
    return ok(
        {
            "offsets_row": [i for i, _, _ in flat],
            "offsets_col": [j for _, j, _ in flat],
            "scores": [f32(score) for _, _, score in flat],
            "ids": ids,
        },
        started_at(request),
    )


def add_routes(app: web.Application) -> None:
    base = "/collections/{name}/points/search/matrix"
    app.router.add_post(base + "/pairs", matrix_pairs)
    app.router.add_post(base + "/offsets", matrix_offsets)
