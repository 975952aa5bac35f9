"""Full (storage) snapshots: every collection's snapshot and the aliases, in one archive.

Files are ``{snapshots_path}/full-snapshot-{time}.snapshot``. As in Qdrant, a full
snapshot is recovered at start-up (``--storage-snapshot PATH``), not through the API:
:func:`restore_storage_snapshot` recreates each collection (as a collection snapshot
recovery does) and then the aliases, and only when the node has no collection yet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tarfile
from typing import Any

from consensus.operations import CreateAlias
from node import snapshot_archive as archive
from node.snapshots import SnapshotManager

logger = logging.getLogger(__name__)

FULL_PREFIX = "full-snapshot-"


class FullSnapshots:
    """Create, list and delete full snapshots; ``manager`` does the per-collection work."""

    def __init__(self, manager: SnapshotManager) -> None:
        self.manager = manager
        self.root = manager.root

    async def create(self) -> dict[str, Any]:
        catalog = self.manager.catalog
        names = catalog.names()
        aliases = {alias: collection for alias, collection in catalog.aliases() if collection in names}
        path = os.path.join(self.root, f"{FULL_PREFIX}{archive.timestamp()}{archive.SUFFIX}")
        target = archive.temp_file(self.root)
        parts: list[str] = []
        try:
            members = {}
            for name in names:
                part = archive.temp_file(self.root)
                parts.append(part)
                await self.manager.write_collection_archive(name, part)
                members[name] = f"collections/{name}{archive.SUFFIX}"
            header = {"format": archive.FORMAT_VERSION, "kind": "full", "collections": members, "aliases": aliases}
            await asyncio.to_thread(_write_full, target, header, dict(zip(names, parts)))
            await asyncio.to_thread(archive.publish, target, path)
        finally:
            for leftover in [target, *parts]:
                if os.path.exists(leftover):
                    os.unlink(leftover)
        return archive.describe(path)

    def list(self) -> list[dict[str, Any]]:
        return archive.list_directory(self.root)

    def file_path(self, snapshot: str) -> str:
        return archive.existing_snapshot(self.root, snapshot)

    def delete(self, snapshot: str) -> bool:
        return archive.delete_snapshot(self.root, snapshot)


def _write_full(target: str, header: dict[str, Any], parts: dict[str, str]) -> None:
    with tarfile.open(target, "w") as tar:
        archive.add_bytes(tar, "config.json", json.dumps(header).encode())
        for name, part in parts.items():
            tar.add(part, arcname=header["collections"][name])


async def restore_storage_snapshot(manager: SnapshotManager, path: str) -> list[str]:
    """Recover every collection and alias of the full snapshot at ``path``.

    Nothing is done (and a warning logged) when the node already has collections, so a
    restart with the same flag never overwrites data written since. Returns the names of
    the recovered collections.
    """
    catalog = manager.catalog
    if catalog.names():
        logger.warning("--storage-snapshot %s ignored: the storage already has collections", path)
        return []
    header = await asyncio.to_thread(archive.read_full_header, path)
    recovered = []
    for name, member in sorted(header["collections"].items()):
        part = archive.temp_file(manager.root, ".restore-")
        try:
            await asyncio.to_thread(archive.extract_member, path, member, part)
            await manager.recover_file(name, part, priority="snapshot")
        finally:
            if os.path.exists(part):
                os.unlink(part)
        recovered.append(name)
    aliases = header.get("aliases") or {}
    actions = [CreateAlias(alias=alias, collection=target) for alias, target in sorted(aliases.items())]
    if actions:
        await catalog.change_aliases(actions)
    logger.info("restored %d collection(s) and %d alias(es) from %s", len(recovered), len(actions), path)
    return recovered
