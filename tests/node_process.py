"""Start and stop real node processes on loopback for the tests."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Server ports come from below the kernel's ephemeral range (32768-60999 by default): a port
# the OS hands out for bind(0) may be taken by any outgoing connection's local end before the
# node binds it, while ports here are only ever taken on purpose.
_PORT_RANGE = (20000, 32000)
_rng = random.Random(os.getpid() ^ time.time_ns())
_handed_out: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port outside the ephemeral range, free now and not handed out before by this process."""
    for _ in range(1000):
        port = _rng.randrange(*_PORT_RANGE)
        if port not in _handed_out and port + 100 not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port")


def free_port_block() -> int:
    """A p2p port whose Raft companion (p2p + 100) is also free."""
    for _ in range(100):
        port = free_port()
        if port + 100 not in _handed_out and _bindable(port + 100):
            _handed_out.add(port + 100)
            return port
    raise RuntimeError("no free port pair")


def client_for(node: "NodeProcess", transport: str, timeout: int = 60, **kwargs: Any) -> Any:
    """An official ``QdrantClient`` of ``node`` over ``transport`` ("rest" or "grpc")."""
    from qdrant_client import QdrantClient

    return QdrantClient(
        url=node.url,
        grpc_port=node.grpc_port,
        prefer_grpc=transport == "grpc",
        timeout=timeout,
        check_compatibility=False,
        **kwargs,
    )


@dataclass
class NodeProcess:
    """A node server running as a child process with its own ports and storage."""

    storage: str
    env_extra: dict[str, str] = field(default_factory=dict)
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    p2p_port: int = field(default_factory=free_port_block)
    process: subprocess.Popen | None = None
    log_path: str = ""
    args: list[str] = field(default_factory=list)
    """Extra command-line arguments of ``python -m node`` (e.g. ``--config-path``)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 60.0) -> "NodeProcess":
        env = dict(os.environ)
        env.update(
            {
                "QDRANT__SERVICE__HOST": "127.0.0.1",
                "QDRANT__SERVICE__HTTP_PORT": str(self.http_port),
                "QDRANT__SERVICE__GRPC_PORT": str(self.grpc_port),
                "QDRANT__CLUSTER__P2P__PORT": str(self.p2p_port),
                "QDRANT__STORAGE__STORAGE_PATH": self.storage,
                "QDRANT__STORAGE__SNAPSHOTS_PATH": self.storage.rstrip("/") + "-snapshots",
                "QDRANT__LOG_LEVEL": "INFO",
                "PYTHONPATH": REPO_ROOT + os.pathsep + env.get("PYTHONPATH", ""),
            }
        )
        env.update(self.env_extra)
        os.makedirs(self.storage, exist_ok=True)
        self.log_path = os.path.join(os.path.dirname(self.storage.rstrip("/")), f"node-{self.http_port}.log")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node", *self.args], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}; log:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"node not ready after {timeout}s; log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            with open(self.log_path, errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """``kill -9``: no chance to flush or clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> "NodeProcess":
        self.kill()
        return self.start()
