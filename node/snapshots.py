"""Collection and shard snapshots: create, list, delete and recover (no HTTP in here).

Files (format: ``node.snapshot_archive``):
* collection snapshots ``{snapshots_path}/{collection}/{collection}-{time}.snapshot``,
  every point of every shard, read through the collection (remote shards too), with
  the shard each point lives in and the collection's shard keys;
* shard snapshots ``{snapshots_path}/{collection}/shards/{shard_id}/{collection}-shard-{id}-{time}.snapshot``,
  the points of this peer's replica of one shard.

Recovery ``priority`` (Qdrant's ``SnapshotPriority``):
* a collection snapshot recreates the collection (config, payload indexes, shard keys,
  points) through the normal cluster write path, so every replica of every shard ends
  with the snapshot's data. That is what happens on a single node, for a collection
  that does not exist yet, and for ``snapshot``. On a cluster, ``replica`` (the default)
  and ``no_sync`` on an existing collection only touch this peer's shards, as a shard
  recovery of each does;
* a shard snapshot replaces one local shard's points. ``snapshot``: the replacement is
  written to every replica of the shard. ``no_sync``: only to this peer's replica.
  ``replica``: as ``no_sync`` when no other replica is Active; otherwise the Active
  replicas are the source of truth and this replica keeps their data.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import tarfile
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

from consensus.errors import BadInput, NotFound
from consensus.operations import shard_key_from_str
from node import snapshot_archive as archive
from shards.collection_config import build_config
from shards.filters import Filter
from shards.operations import DeletePoints, PointSelector, ScrollRequest, UpsertPoints, WriteOptions
from shards.types import PayloadSelector, PointStruct, Record, VectorSelector
from shards.wire import decode_records, encode_records

logger = logging.getLogger(__name__)

SUFFIX = archive.SUFFIX
PAGE_SIZE = 256
UPSERT_BATCH = 256
PRIORITIES = ("replica", "snapshot", "no_sync")

# (collection name, {"shard_key": ..., "shards_number": ...}) -> creates the key (ClusterAdmin.create_shard_key)
ShardKeyCreator = Callable[[str, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class RecoverRequest:
    """A validated ``SnapshotRecover`` / ``ShardSnapshotRecover`` body."""

    location: str
    priority: str | None = None
    checksum: str | None = None
    api_key: str | None = None


def parse_priority(value: Any) -> str | None:
    if value is None:
        return None
    if value not in PRIORITIES:
        raise BadInput(f"Json deserialize error: unknown variant `{value}`, expected one of {PRIORITIES}")
    return value


def parse_recover_body(body: Any) -> RecoverRequest:
    if not isinstance(body, dict) or not isinstance(body.get("location"), str):
        raise BadInput("Json deserialize error: missing field `location`")
    unknown = set(body) - {"location", "priority", "checksum", "api_key"}
    if unknown:
        raise BadInput(f"Json deserialize error: unknown field `{sorted(unknown)[0]}`")
    for key in ("checksum", "api_key"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise BadInput(f"Json deserialize error: `{key}` must be a string")
    return RecoverRequest(body["location"], parse_priority(body.get("priority")), body.get("checksum"), body.get("api_key"))


def _points(records: list[Record]) -> tuple[PointStruct, ...]:
    return tuple(
        PointStruct(id=rec.id, vectors=dict(rec.vectors or {}), payload=dict(rec.payload or {})) for rec in records
    )


def _batches(pages: list[bytes]) -> AsyncIterator[tuple[PointStruct, ...]]:
    async def generate() -> AsyncIterator[tuple[PointStruct, ...]]:
        for page in pages:
            records = decode_records(page)
            for start in range(0, len(records), UPSERT_BATCH):
                yield _points(records[start : start + UPSERT_BATCH])

    return generate()


def validate_config(config: Any) -> None:
    """Refuse a snapshot config that could not have come from a valid create request.

    The config is proposed to consensus as it is, so a hand-made or damaged one must
    be stopped here: it is read back as a ``PUT /collections`` body and validated.
    """
    if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
        raise BadInput("Bad request: invalid snapshot config: `params` is missing")
    params = config["params"]
    body = {key: value for key, value in params.items() if key not in _RUNTIME_PARAMS}
    for key, body_key in _SECTIONS.items():
        if config.get(key) is not None:
            body[body_key] = config[key]
    try:
        build_config(body)
    except BadInput as exc:
        raise BadInput(f"Bad request: invalid snapshot config: {exc.message}") from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise BadInput(f"Bad request: invalid snapshot config: {exc}") from None
    for key in _RUNTIME_PARAMS:
        value = params.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise BadInput(f"Bad request: invalid snapshot config: `{key}` must be a non-negative integer")


_RUNTIME_PARAMS = ("read_fan_out_factor", "read_fan_out_delay_ms")
_SECTIONS = {
    "hnsw_config": "hnsw_config",
    "optimizer_config": "optimizers_config",
    "wal_config": "wal_config",
    "quantization_config": "quantization_config",
    "strict_mode_config": "strict_mode_config",
    "metadata": "metadata",
}


def _vector_config(config: dict[str, Any]) -> tuple[Any, Any]:
    params = config.get("params", {})
    return params.get("vectors"), params.get("sparse_vectors")


class SnapshotManager:
    """Snapshots of the catalog's collections and of this peer's shards, kept under ``root``."""

    def __init__(self, catalog: Any, root: str, shard_key_creator: ShardKeyCreator | None = None) -> None:
        self.catalog = catalog
        self.root = os.path.abspath(root)
        self._create_shard_key = shard_key_creator

    # ------------------------------------------------------------------ paths

    def _dir(self, collection: str) -> str:
        return os.path.join(self.root, collection)

    def _shard_dir(self, collection: str, shard_id: int) -> str:
        return os.path.join(self.root, collection, "shards", str(shard_id))

    def _resolve(self, collection: str) -> str:
        """The real collection name behind ``collection`` (an alias works too)."""
        return self.catalog.get(collection).name

    # ------------------------------------------------------------------ collection snapshots

    async def create(self, collection: str) -> dict[str, Any]:
        name = self._resolve(collection)
        directory = self._dir(name)
        path = os.path.join(directory, f"{name}-{archive.timestamp()}{SUFFIX}")
        tmp = archive.temp_file(directory)
        await self.write_collection_archive(name, tmp)
        await asyncio.to_thread(archive.publish, tmp, path)
        return archive.describe(path)

    async def write_collection_archive(self, name: str, target: str) -> None:
        """Write the snapshot of collection ``name`` to the file ``target`` (removed on failure)."""
        coll = self.catalog.get(name)
        header = self._header(name, "collection")

        async def pages() -> AsyncIterator[tuple[int, list[Record]]]:
            for shard_id in sorted(coll.shards):
                async for records in _shard_pages(coll.shards[shard_id]):
                    yield shard_id, records

        await _write_archive(target, header, pages())

    def _header(self, name: str, kind: str, shard_id: int | None = None) -> dict[str, Any]:
        meta = self.catalog.state.collection(name)
        coll = self.catalog.get(name)
        header: dict[str, Any] = {
            "format": archive.FORMAT_VERSION,
            "kind": kind,
            "collection": name,
            "config": meta.config if meta is not None else coll.config,
            "payload_indexes": dict(meta.payload_indexes) if meta is not None else {},
            "shard_keys": {key: list(ids) for key, ids in coll.shard_keys.items()},
        }
        if shard_id is not None:
            header["shard_id"] = shard_id
        return header

    def list(self, collection: str) -> list[dict[str, Any]]:
        return archive.list_directory(self._dir(self._resolve(collection)))

    def file_path(self, collection: str, snapshot: str) -> str:
        return archive.existing_snapshot(self._dir(self._resolve(collection)), snapshot)

    def delete(self, collection: str, snapshot: str) -> bool:
        return archive.delete_snapshot(self._dir(self._resolve(collection)), snapshot)

    # ------------------------------------------------------------------ shard snapshots

    def _local_shard(self, collection: str, shard_id: int) -> tuple[str, Any]:
        name = self._resolve(collection)
        coll = self.catalog.get(name)
        if shard_id not in coll.shards:
            raise NotFound(f"Not found: Shard {shard_id} of collection `{name}` doesn't exist")
        return name, self.catalog.local_shard(name, shard_id)

    async def create_shard(self, collection: str, shard_id: int) -> dict[str, Any]:
        name, _ = self._local_shard(collection, shard_id)
        directory = self._shard_dir(name, shard_id)
        path = os.path.join(directory, f"{name}-shard-{shard_id}-{archive.timestamp()}{SUFFIX}")
        tmp = archive.temp_file(directory)
        await self.write_shard_archive(name, shard_id, tmp)
        await asyncio.to_thread(archive.publish, tmp, path)
        return archive.describe(path)

    async def write_shard_archive(self, collection: str, shard_id: int, target: str) -> str:
        """Write the snapshot of this peer's replica of ``shard_id`` to ``target``; returns
        the collection's real name."""
        name, shard = self._local_shard(collection, shard_id)
        header = self._header(name, "shard", shard_id)

        async def pages() -> AsyncIterator[tuple[int, list[Record]]]:
            records = await asyncio.to_thread(lambda: list(shard.iter_records()))
            for start in range(0, len(records), PAGE_SIZE):
                yield shard_id, records[start : start + PAGE_SIZE]

        await _write_archive(target, header, pages())
        return name

    def list_shard(self, collection: str, shard_id: int) -> list[dict[str, Any]]:
        name, _ = self._local_shard(collection, shard_id)
        return archive.list_directory(self._shard_dir(name, shard_id))

    def shard_file_path(self, collection: str, shard_id: int, snapshot: str) -> str:
        name, _ = self._local_shard(collection, shard_id)
        return archive.existing_snapshot(self._shard_dir(name, shard_id), snapshot)

    def delete_shard(self, collection: str, shard_id: int, snapshot: str) -> bool:
        name, _ = self._local_shard(collection, shard_id)
        return archive.delete_snapshot(self._shard_dir(name, shard_id), snapshot)

    # ------------------------------------------------------------------ fetching a snapshot

    def temp_upload_path(self) -> str:
        return archive.temp_file(self.root, ".upload-")

    async def _with_location(self, request: RecoverRequest, use: Callable[[str], Awaitable[bool]]) -> bool:
        """Run ``use`` on a local copy of the snapshot at ``request.location``."""
        location = request.location
        parsed = urllib.parse.urlparse(location)
        if parsed.scheme in ("http", "https"):
            path = await self._download(location, parsed, request.api_key)
            try:
                return await use(path)
            finally:
                if os.path.exists(path):
                    os.unlink(path)
        if parsed.scheme == "file":
            path = urllib.parse.unquote(parsed.path)
        elif parsed.scheme == "":
            path = location
        else:
            raise BadInput(f"Bad request: unsupported snapshot location scheme `{parsed.scheme}`")
        if not os.path.isfile(path):
            raise NotFound(f"Not found: Snapshot file `{location}` does not exist")
        return await use(path)

    async def _download(self, location: str, parsed: urllib.parse.ParseResult, api_key: str | None) -> str:
        import aiohttp

        host = parsed.hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise BadInput(f"Bad request: snapshot URL must be on loopback, got `{host}`")
        tmp = archive.temp_file(self.root, ".download-")
        headers = {"api-key": api_key} if api_key else {}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
                async with session.get(location, headers=headers) as response:
                    if response.status != 200:
                        raise BadInput(f"Bad request: downloading {location} failed with HTTP {response.status}")
                    with open(tmp, "wb") as handle:
                        async for chunk in response.content.iter_chunked(1 << 16):
                            handle.write(chunk)
        except aiohttp.ClientError as exc:
            os.unlink(tmp)
            raise BadInput(f"Bad request: downloading {location} failed: {exc}") from None
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return tmp

    @staticmethod
    async def _read_checked(path: str, checksum: str | None) -> archive.SnapshotContent:
        if checksum is not None:
            actual = await asyncio.to_thread(archive.sha256_file, path)
            if actual.lower() != checksum.strip().lower():
                raise BadInput(f"Bad request: Snapshot checksum mismatch: expected {checksum}, got {actual}")
        content = await asyncio.to_thread(archive.read_snapshot, path)
        await asyncio.to_thread(_check_pages, content)
        return content

    # ------------------------------------------------------------------ recover a collection

    async def recover_from_location(self, collection: str, body: Any) -> bool:
        request = parse_recover_body(body)
        return await self._with_location(
            request, lambda path: self.recover_file(collection, path, request.checksum, request.priority)
        )

    async def recover_file(
        self, collection: str, path: str, checksum: str | None = None, priority: str | None = None
    ) -> bool:
        """Recover ``collection`` from the snapshot file at ``path`` (see the module docstring)."""
        priority = parse_priority(priority)
        content = await self._read_checked(path, checksum)
        resolved = self.catalog.state.resolve(collection)
        if resolved is not None and resolved != collection:
            raise BadInput(f"Bad request: `{collection}` is an alias; recover into a collection name")
        if resolved is None or not self.catalog.cluster_enabled or priority == "snapshot":
            await self._recreate(collection, content)
            return True
        coll = self.catalog.get(collection)
        self._check_compatible(coll, content)
        unknown = [sid for sid in content.pages if sid is None or sid not in coll.shards]
        if unknown:
            raise BadInput(
                "Bad request: the snapshot's shards do not match the collection's; recover with priority `snapshot`"
            )
        for shard_id, replica_set in sorted(coll.shards.items()):
            if replica_set.local is not None:
                await self._replace_shard(coll, shard_id, content.pages.get(shard_id, []), priority or "replica")
        return True

    async def _recreate(self, name: str, content: archive.SnapshotContent) -> None:
        """Drop ``name`` if it exists and build it again from the snapshot, cluster-wide."""
        config = content.config
        validate_config(config)
        custom = config["params"].get("sharding_method") == "custom"
        if custom and content.shard_keys and self._create_shard_key is None:
            raise BadInput("Bad request: recovering shard keys is not available here")
        if self.catalog.state.resolve(name) is not None:
            await self.catalog.delete_collection(name)
        await self.catalog.create_collection_with_config(name, config)
        await self._wait_exists(name)
        key_of_shard: dict[int, Any] = {}
        if custom:
            for key_text, shard_ids in content.shard_keys.items():
                key = shard_key_from_str(key_text)
                await self._create_shard_key(name, {"shard_key": key, "shards_number": max(1, len(shard_ids))})
                for shard_id in shard_ids:
                    key_of_shard[int(shard_id)] = key
        for field, schema in content.payload_indexes.items():
            await self.catalog.create_payload_index(name, field, schema)
        coll = self.catalog.get(name)
        for shard_id, pages in content.pages.items():
            options = WriteOptions(wait=True)
            if custom:
                if shard_id not in key_of_shard:
                    logger.warning("snapshot of %s: shard %s has no shard key; its points are skipped", name, shard_id)
                    continue
                options = WriteOptions(wait=True, shard_keys=(key_of_shard[shard_id],))
            async for points in _batches(pages):
                await coll.update(UpsertPoints(points=points), options)

    async def _wait_exists(self, collection: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.catalog.get(collection)
                return
            except NotFound:
                await asyncio.sleep(0.02)
        self.catalog.get(collection)

    # ------------------------------------------------------------------ recover a shard

    async def recover_shard_from_location(self, collection: str, shard_id: int, body: Any) -> bool:
        request = parse_recover_body(body)
        return await self._with_location(
            request,
            lambda path: self.recover_shard_file(collection, shard_id, path, request.checksum, request.priority),
        )

    async def recover_shard_file(
        self,
        collection: str,
        shard_id: int,
        path: str,
        checksum: str | None = None,
        priority: str | None = None,
    ) -> bool:
        """Replace the points of this peer's replica of ``shard_id`` with the snapshot's."""
        priority = parse_priority(priority) or "replica"
        name, _ = self._local_shard(collection, shard_id)
        content = await self._read_checked(path, checksum)
        coll = self.catalog.get(name)
        self._check_compatible(coll, content)
        pages = [page for _, page in content.all_pages()]
        await self._replace_shard(coll, shard_id, pages, priority)
        return True

    @staticmethod
    def _check_compatible(coll: Any, content: archive.SnapshotContent) -> None:
        if _vector_config(content.config) != _vector_config(coll.config):
            raise BadInput(
                f"Bad request: the snapshot's vectors config does not match collection `{coll.name}`'s"
            )

    async def _replace_shard(self, coll: Any, shard_id: int, pages: list[bytes], priority: str) -> None:
        replica_set = coll.shards[shard_id]
        others = [peer for peer in replica_set.active_peers() if peer != replica_set.this_peer]
        if priority == "replica" and others:
            logger.info(
                "recovery of %s shard %d with priority replica: Active replicas %s stay the source of truth",
                coll.name, shard_id, others,
            )
            return
        if priority == "snapshot":
            write = replica_set.update  # every replica of the shard
        else:
            write = replica_set.update_local  # this peer's replica only
        await write(DeletePoints(selector=PointSelector(filter=Filter())))
        async for points in _batches(pages):
            await write(UpsertPoints(points=points))


def _check_pages(content: archive.SnapshotContent) -> None:
    """Decode every page once before anything is changed: a damaged file is refused whole."""
    for shard_id, page in content.all_pages():
        try:
            decode_records(page)
        except Exception as exc:  # noqa: BLE001 - any decoding failure means a damaged file
            raise BadInput(f"Bad request: invalid snapshot file: records of shard {shard_id}: {exc}") from None


async def _shard_pages(replica_set: Any) -> AsyncIterator[list[Record]]:
    """Every point of one shard (read from an Active replica), with payload and vectors."""
    offset = None
    while True:
        request = ScrollRequest(
            limit=PAGE_SIZE + 1,
            offset=offset,
            with_payload=PayloadSelector(enabled=True),
            with_vector=VectorSelector(enabled=True),
        )
        records = await replica_set.scroll(request)
        page, offset = records[:PAGE_SIZE], (records[PAGE_SIZE].id if len(records) > PAGE_SIZE else None)
        if page:
            yield page
        if offset is None:
            return


async def _write_archive(
    target: str, header: dict[str, Any], pages: AsyncIterator[tuple[int, list[Record]]]
) -> None:
    """Write a collection or shard snapshot to ``target``; the file is removed on failure."""
    try:
        with tarfile.open(target, "w") as tar:
            archive.add_bytes(tar, "config.json", json.dumps(header).encode())
            counters: dict[int, int] = {}
            async for shard_id, records in pages:
                number = counters.get(shard_id, 0)
                counters[shard_id] = number + 1
                archive.add_bytes(tar, f"records/{shard_id}/{number:06d}.bin", encode_records(records))
    except BaseException:
        if os.path.exists(target):
            os.unlink(target)
        raise
