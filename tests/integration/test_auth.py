"""API keys as Qdrant enforces them: a full key, a read-only key, and open probe endpoints.

Qdrant's key middleware answers 401 with a plain-text body (no JSON envelope) when
the key is missing or wrong; a read-only key that attempts a write gets 403 in the
usual error envelope. ``/``, ``/healthz``, ``/livez`` and ``/readyz`` need no key.
"""

from __future__ import annotations

import uuid
import warnings

import pytest
import requests
from qdrant_client import QdrantClient, models

from tests.integration.transport_errors import expect_error
from tests.node_process import NodeProcess, client_for

API_KEY = "full-access-key"
READ_ONLY_KEY = "read-only-key"
FULL = {"api-key": API_KEY}
READ_ONLY = {"api-key": READ_ONLY_KEY}
MISSING_KEY = "Must provide an API key or an Authorization bearer token"
WRONG_KEY = "Invalid API key or JWT"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    proc = NodeProcess(
        storage=str(tmp_path_factory.mktemp("secured") / "storage"),
        env_extra={"QDRANT__SERVICE__API_KEY": API_KEY, "QDRANT__SERVICE__READ_ONLY_API_KEY": READ_ONLY_KEY},
    ).start()
    yield proc
    proc.stop()


def make_client(node: NodeProcess, api_key: str | None, transport: str) -> QdrantClient:
    """A client of the secured node over ``transport``: the key goes as a header (REST) or metadata (gRPC)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Api key is used with an insecure connection"
        return client_for(node, transport, timeout=30, api_key=api_key)


@pytest.fixture(scope="module")
def admin(secured, transport) -> QdrantClient:
    return make_client(secured, API_KEY, transport)


@pytest.fixture(scope="module")
def reader(secured, transport) -> QdrantClient:
    return make_client(secured, READ_ONLY_KEY, transport)


@pytest.fixture(scope="module")
def seeded(admin) -> str:
    """A collection with three points, created with the full key."""
    name = "seeded_" + uuid.uuid4().hex[:8]
    admin.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    admin.upsert(name, points=[models.PointStruct(id=i, vector=[1.0, float(i)]) for i in range(3)], wait=True)
    return name


def assert_plain_401(response, message: str) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == message


# --------------------------------------------------------------------------- rejected keys


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/collections"),
        ("GET", "/metrics"),
        ("GET", "/telemetry"),
        ("PUT", "/collections/anything"),
        ("POST", "/collections/anything/points/query"),
    ],
)
def test_missing_key_is_401(secured, method, path):
    response = requests.request(method, secured.url + path, json={}, timeout=10)
    assert_plain_401(response, MISSING_KEY)


@pytest.mark.parametrize(
    "headers",
    [
        {"api-key": "not-the-key"},
        {"Authorization": "Bearer not-the-key"},
        {"api-key": API_KEY + "x"},
        {"api-key": "ключ"},  # non-ASCII must be a clean 401, not a server error
    ],
)
def test_wrong_key_is_401(secured, headers):
    encoded = {name: value.encode() for name, value in headers.items()}
    assert_plain_401(requests.get(f"{secured.url}/collections", headers=encoded, timeout=10), WRONG_KEY)


def test_rejected_requests_change_nothing(secured, admin):
    name = "never_" + uuid.uuid4().hex[:8]
    body = {"vectors": {"size": 2, "distance": "Dot"}}
    assert requests.put(f"{secured.url}/collections/{name}", json=body, timeout=10).status_code == 401
    bad = {"api-key": "guess"}
    assert requests.put(f"{secured.url}/collections/{name}", json=body, headers=bad, timeout=10).status_code == 401
    assert admin.collection_exists(name) is False


# --------------------------------------------------------------------------- accepted keys


@pytest.mark.parametrize(
    "headers",
    [{"api-key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"}],
    ids=["api-key header", "bearer token"],
)
def test_full_key_in_either_header_can_write(secured, admin, headers):
    name = "w_" + uuid.uuid4().hex[:8]
    response = requests.put(
        f"{secured.url}/collections/{name}", json={"vectors": {"size": 2, "distance": "Dot"}}, headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    assert requests.get(f"{secured.url}/collections/{name}", headers=headers, timeout=10).status_code == 200
    assert requests.delete(f"{secured.url}/collections/{name}", headers=headers, timeout=10).json()["result"] is True
    assert admin.collection_exists(name) is False


def test_client_with_full_key_works_end_to_end(admin):
    name = "client_" + uuid.uuid4().hex[:8]
    admin.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.EUCLID))
    admin.upsert(name, points=[models.PointStruct(id=1, vector=[0.0, 0.0]), models.PointStruct(id=2, vector=[5.0, 5.0])], wait=True)
    hits = admin.query_points(name, query=[4.0, 4.0], limit=1).points
    assert [hit.id for hit in hits] == [2]
    assert admin.delete_collection(name) is True


def test_client_without_key_is_refused(secured, transport):
    client = make_client(secured, None, transport)
    with expect_error(401):
        client.get_collections()


# --------------------------------------------------------------------------- read-only key


def test_read_only_key_can_read(secured, reader, seeded):
    assert seeded in {c.name for c in reader.get_collections().collections}
    assert reader.collection_exists(seeded) is True
    assert reader.get_collection(seeded).points_count == 3
    assert reader.count(seeded, exact=True).count == 3
    assert len(reader.retrieve(seeded, ids=[0, 1])) == 2
    records, _ = reader.scroll(seeded, limit=10)
    assert len(records) == 3
    assert [hit.id for hit in reader.query_points(seeded, query=[1.0, 2.0], limit=1).points] == [2]
    # Bearer form of the read-only key, and the service endpoints.
    bearer = {"Authorization": f"Bearer {READ_ONLY_KEY}"}
    assert requests.get(f"{secured.url}/collections/{seeded}", headers=bearer, timeout=10).status_code == 200
    assert requests.get(f"{secured.url}/metrics", headers=READ_ONLY, timeout=10).status_code == 200
    assert requests.get(f"{secured.url}/telemetry", headers=READ_ONLY, timeout=10).status_code == 200


@pytest.mark.parametrize(
    "method, suffix, body",
    [
        ("PUT", "", {"vectors": {"size": 2, "distance": "Dot"}}),
        ("PATCH", "", {"optimizers_config": {"indexing_threshold": 1}}),
        ("DELETE", "", None),
        ("PUT", "/points?wait=true", {"points": [{"id": 9, "vector": [1.0, 1.0]}]}),
        ("POST", "/points/delete?wait=true", {"points": [0]}),
        ("POST", "/points/payload?wait=true", {"payload": {"a": 1}, "points": [0]}),
        ("PUT", "/index?wait=true", {"field_name": "a", "field_schema": "keyword"}),
    ],
)
def test_read_only_key_cannot_write(secured, admin, seeded, method, suffix, body):
    before = admin.get_collection(seeded)
    response = requests.request(
        method, f"{secured.url}/collections/{seeded}{suffix}", json=body, headers=READ_ONLY, timeout=10
    )
    assert response.status_code == 403, response.text
    assert response.json()["status"]["error"].startswith("Forbidden")
    after = admin.get_collection(seeded)
    assert after.points_count == before.points_count == 3
    assert after.config == before.config and after.payload_schema == before.payload_schema
    assert admin.retrieve(seeded, ids=[0])[0].payload in (None, {})


def test_read_only_key_cannot_create_a_collection(admin, reader):
    name = "ro_" + uuid.uuid4().hex[:8]
    with expect_error(403):
        reader.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    with expect_error(403):
        reader.upsert(name, points=[models.PointStruct(id=1, vector=[1.0, 1.0])])
    assert admin.collection_exists(name) is False


# --------------------------------------------------------------------------- open endpoints


@pytest.mark.parametrize("path", ["/", "/healthz", "/livez", "/readyz"])
def test_probes_and_root_need_no_key(secured, path):
    response = requests.get(secured.url + path, timeout=10)
    assert response.status_code == 200, response.text


def test_cors_preflight_needs_no_key(secured):
    response = requests.options(
        f"{secured.url}/collections",
        headers={"Origin": "http://ui.example", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://ui.example"


def test_node_without_keys_is_open(http):
    assert http.get(f"{http.base}/collections").status_code == 200
