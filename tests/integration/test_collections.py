"""Collections API end to end: create (every parameter), read, list, exists, update, delete, errors.

Happy paths go through the official ``qdrant-client``; error cases use raw HTTP so
the exact status and Qdrant's error envelope ``{"status": {"error": ...}, "time": ...}``
can be checked, together with the fact that a failed request changed nothing.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tests import polling
import requests
from qdrant_client import QdrantClient, models

# --------------------------------------------------------------------------- helpers


def assert_error(response, status: int, *fragments: str) -> str:
    """``response`` is a Qdrant error envelope with ``status``; returns the message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status", "time"}, body
    assert isinstance(body["time"], float) and body["time"] >= 0
    message = body["status"]["error"]
    assert isinstance(message, str) and message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def raw_info(http, name: str) -> dict[str, Any]:
    response = http.get(f"{http.base}/collections/{name}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    return body["result"]


def collection_names(client: QdrantClient) -> set[str]:
    return {c.name for c in client.get_collections().collections}


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    return polling.wait_for(predicate, timeout=timeout, interval=interval, what=what)


SIMPLE = {"vectors": {"size": 4, "distance": "Cosine"}}


# --------------------------------------------------------------------------- create and defaults


def test_create_single_vector_fills_qdrant_defaults(client, http, collection_name):
    assert client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
    ) is True
    config = client.get_collection(collection_name).config

    assert config.params.vectors == models.VectorParams(size=4, distance=models.Distance.COSINE)
    assert config.params.shard_number == 1
    assert config.params.replication_factor == 1
    assert config.params.write_consistency_factor == 1
    assert config.params.on_disk_payload is True
    assert config.params.sparse_vectors is None
    assert config.hnsw_config == models.HnswConfig(
        m=16, ef_construct=100, full_scan_threshold=10000, max_indexing_threads=0, on_disk=False
    )
    optimizer = config.optimizer_config
    assert (optimizer.deleted_threshold, optimizer.vacuum_min_vector_number) == (0.2, 1000)
    assert (optimizer.default_segment_number, optimizer.indexing_threshold) == (0, 10000)
    assert optimizer.flush_interval_sec == 5
    assert optimizer.max_segment_size is None and optimizer.memmap_threshold is None
    assert optimizer.max_optimization_threads is None
    assert (config.wal_config.wal_capacity_mb, config.wal_config.wal_segments_ahead) == (32, 0)
    assert config.quantization_config is None
    assert config.strict_mode_config.enabled is False
    assert config.metadata is None

    # Optional fields Qdrant skips when unset are absent from the JSON, not null.
    raw = raw_info(http, collection_name)["config"]
    assert "sparse_vectors" not in raw["params"] and "sharding_method" not in raw["params"]
    assert "metadata" not in raw and "payload_m" not in raw["hnsw_config"]
    assert set(raw["params"]["vectors"]) == {"size", "distance"}
    # Fields come in the order Qdrant prints them, not sorted.
    assert list(raw) == [
        "params", "hnsw_config", "optimizer_config", "wal_config", "quantization_config", "strict_mode_config"
    ]
    assert list(raw["params"]) == [
        "vectors", "shard_number", "replication_factor", "write_consistency_factor", "on_disk_payload"
    ]
    assert list(raw["params"]["vectors"]) == ["size", "distance"]
    assert list(raw["hnsw_config"]) == ["m", "ef_construct", "full_scan_threshold", "max_indexing_threads", "on_disk"]
    assert list(raw["optimizer_config"])[:2] == ["deleted_threshold", "vacuum_min_vector_number"]


def test_create_with_every_parameter_echoes_them(client, collection_name):
    created = client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(
            size=8,
            distance=models.Distance.DOT,
            on_disk=True,
            datatype=models.Datatype.FLOAT16,
            hnsw_config=models.HnswConfigDiff(m=32),
            quantization_config=models.BinaryQuantization(
                binary=models.BinaryQuantizationConfig(always_ram=True)
            ),
        ),
        sparse_vectors_config={
            "text": models.SparseVectorParams(
                index=models.SparseIndexParams(on_disk=True, full_scan_threshold=500),
                modifier=models.Modifier.IDF,
            )
        },
        shard_number=3,
        sharding_method=models.ShardingMethod.AUTO,
        replication_factor=2,
        write_consistency_factor=2,
        on_disk_payload=False,
        hnsw_config=models.HnswConfigDiff(
            m=8, ef_construct=64, full_scan_threshold=2000, max_indexing_threads=2, on_disk=True, payload_m=12
        ),
        optimizers_config=models.OptimizersConfigDiff(
            deleted_threshold=0.3,
            vacuum_min_vector_number=500,
            default_segment_number=2,
            max_segment_size=100000,
            memmap_threshold=50000,
            indexing_threshold=20000,
            flush_interval_sec=10,
            max_optimization_threads=1,
        ),
        wal_config=models.WalConfigDiff(wal_capacity_mb=64, wal_segments_ahead=1),
        quantization_config=models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
        ),
        strict_mode_config=models.StrictModeConfig(enabled=True, max_query_limit=100, max_timeout=30),
        metadata={"owner": "search-team", "version": 3, "tags": ["a", "b"]},
    )
    assert created is True
    info = client.get_collection(collection_name)
    config = info.config
    params = config.params

    vector = params.vectors
    assert (vector.size, vector.distance, vector.on_disk) == (8, models.Distance.DOT, True)
    assert vector.datatype == models.Datatype.FLOAT16
    assert vector.hnsw_config.m == 32
    assert vector.quantization_config.binary.always_ram is True
    sparse = params.sparse_vectors["text"]
    assert sparse.modifier == models.Modifier.IDF
    assert (sparse.index.on_disk, sparse.index.full_scan_threshold) == (True, 500)
    assert params.shard_number == 3
    assert params.sharding_method == models.ShardingMethod.AUTO
    assert (params.replication_factor, params.write_consistency_factor) == (2, 2)
    assert params.on_disk_payload is False
    assert config.hnsw_config == models.HnswConfig(
        m=8, ef_construct=64, full_scan_threshold=2000, max_indexing_threads=2, on_disk=True, payload_m=12
    )
    assert config.optimizer_config == models.OptimizersConfig(
        deleted_threshold=0.3,
        vacuum_min_vector_number=500,
        default_segment_number=2,
        max_segment_size=100000,
        memmap_threshold=50000,
        indexing_threshold=20000,
        flush_interval_sec=10,
        max_optimization_threads=1,
    )
    assert (config.wal_config.wal_capacity_mb, config.wal_config.wal_segments_ahead) == (64, 1)
    scalar = config.quantization_config.scalar
    # gRPC carries the quantile as a float32: compare at that precision.
    assert (scalar.type, float(np.float32(scalar.quantile)), scalar.always_ram) == (
        models.ScalarType.INT8,
        float(np.float32(0.99)),
        True,
    )
    strict = config.strict_mode_config
    assert (strict.enabled, strict.max_query_limit, strict.max_timeout) == (True, 100, 30)
    assert config.metadata == {"owner": "search-team", "version": 3, "tags": ["a", "b"]}
    # One local shard per shard number on a single node.
    assert info.segments_count >= 3


def test_create_named_vectors_with_multivector(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "image": models.VectorParams(size=3, distance=models.Distance.EUCLID),
            "text": models.VectorParams(size=5, distance=models.Distance.MANHATTAN, on_disk=False),
            "colbert": models.VectorParams(
                size=2,
                distance=models.Distance.COSINE,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
        },
        sparse_vectors_config={"keywords": models.SparseVectorParams()},
    )
    params = client.get_collection(collection_name).config.params
    assert set(params.vectors) == {"image", "text", "colbert"}
    assert (params.vectors["image"].size, params.vectors["image"].distance) == (3, models.Distance.EUCLID)
    assert params.vectors["text"].distance == models.Distance.MANHATTAN
    assert params.vectors["text"].on_disk is False
    assert params.vectors["colbert"].multivector_config.comparator == models.MultiVectorComparator.MAX_SIM
    assert params.vectors["image"].multivector_config is None
    assert set(params.sparse_vectors) == {"keywords"}

    # The config is usable, not just stored: each named vector takes its own size.
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(
                id=1,
                vector={
                    "image": [1.0, 2.0, 3.0],
                    "text": [0.1] * 5,
                    "colbert": [[1.0, 0.0], [0.0, 1.0]],
                    "keywords": models.SparseVector(indices=[3, 7], values=[0.5, 1.5]),
                },
            )
        ],
        wait=True,
    )
    assert client.get_collection(collection_name).points_count == 1


def test_create_sparse_only_collection(client, collection_name):
    client.create_collection(
        collection_name, vectors_config={}, sparse_vectors_config={"bm25": models.SparseVectorParams()}
    )
    params = client.get_collection(collection_name).config.params
    assert params.vectors == {}
    assert set(params.sparse_vectors) == {"bm25"}


def test_create_through_raw_http_returns_true_envelope(http, collection_name):
    response = http.put(f"{http.base}/collections/{collection_name}", json=SIMPLE)
    assert response.status_code == 200
    body = response.json()
    assert body["result"] is True and body["status"] == "ok" and isinstance(body["time"], float)


# --------------------------------------------------------------------------- get, list, exists, delete


def test_list_exists_and_delete(client, http, collection_name):
    other = collection_name + "_b"
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.create_collection(other, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    assert {collection_name, other} <= collection_names(client)
    assert client.collection_exists(collection_name) is True
    assert client.collection_exists(collection_name + "_missing") is False

    listed = http.get(f"{http.base}/collections").json()["result"]["collections"]
    assert all(set(entry) == {"name"} for entry in listed)

    assert client.delete_collection(collection_name) is True
    assert client.collection_exists(collection_name) is False
    assert collection_name not in collection_names(client)
    assert other in collection_names(client)
    # Deleting again is not an error in Qdrant: the answer is just false.
    assert client.delete_collection(collection_name) is False
    response = http.get(f"{http.base}/collections/{collection_name}/exists")
    assert response.json()["result"] == {"exists": False}
    assert_error(http.get(f"{http.base}/collections/{collection_name}"), 404, f"Collection `{collection_name}` doesn't exist!")
    client.delete_collection(other)


def test_recreate_after_delete_starts_empty(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector=[1.0, 2.0])], wait=True)
    assert client.get_collection(collection_name).points_count == 1
    client.delete_collection(collection_name)
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=3, distance=models.Distance.EUCLID))
    info = client.get_collection(collection_name)
    assert info.points_count == 0
    assert info.config.params.vectors.size == 3


def test_unknown_collection_is_404_everywhere(http, collection_name):
    base = f"{http.base}/collections/{collection_name}"
    message = assert_error(http.get(base), 404)
    assert message == f"Not found: Collection `{collection_name}` doesn't exist!"
    assert_error(http.patch(base, json={"optimizers_config": {"indexing_threshold": 1}}), 404, collection_name)
    assert_error(http.put(f"{base}/index", json={"field_name": "a", "field_schema": "keyword"}), 404, collection_name)
    response = http.delete(base)
    assert response.status_code == 200 and response.json()["result"] is False


# --------------------------------------------------------------------------- creation errors


def test_existing_collection_is_409_and_keeps_the_original(http, collection_name):
    url = f"{http.base}/collections/{collection_name}"
    assert http.put(url, json=SIMPLE).status_code == 200
    response = http.put(url, json={"vectors": {"size": 8, "distance": "Dot"}, "metadata": {"x": 1}})
    message = assert_error(response, 409)
    assert message == f"Wrong input: Collection `{collection_name}` already exists!"
    config = raw_info(http, collection_name)["config"]
    assert config["params"]["vectors"] == {"size": 4, "distance": "Cosine"}
    assert "metadata" not in config


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("a%2Fb", 'cannot contain "/" char'),
        ("a:b", 'cannot contain ":" char'),
        ("a*b", 'cannot contain "*" char'),
        ("x" * 256, "must be from 1 to 255 characters"),
    ],
)
def test_bad_collection_name_is_rejected(client, http, path, fragment):
    before = collection_names(client)
    response = http.put(f"{http.base}/collections/{path}", json=SIMPLE)
    assert_error(response, 400, "Validation error in path parameters", fragment)
    assert collection_names(client) == before


def test_longest_allowed_name_works(client, http):
    name = "n" * 255
    assert http.put(f"{http.base}/collections/{name}", json=SIMPLE).status_code == 200
    assert client.collection_exists(name)
    client.delete_collection(name)


@pytest.mark.parametrize(
    "body, status, fragments",
    [
        ({"vectors": {"size": 0, "distance": "Cosine"}}, 400, ("vectors.size", "must be from 1 to 65536")),
        ({"vectors": {"size": 65537, "distance": "Cosine"}}, 400, ("vectors.size",)),
        ({"vectors": {"size": 4, "distance": "Hamming"}}, 400, ("unknown variant `Hamming`",)),
        ({"vectors": {"size": -1, "distance": "Dot"}}, 400, ("vectors.size",)),
        ({"vectors": {"size": "4", "distance": "Dot"}}, 400, ("invalid type",)),
        ({"vectors": {"distance": "Dot"}}, 400, ("missing field `size`",)),
        ({"vectors": {"a": {"size": 0, "distance": "Dot"}}}, 400, ("vectors.a.size",)),
        ({**SIMPLE, "shard_number": 0}, 400, ("shard_number",)),
        ({**SIMPLE, "replication_factor": 0}, 400, ("replication_factor",)),
        ({**SIMPLE, "sharding_method": "random"}, 400, ("unknown variant `random`",)),
        ({**SIMPLE, "on_disk_payload": "yes"}, 400, ("expected a boolean",)),
        ({**SIMPLE, "hnsw_config": {"ef_construct": 1}}, 400, ("hnsw_config.ef_construct",)),
        ({**SIMPLE, "optimizers_config": {"deleted_threshold": 1.5}}, 400, ("optimizers_config.deleted_threshold",)),
        ({**SIMPLE, "wal_config": {"wal_capacity_mb": 0}}, 400, ("wal_config.wal_capacity_mb",)),
        ({**SIMPLE, "quantization_config": {"scalar": {"type": "int4"}}}, 400, ("unknown variant `int4`",)),
        ({**SIMPLE, "strict_mode_config": {"max_query_limit": 0}}, 400, ("strict_mode_config.max_query_limit",)),
        ({**SIMPLE, "metadata": [1, 2]}, 400, ("metadata",)),
        (
            {"vectors": {"v": {"size": 2, "distance": "Dot"}}, "sparse_vectors": {"v": {}}},
            400,
            ("`v`",),
        ),
    ],
)
def test_bad_parameters_are_400_and_create_nothing(client, http, collection_name, body, status, fragments):
    response = http.put(f"{http.base}/collections/{collection_name}", json=body)
    assert_error(response, status, *fragments)
    assert client.collection_exists(collection_name) is False


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b'{"vectors": {"size": NaN, "distance": "Dot"}}'])
def test_malformed_body_is_400(client, http, collection_name, raw):
    response = http.put(
        f"{http.base}/collections/{collection_name}", data=raw, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "Json deserialize error")
    assert client.collection_exists(collection_name) is False


def test_every_validation_problem_is_reported_at_once(http, collection_name):
    body = {"vectors": {"size": 0, "distance": "Dot"}, "shard_number": 0, "hnsw_config": {"ef_construct": 2}}
    message = assert_error(http.put(f"{http.base}/collections/{collection_name}", json=body), 400)
    assert message.startswith("Validation error in JSON body: [")
    for path in ("vectors.size", "shard_number", "hnsw_config.ef_construct"):
        assert path in message


# --------------------------------------------------------------------------- update (PATCH)


def test_update_optimizers_params_and_hnsw(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
        hnsw_config=models.HnswConfigDiff(m=20),
    )
    assert client.update_collection(
        collection_name,
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=0, deleted_threshold=0.5),
        collection_params=models.CollectionParamsDiff(
            replication_factor=2, write_consistency_factor=2, on_disk_payload=False
        ),
        hnsw_config=models.HnswConfigDiff(ef_construct=128, on_disk=True),
    ) is True
    config = client.get_collection(collection_name).config
    assert config.optimizer_config.indexing_threshold == 0
    assert config.optimizer_config.deleted_threshold == 0.5
    # Untouched fields keep their values.
    assert config.optimizer_config.vacuum_min_vector_number == 1000
    assert config.optimizer_config.flush_interval_sec == 5
    assert (config.params.replication_factor, config.params.write_consistency_factor) == (2, 2)
    assert config.params.on_disk_payload is False
    assert (config.hnsw_config.m, config.hnsw_config.ef_construct, config.hnsw_config.on_disk) == (20, 128, True)
    assert config.params.vectors.size == 4


def test_update_metadata_merges_removes_and_clears(client, rest_client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
        metadata={"owner": "a", "keep": True},
    )
    client.update_collection(collection_name, metadata={"owner": "b", "added": [1, 2]})
    assert client.get_collection(collection_name).config.metadata == {"owner": "b", "keep": True, "added": [1, 2]}

    client.update_collection(collection_name, metadata={"owner": None})
    assert client.get_collection(collection_name).config.metadata == {"keep": True, "added": [1, 2]}

    # Clearing is REST-only: gRPC's UpdateCollection.metadata is a proto map, so an empty
    # dict is indistinguishable on the wire from "no metadata change".
    rest_client.update_collection(collection_name, metadata={})
    assert client.get_collection(collection_name).config.metadata is None


def test_update_quantization_strict_mode_and_vectors(client, http, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
        sparse_vectors_config={"sp": models.SparseVectorParams()},
        strict_mode_config=models.StrictModeConfig(enabled=True, max_query_limit=10),
    )
    client.update_collection(
        collection_name,
        quantization_config=models.ProductQuantization(
            product=models.ProductQuantizationConfig(compression=models.CompressionRatio.X16)
        ),
        strict_mode_config=models.StrictModeConfig(max_timeout=5),
        vectors_config={"": models.VectorParamsDiff(on_disk=True, hnsw_config=models.HnswConfigDiff(m=4))},
        sparse_vectors_config={"sp": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    config = client.get_collection(collection_name).config
    assert config.quantization_config.product.compression == models.CompressionRatio.X16
    assert (config.strict_mode_config.enabled, config.strict_mode_config.max_query_limit) == (True, 10)
    assert config.strict_mode_config.max_timeout == 5
    assert config.params.vectors.on_disk is True and config.params.vectors.hnsw_config.m == 4
    assert config.params.sparse_vectors["sp"].modifier == models.Modifier.IDF

    client.update_collection(collection_name, quantization_config=models.Disabled.DISABLED)
    assert client.get_collection(collection_name).config.quantization_config is None
    assert raw_info(http, collection_name)["config"]["quantization_config"] is None


@pytest.mark.parametrize(
    "body, fragments",
    [
        ({"hnsw_config": {"ef_construct": 1}}, ("hnsw_config.ef_construct",)),
        ({"optimizers_config": {"deleted_threshold": -0.1}}, ("optimizers_config.deleted_threshold",)),
        ({"params": {"replication_factor": 0}}, ("params.replication_factor",)),
        ({"vectors": {"missing": {"on_disk": True}}}, ("Not existing vector name error: missing",)),
        ({"sparse_vectors": {"missing": {"modifier": "idf"}}}, ("Not existing vector name error: missing",)),
        ({"metadata": "text"}, ("metadata",)),
        ({"optimizers_config": {"indexing_threshold": "big"}}, ("invalid type",)),
    ],
)
def test_bad_update_is_400_and_changes_nothing(http, collection_name, body, fragments):
    url = f"{http.base}/collections/{collection_name}"
    assert http.put(url, json={**SIMPLE, "metadata": {"k": "v"}}).status_code == 200
    before = raw_info(http, collection_name)["config"]
    assert_error(http.patch(url, json=body), 400, *fragments)
    assert raw_info(http, collection_name)["config"] == before


def test_concurrent_updates_are_not_lost(http, collection_name):
    url = f"{http.base}/collections/{collection_name}"
    assert http.put(url, json=SIMPLE).status_code == 200

    def patch(i: int) -> int:
        return requests.patch(url, json={"metadata": {f"key{i}": i}}, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(patch, range(24)))
    assert statuses == [200] * 24
    assert raw_info(http, collection_name)["config"]["metadata"] == {f"key{i}": i for i in range(24)}


def test_empty_update_is_accepted_and_changes_nothing(http, collection_name):
    url = f"{http.base}/collections/{collection_name}"
    assert http.put(url, json=SIMPLE).status_code == 200
    before = raw_info(http, collection_name)["config"]
    response = http.patch(url, json={})
    assert response.status_code == 200 and response.json()["result"] is True
    assert raw_info(http, collection_name)["config"] == before


# --------------------------------------------------------------------------- collection info


def test_info_fields_follow_the_data(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=0),  # no HNSW building
    )
    info = client.get_collection(collection_name)
    assert info.status == models.CollectionStatus.GREEN
    assert info.optimizer_status == models.OptimizersStatusOneOf.OK
    assert (info.points_count, info.indexed_vectors_count) == (0, 0)
    assert info.segments_count >= 1
    assert info.payload_schema == {}

    rng = random.Random(7)
    points = [
        models.PointStruct(
            id=i, vector=[rng.random() for _ in range(8)], payload={"city": "Berlin" if i % 3 else "Paris", "n": i}
        )
        for i in range(1, 31)
    ]
    client.upsert(collection_name, points=points, wait=True)
    client.create_payload_index(collection_name, "city", models.PayloadSchemaType.KEYWORD, wait=True)
    client.create_payload_index(
        collection_name,
        "n",
        models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, lookup=False, range=True),
        wait=True,
    )
    info = client.get_collection(collection_name)
    assert info.points_count == 30
    assert info.indexed_vectors_count == 0
    assert info.payload_schema["city"].data_type == models.PayloadSchemaType.KEYWORD
    assert info.payload_schema["city"].points == 30
    assert info.payload_schema["city"].params is None
    assert info.payload_schema["n"].data_type == models.PayloadSchemaType.INTEGER
    assert (info.payload_schema["n"].params.lookup, info.payload_schema["n"].params.range) == (False, True)

    client.delete(collection_name, points_selector=models.PointIdsList(points=[1, 2, 3]), wait=True)
    client.delete_payload_index(collection_name, "n", wait=True)
    info = client.get_collection(collection_name)
    assert info.points_count == 27
    assert set(info.payload_schema) == {"city"}


def test_info_counts_indexed_vectors_once_the_optimizer_ran(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=8, distance=models.Distance.EUCLID),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),  # 1 KB: index right away
    )
    rng = random.Random(3)
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=[rng.random() for _ in range(8)]) for i in range(300)],
        wait=True,
    )

    def indexed_and_green():
        info = client.get_collection(collection_name)
        return info if info.status == models.CollectionStatus.GREEN and info.indexed_vectors_count == 300 else None

    info = wait_for(indexed_and_green, what="HNSW index to be built")
    assert info.points_count == 300
