"""Search end to end: every answer of ``/points/query`` is checked against numpy brute force."""

from __future__ import annotations


import numpy as np
import pytest

from tests import polling
from qdrant_client import QdrantClient, models

DISTANCES = {
    "Cosine": models.Distance.COSINE,
    "Euclid": models.Distance.EUCLID,
    "Dot": models.Distance.DOT,
    "Manhattan": models.Distance.MANHATTAN,
}


# --------------------------------------------------------------------------- helpers


def brute_scores(distance: str, data: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Qdrant's score of ``query`` against every row of ``data``, in float64."""
    data = np.asarray(data, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64)
    if distance == "Cosine":
        data = data / np.linalg.norm(data, axis=1, keepdims=True)
        query = query / np.linalg.norm(query)
        return data @ query
    if distance == "Dot":
        return data @ query
    if distance == "Euclid":
        return np.sqrt(((data - query) ** 2).sum(axis=1))
    if distance == "Manhattan":
        return np.abs(data - query).sum(axis=1)
    raise AssertionError(distance)


def higher_better(distance: str) -> bool:
    return distance in ("Cosine", "Dot")


def expected_ranking(distance: str, scores: np.ndarray, ids: list) -> list:
    order = np.argsort(-scores if higher_better(distance) else scores, kind="stable")
    return [ids[i] for i in order]


def assert_hits_match(hits, distance: str, scores_by_id: dict, ranking: list, offset: int = 0, limit: int = 10):
    """Hits equal the brute-force ranking[offset:offset+limit]; near-ties may swap places."""
    expected = ranking[offset : offset + limit]
    assert len(hits) == len(expected), (len(hits), len(expected))
    for position, (hit, want) in enumerate(zip(hits, expected)):
        assert hit.score == pytest.approx(scores_by_id[hit.id], rel=1e-4, abs=1e-4), (position, hit.id)
        if hit.id != want:
            assert abs(scores_by_id[hit.id] - scores_by_id[want]) < 1e-4, (position, hit.id, want)
    returned = [hit.score for hit in hits]
    assert returned == sorted(returned, reverse=higher_better(distance))


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    return polling.wait_for(predicate, timeout=timeout, interval=interval, what=what)


def upsert_dense(client: QdrantClient, name: str, data: np.ndarray, vector_name: str | None = None, start: int = 0,
                 payloads: list | None = None, batch: int = 1000) -> None:
    for lo in range(0, len(data), batch):
        rows = data[lo : lo + batch]
        vectors = rows.tolist() if vector_name is None else {vector_name: rows.tolist()}
        client.upsert(
            name,
            points=models.Batch(
                ids=list(range(start + lo, start + lo + len(rows))),
                vectors=vectors,
                payloads=payloads[lo : lo + batch] if payloads is not None else None,
            ),
            wait=True,
        )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def dense_collections(client, transport):
    """One collection per distance with the same 400 x 16 random points; each point has a payload."""
    rng = np.random.default_rng(7)
    data = rng.normal(size=(400, 16)).astype(np.float32)
    payloads = [{"n": i, "parity": "even" if i % 2 == 0 else "odd", "tags": ["t", str(i % 5)]} for i in range(400)]
    names = {}
    for label, distance in DISTANCES.items():
        name = f"search_{label.lower()}_{transport}"
        client.create_collection(name, vectors_config=models.VectorParams(size=16, distance=distance))
        upsert_dense(client, name, data, payloads=payloads, batch=150)
        names[label] = name
    return names, data, payloads


# --------------------------------------------------------------------------- dense


@pytest.mark.parametrize("distance", list(DISTANCES))
def test_dense_query_equals_brute_force(client, dense_collections, distance):
    names, data, _ = dense_collections
    ids = list(range(len(data)))
    rng = np.random.default_rng(11)
    for _ in range(5):
        query = rng.normal(size=16).astype(np.float32)
        scores = brute_scores(distance, data, query)
        by_id = dict(zip(ids, scores.tolist()))
        ranking = expected_ranking(distance, scores, ids)
        hits = client.query_points(names[distance], query=query.tolist(), limit=10).points
        assert_hits_match(hits, distance, by_id, ranking, limit=10)


def test_query_defaults_leave_out_payload_and_vector(http, dense_collections):
    names, data, _ = dense_collections
    response = http.post(f"{http.base}/collections/{names['Euclid']}/points/query", json={"query": data[0].tolist()})
    assert response.status_code == 200, response.text
    points = response.json()["result"]["points"]
    assert len(points) == 10 and points[0]["id"] == 0
    assert all(not point.get("payload") and not point.get("vector") for point in points)


@pytest.mark.parametrize("distance", list(DISTANCES))
def test_limit_offset_and_exact_params(client, dense_collections, distance):
    names, data, _ = dense_collections
    ids = list(range(len(data)))
    query = np.random.default_rng(12).normal(size=16).astype(np.float32)
    scores = brute_scores(distance, data, query)
    by_id = dict(zip(ids, scores.tolist()))
    ranking = expected_ranking(distance, scores, ids)
    page = client.query_points(names[distance], query=query.tolist(), limit=7, offset=5).points
    assert_hits_match(page, distance, by_id, ranking, offset=5, limit=7)
    for params in (models.SearchParams(exact=True), models.SearchParams(hnsw_ef=8), models.SearchParams(hnsw_ef=512)):
        hits = client.query_points(names[distance], query=query.tolist(), limit=20, search_params=params).points
        assert_hits_match(hits, distance, by_id, ranking, limit=20)
    # An offset past the end gives an empty page, not an error.
    assert client.query_points(names[distance], query=query.tolist(), limit=5, offset=400).points == []


@pytest.mark.parametrize("distance", list(DISTANCES))
def test_score_threshold(client, dense_collections, distance):
    """Cosine/Dot keep scores above the threshold; Euclid/Manhattan keep distances below it."""
    names, data, _ = dense_collections
    ids = list(range(len(data)))
    query = np.random.default_rng(13).normal(size=16).astype(np.float32)
    scores = brute_scores(distance, data, query)
    ranking = expected_ranking(distance, scores, ids)
    by_id = dict(zip(ids, scores.tolist()))
    # Halfway between the 12th and 13th best: exactly 12 points pass.
    threshold = (by_id[ranking[11]] + by_id[ranking[12]]) / 2
    hits = client.query_points(names[distance], query=query.tolist(), limit=50, score_threshold=threshold).points
    assert len(hits) == 12
    assert_hits_match(hits, distance, by_id, ranking, limit=12)
    if higher_better(distance):
        assert all(hit.score > threshold for hit in hits)
    else:
        assert all(hit.score < threshold for hit in hits)
    # The threshold combines with limit and offset.
    hits = client.query_points(
        names[distance], query=query.tolist(), limit=50, offset=10, score_threshold=threshold
    ).points
    assert_hits_match(hits, distance, by_id, ranking[:12], offset=10, limit=50)


def test_with_payload_and_with_vector(client, dense_collections):
    names, data, payloads = dense_collections
    query = data[3] + 0.01
    hits = client.query_points(names["Cosine"], query=query.tolist(), limit=3, with_payload=True, with_vectors=True).points
    assert hits[0].id == 3
    for hit in hits:
        assert hit.payload == payloads[hit.id]
        normalized = data[hit.id] / np.linalg.norm(data[hit.id])  # Cosine stores normalized vectors
        assert np.allclose(hit.vector, normalized, atol=1e-5)
    hits = client.query_points(names["Euclid"], query=query.tolist(), limit=3, with_payload=["parity"], with_vectors=True).points
    assert [hit.payload for hit in hits] == [{"parity": payloads[hit.id]["parity"]} for hit in hits]
    assert np.allclose(hits[0].vector, data[3], atol=1e-6)
    hits = client.query_points(
        names["Dot"], query=query.tolist(), limit=3,
        with_payload=models.PayloadSelectorExclude(exclude=["tags"]),
    ).points
    assert [hit.payload for hit in hits] == [{"n": hit.id, "parity": payloads[hit.id]["parity"]} for hit in hits]


def test_filtered_query_equals_brute_force(client, dense_collections):
    names, data, _ = dense_collections
    query = np.random.default_rng(14).normal(size=16).astype(np.float32)
    even = [i for i in range(len(data)) if i % 2 == 0]
    scores = brute_scores("Euclid", data[even], query)
    by_id = dict(zip(even, scores.tolist()))
    flt = models.Filter(must=[models.FieldCondition(key="parity", match=models.MatchValue(value="even"))])
    hits = client.query_points(names["Euclid"], query=query.tolist(), query_filter=flt, limit=15).points
    assert_hits_match(hits, "Euclid", by_id, expected_ranking("Euclid", scores, even), limit=15)


def test_named_vectors_and_using(client, collection_name):
    rng = np.random.default_rng(21)
    a = rng.normal(size=(120, 8)).astype(np.float32)
    b = rng.normal(size=(120, 4)).astype(np.float32)
    client.create_collection(
        collection_name,
        vectors_config={
            "a": models.VectorParams(size=8, distance=models.Distance.DOT),
            "b": models.VectorParams(size=4, distance=models.Distance.EUCLID),
        },
    )
    client.upsert(
        collection_name,
        points=models.Batch(ids=list(range(120)), vectors={"a": a.tolist(), "b": b.tolist()}),
        wait=True,
    )
    ids = list(range(120))
    for name, data, distance in (("a", a, "Dot"), ("b", b, "Euclid")):
        query = rng.normal(size=data.shape[1]).astype(np.float32)
        scores = brute_scores(distance, data, query)
        hits = client.query_points(collection_name, query=query.tolist(), using=name, limit=10).points
        assert_hits_match(hits, distance, dict(zip(ids, scores.tolist())), expected_ranking(distance, scores, ids))
    hits = client.query_points(collection_name, query=b[5].tolist(), using="b", limit=1, with_vectors=["a"]).points
    assert hits[0].id == 5 and hits[0].score == pytest.approx(0.0, abs=1e-6)
    assert set(hits[0].vector) == {"a"}
    assert np.allclose(hits[0].vector["a"], a[5], atol=1e-6)
    # A query vector of the wrong size for the named vector, or an unknown name, is refused.
    with pytest.raises(Exception):
        client.query_points(collection_name, query=a[0].tolist(), using="b", limit=1)
    with pytest.raises(Exception):
        client.query_points(collection_name, query=b[0].tolist(), using="nope", limit=1)


def test_query_by_point_id_excludes_the_point(client, dense_collections):
    names, data, _ = dense_collections
    ids = list(range(len(data)))
    for distance in ("Cosine", "Manhattan"):
        scores = brute_scores(distance, data, data[17])
        by_id = dict(zip(ids, scores.tolist()))
        ranking = [pid for pid in expected_ranking(distance, scores, ids) if pid != 17]
        hits = client.query_points(names[distance], query=17, limit=10).points
        assert 17 not in [hit.id for hit in hits]
        assert_hits_match(hits, distance, by_id, ranking, limit=10)
        page = client.query_points(names[distance], query=17, limit=5, offset=3).points
        assert_hits_match(page, distance, by_id, ranking, offset=3, limit=5)
    with pytest.raises(Exception):
        client.query_points(names["Cosine"], query=123456, limit=3)


def test_query_without_query_lists_points_by_id(client, dense_collections):
    names, _, payloads = dense_collections
    hits = client.query_points(names["Dot"], limit=6, offset=4, with_payload=True).points
    assert [hit.id for hit in hits] == [4, 5, 6, 7, 8, 9]
    assert all(hit.score == 0 for hit in hits)
    assert [hit.payload for hit in hits] == payloads[4:10]
    flt = models.Filter(must=[models.FieldCondition(key="parity", match=models.MatchValue(value="odd"))])
    hits = client.query_points(names["Dot"], query_filter=flt, limit=3).points
    assert [hit.id for hit in hits] == [1, 3, 5]


# --------------------------------------------------------------------------- sparse and multi-vector


def test_sparse_query_is_dot_over_shared_indices(client, collection_name):
    rng = np.random.default_rng(31)
    client.create_collection(collection_name, vectors_config={}, sparse_vectors_config={"s": models.SparseVectorParams()})
    vectors = []
    for pid in range(200):
        nnz = int(rng.integers(1, 6))
        indices = sorted(rng.choice(60, size=nnz, replace=False).tolist())
        values = rng.normal(size=nnz).round(4).tolist()
        vectors.append(dict(zip(indices, values)))
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(id=pid, vector={"s": models.SparseVector(indices=list(v), values=list(v.values()))})
            for pid, v in enumerate(vectors)
        ],
        wait=True,
    )
    for query in ({3: 1.0, 17: -0.5, 42: 2.0}, {5: 0.7}, {59: 1.5, 0: 1.0}):
        expected = {
            pid: sum(w * v[i] for i, w in query.items() if i in v)
            for pid, v in enumerate(vectors)
            if set(v) & set(query)
        }
        hits = client.query_points(
            collection_name,
            query=models.SparseVector(indices=list(query), values=list(query.values())),
            using="s",
            limit=500,
        ).points
        # Only points sharing an index with the query come back, even with room for more.
        assert {hit.id for hit in hits} == set(expected)
        ranking = sorted(expected, key=lambda pid: -expected[pid])
        assert_hits_match(hits, "Dot", expected, ranking, limit=500)
        top = client.query_points(
            collection_name,
            query=models.SparseVector(indices=list(query), values=list(query.values())),
            using="s",
            limit=3,
            offset=1,
        ).points
        assert_hits_match(top, "Dot", expected, ranking, offset=1, limit=3)
    # By id: the stored sparse vector is the query, the point itself is left out.
    query = vectors[7]
    expected = {pid: sum(w * v[i] for i, w in query.items() if i in v) for pid, v in enumerate(vectors)
                if pid != 7 and set(v) & set(query)}
    hits = client.query_points(collection_name, query=7, using="s", limit=500).points
    assert {hit.id for hit in hits} == set(expected)
    assert_hits_match(hits, "Dot", expected, sorted(expected, key=lambda pid: -expected[pid]), limit=500)
    # No shared index at all: nothing.
    empty = client.query_points(
        collection_name, query=models.SparseVector(indices=[1000], values=[1.0]), using="s", limit=10
    ).points
    assert empty == []


@pytest.mark.parametrize("distance", ["Cosine", "Dot"])
def test_multivector_query_is_max_sim(client, collection_name, distance):
    rng = np.random.default_rng(41)
    client.create_collection(
        collection_name,
        vectors_config={
            "m": models.VectorParams(
                size=6,
                distance=DISTANCES[distance],
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            )
        },
    )
    docs = [rng.normal(size=(int(rng.integers(1, 5)), 6)).astype(np.float32) for _ in range(80)]
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=pid, vector={"m": doc.tolist()}) for pid, doc in enumerate(docs)],
        wait=True,
    )

    def prep(rows: np.ndarray) -> np.ndarray:
        rows = rows.astype(np.float64)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True) if distance == "Cosine" else rows

    query = rng.normal(size=(3, 6)).astype(np.float32)
    expected = {pid: float((prep(query) @ prep(doc).T).max(axis=1).sum()) for pid, doc in enumerate(docs)}
    ranking = sorted(expected, key=lambda pid: -expected[pid])
    hits = client.query_points(collection_name, query=query.tolist(), using="m", limit=10).points
    assert_hits_match(hits, distance, expected, ranking, limit=10)
    hits = client.query_points(collection_name, query=query.tolist(), using="m", limit=4, offset=2,
                               with_vectors=True).points
    assert_hits_match(hits, distance, expected, ranking, offset=2, limit=4)
    for hit in hits:
        assert np.allclose(np.asarray(hit.vector["m"]), prep(docs[hit.id]), atol=1e-5)


# --------------------------------------------------------------------------- HNSW and shards


def test_background_hnsw_build_keeps_every_write_visible(client, collection_name):
    dim, count = 64, 5000
    rng = np.random.default_rng(51)
    data = rng.normal(size=(count, dim)).astype(np.float32)
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=100),  # KB: ~400 vectors
        hnsw_config=models.HnswConfigDiff(m=16, ef_construct=100, full_scan_threshold=10),
    )
    upsert_dense(client, collection_name, data, payloads=[{"g": i % 3} for i in range(count)])
    extra: dict[int, np.ndarray] = {}

    def write_and_find() -> None:
        """Upsert one new point and find it at once by its own vector."""
        pid = count + len(extra)
        vector = rng.normal(size=dim).astype(np.float32)
        client.upsert(collection_name, points=[models.PointStruct(id=pid, vector=vector.tolist())], wait=True)
        extra[pid] = vector
        hit = client.query_points(collection_name, query=vector.tolist(), limit=1).points[0]
        assert hit.id == pid and hit.score == pytest.approx(1.0, abs=1e-5)

    def indexed() -> bool:
        write_and_find()  # writes keep landing (and being found) while the graph is built
        info = client.get_collection(collection_name)
        return info.status == models.CollectionStatus.GREEN and (info.indexed_vectors_count or 0) >= count

    wait_for(indexed, timeout=40, interval=0.1, what="HNSW index")
    for _ in range(5):
        write_and_find()
    # Every point written during and after the build is still found by its exact vector.
    for pid, vector in extra.items():
        hits = client.query_points(collection_name, query=vector.tolist(), limit=3).points
        assert hits[0].id == pid
    assert client.count(collection_name).count == count + len(extra)

    everything = np.concatenate([data, np.stack(list(extra.values()))])
    all_ids = list(range(count)) + list(extra)
    queries = rng.normal(size=(40, dim)).astype(np.float32)
    found = 0
    for query in queries:
        scores = brute_scores("Cosine", everything, query)
        truth = {all_ids[i] for i in np.argsort(-scores)[:10]}
        hits = client.query_points(collection_name, query=query.tolist(), limit=10).points
        for hit in hits:
            assert hit.score == pytest.approx(scores[all_ids.index(hit.id)], abs=1e-4)
        found += len(truth & {hit.id for hit in hits})
    assert found / (10 * len(queries)) >= 0.95
    # Filtered search through the graph (a third of the points) and by full scan (a few ids).
    group = [pid for pid in range(count) if pid % 3 == 0]
    in_group = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=0))])
    found = 0
    for query in queries[:20]:
        scores = brute_scores("Cosine", data[group], query)
        truth = {group[i] for i in np.argsort(-scores)[:10]}
        hits = client.query_points(collection_name, query=query.tolist(), query_filter=in_group, limit=10).points
        assert all(hit.id % 3 == 0 and hit.id < count for hit in hits)
        found += len(truth & {hit.id for hit in hits})
    assert found / (10 * 20) >= 0.95
    few = list(range(0, 2000, 97))
    scores = brute_scores("Cosine", data[few], queries[1])
    hits = client.query_points(collection_name, query=queries[1].tolist(), limit=5,
                               query_filter=models.Filter(must=[models.HasIdCondition(has_id=few)])).points
    assert_hits_match(hits, "Cosine", dict(zip(few, scores.tolist())), expected_ranking("Cosine", scores, few), limit=5)
    # Exact search is exact, whatever the graph says.
    scores = brute_scores("Cosine", everything, queries[0])
    exact = client.query_points(collection_name, query=queries[0].tolist(), limit=10,
                                search_params=models.SearchParams(exact=True)).points
    assert_hits_match(exact, "Cosine", dict(zip(all_ids, scores.tolist())), expected_ranking("Cosine", scores, all_ids))
    # Deleted points disappear from graph search at once.
    victims = [hit.id for hit in exact[:3]]
    client.delete(collection_name, points_selector=models.PointIdsList(points=victims), wait=True)
    after = client.query_points(collection_name, query=queries[0].tolist(), limit=10).points
    assert not set(victims) & {hit.id for hit in after}


@pytest.mark.parametrize("distance", ["Dot", "Euclid"])
def test_many_shards_merge_like_one(client, collection_name, distance):
    rng = np.random.default_rng(61)
    data = rng.normal(size=(600, 12)).astype(np.float32)
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=12, distance=DISTANCES[distance]),
        shard_number=3,
    )
    upsert_dense(client, collection_name, data, batch=200)
    ids = list(range(len(data)))
    assert client.count(collection_name).count == len(data)
    for seed in range(4):
        query = np.random.default_rng(100 + seed).normal(size=12).astype(np.float32)
        scores = brute_scores(distance, data, query)
        by_id = dict(zip(ids, scores.tolist()))
        ranking = expected_ranking(distance, scores, ids)
        assert_hits_match(client.query_points(collection_name, query=query.tolist(), limit=25).points,
                          distance, by_id, ranking, limit=25)
        assert_hits_match(client.query_points(collection_name, query=query.tolist(), limit=10, offset=15).points,
                          distance, by_id, ranking, offset=15, limit=10)
    # By id: the point is looked up on its own shard, its neighbours come from every shard.
    scores = brute_scores(distance, data, data[9])
    ranking = [pid for pid in expected_ranking(distance, scores, ids) if pid != 9]
    assert_hits_match(client.query_points(collection_name, query=9, limit=10).points,
                      distance, dict(zip(ids, scores.tolist())), ranking, limit=10)
    # Without a query: id order across shards.
    assert [h.id for h in client.query_points(collection_name, limit=5, offset=100).points] == list(range(100, 105))


def test_raw_query_forms(http, client, collection_name):
    """``{"nearest": ...}``, uuid point ids and the ``with_vectors`` alias, over plain HTTP."""
    import uuid

    rng = np.random.default_rng(71)
    data = rng.normal(size=(30, 4)).astype(np.float32)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(30)]
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.EUCLID))
    client.upsert(collection_name, points=models.Batch(ids=ids, vectors=data.tolist()), wait=True)
    url = f"{http.base}/collections/{collection_name}/points/query"

    def query(body):
        response = http.post(url, json=body)
        assert response.status_code == 200, response.text
        return response.json()["result"]["points"]

    plain = query({"query": data[4].tolist(), "limit": 5})
    assert query({"query": {"nearest": data[4].tolist()}, "limit": 5}) == plain
    assert plain[0]["id"] == ids[4] and plain[0]["score"] == 0.0
    by_id = query({"query": ids[4], "limit": 4, "with_vectors": True})
    assert [p["id"] for p in by_id] == [p["id"] for p in plain[1:5]]
    assert all(np.allclose(p["vector"], data[ids.index(p["id"])], atol=1e-6) for p in by_id)
    for bad in ({"query": data[0].tolist(), "params": {"hnsw_ef": 0}}, {"query": data[0].tolist() + [1.0]},
                {"query": data[0].tolist(), "limit": -1}):
        assert http.post(url, json=bad).status_code == 400, bad
    assert http.post(url, json={"query": str(uuid.UUID(int=999))}).status_code == 404
