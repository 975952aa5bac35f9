"""Points write and read API through the official client (and raw HTTP for body forms it never sends)."""

from __future__ import annotations

import glob
import os
import uuid

import pytest
from qdrant_client import QdrantClient, models

from tests.integration.transport_errors import expect_error

DOT2 = models.VectorParams(size=2, distance=models.Distance.DOT)


# --------------------------------------------------------------------------- helpers


def make_plain(client: QdrantClient, name: str, **kwargs) -> None:
    client.create_collection(name, vectors_config=DOT2, **kwargs)


def make_mixed(client: QdrantClient, name: str) -> None:
    """Two named dense vectors, a multi-vector and a sparse vector."""
    client.create_collection(
        name,
        vectors_config={
            "text": models.VectorParams(size=3, distance=models.Distance.DOT),
            "image": DOT2,
            "multi": models.VectorParams(
                size=2,
                distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
        },
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
    )


def put(http, name: str, body: dict, wait: str = "true", **params):
    return http.put(f"{http.base}/collections/{name}/points", params={"wait": wait, **params}, json=body)


def payloads(client: QdrantClient, name: str, ids: list) -> dict:
    return {r.id: r.payload for r in client.retrieve(name, ids)}


def all_ids(client: QdrantClient, name: str) -> set:
    records, _ = client.scroll(name, limit=10_000)
    return {r.id for r in records}


def seed(client: QdrantClient, name: str, count: int = 6) -> None:
    """Points 1..count with vector [i, -i], payload {"n": i, "group": even/odd, "tag": "t<i>"}."""
    client.upsert(
        name,
        [
            models.PointStruct(
                id=i, vector=[float(i), -float(i)], payload={"n": i, "group": "even" if i % 2 == 0 else "odd", "tag": f"t{i}"}
            )
            for i in range(1, count + 1)
        ],
    )


def group(value: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=value))])


# --------------------------------------------------------------------------- upsert


def test_record_form_round_trips_payload_and_vector(client, collection_name):
    make_plain(client, collection_name)
    result = client.upsert(
        collection_name,
        [
            models.PointStruct(id=1, vector=[0.1, 0.2], payload={"city": "Berlin", "nested": {"x": [1, 2]}}),
            models.PointStruct(id=2, vector=[-1.5, 3.25]),
        ],
    )
    assert result.status == models.UpdateStatus.COMPLETED
    records = client.retrieve(collection_name, [1, 2], with_vectors=True)
    assert [r.id for r in records] == [1, 2]
    # Values come back as the f32 sent (REST prints them shortest; gRPC carries the f32 itself).
    assert records[0].vector == pytest.approx([0.1, 0.2], rel=1e-7)
    assert records[0].payload == {"city": "Berlin", "nested": {"x": [1, 2]}}
    assert records[1].vector == [-1.5, 3.25]
    assert records[1].payload == {}


def test_column_form_batch(client, collection_name):
    make_mixed(client, collection_name)
    client.upsert(
        collection_name,
        models.Batch(
            ids=[10, 11, 12],
            vectors={"text": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "image": [[1, 1], [2, 2], [3, 3]]},
            payloads=[{"k": "a"}, {"k": "b"}, {}],
        ),
    )
    records = {r.id: r for r in client.retrieve(collection_name, [10, 11, 12], with_vectors=True)}
    assert records[11].vector == {"text": [0.0, 1.0, 0.0], "image": [2.0, 2.0]}
    assert records[10].payload == {"k": "a"}
    assert records[12].payload == {}
    assert client.count(collection_name).count == 3


def test_column_form_unnamed_vector(client, collection_name):
    make_plain(client, collection_name)
    client.upsert(collection_name, models.Batch(ids=[1, 2], vectors=[[1, 2], [3, 4]]))
    records = client.retrieve(collection_name, [2, 1], with_vectors=True)
    assert [(r.id, r.vector) for r in records] == [(2, [3.0, 4.0]), (1, [1.0, 2.0])]


def test_uuid_ids_in_every_accepted_form_come_back_canonical(http, client, collection_name):
    make_plain(client, collection_name)
    hyphenated = "550e8400-e29b-41d4-a716-446655440000"
    simple = "936DA01F9ABD4d9d80C702AF85C822A8"
    urn = "urn:uuid:F9168C5E-CEB2-4faa-B6BF-329BF39FA1E4"
    braced = "A1A2A3A4-B1B2-C1C2-D1D2-D3D4D5D6D7D8"
    response = put(
        http,
        collection_name,
        {
            "points": [
                {"id": hyphenated, "vector": [1, 0]},
                {"id": simple, "vector": [2, 0]},
                {"id": urn, "vector": [3, 0]},
                {"id": 18446744073709551615, "vector": [4, 0]},
                {"id": "{" + braced + "}", "vector": [5, 0]},
            ]
        },
    )
    assert response.status_code == 200, response.text
    canonical = {str(uuid.UUID(u)) for u in (hyphenated, simple, urn, braced)}
    assert all_ids(client, collection_name) == canonical | {18446744073709551615}
    # Any accepted form finds the point again, and the answer names it canonically.
    found = client.retrieve(collection_name, [simple, urn.upper().replace("URN:UUID:", "urn:uuid:")])
    assert {r.id for r in found} == {str(uuid.UUID(simple)), str(uuid.UUID(urn))}
    got = http.get(f"{http.base}/collections/{collection_name}/points/{simple}").json()["result"]
    assert got["id"] == "936da01f-9abd-4d9d-80c7-02af85c822a8"
    # The same UUID written in another form is the same point.
    put(http, collection_name, {"points": [{"id": simple.lower(), "vector": [9, 9], "payload": {"v": 2}}]})
    assert client.count(collection_name).count == 5
    assert payloads(client, collection_name, [simple]) == {str(uuid.UUID(simple)): {"v": 2}}


def test_named_sparse_and_multi_vectors(client, collection_name):
    make_mixed(client, collection_name)
    client.upsert(
        collection_name,
        [
            models.PointStruct(
                id=1,
                vector={
                    "text": [0.5, 0.25, 0.125],
                    "image": [1, 2],
                    "multi": [[1, 2], [3, 4], [5, 6]],
                    "sparse": models.SparseVector(indices=[7, 2, 40], values=[0.7, 0.2, 0.4]),
                },
            ),
            models.PointStruct(id=2, vector={"image": [3, 4]}),
        ],
    )
    first, second = client.retrieve(collection_name, [1, 2], with_vectors=True)
    assert first.vector["text"] == [0.5, 0.25, 0.125]
    assert first.vector["multi"] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    # Unsorted sparse indices are stored sorted, values following their indices.
    assert first.vector["sparse"].indices == [2, 7, 40]
    assert first.vector["sparse"].values == pytest.approx([0.2, 0.7, 0.4], rel=1e-7)
    assert second.vector == {"image": [3.0, 4.0]}
    only = client.retrieve(collection_name, [1], with_vectors=["sparse", "image"])[0]
    assert set(only.vector) == {"sparse", "image"}


def test_sparse_duplicate_indices_rejected(http, client, collection_name):
    make_mixed(client, collection_name)
    body = {"points": [{"id": 1, "vector": {"sparse": {"indices": [3, 1, 3], "values": [1, 2, 3]}}}]}
    response = put(http, collection_name, body)
    assert response.status_code == 400
    assert "unique" in response.json()["status"]["error"]
    assert client.count(collection_name).count == 0


def test_wait_false_is_acknowledged_and_wait_true_completed(http, client, collection_name):
    make_plain(client, collection_name)
    first = put(http, collection_name, {"points": [{"id": 1, "vector": [1, 1]}]}, wait="false").json()["result"]
    assert first["status"] == "acknowledged"
    assert isinstance(first["operation_id"], int)
    second = put(http, collection_name, {"points": [{"id": 2, "vector": [1, 1]}]}, wait="true").json()["result"]
    assert second["status"] == "completed"
    assert second["operation_id"] > first["operation_id"]
    no_wait = client.upsert(collection_name, [models.PointStruct(id=3, vector=[1, 1])], wait=False)
    assert no_wait.status == models.UpdateStatus.ACKNOWLEDGED
    assert no_wait.operation_id > second["operation_id"]
    # An acknowledged write is visible to later reads.
    assert all_ids(client, collection_name) == {1, 2, 3}


@pytest.mark.parametrize("ordering", ["weak", "medium", "strong"])
def test_ordering_parameter_accepted(http, client, collection_name, ordering):
    make_plain(client, collection_name)
    response = put(http, collection_name, {"points": [{"id": 1, "vector": [1, 1]}]}, ordering=ordering)
    assert response.status_code == 200, response.text
    client.upsert(
        collection_name, [models.PointStruct(id=2, vector=[1, 1])], ordering=models.WriteOrdering(ordering)
    )
    assert all_ids(client, collection_name) == {1, 2}


def test_update_mode_insert_only_and_update_only(client, collection_name):
    make_plain(client, collection_name)
    client.upsert(collection_name, [models.PointStruct(id=1, vector=[1, 1], payload={"v": "old"})])
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=1, vector=[2, 2], payload={"v": "new"}),
            models.PointStruct(id=2, vector=[2, 2], payload={"v": "new"}),
        ],
        update_mode=models.UpdateMode.INSERT_ONLY,
    )
    assert payloads(client, collection_name, [1, 2]) == {1: {"v": "old"}, 2: {"v": "new"}}
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=1, vector=[3, 3], payload={"v": "updated"}),
            models.PointStruct(id=3, vector=[3, 3], payload={"v": "updated"}),
        ],
        update_mode=models.UpdateMode.UPDATE_ONLY,
    )
    assert payloads(client, collection_name, [1, 2, 3]) == {1: {"v": "updated"}, 2: {"v": "new"}}
    assert client.retrieve(collection_name, [1], with_vectors=True)[0].vector == [3.0, 3.0]


def test_update_filter_makes_upsert_conditional(client, collection_name):
    make_plain(client, collection_name)
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=1, vector=[1, 1], payload={"version": 1}),
            models.PointStruct(id=2, vector=[1, 1], payload={"version": 5}),
        ],
    )
    stale = models.Filter(must=[models.FieldCondition(key="version", range=models.Range(lt=3))])
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=1, vector=[7, 7], payload={"version": 3}),
            models.PointStruct(id=2, vector=[7, 7], payload={"version": 3}),
            models.PointStruct(id=9, vector=[7, 7], payload={"version": 3}),
        ],
        update_filter=stale,
    )
    # Existing points are replaced only where the filter matches; new ids are inserted.
    assert payloads(client, collection_name, [1, 2, 9]) == {1: {"version": 3}, 2: {"version": 5}, 9: {"version": 3}}


def test_update_filter_on_update_vectors(client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 4)
    client.update_vectors(
        collection_name,
        [models.PointVectors(id=i, vector=[0, 0]) for i in (1, 2, 3, 4)],
        update_filter=group("even"),
    )
    vectors = {r.id: r.vector for r in client.retrieve(collection_name, [1, 2, 3, 4], with_vectors=True)}
    assert vectors == {1: [1.0, -1.0], 2: [0.0, 0.0], 3: [3.0, -3.0], 4: [0.0, 0.0]}


def test_upsert_existing_id_replaces_whole_point(client, collection_name):
    make_mixed(client, collection_name)
    client.upsert(
        collection_name,
        [models.PointStruct(id=5, vector={"text": [1, 1, 1], "image": [1, 1]}, payload={"a": 1, "b": 2})],
    )
    client.upsert(collection_name, [models.PointStruct(id=5, vector={"image": [2, 2]}, payload={"c": 3})])
    record = client.retrieve(collection_name, [5], with_vectors=True)[0]
    assert record.payload == {"c": 3}
    assert record.vector == {"image": [2.0, 2.0]}
    assert client.count(collection_name).count == 1
    # The dropped vector is gone from filters and searches too.
    has_text = models.Filter(must=[models.HasVectorCondition(has_vector="text")])
    assert client.count(collection_name, count_filter=has_text).count == 0


def test_same_id_twice_in_one_request_last_wins(client, collection_name):
    make_plain(client, collection_name)
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=1, vector=[1, 1], payload={"n": "first"}),
            models.PointStruct(id=1, vector=[2, 2], payload={"n": "second"}),
        ],
    )
    record = client.retrieve(collection_name, [1], with_vectors=True)[0]
    assert (record.payload, record.vector) == ({"n": "second"}, [2.0, 2.0])


# --------------------------------------------------------------------------- retrieve


def test_retrieve_payload_and_vector_selectors(http, client, collection_name):
    make_mixed(client, collection_name)
    client.upsert(
        collection_name,
        [
            models.PointStruct(
                id=1,
                vector={"text": [1, 2, 3], "image": [4, 5]},
                payload={"a": 1, "b": {"c": 2, "d": 3}, "e": "x"},
            )
        ],
    )
    get = lambda **kw: client.retrieve(collection_name, [1], **kw)[0]  # noqa: E731
    assert get().payload == {"a": 1, "b": {"c": 2, "d": 3}, "e": "x"}
    assert get().vector is None
    assert not get(with_payload=False).payload  # REST: null; the client's gRPC conversion gives {}
    assert get(with_payload=["a", "b.c"]).payload == {"a": 1, "b": {"c": 2}}
    assert get(with_payload=models.PayloadSelectorInclude(include=["e"])).payload == {"e": "x"}
    assert get(with_payload=models.PayloadSelectorExclude(exclude=["a", "b.d"])).payload == {"b": {"c": 2}, "e": "x"}
    assert get(with_vectors=True).vector == {"text": [1.0, 2.0, 3.0], "image": [4.0, 5.0]}
    assert get(with_vectors=["image"]).vector == {"image": [4.0, 5.0]}
    # REST alias with_vectors and missing ids are skipped, order follows the request.
    body = {"ids": [99, 1], "with_vectors": ["text"], "with_payload": False}
    result = http.post(f"{http.base}/collections/{collection_name}/points", json=body).json()["result"]
    assert result == [{"id": 1, "payload": None, "vector": {"text": [1.0, 2.0, 3.0]}}]


def test_get_point_by_id(http, client, collection_name):
    make_plain(client, collection_name)
    pid = str(uuid.uuid4())
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=7, vector=[1, 2], payload={"k": 1}),
            models.PointStruct(id=pid, vector=[3, 4], payload={"k": 2}),
        ],
    )
    base = f"{http.base}/collections/{collection_name}/points"
    assert http.get(f"{base}/7").json()["result"] == {"id": 7, "payload": {"k": 1}, "vector": [1.0, 2.0]}
    assert http.get(f"{base}/{pid}").json()["result"]["payload"] == {"k": 2}
    missing = http.get(f"{base}/8")
    assert missing.status_code == 404
    assert "8" in missing.json()["status"]["error"]


def test_retrieve_many_points_in_order(client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 20)
    order = [17, 3, 20, 1, 9]
    assert [r.id for r in client.retrieve(collection_name, order)] == order


# --------------------------------------------------------------------------- delete and vector edits


def test_delete_by_ids_and_by_filter(client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 6)
    client.delete(collection_name, models.PointIdsList(points=[1, 42]))
    assert all_ids(client, collection_name) == {2, 3, 4, 5, 6}
    client.delete(collection_name, models.FilterSelector(filter=group("even")))
    assert all_ids(client, collection_name) == {3, 5}
    assert client.count(collection_name).count == 2
    # A deleted id can be written again as a new point.
    client.upsert(collection_name, [models.PointStruct(id=2, vector=[0, 1], payload={"again": True})])
    assert payloads(client, collection_name, [2]) == {2: {"again": True}}


def test_update_vectors_keeps_other_vectors_and_payload(client, collection_name):
    make_mixed(client, collection_name)
    client.upsert(
        collection_name,
        [
            models.PointStruct(
                id=1,
                vector={
                    "text": [1, 1, 1],
                    "image": [1, 1],
                    "sparse": models.SparseVector(indices=[1], values=[1.0]),
                },
                payload={"p": 1},
            )
        ],
    )
    client.update_vectors(
        collection_name,
        [models.PointVectors(id=1, vector={"image": [9, 8], "multi": [[1, 2]]})],
    )
    record = client.retrieve(collection_name, [1], with_vectors=True)[0]
    assert record.payload == {"p": 1}
    assert record.vector["text"] == [1.0, 1.0, 1.0]
    assert record.vector["image"] == [9.0, 8.0]
    assert record.vector["multi"] == [[1.0, 2.0]]
    assert record.vector["sparse"] == models.SparseVector(indices=[1], values=[1.0])


def test_update_vectors_naming_one_point_twice_applies_both(client, collection_name):
    make_mixed(client, collection_name)
    client.upsert(collection_name, [models.PointStruct(id=1, vector={"text": [1, 1, 1], "image": [1, 1]})])
    client.update_vectors(
        collection_name,
        [
            models.PointVectors(id=1, vector={"text": [2, 2, 2]}),
            models.PointVectors(id=1, vector={"image": [3, 3]}),
        ],
    )
    record = client.retrieve(collection_name, [1], with_vectors=True)[0]
    assert record.vector == {"text": [2.0, 2.0, 2.0], "image": [3.0, 3.0]}


def test_delete_vectors_by_ids_and_by_filter(client, collection_name):
    make_mixed(client, collection_name)
    client.upsert(
        collection_name,
        [
            models.PointStruct(
                id=i,
                vector={"text": [i, 0, 0], "image": [i, 0], "sparse": models.SparseVector(indices=[i], values=[1.0])},
                payload={"group": "even" if i % 2 == 0 else "odd"},
            )
            for i in (1, 2, 3, 4)
        ],
    )
    client.delete_vectors(collection_name, ["text", "sparse"], models.PointIdsList(points=[1]))
    client.delete_vectors(collection_name, ["image"], models.FilterSelector(filter=group("even")))
    vectors = {r.id: r.vector for r in client.retrieve(collection_name, [1, 2, 3, 4], with_vectors=True)}
    assert vectors[1] == {"image": [1.0, 0.0]}
    assert set(vectors[2]) == {"text", "sparse"}
    assert set(vectors[3]) == {"text", "image", "sparse"}
    assert set(vectors[4]) == {"text", "sparse"}
    has_image = models.Filter(must=[models.HasVectorCondition(has_vector="image")])
    assert client.count(collection_name, count_filter=has_image).count == 2
    # A point left without any vector shows an empty set of vectors, not null.
    client.delete_vectors(collection_name, ["image"], [1])
    assert client.retrieve(collection_name, [1], with_vectors=True)[0].vector == {}


# --------------------------------------------------------------------------- payload edits


def test_set_payload_by_ids_by_filter_and_at_nested_key(client, collection_name):
    make_plain(client, collection_name)
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=1, vector=[1, 1], payload={"a": 1, "group": "odd", "obj": {"x": 1}}),
            models.PointStruct(id=2, vector=[1, 1], payload={"a": 2, "group": "even"}),
            models.PointStruct(id=3, vector=[1, 1], payload={"a": 3, "group": "odd"}),
        ],
    )
    client.set_payload(collection_name, {"b": "new", "a": 10}, models.PointIdsList(points=[1]))
    client.set_payload(collection_name, {"flag": True}, models.FilterSelector(filter=group("odd")))
    client.set_payload(collection_name, {"y": 2}, [1], key="obj")
    client.set_payload(collection_name, {"z": 3}, [2], key="deep.inner")
    assert payloads(client, collection_name, [1, 2, 3]) == {
        1: {"a": 10, "b": "new", "group": "odd", "obj": {"x": 1, "y": 2}, "flag": True},
        2: {"a": 2, "group": "even", "deep": {"inner": {"z": 3}}},
        3: {"a": 3, "group": "odd", "flag": True},
    }
    # The payload index sees the edits.
    flagged = models.Filter(must=[models.FieldCondition(key="flag", match=models.MatchValue(value=True))])
    assert client.count(collection_name, count_filter=flagged).count == 2


def test_overwrite_payload_by_ids_and_by_filter(client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 4)
    client.overwrite_payload(collection_name, {"only": 1}, [1])
    client.overwrite_payload(collection_name, {"only": 2}, models.Filter(must=[group("even")]))
    assert payloads(client, collection_name, [1, 2, 3, 4]) == {
        1: {"only": 1},
        2: {"only": 2},
        3: {"n": 3, "group": "odd", "tag": "t3"},
        4: {"only": 2},
    }
    # Overwriting keeps vectors.
    assert client.retrieve(collection_name, [2], with_vectors=True)[0].vector == [2.0, -2.0]


def test_delete_payload_keys_by_ids_and_by_filter(client, collection_name):
    make_plain(client, collection_name)
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=i, vector=[1, 1], payload={"a": i, "b": {"c": 1, "d": 2}, "group": g})
            for i, g in ((1, "odd"), (2, "even"), (3, "odd"))
        ],
    )
    client.delete_payload(collection_name, ["a", "b.c"], [1])
    client.delete_payload(collection_name, ["b"], group("odd"))
    assert payloads(client, collection_name, [1, 2, 3]) == {
        1: {"group": "odd"},
        2: {"a": 2, "b": {"c": 1, "d": 2}, "group": "even"},
        3: {"a": 3, "group": "odd"},
    }


def test_clear_payload_by_ids_and_by_filter(client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 5)
    client.clear_payload(collection_name, models.PointIdsList(points=[1]))
    client.clear_payload(collection_name, models.FilterSelector(filter=group("even")))
    result = payloads(client, collection_name, [1, 2, 3, 4, 5])
    assert result[1] == {} and result[2] == {} and result[4] == {}
    assert result[3] == {"n": 3, "group": "odd", "tag": "t3"}
    assert client.count(collection_name, count_filter=group("even")).count == 0
    assert client.retrieve(collection_name, [4], with_vectors=True)[0].vector == [4.0, -4.0]


def test_batch_update_applies_all_eight_kinds_in_order(client, collection_name):
    make_mixed(client, collection_name)
    ops = [
        models.UpsertOperation(
            upsert=models.PointsList(
                points=[
                    models.PointStruct(id=i, vector={"text": [i, 0, 0], "image": [i, 0]}, payload={"i": i})
                    for i in (1, 2, 3, 4)
                ]
            )
        ),
        models.DeleteOperation(delete=models.PointIdsList(points=[4])),
        models.SetPayloadOperation(set_payload=models.SetPayload(payload={"s": "set"}, points=[1, 2])),
        models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(payload={"o": 1}, points=[3])),
        models.DeletePayloadOperation(delete_payload=models.DeletePayload(keys=["i"], points=[1])),
        models.ClearPayloadOperation(clear_payload=models.PointIdsList(points=[2])),
        models.UpdateVectorsOperation(
            update_vectors=models.UpdateVectors(points=[models.PointVectors(id=1, vector={"image": [7, 7]})])
        ),
        models.DeleteVectorsOperation(delete_vectors=models.DeleteVectors(points=[2], vector=["text"])),
        # Later operations see earlier ones: this upsert re-creates the deleted point.
        models.UpsertOperation(
            upsert=models.PointsList(points=[models.PointStruct(id=4, vector={"image": [4, 4]}, payload={"back": 1})])
        ),
    ]
    results = client.batch_update_points(collection_name, ops)
    assert len(results) == len(ops)
    assert all(r.status == models.UpdateStatus.COMPLETED for r in results)
    records = {r.id: r for r in client.retrieve(collection_name, [1, 2, 3, 4], with_vectors=True)}
    assert records[1].payload == {"s": "set"}
    assert records[1].vector == {"text": [1.0, 0.0, 0.0], "image": [7.0, 7.0]}
    assert records[2].payload == {}
    assert records[2].vector == {"image": [2.0, 0.0]}
    assert records[3].payload == {"o": 1}
    assert records[4].payload == {"back": 1}
    assert records[4].vector == {"image": [4.0, 4.0]}


def test_payload_edit_of_missing_point_is_404_and_changes_nothing(http, client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 2)
    response = http.post(
        f"{http.base}/collections/{collection_name}/points/payload",
        params={"wait": "true"},
        json={"payload": {"x": 1}, "points": [1, 99]},
    )
    assert response.status_code == 404
    assert "99" in response.json()["status"]["error"]
    assert payloads(client, collection_name, [1])[1] == {"n": 1, "group": "odd", "tag": "t1"}


# --------------------------------------------------------------------------- scroll and count


def test_scroll_filter_limit_offset(client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 10)
    page, next_offset = client.scroll(collection_name, limit=3)
    assert [r.id for r in page] == [1, 2, 3]
    assert next_offset == 4
    page, next_offset = client.scroll(collection_name, limit=3, offset=4)
    assert [r.id for r in page] == [4, 5, 6]
    # An offset that is not a stored id starts at the next id above it.
    client.delete(collection_name, [7])
    page, next_offset = client.scroll(collection_name, limit=2, offset=7)
    assert [r.id for r in page] == [8, 9] and next_offset == 10
    page, next_offset = client.scroll(collection_name, scroll_filter=group("even"), limit=10)
    assert [r.id for r in page] == [2, 4, 6, 8, 10]
    assert next_offset is None
    page, next_offset = client.scroll(collection_name, scroll_filter=group("odd"), limit=2, offset=4)
    assert [r.id for r in page] == [5, 9] and next_offset is None
    assert page[0].payload == {"n": 5, "group": "odd", "tag": "t5"}
    assert page[0].vector is None


def test_scroll_pagination_over_ints_and_uuids(client, collection_name):
    make_plain(client, collection_name)
    uuids = [str(uuid.uuid4()) for _ in range(23)]
    ints = list(range(0, 60, 3))
    client.upsert(collection_name, [models.PointStruct(id=pid, vector=[1, 0]) for pid in ints + uuids])
    seen: list = []
    offset = None
    pages = 0
    while True:
        page, offset = client.scroll(collection_name, limit=7, offset=offset)
        assert 0 < len(page) <= 7
        seen.extend(r.id for r in page)
        pages += 1
        if offset is None:
            break
        assert offset not in seen
    assert pages == (len(ints) + len(uuids) + 6) // 7
    # Integers first in ascending order, then UUIDs in their byte order; nothing twice.
    assert seen == sorted(ints) + sorted(uuids, key=lambda u: uuid.UUID(u).bytes)


def test_scroll_with_payload_and_vector_selectors(http, client, collection_name):
    make_mixed(client, collection_name)
    client.upsert(
        collection_name,
        [models.PointStruct(id=1, vector={"text": [1, 2, 3], "image": [4, 5]}, payload={"a": 1, "b": 2})],
    )
    page, _ = client.scroll(collection_name, with_payload=["b"], with_vectors=["image"])
    assert page[0].payload == {"b": 2}
    assert page[0].vector == {"image": [4.0, 5.0]}
    url = f"{http.base}/collections/{collection_name}/points/scroll"
    alias = http.post(url, json={"with_vectors": True, "with_payload": False}).json()["result"]
    assert alias["points"] == [{"id": 1, "payload": None, "vector": {"text": [1.0, 2.0, 3.0], "image": [4.0, 5.0]}}]
    canonical = http.post(url, json={"with_vector": ["text"]}).json()["result"]
    assert canonical["points"][0]["vector"] == {"text": [1.0, 2.0, 3.0]}
    # No body at all is a scroll with defaults.
    bare = http.post(url)
    assert bare.status_code == 200
    assert bare.json()["result"]["points"][0]["payload"] == {"a": 1, "b": 2}


def test_order_by_requires_a_range_index(http, client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 3)
    with expect_error(400, "order_by"):
        client.scroll(collection_name, order_by="n")
    # A keyword index is not a range index either.
    client.create_payload_index(collection_name, "tag", models.PayloadSchemaType.KEYWORD)
    response = http.post(f"{http.base}/collections/{collection_name}/points/scroll", json={"order_by": "tag"})
    assert response.status_code == 400
    assert response.json()["status"]["error"]


def test_order_by_integer_index(http, client, collection_name):
    make_plain(client, collection_name)
    values = {1: 50, 2: 10, 3: 40, 4: 20, 5: 30, 6: 30}
    client.upsert(collection_name, [models.PointStruct(id=i, vector=[1, 0], payload={"rank": v}) for i, v in values.items()])
    client.upsert(collection_name, [models.PointStruct(id=7, vector=[1, 0], payload={"other": 1})])
    client.create_payload_index(collection_name, "rank", models.PayloadSchemaType.INTEGER)
    page, next_offset = client.scroll(collection_name, order_by="rank", limit=10)
    assert [values[r.id] for r in page] == [10, 20, 30, 30, 40, 50]
    assert next_offset is None
    # An integer field's order_value is an integer in the JSON.
    raw = http.post(f"{http.base}/collections/{collection_name}/points/scroll", json={"order_by": "rank", "limit": 2})
    assert raw.json()["result"]["points"][0]["order_value"] == 10
    assert '"order_value":10,' in raw.text.replace(" ", "") or '"order_value":10}' in raw.text.replace(" ", "")
    desc, _ = client.scroll(
        collection_name, order_by=models.OrderBy(key="rank", direction=models.Direction.DESC), limit=3
    )
    assert [values[r.id] for r in desc] == [50, 40, 30]
    start, _ = client.scroll(collection_name, order_by=models.OrderBy(key="rank", start_from=25), limit=10)
    assert [values[r.id] for r in start] == [30, 30, 40, 50]
    below, _ = client.scroll(
        collection_name,
        order_by=models.OrderBy(key="rank", direction=models.Direction.DESC, start_from=30),
        limit=10,
    )
    assert [values[r.id] for r in below] == [30, 30, 20, 10]
    filtered, _ = client.scroll(
        collection_name,
        order_by="rank",
        scroll_filter=models.Filter(must=[models.FieldCondition(key="rank", range=models.Range(gte=20))]),
        limit=2,
    )
    assert [values[r.id] for r in filtered] == [20, 30]


def test_order_by_float_index_shows_order_value(http, client, collection_name):
    make_plain(client, collection_name)
    prices = {1: 9.5, 2: 0.25, 3: 3.75, 4: -1.5}
    client.upsert(collection_name, [models.PointStruct(id=i, vector=[1, 0], payload={"price": p}) for i, p in prices.items()])
    client.create_payload_index(collection_name, "price", models.PayloadSchemaType.FLOAT)
    body = {"order_by": {"key": "price", "direction": "desc"}, "limit": 3}
    result = http.post(f"{http.base}/collections/{collection_name}/points/scroll", json=body).json()["result"]
    assert [p["id"] for p in result["points"]] == [1, 3, 2]
    assert [p["order_value"] for p in result["points"]] == [9.5, 3.75, 0.25]
    page, _ = client.scroll(collection_name, order_by=models.OrderBy(key="price", start_from=0))
    assert [r.id for r in page] == [2, 3, 1]


def test_order_by_datetime_index(client, collection_name):
    make_plain(client, collection_name)
    stamps = {
        1: "2024-03-01T00:00:00Z",
        2: "2023-12-31T23:59:59Z",
        3: "2024-01-15T12:00:00+02:00",
        4: "2024-01-15T11:00:00Z",
    }
    client.upsert(collection_name, [models.PointStruct(id=i, vector=[1, 0], payload={"at": s}) for i, s in stamps.items()])
    client.create_payload_index(collection_name, "at", models.PayloadSchemaType.DATETIME)
    page, _ = client.scroll(collection_name, order_by="at")
    # 12:00+02:00 is 10:00Z, before 11:00Z.
    assert [r.id for r in page] == [2, 3, 4, 1]
    later, _ = client.scroll(collection_name, order_by=models.OrderBy(key="at", start_from="2024-01-15T10:30:00Z"))
    assert [r.id for r in later] == [4, 1]
    earlier, _ = client.scroll(
        collection_name,
        order_by=models.OrderBy(key="at", direction=models.Direction.DESC, start_from="2024-01-15T10:30:00Z"),
    )
    assert [r.id for r in earlier] == [3, 2]


def test_order_by_with_offset_is_rejected(http, client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 3)
    client.create_payload_index(collection_name, "n", models.PayloadSchemaType.INTEGER)
    response = http.post(
        f"{http.base}/collections/{collection_name}/points/scroll", json={"order_by": "n", "offset": 2}
    )
    assert response.status_code == 400
    assert "offset" in response.json()["status"]["error"]


def test_count_exact_and_approximate(client, collection_name):
    make_plain(client, collection_name)
    seed(client, collection_name, 9)
    assert client.count(collection_name).count == 9
    assert client.count(collection_name, exact=False).count == 9
    assert client.count(collection_name, count_filter=group("even")).count == 4
    approx = client.count(collection_name, count_filter=group("odd"), exact=False).count
    assert approx >= 5  # an estimate never below the true count here
    client.delete(collection_name, [1, 2])
    assert client.count(collection_name, count_filter=group("odd")).count == 4


# --------------------------------------------------------------------------- several shards on one node


def test_three_shards_on_one_node(node, http, client, collection_name):
    make_plain(client, collection_name, shard_number=3)
    ints = list(range(1, 61))
    uuids = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(40)]
    client.upsert(
        collection_name,
        [models.PointStruct(id=pid, vector=[1, 0], payload={"idx": k}) for k, pid in enumerate(ints + uuids)],
    )
    # Every shard's own RocksDB received writes: the points were spread, not piled on one shard.
    shard_dirs = sorted(glob.glob(os.path.join(node.storage, "collections", collection_name, "*")))
    assert [os.path.basename(d) for d in shard_dirs] == ["0", "1", "2"]
    for shard_dir in shard_dirs:
        logs = glob.glob(os.path.join(shard_dir, "points", "*.log"))
        assert sum(os.path.getsize(f) for f in logs) > 0, shard_dir
    assert client.count(collection_name).count == 100
    assert client.count(collection_name, exact=False).count == 100
    everything = ints + uuids
    assert {r.id for r in client.retrieve(collection_name, everything)} == set(everything)
    # Pagination merges shards in id order without gaps or repeats.
    seen: list = []
    offset = None
    while True:
        page, offset = client.scroll(collection_name, limit=9, offset=offset)
        seen.extend(r.id for r in page)
        if offset is None:
            break
    assert seen == ints + sorted(uuids, key=lambda u: uuid.UUID(u).bytes)
    # Writes by filter and by ids reach every shard.
    wide = models.Filter(must=[models.FieldCondition(key="idx", range=models.Range(gte=50))])
    client.set_payload(collection_name, {"late": True}, wide)
    late = models.Filter(must=[models.FieldCondition(key="late", match=models.MatchValue(value=True))])
    assert client.count(collection_name, count_filter=late).count == 50
    client.delete(collection_name, wide)
    assert client.count(collection_name).count == 50
    client.delete(collection_name, ints[:10])
    assert all_ids(client, collection_name) == set(ints[10:50])
    # Ordering by a payload value merges across shards too.
    client.create_payload_index(collection_name, "idx", models.PayloadSchemaType.INTEGER)
    ordered, _ = client.scroll(collection_name, order_by=models.OrderBy(key="idx", direction="desc"), limit=5)
    assert [r.payload["idx"] for r in ordered] == [49, 48, 47, 46, 45]
