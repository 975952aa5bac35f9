"""Strict mode end to end through qdrant-client: each limit answers Qdrant's status and
message, and a compliant request passes."""

from __future__ import annotations

import json

import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse

from tests.integration.transport_errors import expect_error


def make(client: QdrantClient, name: str, **limits) -> None:
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        strict_mode_config=models.StrictModeConfig(enabled=False, **limits),
    )
    client.upsert(
        name,
        points=[models.PointStruct(id=i, vector=[0.1 * i, 0.2, 0.3, 0.4], payload={"a": "x", "n": i}) for i in range(1, 4)],
        wait=True,
    )
    client.update_collection(name, strict_mode_config=models.StrictModeConfig(enabled=True))


def refused(call, status: int, fragment: str) -> str:
    """``call`` fails with ``status`` (or its gRPC code); ``fragment`` is in the error text on either transport."""
    with expect_error(status) as caught:
        call()
    message = caught.message
    if caught.transport == "rest":  # the raw JSON envelope: compare against its unescaped error text
        message = json.loads(message)["status"]["error"]
    assert fragment in message, message
    return message


Q = [0.1, 0.2, 0.3, 0.4]


def test_query_limits(client, http, collection_name):
    make(client, collection_name, max_query_limit=2, search_max_hnsw_ef=16, search_allow_exact=False, max_timeout=5)
    refused(lambda: client.query_points(collection_name, query=Q, limit=3), 400,
            'Bad request: Limit exceeded 3 > 2 for "limit"')
    refused(lambda: client.scroll(collection_name, limit=3), 400, "Limit exceeded 3 > 2")
    refused(lambda: client.query_points(collection_name, query=Q, limit=2, search_params=models.SearchParams(hnsw_ef=32)),
            400, 'Limit exceeded 32 > 16 for "hnsw_ef"')
    refused(lambda: client.query_points(collection_name, query=Q, limit=2, search_params=models.SearchParams(exact=True)),
            400, "Bad request: Exact search disabled!. Help: Set exact=false.")
    refused(lambda: client.query_points(collection_name, query=Q, limit=2, timeout=10), 400, "for \"timeout\"")
    answer = http.post(f"{http.base}/collections/{collection_name}/points/search", json={"vector": Q, "limit": 5})
    assert answer.status_code == 400 and "Limit exceeded 5 > 2" in answer.json()["status"]["error"]
    hits = client.query_points(collection_name, query=Q, limit=2, search_params=models.SearchParams(hnsw_ef=8)).points
    assert len(hits) == 2


def test_unindexed_filters_and_filter_limits(client, collection_name):
    make(client, collection_name, unindexed_filtering_retrieve=False, unindexed_filtering_update=False,
         filter_max_conditions=2, condition_max_size=2)
    on_a = models.Filter(must=[models.FieldCondition(key="a", match=models.MatchValue(value="x"))])
    message = 'Index required but not found for "a" of one of the following types: [keyword]'
    refused(lambda: client.count(collection_name, count_filter=on_a), 400, message)
    refused(lambda: client.query_points(collection_name, query=Q, query_filter=on_a), 400, message)
    refused(lambda: client.delete(collection_name, points_selector=models.FilterSelector(filter=on_a)), 400, message)
    client.create_payload_index(collection_name, "a", models.PayloadSchemaType.KEYWORD, wait=True)
    assert client.count(collection_name, count_filter=on_a).count == 3
    many = models.Filter(must=[models.FieldCondition(key="a", match=models.MatchValue(value=v)) for v in "xyz"])
    refused(lambda: client.scroll(collection_name, scroll_filter=many), 400, "Filter condition limit reached (3 > 2)")
    wide = models.Filter(must=[models.FieldCondition(key="a", match=models.MatchAny(any=["x", "y", "z"]))])
    refused(lambda: client.count(collection_name, count_filter=wide), 400, "Condition size limit reached (3 > 2)")


def test_write_limits(client, collection_name):
    make(client, collection_name, upsert_max_batchsize=2, max_points_count=4, max_payload_index_count=1)
    points = [models.PointStruct(id=i, vector=Q, payload={}) for i in range(10, 13)]
    refused(lambda: client.upsert(collection_name, points=points, wait=True), 400,
            'Limit exceeded 3 > 2 for "upsert limit"')
    client.upsert(collection_name, points=points[:1], wait=True)  # 4 points now
    refused(lambda: client.upsert(collection_name, points=points[1:2], wait=True), 400,
            "Max points count limit of 4 reached!")
    client.create_payload_index(collection_name, "a", models.PayloadSchemaType.KEYWORD, wait=True)
    refused(lambda: client.create_payload_index(collection_name, "n", models.PayloadSchemaType.INTEGER, wait=True),
            400, "Collection already has the maximum number of payload indices (1)")


def test_vector_size_limit_via_update_collection(client, collection_name):
    make(client, collection_name)
    client.update_collection(collection_name, strict_mode_config=models.StrictModeConfig(max_collection_vector_size_bytes=32))
    refused(lambda: client.upsert(collection_name, points=[models.PointStruct(id=9, vector=Q)], wait=True), 400,
            "Max vector storage size limit of 3.0517578125e-05MB reached!")
    client.update_collection(collection_name, strict_mode_config=models.StrictModeConfig(enabled=False))
    client.upsert(collection_name, points=[models.PointStruct(id=9, vector=Q)], wait=True)


def test_rate_limits(client, collection_name):
    make(client, collection_name, read_rate_limit=2, write_rate_limit=4)
    client.count(collection_name)
    client.count(collection_name)
    with pytest.raises(ResourceExhaustedResponse) as caught:  # qdrant-client's form of a 429 with Retry-After
        client.count(collection_name)
    assert "Rate limiting exceeded: Read rate limit exceeded" in caught.value.message
    assert caught.value.retry_after_s == 30  # 2 per minute: a token every 30 s
    client.upsert(collection_name, points=[models.PointStruct(id=20, vector=Q)], wait=True)
    with pytest.raises(ResourceExhaustedResponse, match="Write rate limit exceeded"):  # 5 points cost 5 tokens
        client.upsert(collection_name, points=[models.PointStruct(id=i, vector=Q) for i in range(30, 35)], wait=True)
