"""``qdrant.Snapshots``: collection snapshots and full-storage snapshots (create, list, delete).

Runs the REST snapshot handlers; ``SnapshotDescription`` is converted in
:mod:`transport.grpc_api.convert_collections` (``creation_time`` is a Timestamp in gRPC).
"""

from __future__ import annotations

from typing import Any

from transport.grpc_api import convert_collections  # noqa: F401  (registers SnapshotDescription)
from transport.grpc_api import engine, pb
from transport.grpc_api.common import collection_call
from transport.grpc_api.routes import RestCall, route
from transport.rest import snapshot_handlers as rest

SERVICE = "qdrant.Snapshots"


def _fill_created(reply: Any, result: Any) -> None:
    engine.fill(reply.snapshot_description, result)


def _fill_listed(reply: Any, result: Any) -> None:
    for entry in result or ():
        engine.fill(reply.snapshot_descriptions.add(), entry)


def _nothing(reply: Any, result: Any) -> None:
    """DeleteSnapshotResponse carries only ``time``."""


def _create_call(message: Any) -> RestCall:
    return collection_call(message, "POST", "/snapshots")


def _list_call(message: Any) -> RestCall:
    return collection_call(message, "GET", "/snapshots")


def _delete_call(message: Any) -> RestCall:
    return collection_call(message, "DELETE", "/snapshots/{snapshot}", snapshot=message.snapshot_name)


def _create_full_call(message: Any) -> RestCall:
    return RestCall("POST", "/snapshots", {}, {})


def _list_full_call(message: Any) -> RestCall:
    return RestCall("GET", "/snapshots", {}, {})


def _delete_full_call(message: Any) -> RestCall:
    name = message.snapshot_name
    return RestCall("DELETE", f"/snapshots/{name}", {"snapshot": name}, {})


route(SERVICE, "Create", pb.CreateSnapshotRequest, pb.CreateSnapshotResponse, rest.create_snapshot, _create_call,
      to_reply=_fill_created)
route(SERVICE, "List", pb.ListSnapshotsRequest, pb.ListSnapshotsResponse, rest.list_snapshots, _list_call,
      to_reply=_fill_listed)
route(SERVICE, "Delete", pb.DeleteSnapshotRequest, pb.DeleteSnapshotResponse, rest.delete_snapshot, _delete_call,
      to_reply=_nothing)
route(SERVICE, "CreateFull", pb.CreateFullSnapshotRequest, pb.CreateSnapshotResponse, rest.create_full_snapshot,
      _create_full_call, to_reply=_fill_created)
route(SERVICE, "ListFull", pb.ListFullSnapshotsRequest, pb.ListSnapshotsResponse, rest.list_full_snapshots,
      _list_full_call, to_reply=_fill_listed)
route(SERVICE, "DeleteFull", pb.DeleteFullSnapshotRequest, pb.DeleteSnapshotResponse, rest.delete_full_snapshot,
      _delete_full_call, to_reply=_nothing)
