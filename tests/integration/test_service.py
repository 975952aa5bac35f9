"""Service endpoints (root, probes, metrics, telemetry) and how a node takes its settings."""

from __future__ import annotations

import re
import socket
import warnings

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client import models

from tests.node_process import NodeProcess, client_for, free_port

# --------------------------------------------------------------------------- helpers


def scrape(http) -> dict[str, object]:
    """The node's metric families by name, parsed as Prometheus does."""
    response = http.get(f"{http.base}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "version=0.0.4" in response.headers["Content-Type"]
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def sample_value(families, sample_name: str, **labels: str) -> float:
    """Value of the one sample called ``sample_name`` whose labels include ``labels`` (0 if none)."""
    family_name = re.sub(r"_(total|bucket|count|sum)$", "", sample_name)
    family = families.get(family_name) or families.get(sample_name)
    if family is None:
        return 0.0
    matches = [
        s.value for s in family.samples if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matches) <= 1, (sample_name, labels, matches)
    return matches[0] if matches else 0.0


# --------------------------------------------------------------------------- root and probes


def test_root_names_qdrant_and_its_version(http):
    response = http.get(f"{http.base}/")
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "qdrant - vector search engine"
    assert re.fullmatch(r"\d+\.\d+\.\d+", body["version"]), body


@pytest.mark.parametrize("path", ["/healthz", "/livez"])
def test_liveness_probes(http, path):
    response = http.get(f"{http.base}{path}")
    assert response.status_code == 200
    assert response.text == "healthz check passed"
    assert response.headers["Content-Type"].startswith("text/plain")


def test_readiness_probe(http):
    response = http.get(f"{http.base}/readyz")
    assert response.status_code == 200
    assert response.text == "all shards are ready"


def test_unknown_route_and_method_use_the_error_envelope(http):
    response = http.get(f"{http.base}/no/such/route")
    assert response.status_code == 404
    assert "error" in response.json()["status"]
    response = http.post(f"{http.base}/collections", json={})
    assert response.status_code == 405
    assert "error" in response.json()["status"]


def test_cors_is_enabled_by_default(http):
    origin = "http://dashboard.example"
    preflight = http.options(
        f"{http.base}/collections/anything",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "api-key, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    assert "api-key" in preflight.headers["Access-Control-Allow-Headers"]
    response = http.get(f"{http.base}/collections", headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    # Without an Origin (not a browser) nothing is added.
    assert "Access-Control-Allow-Origin" not in http.get(f"{http.base}/collections").headers


# --------------------------------------------------------------------------- metrics


def test_metrics_follow_collections_points_and_requests(client, transport, http, collection_name):
    before = scrape(http)
    for required in ("app_info", "collections_total", "collections_vector_total", "collection_points",
                     "rest_responses", "rest_responses_duration_seconds"):
        assert required in before, sorted(before)
    version = http.get(f"{http.base}/").json()["version"]
    assert sample_value(before, "app_info", name="qdrant", version=version) == 1
    assert sample_value(before, "collections_total") == len(client.get_collections().collections)
    # The collection is created through ``client``: its request is counted under its transport's series.
    created_ok = dict(method="PUT", endpoint="/collections/{name}", status="200")
    if transport == "grpc":
        created_ok = dict(endpoint="/qdrant.Collections/Create")
    responses = f"{transport}_responses"
    missing = dict(method="GET", endpoint="/collections/{name}", status="404")

    client.create_collection(
        collection_name,
        vectors_config={
            "a": models.VectorParams(size=2, distance=models.Distance.DOT),
            "b": models.VectorParams(size=3, distance=models.Distance.COSINE),
        },
    )
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector={"a": [1.0, float(i)], "b": [1.0, 2.0, float(i)]}) for i in range(5)],
        wait=True,
    )
    assert http.get(f"{http.base}/collections/{collection_name}_missing").status_code == 404

    after = scrape(http)
    assert sample_value(after, "collections_total") == sample_value(before, "collections_total") + 1
    assert sample_value(after, "collection_points", id=collection_name) == 5
    # Five points with two named vectors each.
    assert sample_value(after, "collections_vector_total") == sample_value(before, "collections_vector_total") + 10
    assert sample_value(after, f"{responses}_total", **created_ok) == sample_value(before, f"{responses}_total", **created_ok) + 1
    assert sample_value(after, "rest_responses_total", **missing) == sample_value(before, "rest_responses_total", **missing) + 1
    assert sample_value(after, "rest_responses_fail_total", **missing) == sample_value(before, "rest_responses_fail_total", **missing) + 1
    assert sample_value(after, f"{responses}_fail_total", **created_ok) == 0

    # The histogram agrees with the counter, and its buckets are cumulative.
    count = sample_value(after, f"{responses}_duration_seconds_count", **created_ok)
    assert count == sample_value(after, f"{responses}_total", **created_ok) >= 1
    assert sample_value(after, f"{responses}_duration_seconds_sum", **created_ok) > 0
    buckets = sorted(
        (float(s.labels["le"]), s.value)
        for s in after[f"{responses}_duration_seconds"].samples
        if s.name.endswith("_bucket") and all(s.labels.get(k) == v for k, v in created_ok.items())
    )
    assert buckets[-1] == (float("inf"), count)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))

    # Endpoints are route templates, never raw paths (no label per collection name).
    endpoints = {s.labels["endpoint"] for s in after["rest_responses"].samples}
    assert not any(collection_name in endpoint for endpoint in endpoints), endpoints
    # Qdrant exposes no *_created series.
    assert not [s.name for f in after.values() for s in f.samples if s.name.endswith("_created")]

    client.delete_collection(collection_name)
    final = scrape(http)
    assert sample_value(final, "collection_points", id=collection_name) == 0
    assert sample_value(final, "collections_total") == sample_value(before, "collections_total")


# --------------------------------------------------------------------------- telemetry


def test_telemetry_reports_app_and_collections(client, http, collection_name):
    body = http.get(f"{http.base}/telemetry").json()
    assert body["status"] == "ok"
    result = body["result"]
    assert isinstance(result["id"], str) and result["id"]
    assert result["app"]["name"] == "qdrant"
    assert result["app"]["version"] == http.get(f"{http.base}/").json()["version"]
    count = result["collections"]["number_of_collections"]
    assert count == len(client.get_collections().collections)

    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    again = http.get(f"{http.base}/telemetry").json()["result"]
    assert again["collections"]["number_of_collections"] == count + 1
    assert again["id"] == result["id"]  # the peer id is stable
    client.delete_collection(collection_name)


# --------------------------------------------------------------------------- settings


def _port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_config_file_is_merged_and_environment_wins(tmp_path, transport):
    file_port = free_port()
    config_path = tmp_path / "node.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "service": {"http_port": file_port, "api_key": "key-from-file", "enable_cors": False},
                "storage": {
                    "on_disk_payload": False,
                    "hnsw_index": {"m": 24, "ef_construct": 50},
                    "optimizers": {"indexing_threshold_kb": 1234},
                    "wal": {"wal_capacity_mb": 8},
                },
            }
        )
    )
    node = NodeProcess(
        storage=str(tmp_path / "storage"),
        args=["--config-path", str(config_path)],
        env_extra={"QDRANT__STORAGE__HNSW_INDEX__EF_CONSTRUCT": "60"},
    )
    node.start()
    try:
        # The environment's port (set by NodeProcess) beats the file's.
        assert node.http_port != file_port and _port_is_closed(file_port)
        # The file's API key is in force, and its CORS switch.
        refused = requests.get(f"{node.url}/collections", headers={"Origin": "http://x.example"}, timeout=10)
        assert refused.status_code == 401
        assert "Access-Control-Allow-Origin" not in refused.headers
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Api key is used with an insecure connection"
            client = client_for(node, transport, timeout=30, api_key="key-from-file")
        client.create_collection("configured", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
        config = client.get_collection("configured").config
        assert config.hnsw_config.m == 24  # from the file
        assert config.hnsw_config.ef_construct == 60  # environment over file
        assert config.optimizer_config.indexing_threshold == 1234
        assert config.wal_config.wal_capacity_mb == 8
        assert config.params.on_disk_payload is False
        # A collection's own parameters still beat the node defaults.
        client.create_collection(
            "explicit",
            vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
            hnsw_config=models.HnswConfigDiff(m=4),
            on_disk_payload=True,
        )
        explicit = client.get_collection("explicit").config
        assert (explicit.hnsw_config.m, explicit.hnsw_config.ef_construct) == (4, 60)
        assert explicit.params.on_disk_payload is True
    finally:
        node.stop()


def test_invalid_configuration_stops_the_node_at_startup(tmp_path):
    config_path = tmp_path / "bad.yaml"
    config_path.write_text(yaml.safe_dump({"service": {"max_request_size_mb": 0}}))
    node = NodeProcess(storage=str(tmp_path / "storage"), args=["--config-path", str(config_path)])
    with pytest.raises(RuntimeError, match="exited with 2"):
        node.start(timeout=30)
    assert "service.max_request_size_mb" in node.log_tail()


def test_environment_sets_ports_and_storage(tmp_path, transport):
    node = NodeProcess(storage=str(tmp_path / "data"))
    node.start()
    try:
        assert requests.get(f"{node.url}/readyz", timeout=10).status_code == 200
        client = client_for(node, transport, timeout=30)
        client.create_collection("stored", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
        assert (tmp_path / "data" / "collections" / "stored").is_dir()
    finally:
        node.stop()
