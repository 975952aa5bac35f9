"""Every message and enum class of the public gRPC API, by its short name (``pb.PointId``).

The generated modules live in ``proto.api``; this module is the one place
the rest of ``transport.grpc_api`` imports them from.
"""

from __future__ import annotations

from typing import Any

from proto.api import collections_pb2, common_pb2, json_value_pb2, points_pb2, services_pb2

_MODULES: tuple[Any, ...] = (json_value_pb2, common_pb2, collections_pb2, points_pb2, services_pb2)


def _export() -> None:
    names = globals()
    for module in _MODULES:
        for name in module.DESCRIPTOR.message_types_by_name:
            names[name] = getattr(module, name)
        for name in module.DESCRIPTOR.enum_types_by_name:
            names[name] = getattr(module, name)


_export()


def __getattr__(name: str) -> Any:  # for type checkers and a clear error on a typo
    raise AttributeError(f"no message or enum {name!r} in the public gRPC API")
