"""Request pieces shared by the services: collection paths, ``wait``, ordering, consistency, timeouts."""

from __future__ import annotations

from typing import Any

from transport.grpc_api import engine
from transport.grpc_api.routes import RestCall


def collection_call(message: Any, method: str, suffix: str = "", body: Any = None, **extra: str) -> RestCall:
    """A REST call on ``/collections/{collection_name}{suffix}`` with the message's common query parameters."""
    name = message.collection_name
    match_info = {"name": name, **extra}
    path = f"/collections/{name}{suffix}"
    for key, value in extra.items():
        path = path.replace("{" + key + "}", value)
    return RestCall(method, path, match_info, query_params(message), body)


def query_params(message: Any) -> dict[str, str]:
    """``wait``, ``ordering``, ``consistency`` and ``timeout`` of a request message, as REST query parameters."""
    fields = message.DESCRIPTOR.fields_by_name
    query: dict[str, str] = {}
    if "wait" in fields and message.wait:
        query["wait"] = "true"
    if "ordering" in fields and message.HasField("ordering"):
        query["ordering"] = engine.enum_to_rest(message.ordering.DESCRIPTOR.fields_by_name["type"].enum_type,
                                                message.ordering.type)
    if "read_consistency" in fields and message.HasField("read_consistency"):
        query["consistency"] = str(engine.to_rest(message.read_consistency))
    if "timeout" in fields and message.HasField("timeout"):
        query["timeout"] = str(message.timeout)
    return query


def body_of(message: Any, *skip: str) -> dict[str, Any]:
    """The message's fields as a REST body, leaving out the ones carried in the path or query."""
    body = engine.fields_to_rest(
        message, skip=("collection_name", "wait", "ordering", "read_consistency", "timeout", *skip)
    )
    if "shard_key_selector" in body:
        body["shard_key"] = body.pop("shard_key_selector")
    return body


@engine.to_rest_override("ReadConsistency")
def _read_consistency(message: Any) -> Any:
    if message.WhichOneof("value") == "factor":
        return message.factor
    return engine.enum_to_rest(message.DESCRIPTOR.fields_by_name["type"].enum_type, message.type)


@engine.to_rest_override("ShardKeySelector")
def _shard_key_selector(message: Any) -> Any:
    keys = [engine.to_rest(key) for key in message.shard_keys]
    selected: Any = keys[0] if len(keys) == 1 else keys
    if message.HasField("fallback"):
        return {"target": selected, "fallback": engine.to_rest(message.fallback)}
    return selected


@engine.to_rest_override("ShardKey")
def _shard_key(message: Any) -> Any:
    return message.keyword if message.WhichOneof("key") == "keyword" else message.number


@engine.filler("ShardKey")
def _fill_shard_key(message: Any, value: Any) -> None:
    if isinstance(value, str):
        message.keyword = value
    else:
        message.number = int(value)

