"""Filters: key paths, parsing of the REST JSON, and Qdrant's matching semantics."""

from __future__ import annotations

import copy
import pickle
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import BadInput
from shards.conditions import parse_datetime_micros, point_id_hash, siphash24
from shards.filters import (
    FieldCondition,
    Filter,
    MatchValue,
    count_conditions,
    parse_condition,
    parse_filter,
)
from shards.payload_path import (
    WILDCARD,
    is_empty_at,
    is_null_at,
    key_exists,
    parse_path,
    path_to_str,
    raw_values_at,
    values_at,
)


def no_vectors(name: str) -> bool:
    return False


def matches(raw_filter: Any, payload: dict, point_id: Any = 1, vectors: tuple[str, ...] = ()) -> bool:
    parsed = parse_filter(raw_filter)
    assert parsed is not None
    return parsed.matches(point_id, payload, lambda name: name in vectors)


def must(condition: dict) -> dict:
    return {"must": [condition]}


# --------------------------------------------------------------------------- paths


class TestPayloadPath:
    def test_parse_steps(self) -> None:
        assert parse_path("a") == ("a",)
        assert parse_path("a.b-c_d") == ("a", "b-c_d")
        assert parse_path("a[].b") == ("a", WILDCARD, "b")
        assert parse_path("a[3][]") == ("a", 3, WILDCARD)
        assert parse_path('"x.y".z') == ("x.y", "z")
        assert parse_path('a."b c"') == ("a", "b c")

    @pytest.mark.parametrize("bad", ["", ".a", "a.", "a..b", "[0]", "a[x]", "a[", "a b", '"open', "a]"])
    def test_invalid_paths(self, bad: str) -> None:
        with pytest.raises(BadInput):
            parse_path(bad)

    def test_path_round_trip(self) -> None:
        for path in ["a", "a.b", "a[].b", "a[2]", '"x.y".z', 'a."b c"[]']:
            assert path_to_str(parse_path(path)) == path

    def test_values(self) -> None:
        payload = {
            "a": {"b": [{"c": 1}, {"c": 2}, {"d": {"e": 3}}]},
            "arr": [{"x": [1, 2, 3]}, {"x": 4}, {"y": 5}],
            "g": ["g0", "g1"],
        }
        assert raw_values_at(payload, "a.b[].c") == [1, 2]
        assert raw_values_at(payload, "a.b[2].d.e") == [3]
        assert raw_values_at(payload, "a.b[9]") == []
        assert raw_values_at(payload, "arr[].x") == [[1, 2, 3], 4]
        assert values_at(payload, "arr[].x") == [1, 2, 3, 4]
        assert raw_values_at(payload, "arr[].x[]") == [1, 2, 3]
        assert values_at(payload, "g") == ["g0", "g1"]
        assert raw_values_at(payload, "g") == [["g0", "g1"]]
        # a key step does not look into arrays, an index step does not look into objects
        assert raw_values_at(payload, "a.b.c") == []
        assert raw_values_at(payload, "a[0]") == []
        assert raw_values_at(payload, "missing.deeper") == []

    def test_empty_and_null(self) -> None:
        payload = {"n": None, "e": [], "l": [None], "v": 1, "o": [{"k": None}, {"k": 1}]}
        assert is_empty_at(payload, "n") and is_empty_at(payload, "e") and is_empty_at(payload, "nope")
        assert not is_empty_at(payload, "l") and not is_empty_at(payload, "v")
        assert is_null_at(payload, "n")
        assert is_null_at(payload, "l")  # an array holding null is null (Qdrant >= 1.19.1)
        assert is_null_at(payload, "l[]")
        assert is_null_at(payload, "o[].k")
        assert not is_null_at(payload, "nope") and not is_null_at(payload, "e")
        assert key_exists(payload, "n") and not key_exists(payload, "nope")


# --------------------------------------------------------------------------- parsing


class TestParsing:
    def test_none_and_empty_mean_no_filter(self) -> None:
        assert parse_filter(None) is None
        assert parse_filter({}) is None
        assert parse_filter({"must": [], "should": None}) is None

    def test_single_condition_or_list(self) -> None:
        single = parse_filter({"must": {"key": "a", "match": {"value": 1}}})
        listed = parse_filter({"must": [{"key": "a", "match": {"value": 1}}]})
        assert single == listed
        assert single is not None and single.must == (FieldCondition(key="a", match=MatchValue(1)),)

    @pytest.mark.parametrize(
        "raw",
        [
            [],
            "must",
            {"must": [{"unknown": 1}]},
            {"must": [{"key": "a"}]},
            {"must": [{"key": 3, "match": {"value": 1}}]},
            {"must": [{"key": "a b", "match": {"value": 1}}]},
            {"bogus": []},
            {"must": [{"key": "a", "match": {"value": 1.5}}]},
            {"must": [{"key": "a", "match": {"value": None}}]},
            {"must": [{"key": "a", "match": {"value": 1, "any": [1]}}]},
            {"must": [{"key": "a", "match": {"any": [1, "x"]}}]},
            {"must": [{"key": "a", "match": {"any": "x"}}]},
            {"must": [{"key": "a", "match": {"except": [True]}}]},
            {"must": [{"key": "a", "match": {"text": 5}}]},
            {"must": [{"key": "a", "match": {"fuzzy": "x"}}]},
            {"must": [{"key": "a", "match": {"value": 2**70}}]},
            {"must": [{"key": "a", "range": {"gt": "soon"}}]},
            {"must": [{"key": "a", "range": {"gt": 1, "lt": "2024-01-01"}}]},
            {"must": [{"key": "a", "range": {"gt": True}}]},
            {"must": [{"key": "a", "range": {"above": 1}}]},
            {"must": [{"key": "a", "range": [1, 2]}]},
            {"must": [{"key": "a", "values_count": {"gt": -1}}]},
            {"must": [{"key": "a", "is_empty": "yes"}]},
            {"must": [{"key": "a", "geo_radius": {"center": {"lon": 0, "lat": 95}, "radius": 1}}]},
            {"must": [{"key": "a", "geo_radius": {"center": {"lon": 0, "lat": 0}}}]},
            {"must": [{"key": "a", "geo_bounding_box": {"top_left": {"lon": 0, "lat": 0}}}]},
            {"must": [{"key": "a", "geo_polygon": {"exterior": {"points": [{"lon": 0, "lat": 0}] * 3}}}]},
            {
                "must": [
                    {
                        "key": "a",
                        "geo_polygon": {
                            "exterior": {
                                "points": [
                                    {"lon": 0, "lat": 0},
                                    {"lon": 1, "lat": 0},
                                    {"lon": 1, "lat": 1},
                                    {"lon": 0, "lat": 1},
                                ]
                            }
                        },
                    }
                ]
            },
            {"must": [{"has_id": [-1]}]},
            {"must": [{"has_id": ["not-a-uuid"]}]},
            {"must": [{"has_id": 5}]},
            {"must": [{"has_vector": 5}]},
            {"must": [{"is_empty": "a"}]},
            {"must": [{"nested": {"key": "a"}}]},
            {"must": [{"nested": {"key": "a", "filter": {"must": [{"nope": 1}]}}}]},
            {"min_should": {"conditions": [], "min_count": 0}},
            {"min_should": {"conditions": {}, "min_count": 1}},
            {"must": [{"slice": {"index": 2, "total": 2}}]},
        ],
    )
    def test_malformed_input_raises_bad_input(self, raw: Any) -> None:
        with pytest.raises(BadInput):
            parse_filter(raw)

    def test_error_names_the_problem(self) -> None:
        with pytest.raises(BadInput, match=r"must\[0\].*'price'.*range\.gt"):
            parse_filter({"must": [{"key": "price", "range": {"gt": "x"}}]})

    def test_nulls_are_absent(self) -> None:
        raw = {"must": [{"key": "a", "match": {"value": "x"}, "range": None, "geo_radius": None}]}
        parsed = parse_filter(raw)
        assert parsed is not None and parsed.must[0] == FieldCondition(key="a", match=MatchValue("x"))

    def test_has_id_normalizes_uuids(self) -> None:
        raw_uuid = "550E8400-E29B-41D4-A716-446655440000"
        assert matches(must({"has_id": [raw_uuid]}), {}, point_id=str(uuid.UUID(raw_uuid)))

    def test_json_round_trip(self) -> None:
        raw = {
            "must": [
                {"key": "a", "match": {"any": ["x", "y"]}},
                {"key": "d", "range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01"}},
                {"key": "g", "geo_radius": {"center": {"lon": 1.0, "lat": 2.0}, "radius": 5.0}},
                {"nested": {"key": "items", "filter": {"must": [{"key": "n", "values_count": {"gt": 1}}]}}},
                {"slice": {"index": 0, "total": 2}},
            ],
            "should": [{"has_vector": "image"}, {"is_empty": {"key": "z"}}],
            "must_not": [{"has_id": [1, "550e8400-e29b-41d4-a716-446655440000"]}, {"key": "t", "match": {"text": "hi"}}],
            "min_should": {"conditions": [{"is_null": {"key": "q"}}, {"key": "b", "is_empty": False}], "min_count": 1},
        }
        parsed = parse_filter(raw)
        assert parsed is not None
        assert parse_filter(parsed.to_json()) == parsed

    def test_pickle_and_copy_after_use(self) -> None:
        parsed = parse_filter(must({"key": "a", "match": {"value": "x"}}))
        assert parsed is not None
        assert parsed.matches(1, {"a": "x"}, no_vectors)
        for clone in (pickle.loads(pickle.dumps(parsed)), copy.deepcopy(parsed)):
            assert clone == parsed
            assert clone.matches(1, {"a": "x"}, no_vectors)

    def test_count_conditions(self) -> None:
        parsed = parse_filter(
            {
                "must": [{"key": "a", "match": {"value": 1}}, {"must": [{"has_id": [1]}, {"has_vector": "v"}]}],
                "should": [{"nested": {"key": "n", "filter": {"must": [{"is_empty": {"key": "x"}}]}}}],
                "min_should": {"conditions": [{"is_null": {"key": "y"}}], "min_count": 1},
            }
        )
        assert count_conditions(parsed) == 5
        assert count_conditions(None) == 0


# --------------------------------------------------------------------------- matching


class TestMatch:
    def test_keyword(self) -> None:
        f = must({"key": "color", "match": {"value": "red"}})
        assert matches(f, {"color": "red"})
        assert matches(f, {"color": ["blue", "red"]})
        assert not matches(f, {"color": "Red"})
        assert not matches(f, {"color": ["blue"]})
        assert not matches(f, {})

    def test_integer_matches_integers_only(self) -> None:
        f = must({"key": "n", "match": {"value": 1}})
        assert matches(f, {"n": 1}) and matches(f, {"n": [3, 1]})
        assert not matches(f, {"n": 1.0})
        assert not matches(f, {"n": True})
        assert not matches(f, {"n": "1"})

    def test_bool_matches_bools_only(self) -> None:
        f = must({"key": "b", "match": {"value": True}})
        assert matches(f, {"b": True}) and matches(f, {"b": [False, True]})
        assert not matches(f, {"b": 1})
        assert not matches(must({"key": "b", "match": {"value": False}}), {"b": 0})

    def test_any(self) -> None:
        assert matches(must({"key": "k", "match": {"any": ["a", "b"]}}), {"k": "b"})
        assert matches(must({"key": "k", "match": {"any": [1, 2]}}), {"k": [5, 2]})
        assert not matches(must({"key": "k", "match": {"any": [1, 2]}}), {"k": 1.0})
        assert not matches(must({"key": "k", "match": {"any": []}}), {"k": "a"})

    def test_except(self) -> None:
        f = must({"key": "k", "match": {"except": ["a", "b"]}})
        assert matches(f, {"k": "c"})
        assert matches(f, {"k": ["a", "c"]})
        assert not matches(f, {"k": ["a", "b"]})
        assert not matches(f, {"k": "a"})
        assert not matches(f, {})  # missing field
        assert not matches(f, {"k": None})
        assert not matches(f, {"k": []})
        assert matches(f, {"k": 5})  # other types are "not in" the list
        assert matches(must({"key": "k", "match": {"except": [1]}}), {"k": 1.0})
        assert not matches(must({"key": "k", "match": {"except": [1]}}), {"k": 1})

    def test_prefix(self) -> None:
        f = must({"key": "k", "match": {"prefix": "ab"}})
        assert matches(f, {"k": "abc"}) and matches(f, {"k": ["x", "ab"]})
        assert not matches(f, {"k": "Abc"}) and not matches(f, {"k": 12})

    def test_text_tokens(self) -> None:
        f = must({"key": "t", "match": {"text": "Quick fox"}})
        assert matches(f, {"t": "the quick brown fox"})
        assert matches(f, {"t": "FOX, quick!"})
        assert not matches(f, {"t": "the quick brown dog"})
        assert not matches(f, {"t": "quickly foxes"})  # tokens, not substrings
        assert not matches(f, {"t": 5})

    def test_text_any_and_phrase(self) -> None:
        assert matches(must({"key": "t", "match": {"text_any": "cat fox"}}), {"t": "a fox"})
        assert not matches(must({"key": "t", "match": {"text_any": "cat fox"}}), {"t": "a dog"})
        phrase = must({"key": "t", "match": {"phrase": "brown fox"}})
        assert matches(phrase, {"t": "the quick Brown fox"})
        assert not matches(phrase, {"t": "the brown quick fox"})
        assert not matches(phrase, {"t": "fox brown"})

    def test_substring(self) -> None:
        f = must({"key": "k", "match": {"substring": "rli"}})
        assert matches(f, {"k": "Berlin"}) and matches(f, {"k": ["x", "merlin"]})
        assert not matches(f, {"k": "BERLIN"}) and not matches(f, {"k": 5})

    def test_queries_without_tokens_match_nothing(self) -> None:
        for kind in ("text", "phrase", "text_any"):
            assert not matches(must({"key": "t", "match": {kind: " ,. "}}), {"t": "some text"}), kind

    def test_several_checks_in_one_condition_are_ored(self) -> None:
        f = must({"key": "k", "match": {"value": "x"}, "range": {"gt": 10}})
        assert matches(f, {"k": "x"}) and matches(f, {"k": 11})
        assert not matches(f, {"k": 5})


class TestRange:
    def test_numbers(self) -> None:
        f = must({"key": "p", "range": {"gte": 1, "lt": 2.5}})
        assert matches(f, {"p": 1}) and matches(f, {"p": 2.4}) and matches(f, {"p": [0, 2]})
        assert not matches(f, {"p": 2.5}) and not matches(f, {"p": 0.99})
        assert not matches(f, {"p": True}) and not matches(f, {"p": "1.5"}) and not matches(f, {})

    def test_open_range_matches_any_number(self) -> None:
        assert matches(must({"key": "p", "range": {}}), {"p": -1e300})
        assert not matches(must({"key": "p", "range": {}}), {"p": "x"})

    def test_empty_range_is_valid(self) -> None:
        assert not matches(must({"key": "p", "range": {"gt": 5, "lt": 1}}), {"p": 3})

    @pytest.mark.parametrize(
        "text",
        [
            "2024-03-01T10:00:00Z",
            "2024-03-01T11:00:00+01:00",
            "2024-03-01T11:00:00+0100",
            "2024-03-01T10:00:00",
            "2024-03-01 10:00:00",
            "2024-03-01T10:00",
            "2024-03-01T10:00:00.000000Z",
        ],
    )
    def test_datetime_formats(self, text: str) -> None:
        assert parse_datetime_micros(text) == parse_datetime_micros("2024-03-01T10:00:00Z")

    @pytest.mark.parametrize(
        "text", ["2024-03-01 10:00:00 UTC", "2024-03-01T10:00:00z", " 2024-03-01T10:00:00Z", "2024-03-01 11:00:00 +01:00"]
    )
    def test_datetime_forms_qdrant_renders(self, text: str) -> None:
        assert parse_datetime_micros(text) == parse_datetime_micros("2024-03-01T10:00:00Z")

    def test_date_only_is_midnight_utc(self) -> None:
        assert parse_datetime_micros("1970-01-02") == 86400 * 1_000_000
        assert parse_datetime_micros("20240301") is None
        assert parse_datetime_micros("not a date") is None

    def test_datetime_range(self) -> None:
        f = must({"key": "t", "range": {"gte": "2024-02-01", "lt": "2024-03-01T00:00:00Z"}})
        assert matches(f, {"t": "2024-02-15T12:00:00+02:00"})
        assert matches(f, {"t": ["1999-01-01", "2024-02-01T00:00:00"]})
        assert not matches(f, {"t": "2024-03-01"})
        assert not matches(f, {"t": "garbage"})
        assert not matches(f, {"t": 1706745600})


class TestGeo:
    BERLIN = {"lon": 13.404954, "lat": 52.520008}
    MOSCOW = {"lon": 37.617298, "lat": 55.755825}

    def test_radius(self) -> None:
        near = must({"key": "loc", "geo_radius": {"center": {"lon": 13.4, "lat": 52.52}, "radius": 1000}})
        assert matches(near, {"loc": self.BERLIN})
        assert matches(near, {"loc": [self.MOSCOW, self.BERLIN]})
        assert not matches(near, {"loc": self.MOSCOW})
        assert not matches(near, {"loc": "Berlin"})

    def test_bounding_box(self) -> None:
        box = {"top_left": {"lon": 13.08835, "lat": 52.67551}, "bottom_right": {"lon": 13.76116, "lat": 52.33826}}
        assert matches(must({"key": "loc", "geo_bounding_box": box}), {"loc": self.BERLIN})
        assert not matches(must({"key": "loc", "geo_bounding_box": box}), {"loc": self.MOSCOW})

    def test_bounding_box_across_antimeridian(self) -> None:
        box = {"top_left": {"lon": 170, "lat": 10}, "bottom_right": {"lon": -170, "lat": -10}}
        assert matches(must({"key": "loc", "geo_bounding_box": box}), {"loc": {"lon": 179, "lat": 0}})
        assert matches(must({"key": "loc", "geo_bounding_box": box}), {"loc": {"lon": -175, "lat": 0}})
        assert not matches(must({"key": "loc", "geo_bounding_box": box}), {"loc": {"lon": 0, "lat": 0}})

    def test_polygon_with_hole(self) -> None:
        square = [{"lon": 0, "lat": 0}, {"lon": 10, "lat": 0}, {"lon": 10, "lat": 10}, {"lon": 0, "lat": 10}]
        hole = [{"lon": 4, "lat": 4}, {"lon": 6, "lat": 4}, {"lon": 6, "lat": 6}, {"lon": 4, "lat": 6}]
        polygon = {
            "exterior": {"points": [*square, square[0]]},
            "interiors": [{"points": [*hole, hole[0]]}],
        }
        f = must({"key": "loc", "geo_polygon": polygon})
        assert matches(f, {"loc": {"lon": 2, "lat": 2}})
        assert not matches(f, {"loc": {"lon": 5, "lat": 5}})
        assert not matches(f, {"loc": {"lon": 11, "lat": 5}})


class TestEmptyNullCount:
    PAYLOAD = {"price": 1, "parts": [], "packaging": None, "not_null": [None], "rating": [3, 7, 9, 9]}

    def test_is_empty(self) -> None:
        assert not matches(must({"is_empty": {"key": "price"}}), self.PAYLOAD)
        assert matches(must({"is_empty": {"key": "something_new"}}), self.PAYLOAD)
        assert matches(must({"is_empty": {"key": "parts"}}), self.PAYLOAD)
        assert matches(must({"is_empty": {"key": "packaging"}}), self.PAYLOAD)
        assert not matches(must({"is_empty": {"key": "not_null"}}), self.PAYLOAD)

    def test_is_null(self) -> None:
        assert matches(must({"is_null": {"key": "packaging"}}), self.PAYLOAD)
        assert not matches(must({"is_null": {"key": "price"}}), self.PAYLOAD)
        assert not matches(must({"is_null": {"key": "parts"}}), self.PAYLOAD)
        assert not matches(must({"is_null": {"key": "something_else"}}), self.PAYLOAD)
        assert matches(must({"is_null": {"key": "not_null"}}), self.PAYLOAD)  # as is_null: true

    def test_field_condition_flags(self) -> None:
        assert matches(must({"key": "nope", "is_empty": True}), self.PAYLOAD)
        assert matches(must({"key": "price", "is_empty": False}), self.PAYLOAD)
        assert not matches(must({"key": "parts", "is_empty": False}), self.PAYLOAD)
        assert matches(must({"key": "not_null", "is_null": True}), self.PAYLOAD)  # array holding null
        assert matches(must({"key": "nope", "is_null": False}), self.PAYLOAD)

    def test_values_count(self) -> None:
        assert matches(must({"key": "rating", "values_count": {"lt": 5}}), self.PAYLOAD)
        assert not matches(must({"key": "rating", "values_count": {"gte": 10}}), self.PAYLOAD)
        assert matches(must({"key": "price", "values_count": {"lte": 1, "gte": 1}}), self.PAYLOAD)
        assert matches(must({"key": "missing", "values_count": {"lt": 1}}), self.PAYLOAD)
        assert matches(must({"key": "packaging", "values_count": {"lt": 1}}), self.PAYLOAD)


class TestStructure:
    def test_clauses(self) -> None:
        red = {"key": "color", "match": {"value": "red"}}
        blue = {"key": "color", "match": {"value": "blue"}}
        payload = {"color": "red"}
        assert matches({"should": [red, blue]}, payload)
        assert not matches({"should": [blue]}, payload)
        assert matches({"must_not": [blue]}, payload)
        assert not matches({"must_not": [red]}, payload)
        assert matches({"must": [red], "should": []}, payload)
        assert not matches({"should": [{"must": [red, blue]}, {"must_not": [red]}]}, payload)
        assert matches({"must": [{}]}, payload)  # an empty sub-filter matches everything

    def test_min_should(self) -> None:
        conditions = [{"key": f"k{i}", "match": {"value": 1}} for i in range(3)]
        payload = {"k0": 1, "k2": 1}
        assert matches({"min_should": {"conditions": conditions, "min_count": 2}}, payload)
        assert not matches({"min_should": {"conditions": conditions, "min_count": 3}}, payload)

    def test_has_id_and_has_vector(self) -> None:
        assert matches(must({"has_id": [1, 5]}), {}, point_id=5)
        assert not matches(must({"has_id": [1, 5]}), {}, point_id=6)
        assert matches(must({"has_vector": "image"}), {}, vectors=("image",))
        assert not matches(must({"has_vector": "text"}), {}, vectors=("image",))

    def test_nested_requires_one_element_to_satisfy_everything(self) -> None:
        payload = {
            "diet": [
                {"food": "meat", "likes": False},
                {"food": "vegetables", "likes": True},
            ]
        }
        same_element = {
            "nested": {
                "key": "diet",
                "filter": {
                    "must": [
                        {"key": "food", "match": {"value": "meat"}},
                        {"key": "likes", "match": {"value": True}},
                    ]
                },
            }
        }
        assert not matches(must(same_element), payload)
        flat = {
            "must": [
                {"key": "diet[].food", "match": {"value": "meat"}},
                {"key": "diet[].likes", "match": {"value": True}},
            ]
        }
        assert matches(flat, payload)
        likes_vegetables = {
            "nested": {
                "key": "diet",
                "filter": {
                    "must": [{"key": "food", "match": {"value": "vegetables"}}],
                    "must_not": [{"key": "likes", "match": {"value": False}}],
                },
            }
        }
        assert matches(must(likes_vegetables), payload)

    def test_nested_skips_non_objects_and_has_no_id_or_vectors(self) -> None:
        payload = {"r": [1, None, "x", {"v": True}]}
        no_v = {"nested": {"key": "r", "filter": {"must": [{"is_empty": {"key": "v"}}]}}}
        assert not matches(must(no_v), payload)  # 1, None and "x" are not elements to test
        assert matches(must(no_v), {"r": [1, {"w": 1}]})
        for inner in ({"has_id": [1]}, {"has_vector": "image"}, {"slice": {"index": 0, "total": 1}}):
            nested = {"nested": {"key": "r", "filter": {"must": [inner]}}}
            assert not matches(must(nested), payload, point_id=1, vectors=("image",)), inner

    def test_nested_on_non_array_and_deep(self) -> None:
        nested = {"nested": {"key": "a", "filter": {"must": [{"key": "b", "match": {"value": 1}}]}}}
        assert not matches(must(nested), {"a": {"b": 1}})
        deep = {
            "nested": {
                "key": "country.cities",
                "filter": {"must": [{"key": "population", "range": {"gt": 8.0}}]},
            }
        }
        assert matches(must(deep), {"country": {"cities": [{"population": 3.7}, {"population": 13.5}]}})
        assert not matches(must(deep), {"country": {"cities": [{"population": 3.7}]}})

    def test_slice_partitions_ids(self) -> None:
        ids: list[Any] = list(range(200)) + [str(uuid.UUID(int=i * 7919)) for i in range(50)]
        for total in (1, 2, 3):
            owners = [
                [i for i in range(total) if matches(must({"slice": {"index": i, "total": total}}), {}, point_id=pid)]
                for pid in ids
            ]
            assert all(len(o) == 1 for o in owners)
        # slice 0 of 4 is inside slice 0 of 2
        assert all(point_id_hash(pid) % 2 == 0 for pid in ids if point_id_hash(pid) % 4 == 0)

    def test_siphash_reference_vector(self) -> None:
        key0 = int.from_bytes(bytes(range(8)), "little")
        key1 = int.from_bytes(bytes(range(8, 16)), "little")
        assert siphash24(b"", key0, key1) == 0x726FDB47DD0E0E31
        assert siphash24(bytes(range(15)), key0, key1) == 0xA129CA6149BE45E5


# --------------------------------------------------------------------------- properties

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([0.5, 1.0, 2.0]),
    st.sampled_from(["a", "b", "c"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))


@settings(max_examples=200, deadline=None)
@given(value=values)
def test_must_not_negates_must(value: Any) -> None:
    condition = {"key": "k", "match": {"any": ["a", "b"]}}
    payload = {"k": value}
    assert matches({"must": [condition]}, payload) != matches({"must_not": [condition]}, payload)


@settings(max_examples=200, deadline=None)
@given(value=values)
def test_match_value_agrees_with_flattened_values(value: Any) -> None:
    payload = {"k": value}
    for target in (1, "a", True):
        expected = any(type(v) is type(target) and v == target for v in values_at(payload, "k"))
        assert matches(must({"key": "k", "match": {"value": target}}), payload) == expected


def test_parse_condition_direct() -> None:
    assert isinstance(parse_condition({"must": []}), Filter)
