"""Parsing and evaluating formula expressions (``shards.formula``)."""

from __future__ import annotations

import math

import pytest

from consensus.errors import BadInput
from shards.formula import Context, parse_formula


def ev(raw, payload=None, scores=None, defaults=None, pid=1):
    return parse_formula(raw, defaults).evaluate(Context(point_id=pid, payload=payload or {}, scores=scores or [{}]))


def test_constants_variables_and_arithmetic():
    assert ev(3) == 3.0
    assert ev("$score", scores=[{1: 0.25}]) == 0.25
    assert ev("$score[1]", scores=[{1: 0.25}, {1: 0.5}]) == 0.5
    assert ev("$score[1]", scores=[{1: 0.25}]) == 0.0
    assert ev("$score[0]", scores=[{}], defaults={"$score[0]": 0.7}) == 0.7
    assert ev({"sum": ["x", {"mult": [2, "y"]}]}, payload={"x": [1.5, 9], "y": 3}) == 7.5
    assert ev({"div": {"left": 1, "right": 0, "by_zero_default": 5}}) == 5
    assert ev({"neg": {"abs": -2}}) == -2
    assert ev({"pow": {"base": 2, "exponent": 10}}) == 1024
    assert ev({"sqrt": 16}) == 4
    assert ev({"ln": {"exp": 2}}) == pytest.approx(2)
    assert ev({"log10": 1000}) == pytest.approx(3)
    assert ev("n", defaults={"n": 4}) == 4
    assert ev({"datetime": "1970-01-02T00:00:00Z"}) == 86400
    assert ev({"datetime_key": "t"}, payload={"t": "1970-01-01T00:01:00Z"}) == 60


def test_condition_and_decays():
    cond = {"key": "tag", "match": {"value": "a"}}
    assert ev(cond, payload={"tag": "a"}) == 1.0
    assert ev(cond, payload={"tag": "b"}) == 0.0
    assert ev({"exp_decay": {"x": 2, "scale": 4}}) == pytest.approx(math.exp(math.log(0.5) * 2 / 4))
    assert ev({"gauss_decay": {"x": 3, "target": 1, "scale": 4, "midpoint": 0.3}}) == pytest.approx(
        math.exp(math.log(0.3) * (2 / 4) ** 2)
    )
    assert ev({"lin_decay": {"x": 5, "scale": 2}}) == 0.0
    assert ev({"lin_decay": {"x": 1, "scale": 4}}) == pytest.approx(1 - 0.5 / 4)
    geo = {"geo_distance": {"origin": {"lon": 0, "lat": 0}, "to": "loc"}}
    assert ev(geo, payload={"loc": {"lon": 0, "lat": 1}}) == pytest.approx(111195.08, rel=1e-5)


@pytest.mark.parametrize(
    "raw",
    [None, True, [1], "$score[a]", {"pow": {"base": 1}}, {"div": {"left": 1}}, {"exp_decay": {"x": 1, "scale": 0}},
     {"lin_decay": {"x": 1, "midpoint": 1}}, {"datetime": "yesterday"}, {"unknown": 1}, {"geo_distance": {"to": "x"}}],
)
def test_malformed_expressions(raw):
    with pytest.raises(BadInput):
        parse_formula(raw)


@pytest.mark.parametrize(
    ("raw", "payload", "fragment"),
    [
        ("price", {}, "No value found in a payload nor defaults for variable price"),
        ("price", {"price": "cheap"}, "Expected number value for price"),
        ({"div": {"left": 1, "right": 0}}, {}, "1.0/0.0 produced a non-finite number"),
        ({"sqrt": -1}, {}, "non-finite"),
        ({"ln": 0}, {}, "non-finite"),
        ({"datetime_key": "t"}, {"t": 5}, "Expected datetime for t"),
    ],
)
def test_evaluation_errors(raw, payload, fragment):
    with pytest.raises(BadInput) as info:
        ev(raw, payload=payload)
    assert fragment in str(info.value)
