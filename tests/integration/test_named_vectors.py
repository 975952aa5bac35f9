"""Adding and removing named vectors on a live collection, and PATCHed HNSW parameters.

``PUT /collections/{c}/vectors/{name}`` adds a dense or sparse vector,
``DELETE`` removes it and its values from every point; both survive a restart.
"""

from __future__ import annotations

import numpy as np
from qdrant_client import QdrantClient, models

from tests import polling
from tests.integration.transport_errors import expect_error
from tests.node_process import client_for


def fresh_client(node, transport: str) -> QdrantClient:
    """A new client over ``transport`` (the node restarts mid-test, so not the module's ``client``)."""
    return client_for(node, transport)


def make_collection(http, name: str, vectors: dict) -> None:
    response = http.put(f"{http.base}/collections/{name}", json={"vectors": vectors})
    assert response.status_code == 200, response.text


def test_add_use_delete_vector_and_restart(node, transport, http, collection_name):
    base = f"{http.base}/collections/{collection_name}"
    make_collection(http, collection_name, {"a": {"size": 3, "distance": "Dot"}})
    assert http.put(f"{base}/points?wait=true", json={"points": [
        {"id": i, "vector": {"a": [1.0, float(i), 0.0]}, "payload": {"i": i}} for i in range(1, 6)
    ]}).status_code == 200

    # Raw HTTP: a plain VectorParams body; the client: the {"sparse": ...} wrapper.
    response = http.put(f"{base}/vectors/b", json={"size": 2, "distance": "Euclid"})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["status"] == "completed"
    client = fresh_client(node, transport)
    client.create_vector_name(
        collection_name, "s", models.SparseVectorNameConfig(sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF))
    )
    params = client.get_collection(collection_name).config.params
    assert set(params.vectors) == {"a", "b"} and params.vectors["b"].size == 2
    assert set(params.sparse_vectors) == {"s"}

    # Errors: a taken name, a bad body, an unknown name to delete.
    taken = http.put(f"{base}/vectors/a", json={"dense": {"size": 2, "distance": "Dot"}})
    assert taken.status_code == 400 and "already exists" in taken.json()["status"]["error"]
    assert http.put(f"{base}/vectors/c", json={"dense": {"size": 0, "distance": "Dot"}}).status_code == 400
    assert http.put(f"{base}/vectors/c", json={"dense": {"size": 2}}).status_code == 400
    assert http.delete(f"{base}/vectors/nope").status_code == 404
    assert http.put(f"{http.base}/collections/missing_{collection_name}/vectors/x",
                    json={"size": 2, "distance": "Dot"}).status_code == 404

    # The new vectors take writes and searches.
    client.update_vectors(collection_name, [
        models.PointVectors(id=i, vector={"b": [float(i), 0.0], "s": models.SparseVector(indices=[i], values=[1.0])})
        for i in range(1, 6)
    ])
    hits = client.query_points(collection_name, query=[4.0, 0.0], using="b", limit=2).points
    assert [hit.id for hit in hits] == [4, 3] or [hit.id for hit in hits] == [4, 5]
    sparse_hits = client.query_points(
        collection_name, query=models.SparseVector(indices=[2], values=[1.0]), using="s", limit=3
    ).points
    assert [hit.id for hit in sparse_hits] == [2]

    # Delete "b": points keep "a" and "s", "b" is gone from records and searches.
    client.delete_vector_name(collection_name, "b")
    assert set(client.get_collection(collection_name).config.params.vectors) == {"a"}
    record = client.retrieve(collection_name, [3], with_vectors=True)[0]
    assert set(record.vector) == {"a", "s"}
    assert record.payload == {"i": 3}
    with expect_error(400):
        client.query_points(collection_name, query=[1.0, 0.0], using="b", limit=2)
    rejected = http.put(f"{base}/points?wait=true", json={"points": [{"id": 9, "vector": {"b": [1.0, 1.0]}}]})
    assert rejected.status_code == 400

    # A re-added "b" starts empty (the old values were erased).
    assert http.put(f"{base}/vectors/b", json={"dense": {"size": 4, "distance": "Cosine"}}).status_code == 200
    assert set(client.retrieve(collection_name, [3], with_vectors=True)[0].vector) == {"a", "s"}

    node.kill()
    node.start()
    client = fresh_client(node, transport)
    params = client.get_collection(collection_name).config.params
    assert set(params.vectors) == {"a", "b"} and params.vectors["b"].size == 4
    assert set(params.sparse_vectors) == {"s"}
    records = client.retrieve(collection_name, [1, 2, 3, 4, 5], with_vectors=True)
    assert len(records) == 5 and all(set(r.vector) == {"a", "s"} for r in records)
    sparse_hits = client.query_points(
        collection_name, query=models.SparseVector(indices=[5], values=[1.0]), using="s", limit=3
    ).points
    assert [hit.id for hit in sparse_hits] == [5]
    client.upsert(collection_name, [models.PointStruct(id=7, vector={"a": [0.0, 0.0, 1.0], "b": [1.0, 0.0, 0.0, 0.0]})])
    hits = client.query_points(collection_name, query=[1.0, 0.0, 0.0, 0.0], using="b", limit=3).points
    assert [hit.id for hit in hits] == [7]


def test_unnamed_collection_refuses_named_dense_vector(http, collection_name):
    make_collection(http, collection_name, {"size": 3, "distance": "Dot"})
    base = f"{http.base}/collections/{collection_name}"
    response = http.put(f"{base}/vectors/x", json={"dense": {"size": 2, "distance": "Dot"}})
    assert response.status_code == 400
    assert "unnamed" in response.json()["status"]["error"]
    assert http.delete(f"{base}/vectors/x").status_code == 404


def test_patched_hnsw_parameters_rebuild_the_graph(node, transport, http, collection_name):
    client = fresh_client(node, transport)
    client.create_collection(
        collection_name,
        vectors_config={"v": models.VectorParams(size=8, distance=models.Distance.COSINE)},
        hnsw_config=models.HnswConfigDiff(m=8, ef_construct=32),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=0),
    )
    rng = np.random.default_rng(7)
    data = rng.normal(size=(600, 8)).astype(np.float32)
    client.upsert(collection_name, [
        models.PointStruct(id=i, vector={"v": data[i].tolist()}) for i in range(len(data))
    ])
    assert client.get_collection(collection_name).indexed_vectors_count == 0

    def settled(expected_m: int):
        def check():
            info = client.get_collection(collection_name)
            return (
                info.status == models.CollectionStatus.GREEN
                and info.indexed_vectors_count == len(data)
                and f"dim=8, m={expected_m}, ef_construct=" in node.log_tail(400)
            )
        return check

    # Turning indexing on (a threshold of 1 KB) wakes the optimizer, which builds the graph.
    client.update_collection(collection_name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1))
    polling.wait_for(settled(8), timeout=60, what="graph built with m=8")

    client.update_collection(collection_name, hnsw_config=models.HnswConfigDiff(m=24, ef_construct=64))
    polling.wait_for(settled(24), timeout=60, what="graph rebuilt with m=24")
    info = client.get_collection(collection_name)
    assert info.config.hnsw_config.m == 24 and info.config.hnsw_config.ef_construct == 64

    # A per-vector override wins over the collection setting.
    client.update_collection(collection_name, vectors_config={"v": models.VectorParamsDiff(hnsw_config=models.HnswConfigDiff(m=12))})
    polling.wait_for(settled(12), timeout=60, what="graph rebuilt with m=12")
    info = client.get_collection(collection_name)
    assert info.config.params.vectors["v"].hnsw_config.m == 12
    hits = client.query_points(collection_name, query=data[5].tolist(), using="v", limit=1).points
    assert hits[0].id == 5
