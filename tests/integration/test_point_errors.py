"""Rejected point requests: status code, Qdrant's error envelope, and nothing changed afterwards."""

from __future__ import annotations

import json

import pytest
from qdrant_client import QdrantClient, models

from tests.integration.transport_errors import expect_error as expect_client_error

# --------------------------------------------------------------------------- helpers


def expect_error(response, status: int, fragment: str) -> str:
    """Assert Qdrant's error envelope ``{"status": {"error": ...}, "time": ...}``; return the message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "time"}, body
    assert isinstance(body["time"], float)
    message = body["status"]["error"]
    assert isinstance(message, str)
    assert fragment in message, message
    return message


def snapshot(client: QdrantClient, name: str) -> list:
    """Every point with payload and vectors, in id order."""
    records, _ = client.scroll(name, limit=10_000, with_vectors=True)
    return [(r.id, r.payload, r.vector) for r in records]


@pytest.fixture
def seeded(client, collection_name):
    """A collection with a dense ``image``, a sparse ``words`` vector and three points."""
    client.create_collection(
        collection_name,
        vectors_config={"image": models.VectorParams(size=3, distance=models.Distance.DOT)},
        sparse_vectors_config={"words": models.SparseVectorParams()},
    )
    client.upsert(
        collection_name,
        [
            models.PointStruct(
                id=i,
                vector={"image": [i, 0.5, -1], "words": models.SparseVector(indices=[i], values=[1.0])},
                payload={"n": i},
            )
            for i in (1, 2, 3)
        ],
    )
    before = snapshot(client, collection_name)
    assert len(before) == 3
    return collection_name, before


def url(http, name: str, suffix: str = "") -> str:
    return f"{http.base}/collections/{name}/points{suffix}"


def send_raw(http, method: str, target: str, text: str):
    return http.request(
        method, target, params={"wait": "true"}, data=text.encode(), headers={"Content-Type": "application/json"}
    )


# --------------------------------------------------------------------------- vectors


def test_wrong_vector_size_changes_nothing(http, client, seeded):
    name, before = seeded
    bodies = [
        # One bad point among good ones rejects the whole request.
        {"points": [{"id": 1, "vector": {"image": [9, 9, 9]}}, {"id": 9, "vector": {"image": [1, 2]}}]},
        {"batch": {"ids": [1, 9], "vectors": {"image": [[9, 9, 9], [1, 2, 3, 4]]}}},
    ]
    for body in bodies:
        response = http.put(url(http, name), params={"wait": "true"}, json=body)
        expect_error(response, 400, "Vector dimension error: expected dim: 3, got")
    response = http.put(
        url(http, name, "/vectors"), params={"wait": "true"}, json={"points": [{"id": 1, "vector": {"image": [1]}}]}
    )
    expect_error(response, 400, "expected dim: 3, got 1")
    assert snapshot(client, name) == before


def test_unknown_vector_name_changes_nothing(http, client, seeded):
    name, before = seeded
    upsert = http.put(
        url(http, name), params={"wait": "true"}, json={"points": [{"id": 7, "vector": {"nope": [1, 2, 3]}}]}
    )
    expect_error(upsert, 400, "Not existing vector name error: nope")
    unnamed = http.put(url(http, name), params={"wait": "true"}, json={"points": [{"id": 7, "vector": [1, 2, 3]}]})
    assert unnamed.status_code == 400
    update = http.put(
        url(http, name, "/vectors"), params={"wait": "true"}, json={"points": [{"id": 1, "vector": {"nope": [1]}}]}
    )
    expect_error(update, 400, "nope")
    delete = http.post(url(http, name, "/vectors/delete"), params={"wait": "true"}, json={"points": [1], "vector": ["nope"]})
    expect_error(delete, 400, "nope")
    assert snapshot(client, name) == before


def test_sparse_and_dense_mix_ups_are_rejected(http, client, seeded):
    name, before = seeded
    dense_as_sparse = {"points": [{"id": 8, "vector": {"words": [1.0, 2.0]}}]}
    sparse_as_dense = {"points": [{"id": 8, "vector": {"image": {"indices": [1], "values": [1.0]}}}]}
    multi_as_plain = {"points": [{"id": 8, "vector": {"image": [[1, 2, 3], [4, 5, 6]]}}]}
    ragged_sparse = {"points": [{"id": 8, "vector": {"words": {"indices": [1, 2], "values": [1.0]}}}]}
    duplicate_sparse = {"points": [{"id": 8, "vector": {"words": {"indices": [4, 4], "values": [1.0, 2.0]}}}]}
    for body in (dense_as_sparse, sparse_as_dense, multi_as_plain, ragged_sparse, duplicate_sparse):
        response = http.put(url(http, name), params={"wait": "true"}, json=body)
        expect_error(response, 400, "")
    assert snapshot(client, name) == before


def test_update_vectors_of_missing_point_is_404(http, client, seeded):
    name, before = seeded
    body = {"points": [{"id": 1, "vector": {"image": [7, 7, 7]}}, {"id": 404, "vector": {"image": [7, 7, 7]}}]}
    response = http.put(url(http, name, "/vectors"), params={"wait": "true"}, json=body)
    expect_error(response, 404, "404")
    # The request is rejected as a whole: point 1 keeps its vector.
    assert snapshot(client, name) == before


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_a_vector_are_rejected(http, client, seeded, token):
    name, before = seeded
    text = '{"points": [{"id": 1, "vector": {"image": [%s, 1, 2]}}, {"id": 5, "vector": {"image": [1, 2, 3]}}]}' % token
    expect_error(send_raw(http, "PUT", url(http, name), text), 400, "")
    update = '{"points": [{"id": 2, "vector": {"image": [1, %s, 2]}}]}' % token
    expect_error(send_raw(http, "PUT", url(http, name, "/vectors"), update), 400, "")
    assert snapshot(client, name) == before


def test_values_beyond_float32_are_rejected(http, client, seeded):
    name, before = seeded
    body = {"points": [{"id": 1, "vector": {"image": [1e39, 0, 0]}}]}
    expect_error(http.put(url(http, name), params={"wait": "true"}, json=body), 400, "")
    assert snapshot(client, name) == before


# --------------------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize(
    "text",
    [
        '{"points": [{"id": 1, "vector": {"image": [1, 2, 3]}',  # truncated
        "{'points': []}",  # not JSON
        "",  # empty
        "[1, 2, 3]",  # not an object
        '{"points": [{"id": 1, "vector": {"image": [1, 2, 3]}}],}',  # trailing comma
    ],
)
def test_malformed_json_changes_nothing(http, client, seeded, text):
    name, before = seeded
    expect_error(send_raw(http, "PUT", url(http, name), text), 400, "")
    assert snapshot(client, name) == before


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({}, "points"),
        ({"points": [{"vector": {"image": [1, 2, 3]}}]}, "id"),
        ({"points": [{"id": 9}]}, "vector"),
        ({"points": {"id": 9}}, ""),
        ({"points": [{"id": 9, "vector": {"image": [1, 2, 3]}, "payload": [1]}]}, ""),
        ({"points": [{"id": 9, "vector": {"image": [1, "2", 3]}}]}, ""),
        ({"batch": {"ids": [9, 10], "vectors": {"image": [[1, 2, 3]]}}}, "must be equal"),
        ({"batch": {"ids": [9], "vectors": {"image": [[1, 2, 3]]}, "payloads": [{}, {}]}}, ""),
        ({"points": [{"id": 9, "vector": {"image": [1, 2, 3]}}], "update_mode": "sometimes"}, "update_mode"),
    ],
)
def test_invalid_upsert_bodies(http, client, seeded, body, fragment):
    name, before = seeded
    expect_error(http.put(url(http, name), params={"wait": "true"}, json=body), 400, fragment)
    assert snapshot(client, name) == before


@pytest.mark.parametrize(
    "params",
    [{"wait": "yes"}, {"ordering": "fastest"}],
)
def test_invalid_write_params(http, client, seeded, params):
    name, before = seeded
    body = {"points": [{"id": 9, "vector": {"image": [1, 2, 3]}}]}
    expect_error(http.put(url(http, name), params=params, json=body), 400, "Query deserialize error")
    assert snapshot(client, name) == before


def test_payload_writes_need_points_or_filter(http, client, seeded):
    name, before = seeded
    cases = [
        ("POST", "/payload", {"payload": {"x": 1}}),
        ("PUT", "/payload", {"payload": {"x": 1}}),
        ("POST", "/payload/delete", {"keys": ["n"]}),
        ("POST", "/payload/clear", {}),
        ("POST", "/delete", {}),
        ("POST", "/vectors/delete", {"vector": ["image"]}),
        ("POST", "/payload", {"payload": [1], "points": [1]}),
        ("POST", "/payload/delete", {"keys": "n", "points": [1]}),
    ]
    for method, suffix, body in cases:
        response = http.request(method, url(http, name, suffix), params={"wait": "true"}, json=body)
        expect_error(response, 400, "")
    assert snapshot(client, name) == before


def test_batch_with_one_bad_operation_applies_none(http, client, seeded):
    name, before = seeded
    body = {
        "operations": [
            {"upsert": {"points": [{"id": 50, "vector": {"image": [1, 2, 3]}}]}},
            {"set_payload": {"payload": {"x": 1}, "points": [1]}},
            {"delete": {"points": ["not-an-id"]}},
        ]
    }
    expect_error(http.post(url(http, name, "/batch"), params={"wait": "true"}, json=body), 400, "not-an-id")
    unknown_kind = {"operations": [{"explode": {"points": [1]}}]}
    expect_error(http.post(url(http, name, "/batch"), params={"wait": "true"}, json=unknown_kind), 400, "")
    assert snapshot(client, name) == before


def test_payload_edit_of_a_missing_point_is_404(http, client, seeded):
    name, before = seeded
    for method, suffix, body in [
        ("POST", "/payload", {"payload": {"x": 1}, "points": [1, 77]}),
        ("PUT", "/payload", {"payload": {"x": 1}, "points": [77, 2]}),
        ("POST", "/payload/delete", {"keys": ["n"], "points": [3, 77]}),
    ]:
        response = http.request(method, url(http, name, suffix), params={"wait": "true"}, json=body)
        expect_error(response, 404, "Not found: No point with id 77 found")
    assert snapshot(client, name) == before


def test_client_errors_have_the_mapped_status_over_both_transports(client, seeded):
    """The same rejections through the client: HTTP status over REST, the mapped gRPC code over gRPC."""
    name, before = seeded
    with expect_client_error(400, "Vector dimension error: expected dim: 3, got 2"):
        client.upsert(name, [models.PointStruct(id=1, vector={"image": [9, 9, 9]}),
                             models.PointStruct(id=9, vector={"image": [1, 2]})])
    with expect_client_error(400, "Not existing vector name error: nope"):
        client.upsert(name, [models.PointStruct(id=7, vector={"nope": [1, 2, 3]})])
    with expect_client_error(400, "Conversion between sparse and regular vectors failed"):
        client.upsert(name, [models.PointStruct(id=7, vector={"words": [1.0, 2.0]})])
    with expect_client_error(400, ""):
        client.upsert(name, [models.PointStruct(
            id=7, vector={"words": models.SparseVector(indices=[4, 4], values=[1.0, 2.0])})])
    with expect_client_error(404, "404"):
        client.update_vectors(name, [models.PointVectors(id=404, vector={"image": [7, 7, 7]})])
    with expect_client_error(400, "nope"):
        client.delete_vectors(name, ["nope"], points=[1])
    with expect_client_error(404, "Not found: No point with id 77 found"):
        client.set_payload(name, {"x": 1}, points=[1, 77])
    with expect_client_error(404, "Not found: No point with id 77 found"):
        client.overwrite_payload(name, {"x": 1}, points=[77, 2])
    with expect_client_error(404, "Not found: No point with id 77 found"):
        client.delete_payload(name, ["n"], points=[3, 77])
    with expect_client_error(400, "not-an-id"):
        client.batch_update_points(name, [
            models.UpsertOperation(upsert=models.PointsList(points=[models.PointStruct(id=50, vector={"image": [1, 2, 3]})])),
            models.SetPayloadOperation(set_payload=models.SetPayload(payload={"x": 1}, points=["not-an-id"])),
        ])
    missing = "no_such_collection_" + name
    with expect_client_error(404, "doesn't exist"):
        client.upsert(missing, [models.PointStruct(id=1, vector={"image": [1, 2, 3]})])
    with expect_client_error(404, "doesn't exist"):
        client.retrieve(missing, [1])
    with expect_client_error(404, "doesn't exist"):
        client.count(missing)
    assert snapshot(client, name) == before


# --------------------------------------------------------------------------- reads


@pytest.mark.parametrize("limit, status", [(0, 400), (-1, 400), (-100, 400), ("5", 400), (2.5, 400)])
def test_bad_scroll_limit(http, seeded, limit, status):
    name, _ = seeded
    message = expect_error(http.post(url(http, name, "/scroll"), json={"limit": limit}), status, "")
    assert "limit" in message


def test_bad_scroll_offset_and_selectors(http, seeded):
    name, _ = seeded
    scroll = url(http, name, "/scroll")
    expect_error(http.post(scroll, json={"offset": "nope"}), 400, "nope")
    expect_error(http.post(scroll, json={"offset": -3}), 400, "")
    expect_error(http.post(scroll, json={"with_payload": 5}), 400, "with_payload")
    expect_error(http.post(scroll, json={"with_vector": {"a": 1}}), 400, "with_vector")
    expect_error(http.post(scroll, json={"filter": {"must": [{"key": "n", "match": {}}]}}), 400, "")
    expect_error(http.post(scroll, json={"order_by": {"key": "n", "direction": "sideways"}}), 400, "direction")


def test_bad_retrieve_and_count_bodies(http, seeded):
    name, _ = seeded
    expect_error(http.post(url(http, name), json={}), 400, "ids")
    expect_error(http.post(url(http, name), json={"ids": 1}), 400, "")
    expect_error(http.post(url(http, name), json={"ids": [1, "zzz"]}), 400, "zzz")
    expect_error(http.post(url(http, name, "/count"), json={"exact": "yes"}), 400, "exact")
    expect_error(http.post(url(http, name, "/count"), json={"filter": 3}), 400, "")


@pytest.mark.parametrize(
    "bad_id",
    [
        -1,
        1.5,
        True,
        18446744073709551616,
        "abc",
        "550e8400e29b-41d4-a716-446655440000",  # stray hyphen layout
        "uuid:550e8400-e29b-41d4-a716-446655440000",
        {"id": 1},
    ],
)
def test_bad_point_id_in_bodies(http, client, seeded, bad_id):
    name, before = seeded
    upsert = {"points": [{"id": bad_id, "vector": {"image": [1, 2, 3]}}]}
    expect_error(http.put(url(http, name), params={"wait": "true"}, json=upsert), 400, "")
    expect_error(http.post(url(http, name, "/delete"), params={"wait": "true"}, json={"points": [1, bad_id]}), 400, "")
    expect_error(http.post(url(http, name), json={"ids": [bad_id]}), 400, "")
    assert snapshot(client, name) == before


@pytest.mark.parametrize("path_id", ["abc", "-1", "1.5", "18446744073709551616", "%C2%B2", "550e8400e29b41d4a716"])
def test_bad_point_id_in_path(http, seeded, path_id):
    name, _ = seeded
    response = http.get(url(http, name, f"/{path_id}"))
    expect_error(response, 400, "as point id")


def test_missing_point_in_path_is_404(http, seeded):
    name, _ = seeded
    expect_error(http.get(url(http, name, "/12345")), 404, "Not found: Point with id 12345 does not exists!")
    uid = "550e8400-e29b-41d4-a716-446655440000"
    expect_error(http.get(url(http, name, f"/{uid.replace('-', '').upper()}")), 404, uid)


# --------------------------------------------------------------------------- unknown collection


@pytest.mark.parametrize(
    "method, suffix, body",
    [
        ("PUT", "", {"points": [{"id": 1, "vector": [1, 2, 3]}]}),
        ("POST", "", {"ids": [1]}),
        ("GET", "/1", None),
        ("POST", "/delete", {"points": [1]}),
        ("PUT", "/vectors", {"points": [{"id": 1, "vector": [1, 2, 3]}]}),
        ("POST", "/vectors/delete", {"points": [1], "vector": [""]}),
        ("POST", "/payload", {"payload": {}, "points": [1]}),
        ("PUT", "/payload", {"payload": {}, "points": [1]}),
        ("POST", "/payload/delete", {"keys": ["a"], "points": [1]}),
        ("POST", "/payload/clear", {"points": [1]}),
        ("POST", "/batch", {"operations": []}),
        ("POST", "/scroll", {}),
        ("POST", "/count", {}),
    ],
)
def test_unknown_collection_is_404(http, client, method, suffix, body):
    name = "no_such_collection_here"
    response = http.request(method, url(http, name, suffix), json=body)
    expect_error(response, 404, f"Collection `{name}` doesn't exist!")
    assert not client.collection_exists(name)


def test_error_envelope_is_valid_json_with_float_time(http, seeded):
    name, _ = seeded
    response = send_raw(http, "PUT", url(http, name), "{")
    parsed = json.loads(response.text)
    assert parsed["time"] >= 0
    assert "result" not in parsed
