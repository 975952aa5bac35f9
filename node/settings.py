"""Node settings, loaded the way Qdrant loads its configuration.

Sources, later ones winning:

1. the defaults file ``config/config.yaml`` next to the package (or the
   built-in :data:`BUILTIN_DEFAULTS`, identical, when the package is installed
   without it);
2. the file given with ``--config-path``, deep-merged over the defaults;
3. environment variables ``QDRANT__SECTION__KEY=value``: sections are joined
   by ``__``, names are lower-cased, values are read as scalars (integers,
   floats, ``true``/``false``, ``null``); ``QDRANT_URI`` and
   ``QDRANT_BOOTSTRAP`` give this peer's URI and the peer to join;
4. command-line flags (:func:`parse_args`, applied by :func:`resolve_settings`).

The result is a tree of frozen dataclasses, validated once, so the rest of
the node never sees a malformed value. Keys this server does not use are
ignored with a warning, as Qdrant ignores unknown keys.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import yaml

from consensus.errors import BadInput
from shards.collection_config import CollectionDefaults, collection_defaults_from_storage

logger = logging.getLogger(__name__)

ENV_PREFIX = "QDRANT__"
DEFAULTS_PATH = Path(__file__).resolve().parent.parent / "config" / "config.yaml"

# Keys of the storage section that feed the defaults of new collections.
_COLLECTION_DEFAULT_KEYS = ("hnsw_index", "optimizers", "wal", "collection")

BUILTIN_DEFAULTS: Mapping[str, Any] = {
    "log_level": "INFO",
    "storage": {
        "storage_path": "./storage",
        "snapshots_path": "./snapshots",
        "temp_path": None,
        "on_disk_payload": True,
        "update_concurrency": None,
        "max_collections": None,
        "wal": {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1},
        "optimizers": {
            "deleted_threshold": 0.2,
            "vacuum_min_vector_number": 1000,
            "default_segment_number": 0,
            "max_segment_size_kb": None,
            "memmap_threshold_kb": None,
            "indexing_threshold_kb": 10000,
            "flush_interval_sec": 5,
            "max_optimization_threads": None,
        },
        "hnsw_index": {
            "m": 16,
            "ef_construct": 100,
            "full_scan_threshold_kb": 10000,
            "max_indexing_threads": 0,
            "on_disk": False,
            "payload_m": None,
        },
        "collection": {
            "replication_factor": 1,
            "write_consistency_factor": 1,
            "vectors": {"on_disk": None},
            "quantization": None,
            "strict_mode": {"enabled": False},
        },
    },
    "service": {
        "host": "0.0.0.0",
        "http_port": 6333,
        "grpc_port": 6334,
        "max_request_size_mb": 32,
        "max_workers": 0,
        "enable_cors": True,
        "enable_tls": False,
        "jwt_rbac": False,
    },
    "cluster": {
        "enabled": False,
        "grpc_timeout_ms": 5000,
        "connection_timeout_ms": 5000,
        "p2p": {"port": 6335, "enable_tls": False},
        "consensus": {
            "tick_period_ms": 100,
            "bootstrap_timeout_sec": 15,
            "max_message_queue_size": 100,
            "compact_wal_entries": 128,
        },
    },
    "telemetry_disabled": False,
}
"""The contents of ``config/config.yaml``, used when that file is not installed."""


class SettingsError(Exception):
    """The configuration (a file, the environment or the command line) is invalid.

    Raised once at startup, before any component runs; it is not a client
    error, so it stays outside the domain error tree of ``consensus.errors``.
    """


# --- the settings tree ---------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSettings:
    """``service``: the client-facing REST and gRPC APIs."""

    host: str = "0.0.0.0"
    http_port: int = 6333
    grpc_port: int | None = 6334
    api_key: str | None = None
    read_only_api_key: str | None = None
    enable_cors: bool = True
    max_request_size_mb: int = 32
    max_workers: int = 0
    enable_tls: bool = False
    jwt_rbac: bool = False


@dataclass(frozen=True)
class StorageSettings:
    """``storage``: data locations, plus the defaults of new collections."""

    storage_path: str = "./storage"
    snapshots_path: str = "./snapshots"
    temp_path: str | None = None
    on_disk_payload: bool = True
    update_concurrency: int | None = None
    max_collections: int | None = None
    collection_defaults: CollectionDefaults = field(default_factory=CollectionDefaults)


@dataclass(frozen=True)
class P2pSettings:
    """``cluster.p2p``: how peers reach each other."""

    port: int = 6335
    enable_tls: bool = False


@dataclass(frozen=True)
class ConsensusSettings:
    """``cluster.consensus``: timing and log compaction of the consensus."""

    tick_period_ms: int = 100
    bootstrap_timeout_sec: int = 15
    max_message_queue_size: int = 100
    compact_wal_entries: int = 128


@dataclass(frozen=True)
class ClusterSettings:
    """``cluster``: distributed mode."""

    enabled: bool = False
    grpc_timeout_ms: int = 5000
    connection_timeout_ms: int = 5000
    p2p: P2pSettings = field(default_factory=P2pSettings)
    consensus: ConsensusSettings = field(default_factory=ConsensusSettings)

    @property
    def p2p_port(self) -> int:
        """Shortcut for ``p2p.port``."""
        return self.p2p.port


@dataclass(frozen=True)
class Settings:
    """Everything a node is configured with; build it with :func:`load_settings`."""

    log_level: str = "INFO"
    service: ServiceSettings = field(default_factory=ServiceSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    telemetry_disabled: bool = False
    uri: str | None = None
    """This peer's URI as other peers reach it (``--uri`` / ``QDRANT_URI``)."""
    bootstrap: str | None = None
    """URI of a peer to join (``--bootstrap`` / ``QDRANT_BOOTSTRAP``); None starts a new cluster."""


@dataclass(frozen=True)
class CliArgs:
    """Qdrant's command-line flags that this server understands."""

    uri: str | None = None
    bootstrap: str | None = None
    config_path: str | None = None
    reinit: bool = False
    disable_telemetry: bool = False
    storage_snapshot: str | None = None


# --- environment values ----------------------------------------------------------------


@dataclass(frozen=True)
class _EnvText:
    """A value from the environment: raw text, typed only once its field is known.

    Keeping the text lets string fields (API keys, paths) take it verbatim,
    so ``007`` or ``1.50`` survive, while numeric fields still parse it.
    """

    text: str
    variable: str


_INT_PATTERN = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT_PATTERN = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+)")


def parse_scalar(text: str) -> Any:
    """Read an environment value as a YAML-like scalar: int, float, bool, null or text."""
    lowered = text.strip().lower()
    if lowered in ("null", "~"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT_PATTERN.fullmatch(text.strip()):
        return int(text)
    if _FLOAT_PATTERN.fullmatch(text.strip()):
        return float(text)
    return text


def _plain(value: Any) -> Any:
    """``value`` with environment texts turned into scalars, for free-form sections."""
    if isinstance(value, _EnvText):
        return parse_scalar(value.text)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """The nested config given by ``QDRANT__...`` variables (values kept as raw text)."""
    tree: dict[str, Any] = {}
    for variable in sorted(env):
        if not variable.startswith(ENV_PREFIX):
            continue
        keys = [part.lower() for part in variable[len(ENV_PREFIX):].split("__")]
        if not all(keys):
            logger.warning("Ignoring environment variable %s: empty section name", variable)
            continue
        node = tree
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[keys[-1]] = _EnvText(env[variable], variable)
    return tree


# --- loading ---------------------------------------------------------------------------


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``; nested maps merge, other values replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            content = yaml.safe_load(handle)
    except OSError as error:
        raise SettingsError(f"Cannot read config file {path}: {error}") from error
    except yaml.YAMLError as error:
        raise SettingsError(f"Config file {path} is not valid YAML: {error}") from error
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise SettingsError(f"Config file {path} must contain a mapping at its top level")
    return content


def load_settings(
    config_path: str | None,
    env: Mapping[str, str],
    defaults_path: str | None = None,
) -> Settings:
    """Load, merge and validate the settings; raise :class:`SettingsError` if invalid.

    ``defaults_path`` overrides the packaged ``config/config.yaml``; the
    built-in defaults are used only when the packaged file is absent.
    """
    if defaults_path is not None:
        raw = _read_yaml(Path(defaults_path))
    elif DEFAULTS_PATH.is_file():
        raw = _read_yaml(DEFAULTS_PATH)
    else:
        logger.info("No %s found, using built-in defaults", DEFAULTS_PATH)
        raw = copy.deepcopy(dict(BUILTIN_DEFAULTS))
    if config_path is not None:
        raw = deep_merge(raw, _read_yaml(Path(config_path)))
    raw = deep_merge(raw, env_overrides(env))
    settings = _build(raw)
    settings = dataclasses.replace(
        settings,
        uri=_optional_env(env, "QDRANT_URI"),
        bootstrap=_optional_env(env, "QDRANT_BOOTSTRAP"),
    )
    validate_settings(settings)
    return settings


def _optional_env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def resolve_settings(
    args: CliArgs, env: Mapping[str, str], defaults_path: str | None = None
) -> Settings:
    """Settings from every source, command-line flags last (they beat the environment)."""
    settings = load_settings(args.config_path, env, defaults_path)
    settings = dataclasses.replace(
        settings,
        uri=args.uri or settings.uri,
        bootstrap=args.bootstrap or settings.bootstrap,
        telemetry_disabled=settings.telemetry_disabled or args.disable_telemetry,
    )
    validate_settings(settings)
    return settings


# --- typing raw values into the tree ----------------------------------------------------


def _build(raw: Mapping[str, Any]) -> Settings:
    storage_raw = raw.get("storage")
    storage_raw = {} if storage_raw is None else storage_raw
    storage = _section(
        StorageSettings,
        storage_raw,
        "storage",
        skip=("collection_defaults",),
        ignore=_COLLECTION_DEFAULT_KEYS,
    )
    storage = dataclasses.replace(
        storage, collection_defaults=_collection_defaults(storage_raw, storage.on_disk_payload)
    )
    settings = _section(
        Settings, raw, "", skip=("storage", "uri", "bootstrap"), ignore=("storage",)
    )
    return dataclasses.replace(settings, storage=storage)


def _collection_defaults(
    storage_raw: Mapping[str, Any], on_disk_payload: bool
) -> CollectionDefaults:
    """The storage keys that shape new collections, checked by the collection config rules."""
    present = {key: storage_raw[key] for key in _COLLECTION_DEFAULT_KEYS if key in storage_raw}
    section = _plain(present)
    section["on_disk_payload"] = on_disk_payload
    try:
        return collection_defaults_from_storage(section)
    except BadInput as error:
        raise SettingsError(error.message) from error


def _section(
    cls: type,
    raw: Any,
    path: str,
    skip: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> Any:
    """Instantiate dataclass ``cls`` from ``raw``, typing each field by its annotation.

    Fields in ``skip`` are not read (the caller fills them); keys in
    ``ignore`` are read elsewhere; any other unknown key is logged and dropped.
    """
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{path or 'config'}: expected a mapping, got {_show(raw)}")
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
    known = {f.name for f in fields} | set(ignore)
    for key in raw:
        if key not in known:
            logger.warning("Ignoring unknown setting %s", _join(path, str(key)))
    values: dict[str, Any] = {}
    for f in fields:
        if f.name not in raw:
            continue
        child_path = _join(path, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            child = raw[f.name]
            values[f.name] = _section(hints[f.name], {} if child is None else child, child_path)
        else:
            values[f.name] = _typed(raw[f.name], hints[f.name], child_path)
    return cls(**values)


def _typed(value: Any, annotation: Any, path: str) -> Any:
    """``value`` checked (and, for environment text, parsed) against ``annotation``."""
    args = typing.get_args(annotation)
    optional = type(None) in args
    kind = next((arg for arg in args if arg is not type(None)), annotation)
    source = f" (from {value.variable})" if isinstance(value, _EnvText) else ""
    if isinstance(value, _EnvText):
        text = value.text
        if optional and text.strip().lower() in ("", "null", "~"):
            return None
        value = text if kind is str else parse_scalar(text)
    if value is None:
        if optional:
            return None
        raise SettingsError(f"{path}{source}: a value is required")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise SettingsError(f"{path}{source}: expected true or false, got {_show(value)}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SettingsError(f"{path}{source}: expected an integer, got {_show(value)}")
    if kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise SettingsError(f"{path}{source}: expected a string, got {_show(value)}")
    raise SettingsError(f"{path}: unsupported setting type {annotation!r}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    return repr(value.text) if isinstance(value, _EnvText) else repr(value)


# --- validation ----------------------------------------------------------------------------


def _check_port(port: int | None, path: str, allow_none: bool = False) -> None:
    if port is None and allow_none:
        return
    if port is None or not 1 <= port <= 65535:
        raise SettingsError(f"{path}: {port} is not a valid port (expected 1-65535)")


def _check_uri(uri: str | None, what: str) -> None:
    if uri is None:
        return
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{what}: {uri!r} is not a valid peer URI (expected http://host:port)")
    try:
        parts.port
    except ValueError as error:
        raise SettingsError(f"{what}: {uri!r} has an invalid port") from error


def validate_settings(settings: Settings) -> None:
    """Cross-field and range checks; raise :class:`SettingsError` on the first problem."""
    service, cluster = settings.service, settings.cluster
    _check_port(service.http_port, "service.http_port")
    _check_port(service.grpc_port, "service.grpc_port", allow_none=True)
    _check_port(cluster.p2p.port, "cluster.p2p.port")
    if service.grpc_port == service.http_port:
        raise SettingsError(
            f"service.grpc_port: {service.grpc_port} is already used by service.http_port"
        )
    if cluster.enabled and cluster.p2p.port in (service.http_port, service.grpc_port):
        raise SettingsError(
            f"cluster.p2p.port: {cluster.p2p.port} is already used by the service ports"
        )
    if not service.host.strip():
        raise SettingsError("service.host: must not be empty")
    positive = {
        "service.max_request_size_mb": service.max_request_size_mb,
        "cluster.consensus.tick_period_ms": cluster.consensus.tick_period_ms,
        "cluster.grpc_timeout_ms": cluster.grpc_timeout_ms,
        "cluster.connection_timeout_ms": cluster.connection_timeout_ms,
    }
    for path, value in positive.items():
        if value < 1:
            raise SettingsError(f"{path}: {value} invalid, must be 1 or larger")
    non_negative = {
        "service.max_workers": service.max_workers,
        "cluster.consensus.bootstrap_timeout_sec": cluster.consensus.bootstrap_timeout_sec,
        "cluster.consensus.max_message_queue_size": cluster.consensus.max_message_queue_size,
        "cluster.consensus.compact_wal_entries": cluster.consensus.compact_wal_entries,
    }
    for path, value in non_negative.items():
        if value < 0:
            raise SettingsError(f"{path}: {value} invalid, must be 0 or larger")
    storage = settings.storage
    for path, optional in (
        ("storage.update_concurrency", storage.update_concurrency),
        ("storage.max_collections", storage.max_collections),
    ):
        if optional is not None and optional < 1:
            raise SettingsError(f"{path}: {optional} invalid, must be 1 or larger (or null)")
    for path, location in (
        ("storage.storage_path", storage.storage_path),
        ("storage.snapshots_path", storage.snapshots_path),
    ):
        if not location.strip():
            raise SettingsError(f"{path}: must not be empty")
    if not settings.log_level.strip():
        raise SettingsError("log_level: must not be empty")
    _check_uri(settings.uri, "uri")
    _check_uri(settings.bootstrap, "bootstrap")


# --- command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> CliArgs:
    """Parse Qdrant's command-line flags (``argv`` excludes the program name).

    Bad flags print usage and exit with status 2, as any CLI does.
    """
    parser = argparse.ArgumentParser(
        prog="qdrant", description="A Qdrant-compatible vector search server."
    )
    parser.add_argument(
        "--uri",
        help="URI of this peer, as other peers reach it (default: from QDRANT_URI)",
    )
    parser.add_argument(
        "--bootstrap",
        help="URI of a peer of an existing cluster to join; omit it to start a new cluster",
    )
    parser.add_argument(
        "--config-path", help="YAML file merged over the defaults (before the environment)"
    )
    parser.add_argument(
        "--reinit",
        action="store_true",
        help="drop the stored consensus state and start a new cluster with the existing data",
    )
    parser.add_argument(
        "--disable-telemetry", action="store_true", help="do not report usage statistics"
    )
    parser.add_argument(
        "--storage-snapshot",
        help="full snapshot to recover all collections and aliases from, when the storage has none",
    )
    parsed = parser.parse_args(list(argv) if argv is not None else None)
    return CliArgs(
        uri=parsed.uri,
        bootstrap=parsed.bootstrap,
        config_path=parsed.config_path,
        reinit=parsed.reinit,
        disable_telemetry=parsed.disable_telemetry,
        storage_snapshot=parsed.storage_snapshot,
    )


def settings_from_command_line(argv: Sequence[str] | None = None) -> tuple[CliArgs, Settings]:
    """Parse ``argv`` and load the settings with the process environment."""
    args = parse_args(argv)
    return args, resolve_settings(args, os.environ)
