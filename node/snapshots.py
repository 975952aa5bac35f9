"""Collection snapshots: create, list, delete and recover.

A snapshot is a tar file ``{collection}-{timestamp}.snapshot`` under
``{snapshots_path}/{collection}/`` holding ``config.json`` (the collection config and
payload index definitions of the Raft state) and ``records/NNNNNN.bin`` pages of
points in the wire format (``shards.wire.encode_records``), read through the
collection so remote shards are included. Its sha256 sits next to it in
``{name}.checksum``.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import io
import ipaddress
import json
import os
import re
import tarfile
import tempfile
import time
import urllib.parse
from typing import Any, AsyncIterator

from consensus.errors import BadInput, NotFound
from shards.operations import ScrollRequest, UpsertPoints, WriteOptions
from shards.types import PayloadSelector, PointStruct, VectorSelector
from shards.wire import decode_records, encode_records

SUFFIX = ".snapshot"
FORMAT_VERSION = 1
PAGE_SIZE = 256
UPSERT_BATCH = 256
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


class SnapshotManager:
    """Snapshots of the catalog's collections, kept under ``root``."""

    def __init__(self, catalog: Any, root: str) -> None:
        self.catalog = catalog
        self.root = os.path.abspath(root)

    # ------------------------------------------------------------------ paths

    def _dir(self, collection: str) -> str:
        return os.path.join(self.root, collection)

    def _path(self, collection: str, name: str) -> str:
        if not _NAME_RE.match(name) or name in (".", ".."):
            raise NotFound(f"Not found: Snapshot {name} not found")
        return os.path.join(self._dir(collection), name)

    def _resolve(self, collection: str) -> str:
        """The real collection name behind ``collection`` (an alias works too)."""
        return self.catalog.get(collection).name

    # ------------------------------------------------------------------ create / list / delete

    async def create(self, collection: str) -> dict[str, Any]:
        name = self._resolve(collection)
        meta = self.catalog.state.collection(name)
        coll = self.catalog.get(name)
        config = meta.config if meta is not None else coll.config
        indexes = dict(meta.payload_indexes) if meta is not None else {}
        directory = self._dir(name)
        os.makedirs(directory, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d-%H-%M-%S-%f")
        snapshot_name = f"{name}-{stamp}{SUFFIX}"
        path = os.path.join(directory, snapshot_name)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=directory)
        os.close(fd)
        try:
            with tarfile.open(tmp, "w") as tar:
                header = {
                    "format": FORMAT_VERSION,
                    "collection": name,
                    "config": config,
                    "payload_indexes": indexes,
                }
                _add_bytes(tar, "config.json", json.dumps(header).encode())
                page_no = 0
                async for records in _all_records(coll):
                    _add_bytes(tar, f"records/{page_no:06d}.bin", encode_records(records))
                    page_no += 1
            checksum = await asyncio.to_thread(_sha256_file, tmp)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        with open(path + ".checksum", "w") as handle:
            handle.write(checksum)
        return self._describe(path)

    def _describe(self, path: str) -> dict[str, Any]:
        stat = os.stat(path)
        checksum_path = path + ".checksum"
        if os.path.exists(checksum_path):
            with open(checksum_path) as handle:
                checksum = handle.read().strip()
        else:
            checksum = _sha256_file(path)
        created = datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc)
        return {
            "name": os.path.basename(path),
            "creation_time": created.replace(tzinfo=None).isoformat(timespec="seconds"),
            "size": stat.st_size,
            "checksum": checksum,
        }

    def list(self, collection: str) -> list[dict[str, Any]]:
        name = self._resolve(collection)
        directory = self._dir(name)
        if not os.path.isdir(directory):
            return []
        entries = [
            self._describe(os.path.join(directory, entry))
            for entry in sorted(os.listdir(directory))
            if entry.endswith(SUFFIX) and not entry.startswith(".")
        ]
        return entries

    def file_path(self, collection: str, snapshot: str) -> str:
        name = self._resolve(collection)
        path = self._path(name, snapshot)
        if not snapshot.endswith(SUFFIX) or not os.path.isfile(path):
            raise NotFound(f"Not found: Snapshot {snapshot} not found")
        return path

    def delete(self, collection: str, snapshot: str) -> bool:
        path = self.file_path(collection, snapshot)
        os.unlink(path)
        if os.path.exists(path + ".checksum"):
            os.unlink(path + ".checksum")
        return True

    # ------------------------------------------------------------------ recover

    async def recover_from_location(self, collection: str, body: dict[str, Any]) -> bool:
        if not isinstance(body, dict) or not isinstance(body.get("location"), str):
            raise BadInput("Json deserialize error: missing field `location`")
        unknown = set(body) - {"location", "priority", "checksum", "api_key"}
        if unknown:
            raise BadInput(f"Json deserialize error: unknown field `{sorted(unknown)[0]}`")
        priority = body.get("priority")
        if priority is not None and priority not in ("replica", "snapshot", "no_sync"):
            raise BadInput(f"Json deserialize error: unknown variant `{priority}`")
        checksum = body.get("checksum")
        if checksum is not None and not isinstance(checksum, str):
            raise BadInput("Json deserialize error: checksum must be a string")
        location = body["location"]
        parsed = urllib.parse.urlparse(location)
        if parsed.scheme in ("http", "https"):
            path = await self._download(collection, location, parsed)
            try:
                return await self.recover_file(collection, path, checksum)
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
        return await self.recover_file(collection, path, checksum)

    async def _download(self, collection: str, location: str, parsed: urllib.parse.ParseResult) -> str:
        import aiohttp

        host = parsed.hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise BadInput(f"Bad request: snapshot URL must be on loopback, got `{host}`")
        os.makedirs(self.root, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=SUFFIX, dir=self.root)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
                async with session.get(location) as response:
                    if response.status != 200:
                        raise BadInput(f"Bad request: downloading {location} failed with HTTP {response.status}")
                    with os.fdopen(fd, "wb") as handle:
                        fd = -1
                        async for chunk in response.content.iter_chunked(1 << 16):
                            handle.write(chunk)
        except aiohttp.ClientError as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise BadInput(f"Bad request: downloading {location} failed: {exc}") from None
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        finally:
            if fd >= 0:
                os.close(fd)
        return tmp

    def temp_upload_path(self) -> str:
        os.makedirs(self.root, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=SUFFIX, dir=self.root)
        os.close(fd)
        return tmp

    async def recover_file(self, collection: str, path: str, checksum: str | None = None) -> bool:
        """Recreate ``collection`` from the snapshot file at ``path``."""
        if checksum is not None:
            actual = await asyncio.to_thread(_sha256_file, path)
            if actual.lower() != checksum.strip().lower():
                raise BadInput(
                    f"Bad request: Snapshot checksum mismatch: expected {checksum}, got {actual}"
                )
        header, pages = await asyncio.to_thread(_read_snapshot, path)
        config = header["config"]
        resolved = self.catalog.state.resolve(collection)
        if resolved is not None and resolved != collection:
            raise BadInput(f"Bad request: `{collection}` is an alias; recover into a collection name")
        if resolved is not None:
            await self.catalog.delete_collection(collection)
        await self.catalog.create_collection_with_config(collection, config)
        await self._wait_exists(collection)
        for field, schema in header.get("payload_indexes", {}).items():
            await self.catalog.create_payload_index(collection, field, schema)
        coll = self.catalog.get(collection)
        for page in pages:
            records = decode_records(page)
            for start in range(0, len(records), UPSERT_BATCH):
                batch = records[start : start + UPSERT_BATCH]
                points = tuple(
                    PointStruct(id=rec.id, vectors=dict(rec.vectors or {}), payload=dict(rec.payload or {}))
                    for rec in batch
                )
                await coll.update(UpsertPoints(points=points), WriteOptions(wait=True))
        return True

    async def _wait_exists(self, collection: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.catalog.get(collection)
                return
            except NotFound:
                await asyncio.sleep(0.02)
        self.catalog.get(collection)


async def _all_records(collection: Any) -> AsyncIterator[list[Any]]:
    """Every point of every shard, with all payload and vectors, page by page."""
    offset = None
    while True:
        request = ScrollRequest(
            limit=PAGE_SIZE,
            offset=offset,
            with_payload=PayloadSelector(enabled=True),
            with_vector=VectorSelector(enabled=True),
        )
        records, offset = await collection.scroll(request)
        if records:
            yield records
        if offset is None:
            return


def _read_snapshot(path: str) -> tuple[dict[str, Any], list[bytes]]:
    """The header and the record pages of a snapshot file."""
    try:
        with tarfile.open(path, "r") as tar:
            header: dict[str, Any] | None = None
            pages: list[tuple[str, bytes]] = []
            for member in tar:
                if not member.isfile():
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                data = handle.read()
                if member.name == "config.json":
                    header = json.loads(data)
                elif member.name.startswith("records/") and member.name.endswith(".bin"):
                    pages.append((member.name, data))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BadInput(f"Bad request: invalid snapshot file: {exc}") from None
    except ValueError as exc:
        raise BadInput(f"Bad request: invalid snapshot config: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("config"), dict):
        raise BadInput("Bad request: invalid snapshot file: config.json is missing")
    if header.get("format") != FORMAT_VERSION:
        raise BadInput(f"Bad request: unsupported snapshot format {header.get('format')}")
    pages.sort()
    return header, [data for _, data in pages]
