"""Payload edits by key path, as Qdrant's set/delete payload operations define them.

Functions never mutate their input: a shard shares payload dicts with readers,
so every edit returns a new top-level dict.
"""

from __future__ import annotations

import copy
from typing import Any


def _split(path: str) -> list[str]:
    return [part for part in path.split(".") if part != ""]


def set_payload(payload: dict[str, Any], values: dict[str, Any], key: str | None) -> dict[str, Any]:
    """Merge ``values`` into the payload, or into the object at path ``key``."""
    out = copy.deepcopy(payload)
    if not key:
        out.update(copy.deepcopy(values))
        return out
    parts = _split(key)
    _merge_at(out, parts, values)
    return out


def _merge_at(node: Any, parts: list[str], values: dict[str, Any]) -> None:
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        name = head[:-2]
        items = node.get(name) if isinstance(node, dict) else None
        if isinstance(items, list):
            for index, item in enumerate(items):
                if rest:
                    if isinstance(item, dict):
                        _merge_at(item, rest, values)
                elif isinstance(item, dict):
                    item.update(copy.deepcopy(values))
                else:
                    items[index] = copy.deepcopy(values)
        return
    child = node.get(head)
    if not isinstance(child, dict):
        child = {}
        node[head] = child
    if rest:
        _merge_at(child, rest, values)
    else:
        child.update(copy.deepcopy(values))


def delete_keys(payload: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Remove each key path (``a``, ``a.b``, ``a[].b``) from the payload."""
    out = copy.deepcopy(payload)
    for key in keys:
        _delete_at(out, _split(key))
    return out


def _delete_at(node: Any, parts: list[str]) -> None:
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = node.get(head[:-2])
        if not rest:
            node.pop(head[:-2], None)
            return
        if isinstance(items, list):
            for item in items:
                _delete_at(item, rest)
        return
    if not rest:
        node.pop(head, None)
        return
    _delete_at(node.get(head), rest)
