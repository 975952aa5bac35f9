"""Fixtures: a real node process per test module, and clients pointed at it."""

from __future__ import annotations

import uuid

import pytest
import requests
from qdrant_client import QdrantClient

from tests.node_process import NodeProcess, client_for


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    proc = NodeProcess(storage=str(tmp_path_factory.mktemp("node") / "storage")).start()
    yield proc
    proc.stop()


TRANSPORTS = ["rest", "grpc"]


@pytest.fixture(scope="module", params=TRANSPORTS)
def transport(request) -> str:
    """The transport the ``client`` fixture speaks: every test using ``client`` runs over REST and gRPC."""
    return request.param


@pytest.fixture(scope="module")
def client(node, transport) -> QdrantClient:
    return client_for(node, transport)


@pytest.fixture(scope="module")
def rest_client(node) -> QdrantClient:
    """Always REST, whatever ``transport`` is: for setup steps and for comparing the two transports."""
    return QdrantClient(url=node.url, timeout=60, check_compatibility=False)


@pytest.fixture(scope="module")
def grpc_client(node) -> QdrantClient:
    """Always gRPC."""
    return QdrantClient(
        url=node.url, grpc_port=node.grpc_port, prefer_grpc=True, timeout=60, check_compatibility=False
    )


@pytest.fixture
def http(node):
    """Raw HTTP against the node, for error cases the client would refuse to send."""
    session = requests.Session()
    session.base = node.url  # type: ignore[attr-defined]
    yield session
    session.close()


@pytest.fixture
def collection_name() -> str:
    return "c_" + uuid.uuid4().hex[:10]
