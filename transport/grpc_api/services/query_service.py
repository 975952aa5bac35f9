"""``qdrant.Points``, the read/query family: search, recommend, discover, query (single, batch,
groups), facets and the distance matrix, each run by its REST handler."""

from __future__ import annotations

from typing import Any, Callable

from transport.grpc_api import convert_query as cq
from transport.grpc_api import engine, pb
from transport.grpc_api.common import collection_call
from transport.grpc_api.routes import RestCall
from transport.grpc_api.routes import route as _route
from transport.rest import facet_handlers, group_handlers, legacy_recommend, legacy_search, matrix_handlers
from transport.rest import point_handlers

SERVICE = "qdrant.Points"
_POINTS = "/points"


def route(*args: Any, **kw: Any) -> Any:
    """Every method here only reads."""
    return _route(*args, read_only=True, **kw)


def _post(suffix: str, convert: Callable[[Any], Any]) -> Callable[[Any], RestCall]:
    def to_call(message: Any) -> RestCall:
        return collection_call(message, "POST", suffix, convert(message))

    return to_call


def _batch(suffix: str, inner: str, convert: Callable[[Any], Any]) -> Callable[[Any], RestCall]:
    def to_call(message: Any) -> RestCall:
        return collection_call(message, "POST", suffix, cq.batch_body(getattr(message, inner), convert))

    return to_call


_RECOMMEND = legacy_recommend._single(legacy_recommend.parse_recommend)
_RECOMMEND_BATCH = legacy_recommend._batch(legacy_recommend.parse_recommend)
_DISCOVER = legacy_recommend._single(legacy_recommend.parse_discover)
_DISCOVER_BATCH = legacy_recommend._batch(legacy_recommend.parse_discover)


def _query_reply(reply: Any, result: Any) -> None:
    cq.fill_scored(reply, (result or {}).get("points", []))


def _query_batch_reply(reply: Any, result: Any) -> None:
    cq.fill_batch(reply, [entry.get("points", []) for entry in result or []])


def _groups_reply(reply: Any, result: Any) -> None:
    engine.fill(reply.result, result or {"groups": []})
    reply.result.SetInParent()


def _facet_reply(reply: Any, result: Any) -> None:
    for hit in (result or {}).get("hits", []):
        engine.fill(reply.hits.add(), hit)


def _scored_reply(reply: Any, result: Any) -> None:
    cq.fill_scored(reply, result)


def _batch_reply(reply: Any, result: Any) -> None:
    cq.fill_batch(reply, result)


def _register() -> None:
    p = _POINTS
    # search
    route(SERVICE, "Search", pb.SearchPoints, pb.SearchResponse, legacy_search.search,
          _post(p + "/search", cq.search_body), to_reply=_scored_reply)
    route(SERVICE, "SearchBatch", pb.SearchBatchPoints, pb.SearchBatchResponse, legacy_search.search_batch,
          _batch(p + "/search/batch", "search_points", cq.search_body), to_reply=_batch_reply)
    route(SERVICE, "SearchGroups", pb.SearchPointGroups, pb.SearchGroupsResponse, group_handlers.search_groups_legacy,
          _post(p + "/search/groups", cq.search_body), to_reply=_groups_reply)
    # recommend
    route(SERVICE, "Recommend", pb.RecommendPoints, pb.RecommendResponse, _RECOMMEND,
          _post(p + "/recommend", cq.recommend_body), to_reply=_scored_reply)
    route(SERVICE, "RecommendBatch", pb.RecommendBatchPoints, pb.RecommendBatchResponse,
          _RECOMMEND_BATCH, _batch(p + "/recommend/batch", "recommend_points", cq.recommend_body),
          to_reply=_batch_reply)
    route(SERVICE, "RecommendGroups", pb.RecommendPointGroups, pb.RecommendGroupsResponse,
          group_handlers.query_groups, _post(p + "/query/groups", _recommend_groups_body), to_reply=_groups_reply)
    # discover
    route(SERVICE, "Discover", pb.DiscoverPoints, pb.DiscoverResponse, _DISCOVER,
          _post(p + "/discover", cq.discover_body), to_reply=_scored_reply)
    route(SERVICE, "DiscoverBatch", pb.DiscoverBatchPoints, pb.DiscoverBatchResponse,
          _DISCOVER_BATCH, _batch(p + "/discover/batch", "discover_points", cq.discover_body),
          to_reply=_batch_reply)
    # universal query
    route(SERVICE, "Query", pb.QueryPoints, pb.QueryResponse, point_handlers.query,
          _post(p + "/query", cq.query_body), to_reply=_query_reply)
    route(SERVICE, "QueryBatch", pb.QueryBatchPoints, pb.QueryBatchResponse, legacy_search.query_batch,
          _batch(p + "/query/batch", "query_points", cq.query_body), to_reply=_query_batch_reply)
    route(SERVICE, "QueryGroups", pb.QueryPointGroups, pb.QueryGroupsResponse, group_handlers.query_groups,
          _post(p + "/query/groups", cq.query_body), to_reply=_groups_reply)
    # facets and the distance matrix
    route(SERVICE, "Facet", pb.FacetCounts, pb.FacetResponse, facet_handlers.facet_handler,
          _post("/facet", cq.request_body), to_reply=_facet_reply)
    route(SERVICE, "SearchMatrixPairs", pb.SearchMatrixPoints, pb.SearchMatrixPairsResponse,
          matrix_handlers.matrix_pairs, _post(p + "/search/matrix/pairs", cq.request_body))
    route(SERVICE, "SearchMatrixOffsets", pb.SearchMatrixPoints, pb.SearchMatrixOffsetsResponse,
          matrix_handlers.matrix_offsets, _post(p + "/search/matrix/offsets", cq.request_body))


def _recommend_groups_body(message: Any) -> dict[str, Any]:
    """REST has no ``/points/recommend/groups``: run it as a grouped ``recommend`` query."""
    body = cq.recommend_body(message)
    query: dict[str, Any] = {"positive": body.pop("positive"), "negative": body.pop("negative")}
    if "strategy" in body:
        query["strategy"] = body.pop("strategy")
    body["query"] = {"recommend": query}
    return body


_register()
