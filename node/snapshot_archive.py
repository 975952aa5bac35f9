"""The snapshot file format: a plain tar, written and read without any server around it.

A collection or shard snapshot holds ``config.json`` (the header: kind, collection,
config, payload index definitions, shard keys) and ``records/{shard_id}/NNNNNN.bin``
pages of points in the wire format (``shards.wire.encode_records``). Format 1 files
(``records/NNNNNN.bin``, no shard ids) are still read. A full (storage) snapshot holds
``config.json`` (collections and aliases) and one collection snapshot per collection
under ``collections/{name}.snapshot``. Every snapshot's sha256 sits next to it in
``{name}.checksum``.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from consensus.errors import BadInput, NotFound

SUFFIX = ".snapshot"
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def timestamp() -> str:
    """The time part of a snapshot name (UTC, microseconds so two snapshots differ)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d-%H-%M-%S-%f")


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot_path(directory: str, name: str) -> str:
    """``directory/name`` for a snapshot name from a request; a name that could leave
    the directory (or is not a snapshot) is simply not found."""
    if not _NAME_RE.match(name) or name in (".", "..") or not name.endswith(SUFFIX):
        raise NotFound(f"Not found: Snapshot {name} not found")
    return os.path.join(directory, name)


def existing_snapshot(directory: str, name: str) -> str:
    path = snapshot_path(directory, name)
    if not os.path.isfile(path):
        raise NotFound(f"Not found: Snapshot {name} not found")
    return path


def describe(path: str) -> dict[str, Any]:
    """Qdrant's ``SnapshotDescription`` of the snapshot file at ``path``."""
    stat = os.stat(path)
    checksum_path = path + ".checksum"
    if os.path.exists(checksum_path):
        with open(checksum_path) as handle:
            checksum = handle.read().strip()
    else:
        checksum = sha256_file(path)
    created = datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc)
    return {
        "name": os.path.basename(path),
        "creation_time": created.replace(tzinfo=None).isoformat(timespec="seconds"),
        "size": stat.st_size,
        "checksum": checksum,
    }


def list_directory(directory: str) -> list[dict[str, Any]]:
    """Descriptions of the finished snapshots in ``directory`` (temporary files start with a dot)."""
    if not os.path.isdir(directory):
        return []
    return [
        describe(os.path.join(directory, entry))
        for entry in sorted(os.listdir(directory))
        if entry.endswith(SUFFIX) and not entry.startswith(".") and os.path.isfile(os.path.join(directory, entry))
    ]


def delete_snapshot(directory: str, name: str) -> bool:
    path = existing_snapshot(directory, name)
    os.unlink(path)
    if os.path.exists(path + ".checksum"):
        os.unlink(path + ".checksum")
    return True


def temp_file(directory: str, prefix: str = ".tmp-") -> str:
    """A new empty file in ``directory``, hidden from listings by its leading dot."""
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=SUFFIX, dir=directory)
    os.close(fd)
    return tmp


def publish(tmp: str, path: str) -> None:
    """Move a finished archive into place and write its checksum beside it."""
    checksum = sha256_file(tmp)
    os.replace(tmp, path)
    with open(path + ".checksum", "w") as handle:
        handle.write(checksum)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


@dataclass
class SnapshotContent:
    """A collection or shard snapshot as read back: its header and record pages by shard id.

    ``pages`` maps a shard id (``None`` for format-1 files, which did not record it)
    to the encoded record pages of that shard, in order.
    """

    header: dict[str, Any]
    pages: dict[int | None, list[bytes]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.header.get("kind", "collection"))

    @property
    def config(self) -> dict[str, Any]:
        return self.header["config"]

    @property
    def payload_indexes(self) -> dict[str, Any]:
        indexes = self.header.get("payload_indexes") or {}
        return indexes if isinstance(indexes, dict) else {}

    @property
    def shard_keys(self) -> dict[str, list[int]]:
        """``shard_key_to_str(key) -> shard ids`` of a custom-sharded collection."""
        keys = self.header.get("shard_keys") or {}
        return keys if isinstance(keys, dict) else {}

    def all_pages(self) -> Iterator[tuple[int | None, bytes]]:
        for shard_id in sorted(self.pages, key=lambda s: -1 if s is None else s):
            for page in self.pages[shard_id]:
                yield shard_id, page


def read_snapshot(path: str) -> SnapshotContent:
    """Read a collection or shard snapshot; anything else is bad input, never a crash."""
    content = SnapshotContent(header={})
    found_header = False
    named_pages: list[tuple[str, int | None, bytes]] = []
    try:
        with tarfile.open(path, "r") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                if member.name == "config.json":
                    content.header = json.loads(handle.read())
                    found_header = True
                elif member.name.startswith("records/") and member.name.endswith(".bin"):
                    parts = member.name.split("/")
                    if len(parts) == 2:
                        shard_id: int | None = None
                    elif len(parts) == 3 and parts[1].isdigit():
                        shard_id = int(parts[1])
                    else:
                        continue
                    named_pages.append((member.name, shard_id, handle.read()))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BadInput(f"Bad request: invalid snapshot file: {exc}") from None
    except ValueError as exc:
        raise BadInput(f"Bad request: invalid snapshot config: {exc}") from None
    header = content.header
    if not found_header or not isinstance(header, dict) or not isinstance(header.get("config"), dict):
        raise BadInput("Bad request: invalid snapshot file: config.json is missing")
    if header.get("format") not in READABLE_FORMATS:
        raise BadInput(f"Bad request: unsupported snapshot format {header.get('format')}")
    if header.get("kind", "collection") not in ("collection", "shard"):
        raise BadInput(f"Bad request: not a collection or shard snapshot (kind {header.get('kind')!r})")
    for _, shard_id, data in sorted(named_pages, key=lambda item: item[0]):
        content.pages.setdefault(shard_id, []).append(data)
    return content


def read_full_header(path: str) -> dict[str, Any]:
    """The header of a full (storage) snapshot."""
    try:
        with tarfile.open(path, "r") as tar:
            member = tar.getmember("config.json")
            handle = tar.extractfile(member)
            header = json.loads(handle.read()) if handle is not None else None
    except KeyError:
        raise BadInput("Bad request: invalid full snapshot: config.json is missing") from None
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise BadInput(f"Bad request: invalid full snapshot: {exc}") from None
    if not isinstance(header, dict) or header.get("kind") != "full" or not isinstance(header.get("collections"), dict):
        raise BadInput("Bad request: not a full snapshot")
    return header


def extract_member(path: str, member_name: str, target: str) -> None:
    """Copy one member of the tar at ``path`` into the file ``target``."""
    try:
        with tarfile.open(path, "r") as tar:
            handle = tar.extractfile(tar.getmember(member_name))
            if handle is None:
                raise BadInput(f"Bad request: invalid full snapshot: {member_name} is not a file")
            with open(target, "wb") as out:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    out.write(chunk)
    except KeyError:
        raise BadInput(f"Bad request: invalid full snapshot: {member_name} is missing") from None
    except (tarfile.TarError, EOFError) as exc:
        raise BadInput(f"Bad request: invalid full snapshot: {exc}") from None
