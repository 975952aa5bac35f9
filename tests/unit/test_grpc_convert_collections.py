"""Request conversions of ``qdrant.Collections`` that a single test node cannot exercise end to end.

Cluster operations on shard 0 (a proto3 zero the generic walk would drop) and the REST
spellings of enums that differ from the generic rule.
"""

from transport.grpc_api import engine, pb
from transport.grpc_api.services import collections_service as service


def _cluster_body(**operation):
    request = pb.UpdateCollectionClusterSetupRequest(collection_name="c", timeout=5, **operation)
    call = service._cluster_update_call(request)
    assert (call.method, call.path, call.query) == ("POST", "/collections/c/cluster", {"timeout": "5"})
    return call.body


def test_cluster_operations_keep_shard_zero():
    assert _cluster_body(abort_transfer=pb.AbortShardTransfer(shard_id=0, from_peer_id=2, to_peer_id=3)) == {
        "abort_transfer": {"shard_id": 0, "from_peer_id": 2, "to_peer_id": 3}
    }
    assert _cluster_body(drop_replica=pb.Replica(shard_id=0, peer_id=5)) == {
        "drop_replica": {"shard_id": 0, "peer_id": 5}
    }
    assert _cluster_body(move_shard=pb.MoveShard(shard_id=0, from_peer_id=1, to_peer_id=2, method=2)) == {
        "move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2, "method": "wal_delta"}
    }
    assert _cluster_body(restart_transfer=pb.RestartTransfer(shard_id=1, from_peer_id=1, to_peer_id=2)) == {
        "restart_transfer": {"shard_id": 1, "from_peer_id": 1, "to_peer_id": 2, "method": "stream_records"}
    }


def test_shard_key_operations_use_rest_names():
    create = pb.CreateShardKey(shard_key=pb.ShardKey(number=3), placement=[1, 2], initial_state=2)
    assert _cluster_body(create_shard_key=create) == {
        "create_sharding_key": {"shard_key": 3, "placement": [1, 2], "initial_state": "Partial"}
    }
    assert _cluster_body(delete_shard_key=pb.DeleteShardKey(shard_key=pb.ShardKey(keyword="a"))) == {
        "drop_sharding_key": {"shard_key": "a"}
    }


def test_update_collection_body():
    update = pb.UpdateCollection(
        collection_name="c",
        vectors_config=pb.VectorsConfigDiff(params=pb.VectorParamsDiff(on_disk=True)),
        quantization_config=pb.QuantizationConfigDiff(disabled=pb.Disabled()),
        optimizers_config=pb.OptimizersConfigDiff(max_optimization_threads=pb.MaxOptimizationThreads(setting=0)),
        params=pb.CollectionParamsDiff(replication_factor=2),
    )
    call = service._update_call(update)
    assert (call.method, call.path) == ("PATCH", "/collections/c")
    assert call.body == {
        "vectors": {"": {"on_disk": True}},
        "quantization_config": "Disabled",
        "optimizers_config": {"max_optimization_threads": "auto"},
        "params": {"replication_factor": 2},
    }


def test_zero_enums_and_float32_decimals():
    assert engine.to_rest(pb.QuantizationConfig(product=pb.ProductQuantization(compression=0))) == {
        "product": {"compression": "x4"}
    }
    assert engine.to_rest(pb.MultiVectorConfig()) == {"comparator": "max_sim"}
    scalar = pb.QuantizationConfig(scalar=pb.ScalarQuantization(type=1, quantile=0.99))
    assert engine.to_rest(scalar) == {"scalar": {"type": "int8", "quantile": 0.99}}
    text = pb.PayloadIndexParams(text_index_params=pb.TextIndexParams(
        stemmer=pb.StemmingAlgorithm(snowball=pb.SnowballParams(language="english")),
        stopwords=pb.StopwordsSet(languages=["english"]),
        scoring=pb.TextScoringParams(),
    ))
    assert engine.to_rest(text) == {
        "type": "text",
        "stemmer": {"type": "snowball", "language": "english"},
        "stopwords": {"languages": ["english"], "custom": []},
        "scoring": {"type": "bm25"},
    }
