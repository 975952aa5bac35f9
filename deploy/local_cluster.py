"""Start the cluster of ``deploy/docker-compose.yml`` as node processes on 127.0.0.1.

    python -m deploy.local_cluster --nodes 3 [--base-dir DIR] [--http-port 6333]

The topology is not written down twice: this module reads the compose file and
derives each node's flags and environment from its service, so the containers
and the processes cannot drift apart. What changes on loopback:

- every node gets its own ports, ``PORT_STRIDE`` apart (node N: REST
  ``http-port + 10*(N-1)``, gRPC one above, p2p two above, Raft p2p + 100),
  passed as ``QDRANT__SERVICE__HTTP_PORT`` / ``QDRANT__SERVICE__GRPC_PORT`` /
  ``QDRANT__CLUSTER__P2P__PORT``; with the default 6333 the REST and gRPC
  ports are the host ports the compose file publishes;
- every node gets its own storage under the base directory
  (``QDRANT__STORAGE__STORAGE_PATH``, and snapshots beside it);
- service names in ``--uri`` / ``--bootstrap`` become ``127.0.0.1:<p2p port
  of that node>``.

``--nodes`` other than the compose's count extends the pattern: the last
compose node is the template of the extra ones (they bootstrap from the first
peer and announce their own URI); fewer nodes starts a prefix.

The pure part (:func:`load_compose`, :func:`plan_nodes`) is separate from the
processes (:func:`start_cluster`, :func:`stop_cluster`) so tests can check the
plan without starting anything.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_PATH = Path(__file__).resolve().parent / "docker-compose.yml"

NODE_MODULE = "node"
"""Started as ``python -m node``, the Dockerfile's entrypoint."""

NODE_SERVICE_PATTERN = re.compile(r"^qdrant_node_(?P<number>[1-9][0-9]*)$")
"""Compose services that are cluster nodes; the number orders them (1 is the first peer)."""

LOOPBACK = "127.0.0.1"
DEFAULT_HTTP_PORT = 6333
PORT_STRIDE = 10
"""Node N's ports start at ``first_http_port + PORT_STRIDE * (N - 1)``."""
GRPC_PORT_OFFSET = 1
P2P_PORT_OFFSET = 2
RAFT_PORT_OFFSET = 100
"""Raft listens on the p2p port + 100; must equal ``node.app.RAFT_PORT_OFFSET`` (a test checks)."""

OVERRIDDEN_ENV = (
    "QDRANT__SERVICE__HOST",
    "QDRANT__SERVICE__HTTP_PORT",
    "QDRANT__SERVICE__GRPC_PORT",
    "QDRANT__CLUSTER__P2P__PORT",
    "QDRANT__STORAGE__STORAGE_PATH",
    "QDRANT__STORAGE__SNAPSHOTS_PATH",
)
"""Environment the launcher sets per node on top of the compose service's own."""

_URI_FLAGS = ("--uri", "--bootstrap")


class ComposeError(ValueError):
    """The compose file does not describe a cluster this launcher can start."""


class ClusterStartError(RuntimeError):
    """A node exited or did not become ready while the cluster was starting."""


@dataclass(frozen=True)
class NodePlan:
    """How to start one node process: its flags, environment, ports and storage."""

    name: str
    args: list[str]
    env: dict[str, str]
    http_port: int
    grpc_port: int
    p2p_port: int
    storage: str
    snapshots: str = field(default="")

    @property
    def url(self) -> str:
        """The REST base URL."""
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def raft_port(self) -> int:
        return self.p2p_port + RAFT_PORT_OFFSET

    @property
    def log_path(self) -> str:
        """The node's stdout and stderr, next to its storage."""
        return os.path.join(os.path.dirname(self.storage), "node.log")


# --- reading the compose file -------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_first_http_port(nodes: int) -> int:
    """A node-1 REST port such that every port of the launcher's pattern is free."""
    for _ in range(200):
        first = random.randrange(20_000, 60_000)
        ports = []
        for index in range(nodes):
            http = first + PORT_STRIDE * index
            p2p = http + P2P_PORT_OFFSET
            ports += [http, http + GRPC_PORT_OFFSET, p2p, p2p + RAFT_PORT_OFFSET]
        if all(_port_free(port) for port in ports):
            return first
    raise RuntimeError("no free port block")


def load_compose(path: str | os.PathLike[str] = COMPOSE_PATH) -> dict[str, Any]:
    """The parsed compose file (YAML anchors and ``<<`` merges resolved)."""
    with open(path, encoding="utf-8") as handle:
        compose = yaml.safe_load(handle)
    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
        raise ComposeError(f"{path}: expected a compose file with a 'services' mapping")
    return compose


def node_services(compose: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The node services ``qdrant_node_1..k`` in order; raise if they are not numbered 1..k."""
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for name, service in compose.get("services", {}).items():
        match = NODE_SERVICE_PATTERN.match(name)
        if match:
            found[int(match["number"])] = (name, service or {})
    if not found:
        raise ComposeError("the compose file has no qdrant_node_N services")
    if sorted(found) != list(range(1, len(found) + 1)):
        raise ComposeError(f"node services must be numbered 1..{len(found)}, got {sorted(found)}")
    return [found[number] for number in sorted(found)]


def service_args(service: Mapping[str, Any]) -> list[str]:
    """A service's ``command`` as an argument list (compose allows a string or a list)."""
    command = service.get("command")
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(arg) for arg in command]


def service_env(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as text values (compose allows a mapping or ``K=V`` list).

    Variables without a value (passed through from the host in compose) are left out.
    """
    environment = service.get("environment") or {}
    if isinstance(environment, Mapping):
        items = [(str(key), value) for key, value in environment.items()]
    else:
        items = []
        for entry in environment:
            key, sep, value = str(entry).partition("=")
            items.append((key, value if sep else None))
    return {key: _env_text(value) for key, value in items if value is not None}


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- planning -------------------------------------------------------------------------------


def node_name(number: int) -> str:
    return f"qdrant_node_{number}"


def rewrite_hosts(args: Sequence[str], p2p_ports: Mapping[str, int]) -> list[str]:
    """``args`` with each peer URI's ``service:port`` replaced by ``127.0.0.1:<its p2p port>``.

    A URI naming a node service that is not in ``p2p_ports`` (not started) is an error.
    """
    rewritten = []
    for arg in args:
        flag, sep, value = arg.partition("=")
        if sep and flag.startswith("--"):
            rewritten.append(f"{flag}={_rewrite_uri(value, p2p_ports)}")
        else:
            rewritten.append(_rewrite_uri(arg, p2p_ports))
    return rewritten


def _rewrite_uri(text: str, p2p_ports: Mapping[str, int]) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return text
    host = parts.hostname
    if host in p2p_ports:
        return urlunsplit(parts._replace(netloc=f"{LOOPBACK}:{p2p_ports[host]}"))
    if NODE_SERVICE_PATTERN.match(host):
        raise ComposeError(f"{text!r} refers to {host}, which is not among the nodes started")
    return text


def plan_nodes(
    compose: Mapping[str, Any],
    nodes: int,
    base_dir: str,
    first_http_port: int = DEFAULT_HTTP_PORT,
) -> list[NodePlan]:
    """Flags, environment, ports and storage of ``nodes`` processes following ``compose``."""
    services = node_services(compose)
    if nodes < 1:
        raise ComposeError(f"--nodes must be 1 or more, got {nodes}")
    if nodes > len(services) and len(services) < 2:
        raise ComposeError("extending the cluster needs a compose node that bootstraps (node 2)")
    base = os.path.abspath(base_dir)
    names = [node_name(number) for number in range(1, nodes + 1)]
    http_ports = [first_http_port + PORT_STRIDE * index for index in range(nodes)]
    p2p_ports = {name: http + P2P_PORT_OFFSET for name, http in zip(names, http_ports)}

    plans = []
    for index, (name, http_port) in enumerate(zip(names, http_ports)):
        template_name, template = services[min(index, len(services) - 1)]
        # An extra node copies the last compose node, with that node's name read as its own.
        hosts = {**p2p_ports, template_name: p2p_ports[name]} if template_name != name else p2p_ports
        directory = os.path.join(base, name)
        storage = os.path.join(directory, "storage")
        snapshots = os.path.join(directory, "snapshots")
        env = service_env(template)
        env.update(
            {
                "QDRANT__SERVICE__HOST": LOOPBACK,
                "QDRANT__SERVICE__HTTP_PORT": str(http_port),
                "QDRANT__SERVICE__GRPC_PORT": str(http_port + GRPC_PORT_OFFSET),
                "QDRANT__CLUSTER__P2P__PORT": str(p2p_ports[name]),
                "QDRANT__STORAGE__STORAGE_PATH": storage,
                "QDRANT__STORAGE__SNAPSHOTS_PATH": snapshots,
            }
        )
        plans.append(
            NodePlan(
                name=name,
                args=rewrite_hosts(service_args(template), hosts),
                env=env,
                http_port=http_port,
                grpc_port=http_port + GRPC_PORT_OFFSET,
                p2p_port=p2p_ports[name],
                storage=storage,
                snapshots=snapshots,
            )
        )
    _check_ports(plans)
    return plans


def _check_ports(plans: Sequence[NodePlan]) -> None:
    owners: dict[int, str] = {}
    for plan in plans:
        for kind, port in (
            ("REST", plan.http_port),
            ("gRPC", plan.grpc_port),
            ("p2p", plan.p2p_port),
            ("Raft", plan.raft_port),
        ):
            if not 1 <= port <= 65535:
                raise ComposeError(f"{plan.name}: {kind} port {port} is out of range")
            if port in owners:
                raise ComposeError(
                    f"{plan.name}: {kind} port {port} is already used by {owners[port]} "
                    f"(at most {RAFT_PORT_OFFSET // PORT_STRIDE} nodes fit the port pattern)"
                )
            owners[port] = f"{plan.name} {kind}"


# --- processes ------------------------------------------------------------------------------


def _child_env(plan: NodePlan) -> dict[str, str]:
    """The process environment minus any node configuration of the caller's shell, plus the plan's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("QDRANT__") and key not in ("QDRANT_URI", "QDRANT_BOOTSTRAP")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(plan.env)
    return env


def start_node(plan: NodePlan) -> subprocess.Popen:
    """Start one node process (not waiting for it), its output appended to ``plan.log_path``."""
    os.makedirs(plan.storage, exist_ok=True)
    with open(plan.log_path, "ab") as log:
        # A session of its own: Ctrl-C reaches the launcher only, which then stops
        # the nodes in order instead of all of them racing to shut down.
        return subprocess.Popen(
            [sys.executable, "-m", NODE_MODULE, *plan.args],
            cwd=REPO_ROOT,
            env=_child_env(plan),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(plan: NodePlan, process: subprocess.Popen, timeout: float) -> None:
    """Poll the node's ``/readyz`` until it answers 200; raise if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterStartError(
                f"{plan.name} exited with status {process.returncode}; log {plan.log_path}:\n"
                f"{log_tail(plan.log_path)}"
            )
        try:
            with urllib.request.urlopen(plan.url + "/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise ClusterStartError(
        f"{plan.name} not ready after {timeout:.0f}s; log {plan.log_path}:\n{log_tail(plan.log_path)}"
    )


def log_tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def start_cluster(plans: Sequence[NodePlan], timeout: float = 60.0) -> list[subprocess.Popen]:
    """Start the nodes one after another, each once the previous one is ready.

    One at a time because joining peers change the Raft membership, one change
    at a time. On any failure (or Ctrl-C) the nodes already started are stopped.
    """
    processes: list[subprocess.Popen] = []
    try:
        for plan in plans:
            process = start_node(plan)
            processes.append(process)
            wait_ready(plan, process, timeout)
    except BaseException:
        stop_cluster(processes)
        raise
    return processes


def stop_cluster(processes: Sequence[subprocess.Popen], timeout: float = 30.0) -> None:
    """SIGTERM every node still running (last started first), SIGKILL what outlives ``timeout``."""
    running = [process for process in reversed(processes) if process.poll() is None]
    for process in running:
        try:
            process.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- command line ---------------------------------------------------------------------------


def format_table(plans: Sequence[NodePlan]) -> str:
    rows = [("node", "REST", "gRPC", "p2p", "Raft", "storage", "log")]
    for plan in plans:
        rows.append(
            (
                plan.name,
                plan.url,
                f"{LOOPBACK}:{plan.grpc_port}",
                str(plan.p2p_port),
                str(plan.raft_port),
                plan.storage,
                plan.log_path,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local_cluster",
        description="Start the cluster of deploy/docker-compose.yml as processes on 127.0.0.1.",
    )
    parser.add_argument("--nodes", type=int, help="number of nodes (default: as many as the compose file)")
    parser.add_argument(
        "--base-dir",
        help="directory for each node's storage and log (kept); default: a temporary "
        "directory, removed after a clean stop",
    )
    parser.add_argument(
        "--http-port", type=int, default=DEFAULT_HTTP_PORT, help="REST port of node 1 (default 6333)"
    )
    parser.add_argument("--compose", default=str(COMPOSE_PATH), help="compose file to follow")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for each node's /readyz"
    )
    args = parser.parse_args(argv)

    compose = load_compose(args.compose)
    nodes = args.nodes if args.nodes is not None else len(node_services(compose))
    temporary = args.base_dir is None
    base_dir = tempfile.mkdtemp(prefix="qdrant-local-cluster-") if temporary else args.base_dir
    try:
        plans = plan_nodes(compose, nodes, base_dir, args.http_port)
    except ComposeError as error:
        if temporary:
            shutil.rmtree(base_dir, ignore_errors=True)
        parser.error(str(error))

    # SIGTERM behaves like Ctrl-C, so the nodes are stopped either way.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    processes: list[subprocess.Popen] = []
    clean = True
    try:
        print(f"Starting {nodes} node(s) in {os.path.abspath(base_dir)} ...", flush=True)
        processes = start_cluster(plans, timeout=args.timeout)
        print(format_table(plans))
        print("Cluster running; Ctrl-C stops it.", flush=True)
        while True:
            for plan, process in zip(plans, processes):
                if process.poll() is not None:
                    print(
                        f"{plan.name} exited with status {process.returncode}; log {plan.log_path}:\n"
                        f"{log_tail(plan.log_path)}",
                        file=sys.stderr,
                    )
                    clean = False
                    return 1
            time.sleep(0.5)
    except ClusterStartError as error:
        clean = False
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if processes:
            print("Stopping nodes ...", flush=True)
            stop_cluster(processes)
        if temporary and clean:
            shutil.rmtree(base_dir, ignore_errors=True)
        elif temporary:
            print(f"Kept {base_dir} for inspection.", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
