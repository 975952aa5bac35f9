"""``qdrant.Collections``: collection lifecycle, aliases, cluster setup and shard keys.

Every method runs the REST handler of its twin endpoint; the message conversions are
registered in :mod:`transport.grpc_api.convert_collections`.
"""

from __future__ import annotations

from typing import Any

from consensus.errors import BadInput
from transport.grpc_api import convert_collections as convert
from transport.grpc_api import engine, pb
from transport.grpc_api.common import collection_call, query_params
from transport.grpc_api.routes import RestCall, route
from transport.rest import alias_handlers, cluster_handlers
from transport.rest import collection_handlers as rest

SERVICE = "qdrant.Collections"


def _fill_reply(reply: Any, result: Any) -> None:
    """The REST result is the whole reply (its fields sit at the top level of the reply message)."""
    if result is not None:
        engine.fill(reply, result)


def _fill_bool(reply: Any, result: Any) -> None:
    reply.result = bool(result)


def _body(message: Any, *skip: str) -> dict[str, Any]:
    """A create/update message as its REST body; ``metadata`` (a map of ``Value``) is converted here."""
    body = engine.fields_to_rest(message, skip=("collection_name", "timeout", "metadata", *skip))
    if len(message.metadata):
        body["metadata"] = convert.metadata_to_rest(message.metadata)
    return body


# --------------------------------------------------------------------------- collections


def _list_call(message: Any) -> RestCall:
    return RestCall("GET", "/collections", {}, {})


def _list_reply(reply: Any, result: Any) -> None:
    for entry in result["collections"]:
        reply.collections.add(name=entry["name"])


def _get_call(message: Any) -> RestCall:
    return collection_call(message, "GET")


def _exists_call(message: Any) -> RestCall:
    return collection_call(message, "GET", "/exists")


def _create_call(message: Any) -> RestCall:
    return collection_call(message, "PUT", "", _body(message))


def _update_call(message: Any) -> RestCall:
    return collection_call(message, "PATCH", "", _body(message))


def _delete_call(message: Any) -> RestCall:
    return collection_call(message, "DELETE")


route(SERVICE, "List", pb.ListCollectionsRequest, pb.ListCollectionsResponse, rest.list_collections, _list_call,
      to_reply=_list_reply)
route(SERVICE, "Get", pb.GetCollectionInfoRequest, pb.GetCollectionInfoResponse, rest.get_collection, _get_call)
route(SERVICE, "CollectionExists", pb.CollectionExistsRequest, pb.CollectionExistsResponse,
      rest.collection_exists, _exists_call)
route(SERVICE, "Create", pb.CreateCollection, pb.CollectionOperationResponse, rest.create_collection, _create_call,
      to_reply=_fill_bool)
route(SERVICE, "Update", pb.UpdateCollection, pb.CollectionOperationResponse, rest.update_collection, _update_call,
      to_reply=_fill_bool)
route(SERVICE, "Delete", pb.DeleteCollection, pb.CollectionOperationResponse, rest.delete_collection, _delete_call,
      to_reply=_fill_bool)

# --------------------------------------------------------------------------- aliases


def _aliases_call(message: Any) -> RestCall:
    body = {"actions": [engine.to_rest(action) for action in message.actions]}
    return RestCall("POST", "/collections/aliases", {}, query_params(message), body)


def _list_aliases_call(message: Any) -> RestCall:
    return RestCall("GET", "/aliases", {}, {})


def _collection_aliases_call(message: Any) -> RestCall:
    return collection_call(message, "GET", "/aliases")


route(SERVICE, "UpdateAliases", pb.ChangeAliases, pb.CollectionOperationResponse, alias_handlers.change_aliases,
      _aliases_call, to_reply=_fill_bool)
route(SERVICE, "ListAliases", pb.ListAliasesRequest, pb.ListAliasesResponse, alias_handlers.list_aliases,
      _list_aliases_call, to_reply=_fill_reply)
route(SERVICE, "ListCollectionAliases", pb.ListCollectionAliasesRequest, pb.ListAliasesResponse,
      alias_handlers.collection_aliases, _collection_aliases_call, to_reply=_fill_reply)

# --------------------------------------------------------------------------- cluster setup and shard keys


def _cluster_info_call(message: Any) -> RestCall:
    return collection_call(message, "GET", "/cluster")


def _cluster_update_call(message: Any) -> RestCall:
    if message.WhichOneof("operation") is None:
        raise BadInput("Cluster operation is empty: set one of the operations")
    body = engine.fields_to_rest(message, skip=("collection_name", "timeout"))
    return collection_call(message, "POST", "/cluster", body)


def _shard_key_request(message: Any) -> dict[str, Any]:
    if not message.HasField("request"):
        raise BadInput("Missing field `request`")
    return engine.to_rest(message.request)


def _create_key_call(message: Any) -> RestCall:
    return collection_call(message, "PUT", "/shards", _shard_key_request(message))


def _delete_key_call(message: Any) -> RestCall:
    return collection_call(message, "POST", "/shards/delete", _shard_key_request(message))


def _list_keys_call(message: Any) -> RestCall:
    return collection_call(message, "GET", "/shards")


route(SERVICE, "CollectionClusterInfo", pb.CollectionClusterInfoRequest, pb.CollectionClusterInfoResponse,
      cluster_handlers.collection_cluster, _cluster_info_call, to_reply=_fill_reply)
route(SERVICE, "UpdateCollectionClusterSetup", pb.UpdateCollectionClusterSetupRequest,
      pb.UpdateCollectionClusterSetupResponse, cluster_handlers.collection_cluster_update, _cluster_update_call,
      to_reply=_fill_bool)
route(SERVICE, "CreateShardKey", pb.CreateShardKeyRequest, pb.CreateShardKeyResponse,
      cluster_handlers.create_shard_key, _create_key_call, to_reply=_fill_bool)
route(SERVICE, "DeleteShardKey", pb.DeleteShardKeyRequest, pb.DeleteShardKeyResponse,
      cluster_handlers.drop_shard_key, _delete_key_call, to_reply=_fill_bool)
route(SERVICE, "ListShardKeys", pb.ListShardKeysRequest, pb.ListShardKeysResponse, cluster_handlers.list_shard_keys,
      _list_keys_call, to_reply=_fill_reply)
