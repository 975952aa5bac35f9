"""Node settings: defaults file, config file, environment, command line, validation."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import yaml

import node.settings as settings_module
from node.settings import (
    BUILTIN_DEFAULTS,
    DEFAULTS_PATH,
    CliArgs,
    Settings,
    SettingsError,
    env_overrides,
    load_settings,
    parse_args,
    parse_scalar,
    resolve_settings,
)
from shards.collection_config import build_config


def write_yaml(tmp_path: Path, content: str, name: str = "custom.yaml") -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


# --- defaults ----------------------------------------------------------------------------


def test_shipped_defaults_file_equals_the_builtin_defaults():
    assert DEFAULTS_PATH.is_file()
    assert yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8")) == BUILTIN_DEFAULTS


def test_defaults_equal_the_dataclass_defaults():
    settings = load_settings(None, {})
    assert settings == Settings()
    assert settings.service.http_port == 6333
    assert settings.service.grpc_port == 6334
    assert settings.cluster.p2p_port == 6335
    assert settings.storage.storage_path == "./storage"
    assert settings.storage.collection_defaults.strict_mode_config == {"enabled": False}


def test_builtin_defaults_are_used_when_the_file_is_not_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(settings_module, "DEFAULTS_PATH", tmp_path / "missing.yaml")
    assert load_settings(None, {}) == Settings()


def test_an_explicit_defaults_file_must_exist(tmp_path):
    with pytest.raises(SettingsError, match="Cannot read config file"):
        load_settings(None, {}, defaults_path=str(tmp_path / "missing.yaml"))


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.service.http_port = 1  # type: ignore[misc]


# --- config file and environment -----------------------------------------------------------


def test_config_file_is_deep_merged_over_defaults(tmp_path):
    path = write_yaml(
        tmp_path,
        "service:\n  http_port: 7000\n  api_key: secret\n"
        "storage:\n  storage_path: /data\n  hnsw_index:\n    m: 32\n",
    )
    settings = load_settings(path, {})
    assert settings.service.http_port == 7000
    assert settings.service.host == "0.0.0.0"
    assert settings.service.api_key == "secret"
    assert settings.storage.storage_path == "/data"
    assert settings.storage.snapshots_path == "./snapshots"
    assert settings.storage.collection_defaults.hnsw_config["m"] == 32
    assert settings.storage.collection_defaults.hnsw_config["ef_construct"] == 100


def test_environment_beats_the_config_file(tmp_path):
    path = write_yaml(tmp_path, "service:\n  http_port: 7000\n")
    env = {
        "QDRANT__SERVICE__HTTP_PORT": "7100",
        "QDRANT__SERVICE__ENABLE_CORS": "false",
        "QDRANT__CLUSTER__ENABLED": "TRUE",
        "QDRANT__CLUSTER__P2P__PORT": "7200",
        "QDRANT__LOG_LEVEL": "debug",
        "QDRANT__TELEMETRY_DISABLED": "true",
        "UNRELATED": "x",
    }
    settings = load_settings(path, env)
    assert settings.service.http_port == 7100
    assert settings.service.enable_cors is False
    assert settings.cluster.enabled is True
    assert settings.cluster.p2p.port == 7200
    assert settings.log_level == "debug"
    assert settings.telemetry_disabled is True


def test_environment_keys_are_lower_cased_and_strings_kept_verbatim():
    env = {
        "QDRANT__SERVICE__API_KEY": "007",
        "QDRANT__SERVICE__READ_ONLY_API_KEY": "1.50",
        "QDRANT__STORAGE__STORAGE_PATH": "/var/lib/qdrant",
    }
    settings = load_settings(None, env)
    assert settings.service.api_key == "007"
    assert settings.service.read_only_api_key == "1.50"
    assert settings.storage.storage_path == "/var/lib/qdrant"


def test_environment_null_clears_optional_values():
    settings = load_settings(None, {"QDRANT__SERVICE__GRPC_PORT": "null"})
    assert settings.service.grpc_port is None
    assert load_settings(None, {"QDRANT__SERVICE__API_KEY": ""}).service.api_key is None


def test_environment_reaches_collection_defaults():
    settings = load_settings(
        None,
        {
            "QDRANT__STORAGE__OPTIMIZERS__INDEXING_THRESHOLD_KB": "0",
            "QDRANT__STORAGE__OPTIMIZERS__DELETED_THRESHOLD": "0.5",
            "QDRANT__STORAGE__ON_DISK_PAYLOAD": "false",
            "QDRANT__STORAGE__COLLECTION__STRICT_MODE": "null",
        },
    )
    config = build_config(
        {"vectors": {"size": 2, "distance": "Dot"}},
        defaults=settings.storage.collection_defaults,
    )
    assert config["optimizer_config"]["indexing_threshold"] == 0
    assert config["optimizer_config"]["deleted_threshold"] == 0.5
    assert config["params"]["on_disk_payload"] is False
    assert "strict_mode_config" not in config


def test_env_overrides_nest_sections():
    tree = env_overrides({"QDRANT__A__B__C": "1", "QDRANT__A__D": "x", "QDRANT_URI": "u"})
    assert list(tree) == ["a"]
    assert tree["a"]["b"]["c"].text == "1"
    assert tree["a"]["d"].variable == "QDRANT__A__D"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e3", 1000.0),
        ("true", True),
        ("False", False),
        ("null", None),
        ("~", None),
        ("007", "007"),
        ("abc", "abc"),
        ("", ""),
    ],
)
def test_parse_scalar(text, value):
    assert parse_scalar(text) == value
    assert type(parse_scalar(text)) is type(value)


def test_uri_and_bootstrap_come_from_the_environment():
    settings = load_settings(
        None, {"QDRANT_URI": "http://peer-1:6335", "QDRANT_BOOTSTRAP": "http://peer-0:6335"}
    )
    assert settings.uri == "http://peer-1:6335"
    assert settings.bootstrap == "http://peer-0:6335"


def test_unknown_keys_are_ignored_with_a_warning(tmp_path, caplog):
    path = write_yaml(tmp_path, "service:\n  colour: red\ntls:\n  cert: x\n")
    with caplog.at_level(logging.WARNING, logger="node.settings"):
        settings = load_settings(path, {})
    assert settings == Settings()
    assert "service.colour" in caplog.text
    assert "tls" in caplog.text


def test_empty_sections_keep_defaults(tmp_path):
    path = write_yaml(tmp_path, "service:\ncluster:\n")
    assert load_settings(path, {}) == Settings()


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"QDRANT__SERVICE__HTTP_PORT": "abc"},
            "service.http_port (from QDRANT__SERVICE__HTTP_PORT): expected an integer, got 'abc'",
        ),
        (
            {"QDRANT__SERVICE__HTTP_PORT": "70000"},
            "service.http_port: 70000 is not a valid port (expected 1-65535)",
        ),
        (
            {"QDRANT__SERVICE__HTTP_PORT": "0"},
            "service.http_port: 0 is not a valid port (expected 1-65535)",
        ),
        (
            {"QDRANT__SERVICE__GRPC_PORT": "6333"},
            "service.grpc_port: 6333 is already used by service.http_port",
        ),
        (
            {"QDRANT__CLUSTER__ENABLED": "true", "QDRANT__CLUSTER__P2P__PORT": "6334"},
            "cluster.p2p.port: 6334 is already used by the service ports",
        ),
        (
            {"QDRANT__CLUSTER__ENABLED": "yes"},
            "cluster.enabled (from QDRANT__CLUSTER__ENABLED): expected true or false, got 'yes'",
        ),
        (
            {"QDRANT__SERVICE__MAX_REQUEST_SIZE_MB": "0"},
            "service.max_request_size_mb: 0 invalid, must be 1 or larger",
        ),
        (
            {"QDRANT__SERVICE__HOST": " "},
            "service.host: must not be empty",
        ),
        (
            {"QDRANT__STORAGE__HNSW_INDEX__EF_CONSTRUCT": "2"},
            "Invalid configuration: [storage.hnsw_index.ef_construct: value 2 invalid, "
            "must be 4 or larger]",
        ),
        (
            {"QDRANT__STORAGE__WAL__SIZE": "2"},
            "Invalid configuration: unknown field `size`, expected one of `wal_capacity_mb`, "
            "`wal_segments_ahead`, `wal_retain_closed` at `storage.wal`",
        ),
        (
            {"QDRANT_URI": "peer-1:6335"},
            "uri: 'peer-1:6335' is not a valid peer URI (expected http://host:port)",
        ),
        (
            {"QDRANT_BOOTSTRAP": "http://peer:port"},
            "bootstrap: 'http://peer:port' has an invalid port",
        ),
    ],
)
def test_invalid_settings_are_reported_clearly(env, message):
    with pytest.raises(SettingsError) as caught:
        load_settings(None, env)
    assert str(caught.value) == message


def test_a_cluster_p2p_port_may_equal_a_service_port_when_clustering_is_off():
    settings = load_settings(None, {"QDRANT__CLUSTER__P2P__PORT": "6333"})
    assert settings.cluster.p2p_port == 6333


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("service: [1, 2", "is not valid YAML"),
        ("- 1\n- 2\n", "must contain a mapping at its top level"),
        ("service: 5\n", "service: expected a mapping, got 5"),
        ("service:\n  http_port: true\n", "service.http_port: expected an integer, got True"),
        ("service:\n  api_key: [a]\n", "service.api_key: expected a string, got ['a']"),
        ("service:\n  host: null\n", "service.host: a value is required"),
    ],
)
def test_invalid_config_files_are_reported(tmp_path, content, message):
    path = write_yaml(tmp_path, content)
    with pytest.raises(SettingsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(path, {})


def test_a_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="Cannot read config file"):
        load_settings(str(tmp_path / "nope.yaml"), {})


# --- command line -------------------------------------------------------------------------------


def test_parse_args_defaults():
    assert parse_args([]) == CliArgs()


def test_parse_args_reads_qdrant_flags():
    args = parse_args(
        [
            "--uri",
            "http://peer-1:6335",
            "--bootstrap",
            "http://peer-0:6335",
            "--config-path",
            "/etc/qdrant.yaml",
            "--reinit",
            "--disable-telemetry",
        ]
    )
    assert args == CliArgs(
        uri="http://peer-1:6335",
        bootstrap="http://peer-0:6335",
        config_path="/etc/qdrant.yaml",
        reinit=True,
        disable_telemetry=True,
    )


def test_unknown_flags_exit_with_usage(capsys):
    with pytest.raises(SystemExit) as caught:
        parse_args(["--verbose"])
    assert caught.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_command_line_beats_the_environment(tmp_path):
    path = write_yaml(tmp_path, "service:\n  http_port: 7000\n")
    args = CliArgs(uri="http://cli:6335", config_path=path, disable_telemetry=True)
    env = {"QDRANT_URI": "http://env:6335", "QDRANT_BOOTSTRAP": "http://seed:6335"}
    settings = resolve_settings(args, env)
    assert settings.uri == "http://cli:6335"
    assert settings.bootstrap == "http://seed:6335"
    assert settings.telemetry_disabled is True
    assert settings.service.http_port == 7000


def test_command_line_uri_is_validated():
    with pytest.raises(SettingsError, match="not a valid peer URI"):
        resolve_settings(CliArgs(bootstrap="ftp://x"), {})
