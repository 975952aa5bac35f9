"""REST and gRPC give the same results: one sequence of point operations, run twice.

Two identical collections, one driven only over REST and one only over gRPC
(the official client with ``prefer_grpc``), go through the same writes; after
every step the whole content (ids, payloads, every vector) of both must be
identical, and so must the answers of the reads (scroll with filter and
order_by, count, retrieve with selectors). Counts and orders are also checked
against the dumped content computed here.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from tests.integration.transport_errors import expect_error

N_POINTS = 30
TRANSPORTS = ("rest", "grpc")


def _f32(values: Any) -> list[float]:
    return [float(np.float32(v)) for v in values]


def normalize_vector(value: Any) -> Any:
    if isinstance(value, models.SparseVector):
        return ("sparse", list(value.indices), _f32(value.values))
    if value and isinstance(value[0], list):
        return [_f32(row) for row in value]
    return _f32(value)


def normalize(record: Any) -> tuple:
    vectors = record.vector
    if isinstance(vectors, dict):
        vectors = {name: normalize_vector(v) for name, v in vectors.items()}
    elif vectors is not None:
        vectors = normalize_vector(vectors)
    return (record.id, record.payload or {}, vectors, record.order_value)


def point_id(i: int) -> Any:
    """Integer ids, and a UUID for every fifth point."""
    return str(uuid.UUID(int=i + 1)) if i % 5 == 4 else i


def make_points(rng: np.random.Generator, ids: range) -> list[models.PointStruct]:
    points = []
    for i in ids:
        # multiples of 1/8 are exact in f32, so both transports store the very values sent
        dense = (rng.integers(-16, 16, size=4) / 8).tolist()
        multi = (rng.integers(-8, 8, size=(1 + i % 3, 2)) / 4).tolist()
        vector: dict[str, Any] = {"image": dense, "multi": multi}
        if i % 3:
            vector["words"] = models.SparseVector(indices=[i % 7 + 10, i % 5], values=[0.5 + i, 0.25])
        payload = {
            "n": i,
            "score": i / 4,
            "tag": ["red", "green", "blue"][i % 3],
            "flags": {"even": i % 2 == 0, "list": [i, "x", None, {"deep": [1.5, True]}]},
            "text": f"point number {i} of the parity run",
            "at": f"2024-03-{1 + i % 28:02d}T12:00:00Z",
            "maybe": None if i % 4 == 0 else i,
        }
        points.append(models.PointStruct(id=point_id(i), vector=vector, payload=payload))
    return points


@pytest.fixture
def pair(rest_client: QdrantClient, grpc_client: QdrantClient):
    """Two identical empty collections: (clients by transport, collection names by transport)."""
    suffix = uuid.uuid4().hex[:8]
    names = {transport: f"parity_{transport}_{suffix}" for transport in TRANSPORTS}
    for name in names.values():
        rest_client.create_collection(
            name,
            vectors_config={
                "image": models.VectorParams(size=4, distance=models.Distance.DOT),
                "multi": models.VectorParams(
                    size=2,
                    distance=models.Distance.DOT,
                    multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
                ),
            },
            sparse_vectors_config={"words": models.SparseVectorParams()},
            shard_number=2,
        )
    yield {"rest": rest_client, "grpc": grpc_client}, names
    for name in names.values():
        rest_client.delete_collection(name)


class Parity:
    """Runs one operation on both collections, each over its own transport, and compares."""

    def __init__(self, clients: dict[str, QdrantClient], names: dict[str, str]) -> None:
        self.clients, self.names = clients, names

    def both(self, op: Callable[[QdrantClient, str], Any]) -> dict[str, Any]:
        return {t: op(self.clients[t], self.names[t]) for t in TRANSPORTS}

    def same(self, op: Callable[[QdrantClient, str], Any], norm: Callable[[Any], Any] = lambda x: x) -> Any:
        results = {t: norm(r) for t, r in self.both(op).items()}
        assert results["rest"] == results["grpc"]
        return results["rest"]

    def write(self, op: Callable[[QdrantClient, str], Any]) -> list[tuple]:
        """A write on both; both report completed; the whole content is identical afterwards."""
        for result in self.both(op).values():
            statuses = [r.status for r in result] if isinstance(result, list) else [result.status]
            assert statuses and all(s == models.UpdateStatus.COMPLETED for s in statuses)
        return self.dump()

    def dump(self) -> list[tuple]:
        def everything(client: QdrantClient, name: str) -> list:
            records, offset = client.scroll(name, limit=1000, with_payload=True, with_vectors=True)
            assert offset is None
            return records

        return self.same(everything, lambda records: sorted((normalize(r) for r in records), key=lambda r: str(r[0])))


def by_id(dump: list[tuple]) -> dict[Any, tuple]:
    return {entry[0]: entry for entry in dump}


def test_writes_and_reads_are_identical_over_rest_and_grpc(pair) -> None:
    parity = Parity(*pair)
    rng = np.random.default_rng(7)
    points = make_points(rng, range(N_POINTS))

    dump = parity.write(lambda c, n: c.upsert(n, points, wait=True))
    assert len(dump) == N_POINTS
    sent = points[4]  # a UUID id, with all three vectors
    stored = by_id(dump)[sent.id]
    assert stored[1] == sent.payload
    assert stored[2]["image"] == _f32(sent.vector["image"])
    assert stored[2]["multi"] == [_f32(row) for row in sent.vector["multi"]]
    assert stored[2]["words"] == ("sparse", [4, 14], _f32([0.25, 4.5]))  # indices sorted, values follow

    # field indexes of several kinds
    for field, schema in [
        ("n", models.PayloadSchemaType.INTEGER),
        ("tag", models.PayloadSchemaType.KEYWORD),
        ("at", models.PayloadSchemaType.DATETIME),
        ("text", models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD,
                                        lowercase=True)),
    ]:
        parity.write(lambda c, n, field=field, schema=schema: c.create_payload_index(n, field, schema, wait=True))
    schemas = parity.same(lambda c, n: parity.clients["rest"].get_collection(n).payload_schema,
                          lambda s: {k: (v.data_type, v.points) for k, v in s.items()})
    assert schemas == {
        "n": (models.PayloadSchemaType.INTEGER, N_POINTS),
        "tag": (models.PayloadSchemaType.KEYWORD, N_POINTS),
        "at": (models.PayloadSchemaType.DATETIME, N_POINTS),
        "text": (models.PayloadSchemaType.TEXT, N_POINTS),
    }

    # payload edits: set (also under a key), overwrite, delete keys, clear
    reds = models.Filter(must=[models.FieldCondition(key="tag", match=models.MatchValue(value="red"))])
    dump = parity.write(lambda c, n: c.set_payload(n, {"extra": {"a": [1, 2]}, "n": 100}, points=[1, 2], wait=True))
    assert by_id(dump)[1][1]["extra"] == {"a": [1, 2]} and by_id(dump)[2][1]["n"] == 100
    dump = parity.write(lambda c, n: c.set_payload(n, {"inner": True}, points=[5], key="flags", wait=True))
    assert by_id(dump)[5][1]["flags"]["inner"] is True and by_id(dump)[5][1]["flags"]["even"] is False
    dump = parity.write(lambda c, n: c.overwrite_payload(n, {"only": "this"}, points=reds, wait=True))
    assert [e[1] for e in dump if e[1].get("only")] == [{"only": "this"}] * 10
    dump = parity.write(lambda c, n: c.delete_payload(n, ["maybe", "score"], points=[1, 2, 7], wait=True))
    assert "score" not in by_id(dump)[7][1] and by_id(dump)[8][1]["score"] == 2.0
    dump = parity.write(lambda c, n: c.clear_payload(n, [8, 10], wait=True))
    assert by_id(dump)[8][1] == {} and by_id(dump)[10][1] == {}

    # vectors: update some names of some points, delete a name by filter
    new_image = [0.5, -0.25, 1.0, 2.0]
    dump = parity.write(lambda c, n: c.update_vectors(
        n, [models.PointVectors(id=11, vector={"image": new_image, "multi": [[1.0, 1.0]]})], wait=True))
    assert by_id(dump)[11][2]["image"] == new_image and by_id(dump)[11][2]["multi"] == [[1.0, 1.0]]
    greens = models.Filter(must=[models.FieldCondition(key="tag", match=models.MatchValue(value="green"))])
    dump = parity.write(lambda c, n: c.delete_vectors(n, ["multi"], points=greens, wait=True))
    assert by_id(dump)[13][2].keys() == {"image", "words"}  # 13 % 3 == 1: green, has words

    # a batch of every kind of update
    operations = [
        models.UpsertOperation(upsert=models.PointsList(points=make_points(rng, range(40, 43)))),
        models.SetPayloadOperation(set_payload=models.SetPayload(payload={"batch": 1}, points=[40, 41])),
        models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(payload={"w": 2}, points=[42])),
        models.DeletePayloadOperation(delete_payload=models.DeletePayload(keys=["batch"], points=[41])),
        models.UpdateVectorsOperation(update_vectors=models.UpdateVectors(
            points=[models.PointVectors(id=40, vector={"image": [1.0, 2.0, 3.0, 4.0]})])),
        models.DeleteVectorsOperation(delete_vectors=models.DeleteVectors(vector=["words"], points=[41])),
        models.ClearPayloadOperation(clear_payload=models.PointIdsList(points=[6])),
        models.DeleteOperation(delete=models.PointIdsList(points=[0, 12])),
    ]
    dump = parity.write(lambda c, n: c.batch_update_points(n, operations, wait=True))
    assert len(dump) == N_POINTS + 3 - 2
    assert by_id(dump)[40][1]["batch"] == 1 and "batch" not in by_id(dump)[41][1]
    assert by_id(dump)[42][1] == {"w": 2} and by_id(dump)[6][1] == {}
    assert by_id(dump)[40][2]["image"] == [1.0, 2.0, 3.0, 4.0] and "words" not in by_id(dump)[41][2]

    # delete by filter (red points lost `n` to the overwrite above)
    gone = {e[0] for e in dump if isinstance(e[1].get("n"), int) and 25 <= e[1]["n"] < 28}
    assert gone == {25, 26}
    before = set(by_id(dump))
    dump = parity.write(lambda c, n: c.delete(n, models.Filter(must=[
        models.FieldCondition(key="n", range=models.Range(gte=25, lt=28))]), wait=True))
    assert set(by_id(dump)) == before - gone

    # reads: count, filtered scroll with order_by, pages, retrieve with selectors
    content = by_id(dump)
    for flt in [
        None,
        models.Filter(must=[models.FieldCondition(key="n", range=models.Range(gte=10))]),
        models.Filter(should=[models.FieldCondition(key="tag", match=models.MatchAny(any=["blue", "green"]))],
                      must_not=[models.HasIdCondition(has_id=[1, 2, 3])]),
        models.Filter(must=[models.FieldCondition(key="text", match=models.MatchText(text="parity"))]),
        models.Filter(must=[models.FieldCondition(key="at", range=models.DatetimeRange(gte="2024-03-10T00:00:00Z"))]),
        models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="maybe"))]),
    ]:
        count = parity.same(lambda c, n, flt=flt: c.count(n, count_filter=flt, exact=True).count)
        ids = parity.same(lambda c, n, flt=flt: sorted(
            (r.id for r in c.scroll(n, scroll_filter=flt, limit=1000, with_payload=False)[0]), key=str))
        assert count == len(ids)
    n_at_least_10 = sum(1 for e in content.values() if isinstance(e[1].get("n"), int) and e[1]["n"] >= 10)
    assert parity.same(lambda c, n: c.count(n, count_filter=models.Filter(
        must=[models.FieldCondition(key="n", range=models.Range(gte=10))])).count) == n_at_least_10

    ordered = parity.same(
        lambda c, n: c.scroll(n, limit=8, order_by=models.OrderBy(key="n", direction=models.Direction.DESC),
                              scroll_filter=models.Filter(must_not=[models.FieldCondition(
                                  key="tag", match=models.MatchValue(value="red"))]),
                              with_payload=["n", "tag"], with_vectors=["image"]),
        lambda page: ([normalize(r) for r in page[0]], page[1]),
    )
    expected_order = sorted(
        (e for e in content.values() if isinstance(e[1].get("n"), int) and e[1].get("tag") != "red"),
        key=lambda e: -e[1]["n"],
    )[:8]
    assert [r[3] for r in ordered[0]] == [e[1]["n"] for e in expected_order]
    assert all(set(r[2]) == {"image"} and set(r[1]) <= {"n", "tag"} for r in ordered[0])

    pages = parity.same(lambda c, n: c.scroll(n, limit=7, offset=4, with_payload=False),
                        lambda page: ([r.id for r in page[0]], page[1]))
    assert len(pages[0]) == 7 and pages[1] is not None

    wanted = [point_id(4), 11, 999, 40]
    retrieved = parity.same(
        lambda c, n: c.retrieve(n, wanted, with_payload=models.PayloadSelectorExclude(exclude=["flags"]),
                                with_vectors=["image", "words"]),
        lambda records: [normalize(r) for r in records],
    )
    assert [r[0] for r in retrieved] == [point_id(4), 11, 40]
    assert all("flags" not in r[1] for r in retrieved)

    # the same rejection, with the mapped status, over both transports
    for transport in TRANSPORTS:
        with expect_error(400, "Vector dimension error"):
            parity.clients[transport].upsert(
                parity.names[transport], [models.PointStruct(id=1, vector={"image": [1.0, 2.0]})])
        with expect_error(404, "Not found"):
            parity.clients[transport].set_payload(parity.names[transport], {"x": 1}, points=[123456])
    assert parity.dump() == dump

    # remove the indexes again
    for field in ("n", "tag", "at", "text"):
        parity.write(lambda c, n, field=field: c.delete_payload_index(n, field, wait=True))
    assert parity.same(lambda c, n: parity.clients["rest"].get_collection(n).payload_schema) == {}
