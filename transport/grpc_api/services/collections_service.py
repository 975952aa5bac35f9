"""``qdrant.Collections``: collection lifecycle, aliases, cluster setup and shard keys."""

from __future__ import annotations

from typing import Any

from transport.grpc_api import pb
from transport.grpc_api.routes import RestCall, route
from transport.rest import collection_handlers as rest

SERVICE = "qdrant.Collections"


def _list_call(message: Any) -> RestCall:
    return RestCall("GET", "/collections", {}, {})


def _list_reply(reply: Any, result: Any) -> None:
    for entry in result["collections"]:
        reply.collections.add(name=entry["name"])


route(SERVICE, "List", pb.ListCollectionsRequest, pb.ListCollectionsResponse, rest.list_collections, _list_call,
      to_reply=_list_reply)
