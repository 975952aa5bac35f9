"""The gRPC services; importing this package registers every route."""

from transport.grpc_api.services import collections_service, points_service, qdrant_service  # noqa: F401
from transport.grpc_api.services import snapshots_service  # noqa: F401
from transport.grpc_api.services import query_service  # noqa: F401
from transport.grpc_api.services import vector_names_service  # noqa: F401
