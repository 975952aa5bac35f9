"""Qdrant payload key paths: parsing them and reading the values they point at.

Syntax (as Qdrant's JSON path):

    key                 a top-level key
    a.b                 key ``b`` of the object at ``a``
    a[]                 every element of the array at ``a``
    a[2]                element 2 of the array at ``a``
    a[].b               key ``b`` of every object in the array at ``a``
    "a.b"."x y"         quoted keys, for keys that contain other characters

Unquoted keys consist of letters, digits, ``_`` and ``-``. A path never starts
with an index.

Reading follows Qdrant: a key step only descends into objects, an index or
``[]`` step only into arrays; anything else yields nothing. The result is a
list of the values reached (Qdrant's "multi-value"). Conditions such as
``match`` then look *inside* each value that is an array, one level deep, so
``{"tags": ["a", "b"]}`` matches ``match: {value: "a"}`` on key ``tags``; use
:func:`values_at` for that flattened view and :func:`raw_values_at` when the
array itself matters (``is_empty``, ``values_count``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Union

from consensus.errors import BadInput


class _Wildcard:
    """The ``[]`` step of a path."""

    _instance: "_Wildcard | None" = None

    def __new__(cls) -> "_Wildcard":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "WILDCARD"

    def __reduce__(self) -> str:
        return "WILDCARD"


WILDCARD = _Wildcard()
"""The path step that expands every element of an array."""

PathItem = Union[str, int, _Wildcard]
"""One step of a parsed path: a key, an array index, or :data:`WILDCARD`."""

_MISSING = object()


def _is_raw_key_char(char: str) -> bool:
    return char.isalnum() or char == "_" or char == "-"


@functools.lru_cache(maxsize=8192)
def parse_path(path: str) -> tuple[PathItem, ...]:
    """Parse a key path into its steps; the first step is always a key.

    Raises :class:`BadInput` when the path is not valid Qdrant syntax.
    """
    if not isinstance(path, str):
        raise BadInput(f"Payload key must be a string, got {type(path).__name__}")
    items: list[PathItem] = []
    pos = 0
    length = len(path)

    def bad(reason: str) -> BadInput:
        return BadInput(f"Invalid payload key path {path!r}: {reason}")

    def read_key(start: int) -> tuple[str, int]:
        if start < length and path[start] == '"':
            end = path.find('"', start + 1)
            if end < 0:
                raise bad("unterminated quoted key")
            key = path[start + 1 : end]
            if "\\" in key:
                raise bad("backslashes are not allowed in quoted keys")
            return key, end + 1
        end = start
        while end < length and _is_raw_key_char(path[end]):
            end += 1
        if end == start:
            raise bad(f"expected a key at position {start}")
        return path[start:end], end

    key, pos = read_key(0)
    items.append(key)
    while pos < length:
        char = path[pos]
        if char == ".":
            key, pos = read_key(pos + 1)
            items.append(key)
        elif char == "[":
            end = path.find("]", pos)
            if end < 0:
                raise bad("unterminated '['")
            inner = path[pos + 1 : end]
            if inner == "":
                items.append(WILDCARD)
            elif inner.isdigit() and inner.isascii():
                items.append(int(inner))
            else:
                raise bad(f"array index must be a non-negative integer or empty, got {inner!r}")
            pos = end + 1
        else:
            raise bad(f"unexpected character {char!r} at position {pos}")
    return tuple(items)


def path_to_str(items: tuple[PathItem, ...]) -> str:
    """Render parsed steps back into path syntax (quoting keys where needed)."""
    out: list[str] = []
    for index, item in enumerate(items):
        if item is WILDCARD:
            out.append("[]")
        elif isinstance(item, int):
            out.append(f"[{item}]")
        else:
            text = item if item and all(_is_raw_key_char(c) for c in item) else f'"{item}"'
            out.append(text if index == 0 else "." + text)
    return "".join(out)


def _collect(value: Any, items: tuple[PathItem, ...], step: int, out: list) -> None:
    while step < len(items):
        item = items[step]
        if item is WILDCARD:
            if type(value) is not list:
                return
            for element in value:
                _collect(element, items, step + 1, out)
            return
        if type(item) is int:
            if type(value) is not list or item >= len(value):
                return
            value = value[item]
        else:
            if type(value) is not dict:
                return
            value = value.get(item, _MISSING)
            if value is _MISSING:
                return
        step += 1
    out.append(value)


ValuesGetter = Callable[[dict], list]
"""Reads the raw values (Qdrant's multi-value) at one path of a payload."""


@functools.lru_cache(maxsize=8192)
def compile_getter(path: str) -> ValuesGetter:
    """A function returning the raw values at ``path``; fast for plain top-level keys."""
    items = parse_path(path)
    first = items[0]
    if len(items) == 1:

        def get_top_level(payload: dict) -> list:
            value = payload.get(first, _MISSING)
            return [] if value is _MISSING else [value]

        return get_top_level

    def get_nested(payload: dict) -> list:
        value = payload.get(first, _MISSING)
        if value is _MISSING:
            return []
        out: list = []
        _collect(value, items, 1, out)
        return out

    return get_nested


def raw_values_at(payload: dict, path: str) -> list:
    """The values reached by ``path``, arrays at the end of the path kept whole."""
    return compile_getter(path)(payload)


def values_at(payload: dict, path: str) -> list:
    """The values reached by ``path``, with arrays at the end flattened one level.

    This is the view ``match``, ``range`` and geo conditions (and payload indexes) use.
    """
    out: list = []
    for value in compile_getter(path)(payload):
        if type(value) is list:
            out.extend(value)
        else:
            out.append(value)
    return out


def key_exists(payload: dict, path: str) -> bool:
    """True when the path reaches at least one value (``null`` counts as a value)."""
    return bool(compile_getter(path)(payload))


def values_are_empty(raw_values: list) -> bool:
    """Qdrant's ``is_empty``: no value at all, or every value is ``null`` or ``[]``."""
    for value in raw_values:
        if value is None or (type(value) is list and not value):
            continue
        return False
    return True


def values_are_null(raw_values: list) -> bool:
    """Qdrant's ``is_null``: some value reached is ``null``, or an array holding ``null``.

    ``{"a": [null, 1]}`` is null at key ``a`` (as Qdrant has it since 1.19.1, matching
    ``{"key": "a", "is_null": true}`` and indexed fields); ``{"a": []}`` is not.
    """
    for value in raw_values:
        if value is None or (type(value) is list and any(element is None for element in value)):
            return True
    return False


def is_empty_at(payload: dict, path: str) -> bool:
    """Whether ``is_empty`` holds for ``path`` in ``payload``: missing, ``null`` or ``[]``."""
    return values_are_empty(compile_getter(path)(payload))


def is_null_at(payload: dict, path: str) -> bool:
    """Whether ``is_null`` holds for ``path`` in ``payload`` (see :func:`values_are_null`)."""
    return values_are_null(compile_getter(path)(payload))
