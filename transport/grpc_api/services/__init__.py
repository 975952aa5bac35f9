"""The gRPC services; importing this package registers every route."""

from transport.grpc_api.services import collections_service, qdrant_service  # noqa: F401
