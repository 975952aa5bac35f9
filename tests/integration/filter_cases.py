"""The filters the integration tests run, each with the handcrafted points (ids 1-12) it
must select, worked out by hand from the payloads in ``filter_oracle.handcrafted_payloads``.

The hand sets check the oracle itself, so the oracle and the server cannot agree on a
wrong answer unnoticed; generated points (ids 101...) are left to the oracle.
"""

from __future__ import annotations

from qdrant_client import models

F = models.FieldCondition
M = models.MatchValue


def _nested(key: str, flt: models.Filter) -> models.NestedCondition:
    return models.NestedCondition(nested=models.Nested(key=key, filter=flt))


def _ring(*corners: tuple[float, float]) -> models.GeoLineString:
    points = [models.GeoPoint(lon=lon, lat=lat) for lon, lat in corners]
    return models.GeoLineString(points=[*points, points[0]])


UID_1 = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1"

# name -> (filter, the handcrafted ids 1-12 it selects)
CASES: dict[str, tuple[models.Filter, set[int]]] = {
    "value_keyword": (models.Filter(must=[F(key="city", match=M(value="Berlin"))]), {1, 2}),
    "any_keyword": (models.Filter(must=[F(key="city", match=models.MatchAny(any=["Paris", "London"]))]), {2, 8, 9}),
    "except_keyword": (
        models.Filter(must=[F(key="city", match=models.MatchExcept(**{"except": ["Berlin"]}))]),
        {2, 4, 5, 8, 9, 12},
    ),
    "value_integer": (models.Filter(must=[F(key="count", match=M(value=3))]), {1}),
    "value_negative_integer": (models.Filter(must=[F(key="count", match=M(value=-3))]), {12}),
    "any_integer": (models.Filter(must=[F(key="count", match=models.MatchAny(any=[0, 5, 10]))]), {3, 8, 9}),
    "except_integer": (
        models.Filter(must=[F(key="count", match=models.MatchExcept(**{"except": [3, 0]}))]),
        {2, 3, 4, 5, 8, 12},
    ),
    "any_empty_list": (models.Filter(must=[F(key="city", match=models.MatchAny(any=[]))]), set()),
    "any_in_arrays": (models.Filter(must=[F(key="tags", match=models.MatchAny(any=["b", "c"]))]), {1, 7, 9}),
    "bool_true": (models.Filter(must=[F(key="flag", match=M(value=True))]), {1, 3, 12}),
    "bool_false": (models.Filter(must=[F(key="flag", match=M(value=False))]), {2, 3, 9}),
    "range_float": (models.Filter(must=[F(key="price", range=models.Range(gte=10, lt=60))]), {1, 2, 9, 12}),
    "range_on_arrays": (models.Filter(must=[F(key="price", range=models.Range(gt=60))]), {3, 10}),
    "range_integer_field": (models.Filter(must=[F(key="count", range=models.Range(gt=2.5, lte=9))]), {1, 2, 3}),
    "datetime_range": (
        models.Filter(
            must=[F(key="created", range=models.DatetimeRange(gte="2024-01-01T00:00:00Z", lt="2024-02-01T00:00:00Z"))]
        ),
        {1, 12},
    ),
    "datetime_range_offsets": (
        models.Filter(
            must=[
                F(key="created", range=models.DatetimeRange(gt="2024-01-31T23:30:00-01:00", lte="2024-02-20T00:00:00Z"))
            ]
        ),
        {3, 4},
    ),
    "geo_bounding_box": (
        models.Filter(
            must=[
                F(
                    key="location",
                    geo_bounding_box=models.GeoBoundingBox(
                        top_left=models.GeoPoint(lon=0, lat=53), bottom_right=models.GeoPoint(lon=14, lat=48)
                    ),
                )
            ]
        ),
        {1, 2, 8},
    ),
    "geo_radius": (
        models.Filter(
            must=[F(key="location", geo_radius=models.GeoRadius(center=models.GeoPoint(lon=13.405, lat=52.52), radius=5000))]
        ),
        {1, 2},
    ),
    "geo_polygon_with_hole": (
        models.Filter(
            must=[
                F(
                    key="location",
                    geo_polygon=models.GeoPolygon(
                        exterior=_ring((-1, 48), (3, 48), (3, 52), (-1, 52)),
                        interiors=[_ring((2, 48.5), (3, 48.5), (3, 49), (2, 49))],
                    ),
                )
            ]
        ),
        {3},
    ),
    "values_count_gte": (models.Filter(must=[F(key="tags", values_count=models.ValuesCount(gte=2))]), {1, 7}),
    "values_count_lt": (
        models.Filter(must=[F(key="tags", values_count=models.ValuesCount(lt=1))]),
        {2, 4, 6, 8, 11, 12},
    ),
    "values_count_object": (
        models.Filter(must=[F(key="reviews", values_count=models.ValuesCount(gte=1, lte=1))]),
        {2, 5},
    ),
    "is_empty": (
        models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="tags"))]),
        {2, 4, 6, 8, 11, 12},
    ),
    "is_empty_path": (
        models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="meta.owner"))]),
        {3, 4, 5, 6, 7, 8, 10, 12},
    ),
    "is_null": (models.Filter(must=[models.IsNullCondition(is_null=models.PayloadField(key="city"))]), {3, 11}),
    "is_null_array_with_null": (
        models.Filter(must=[models.IsNullCondition(is_null=models.PayloadField(key="tags"))]),
        {3, 4, 7},
    ),
    "is_null_elements": (
        models.Filter(must=[models.IsNullCondition(is_null=models.PayloadField(key="tags[]"))]),
        {3, 7},
    ),
    "field_is_null_flag": (models.Filter(must=[F(key="city", is_null=True)]), {3, 11}),
    "field_is_empty_false": (models.Filter(must=[F(key="tags", is_empty=False)]), {1, 3, 5, 7, 9, 10}),
    "has_id": (models.Filter(must=[models.HasIdCondition(has_id=[1, 5, 9, 101, 999])]), {1, 5, 9}),
    "has_vector": (models.Filter(must=[models.HasVectorCondition(has_vector="text")]), {3, 6, 9, 11, 12}),
    "has_vector_must_not": (
        models.Filter(must_not=[models.HasVectorCondition(has_vector="image")]),
        {6, 11},
    ),
    "nested_same_element": (
        models.Filter(
            must=[
                _nested(
                    "reviews",
                    models.Filter(must=[F(key="user", match=M(value="alice")), F(key="score", range=models.Range(gte=1))]),
                )
            ]
        ),
        {1, 12},
    ),
    "flat_any_element": (
        models.Filter(
            must=[F(key="reviews[].user", match=M(value="alice")), F(key="reviews[].score", range=models.Range(gte=1))]
        ),
        {1, 7, 12},
    ),
    "nested_must_not": (
        models.Filter(
            must=[
                _nested(
                    "reviews",
                    models.Filter(must=[F(key="verified", match=M(value=True))], must_not=[F(key="user", match=M(value="bob"))]),
                )
            ]
        ),
        {1, 3, 12},
    ),
    "nested_is_empty_skips_non_objects": (
        models.Filter(must=[_nested("reviews", models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="verified"))]))]),
        {7},
    ),
    "nested_bool": (
        models.Filter(must=[_nested("reviews", models.Filter(must=[F(key="verified", match=M(value=False))]))]),
        {1, 8, 12},
    ),
    "nested_has_id_never": (
        models.Filter(must=[_nested("reviews", models.Filter(must=[models.HasIdCondition(has_id=[1, 2, 3])]))]),
        set(),
    ),
    "nested_over_path": (
        models.Filter(must=[_nested("meta", models.Filter(must=[F(key="level", range=models.Range(gte=5))]))]),
        {3},
    ),
    "key_dotted": (models.Filter(must=[F(key="meta.owner.name", match=M(value="alice"))]), {1, 11}),
    "key_dotted_range": (models.Filter(must=[F(key="meta.level", range=models.Range(gte=3))]), {2, 4, 5, 9}),
    "key_array_elements": (models.Filter(must=[F(key="meta[].level", range=models.Range(gte=5))]), {3}),
    "key_wildcard_nested_arrays": (models.Filter(must=[F(key="matrix[]", match=M(value=2))]), {10, 11}),
    "arrays_in_arrays_not_flattened": (models.Filter(must=[F(key="matrix", match=M(value=2))]), set()),
    "text_all_words": (models.Filter(must=[F(key="description", match=models.MatchText(text="brown fox"))]), {1, 8, 9}),
    "text_single_word": (models.Filter(must=[F(key="description", match=models.MatchText(text="lazy"))]), {2, 8}),
    "phrase": (models.Filter(must=[F(key="description", match=models.MatchPhrase(phrase="brown fox"))]), {1, 8}),
    "uuid_value": (models.Filter(must=[F(key="uid", match=M(value=UID_1))]), {1}),
    "should": (
        models.Filter(should=[F(key="city", match=M(value="Rome")), F(key="count", match=M(value=10))]),
        {8, 12},
    ),
    "min_should": (
        models.Filter(
            min_should=models.MinShould(
                conditions=[
                    F(key="flag", match=M(value=True)),
                    F(key="price", range=models.Range(gt=30)),
                    F(key="city", match=M(value="Berlin")),
                ],
                min_count=2,
            )
        ),
        {1, 3, 12},
    ),
    "must_not_only": (
        models.Filter(must_not=[F(key="city", match=M(value="Berlin"))]),
        {3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
    ),
    "sub_filters": (
        models.Filter(
            must=[
                models.Filter(should=[F(key="city", match=M(value="Paris")), F(key="city", match=M(value="London"))]),
                models.Filter(must_not=[F(key="flag", match=M(value=True))]),
            ]
        ),
        {2, 8, 9},
    ),
    "all_clauses": (
        models.Filter(
            must=[models.HasVectorCondition(has_vector="image")],
            should=[F(key="tags", match=models.MatchAny(any=["a"])), F(key="count", range=models.Range(gte=5))],
            must_not=[F(key="city", match=M(value="Paris"))],
        ),
        {1, 3, 5, 10},
    ),
    "min_should_with_nested_and_must": (
        models.Filter(
            must=[F(key="price", range=models.Range(gte=0))],
            min_should=models.MinShould(
                conditions=[
                    _nested("reviews", models.Filter(must=[F(key="score", range=models.Range(gte=5))])),
                    F(key="flag", match=M(value=True)),
                    models.HasIdCondition(has_id=[3, 8, 9]),
                ],
                min_count=2,
            ),
        ),
        {1, 3, 8},
    ),
}

CASES["has_id_uuid"] = (
    models.Filter(must=[models.HasIdCondition(has_id=["5C56C793-69F3-4FBF-87E6-C4BF54C28C26", 2])]),
    {2},
)

CASES.update(
    {
        "except_on_bool_field": (
            models.Filter(must=[F(key="flag", match=models.MatchExcept(**{"except": ["x"]}))]),
            {1, 2, 3, 4, 9, 12},
        ),
        "except_on_geo_field": (
            models.Filter(must=[F(key="location", match=models.MatchExcept(**{"except": ["x"]}))]),
            {1, 2, 3, 4, 5, 8, 12},
        ),
        "except_on_datetime_field": (
            models.Filter(must=[F(key="created", match=models.MatchExcept(**{"except": ["not a date"]}))]),
            {1, 2, 3, 4, 7, 8, 9, 12},
        ),
        "except_on_text_field": (
            models.Filter(must=[F(key="description", match=models.MatchExcept(**{"except": ["fox brown"]}))]),
            {1, 2, 3, 4, 8, 12},
        ),
        "except_integers_on_float_field": (
            models.Filter(must=[F(key="price", match=models.MatchExcept(**{"except": [20, 0]}))]),
            {1, 3, 5, 9, 10, 12},
        ),
        "value_on_float_field": (models.Filter(must=[F(key="price", match=M(value=20))]), {2}),
        "any_strings_on_integer_field": (
            models.Filter(must=[F(key="count", match=models.MatchAny(any=["7"]))]),
            {4},
        ),
        "value_string_on_datetime_field": (models.Filter(must=[F(key="created", match=M(value="2024-02-20"))]), {4}),
        "nested_in_nested": (
            models.Filter(
                must=[
                    _nested(
                        "teams",
                        models.Filter(
                            must=[
                                F(key="name", match=M(value="red")),
                                _nested(
                                    "members",
                                    models.Filter(must=[F(key="user", match=M(value="alice")), F(key="role", match=M(value="lead"))]),
                                ),
                            ]
                        ),
                    )
                ]
            ),
            {1},
        ),
        "flat_deep_arrays": (
            models.Filter(
                must=[
                    F(key="teams[].members[].user", match=M(value="alice")),
                    F(key="teams[].members[].role", match=M(value="lead")),
                ]
            ),
            {1, 2},
        ),
    }
)

CASES.update(
    {
        "key_array_index": (models.Filter(must=[F(key="meta[1].level", range=models.Range(gte=5))]), {3}),
        "key_array_index_on_string": (models.Filter(must=[F(key="city[0]", match=M(value="Berlin"))]), {2}),
    }
)

CASES.update(
    {
        "text_any": (
            models.Filter(must=[F(key="description", match=models.MatchTextAny(text_any="river Morning"))]),
            {2, 12},
        ),
        "text_without_tokens": (models.Filter(must=[F(key="description", match=models.MatchText(text=" ,. "))]), set()),
        "phrase_without_tokens": (models.Filter(must=[F(key="description", match=models.MatchPhrase(phrase=""))]), set()),
        "prefix": (models.Filter(must=[F(key="city", match=models.MatchPrefix(prefix="Ber"))]), {1, 2}),
        "substring": (models.Filter(must=[F(key="city", match=models.MatchSubstring(substring="o"))]), {9, 12}),
    }
)
