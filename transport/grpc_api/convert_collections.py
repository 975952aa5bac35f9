"""Conversions of the collection messages: configs, collection info, payload schemas, aliases, cluster, snapshots.

Requests become REST JSON (``engine.to_rest``), replies are filled from REST JSON
(``engine.fill``). Only the messages whose shape differs between the two APIs are
registered here; the rest goes through the generic walk of :mod:`engine`.

Shape differences handled here:

* oneof wrappers with no REST twin: ``VectorsConfig`` (one params object or a map of
  named ones), ``VectorsConfigDiff`` (an unnamed diff is the map entry ``""``),
  ``SparseVectorConfig`` and the strict-mode maps (``{"map": {...}}`` vs a plain object),
  ``MaxOptimizationThreads`` (a number or ``"auto"``), ``OptimizerStatus`` (``"ok"`` or
  ``{"error": ...}``), ``PayloadIndexParams`` (REST tags the variant with ``"type"``),
  ``StemmingAlgorithm`` and ``StopwordsSet`` (a language name alone is allowed in REST);
* enum spellings REST writes differently (``"Cosine"``, ``"max_sim"``, ``"Active"`` ...);
* renamed fields (``vectors_config`` is ``vectors`` in REST, ``create_shard_key`` is
  ``create_sharding_key`` ...);
* plain proto3 fields whose zero value means something (``shard_id`` 0, ``MaxSim``, ``x4``)
  are always sent (the generic walk leaves zero values out);
* ``float`` (32-bit) request fields are sent as the shortest decimal that reads back as
  the same float32, so ``quantile=0.99`` is stored as ``0.99`` exactly as REST would.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np

from consensus.errors import BadInput
from transport.grpc_api import engine, values

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- enum spellings

engine.enum_spelling("Distance", {"Cosine": "Cosine", "Euclid": "Euclid", "Dot": "Dot", "Manhattan": "Manhattan"})
engine.enum_spelling("MultiVectorComparator", {"MaxSim": "max_sim"})
engine.enum_spelling(
    "BinaryQuantizationEncoding", {"OneBit": "one_bit", "TwoBits": "two_bits", "OneAndHalfBits": "one_and_half_bits"}
)
engine.enum_spelling("TurboQuantBitSize", {"Bits1_5": "bits1_5"})
engine.enum_spelling(
    "ReplicaState",
    {
        name: name
        for name in (
            "Active", "Dead", "Partial", "Initializing", "Listener", "PartialSnapshot", "Recovery",
            "Resharding", "ReshardingScaleDown", "ActiveRead", "ManualRecovery",
        )
    },
)
engine.enum_spelling(
    "ShardTransferMethod",
    {
        "StreamRecords": "stream_records",
        "Snapshot": "snapshot",
        "WalDelta": "wal_delta",
        "ReshardingStreamRecords": "resharding_stream_records",
    },
)

# --------------------------------------------------------------------------- renamed fields

engine.rename("CreateCollection", vectors_config="vectors", sparse_vectors_config="sparse_vectors")
engine.rename("UpdateCollection", vectors_config="vectors", sparse_vectors_config="sparse_vectors")
engine.rename("CollectionParams", vectors_config="vectors", sparse_vectors_config="sparse_vectors")
engine.rename(
    "UpdateCollectionClusterSetupRequest",
    create_shard_key="create_sharding_key",
    delete_shard_key="drop_sharding_key",
)


def f32(value: float) -> float:
    """The shortest decimal that reads back as the same 32-bit float (0.99f -> 0.99)."""
    return float(str(np.float32(value)))


def _fields_f32(message: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The generic walk, with singular ``float`` fields rounded to their float32 decimal."""
    out = engine.fields_to_rest(message, skip=skip)
    for field, value in message.ListFields():
        if field.name not in skip and field.type == field.TYPE_FLOAT and not field.is_repeated:
            out[field.name] = f32(value)
    return out


def _with_defaults(*names: str) -> Any:
    """A to_rest override for a message whose plain proto3 fields mean something at 0 (``shard_id`` 0,
    ``MaxSim``, ``x4``, ``Bm25``, ``StreamRecords``): the generic walk leaves zero values out, REST needs them."""

    def convert(message: Any) -> Any:
        out = engine.fields_to_rest(message)
        fields = message.DESCRIPTOR.fields_by_name
        for name in names:
            out.setdefault(name, engine.field_to_rest(fields[name], getattr(message, name)))
        return out

    return convert


_TRANSFER = ("shard_id", "from_peer_id", "to_peer_id")
for _name, _fields in (
    ("VectorParams", ("size",)),
    ("MultiVectorConfig", ("comparator",)),
    ("ProductQuantization", ("compression",)),
    ("TextScoringParams", ("type",)),
    ("MoveShard", _TRANSFER),
    ("ReplicateShard", _TRANSFER),
    ("AbortShardTransfer", _TRANSFER),
    ("RestartTransfer", (*_TRANSFER, "method")),
    ("Replica", ("shard_id", "peer_id")),
):
    engine.to_rest_override(_name)(_with_defaults(*_fields))


def metadata_to_rest(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A ``map<string, Value>`` as a JSON object."""
    return values.struct_to_py(metadata)


# --------------------------------------------------------------------------- vectors config


@engine.to_rest_override("VectorsConfig")
def _vectors_config(message: Any) -> Any:
    kind = message.WhichOneof("config")
    if kind == "params":
        return engine.to_rest(message.params)
    if kind == "params_map":
        return {name: engine.to_rest(params) for name, params in message.params_map.map.items()}
    raise BadInput("Vectors config is empty: set `params` or `params_map`")


@engine.filler("VectorsConfig")
def _fill_vectors_config(message: Any, value: Any) -> None:
    if isinstance(value, Mapping) and isinstance(value.get("size"), int) and "distance" in value:
        engine.fill(message.params, value)
        return
    message.params_map.SetInParent()
    for name, params in (value or {}).items():
        engine.fill(message.params_map.map[name], params)


@engine.to_rest_override("VectorsConfigDiff")
def _vectors_config_diff(message: Any) -> Any:
    kind = message.WhichOneof("config")
    if kind == "params":
        return {"": engine.to_rest(message.params)}  # the unnamed vector's name is ""
    if kind == "params_map":
        return {name: engine.to_rest(diff) for name, diff in message.params_map.map.items()}
    return {}


@engine.to_rest_override("SparseVectorConfig")
def _sparse_vector_config(message: Any) -> Any:
    return {name: engine.to_rest(params) for name, params in message.map.items()}


@engine.filler("SparseVectorConfig")
def _fill_sparse_vector_config(message: Any, value: Any) -> None:
    for name, params in (value or {}).items():
        engine.fill(message.map[name], params)


# --------------------------------------------------------------------------- quantization


@engine.to_rest_override("ScalarQuantization")
def _scalar_quantization(message: Any) -> Any:
    return _fields_f32(message)


@engine.to_rest_override("QuantizationConfigDiff")
def _quantization_config_diff(message: Any) -> Any:
    kind = message.WhichOneof("quantization")
    if kind is None:
        raise BadInput("Quantization config diff is empty")
    if kind == "disabled":
        return "Disabled"
    return {kind: engine.to_rest(getattr(message, kind))}


@engine.to_rest_override("BinaryQuantizationQueryEncoding")
def _query_encoding(message: Any) -> Any:
    field = message.DESCRIPTOR.fields_by_name["setting"]
    return engine.enum_to_rest(field.enum_type, message.setting)


@engine.filler("BinaryQuantizationQueryEncoding")
def _fill_query_encoding(message: Any, value: Any) -> None:
    message.setting = engine.enum_from_rest(message.DESCRIPTOR.fields_by_name["setting"].enum_type, value)


# --------------------------------------------------------------------------- optimizers


@engine.to_rest_override("MaxOptimizationThreads")
def _max_threads(message: Any) -> Any:
    if message.WhichOneof("variant") == "value":
        return message.value
    return "auto"


@engine.filler("MaxOptimizationThreads")
def _fill_max_threads(message: Any, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        message.value = value
    else:
        message.setting = 0  # Auto


@engine.to_rest_override("OptimizersConfigDiff")
def _optimizers_diff(message: Any) -> Any:
    body = engine.fields_to_rest(message, skip=("deprecated_max_optimization_threads",))
    if message.HasField("deprecated_max_optimization_threads") and "max_optimization_threads" not in body:
        body["max_optimization_threads"] = message.deprecated_max_optimization_threads
    return body


@engine.filler("OptimizersConfigDiff")
def _fill_optimizers(message: Any, value: Mapping[str, Any]) -> None:
    engine.fill_fields(message, value, skip=("max_optimization_threads",))
    threads = value.get("max_optimization_threads")
    if isinstance(threads, int) and not isinstance(threads, bool):
        # Qdrant fills both: older clients read the plain number, newer ones the oneof.
        message.deprecated_max_optimization_threads = threads
        message.max_optimization_threads.value = threads
    else:  # null or "auto": as many threads as the optimizer wants
        message.max_optimization_threads.setting = 0


# --------------------------------------------------------------------------- strict mode


@engine.to_rest_override("StrictModeConfig")
def _strict_mode(message: Any) -> Any:
    return _fields_f32(message)


@engine.to_rest_override("StrictModeSparseConfig")
def _strict_sparse(message: Any) -> Any:
    return {name: engine.to_rest(entry) for name, entry in message.sparse_config.items()}


@engine.filler("StrictModeSparseConfig")
def _fill_strict_sparse(message: Any, value: Any) -> None:
    for name, entry in (value or {}).items():
        engine.fill(message.sparse_config[name], entry)


@engine.to_rest_override("StrictModeMultivectorConfig")
def _strict_multivector(message: Any) -> Any:
    return {name: engine.to_rest(entry) for name, entry in message.multivector_config.items()}


@engine.filler("StrictModeMultivectorConfig")
def _fill_strict_multivector(message: Any, value: Any) -> None:
    for name, entry in (value or {}).items():
        engine.fill(message.multivector_config[name], entry)


# --------------------------------------------------------------------------- collection info


@engine.filler("OptimizerStatus")
def _fill_optimizer_status(message: Any, value: Any) -> None:
    if isinstance(value, Mapping) and "error" in value:
        message.ok = False
        message.error = str(value["error"])
    else:
        message.ok = True


@engine.filler("CollectionConfig")
def _fill_collection_config(message: Any, value: Mapping[str, Any]) -> None:
    engine.fill_fields(message, value, skip=("metadata",))
    if value.get("metadata"):
        values.fill_struct(message.metadata, value["metadata"])


@engine.filler("CollectionInfo")
def _fill_collection_info(message: Any, value: Mapping[str, Any]) -> None:
    engine.fill_fields(message, value, skip=("created_at",))
    if value.get("created_at"):
        values.fill_timestamp(message.created_at, value["created_at"])


# --------------------------------------------------------------------------- payload index params


_PARAMS_FIELD = {
    "keyword": "keyword_index_params",
    "integer": "integer_index_params",
    "float": "float_index_params",
    "geo": "geo_index_params",
    "text": "text_index_params",
    "bool": "bool_index_params",
    "datetime": "datetime_index_params",
    "uuid": "uuid_index_params",
}
_PARAMS_TYPE = {field: kind for kind, field in _PARAMS_FIELD.items()}


@engine.to_rest_override("PayloadIndexParams")
def _payload_index_params(message: Any) -> Any:
    kind = message.WhichOneof("index_params")
    if kind is None:
        raise BadInput("Payload index params are empty: set one of the index params")
    return {"type": _PARAMS_TYPE[kind], **engine.to_rest(getattr(message, kind))}


@engine.filler("PayloadIndexParams")
def _fill_payload_index_params(message: Any, value: Any) -> None:
    kind = value.get("type") if isinstance(value, Mapping) else None
    field = _PARAMS_FIELD.get(kind)  # type: ignore[arg-type]
    if field is None:
        logger.debug("payload index params of unknown type %r", kind)
        return
    target = getattr(message, field)
    engine.fill(target, {key: item for key, item in value.items() if key != "type"})
    target.SetInParent()


@engine.to_rest_override("TextIndexParams")
def _text_index_params(message: Any) -> Any:
    # tokenizer 0 (Unknown) means "not given": the REST default applies
    skip = () if message.tokenizer else ("tokenizer",)
    return engine.fields_to_rest(message, skip=skip)


@engine.to_rest_override("StopwordsSet")
def _stopwords(message: Any) -> Any:
    return {"languages": list(message.languages), "custom": list(message.custom)}


@engine.filler("StopwordsSet")
def _fill_stopwords(message: Any, value: Any) -> None:
    if isinstance(value, str):
        message.languages.append(value)
        return
    message.languages.extend(value.get("languages") or [])
    message.custom.extend(value.get("custom") or [])


@engine.to_rest_override("StemmingAlgorithm")
def _stemmer(message: Any) -> Any:
    kind = message.WhichOneof("stemming_params")
    if kind == "snowball":
        return {"type": "snowball", "language": message.snowball.language}
    if kind == "disabled":
        return {"type": "none"}
    raise BadInput("Stemming algorithm is empty: set `snowball` or `disabled`")


@engine.filler("StemmingAlgorithm")
def _fill_stemmer(message: Any, value: Any) -> None:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "snowball":
        message.snowball.language = str(value.get("language", ""))
    else:
        message.disabled.SetInParent()


# --------------------------------------------------------------------------- snapshots


@engine.filler("SnapshotDescription")
def _fill_snapshot(message: Any, value: Mapping[str, Any]) -> None:
    engine.fill_fields(message, value, skip=("creation_time",))
    if value.get("creation_time"):
        values.fill_timestamp(message.creation_time, value["creation_time"])
