"""Formula queries (score boosting): ``{"formula": <expression>, "defaults": {...}}``.

An expression is parsed once into a tree of closures (:func:`parse_formula`) and
evaluated per candidate with its prefetch scores and payload
(:meth:`Formula.evaluate`). Expressions, as in Qdrant's ``Expression`` schema:

* a number: a constant;
* ``"$score"`` / ``"$score[i]"``: the candidate's score in prefetch 0 / ``i``
  (``defaults["$score[i]"]`` or 0 when the candidate is not in that prefetch);
* any other string: a payload key (its first value; if missing, ``defaults[key]``;
  else an error);
* a filter condition: 1.0 if the candidate matches it, else 0.0;
* ``sum``, ``mult``, ``div`` (``by_zero_default``), ``neg``, ``abs``, ``sqrt``,
  ``pow``, ``exp``, ``log10``, ``ln``;
* ``geo_distance`` (meters from ``origin`` to the geo point at ``to``),
  ``datetime`` (a constant datetime) and ``datetime_key`` (a payload datetime),
  both in seconds since the Unix epoch;
* ``exp_decay``, ``gauss_decay``, ``lin_decay`` with ``x``, ``target`` (0),
  ``scale`` (1) and ``midpoint`` (0.5), computed as Qdrant does::

      exp:   exp(ln(midpoint) / scale * |x - target|)
      gauss: exp(ln(midpoint) / scale² * (x - target)²)
      lin:   max(0, 1 - (1 - midpoint) / scale * |x - target|)

A non-finite result (division by zero without a default, the square root or
logarithm of a negative number, an overflow) fails the query.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from consensus.errors import BadInput
from shards.conditions import parse_datetime_micros
from shards.filters import parse_condition
from shards.geo import haversine_m, parse_geo_point, payload_geo_point
from shards.payload_path import parse_path, values_at
from shards.types import PointId

DEFAULT_SCORE = 0.0
DEFAULT_DECAY_TARGET = 0.0
DEFAULT_DECAY_MIDPOINT = 0.5
DEFAULT_DECAY_SCALE = 1.0

_SCORE_VAR = re.compile(r"^\$score(?:\[(\d+)\])?$")


@dataclass
class Context:
    """What one candidate offers to an expression."""

    point_id: PointId
    payload: dict
    scores: list[dict]  # per prefetch: point id -> score
    has_vector: Callable[[str], bool] = lambda name: False


Node = Callable[[Context], float]


@dataclass(frozen=True)
class Formula:
    """A parsed formula; ``needs_vectors`` when a condition may look at vectors."""

    root: Node = field(compare=False)
    defaults: dict = field(default_factory=dict, compare=False)
    needs_vectors: bool = False

    def evaluate(self, ctx: Context) -> float:
        value = self.root(ctx)
        if not math.isfinite(value):
            raise _non_finite(str(value))
        return float(value)


def _error(message: str, where: str) -> BadInput:
    return BadInput(f"Format error in JSON body: {where + ': ' if where else ''}{message}")


def _non_finite(expression: str) -> BadInput:
    return BadInput(f"Bad request: The expression {expression} produced a non-finite number")


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise _error(f"expected a number, got {raw!r}", where)
    return float(raw)


# --------------------------------------------------------------------------- parsing


def parse_formula(raw: Any, defaults: Any = None, where: str = "query.formula") -> Formula:
    """Parse an ``Expression`` and the ``defaults`` map into a :class:`Formula`."""
    if defaults is None:
        defaults = {}
    if not isinstance(defaults, dict):
        raise _error("invalid type: expected a map of defaults", where.rsplit(".", 1)[0] + ".defaults")
    state = {"vectors": False}
    root = _parse(raw, defaults, where, state)
    return Formula(root=root, defaults=dict(defaults), needs_vectors=state["vectors"])


_UNARY = ("neg", "abs", "sqrt", "exp", "log10", "ln")
_DECAYS = ("exp_decay", "gauss_decay", "lin_decay")


def _parse(raw: Any, defaults: dict, where: str, state: dict) -> Node:
    if isinstance(raw, bool) or raw is None:
        raise _error("data did not match any variant of untagged enum Expression", where)
    if isinstance(raw, (int, float)):
        value = float(raw)
        return lambda ctx: value
    if isinstance(raw, str):
        return _variable(raw, defaults, where)
    if isinstance(raw, list) or not isinstance(raw, dict):
        raise _error("data did not match any variant of untagged enum Expression", where)
    if len(raw) == 1:
        (kind, body), = raw.items()
        sub = f"{where}.{kind}"
        if kind in ("sum", "mult"):
            if not isinstance(body, list):
                raise _error("invalid type: expected a sequence of expressions", sub)
            parts = [_parse(item, defaults, f"{sub}[{i}]", state) for i, item in enumerate(body)]
            return _sum(parts) if kind == "sum" else _mult(parts)
        if kind in _UNARY:
            return _unary(kind, _parse(body, defaults, sub, state))
        if kind == "div":
            return _parse_div(body, defaults, sub, state)
        if kind == "pow":
            obj = _object(body, sub, {"base", "exponent"}, {"base", "exponent"})
            return _pow(_parse(obj["base"], defaults, f"{sub}.base", state),
                        _parse(obj["exponent"], defaults, f"{sub}.exponent", state))
        if kind == "geo_distance":
            return _parse_geo(body, defaults, sub)
        if kind == "datetime":
            if not isinstance(body, str) or (micros := parse_datetime_micros(body)) is None:
                raise _error(f"expected an RFC 3339 datetime, got {body!r}", sub)
            seconds = micros / 1_000_000
            return lambda ctx: seconds
        if kind == "datetime_key":
            return _parse_datetime_key(body, defaults, sub)
        if kind in _DECAYS:
            return _parse_decay(kind, body, defaults, sub, state)
    # Anything else must be a filter condition.
    condition = parse_condition(raw, where)
    state["vectors"] = True
    check = condition.compile()
    return lambda ctx: 1.0 if check(ctx.point_id, ctx.payload, ctx.has_vector) else 0.0


def _object(raw: Any, where: str, allowed: set, required: set) -> dict:
    if not isinstance(raw, dict):
        raise _error("invalid type: expected an object", where)
    for key in raw:
        if key not in allowed:
            raise _error(f"unknown field `{key}`, expected one of {', '.join(f'`{k}`' for k in sorted(allowed))}", where)
    for key in sorted(required):
        if raw.get(key) is None:
            raise _error(f"missing field `{key}`", where)
    return raw


def _lookup(key: str, ctx: Context, defaults: dict) -> Any:
    """The first payload value at ``key``, else the default, else an error."""
    values = values_at(ctx.payload or {}, key)
    if values:
        return values[0]
    if key in defaults and defaults[key] is not None:
        value = defaults[key]
        if isinstance(value, list):
            if not value:
                raise _missing(key)
            return value[0]
        return value
    raise _missing(key)


def _missing(key: str) -> BadInput:
    return BadInput(f"Bad request: No value found in a payload nor defaults for variable {key}")


def _variable(name: str, defaults: dict, where: str) -> Node:
    if name.startswith("$score"):
        match = _SCORE_VAR.match(name)
        if match is None:
            raise _error(f"Invalid score pattern: {name}", where)
        index = int(match.group(1) or 0)
        fallback = defaults.get(name, defaults.get("$score" if index == 0 else f"$score[{index}]"))
        default = float(fallback) if isinstance(fallback, (int, float)) and not isinstance(fallback, bool) else DEFAULT_SCORE

        def score(ctx: Context) -> float:
            if index < len(ctx.scores):
                value = ctx.scores[index].get(ctx.point_id)
                if value is not None:
                    return float(value)
            return default

        return score
    try:
        parse_path(name)
    except BadInput as exc:
        raise _error(str(exc), where) from None

    def payload_number(ctx: Context) -> float:
        value = _lookup(name, ctx, defaults)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadInput(
                f"Bad request: Expected number value for {name} in the payload and/or in the formula defaults"
            )
        return float(value)

    return payload_number


def _sum(parts: list[Node]) -> Node:
    return lambda ctx: math.fsum(part(ctx) for part in parts)


def _mult(parts: list[Node]) -> Node:
    def mult(ctx: Context) -> float:
        product = 1.0
        for part in parts:
            factor = part(ctx)
            if factor == 0.0:
                return 0.0
            product *= factor
        return product

    return mult


def _unary(kind: str, inner: Node) -> Node:
    if kind == "neg":
        return lambda ctx: -inner(ctx)
    if kind == "abs":
        return lambda ctx: abs(inner(ctx))

    def apply(ctx: Context) -> float:
        value = inner(ctx)
        try:
            if kind == "sqrt" and value >= 0:
                return math.sqrt(value)
            if kind == "exp":
                return math.exp(value)
            if kind == "log10" and value > 0:
                return math.log10(value)
            if kind == "ln" and value > 0:
                return math.log(value)
        except OverflowError:
            pass
        label = {"sqrt": f"√{value}"}.get(kind, f"{kind}({value})")
        raise _non_finite(label)

    return apply


def _pow(base: Node, exponent: Node) -> Node:
    def power(ctx: Context) -> float:
        b, e = base(ctx), exponent(ctx)
        if b >= 0 or (b != 0 and float(e).is_integer()):
            try:
                result = math.pow(b, e)
                if math.isfinite(result):
                    return result
            except (OverflowError, ValueError):
                pass
        raise _non_finite(f"{b}^{e}")

    return power


def _parse_div(body: Any, defaults: dict, where: str, state: dict) -> Node:
    obj = _object(body, where, {"left", "right", "by_zero_default"}, {"left", "right"})
    left = _parse(obj["left"], defaults, f"{where}.left", state)
    right = _parse(obj["right"], defaults, f"{where}.right", state)
    raw_default = obj.get("by_zero_default")
    by_zero = None if raw_default is None else _number(raw_default, f"{where}.by_zero_default")

    def div(ctx: Context) -> float:
        numerator = left(ctx)
        if numerator == 0.0:
            return 0.0
        denominator = right(ctx)
        if denominator == 0.0 and by_zero is not None:
            return by_zero
        if denominator != 0.0:
            result = numerator / denominator
            if math.isfinite(result):
                return result
        raise _non_finite(f"{numerator}/{denominator}")

    return div


def _parse_geo(body: Any, defaults: dict, where: str) -> Node:
    obj = _object(body, where, {"origin", "to"}, {"origin", "to"})
    try:
        origin = parse_geo_point(obj["origin"], f"{where}.origin")
    except BadInput as exc:
        raise _error(str(exc), f"{where}.origin") from None
    key = obj["to"]
    if not isinstance(key, str):
        raise _error("invalid type: expected a payload key", f"{where}.to")

    def distance(ctx: Context) -> float:
        point = payload_geo_point(_lookup(key, ctx, defaults))
        if point is None:
            raise BadInput(f"Bad request: Expected geo point for {key} in the payload and/or in the formula defaults")
        lon, lat = point
        return haversine_m(origin.lon, origin.lat, lon, lat)

    return distance


def _parse_datetime_key(body: Any, defaults: dict, where: str) -> Node:
    if not isinstance(body, str):
        raise _error("invalid type: expected a payload key", where)

    def read(ctx: Context) -> float:
        value = _lookup(body, ctx, defaults)
        micros = parse_datetime_micros(value) if isinstance(value, str) else None
        if micros is None:
            raise BadInput(
                f"Bad request: Expected datetime for {body} in the payload and/or in the formula defaults"
            )
        return micros / 1_000_000

    return read


def _parse_decay(kind: str, body: Any, defaults: dict, where: str, state: dict) -> Node:
    obj = _object(body, where, {"x", "target", "scale", "midpoint"}, {"x"})
    x = _parse(obj["x"], defaults, f"{where}.x", state)
    target: Optional[Node] = None
    if obj.get("target") is not None:
        target = _parse(obj["target"], defaults, f"{where}.target", state)
    scale = DEFAULT_DECAY_SCALE if obj.get("scale") is None else _number(obj["scale"], f"{where}.scale")
    midpoint = DEFAULT_DECAY_MIDPOINT if obj.get("midpoint") is None else _number(obj["midpoint"], f"{where}.midpoint")
    if not scale > 0.0:
        raise BadInput(f"Validation error in JSON body: [{where}.scale: Scale must be non-zero positive, got {scale}]")
    if not 0.0 < midpoint < 1.0:
        raise BadInput(
            f"Validation error in JSON body: [{where}.midpoint: Midpoint must be between 0 and 1, got {midpoint}]"
        )

    if kind == "exp_decay":
        factor = math.log(midpoint) / scale
        return lambda ctx: math.exp(factor * abs(x(ctx) - (target(ctx) if target else DEFAULT_DECAY_TARGET)))
    if kind == "gauss_decay":
        factor = math.log(midpoint) / (scale * scale)
        return lambda ctx: math.exp(factor * (x(ctx) - (target(ctx) if target else DEFAULT_DECAY_TARGET)) ** 2)
    factor = (1.0 - midpoint) / scale
    return lambda ctx: max(0.0, 1.0 - factor * abs(x(ctx) - (target(ctx) if target else DEFAULT_DECAY_TARGET)))


__all__ = ["Context", "Formula", "parse_formula"]
