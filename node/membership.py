"""Cluster membership: peer addresses, the members file, and joining through a bootstrap peer.

A peer is known by its p2p URI (``http://host:6335``). Its Raft endpoint is
derived from it: same host, port + ``RAFT_PORT_OFFSET``. The members file
(``raft_state/members.json``) keeps the Raft addresses a restarted peer needs
to rejoin; it is rewritten whenever the replicated peer list changes.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

RAFT_PORT_OFFSET = 100
"""Raft traffic uses the p2p port plus this offset (6335 -> 6435 by default)."""


@dataclass(frozen=True)
class PeerAddress:
    """Where a peer listens: its p2p URI and the Raft address derived from it."""

    uri: str

    @property
    def host(self) -> str:
        return urlparse(self.uri).hostname or "127.0.0.1"

    @property
    def p2p_port(self) -> int:
        return urlparse(self.uri).port or 6335

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.p2p_port}"

    @property
    def raft_address(self) -> str:
        return f"{self.host}:{self.p2p_port + RAFT_PORT_OFFSET}"


def raft_address_of(uri: str) -> str:
    return PeerAddress(uri).raft_address


class MembersFile:
    """The Raft addresses of every member, as last known (peer id -> p2p URI)."""

    def __init__(self, raft_dir: str) -> None:
        self.path = os.path.join(raft_dir, "members.json")

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def load(self) -> dict[int, str]:
        try:
            with open(self.path) as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        return {int(peer): uri for peer, uri in data.items()}

    def save(self, members: dict[int, str]) -> None:
        if members == self.load():
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump({str(peer): uri for peer, uri in sorted(members.items())}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        logger.info("cluster members: %s", members)
