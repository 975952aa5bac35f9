"""The gRPC services ``qdrant.Collections`` and ``qdrant.Snapshots`` (port 6334), driven by the official client.

Each collection is created twice, once over gRPC and once over REST with the same models,
and the two must read back identically over REST (the request conversion lost nothing);
then ``get_collection`` over gRPC must equal ``get_collection`` over REST on the same
collection (the reply conversion lost nothing). The only legitimate difference is that
``float`` fields of the gRPC messages (``quantile``, ``search_max_oversampling``) are 32-bit:
the gRPC client reads 0.99 back as 0.9900000095367432, so floats are compared as float32.
"""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from qdrant_client import QdrantClient, models
from qdrant_client.qdrant_remote import QdrantRemote

from tests.node_process import NodeProcess

API_KEY = "grpc-full-key"
READ_ONLY_KEY = "grpc-read-only-key"


@pytest.fixture(scope="module")
def rest(node) -> QdrantClient:
    return QdrantClient(url=node.url, timeout=60, check_compatibility=False)


@pytest.fixture(scope="module")
def grpc_client(node) -> QdrantClient:
    return QdrantClient(url=node.url, grpc_port=node.grpc_port, prefer_grpc=True, timeout=60,
                        check_compatibility=False)


def _name() -> str:
    return "g_" + uuid.uuid4().hex[:10]


def _f32(value: Any) -> Any:
    """Floats as float32 (gRPC's ``float``), recursively, so 0.99 and 0.9900000095367432 compare equal."""
    if isinstance(value, dict):
        return {key: _f32(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_f32(item) for item in value]
    if isinstance(value, float):
        return float(np.float32(value))
    return value


def _dump(info: models.CollectionInfo) -> dict[str, Any]:
    return _f32(info.model_dump(mode="json"))


def assert_same_info(rest_info: models.CollectionInfo, grpc_info: models.CollectionInfo) -> None:
    left, right = _dump(rest_info), _dump(grpc_info)
    for key in left.keys() | right.keys():  # field by field, for a readable failure
        assert left.get(key) == right.get(key), key


def assert_same_cluster(rest_info: models.CollectionClusterInfo, grpc_info: models.CollectionClusterInfo) -> None:
    # REST leaves out ``resharding_operations`` when there are none; a repeated gRPC field
    # cannot be absent, so the gRPC client reads it as []
    assert grpc_info.resharding_operations == (rest_info.resharding_operations or [])
    assert grpc_info.model_copy(update={"resharding_operations": None}) == rest_info.model_copy(
        update={"resharding_operations": None}
    )


# --------------------------------------------------------------------------- create variants

SINGLE = dict(
    vectors_config=models.VectorParams(
        size=4, distance=models.Distance.COSINE, datatype=models.Datatype.FLOAT16, on_disk=True,
        hnsw_config=models.HnswConfigDiff(m=8, ef_construct=64),
        quantization_config=models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
        ),
    ),
    hnsw_config=models.HnswConfigDiff(m=12, full_scan_threshold=5000, payload_m=20),
    on_disk_payload=False,
)
NAMED = dict(
    vectors_config={
        "euclid": models.VectorParams(size=3, distance=models.Distance.EUCLID, datatype=models.Datatype.UINT8),
        "dot": models.VectorParams(
            size=8, distance=models.Distance.DOT,
            quantization_config=models.ProductQuantization(
                product=models.ProductQuantizationConfig(compression=models.CompressionRatio.X4)
            ),
        ),
        "manhattan": models.VectorParams(size=2, distance=models.Distance.MANHATTAN),
        "colbert": models.VectorParams(
            size=5, distance=models.Distance.COSINE,
            multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
        ),
    },
    quantization_config=models.BinaryQuantization(binary=models.BinaryQuantizationConfig(
        always_ram=False, encoding=models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS,
        query_encoding=models.BinaryQuantizationQueryEncoding.SCALAR8BITS,
    )),
    strict_mode_config=models.StrictModeConfig(
        enabled=False, multivector_config={"colbert": models.StrictModeMultivector(max_vectors=16)},
    ),
)
SPARSE = dict(
    vectors_config={},
    sparse_vectors_config={
        "idf": models.SparseVectorParams(modifier=models.Modifier.IDF),
        "plain": models.SparseVectorParams(
            index=models.SparseIndexParams(on_disk=True, full_scan_threshold=100, datatype=models.Datatype.FLOAT16)
        ),
    },
)
TUNED = dict(
    vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
    sparse_vectors_config={"sp": models.SparseVectorParams()},
    optimizers_config=models.OptimizersConfigDiff(
        max_optimization_threads=2, deleted_threshold=0.3, indexing_threshold=500, flush_interval_sec=7,
        default_segment_number=2,
    ),
    wal_config=models.WalConfigDiff(wal_capacity_mb=16, wal_segments_ahead=1),
    strict_mode_config=models.StrictModeConfig(
        enabled=True, max_query_limit=50, max_timeout=9, search_max_oversampling=1.3, upsert_max_batchsize=77,
        unindexed_filtering_retrieve=False, sparse_config={"sp": models.StrictModeSparse(max_length=40)},
    ),
    metadata={"owner": "grpc", "n": 3, "nested": {"list": [1, 2.5, "x", None, True]}},
)
CUSTOM = dict(
    vectors_config=models.VectorParams(size=2, distance=models.Distance.EUCLID),
    sharding_method=models.ShardingMethod.CUSTOM,
    shard_number=2,
    replication_factor=1,
    write_consistency_factor=1,
)
VARIANTS = {"single": SINGLE, "named": NAMED, "sparse": SPARSE, "tuned": TUNED, "custom": CUSTOM}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_create_and_get_match_rest(rest, grpc_client, variant):
    config = VARIANTS[variant]
    over_grpc, over_rest = _name(), _name()
    assert grpc_client.create_collection(over_grpc, **config) is True
    assert rest.create_collection(over_rest, **config) is True

    # the request conversion kept every setting: both collections read back the same over REST
    assert_same_info(rest.get_collection(over_rest), rest.get_collection(over_grpc))
    # the reply conversion kept every setting: gRPC reads what REST reads
    assert_same_info(rest.get_collection(over_grpc), grpc_client.get_collection(over_grpc))
    assert grpc_client.collection_exists(over_grpc) is True


def test_settings_really_arrive(rest, grpc_client):
    """Spot checks against the values sent, so equality above cannot hide a setting dropped on both sides."""
    name = _name()
    grpc_client.create_collection(name, **TUNED)
    info = rest.get_collection(name)
    assert info.config.params.vectors.distance == models.Distance.DOT
    assert info.config.optimizer_config.max_optimization_threads == 2
    assert info.config.optimizer_config.indexing_threshold == 500
    assert info.config.wal_config.wal_capacity_mb == 16
    assert info.config.strict_mode_config.max_query_limit == 50
    assert info.config.strict_mode_config.search_max_oversampling == pytest.approx(1.3)
    assert info.config.strict_mode_config.sparse_config["sp"].max_length == 40
    assert info.config.metadata == TUNED["metadata"]

    name = _name()
    grpc_client.create_collection(name, **NAMED)
    params = rest.get_collection(name).config.params.vectors
    assert params["manhattan"].distance == models.Distance.MANHATTAN
    assert params["euclid"].datatype == models.Datatype.UINT8
    assert params["colbert"].multivector_config.comparator == models.MultiVectorComparator.MAX_SIM
    assert params["dot"].quantization_config.product.compression == models.CompressionRatio.X4
    config = rest.get_collection(name).config
    assert config.quantization_config.binary.encoding == models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS
    assert config.quantization_config.binary.query_encoding == models.BinaryQuantizationQueryEncoding.SCALAR8BITS
    assert config.strict_mode_config.multivector_config["colbert"].max_vectors == 16


def test_payload_schema_of_every_index_type(rest, grpc_client):
    name = _name()
    rest.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    schemas = {
        "kw": models.PayloadSchemaType.KEYWORD,
        "kw_tenant": models.KeywordIndexParams(type="keyword", is_tenant=True, on_disk=True),
        "int": models.IntegerIndexParams(type="integer", lookup=True, range=False, is_principal=True),
        "flt": models.PayloadSchemaType.FLOAT,
        "geo": models.PayloadSchemaType.GEO,
        "flag": models.PayloadSchemaType.BOOL,
        "when": models.DatetimeIndexParams(type="datetime", is_principal=True),
        "uid": models.PayloadSchemaType.UUID,
        "text": models.TextIndexParams(
            type="text", tokenizer=models.TokenizerType.WORD, lowercase=True, min_token_len=2, max_token_len=15,
            stopwords=models.StopwordsSet(languages=[models.Language.ENGLISH], custom=["foo"]),
            stemmer=models.SnowballParams(type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.ENGLISH),
            phrase_matching=True,
        ),
        "text_lang": models.TextIndexParams(type="text", tokenizer=models.TokenizerType.PREFIX,
                                            stopwords=models.Language.FRENCH),
    }
    for field, schema in schemas.items():
        rest.create_payload_index(name, field, schema, wait=True)
    rest.upsert(name, [models.PointStruct(id=1, vector=[1, 0], payload={"kw": "a", "int": 3, "text": "hello"})],
                wait=True)
    grpc_info = grpc_client.get_collection(name)
    assert_same_info(rest.get_collection(name), grpc_info)
    assert set(grpc_info.payload_schema) == set(schemas)
    text = grpc_info.payload_schema["text"].params
    assert text.stemmer.language == models.SnowballLanguage.ENGLISH
    assert text.stopwords.custom == ["foo"]
    assert grpc_info.payload_schema["int"].params.lookup is True
    assert grpc_info.payload_schema["kw"].points == 1


# --------------------------------------------------------------------------- update, delete, list


def test_update_collection(rest, grpc_client):
    name = _name()
    rest.create_collection(
        name,
        vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.COSINE)},
        sparse_vectors_config={"sp": models.SparseVectorParams()},
        quantization_config=models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(type="int8")),
    )
    assert grpc_client.update_collection(
        name,
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1234, max_optimization_threads=1),
        hnsw_config=models.HnswConfigDiff(ef_construct=77),
        vectors_config={"a": models.VectorParamsDiff(hnsw_config=models.HnswConfigDiff(m=6), on_disk=True)},
        sparse_vectors_config={"sp": models.SparseVectorParams(modifier=models.Modifier.IDF)},
        quantization_config=models.Disabled.DISABLED,
        strict_mode_config=models.StrictModeConfig(enabled=True, max_query_limit=9),
        metadata={"k": "v"},
    ) is True
    info = rest.get_collection(name)
    assert info.config.optimizer_config.indexing_threshold == 1234
    assert info.config.optimizer_config.max_optimization_threads == 1
    assert info.config.hnsw_config.ef_construct == 77
    assert info.config.params.vectors["a"].hnsw_config.m == 6
    assert info.config.params.vectors["a"].on_disk is True
    assert info.config.params.sparse_vectors["sp"].modifier == models.Modifier.IDF
    assert info.config.quantization_config is None
    assert info.config.strict_mode_config.max_query_limit == 9
    assert info.config.metadata == {"k": "v"}
    assert_same_info(info, grpc_client.get_collection(name))


def test_update_unnamed_vector(rest, grpc_client):
    name = _name()
    rest.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    grpc_client.update_collection(name, vectors_config={"": models.VectorParamsDiff(on_disk=True)})
    assert rest.get_collection(name).config.params.vectors.on_disk is True


def test_delete_and_list(rest, grpc_client):
    name = _name()
    grpc_client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    listed = {c.name for c in grpc_client.get_collections().collections}
    assert listed == {c.name for c in rest.get_collections().collections}
    assert name in listed
    assert grpc_client.delete_collection(name) is True
    assert grpc_client.collection_exists(name) is False
    assert rest.collection_exists(name) is False
    assert name not in {c.name for c in grpc_client.get_collections().collections}


# --------------------------------------------------------------------------- aliases


def test_aliases(rest, grpc_client):
    first, second = _name(), _name()
    for name in (first, second):
        rest.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    alias, renamed = "al_" + first, "al2_" + first
    assert grpc_client.update_collection_aliases([
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=first, alias_name=alias)),
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=second, alias_name=renamed)),
    ]) is True
    assert grpc_client.get_collection_aliases(first) == rest.get_collection_aliases(first)
    assert [a.alias_name for a in grpc_client.get_collection_aliases(first).aliases] == [alias]
    grpc_client.update_collection_aliases([
        models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=renamed)),
        models.RenameAliasOperation(rename_alias=models.RenameAlias(old_alias_name=alias, new_alias_name=renamed)),
    ])
    everything = grpc_client.get_aliases()
    assert sorted(everything.aliases, key=lambda a: a.alias_name) == sorted(
        rest.get_aliases().aliases, key=lambda a: a.alias_name
    )
    mine = {(a.alias_name, a.collection_name) for a in everything.aliases if a.collection_name in (first, second)}
    assert mine == {(renamed, first)}
    # an alias reads like its collection over gRPC too
    assert_same_info(rest.get_collection(first), grpc_client.get_collection(renamed))


# --------------------------------------------------------------------------- cluster info and shard keys


def test_cluster_info_matches_rest(rest, grpc_client):
    name = _name()
    rest.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
                           shard_number=3)
    rest.upsert(name, [models.PointStruct(id=i, vector=[1.0, i]) for i in range(20)], wait=True)
    over_grpc = grpc_client.collection_cluster_info(name)
    assert_same_cluster(rest.collection_cluster_info(name), over_grpc)
    assert over_grpc.shard_count == 3
    assert sum(shard.points_count for shard in over_grpc.local_shards) == 20
    assert {shard.state for shard in over_grpc.local_shards} == {models.ReplicaState.ACTIVE}


def test_shard_keys(rest, grpc_client):
    name = _name()
    grpc_client.create_collection(name, **CUSTOM)
    assert grpc_client.create_shard_key(name, "tenant_a") is True
    assert grpc_client.create_shard_key(name, 42, shards_number=3) is True
    assert grpc_client.cluster_collection_update(
        name, models.CreateShardingKeyOperation(create_sharding_key=models.CreateShardingKey(shard_key="tenant_b"))
    ) is True
    keys = rest.http.distributed_api.list_shard_keys(name).result.shard_keys
    assert sorted(str(k.key) for k in keys) == ["42", "tenant_a", "tenant_b"]
    cluster = grpc_client.collection_cluster_info(name)
    assert_same_cluster(rest.collection_cluster_info(name), cluster)
    # keys without shards_number get the collection's shard_number (2)
    expected = ["42"] * 3 + ["tenant_a"] * 2 + ["tenant_b"] * 2
    assert sorted(str(shard.shard_key) for shard in cluster.local_shards) == expected

    assert grpc_client.delete_shard_key(name, 42) is True
    grpc_client.cluster_collection_update(
        name, models.DropShardingKeyOperation(drop_sharding_key=models.DropShardingKey(shard_key="tenant_b"))
    )
    keys = rest.http.distributed_api.list_shard_keys(name).result.shard_keys
    assert [k.key for k in keys] == ["tenant_a"]
    assert_same_info(rest.get_collection(name), grpc_client.get_collection(name))


def test_list_shard_keys_over_grpc(node, rest, grpc_client):
    from qdrant_client import grpc as qgrpc

    name = _name()
    rest.create_collection(name, **CUSTOM)
    rest.create_shard_key(name, "k1")
    rest.create_shard_key(name, 7)
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as channel:
        stub = qgrpc.CollectionsStub(channel)
        reply = stub.ListShardKeys(qgrpc.ListShardKeysRequest(collection_name=name), timeout=30)
    assert [(d.key.WhichOneof("key"), getattr(d.key, d.key.WhichOneof("key"))) for d in reply.shard_keys] == [
        ("keyword", "k1"), ("number", 7)
    ]


# --------------------------------------------------------------------------- snapshots


def test_collection_snapshots(rest, grpc_client):
    name = _name()
    rest.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    rest.upsert(name, [models.PointStruct(id=1, vector=[1.0, 2.0])], wait=True)
    created = grpc_client.create_snapshot(name)
    assert created.size > 0 and created.name.endswith(".snapshot")
    listed = grpc_client.list_snapshots(name)
    assert listed == rest.list_snapshots(name)
    assert [s.name for s in listed] == [created.name]
    assert listed[0].creation_time == created.creation_time
    assert grpc_client.delete_snapshot(name, created.name) is True
    assert rest.list_snapshots(name) == []


def test_full_snapshots(rest, grpc_client):
    rest.create_collection(_name(), vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    created = grpc_client.create_full_snapshot()
    assert created.size > 0
    listed = grpc_client.list_full_snapshots()
    assert sorted(listed, key=lambda s: s.name) == sorted(rest.list_full_snapshots(), key=lambda s: s.name)
    assert created.name in {s.name for s in listed}
    assert grpc_client.delete_full_snapshot(created.name) is True
    assert created.name not in {s.name for s in rest.list_full_snapshots()}


# --------------------------------------------------------------------------- errors


def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def test_error_codes(node, rest, grpc_client, http):
    missing = _name()
    assert _code(lambda: grpc_client.get_collection(missing)) == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: grpc_client.collection_cluster_info(missing)) == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: grpc_client.list_snapshots(missing)) == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: grpc_client.delete_snapshot(missing, "x.snapshot")) == grpc.StatusCode.NOT_FOUND
    assert _code(lambda: grpc_client.delete_full_snapshot("missing.snapshot")) == grpc.StatusCode.NOT_FOUND
    # deleting a missing collection is not an error in Qdrant: REST answers result=false, so does gRPC
    assert requests.delete(f"{node.url}/collections/{missing}", timeout=10).json()["result"] is False
    assert grpc_client.delete_collection(missing) is False

    bad = dict(vectors_config=models.VectorParams(size=0, distance=models.Distance.DOT))
    assert _code(lambda: grpc_client.create_collection(_name(), **bad)) == grpc.StatusCode.INVALID_ARGUMENT
    assert requests.put(f"{node.url}/collections/{_name()}", json={"vectors": {"size": 0, "distance": "Dot"}},
                        timeout=10).status_code == 400

    twice = _name()
    config = dict(vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    grpc_client.create_collection(twice, **config)
    # REST answers 409 (AlreadyExists); gRPC maps the same error to ALREADY_EXISTS
    assert requests.put(f"{node.url}/collections/{twice}", json={"vectors": {"size": 2, "distance": "Dot"}},
                        timeout=10).status_code == 409
    assert _code(lambda: grpc_client.create_collection(twice, **config)) == grpc.StatusCode.ALREADY_EXISTS
    # shard keys on an auto-sharded collection are refused the same way REST refuses them
    status = requests.put(f"{node.url}/collections/{twice}/shards", json={"shard_key": "x"}, timeout=10).status_code
    assert status == 400
    assert _code(lambda: grpc_client.create_shard_key(twice, "x")) == grpc.StatusCode.INVALID_ARGUMENT
    # a cluster operation naming an unknown peer: same refusal over both APIs
    move = {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2}
    status = requests.post(f"{node.url}/collections/{twice}/cluster", json={"move_shard": move}, timeout=10)
    code = _code(lambda: grpc_client.cluster_collection_update(twice, models.MoveShardOperation(
        move_shard=models.MoveShard(shard_id=0, from_peer_id=1, to_peer_id=2, method="stream_records"))))
    assert (status.status_code, code) in {(400, grpc.StatusCode.INVALID_ARGUMENT), (404, grpc.StatusCode.NOT_FOUND)}


# --------------------------------------------------------------------------- metrics, version


def test_grpc_metrics(node, grpc_client):
    grpc_client.get_collections()
    grpc_client.collection_exists("anything")
    with pytest.raises(grpc.RpcError):
        grpc_client.get_collection(_name())
    text = requests.get(f"{node.url}/metrics", timeout=10).text
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line.startswith("grpc_")}
    assert lines['grpc_responses_total{endpoint="/qdrant.Collections/List"}'] >= 1
    assert lines['grpc_responses_total{endpoint="/qdrant.Collections/CollectionExists"}'] >= 1
    assert lines['grpc_responses_fail_total{endpoint="/qdrant.Collections/Get"}'] >= 1


def test_version_check_finds_the_server(node):
    """qdrant-client's compatibility check reads ``version`` from REST ``GET /`` (also with prefer_grpc)."""
    client = QdrantClient(url=node.url, grpc_port=node.grpc_port, prefer_grpc=True, check_compatibility=False)
    remote = client._client
    assert isinstance(remote, QdrantRemote)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        QdrantRemote._check_compatibility(remote.rest_uri, remote._rest_headers, None, 10)
    assert not [w for w in caught if "Failed to obtain server version" in str(w.message)]
    assert client.info().version == requests.get(node.url, timeout=10).json()["version"]


# --------------------------------------------------------------------------- api keys


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    proc = NodeProcess(
        storage=str(tmp_path_factory.mktemp("grpc_secured") / "storage"),
        env_extra={"QDRANT__SERVICE__API_KEY": API_KEY, "QDRANT__SERVICE__READ_ONLY_API_KEY": READ_ONLY_KEY},
    ).start()
    yield proc
    proc.stop()


def _secured_client(node: NodeProcess, key: str | None) -> QdrantClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Api key is used with an insecure connection"
        return QdrantClient(url=node.url, grpc_port=node.grpc_port, prefer_grpc=True, api_key=key, timeout=30,
                            check_compatibility=False)


def test_api_keys(secured):
    admin = _secured_client(secured, API_KEY)
    reader = _secured_client(secured, READ_ONLY_KEY)
    anonymous = _secured_client(secured, None)
    name = _name()
    config = dict(vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))

    assert _code(lambda: anonymous.get_collections()) == grpc.StatusCode.UNAUTHENTICATED
    assert _code(lambda: anonymous.create_collection(name, **config)) == grpc.StatusCode.UNAUTHENTICATED
    assert _code(lambda: reader.create_collection(name, **config)) == grpc.StatusCode.PERMISSION_DENIED
    assert admin.create_collection(name, **config) is True
    assert reader.get_collection(name).config.params.vectors.size == 2
    assert reader.collection_exists(name) is True
    assert _code(lambda: reader.delete_collection(name)) == grpc.StatusCode.PERMISSION_DENIED
    assert _code(lambda: reader.create_snapshot(name)) == grpc.StatusCode.PERMISSION_DENIED
    assert _code(lambda: reader.create_full_snapshot()) == grpc.StatusCode.PERMISSION_DENIED
    assert reader.list_snapshots(name) == []
    assert admin.delete_collection(name) is True
    assert admin.collection_exists(name) is False

    remote = admin._client
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        QdrantRemote._check_compatibility(remote.rest_uri, remote._rest_headers, None, 10)
    assert not [w for w in caught if "Failed to obtain server version" in str(w.message)]
