"""A collection's configuration: built from ``PUT``, changed by ``PATCH``, read by shards.

The config is kept as the exact JSON that Qdrant's ``GET /collections/{name}``
shows under ``result.config``, so it can be stored, replicated through
consensus and returned without translation::

    {"params": {"vectors": ..., "shard_number": 1, "replication_factor": 1,
                "write_consistency_factor": 1, "on_disk_payload": true},
     "hnsw_config": {...}, "optimizer_config": {...}, "wal_config": {...},
     "quantization_config": null, "strict_mode_config": {"enabled": false}}

Optional fields Qdrant skips when unset (``sharding_method``,
``sparse_vectors``, ``payload_m``, ``metadata``...) are absent, not null.
Vector sections and the body reader live in :mod:`shards.vector_config`;
the typed views the shard uses are re-exported here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

from consensus.errors import BadInput, NotFound
from shards.vector_config import (
    DEFAULT_HNSW_CONFIG,
    HNSW_FIELDS,
    QUANTIZATION_DISABLED,
    BodyReader,
    DenseVectorConfig,
    Field,
    SparseVectorConfig,
    apply_sparse_diff,
    apply_vectors_diff,
    check_vector_names,
    dense_vectors,
    in_print_order,
    is_named,
    is_single_vector,
    join_path,
    ordered,
    quantization_in_print_order,
    read_hnsw_diff,
    read_quantization,
    read_sparse_params,
    read_sparse_vectors,
    read_vector_params,
    read_vectors,
    read_vectors_diff,
    sparse_vectors,
    sparse_vectors_in_print_order,
    vectors_in_print_order,
)

__all__ = [
    "CollectionDefaults",
    "DenseVectorConfig",
    "SparseVectorConfig",
    "add_vector_name",
    "apply_update",
    "build_config",
    "collection_defaults_from_storage",
    "config_in_print_order",
    "delete_vector_name",
    "dense_vectors",
    "indexing_threshold_kb",
    "is_named",
    "sparse_vectors",
    "validate_collection_name",
]

DEFAULT_OPTIMIZER_CONFIG: Mapping[str, Any] = {
    "deleted_threshold": 0.2,
    "vacuum_min_vector_number": 1000,
    "default_segment_number": 0,
    "max_segment_size": None,
    "memmap_threshold": None,
    "indexing_threshold": 10000,
    "flush_interval_sec": 5,
    "max_optimization_threads": None,
}
"""Qdrant's ``storage.optimizers`` defaults; these eight keys are always printed."""

DEFAULT_WAL_CONFIG: Mapping[str, Any] = {
    "wal_capacity_mb": 32,
    "wal_segments_ahead": 0,
    "wal_retain_closed": 1,
}
DEFAULT_STRICT_MODE_CONFIG: Mapping[str, Any] = {"enabled": False}
DEFAULT_INDEXING_THRESHOLD_KB = 10000
MAX_COLLECTION_NAME_LENGTH = 255

_OPTIMIZER_FIELDS: dict[str, Field] = {
    "deleted_threshold": Field("number", minimum=0.0, maximum=1.0),
    "vacuum_min_vector_number": Field("uint", minimum=100),
    "default_segment_number": Field("uint"),
    "max_segment_size": Field("uint", minimum=1),
    "memmap_threshold": Field("uint"),
    "indexing_threshold": Field("uint"),
    "flush_interval_sec": Field("uint"),
    "max_optimization_threads": Field("uint_or_auto"),
    "prevent_unoptimized": Field("bool"),
}
_OPTIMIZER_ALIASES = {
    "max_segment_size_kb": "max_segment_size",
    "memmap_threshold_kb": "memmap_threshold",
    "indexing_threshold_kb": "indexing_threshold",
}
_WAL_FIELDS: dict[str, Field] = {
    "wal_capacity_mb": Field("uint", minimum=1),
    "wal_segments_ahead": Field("uint"),
    "wal_retain_closed": Field("uint", minimum=1),
}
_STRICT_MODE_FIELDS: dict[str, Field] = {
    "enabled": Field("bool"),
    "max_query_limit": Field("uint", minimum=1),
    "max_timeout": Field("uint", minimum=1),
    "unindexed_filtering_retrieve": Field("bool"),
    "unindexed_filtering_update": Field("bool"),
    "search_max_hnsw_ef": Field("uint"),
    "search_allow_exact": Field("bool"),
    "search_max_oversampling": Field("number", minimum=0.0),
    "upsert_max_batchsize": Field("uint"),
    "search_max_batchsize": Field("uint"),
    "max_collection_vector_size_bytes": Field("uint"),
    "read_rate_limit": Field("uint", minimum=1),
    "write_rate_limit": Field("uint", minimum=1),
    "max_collection_payload_size_bytes": Field("uint"),
    "max_points_count": Field("uint", minimum=1),
    "filter_max_conditions": Field("uint"),
    "condition_max_size": Field("uint"),
    "multivector_config": Field("raw"),
    "sparse_config": Field("raw"),
    "max_payload_index_count": Field("uint"),
    "max_resident_memory_percent": Field("uint", minimum=1, maximum=100),
}
# Per-vector strict-mode limits: section name -> (limit field, its spec).
_STRICT_MODE_VECTOR_LIMITS = {
    "multivector_config": ("max_vectors", Field("uint", minimum=1)),
    "sparse_config": ("max_length", Field("uint", minimum=1)),
}
_CREATE_FIELDS: dict[str, Field] = {
    "vectors": Field("raw"),
    "shard_number": Field("uint", minimum=1),
    "sharding_method": Field("choice", variants=("auto", "custom")),
    "replication_factor": Field("uint", minimum=1),
    "write_consistency_factor": Field("uint", minimum=1),
    "on_disk_payload": Field("bool"),
    "hnsw_config": Field("raw"),
    "wal_config": Field("raw"),
    "optimizers_config": Field("raw"),
    "init_from": Field("raw"),
    "quantization_config": Field("raw"),
    "sparse_vectors": Field("raw"),
    "strict_mode_config": Field("raw"),
    "metadata": Field("raw"),
}
_UPDATE_FIELDS: dict[str, Field] = {
    "vectors": Field("raw"),
    "optimizers_config": Field("raw"),
    "params": Field("raw"),
    "hnsw_config": Field("raw"),
    "quantization_config": Field("raw"),
    "sparse_vectors": Field("raw"),
    "strict_mode_config": Field("raw"),
    "metadata": Field("raw"),
}
_BODY_ALIASES = {"optimizer_config": "optimizers_config", "quantization": "quantization_config"}
_PARAMS_DIFF_FIELDS: dict[str, Field] = {
    "replication_factor": Field("uint", minimum=1),
    "write_consistency_factor": Field("uint", minimum=1),
    "read_fan_out_factor": Field("uint"),
    "read_fan_out_delay_ms": Field("uint"),
    "on_disk_payload": Field("bool"),
}
_PARAMS_ORDER = (
    "vectors",
    "shard_number",
    "sharding_method",
    "replication_factor",
    "write_consistency_factor",
    "read_fan_out_factor",
    "read_fan_out_delay_ms",
    "on_disk_payload",
    "sparse_vectors",
)
_CONFIG_ORDER = (
    "params",
    "hnsw_config",
    "optimizer_config",
    "wal_config",
    "quantization_config",
    "strict_mode_config",
    "metadata",
)
_FORBIDDEN_NAME_CHARS = ("<", ">", ":", '"', "/", "\\", "|", "?", "*", "\0", "\u001f")


@dataclass(frozen=True)
class CollectionDefaults:
    """Node-wide starting values of a new collection (Qdrant's ``storage`` section).

    The mappings are canonical JSON sections; treat them as read-only, since
    :func:`build_config` copies them into each new config.
    """

    hnsw_config: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_HNSW_CONFIG))
    optimizer_config: Mapping[str, Any] = field(
        default_factory=lambda: dict(DEFAULT_OPTIMIZER_CONFIG)
    )
    wal_config: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_WAL_CONFIG))
    on_disk_payload: bool = True
    replication_factor: int = 1
    write_consistency_factor: int = 1
    vectors_on_disk: bool | None = None
    quantization_config: Mapping[str, Any] | None = None
    strict_mode_config: Mapping[str, Any] | None = field(
        default_factory=lambda: dict(DEFAULT_STRICT_MODE_CONFIG)
    )


# --- sections ----------------------------------------------------------------------


def _merge(base: Mapping[str, Any], diff: Mapping[str, Any], order: Mapping[str, Any]) -> dict:
    """``base`` overlaid by the (already checked, null-free) ``diff``, in canonical order."""
    return ordered({**base, **diff}, order)


def _read_optimizers_diff(
    reader: BodyReader, value: Any, path: str = "optimizers_config"
) -> dict[str, Any]:
    return reader.fields(value, path, _OPTIMIZER_FIELDS, _OPTIMIZER_ALIASES)


def _merge_optimizers(base: Mapping[str, Any], diff: Mapping[str, Any]) -> dict[str, Any]:
    merged = _merge(base, diff, _OPTIMIZER_FIELDS)
    if merged.get("max_optimization_threads") == "auto":
        merged["max_optimization_threads"] = None  # "auto" is stored as "no limit"
    for key in DEFAULT_OPTIMIZER_CONFIG:
        merged.setdefault(key, None)
    return ordered(merged, _OPTIMIZER_FIELDS)


def _read_strict_mode(reader: BodyReader, value: Any, path: str) -> dict[str, Any]:
    fields = reader.fields(value, path, _STRICT_MODE_FIELDS)
    for section, (limit, spec) in _STRICT_MODE_VECTOR_LIMITS.items():
        if section not in fields:
            continue
        section_path = join_path(path, section)
        per_vector = reader.object(fields[section], section_path)
        fields[section] = {
            name: reader.fields(item, join_path(section_path, name), {limit: spec})
            for name, item in sorted(per_vector.items())
        }
    return fields


def _merge_strict_mode(base: Mapping[str, Any], diff: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**copy.deepcopy(dict(base)), **copy.deepcopy(dict(diff))}
    for section in _STRICT_MODE_VECTOR_LIMITS:
        if section in base and section in diff:  # merge per vector name, not wholesale
            per_vector = copy.deepcopy(dict(base[section]))
            for name, limits in diff[section].items():
                per_vector[name] = {**per_vector.get(name, {}), **limits}
            merged[section] = dict(sorted(per_vector.items()))
    return ordered(merged, _STRICT_MODE_FIELDS)


def _read_metadata(reader: BodyReader, value: Any, path: str = "metadata") -> dict[str, Any]:
    return copy.deepcopy(reader.object(value, path, "an object (JSON map)"))


def _finish_config(config: dict[str, Any]) -> dict[str, Any]:
    config["params"] = ordered(config["params"], _PARAMS_ORDER)
    if not config.get("metadata"):
        config.pop("metadata", None)
    if config.get("strict_mode_config") is None:
        config.pop("strict_mode_config", None)
    return ordered(config, _CONFIG_ORDER)


# --- public API ----------------------------------------------------------------------


def build_config(
    body: Mapping[str, Any],
    default_shard_number: int = 1,
    defaults: CollectionDefaults | None = None,
) -> dict[str, Any]:
    """Validate a ``PUT /collections/{name}`` body; return the canonical config JSON.

    ``default_shard_number`` applies to auto sharding when the body gives none
    (Qdrant uses the number of peers); custom sharding defaults to 1 shard per
    key. Raises :class:`BadInput` with Qdrant's messages on any invalid input.
    """
    defaults = defaults or CollectionDefaults()
    reader = BodyReader()
    fields = reader.fields(body, "", _CREATE_FIELDS, _BODY_ALIASES)
    vectors = read_vectors(reader, fields.get("vectors", {}), "vectors", defaults.vectors_on_disk)
    sparse = None
    if "sparse_vectors" in fields:
        sparse = read_sparse_vectors(reader, fields["sparse_vectors"])
    hnsw_diff = read_hnsw_diff(reader, fields.get("hnsw_config", {}), "hnsw_config")
    wal_diff = reader.fields(fields.get("wal_config", {}), "wal_config", _WAL_FIELDS)
    optimizer_diff = _read_optimizers_diff(reader, fields.get("optimizers_config", {}))
    quantization = (
        read_quantization(reader, fields["quantization_config"], "quantization_config")
        if "quantization_config" in fields
        else copy.deepcopy(defaults.quantization_config)
    )
    strict_diff = (
        _read_strict_mode(reader, fields["strict_mode_config"], "strict_mode_config")
        if "strict_mode_config" in fields
        else None
    )
    metadata = _read_metadata(reader, fields["metadata"]) if "metadata" in fields else None
    reader.finish()

    check_vector_names(vectors, sparse or {})
    if "init_from" in fields:
        raise BadInput(
            "Wrong input: `init_from` is not supported; "
            "copy points with scroll and upsert instead"
        )
    sharding_method = fields.get("sharding_method")
    default_shards = 1 if sharding_method == "custom" else default_shard_number
    params: dict[str, Any] = {
        "vectors": vectors,
        "shard_number": fields.get("shard_number", default_shards),
        "sharding_method": sharding_method,
        "replication_factor": fields.get("replication_factor", defaults.replication_factor),
        "write_consistency_factor": fields.get(
            "write_consistency_factor", defaults.write_consistency_factor
        ),
        "on_disk_payload": fields.get("on_disk_payload", defaults.on_disk_payload),
        "sparse_vectors": sparse,
    }
    strict_base = defaults.strict_mode_config
    if strict_diff is None:
        strict_mode = copy.deepcopy(dict(strict_base)) if strict_base is not None else None
    else:
        strict_mode = _merge_strict_mode(strict_base or {}, strict_diff)
    config = {
        "params": {key: value for key, value in params.items() if value is not None},
        "hnsw_config": _merge(defaults.hnsw_config, hnsw_diff, HNSW_FIELDS),
        "optimizer_config": _merge_optimizers(defaults.optimizer_config, optimizer_diff),
        "wal_config": _merge(defaults.wal_config, wal_diff, _WAL_FIELDS),
        "quantization_config": quantization,
        "strict_mode_config": strict_mode,
        "metadata": metadata,
    }
    return _finish_config(config)


def apply_update(config: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a ``PATCH /collections/{name}`` body to ``config``; return the new config.

    ``config`` is not modified. Null fields leave values unchanged; metadata
    merges key by key (a null value removes that key, ``{}`` clears it all).
    A diff naming a vector the collection lacks raises :class:`BadInput`.
    """
    reader = BodyReader()
    fields = reader.fields(body, "", _UPDATE_FIELDS, _BODY_ALIASES)
    vectors_diff = read_vectors_diff(reader, fields["vectors"]) if "vectors" in fields else {}
    sparse_raw = reader.object(fields.get("sparse_vectors", {}), "sparse_vectors")
    sparse_diff = {
        name: read_sparse_params(reader, item, join_path("sparse_vectors", name))
        for name, item in sparse_raw.items()
    }
    optimizer_diff = _read_optimizers_diff(reader, fields.get("optimizers_config", {}))
    params_diff = reader.fields(fields.get("params", {}), "params", _PARAMS_DIFF_FIELDS)
    hnsw_diff = read_hnsw_diff(reader, fields.get("hnsw_config", {}), "hnsw_config")
    quantization = (
        read_quantization(
            reader, fields["quantization_config"], "quantization_config", allow_disabled=True
        )
        if "quantization_config" in fields
        else None
    )
    strict_diff = (
        _read_strict_mode(reader, fields["strict_mode_config"], "strict_mode_config")
        if "strict_mode_config" in fields
        else None
    )
    metadata_diff = _read_metadata(reader, fields["metadata"]) if "metadata" in fields else None
    reader.finish()

    new = copy.deepcopy(dict(config))
    params = new["params"]
    if vectors_diff:
        params["vectors"] = apply_vectors_diff(params.get("vectors", {}), vectors_diff)
    if sparse_diff:
        params["sparse_vectors"] = apply_sparse_diff(params.get("sparse_vectors"), sparse_diff)
    params.update(params_diff)
    new["hnsw_config"] = _merge(new.get("hnsw_config", DEFAULT_HNSW_CONFIG), hnsw_diff, HNSW_FIELDS)
    new["optimizer_config"] = _merge_optimizers(
        new.get("optimizer_config", DEFAULT_OPTIMIZER_CONFIG), optimizer_diff
    )
    if quantization is not None:
        new["quantization_config"] = None if quantization == QUANTIZATION_DISABLED else quantization
    if strict_diff is not None:
        current_strict = new.get("strict_mode_config") or {}
        new["strict_mode_config"] = _merge_strict_mode(current_strict, strict_diff)
    if metadata_diff is not None:
        new["metadata"] = _merge_metadata(new.get("metadata") or {}, metadata_diff)
    return _finish_config(new)


def add_vector_name(
    config: Mapping[str, Any], vector_name: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """``PUT /collections/{c}/vectors/{vector_name}``: ``config`` with one more vector.

    The body is Qdrant's ``VectorNameConfig`` (``{"dense": {...}}`` or
    ``{"sparse": {...}}``), or a plain ``VectorParams`` / ``SparseVectorParams``.
    A dense vector needs a collection of named vectors; a taken name is refused.
    """
    if not isinstance(vector_name, str) or not vector_name:
        raise BadInput("Validation error in path parameters: [vector_name: must not be empty]")
    reader = BodyReader()
    raw = reader.object(body, "")
    if "dense" in raw or "sparse" in raw:
        fields = reader.fields(raw, "", {"dense": Field("raw"), "sparse": Field("raw")})
        if len(fields) != 1:
            raise BadInput("Json deserialize error: expected exactly one of `dense` or `sparse`")
        kind, value = next(iter(fields.items()))
    elif "size" in raw or "distance" in raw:
        kind, value = "dense", raw
    else:
        kind, value = "sparse", raw
    path = join_path("vectors", vector_name) if kind == "dense" else join_path("sparse_vectors", vector_name)
    if kind == "dense":
        params = read_vector_params(reader, value, path)
    else:
        params = read_sparse_params(reader, value, path)
    reader.finish()

    new = copy.deepcopy(dict(config))
    section = new["params"]
    vectors = section.get("vectors") or {}
    sparse = section.get("sparse_vectors") or {}
    dense_names = set() if is_single_vector(vectors) else set(vectors)
    if vector_name in dense_names or vector_name in sparse:
        raise BadInput(f"Wrong input: Vector with name `{vector_name}` already exists")
    if kind == "dense":
        if is_single_vector(vectors):
            raise BadInput(
                f"Wrong input: Cannot add named vector `{vector_name}` to a collection "
                "with an unnamed (default) vector"
            )
        section["vectors"] = dict(sorted({**vectors, vector_name: params}.items()))
    else:
        section["sparse_vectors"] = dict(sorted({**sparse, vector_name: params}.items()))
    return _finish_config(new)


def delete_vector_name(config: Mapping[str, Any], vector_name: str) -> dict[str, Any]:
    """``DELETE /collections/{c}/vectors/{vector_name}``: ``config`` without that vector.

    The unnamed vector of a single-vector collection cannot be deleted; an
    unknown name raises :class:`NotFound`.
    """
    new = copy.deepcopy(dict(config))
    section = new["params"]
    vectors = section.get("vectors") or {}
    sparse = section.get("sparse_vectors") or {}
    if not is_single_vector(vectors) and vector_name in vectors:
        section["vectors"] = {name: p for name, p in vectors.items() if name != vector_name}
    elif vector_name in sparse:
        remaining = {name: p for name, p in sparse.items() if name != vector_name}
        if remaining:
            section["sparse_vectors"] = remaining
        else:
            section.pop("sparse_vectors", None)
    else:
        raise NotFound(f"Not found: Vector with name `{vector_name}` doesn't exist")
    strict = new.get("strict_mode_config")
    if isinstance(strict, dict):
        for limits in _STRICT_MODE_VECTOR_LIMITS:
            per_vector = strict.get(limits)
            if isinstance(per_vector, dict) and vector_name in per_vector:
                strict[limits] = {n: v for n, v in per_vector.items() if n != vector_name}
    return _finish_config(new)


def _merge_metadata(current: Mapping[str, Any], diff: Mapping[str, Any]) -> dict[str, Any]:
    if not diff:
        return {}
    merged = dict(current)
    for key, value in diff.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def config_in_print_order(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with every section's fields in the order Qdrant prints them.

    Consensus carries configs as key-sorted JSON, so a config read back from the
    replicated state has lost that order; the values are untouched.
    """
    result = in_print_order(config, _CONFIG_ORDER)
    if isinstance(result.get("params"), dict):
        params = in_print_order(result["params"], _PARAMS_ORDER)
        if isinstance(params.get("vectors"), dict):
            params["vectors"] = vectors_in_print_order(params["vectors"])
        if isinstance(params.get("sparse_vectors"), dict):
            params["sparse_vectors"] = sparse_vectors_in_print_order(params["sparse_vectors"])
        result["params"] = params
    for section, order in (
        ("hnsw_config", HNSW_FIELDS),
        ("optimizer_config", _OPTIMIZER_FIELDS),
        ("wal_config", _WAL_FIELDS),
        ("strict_mode_config", _STRICT_MODE_FIELDS),
    ):
        if isinstance(result.get(section), dict):
            result[section] = in_print_order(result[section], order)
    if "quantization_config" in result:
        result["quantization_config"] = quantization_in_print_order(result["quantization_config"])
    return result


def indexing_threshold_kb(config: Mapping[str, Any]) -> int:
    """Vector data size (KB) above which a segment gets an HNSW index; 0 disables indexing."""
    threshold = config.get("optimizer_config", {}).get("indexing_threshold")
    return DEFAULT_INDEXING_THRESHOLD_KB if threshold is None else int(threshold)


def validate_collection_name(name: str) -> None:
    """Qdrant's path rule for collection names: 1-255 chars, no path or shell specials.

    Also rejects ``.`` and ``..``, which would name the storage directory itself.
    """
    problems: list[str] = []
    if not isinstance(name, str):
        raise BadInput("Validation error in path parameters: [name: must be a string]")
    if not 1 <= len(name) <= MAX_COLLECTION_NAME_LENGTH:
        problems.append(
            f'value "{name}" invalid, must be from 1 to {MAX_COLLECTION_NAME_LENGTH} characters'
        )
    forbidden = next((char for char in _FORBIDDEN_NAME_CHARS if char in name), None)
    if forbidden is not None:
        shown = forbidden.encode("unicode_escape").decode() if forbidden < " " else forbidden
        problems.append(f'collection name cannot contain "{shown}" char')
    if name in (".", ".."):
        problems.append(f'collection name cannot be "{name}"')
    if problems:
        listed = "; ".join(f"name: {problem}" for problem in problems)
        raise BadInput(f"Validation error in path parameters: [{listed}]")


def collection_defaults_from_storage(storage: Mapping[str, Any]) -> CollectionDefaults:
    """Collection defaults from Qdrant's ``storage`` config section.

    Reads ``hnsw_index``, ``optimizers``, ``wal``, ``on_disk_payload`` and
    ``collection`` (``replication_factor``, ``write_consistency_factor``,
    ``vectors.on_disk``, ``quantization``, ``strict_mode``); other storage keys
    are not collection defaults and are ignored here. Raises :class:`BadInput`.
    """
    reader = BodyReader("Invalid configuration", "Invalid configuration")
    base = CollectionDefaults()
    hnsw = read_hnsw_diff(reader, storage.get("hnsw_index") or {}, "storage.hnsw_index")
    optimizers = _read_optimizers_diff(
        reader, storage.get("optimizers") or {}, "storage.optimizers"
    )
    wal = reader.fields(storage.get("wal") or {}, "storage.wal", _WAL_FIELDS)
    on_disk_payload = storage.get("on_disk_payload")
    if on_disk_payload is not None:
        reader.boolean(on_disk_payload, "storage.on_disk_payload")
    collection = reader.fields(
        storage.get("collection") or {},
        "storage.collection",
        {
            "replication_factor": Field("uint", minimum=1),
            "write_consistency_factor": Field("uint", minimum=1),
            "vectors": Field("raw"),
            "quantization": Field("raw"),
            "strict_mode": Field("raw"),
        },
    )
    vectors = reader.fields(
        collection.get("vectors", {}), "storage.collection.vectors", {"on_disk": Field("bool")}
    )
    quantization = (
        read_quantization(reader, collection["quantization"], "storage.collection.quantization")
        if "quantization" in collection
        else None
    )
    strict_mode = (
        _read_strict_mode(reader, collection["strict_mode"], "storage.collection.strict_mode")
        if "strict_mode" in collection
        else None
    )
    reader.finish()
    return CollectionDefaults(
        hnsw_config=_merge(base.hnsw_config, hnsw, HNSW_FIELDS),
        optimizer_config=_merge_optimizers(base.optimizer_config, optimizers),
        wal_config=_merge(base.wal_config, wal, _WAL_FIELDS),
        on_disk_payload=base.on_disk_payload if on_disk_payload is None else on_disk_payload,
        replication_factor=collection.get("replication_factor", base.replication_factor),
        write_consistency_factor=collection.get(
            "write_consistency_factor", base.write_consistency_factor
        ),
        vectors_on_disk=vectors.get("on_disk"),
        quantization_config=quantization,  # type: ignore[arg-type]
        strict_mode_config=strict_mode,
    )
