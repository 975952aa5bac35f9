"""Payload indexes: schema parsing, maintenance, candidate sets and ordering."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import BadInput
from shards.filters import Filter, parse_filter
from shards.payload_index import FieldSchema, PayloadIndexes, parse_field_schema


def no_vectors(name: str) -> bool:
    return False


def brute_force(filter: Filter | None, payloads: dict[int, dict]) -> set[int]:
    if filter is None:
        return set(payloads)
    return {offset for offset, payload in payloads.items() if filter.matches(offset, payload, no_vectors)}


def build(schemas: dict[str, Any], payloads: dict[int, dict]) -> PayloadIndexes:
    indexes = PayloadIndexes()
    for field, raw in schemas.items():
        indexes.create(field, parse_field_schema(raw))
    for offset, payload in payloads.items():
        indexes.add(offset, payload)
    return indexes


def candidate_set(indexes: PayloadIndexes, raw_filter: Any) -> set[int] | None:
    found = indexes.candidates(parse_filter(raw_filter))
    if found is None:
        return None
    assert found.dtype == np.int64
    assert np.all(np.diff(found) > 0), "candidates must be sorted and unique"
    return set(found.tolist())


# --------------------------------------------------------------------------- schemas


class TestFieldSchema:
    @pytest.mark.parametrize("name", ["keyword", "integer", "float", "bool", "geo", "datetime", "text", "uuid"])
    def test_short_form(self, name: str) -> None:
        schema = parse_field_schema(name)
        assert schema == FieldSchema(data_type=name)
        assert schema.to_json(points=3) == {"data_type": name, "points": 3}
        assert schema.to_request_json() == name

    def test_object_form_echoes_params(self) -> None:
        schema = parse_field_schema({"type": "keyword", "is_tenant": True, "on_disk": None})
        assert schema.to_json(points=2) == {
            "data_type": "keyword",
            "params": {"type": "keyword", "is_tenant": True},
            "points": 2,
        }
        assert parse_field_schema(schema.to_request_json()) == schema
        assert parse_field_schema(schema.to_spec()) == schema

    def test_text_params(self) -> None:
        schema = parse_field_schema(
            {"type": "text", "min_token_len": 2, "max_token_len": 10, "lowercase": False, "stopwords": "english"}
        )
        assert schema.params is not None and schema.params["tokenizer"] == "word"
        config = schema.tokenizer_config()
        assert config.min_token_len == 2 and config.max_token_len == 10 and not config.lowercase

    def test_integer_params(self) -> None:
        schema = parse_field_schema({"type": "integer", "lookup": False, "range": True, "is_principal": True})
        assert schema.param("lookup") is False

    @pytest.mark.parametrize(
        "raw",
        [
            "string",
            5,
            None,
            {"type": "vector"},
            {"is_tenant": True},
            {"type": "keyword", "tokenizer": "word"},
            {"type": "keyword", "is_tenant": "yes"},
            {"type": "integer", "lookup": False, "range": False},
            {"type": "text", "tokenizer": "letters"},
            {"type": "text", "min_token_len": -1},
            {"type": "text", "min_token_len": 5, "max_token_len": 2},
            {"type": "text", "stopwords": "klingon"},
            {"type": "text", "stemmer": {"type": "snowball", "language": "klingon"}},
            {"type": "geo", "memory": "somewhere"},
        ],
    )
    def test_invalid(self, raw: Any) -> None:
        with pytest.raises(BadInput):
            parse_field_schema(raw)


# --------------------------------------------------------------------------- maintenance


class TestMaintenance:
    def test_schema_json_counts_points_with_indexed_values(self) -> None:
        indexes = build(
            {"city": "keyword", "n": "integer"},
            {0: {"city": "Berlin", "n": 1}, 1: {"city": ["Paris", "Rome"]}, 2: {"city": 5, "n": "x"}, 3: {}},
        )
        assert indexes.schema_json() == {
            "city": {"data_type": "keyword", "points": 2},
            "n": {"data_type": "integer", "points": 1},
        }

    def test_remove_then_add_updates(self) -> None:
        indexes = build({"city": "keyword"}, {0: {"city": "Berlin"}, 1: {"city": "Berlin"}})
        query = {"must": [{"key": "city", "match": {"value": "Berlin"}}]}
        assert candidate_set(indexes, query) == {0, 1}
        indexes.remove(0, {"city": "Berlin"})
        indexes.add(0, {"city": "Paris"})
        assert candidate_set(indexes, query) == {1}
        indexes.add(1, {"city": "Rome"})  # add without remove replaces
        assert candidate_set(indexes, query) == set()
        indexes.remove(1)
        assert indexes.schema_json()["city"]["points"] == 1

    def test_create_backfills_and_drop_forgets(self) -> None:
        payloads = {0: {"a": "x"}, 1: {"a": "y"}}
        indexes = PayloadIndexes()
        indexes.create("a", parse_field_schema("keyword"), payloads.items())
        assert candidate_set(indexes, {"must": [{"key": "a", "match": {"value": "y"}}]}) == {1}
        assert list(indexes.fields()) == ["a"]
        indexes.create("b", parse_field_schema("integer"))
        indexes.add_field("b", 1, {"b": 4})
        assert candidate_set(indexes, {"must": [{"key": "b", "match": {"value": 4}}]}) == {1}
        indexes.drop("b")
        indexes.drop("a")
        assert indexes.fields() == {}
        assert indexes.candidates(parse_filter({"must": [{"key": "a", "match": {"value": "y"}}]})) is None
        indexes.drop("never-indexed")


# --------------------------------------------------------------------------- candidates


class TestCandidates:
    PAYLOADS = {
        0: {"city": "Berlin", "n": 1, "price": 10.5, "ok": True, "at": "2024-01-01T00:00:00Z"},
        1: {"city": ["Paris", "Berlin"], "n": [2, 3], "price": 3, "ok": False, "at": "2024-02-01"},
        2: {"city": "Rome", "n": 3.5, "price": "cheap", "ok": "yes", "at": 1700000000},
        3: {"city": 7, "n": 10, "price": 99.0, "at": "2024-03-01T00:00:00+01:00"},
        4: {},
    }
    SCHEMAS = {"city": "keyword", "n": "integer", "price": "float", "ok": "bool", "at": "datetime"}

    @pytest.fixture
    def indexes(self) -> PayloadIndexes:
        return build(self.SCHEMAS, self.PAYLOADS)

    def check(self, indexes: PayloadIndexes, raw_filter: Any) -> set[int] | None:
        found = candidate_set(indexes, raw_filter)
        expected = brute_force(parse_filter(raw_filter), self.PAYLOADS)
        if found is not None:
            assert expected <= found
        return found

    def test_keyword(self, indexes: PayloadIndexes) -> None:
        assert self.check(indexes, {"must": [{"key": "city", "match": {"value": "Berlin"}}]}) == {0, 1, 3}
        assert self.check(indexes, {"must": [{"key": "city", "match": {"any": ["Rome", "Paris"]}}]}) == {1, 2, 3}
        assert self.check(indexes, {"must": [{"key": "city", "match": {"prefix": "Ro"}}]}) == {2, 3}

    def test_integer(self, indexes: PayloadIndexes) -> None:
        # point 2 holds a float (not indexed): it stays a candidate for ranges
        assert self.check(indexes, {"must": [{"key": "n", "range": {"gte": 3}}]}) == {1, 2, 3}
        assert self.check(indexes, {"must": [{"key": "n", "match": {"value": 3}}]}) == {1, 2}
        assert self.check(indexes, {"must": [{"key": "n", "match": {"except": [1, 2, 3]}}]}) == {2, 3}

    def test_float_bool_datetime(self, indexes: PayloadIndexes) -> None:
        assert self.check(indexes, {"must": [{"key": "price", "range": {"lt": 11}}]}) == {0, 1, 2}
        assert self.check(indexes, {"must": [{"key": "ok", "match": {"value": True}}]}) == {0, 2}
        found = self.check(indexes, {"must": [{"key": "at", "range": {"gte": "2024-01-15", "lt": "2024-03-01"}}]})
        assert found == {1, 2, 3}

    def test_combinations(self, indexes: PayloadIndexes) -> None:
        berlin = {"key": "city", "match": {"value": "Berlin"}}
        cheap = {"key": "price", "range": {"lt": 5}}
        unindexed = {"key": "other", "match": {"value": 1}}
        assert self.check(indexes, {"must": [berlin, cheap]}) == {1}
        assert self.check(indexes, {"should": [berlin, cheap]}) == {0, 1, 2, 3}
        assert self.check(indexes, {"must": [berlin], "should": [cheap, unindexed]}) == {0, 1, 3}
        assert self.check(indexes, {"must_not": [berlin]}) is None
        assert self.check(indexes, {"must": [unindexed]}) is None
        assert self.check(indexes, {"must": [{"has_id": [1]}]}) is None
        assert self.check(indexes, {"must": [{"must": [berlin]}, {"should": [cheap]}]}) == {1}
        min_should = {"min_should": {"conditions": [berlin, cheap, {"key": "ok", "match": {"value": True}}], "min_count": 2}}
        assert self.check(indexes, min_should) == {0, 1, 2}
        assert indexes.estimate(parse_filter({"must": [berlin, cheap]})) == 1
        assert indexes.estimate(parse_filter({"must": [unindexed]})) is None
        assert indexes.candidates(None) is None

    def test_nested_uses_array_field_indexes(self) -> None:
        payloads = {
            0: {"cities": [{"name": "Berlin", "pop": 3.7}, {"name": "Munich", "pop": 1.5}]},
            1: {"cities": [{"name": "Tokyo", "pop": 13.5}]},
            2: {"cities": {"name": "Berlin"}},
        }
        indexes = build({"cities[].name": "keyword"}, payloads)
        nested = {
            "must": [
                {"nested": {"key": "cities", "filter": {"must": [{"key": "name", "match": {"value": "Berlin"}}]}}}
            ]
        }
        assert candidate_set(indexes, nested) == {0}
        assert brute_force(parse_filter(nested), payloads) == {0}

    def test_uuid_index_compares_as_uuids(self) -> None:
        upper = "550E8400-E29B-41D4-A716-446655440000"
        indexes = build({"u": "uuid"}, {0: {"u": upper.lower()}, 1: {"u": "not-a-uuid"}, 2: {"u": upper}})
        assert candidate_set(indexes, {"must": [{"key": "u", "match": {"value": upper.lower()}}]}) == {0, 1, 2}
        assert candidate_set(indexes, {"must": [{"key": "u", "match": {"value": "zzz"}}]}) == {1}

    def test_geo(self) -> None:
        payloads = {
            0: {"loc": {"lon": 13.404954, "lat": 52.520008}},
            1: {"loc": {"lon": 37.617298, "lat": 55.755825}},
            2: {"loc": [{"lon": 2.35, "lat": 48.85}, {"lon": 13.41, "lat": 52.52}]},
            3: {"loc": {"lon": 500, "lat": 0}},
        }
        indexes = build({"loc": "geo"}, payloads)
        radius = {"must": [{"key": "loc", "geo_radius": {"center": {"lon": 13.4, "lat": 52.52}, "radius": 5000}}]}
        assert candidate_set(indexes, radius) == {0, 2, 3}
        assert brute_force(parse_filter(radius), payloads) == {0, 2}
        box = {"top_left": {"lon": 0, "lat": 60}, "bottom_right": {"lon": 20, "lat": 40}}
        assert candidate_set(indexes, {"must": [{"key": "loc", "geo_bounding_box": box}]}) == {0, 2, 3}
        ring = [{"lon": 30, "lat": 50}, {"lon": 40, "lat": 50}, {"lon": 40, "lat": 60}, {"lon": 30, "lat": 60}]
        polygon = {"exterior": {"points": [*ring, ring[0]]}}
        assert candidate_set(indexes, {"must": [{"key": "loc", "geo_polygon": polygon}]}) == {1, 3}
        assert indexes.schema_json()["loc"]["points"] == 3


class TestText:
    PAYLOADS = {
        0: {"t": "The quick brown fox"},
        1: {"t": "quick-thinking Foxes"},
        2: {"t": ["lazy dog", "brown FOX jumps"]},
        3: {"t": 42},
    }

    def test_word_index(self) -> None:
        indexes = build({"t": "text"}, self.PAYLOADS)
        query = {"must": [{"key": "t", "match": {"text": "brown fox"}}]}
        assert candidate_set(indexes, query) == {0, 2, 3}
        assert brute_force(parse_filter(query), self.PAYLOADS) == {0, 2}
        any_query = {"must": [{"key": "t", "match": {"text_any": "dog thinking"}}]}
        assert candidate_set(indexes, any_query) == {1, 2, 3}
        phrase = {"must": [{"key": "t", "match": {"phrase": "quick brown"}}]}
        assert candidate_set(indexes, phrase) == {0, 3}

    def test_prefix_index_binds_prefix_semantics(self) -> None:
        indexes = build({"t": {"type": "text", "tokenizer": "prefix"}}, self.PAYLOADS)
        query = parse_filter({"must": [{"key": "t", "match": {"text": "quic bro"}}]})
        assert brute_force(query, self.PAYLOADS) == set()  # default tokens: whole words
        bound = indexes.bind_text(query)
        assert brute_force(bound, self.PAYLOADS) == {0}
        assert set(indexes.candidates(bound).tolist()) >= {0}

    def test_whitespace_index_only_used_when_bound(self) -> None:
        indexes = build({"t": {"type": "text", "tokenizer": "whitespace", "lowercase": False}}, self.PAYLOADS)
        query = parse_filter({"must": [{"key": "t", "match": {"text": "quick"}}]})
        assert indexes.candidates(query) is None  # not a superset of default-token matches
        bound = indexes.bind_text(query)
        assert set(indexes.candidates(bound).tolist()) == {0, 3}
        assert brute_force(bound, self.PAYLOADS) == {0}

    def test_bind_leaves_other_conditions(self) -> None:
        indexes = build({"t": "text"}, self.PAYLOADS)
        query = parse_filter({"must": [{"key": "x", "match": {"text": "a"}}, {"key": "t", "match": {"value": "a"}}]})
        assert indexes.bind_text(query) == query
        assert indexes.bind_text(None) is None


class TestOrderBy:
    def test_integer_and_float(self) -> None:
        payloads = {0: {"n": 5}, 1: {"n": [1, 9]}, 2: {"n": 3.5}, 3: {"n": "x"}}
        indexes = build({"n": "integer", "f": "float"}, payloads)
        assert list(indexes.order_by("n")) == [(1.0, 1), (5.0, 0), (9.0, 1)]
        assert list(indexes.order_by("n", descending=True, start_from=5)) == [(5.0, 0), (1.0, 1)]
        assert list(indexes.order_by("n", start_from=2)) == [(5.0, 0), (9.0, 1)]
        indexes.add(4, {"f": 2.5, "n": 0})
        assert list(indexes.order_by("f")) == [(2.5, 4)]
        assert list(indexes.order_by("n"))[0] == (0.0, 4)

    def test_datetime_in_epoch_seconds(self) -> None:
        indexes = build({"at": "datetime"}, {0: {"at": "1970-01-02"}, 1: {"at": "1970-01-01T00:00:01.5Z"}})
        assert list(indexes.order_by("at")) == [(1.5, 1), (86400.0, 0)]
        assert list(indexes.order_by("at", descending=True, start_from=100.0)) == [(1.5, 1)]

    def test_range_capability(self) -> None:
        indexes = build(
            {"i": "integer", "lookup_only": {"type": "integer", "range": False}, "f": "float", "d": "datetime", "k": "keyword"},
            {},
        )
        assert indexes.is_range_capable("i") and indexes.is_range_capable("f") and indexes.is_range_capable("d")
        assert not indexes.is_range_capable("lookup_only")
        assert not indexes.is_range_capable("k") and not indexes.is_range_capable("missing")
        with pytest.raises(BadInput):
            indexes.order_by("k")


# --------------------------------------------------------------------------- property: superset

SCHEMAS = {
    "kw": "keyword",
    "num": "integer",
    "fl": "float",
    "flag": "bool",
    "dt": "datetime",
    "geo": "geo",
    "txt": "text",
    "items[].name": "keyword",
}

scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([-1.5, 0.0, 2.0, 2.5]),
    st.sampled_from(["a", "b", "ab", "x y", "A b", "2024-01-01", "2024-06-01T12:00:00Z"]),
    st.sampled_from([{"lon": 1.0, "lat": 1.0}, {"lon": -1.0, "lat": 0.5}, {"lon": 200.0, "lat": 0.0}]),
)
field_value = st.one_of(scalar, st.lists(scalar, max_size=3))
item = st.fixed_dictionaries({}, optional={"name": field_value, "n": field_value})
payload_strategy = st.fixed_dictionaries(
    {},
    optional={
        "kw": field_value,
        "num": field_value,
        "fl": field_value,
        "flag": field_value,
        "dt": field_value,
        "geo": field_value,
        "txt": field_value,
        "items": st.one_of(st.lists(item, max_size=3), item),
    },
)

match_strategy = st.one_of(
    st.builds(lambda v: {"value": v}, st.one_of(st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", "ab"]))),
    st.builds(lambda v: {"any": v}, st.one_of(st.lists(st.sampled_from(["a", "b"]), unique=True), st.lists(st.integers(-3, 3), unique=True))),
    st.builds(lambda v: {"except": v}, st.one_of(st.lists(st.sampled_from(["a", "b"]), unique=True), st.lists(st.integers(-3, 3), unique=True))),
    st.builds(lambda v: {"text": v}, st.sampled_from(["a", "x", "b y", "", "ab"])),
    st.builds(lambda v: {"text_any": v}, st.sampled_from(["a", "x y"])),
    st.builds(lambda v: {"phrase": v}, st.sampled_from(["x y", "a b"])),
    st.builds(lambda v: {"prefix": v}, st.sampled_from(["a", "2024"])),
)
bound = st.one_of(st.none(), st.sampled_from([-2, 0, 1.5, 2]))
range_strategy = st.one_of(
    st.builds(lambda a, b: {"gte": a, "lt": b}, bound, bound),
    st.builds(lambda a, b: {"gt": a, "lte": b}, bound, bound),
    st.builds(lambda a: {"gte": a}, st.sampled_from(["2024-01-01", "2024-03-01T00:00:00Z"])),
)
geo_strategy = st.sampled_from(
    [
        {"geo_radius": {"center": {"lon": 1.0, "lat": 1.0}, "radius": 1000.0}},
        {"geo_bounding_box": {"top_left": {"lon": -2, "lat": 2}, "bottom_right": {"lon": 0, "lat": 0}}},
    ]
)
keys = st.sampled_from(["kw", "num", "fl", "flag", "dt", "geo", "txt", "unindexed"])


def field_condition(key: str, kind: str, body: Any) -> dict:
    if kind == "geo":
        return {"key": key, **body}
    return {"key": key, kind: body}


leaf = st.one_of(
    st.builds(field_condition, keys, st.just("match"), match_strategy),
    st.builds(field_condition, keys, st.just("range"), range_strategy),
    st.builds(field_condition, keys, st.just("geo"), geo_strategy),
    st.builds(lambda m: {"nested": {"key": "items", "filter": {"must": [{"key": "name", "match": m}]}}}, match_strategy),
    st.builds(lambda k: {"is_empty": {"key": k}}, keys),
)
conditions = st.recursive(
    leaf,
    lambda inner: st.builds(
        lambda must, should, must_not: {"must": must, "should": should, "must_not": must_not},
        st.lists(inner, max_size=2),
        st.lists(inner, max_size=2),
        st.lists(inner, max_size=1),
    ),
    max_leaves=5,
)
filters = st.builds(
    lambda must, should, min_should: {
        "must": must,
        "should": should,
        **({"min_should": {"conditions": min_should, "min_count": 1 + len(min_should) // 2}} if min_should else {}),
    },
    st.lists(conditions, max_size=3),
    st.lists(conditions, max_size=2),
    st.lists(conditions, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    payloads=st.lists(payload_strategy, max_size=12),
    updates=st.lists(st.tuples(st.integers(0, 11), payload_strategy), max_size=4),
    raw_filter=filters,
)
def test_candidates_are_a_superset_of_matches(
    payloads: list[dict], updates: list[tuple[int, dict]], raw_filter: dict
) -> None:
    stored = dict(enumerate(payloads))
    indexes = build(SCHEMAS, stored)
    for offset, payload in updates:
        if offset in stored:
            indexes.remove(offset, stored[offset])
        indexes.add(offset, payload)
        stored[offset] = payload
    parsed = parse_filter(raw_filter)
    for query in (parsed, indexes.bind_text(parsed)):
        found = indexes.candidates(query)
        expected = brute_force(query, stored)
        if found is not None:
            assert expected <= set(found.tolist())
            assert indexes.estimate(query) >= len(expected)


def test_catalog_skips_index_entries_a_shard_cannot_build() -> None:
    """An invalid entry in replicated metadata (from an older version) is skipped, not fatal."""
    from node.catalog import _usable_indexes

    stored = {"city": "keyword", "a..b": "keyword", "n": {"type": "integer", "range": True}, "x": "nonsense"}
    assert _usable_indexes("c", stored) == {"city": "keyword", "n": {"type": "integer", "range": True}}
