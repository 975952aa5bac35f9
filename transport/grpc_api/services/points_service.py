"""``qdrant.Points``: point writes, retrieval, scroll, count, batched updates and field indexes.

Each method becomes the matching REST call (``transport.rest.point_handlers``,
``collection_handlers`` for field indexes). The search and query family lives
in ``query_service``.
"""

from __future__ import annotations

import logging
from typing import Any

from consensus.errors import BadInput
from transport.grpc_api import convert_collections  # noqa: F401  (PayloadIndexParams for field indexes)
from transport.grpc_api import convert_points as convert
from transport.grpc_api import engine, pb
from transport.grpc_api.common import body_of, collection_call
from transport.grpc_api.routes import RestCall, route
from transport.rest import collection_handlers, point_handlers

logger = logging.getLogger(__name__)

SERVICE = "qdrant.Points"

engine.rename("GetPoints", with_vectors="with_vector")
engine.rename("ScrollPoints", with_vectors="with_vector")


def _shard_key(message: Any, body: dict[str, Any], field: str = "shard_key_selector") -> dict[str, Any]:
    if message.HasField(field):
        body["shard_key"] = engine.to_rest(getattr(message, field))
    return body


def _payload_op(message: Any) -> dict[str, Any]:
    """SetPayload / OverwritePayload (request or batch operation) as its REST body."""
    body: dict[str, Any] = {"payload": convert.payload_map(message.payload)}
    body.update(convert.selector_fields(message, "points_selector"))
    if message.HasField("key"):
        body["key"] = message.key
    return _shard_key(message, body)


def _delete_payload_op(message: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"keys": list(message.keys)}
    body.update(convert.selector_fields(message, "points_selector"))
    return _shard_key(message, body)


def _delete_vectors_op(message: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"vector": list(message.vectors.names)}
    body.update(convert.selector_fields(message, "points_selector"))
    return _shard_key(message, body)


def _selector_op(message: Any, field: str = "points") -> dict[str, Any]:
    """DeletePoints / ClearPayload: the selector itself is the body."""
    return _shard_key(message, convert.selector_fields(message, field))


def _upsert_op(message: Any) -> dict[str, Any]:
    """UpsertPoints / PointStructList as the REST body; the points through the batched decoder."""
    body = body_of(message, "points")
    body.update(convert.points_body(message.points))
    return body


# --------------------------------------------------------------------------- request -> REST call


def _upsert(message: Any) -> RestCall:
    return collection_call(message, "PUT", "/points", _upsert_op(message))


def _delete(message: Any) -> RestCall:
    return collection_call(message, "POST", "/points/delete", _selector_op(message))


def _get(message: Any) -> RestCall:
    return collection_call(message, "POST", "/points", body_of(message))


def _update_vectors(message: Any) -> RestCall:
    return collection_call(message, "PUT", "/points/vectors", body_of(message))


def _delete_vectors(message: Any) -> RestCall:
    return collection_call(message, "POST", "/points/vectors/delete", _delete_vectors_op(message))


def _set_payload(message: Any) -> RestCall:
    return collection_call(message, "POST", "/points/payload", _payload_op(message))


def _overwrite_payload(message: Any) -> RestCall:
    return collection_call(message, "PUT", "/points/payload", _payload_op(message))


def _delete_payload(message: Any) -> RestCall:
    return collection_call(message, "POST", "/points/payload/delete", _delete_payload_op(message))


def _clear_payload(message: Any) -> RestCall:
    return collection_call(message, "POST", "/points/payload/clear", _selector_op(message))


def _create_field_index(message: Any) -> RestCall:
    body: dict[str, Any] = {"field_name": message.field_name}
    schema = convert.field_index_schema(message)
    if schema is not None:
        body["field_schema"] = schema
    return collection_call(message, "PUT", "/index", body)


def _delete_field_index(message: Any) -> RestCall:
    return collection_call(message, "DELETE", "/index/{field}", None, field=message.field_name)


def _scroll(message: Any) -> RestCall:
    return collection_call(message, "POST", "/points/scroll", body_of(message))


def _count(message: Any) -> RestCall:
    return collection_call(message, "POST", "/points/count", body_of(message))


def _batch_operation(operation: Any) -> dict[str, Any]:
    """One ``PointsUpdateOperation`` as the REST ``{kind: body}`` object."""
    kind = operation.WhichOneof("operation")
    if kind is None:
        raise BadInput("Wrong input: a batch update operation has no operation set")
    inner = getattr(operation, kind)
    if kind == "upsert":
        return {"upsert": _upsert_op(inner)}
    if kind in ("set_payload", "overwrite_payload"):
        return {kind: _payload_op(inner)}
    if kind == "delete_payload":
        return {"delete_payload": _delete_payload_op(inner)}
    if kind == "update_vectors":
        return {"update_vectors": body_of(inner)}
    if kind == "delete_vectors":
        return {"delete_vectors": _delete_vectors_op(inner)}
    if kind == "delete_points":
        return {"delete": _selector_op(inner)}
    if kind == "clear_payload":
        return {"clear_payload": _selector_op(inner)}
    if kind == "delete_deprecated":
        return {"delete": engine.to_rest(inner)}
    return {"clear_payload": engine.to_rest(inner)}  # clear_payload_deprecated


def _update_batch(message: Any) -> RestCall:
    body = {"operations": [_batch_operation(operation) for operation in message.operations]}
    return collection_call(message, "POST", "/points/batch", body)


# --------------------------------------------------------------------------- REST result -> reply


def _scroll_reply(reply: Any, result: Any) -> None:
    for point in result["points"]:
        engine.fill(reply.result.add(), point)
    offset = result.get("next_page_offset")
    if offset is not None:
        engine.fill(reply.next_page_offset, offset)


def _batch_reply(reply: Any, result: Any) -> None:
    for entry in result:
        engine.fill(reply.result.add(), entry)


_WRITES = (
    ("Upsert", pb.UpsertPoints, point_handlers.upsert, _upsert),
    ("Delete", pb.DeletePoints, point_handlers.delete_points, _delete),
    ("UpdateVectors", pb.UpdatePointVectors, point_handlers.update_vectors, _update_vectors),
    ("DeleteVectors", pb.DeletePointVectors, point_handlers.delete_vectors, _delete_vectors),
    ("SetPayload", pb.SetPayloadPoints, point_handlers.set_payload, _set_payload),
    ("OverwritePayload", pb.SetPayloadPoints, point_handlers.overwrite_payload, _overwrite_payload),
    ("DeletePayload", pb.DeletePayloadPoints, point_handlers.delete_payload, _delete_payload),
    ("ClearPayload", pb.ClearPayloadPoints, point_handlers.clear_payload, _clear_payload),
    ("CreateFieldIndex", pb.CreateFieldIndexCollection, collection_handlers.create_index, _create_field_index),
    ("DeleteFieldIndex", pb.DeleteFieldIndexCollection, collection_handlers.delete_index, _delete_field_index),
)

for _name, _request, _handler, _to_call in _WRITES:
    route(SERVICE, _name, _request, pb.PointsOperationResponse, _handler, _to_call)

route(SERVICE, "Get", pb.GetPoints, pb.GetResponse, point_handlers.retrieve, _get, read_only=True)
route(SERVICE, "Scroll", pb.ScrollPoints, pb.ScrollResponse, point_handlers.scroll, _scroll,
      to_reply=_scroll_reply, read_only=True)
route(SERVICE, "Count", pb.CountPoints, pb.CountResponse, point_handlers.count, _count, read_only=True)
route(SERVICE, "UpdateBatch", pb.UpdateBatchPoints, pb.UpdateBatchResponse, point_handlers.update_batch,
      _update_batch, to_reply=_batch_reply)
