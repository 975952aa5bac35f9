"""Leaf conversions shared by every message: JSON values, point ids, timestamps."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Mapping

from consensus.errors import BadInput
from transport.grpc_api import pb


def value_to_py(value: Any) -> Any:
    """A ``qdrant.Value`` as the JSON value it stands for (integers stay integers)."""
    kind = value.WhichOneof("kind")
    if kind == "integer_value":
        return value.integer_value
    if kind == "string_value":
        return value.string_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_py(value.struct_value.fields)
    if kind == "list_value":
        return [value_to_py(item) for item in value.list_value.values]
    return None  # null_value, or nothing set


def struct_to_py(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value_to_py(item) for key, item in fields.items()}


def fill_value(target: Any, value: Any) -> None:
    """Set a ``qdrant.Value`` message in place from a JSON value."""
    if value is None:
        target.null_value = 0
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        if -(2**63) <= value < 2**63:
            target.integer_value = value
        else:
            target.double_value = float(value)
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, Mapping):
        fill_struct(target.struct_value.fields, value)
        if not value:
            target.struct_value.SetInParent()
    elif isinstance(value, (list, tuple)):
        values = target.list_value.values
        for item in value:
            fill_value(values.add(), item)
        if not value:
            target.list_value.SetInParent()
    elif hasattr(value, "tolist"):  # numpy scalars and arrays
        fill_value(target, value.tolist())
    else:
        target.string_value = str(value)


def fill_struct(fields: Any, mapping: Mapping[str, Any]) -> None:
    """Fill a ``map<string, Value>`` from a JSON object."""
    for key, item in mapping.items():
        fill_value(fields[str(key)], item)


def point_id_to_py(point_id: Any) -> Any:
    kind = point_id.WhichOneof("point_id_options")
    if kind == "num":
        return point_id.num
    if kind == "uuid":
        return point_id.uuid
    raise BadInput("Unable to convert point id: no point_id_options set")


def fill_point_id(target: Any, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        target.num = value
    else:
        target.uuid = str(value)


def new_point_id(value: Any) -> Any:
    target = pb.PointId()
    fill_point_id(target, value)
    return target


def timestamp_to_py(stamp: Any) -> str:
    """A protobuf Timestamp as the RFC 3339 string the REST model uses."""
    moment = dt.datetime.fromtimestamp(stamp.seconds, tz=dt.timezone.utc) + dt.timedelta(
        microseconds=stamp.nanos // 1000
    )
    return moment.isoformat().replace("+00:00", "Z")


def fill_timestamp(target: Any, value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = math.floor(value)
    else:
        text = str(value).replace("Z", "+00:00")
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        seconds = moment.timestamp()
        target.seconds = math.floor(seconds)
        target.nanos = moment.microsecond * 1000
        return
    target.seconds = seconds
    target.nanos = int(round((value - seconds) * 1e9))

