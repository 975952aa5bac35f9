"""Cluster-wide schema and edge cases of the query surface: named vectors and strict
mode changed through one node and enforced on all, UUID ids, unusual payloads
and partial vectors through remote shards, and queries with one node down."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.cluster import brute_force as bf
from tests.cluster.query_surface_data import (
    COS, DIM, DOT, EXACT, IDS, N, NAME, PAYLOADS, RNG, SMALL, build, check_ranked, check_scored, facet_counts,
    node_clients, on_every_node,
)


@pytest.fixture(scope="module")
def clients(cluster):
    yield from node_clients(cluster)


@pytest.fixture(scope="module")
def coll(cluster, clients) -> str:
    return build(cluster, clients)


# --------------------------------------------------------------------------- named vectors, strict mode


def test_named_vector_create_and_delete_everywhere(cluster, clients):
    first, second, third = clients
    first.create_collection(SMALL, shard_number=3, replication_factor=2,
                            vectors_config={"a": models.VectorParams(size=3, distance=models.Distance.DOT)})
    cluster.wait_all_active(SMALL)
    first.upsert(SMALL, points=[models.PointStruct(id=i, vector={"a": [1.0, float(i), 0.0]}) for i in range(30)],
                 wait=True)
    response = cluster.request(cluster.nodes[1], "PUT", f"/collections/{SMALL}/vectors/extra",
                               json={"size": 2, "distance": "Euclid"})
    assert response.status_code == 200, response.text
    on_every_node(cluster, clients, "vector `extra`",
                  lambda c: set(c.get_collection(SMALL).config.params.vectors) == {"a", "extra"})
    extra = RNG.normal(size=(30, 2)).astype(np.float32)
    third.update_vectors(SMALL, [models.PointVectors(id=i, vector={"extra": extra[i].tolist()}) for i in range(30)],
                         wait=True)
    q = RNG.normal(size=2)
    dist = np.sqrt(((extra.astype(np.float64) - q) ** 2).sum(axis=1))
    for client in clients:
        hits = client.query_points(SMALL, query=q.tolist(), using="extra", limit=5, search_params=EXACT).points
        assert [h.score for h in hits] == pytest.approx(sorted(dist)[:5], abs=1e-4)
    response = cluster.request(cluster.nodes[2], "DELETE", f"/collections/{SMALL}/vectors/extra")
    assert response.status_code == 200, response.text
    on_every_node(cluster, clients, "vector `extra` gone",
                  lambda c: set(c.get_collection(SMALL).config.params.vectors) == {"a"}
                  and set(c.retrieve(SMALL, [7], with_vectors=True)[0].vector) == {"a"})
    for client in clients:
        with pytest.raises(UnexpectedResponse) as error:
            client.query_points(SMALL, query=q.tolist(), using="extra", limit=2)
        assert error.value.status_code == 400
    for shard_id, replicas in cluster.replica_states(SMALL).items():  # no replica kept the old values
        for peer_id in replicas:
            stored = cluster.read_replica(peer_id, SMALL, shard_id)
            assert stored and all(set(vectors) == {"a"} for vectors, _ in stored.values())


def test_strict_mode_limit_on_every_node(cluster, clients):
    clients[0].update_collection(
        SMALL, strict_mode_config=models.StrictModeConfig(enabled=True, max_query_limit=3)
    )
    on_every_node(cluster, clients, "strict mode",
                  lambda c: (c.get_collection(SMALL).config.strict_mode_config or models.StrictModeConfig())
                  .max_query_limit == 3)
    for client in clients:
        with pytest.raises(UnexpectedResponse) as error:
            client.query_points(SMALL, query=[1.0, 0.0, 0.0], using="a", limit=4)
        assert error.value.status_code == 400 and "Limit exceeded 4 > 3" in error.value.content.decode()
        hits = client.query_points(SMALL, query=[1.0, 1.0, 0.0], using="a", limit=3).points
        assert [h.id for h in hits] == [29, 28, 27]
    assert math.isclose(hits[0].score, 30.0, abs_tol=1e-4)


def test_uuid_and_integer_ids_across_shards(cluster, clients):
    name = "qs_uuid"
    clients[1].create_collection(name, shard_number=3, replication_factor=2,
                                 vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE))
    cluster.wait_all_active(name)
    ids = [str(uuid.UUID(int=(k * 7919) << 64 | k)) for k in range(1, 21)] + list(range(100, 120))
    vectors = {pid: [math.cos(k / 7), math.sin(k / 7)] for k, pid in enumerate(ids)}
    clients[2].upsert(name, points=[models.PointStruct(id=p, vector=v, payload={"k": str(p)})
                                    for p, v in vectors.items()], wait=True)
    expected_order = list(range(100, 120)) + sorted(p for p in ids if isinstance(p, str))  # numbers, then UUIDs
    for client in clients:
        seen, offset = [], None
        while True:
            page, offset = client.scroll(name, limit=7, offset=offset)
            seen += [r.id for r in page]
            if offset is None:
                break
        assert seen == expected_order
        anchor = ids[3]
        hits = client.query_points(name, query=anchor, limit=4).points
        scores = {p: float(bf.cosine(np.asarray([v]), vectors[anchor])[0]) for p, v in vectors.items() if p != anchor}
        assert [h.score for h in hits] == pytest.approx(sorted(scores.values(), reverse=True)[:4], abs=1e-5)
        assert all(h.score == pytest.approx(scores[h.id], abs=1e-5) for h in hits)
        got = client.retrieve(name, ids=[ids[0], 105, ids[7]])
        assert [r.id for r in got] == [ids[0], 105, ids[7]] and got[1].payload == {"k": "105"}


ODD_PAYLOAD = {
    "big": 2**63 - 1, "neg": -(2**62), "tiny": 1e-300, "huge": 1.5e300, "flag": False, "none": None,
    "empty": [], "obj": {}, "nested": {"a": [{"b": 1}, {"b": [2, 3]}], "t": "ünïcødé ✓ 中文"},
    "mixed": [1, "x", 2.5, True, None, {"k": "v"}], "when": "2024-02-29T12:34:56.789Z", "quote": "\"'\\\n\t",
}


def test_odd_payloads_and_partial_vectors_through_remote_shards(cluster, clients):
    name = "qs_odd"
    clients[0].create_collection(
        name, shard_number=3, replication_factor=2,
        vectors_config={"d": models.VectorParams(size=3, distance=models.Distance.DOT),
                        "m": models.VectorParams(size=2, distance=models.Distance.DOT, multivector_config=models.
                                                 MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM))},
        sparse_vectors_config={"s": models.SparseVectorParams()},
    )
    cluster.wait_all_active(name)
    points = []
    for i in range(30):
        vector: dict = {"d": [1.0, float(i), -0.5]}
        if i % 3 == 0:
            vector["m"] = [[float(i), 1.0], [0.5, -float(i)]]
        if i % 2 == 0:
            vector["s"] = models.SparseVector(indices=[i, 1000 + i], values=[0.5, float(i)])
        points.append(models.PointStruct(id=i, vector=vector, payload={**ODD_PAYLOAD, "i": i}))
    clients[1].upsert(name, points=points, wait=True)
    for client in clients:
        hits = client.query_points(name, query=[0.0, 1.0, 0.0], using="d", limit=30, with_payload=True,
                                   with_vectors=True).points
        assert [h.id for h in hits] == list(range(29, -1, -1))
        for hit in hits:
            assert hit.payload == {**ODD_PAYLOAD, "i": hit.id}
            assert set(hit.vector) == {"d"} | ({"m"} if hit.id % 3 == 0 else set()) | ({"s"} if hit.id % 2 == 0 else set())
        multi = client.query_points(name, query=[[1.0, 0.0]], using="m", limit=30).points
        assert [h.id for h in multi] == [27, 24, 21, 18, 15, 12, 9, 6, 3, 0]
        sparse = client.query_points(name, query=models.SparseVector(indices=[1004, 1010], values=[1.0, 2.0]),
                                     using="s", limit=30).points
        assert [(h.id, h.score) for h in sparse] == [(10, 20.0), (4, 4.0)]
        with pytest.raises(UnexpectedResponse) as error:  # the example has no "m"
            client.query_points(name, query=1, using="m", limit=3)
        assert error.value.status_code == 400
        with pytest.raises(UnexpectedResponse) as error:
            client.query_points(name, query=12345, using="d", limit=3)
        assert error.value.status_code == 404
        with pytest.raises(UnexpectedResponse) as error:
            client.query_points(name, query=[1.0, 2.0], using="d", limit=3)
        assert error.value.status_code == 400 and "dimension" in error.value.content.decode().lower()


def test_queries_survive_a_dead_node(cluster, clients, coll):
    """Every shard keeps one live replica when one node is down: the answers stay exact."""
    victim = cluster.nodes[2]
    q = RNG.normal(size=DIM)
    cluster.kill(victim)
    try:
        for client in clients[:2]:
            hits = client.query_points(coll, query=q.tolist(), using="cos", limit=10, search_params=EXACT).points
            check_ranked(hits, bf.top(bf.cosine(COS, q), 10))
            fused = client.query_points(
                coll,
                prefetch=[models.Prefetch(query=q.tolist(), using="cos", limit=20, params=EXACT),
                          models.Prefetch(query=q.tolist(), using="dot", limit=20, params=EXACT)],
                query=models.FusionQuery(fusion=models.Fusion.RRF), limit=10,
            ).points
            check_scored(fused, bf.rrf([bf.top(bf.cosine(COS, q), 20), bf.top(bf.dot(DOT, q), 20)]), 10)
            assert client.count(coll, exact=True).count == N
            got = client.facet(coll, key="cat", exact=True)
            assert [(h.value, h.count) for h in got.hits] == facet_counts(lambda i: PAYLOADS[i]["cat"])
            records = client.retrieve(coll, ids=IDS)
            assert [r.id for r in records] == IDS
    finally:
        cluster.restart(victim)
    cluster.wait_all_active(NAME, timeout=60)
    hits = clients[2].query_points(coll, query=q.tolist(), using="cos", limit=10, search_params=EXACT).points
    check_ranked(hits, bf.top(bf.cosine(COS, q), 10))
