"""The descriptor-driven converter between protobuf messages and the REST JSON model.

Qdrant's gRPC messages and its REST bodies mostly share field names, so one
generic walk converts most messages both ways. The messages whose shape
differs (oneof wrappers such as ``PointId`` or ``Match``, renamed fields,
enums spelled differently) register an override for their full name here:

* ``to_rest(message)`` turns a request message into the REST JSON value;
* ``fill(message, value)`` fills a reply message in place from a REST JSON value.

REST-only keys with no field in the reply are dropped; unset proto fields are
left out of the REST value, so the REST defaults apply.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from consensus.errors import BadInput

logger = logging.getLogger(__name__)

ToRest = Callable[[Any], Any]
Filler = Callable[[Any, Any], None]

_TO_REST: dict[str, ToRest] = {}
_FILLERS: dict[str, Filler] = {}
_RENAMES: dict[str, dict[str, str]] = {}  # message full name -> {grpc field: rest key}
_REVERSE: dict[str, dict[str, str]] = {}
_ENUM_NAMES: dict[str, dict[int, str]] = {}
_ENUM_NUMBERS: dict[str, dict[str, int]] = {}


def to_rest_override(full_name: str) -> Callable[[ToRest], ToRest]:
    def register(fn: ToRest) -> ToRest:
        _TO_REST["qdrant." + full_name if "." not in full_name else full_name] = fn
        return fn

    return register


def filler(full_name: str) -> Callable[[Filler], Filler]:
    def register(fn: Filler) -> Filler:
        _FILLERS["qdrant." + full_name if "." not in full_name else full_name] = fn
        return fn

    return register


def rename(full_name: str, **grpc_to_rest: str) -> None:
    """Fields whose REST key differs from the gRPC field name, e.g. ``vectors_config`` -> ``vectors``."""
    name = "qdrant." + full_name
    _RENAMES.setdefault(name, {}).update(grpc_to_rest)
    _REVERSE.setdefault(name, {}).update({rest: grpc for grpc, rest in grpc_to_rest.items()})


def enum_spelling(full_name: str, mapping: Mapping[str, str]) -> None:
    """REST spellings of an enum's values, by value name, where the generic rule gets them wrong."""
    _ENUM_OVERRIDES["qdrant." + full_name] = dict(mapping)


_ENUM_OVERRIDES: dict[str, dict[str, str]] = {}


def _norm(text: str) -> str:
    return text.lower().replace("_", "")


def _enum_tables(enum: Any) -> tuple[dict[int, str], dict[str, int]]:
    names = _ENUM_NAMES.get(enum.full_name)
    if names is None:
        overrides = _ENUM_OVERRIDES.get(enum.full_name, {})
        prefix = _norm(enum.name)
        names, numbers = {}, {}
        for value in enum.values:
            rest = overrides.get(value.name)
            if rest is None:
                plain = _norm(value.name)
                rest = plain[len(prefix) :] if plain.startswith(prefix) and plain != prefix else plain
            names[value.number] = rest
            numbers[_norm(rest)] = value.number
            numbers.setdefault(_norm(value.name), value.number)
        _ENUM_NAMES[enum.full_name], _ENUM_NUMBERS[enum.full_name] = names, numbers
    return names, _ENUM_NUMBERS[enum.full_name]


def enum_to_rest(enum: Any, number: int) -> str:
    """An enum number as the REST string; overridden spellings keep their case."""
    names, _ = _enum_tables(enum)
    if number not in names:
        raise BadInput(f"Unknown value {number} for {enum.name}")
    return names[number]


def enum_from_rest(enum: Any, text: Any) -> int:
    _, numbers = _enum_tables(enum)
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise BadInput(f"Unknown {enum.name} {text!r}")
    if isinstance(text, int):
        return text
    number = numbers.get(_norm(text))
    if number is None:
        logger.debug("no %s value for %r", enum.full_name, text)
        return 0
    return number


# --------------------------------------------------------------------------- request direction


def to_rest(message: Any) -> Any:
    """A message as its REST JSON value."""
    descriptor = message.DESCRIPTOR
    override = _TO_REST.get(descriptor.full_name)
    if override is not None:
        return override(message)
    return fields_to_rest(message)


def fields_to_rest(message: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The generic walk: every set field, under its REST name."""
    renames = _RENAMES.get(message.DESCRIPTOR.full_name, {})
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.name in skip:
            continue
        out[renames.get(field.name, field.name)] = field_to_rest(field, value)
    return out


def field_to_rest(field: Any, value: Any) -> Any:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        value_field = entry.fields_by_name["value"]
        return {key: _single_to_rest(value_field, item) for key, item in value.items()}
    if field.is_repeated:
        return [_single_to_rest(field, item) for item in value]
    return _single_to_rest(field, value)


def _single_to_rest(field: Any, value: Any) -> Any:
    if field.type == field.TYPE_MESSAGE:
        return to_rest(value)
    if field.type == field.TYPE_ENUM:
        return enum_to_rest(field.enum_type, value)
    return value


def optional(message: Any, name: str) -> Any:
    """A field's REST value, or None when it is unset."""
    field = message.DESCRIPTOR.fields_by_name[name]
    if field.is_repeated:
        value = getattr(message, name)
        return field_to_rest(field, value) if len(value) else None
    if field.has_presence and not message.HasField(name):
        return None
    return field_to_rest(field, getattr(message, name))


# --------------------------------------------------------------------------- reply direction


def fill(message: Any, value: Any) -> Any:
    """Fill ``message`` in place from a REST JSON value; returns the message."""
    override = _FILLERS.get(message.DESCRIPTOR.full_name)
    if override is not None:
        override(message, value)
        return message
    if not isinstance(value, Mapping):
        raise TypeError(f"{message.DESCRIPTOR.full_name} expects an object, got {type(value).__name__}")
    fill_fields(message, value)
    return message


def fill_fields(message: Any, value: Mapping[str, Any], skip: tuple[str, ...] = ()) -> None:
    """The generic walk: every REST key that names a field (after renames)."""
    descriptor = message.DESCRIPTOR
    reverse = _REVERSE.get(descriptor.full_name, {})
    fields = descriptor.fields_by_name
    for key, item in value.items():
        if item is None or key in skip:
            continue
        field = fields.get(reverse.get(key, key))
        if field is None:
            continue
        fill_field(message, field, item)


def fill_field(message: Any, field: Any, item: Any) -> None:
    name = field.name
    if hasattr(item, "tolist"):  # numpy values in a handler's result
        item = item.tolist()
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        value_field = entry.fields_by_name["value"]
        target = getattr(message, name)
        for key, sub in item.items():
            if value_field.type == value_field.TYPE_MESSAGE:
                fill(target[key], sub)
            else:
                target[key] = _scalar(value_field, sub)
        return
    if field.is_repeated:
        target = getattr(message, name)
        if field.type == field.TYPE_MESSAGE:
            for sub in item:
                fill(target.add(), sub)
        else:
            target.extend(_scalar(field, sub) for sub in item)
        return
    if field.type == field.TYPE_MESSAGE:
        sub_message = getattr(message, name)
        fill(sub_message, item)
        sub_message.SetInParent()
        return
    setattr(message, name, _scalar(field, item))


def _scalar(field: Any, value: Any) -> Any:
    if field.type == field.TYPE_ENUM:
        return enum_from_rest(field.enum_type, value)
    if field.cpp_type in (field.CPPTYPE_FLOAT, field.CPPTYPE_DOUBLE):
        return float(value)
    if field.cpp_type == field.CPPTYPE_STRING and not isinstance(value, str):
        return str(value)
    return value
