"""The deployment files and the local launcher describe the same cluster.

Parses ``deploy/docker-compose.yml``, ``deploy/prometheus.yml`` and
``deploy/Dockerfile`` and checks :func:`deploy.local_cluster.plan_nodes`
against them. No node is started here.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from deploy import local_cluster
from deploy.local_cluster import (
    COMPOSE_PATH,
    OVERRIDDEN_ENV,
    ComposeError,
    load_compose,
    node_services,
    plan_nodes,
    rewrite_hosts,
    service_args,
    service_env,
)

DEPLOY = Path(COMPOSE_PATH).parent
NODE_NAMES = ["qdrant_node_1", "qdrant_node_2", "qdrant_node_3"]
CONTAINER_P2P_PORT = 6335


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose(COMPOSE_PATH)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return dict(node_services(compose))


def flag_value(args: list[str], flag: str) -> str | None:
    """The value of ``--flag value`` or ``--flag=value`` in ``args``; None when absent."""
    for position, arg in enumerate(args):
        if arg == flag:
            return args[position + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


# --- the compose file -------------------------------------------------------------------


def test_compose_has_three_nodes_and_prometheus(compose: dict, services: dict) -> None:
    assert list(services) == NODE_NAMES
    assert set(compose["services"]) == {*NODE_NAMES, "prometheus"}


def test_nodes_are_built_from_the_dockerfile_with_a_volume_each(compose: dict, services: dict) -> None:
    volumes = set()
    for service in services.values():
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        (mount,) = service["volumes"]
        volume, target = mount.split(":")[:2]
        assert target == "/qdrant/storage"
        volumes.add(volume)
    assert len(volumes) == len(services)
    assert volumes <= set(compose["volumes"])


def test_first_node_announces_itself_and_bootstraps_from_nobody(services: dict) -> None:
    args = service_args(services["qdrant_node_1"])
    assert flag_value(args, "--uri") == f"http://qdrant_node_1:{CONTAINER_P2P_PORT}"
    assert flag_value(args, "--bootstrap") is None
    assert "depends_on" not in services["qdrant_node_1"]


@pytest.mark.parametrize("name", NODE_NAMES[1:])
def test_other_nodes_bootstrap_from_the_first(services: dict, name: str) -> None:
    service = services[name]
    args = service_args(service)
    assert flag_value(args, "--bootstrap") == f"http://qdrant_node_1:{CONTAINER_P2P_PORT}"
    assert flag_value(args, "--uri") == f"http://{name}:{CONTAINER_P2P_PORT}"
    assert "qdrant_node_1" in service["depends_on"]


def test_every_node_runs_in_cluster_mode(services: dict) -> None:
    for service in services.values():
        env = service_env(service)
        assert env["QDRANT__CLUSTER__ENABLED"] == "true"
        assert "QDRANT__LOG_LEVEL" in env


def test_published_ports_follow_the_launcher_pattern(services: dict) -> None:
    """Node N publishes REST and gRPC where the local launcher puts them by default."""
    for index, service in enumerate(services.values()):
        published = dict(port.split(":")[::-1] for port in service["ports"])
        http = local_cluster.DEFAULT_HTTP_PORT + local_cluster.PORT_STRIDE * index
        assert published["6333"] == str(http)
        assert published.get("6334", str(http + 1)) == str(http + 1)
        assert "6335" not in published  # p2p stays on the compose network


def test_prometheus_scrapes_every_node(compose: dict, services: dict) -> None:
    prometheus = compose["services"]["prometheus"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in prometheus["volumes"]}
    assert mounts["./prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = set()
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]:
            targets.update(static["targets"])
    assert targets == {f"{name}:6333" for name in services}


# --- the Dockerfile ---------------------------------------------------------------------


def test_dockerfile_exposes_the_ports_and_runs_the_node() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    exposed = {
        port
        for line in re.findall(r"^EXPOSE\s+(.+)$", text, re.MULTILINE)
        for port in line.split()
    }
    p2p_port = CONTAINER_P2P_PORT
    assert {"6333", "6334", str(p2p_port), str(p2p_port + local_cluster.RAFT_PORT_OFFSET)} <= exposed
    assert re.search(r"^VOLUME\s+.*/qdrant/storage", text, re.MULTILINE)
    assert "QDRANT__STORAGE__STORAGE_PATH=/qdrant/storage" in text
    assert re.search(r"pip install( [-\w]+)* \.$", text, re.MULTILINE)
    assert f'ENTRYPOINT ["python", "-m", "{local_cluster.NODE_MODULE}"]' in text


def test_raft_offset_matches_the_node() -> None:
    from node.app import RAFT_PORT_OFFSET

    assert local_cluster.RAFT_PORT_OFFSET == RAFT_PORT_OFFSET


# --- the launcher's plan ----------------------------------------------------------------


def test_plan_follows_the_compose_file(compose: dict, services: dict, tmp_path: Path) -> None:
    plans = plan_nodes(compose, 3, str(tmp_path), 6333)
    assert [plan.name for plan in plans] == NODE_NAMES
    p2p_of = {plan.name: plan.p2p_port for plan in plans}
    for plan in plans:
        compose_args = service_args(services[plan.name])
        # Same flags in the same order; only peer URIs differ, by host and port.
        assert [a for a in plan.args if not a.startswith("http")] == [
            a for a in compose_args if not a.startswith("http")
        ]
        for flag in ("--uri", "--bootstrap"):
            in_compose = flag_value(compose_args, flag)
            in_plan = flag_value(plan.args, flag)
            if in_compose is None:
                assert in_plan is None
                continue
            target = urlsplit(in_compose).hostname
            assert in_plan == f"http://127.0.0.1:{p2p_of[target]}"
        compose_env = service_env(services[plan.name])
        assert set(plan.env) == set(compose_env) | set(OVERRIDDEN_ENV)
        for key, value in compose_env.items():
            if key not in OVERRIDDEN_ENV:
                assert plan.env[key] == value
        assert plan.env["QDRANT__SERVICE__HTTP_PORT"] == str(plan.http_port)
        assert plan.env["QDRANT__SERVICE__GRPC_PORT"] == str(plan.grpc_port)
        assert plan.env["QDRANT__CLUSTER__P2P__PORT"] == str(plan.p2p_port)
        assert plan.env["QDRANT__STORAGE__STORAGE_PATH"] == plan.storage
        assert plan.storage.startswith(str(tmp_path))


def test_plan_ports_and_storage_are_distinct(compose: dict, tmp_path: Path) -> None:
    plans = plan_nodes(compose, 3, str(tmp_path), 6333)
    assert [plan.http_port for plan in plans] == [6333, 6343, 6353]
    ports = [p for plan in plans for p in (plan.http_port, plan.grpc_port, plan.p2p_port, plan.raft_port)]
    assert len(ports) == len(set(ports))
    assert len({plan.storage for plan in plans}) == 3
    assert len({plan.env["QDRANT__STORAGE__SNAPSHOTS_PATH"] for plan in plans}) == 3
    assert plans[0].p2p_port == 6335 and plans[0].raft_port == 6435


def test_plan_extends_the_pattern_beyond_the_compose(compose: dict, tmp_path: Path) -> None:
    plans = plan_nodes(compose, 5, str(tmp_path), 7000)
    first = plans[0]
    assert flag_value(first.args, "--bootstrap") is None
    for plan in plans[1:]:
        assert flag_value(plan.args, "--bootstrap") == f"http://127.0.0.1:{first.p2p_port}"
        assert flag_value(plan.args, "--uri") == f"http://127.0.0.1:{plan.p2p_port}"
        assert plan.env["QDRANT__CLUSTER__ENABLED"] == "true"
    assert [plan.name for plan in plans][3:] == ["qdrant_node_4", "qdrant_node_5"]
    assert len({plan.http_port for plan in plans}) == 5


def test_plan_with_fewer_nodes_is_a_prefix(compose: dict, tmp_path: Path) -> None:
    (only,) = plan_nodes(compose, 1, str(tmp_path), 6333)
    assert only.name == "qdrant_node_1"
    assert flag_value(only.args, "--bootstrap") is None


def test_plan_rejects_colliding_ports(compose: dict, tmp_path: Path) -> None:
    with pytest.raises(ComposeError):
        plan_nodes(compose, 11, str(tmp_path), 6333)  # node 11's p2p is node 1's Raft port
    with pytest.raises(ComposeError):
        plan_nodes(compose, 0, str(tmp_path), 6333)


def test_rewrite_refuses_a_peer_that_is_not_started() -> None:
    assert rewrite_hosts(["--uri=http://qdrant_node_1:6335"], {"qdrant_node_1": 7002}) == [
        "--uri=http://127.0.0.1:7002"
    ]
    with pytest.raises(ComposeError):
        rewrite_hosts(["--bootstrap", "http://qdrant_node_2:6335"], {"qdrant_node_1": 7002})


def test_service_parsing_accepts_both_compose_forms() -> None:
    service = {"command": "--uri http://a:6335", "environment": ["A=1", "B", "C=x=y"]}
    assert service_args(service) == ["--uri", "http://a:6335"]
    assert service_env(service) == {"A": "1", "C": "x=y"}
    assert service_env({"environment": {"A": True, "B": 3, "C": None}}) == {"A": "true", "B": "3"}
