"""``qdrant.Points/CreateVectorName`` and ``DeleteVectorName``: add or drop a named vector of a collection.

Both run through the REST handlers of ``PUT|DELETE /collections/{name}/vectors/{vector_name}``; the
gRPC ``dense_config`` / ``sparse_config`` oneof becomes REST's ``{"dense": ...}`` / ``{"sparse": ...}``.
"""

from __future__ import annotations

from typing import Any

from transport.grpc_api import convert_collections  # noqa: F401  (Distance / Datatype / Modifier spellings)
from transport.grpc_api import engine, pb
from transport.grpc_api.common import collection_call
from transport.grpc_api.routes import RestCall, route
from transport.rest import collection_handlers

SERVICE = "qdrant.Points"


def _create(message: Any) -> RestCall:
    kind = message.WhichOneof("vector_config")
    body: dict[str, Any] = {}
    if kind == "dense_config":
        body["dense"] = engine.to_rest(message.dense_config)
    elif kind == "sparse_config":
        body["sparse"] = engine.to_rest(message.sparse_config)
    return collection_call(message, "PUT", "/vectors/{vector_name}", body, vector_name=message.vector_name)


def _delete(message: Any) -> RestCall:
    return collection_call(message, "DELETE", "/vectors/{vector_name}", None, vector_name=message.vector_name)


route(SERVICE, "CreateVectorName", pb.CreateVectorNameRequest, pb.PointsOperationResponse,
      collection_handlers.create_vector_name, _create)
route(SERVICE, "DeleteVectorName", pb.DeleteVectorNameRequest, pb.PointsOperationResponse,
      collection_handlers.delete_vector_name, _delete)
