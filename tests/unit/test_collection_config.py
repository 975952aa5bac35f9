"""Collection config: canonical JSON of PUT bodies, PATCH diffs, typed views, names."""

from __future__ import annotations

import copy
import json

import pytest

from consensus.errors import BadInput
from shards.collection_config import (
    CollectionDefaults,
    DenseVectorConfig,
    SparseVectorConfig,
    apply_update,
    build_config,
    collection_defaults_from_storage,
    config_in_print_order,
    dense_vectors,
    indexing_threshold_kb,
    is_named,
    sparse_vectors,
    validate_collection_name,
)

DEFAULT_REST = {
    "hnsw_config": {
        "m": 16,
        "ef_construct": 100,
        "full_scan_threshold": 10000,
        "max_indexing_threads": 0,
        "on_disk": False,
    },
    "optimizer_config": {
        "deleted_threshold": 0.2,
        "vacuum_min_vector_number": 1000,
        "default_segment_number": 0,
        "max_segment_size": None,
        "memmap_threshold": None,
        "indexing_threshold": 10000,
        "flush_interval_sec": 5,
        "max_optimization_threads": None,
    },
    "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1},
    "quantization_config": None,
    "strict_mode_config": {"enabled": False},
}


def single(size: int = 4, distance: str = "Dot", **extra: object) -> dict:
    return {"vectors": {"size": size, "distance": distance, **extra}}


def error_of(call, *args) -> str:
    with pytest.raises(BadInput) as caught:
        call(*args)
    return caught.value.message


# --- build_config: canonical output -------------------------------------------------


def test_single_vector_config_matches_qdrant_get_output_exactly():
    config = build_config({"vectors": {"size": 4, "distance": "Dot"}})
    assert config == {
        "params": {
            "vectors": {"size": 4, "distance": "Dot"},
            "shard_number": 1,
            "replication_factor": 1,
            "write_consistency_factor": 1,
            "on_disk_payload": True,
        },
        **DEFAULT_REST,
    }
    assert list(config) == [
        "params",
        "hnsw_config",
        "optimizer_config",
        "wal_config",
        "quantization_config",
        "strict_mode_config",
    ]
    assert json.loads(json.dumps(config)) == config


@pytest.mark.parametrize("body", [{}, {"vectors": {}}, {"vectors": None}])
def test_collection_without_dense_vectors_has_an_empty_vectors_map(body):
    config = build_config(body)
    assert config["params"]["vectors"] == {}
    assert is_named(config)
    assert dense_vectors(config) == {}


def test_named_vectors_are_sorted_and_keep_only_given_options_in_qdrant_order():
    config = build_config(
        {
            "vectors": {
                "text": {
                    "multivector_config": {"comparator": "max_sim"},
                    "datatype": "float16",
                    "on_disk": True,
                    "quantization_config": {"binary": {"always_ram": True}},
                    "hnsw_config": {"m": 8, "full_scan_threshold_kb": 20},
                    "distance": "Cosine",
                    "size": 128,
                },
                "image": {"size": 2, "distance": "Euclid", "hnsw_config": {}},
            }
        }
    )
    vectors = config["params"]["vectors"]
    assert list(vectors) == ["image", "text"]
    assert vectors["image"] == {"size": 2, "distance": "Euclid"}
    assert list(vectors["text"]) == [
        "size",
        "distance",
        "hnsw_config",
        "quantization_config",
        "on_disk",
        "datatype",
        "multivector_config",
    ]
    assert vectors["text"]["hnsw_config"] == {"m": 8, "full_scan_threshold": 20}
    assert is_named(config)


def test_a_vector_may_be_named_like_a_vector_param():
    config = build_config({"vectors": {"size": {"size": 3, "distance": "Dot"}}})
    assert is_named(config)
    assert dense_vectors(config)["size"].size == 3


def test_collection_level_sections_merge_diffs_over_defaults():
    config = build_config(
        {
            **single(),
            "hnsw_config": {"m": 32, "payload_m": 8, "on_disk": True},
            "optimizer_config": {"indexing_threshold_kb": 0, "max_optimization_threads": "auto"},
            "wal_config": {"wal_capacity_mb": 64},
            "on_disk_payload": False,
            "replication_factor": 2,
            "write_consistency_factor": 2,
        }
    )
    assert config["hnsw_config"] == {
        "m": 32,
        "ef_construct": 100,
        "full_scan_threshold": 10000,
        "max_indexing_threads": 0,
        "on_disk": True,
        "payload_m": 8,
    }
    assert config["optimizer_config"]["indexing_threshold"] == 0
    assert config["optimizer_config"]["max_optimization_threads"] is None
    assert config["wal_config"] == {
        "wal_capacity_mb": 64,
        "wal_segments_ahead": 0,
        "wal_retain_closed": 1,
    }
    params = config["params"]
    assert (params["replication_factor"], params["write_consistency_factor"]) == (2, 2)
    assert params["on_disk_payload"] is False


def test_null_fields_mean_defaults():
    config = build_config({**single(), "hnsw_config": {"m": None}, "shard_number": None})
    assert config == build_config(single())


def test_custom_sharding_defaults_to_one_shard_per_key_and_is_printed():
    auto = build_config(single(), default_shard_number=3)
    assert auto["params"]["shard_number"] == 3
    assert "sharding_method" not in auto["params"]
    custom = build_config({**single(), "sharding_method": "custom"}, default_shard_number=3)
    assert custom["params"]["shard_number"] == 1
    assert custom["params"]["sharding_method"] == "custom"
    explicit = build_config({**single(), "shard_number": 6})
    assert explicit["params"]["shard_number"] == 6


def test_sparse_vectors_are_printed_after_on_disk_payload():
    config = build_config(
        {
            "sparse_vectors": {
                "text": {"modifier": "idf", "index": {"datatype": "uint8", "on_disk": True}},
                "b": {},
            }
        }
    )
    params = config["params"]
    assert list(params)[-1] == "sparse_vectors"
    assert params["sparse_vectors"] == {
        "b": {},
        "text": {"index": {"on_disk": True, "datatype": "uint8"}, "modifier": "idf"},
    }
    assert sparse_vectors(config) == {
        "b": SparseVectorConfig("b", None),
        "text": SparseVectorConfig("text", "idf"),
    }


@pytest.mark.parametrize(
    "quantization",
    [
        {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}},
        {"product": {"compression": "x16"}},
        {"binary": {}},
        {"binary": {"encoding": "two_bits", "query_encoding": "scalar8bits"}},
    ],
)
def test_quantization_configs_are_kept(quantization):
    config = build_config({**single(), "quantization_config": quantization})
    assert config["quantization_config"] == quantization
    aliased = build_config({**single(), "quantization": quantization})
    assert aliased == config


def test_strict_mode_given_is_merged_over_the_default():
    config = build_config(
        {
            **single(),
            "strict_mode_config": {
                "max_query_limit": 10,
                "sparse_config": {"s": {"max_length": 5}},
                "enabled": True,
            },
        }
    )
    assert config["strict_mode_config"] == {
        "enabled": True,
        "max_query_limit": 10,
        "sparse_config": {"s": {"max_length": 5}},
    }


def test_metadata_is_printed_last_and_omitted_when_absent():
    config = build_config({**single(), "metadata": {"owner": {"team": "search"}}})
    assert list(config)[-1] == "metadata"
    assert config["metadata"] == {"owner": {"team": "search"}}
    assert "metadata" not in build_config(single())


def test_node_defaults_shape_new_collections():
    defaults = CollectionDefaults(
        hnsw_config={**DEFAULT_REST["hnsw_config"], "m": 24},
        replication_factor=3,
        vectors_on_disk=True,
        quantization_config={"scalar": {"type": "int8"}},
        strict_mode_config=None,
    )
    config = build_config(single(), defaults=defaults)
    assert config["hnsw_config"]["m"] == 24
    assert config["params"]["replication_factor"] == 3
    assert config["params"]["vectors"]["on_disk"] is True
    assert config["quantization_config"] == {"scalar": {"type": "int8"}}
    assert "strict_mode_config" not in config
    explicit = build_config(single(on_disk=False), defaults=defaults)
    assert explicit["params"]["vectors"]["on_disk"] is False


def test_built_configs_do_not_share_state_with_defaults_or_each_other():
    defaults = CollectionDefaults(quantization_config={"scalar": {"type": "int8"}})
    first = build_config(single(), defaults=defaults)
    first["hnsw_config"]["m"] = 99
    first["quantization_config"]["scalar"]["type"] = "changed"
    first["strict_mode_config"]["enabled"] = True
    assert build_config(single(), defaults=defaults) == {
        **build_config(single()),
        "quantization_config": {"scalar": {"type": "int8"}},
    }


def test_body_is_not_modified():
    body = {"vectors": {"b": {"size": 2, "distance": "Dot"}}, "metadata": {"k": [1]}}
    snapshot = copy.deepcopy(body)
    config = build_config(body)
    config["metadata"]["k"].append(2)
    assert body == snapshot


# --- build_config: errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            single(size=0),
            "Validation error in JSON body: "
            "[vectors.size: value 0 invalid, must be from 1 to 65536]",
        ),
        (
            single(size=65537),
            "Validation error in JSON body: "
            "[vectors.size: value 65537 invalid, must be from 1 to 65536]",
        ),
        (
            single(distance="cosine"),
            "Json deserialize error: unknown variant `cosine`, expected one of "
            "`Cosine`, `Euclid`, `Dot`, `Manhattan` at `vectors.distance`",
        ),
        (
            single(size="4"),
            'Json deserialize error: invalid type: string "4", '
            "expected a non-negative integer at `vectors.size`",
        ),
        (
            single(size=4.5),
            "Json deserialize error: invalid type: floating point `4.5`, "
            "expected a non-negative integer at `vectors.size`",
        ),
        (
            single(size=-1),
            "Json deserialize error: invalid value: integer `-1`, "
            "expected a non-negative integer at `vectors.size`",
        ),
        (
            {"vectors": {"size": 4}},
            "Json deserialize error: missing field `distance` at `vectors`",
        ),
        (
            single(datatype="float64"),
            "Json deserialize error: unknown variant `float64`, expected one of "
            "`float32`, `uint8`, `float16` at `vectors.datatype`",
        ),
        (
            single(on_disk=1),
            "Json deserialize error: invalid type: integer `1`, "
            "expected a boolean at `vectors.on_disk`",
        ),
        (
            single(multivector_config={"comparator": "min_sim"}),
            "Json deserialize error: unknown variant `min_sim`, expected one of `max_sim` "
            "at `vectors.multivector_config.comparator`",
        ),
        (
            {"vectors": {"a": {"size": 4, "distance": "Dot", "colour": "red"}}},
            "Json deserialize error: unknown field `colour`, expected one of `size`, `distance`, "
            "`hnsw_config`, `quantization_config`, `on_disk`, `datatype`, `multivector_config` "
            "at `vectors.a`",
        ),
        (
            {"vectors": {"a": 4}},
            "Json deserialize error: invalid type: integer `4`, expected an object at `vectors.a`",
        ),
        (
            {"vectors": [4]},
            "Json deserialize error: invalid type: sequence, expected an object at `vectors`",
        ),
        (
            {**single(), "name": "x"},
            "Json deserialize error: unknown field `name`, expected one of `vectors`, "
            "`shard_number`, `sharding_method`, `replication_factor`, `write_consistency_factor`, "
            "`on_disk_payload`, `hnsw_config`, `wal_config`, `optimizers_config`, `init_from`, "
            "`quantization_config`, `sparse_vectors`, `strict_mode_config`, `metadata`",
        ),
        (
            {**single(), "sharding_method": "Custom"},
            "Json deserialize error: unknown variant `Custom`, expected one of `auto`, `custom` "
            "at `sharding_method`",
        ),
        (
            {**single(), "replication_factor": 0},
            "Validation error in JSON body: "
            "[replication_factor: value 0 invalid, must be 1 or larger]",
        ),
        (
            {**single(), "hnsw_config": {"ef_construct": 3, "full_scan_threshold": 5}},
            "Validation error in JSON body: [hnsw_config.ef_construct: value 3 invalid, "
            "must be 4 or larger; hnsw_config.full_scan_threshold: value 5 invalid, "
            "must be 10 or larger]",
        ),
        (
            {**single(), "optimizers_config": {"deleted_threshold": 1.5}},
            "Validation error in JSON body: [optimizers_config.deleted_threshold: "
            "value 1.5 invalid, must be from 0.0 to 1.0]",
        ),
        (
            {**single(), "optimizers_config": {"vacuum_min_vector_number": 10}},
            "Validation error in JSON body: [optimizers_config.vacuum_min_vector_number: "
            "value 10 invalid, must be 100 or larger]",
        ),
        (
            {**single(), "optimizers_config": {"max_optimization_threads": "many"}},
            "Json deserialize error: unknown variant `many`, expected `auto` or an integer "
            "at `optimizers_config.max_optimization_threads`",
        ),
        (
            {**single(), "wal_config": {"wal_capacity_mb": 0}},
            "Validation error in JSON body: [wal_config.wal_capacity_mb: value 0 invalid, "
            "must be 1 or larger]",
        ),
        (
            {**single(), "quantization_config": {"scalar": {"type": "int8", "quantile": 0.1}}},
            "Validation error in JSON body: [quantization_config.scalar.quantile: "
            "value 0.1 invalid, must be from 0.5 to 1.0]",
        ),
        (
            {**single(), "quantization_config": {"scalar": {}}},
            "Json deserialize error: missing field `type` at `quantization_config.scalar`",
        ),
        (
            {**single(), "quantization_config": {"turbo": {}}},
            "Json deserialize error: unknown variant `turbo`, expected one of `scalar`, "
            "`product`, `binary` at `quantization_config`",
        ),
        (
            {**single(), "quantization_config": "Disabled"},
            "Json deserialize error: unknown variant `Disabled`, expected one of `scalar`, "
            "`product`, `binary` at `quantization_config`",
        ),
        (
            {**single(), "quantization_config": {"scalar": {"type": "int8"}, "binary": {}}},
            "Json deserialize error: expected exactly one quantization method, one of "
            "`scalar`, `product`, `binary` at `quantization_config`",
        ),
        (
            {"sparse_vectors": {"s": {"modifier": "bm25"}}},
            "Json deserialize error: unknown variant `bm25`, expected one of `none`, `idf` "
            "at `sparse_vectors.s.modifier`",
        ),
        (
            {**single(), "strict_mode_config": {"max_query_limit": 0}},
            "Validation error in JSON body: [strict_mode_config.max_query_limit: "
            "value 0 invalid, must be 1 or larger]",
        ),
        (
            {**single(), "strict_mode_config": {"multivector_config": {"v": {"max_vectors": 0}}}},
            "Validation error in JSON body: [strict_mode_config.multivector_config.v.max_vectors: "
            "value 0 invalid, must be 1 or larger]",
        ),
        (
            {**single(), "metadata": [1]},
            "Json deserialize error: invalid type: sequence, expected an object (JSON map) "
            "at `metadata`",
        ),
        (
            {"vectors": {"": {"size": 4, "distance": "Dot"}}},
            "Validation error in JSON body: [vectors: vector name must not be empty]",
        ),
        (
            {"vectors": {"a": {"size": 4, "distance": "Dot"}}, "sparse_vectors": {"a": {}}},
            "Wrong input: vector name `a` is used for both a dense and a sparse vector",
        ),
        (
            {**single(), "init_from": {"collection": "other"}},
            "Wrong input: `init_from` is not supported; copy points with scroll and upsert instead",
        ),
        (
            None,
            "Json deserialize error: invalid type: null, expected an object",
        ),
    ],
)
def test_invalid_create_bodies_are_rejected_with_qdrant_style_messages(body, message):
    assert error_of(build_config, body) == message


def test_all_range_violations_are_reported_together():
    message = error_of(
        build_config,
        {
            "vectors": {
                "a": {"size": 0, "distance": "Dot"},
                "b": {"size": 70000, "distance": "Dot"},
            },
            "shard_number": 0,
        },
    )
    assert message == (
        "Validation error in JSON body: [shard_number: value 0 invalid, must be 1 or larger; "
        "vectors.a.size: value 0 invalid, must be from 1 to 65536; "
        "vectors.b.size: value 70000 invalid, must be from 1 to 65536]"
    )


def test_shape_errors_win_over_range_violations_like_serde_before_validation():
    message = error_of(build_config, {"vectors": {"size": 0, "distance": "Nope"}})
    assert message.startswith("Json deserialize error: unknown variant `Nope`")


# --- apply_update --------------------------------------------------------------------------


@pytest.fixture
def named_config() -> dict:
    return build_config(
        {
            "vectors": {
                "image": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 8}},
                "text": {"size": 8, "distance": "Cosine"},
            },
            "sparse_vectors": {"words": {"modifier": "idf"}},
        }
    )


def test_empty_patch_changes_nothing(named_config):
    assert apply_update(named_config, {}) == named_config


def test_patch_merges_collection_sections_and_keeps_the_original(named_config):
    original = copy.deepcopy(named_config)
    updated = apply_update(
        named_config,
        {
            "optimizers_config": {"indexing_threshold": 0, "deleted_threshold": None},
            "hnsw_config": {"ef_construct": 200},
            "params": {"replication_factor": 3, "read_fan_out_factor": 1, "on_disk_payload": False},
            "quantization_config": {"product": {"compression": "x8"}},
        },
    )
    assert named_config == original
    assert updated["optimizer_config"]["indexing_threshold"] == 0
    assert updated["optimizer_config"]["deleted_threshold"] == 0.2
    assert updated["hnsw_config"]["ef_construct"] == 200
    assert updated["quantization_config"] == {"product": {"compression": "x8"}}
    assert list(updated["params"]) == [
        "vectors",
        "shard_number",
        "replication_factor",
        "write_consistency_factor",
        "read_fan_out_factor",
        "on_disk_payload",
        "sparse_vectors",
    ]
    assert updated["params"]["replication_factor"] == 3
    assert updated["params"]["on_disk_payload"] is False
    disabled = apply_update(updated, {"quantization_config": "Disabled"})
    assert disabled["quantization_config"] is None


def test_patch_updates_named_vectors(named_config):
    updated = apply_update(
        named_config,
        {
            "vectors": {
                "image": {"hnsw_config": {"ef_construct": 64}, "on_disk": True},
                "text": {"quantization": {"scalar": {"type": "int8"}}},
            }
        },
    )
    vectors = updated["params"]["vectors"]
    assert vectors["image"] == {
        "size": 4,
        "distance": "Dot",
        "hnsw_config": {"m": 8, "ef_construct": 64},
        "on_disk": True,
    }
    assert vectors["text"]["quantization_config"] == {"scalar": {"type": "int8"}}
    views = dense_vectors(updated)
    assert (views["image"].m, views["image"].ef_construct, views["image"].on_disk) == (8, 64, True)

    cleared = apply_update(
        updated,
        {"vectors": {"image": {"hnsw_config": {}}, "text": {"quantization_config": "Disabled"}}},
    )
    assert cleared["params"]["vectors"] == {
        "image": {"size": 4, "distance": "Dot", "on_disk": True},
        "text": {"size": 8, "distance": "Cosine"},
    }


def test_patch_addresses_the_unnamed_vector_by_empty_name():
    config = build_config(single())
    updated = apply_update(config, {"vectors": {"": {"on_disk": True}}})
    assert updated["params"]["vectors"] == {"size": 4, "distance": "Dot", "on_disk": True}
    assert not is_named(updated)


@pytest.mark.parametrize(
    ("config_body", "patch", "missing"),
    [
        (single(), {"vectors": {"text": {"on_disk": True}}}, "text"),
        ({"vectors": {"a": {"size": 4, "distance": "Dot"}}}, {"vectors": {"": {}}}, ""),
        ({}, {"sparse_vectors": {"words": {"modifier": "idf"}}}, "words"),
    ],
)
def test_patch_naming_an_unknown_vector_is_rejected(config_body, patch, missing):
    message = error_of(apply_update, build_config(config_body), patch)
    assert message == f"Wrong input: Not existing vector name error: {missing}"


def test_patch_updates_sparse_vectors(named_config):
    updated = apply_update(
        named_config,
        {"sparse_vectors": {"words": {"index": {"full_scan_threshold": 500}, "modifier": "none"}}},
    )
    assert updated["params"]["sparse_vectors"]["words"] == {
        "index": {"full_scan_threshold": 500},
        "modifier": "none",
    }
    assert sparse_vectors(updated)["words"].modifier is None


def test_patch_merges_strict_mode_per_field_and_per_vector():
    config = build_config(
        {**single(), "strict_mode_config": {"sparse_config": {"a": {"max_length": 5}}}}
    )
    updated = apply_update(
        config,
        {
            "strict_mode_config": {
                "enabled": True,
                "sparse_config": {"b": {"max_length": 7}},
                "search_max_oversampling": 2,
            }
        },
    )
    assert updated["strict_mode_config"] == {
        "enabled": True,
        "search_max_oversampling": 2.0,
        "sparse_config": {"a": {"max_length": 5}, "b": {"max_length": 7}},
    }


def test_patch_merges_metadata_key_by_key():
    config = build_config({**single(), "metadata": {"a": 1, "b": 2}})
    merged = apply_update(config, {"metadata": {"b": None, "c": {"d": 3}}})
    assert merged["metadata"] == {"a": 1, "c": {"d": 3}}
    assert "metadata" not in apply_update(merged, {"metadata": {}})
    added = apply_update(build_config(single()), {"metadata": {"x": True}})
    assert list(added)[-1] == "metadata"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"wal_config": {"wal_capacity_mb": 64}},
            "Json deserialize error: unknown field `wal_config`, expected one of `vectors`, "
            "`optimizers_config`, `params`, `hnsw_config`, `quantization_config`, "
            "`sparse_vectors`, `strict_mode_config`, `metadata`",
        ),
        (
            {"params": {"shard_number": 2}},
            "Json deserialize error: unknown field `shard_number`, expected one of "
            "`replication_factor`, `write_consistency_factor`, `read_fan_out_factor`, "
            "`read_fan_out_delay_ms`, `on_disk_payload` at `params`",
        ),
        (
            {"params": {"replication_factor": 0}},
            "Validation error in JSON body: [params.replication_factor: value 0 invalid, "
            "must be 1 or larger]",
        ),
        (
            {"vectors": {"": {"size": 8}}},
            "Json deserialize error: unknown field `size`, expected one of `hnsw_config`, "
            "`quantization_config`, `on_disk` at `vectors`",
        ),
        (
            {"hnsw_config": {"ef_construct": 1}, "vectors": {"missing": {}}},
            "Validation error in JSON body: [hnsw_config.ef_construct: value 1 invalid, "
            "must be 4 or larger]",
        ),
    ],
)
def test_invalid_patches_are_rejected(patch, message):
    assert error_of(apply_update, build_config(single()), patch) == message


# --- typed views ------------------------------------------------------------------------------


def test_dense_vector_view_applies_collection_hnsw_defaults():
    config = build_config(
        {
            **single(size=16, distance="Cosine", datatype="uint8", hnsw_config={"m": 4}),
            "hnsw_config": {"ef_construct": 50, "full_scan_threshold": 20},
        }
    )
    assert dense_vectors(config) == {
        "": DenseVectorConfig(
            name="",
            size=16,
            distance="Cosine",
            datatype="uint8",
            on_disk=False,
            multivector=False,
            m=4,
            ef_construct=50,
            full_scan_threshold=20,
        )
    }
    assert not is_named(config)


def test_views_work_on_a_json_round_trip():
    config = build_config(
        {
            "vectors": {
                "colbert": {
                    "size": 4,
                    "distance": "Dot",
                    "multivector_config": {"comparator": "max_sim"},
                }
            },
            "sparse_vectors": {"bm25": {"modifier": "idf"}},
        }
    )
    restored = json.loads(json.dumps(config))
    assert dense_vectors(restored) == dense_vectors(config)
    assert dense_vectors(restored)["colbert"].multivector
    assert sparse_vectors(restored) == sparse_vectors(config)


@pytest.mark.parametrize(
    ("optimizers", "expected"),
    [({}, 10000), ({"indexing_threshold": 0}, 0), ({"indexing_threshold": 123}, 123)],
)
def test_indexing_threshold(optimizers, expected):
    config = build_config({**single(), "optimizers_config": optimizers})
    assert indexing_threshold_kb(config) == expected


def test_indexing_threshold_null_means_default():
    config = build_config(single())
    config["optimizer_config"]["indexing_threshold"] = None
    assert indexing_threshold_kb(config) == 10000


# --- collection names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a", "my_collection-1", "with space", "ünïcode", "x" * 255, ".a"]
)
def test_valid_collection_names(name):
    validate_collection_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", 'name: value "" invalid, must be from 1 to 255 characters'),
        ("x" * 256, f'name: value "{"x" * 256}" invalid, must be from 1 to 255 characters'),
        ("a/b", 'name: collection name cannot contain "/" char'),
        ("a\\b", 'name: collection name cannot contain "\\" char'),
        ("what?", 'name: collection name cannot contain "?" char'),
        ("a:b", 'name: collection name cannot contain ":" char'),
        ("a\0b", 'name: collection name cannot contain "\\x00" char'),
        ("..", 'name: collection name cannot be ".."'),
        (".", 'name: collection name cannot be "."'),
    ],
)
def test_invalid_collection_names(name, message):
    assert error_of(validate_collection_name, name) == (
        f"Validation error in path parameters: [{message}]"
    )


# --- node defaults --------------------------------------------------------------------------


def test_collection_defaults_from_a_qdrant_storage_section():
    defaults = collection_defaults_from_storage(
        {
            "hnsw_index": {"m": 32, "full_scan_threshold_kb": 500, "payload_m": None},
            "optimizers": {"indexing_threshold_kb": 0, "max_segment_size_kb": None},
            "wal": {"wal_capacity_mb": 8},
            "on_disk_payload": False,
            "collection": {
                "replication_factor": 2,
                "vectors": {"on_disk": True},
                "strict_mode": {"enabled": True, "max_timeout": 10},
            },
        }
    )
    config = build_config(single(), defaults=defaults)
    assert config["hnsw_config"]["m"] == 32
    assert config["hnsw_config"]["full_scan_threshold"] == 500
    assert config["optimizer_config"]["indexing_threshold"] == 0
    assert config["wal_config"]["wal_capacity_mb"] == 8
    assert config["params"]["on_disk_payload"] is False
    assert config["params"]["replication_factor"] == 2
    assert config["params"]["vectors"]["on_disk"] is True
    assert config["strict_mode_config"] == {"enabled": True, "max_timeout": 10}


def test_collection_defaults_errors_name_the_config_path():
    message = error_of(collection_defaults_from_storage, {"optimizers": {"deleted_threshold": 3}})
    assert message == (
        "Invalid configuration: [storage.optimizers.deleted_threshold: value 3.0 invalid, "
        "must be from 0.0 to 1.0]"
    )


@pytest.mark.parametrize(
    "body",
    [
        {
            "vectors": {
                "size": 4,
                "distance": "Dot",
                "hnsw_config": {"m": 3, "ef_construct": 8},
                "quantization_config": {"scalar": {"always_ram": True, "type": "int8", "quantile": 0.9}},
                "on_disk": True,
                "multivector_config": {"comparator": "max_sim"},
            },
            "sparse_vectors": {"s": {"modifier": "idf", "index": {"on_disk": True, "full_scan_threshold": 3}}},
            "quantization_config": {"product": {"always_ram": True, "compression": "x4"}},
            "strict_mode_config": {"max_timeout": 3, "enabled": True},
            "hnsw_config": {"payload_m": 3, "on_disk": True},
            "sharding_method": "auto",
        },
        {"vectors": {"b": {"size": 2, "distance": "Cosine"}, "a": {"distance": "Dot", "size": 3}}},
    ],
)
def test_print_order_survives_key_sorted_storage(body):
    # Consensus stores configs as key-sorted JSON; GET must print Qdrant's field order again.
    config = build_config(body)
    stored = json.loads(json.dumps(config, sort_keys=True))
    assert json.dumps(stored) != json.dumps(config)
    restored = config_in_print_order(stored)
    assert json.dumps(restored) == json.dumps(config)
    assert config_in_print_order({"params": {}, "extra": 1}) == {"params": {}, "extra": 1}
