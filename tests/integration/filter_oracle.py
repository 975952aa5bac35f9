"""A brute-force reference evaluator of Qdrant filters, and the data set the filter tests load.

Written from Qdrant's documented semantics and its condition checker, independently of
``shards/``: the integration tests compare what the node returns with what this module
computes for the same points.

Semantics encoded here (Qdrant's):

- a key path yields a list of values: ``a.b`` descends into objects only, ``a[]`` expands
  an array, ``a[].b`` reads ``b`` of every object of the array;
- ``match`` / ``range`` / geo check each value; a value that is an array is looked into one
  level; several checks in one field condition are OR-ed;
- a missing key: ``is_empty: true`` and ``is_null: false`` match, ``values_count`` counts 0,
  everything else fails;
- ``match.value`` on integers matches JSON integers only, on bools bools only;
- ``match.except`` matches any non-null value outside the list (values of other types too);
- ``match.text`` needs every lowercased word token of the query (a query without tokens
  matches nothing), ``text_any`` one of them, ``phrase`` them in a row; ``prefix`` and
  ``substring`` are case-sensitive string tests;
- ``is_null`` holds for ``null`` and for an array holding ``null`` (Qdrant >= 1.19.1);
- ``nested`` evaluates its filter on each *object* element of the array, and ``has_id`` /
  ``has_vector`` never hold inside it.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

_MISSING = object()
_WORD = re.compile(r"[^\W_]+")

# ----------------------------------------------------------------------------- paths


def split_path(path: str) -> list[Any]:
    """``a.b[].c[2]`` -> ``["a", "b", "[]", "c", 2]`` (no quoted keys in the tests)."""
    steps: list[Any] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        steps.append(name)
        while rest:
            inner, _, rest = rest.partition("]")
            steps.append("[]" if inner == "" else int(inner))
            rest = rest[1:] if rest.startswith("[") else rest
    return steps


def values_at(payload: dict, path: str) -> list:
    current = [payload]
    for step in split_path(path):
        following = []
        for value in current:
            if step == "[]":
                if isinstance(value, list):
                    following.extend(value)
            elif isinstance(step, int):
                if isinstance(value, list) and step < len(value):
                    following.append(value[step])
            elif isinstance(value, dict) and step in value:
                following.append(value[step])
        current = following
    return current


# ----------------------------------------------------------------------------- scalars


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float))) and not isinstance(value, bool)


def parse_datetime(text: Any) -> float | None:
    """Epoch seconds of the datetime formats the tests use, else None."""
    if not isinstance(text, str):
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(text.replace("Z", "+0000"), fmt)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    return None


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    radius = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius * math.asin(min(1.0, math.sqrt(a)))


def _in_ring(lon: float, lat: float, ring: list[dict]) -> bool:
    inside = False
    for i in range(len(ring)):
        a, b = ring[i], ring[i - 1]
        if (a["lat"] > lat) != (b["lat"] > lat):
            cross = (b["lon"] - a["lon"]) * (lat - a["lat"]) / (b["lat"] - a["lat"]) + a["lon"]
            if lon < cross:
                inside = not inside
    return inside


def _geo(value: Any) -> tuple[float, float] | None:
    if isinstance(value, dict) and _is_number(value.get("lon")) and _is_number(value.get("lat")):
        return float(value["lon"]), float(value["lat"])
    return None


def _bounds(spec: dict, x: float) -> bool:
    return (
        ("gt" not in spec or x > spec["gt"])
        and ("gte" not in spec or x >= spec["gte"])
        and ("lt" not in spec or x < spec["lt"])
        and ("lte" not in spec or x <= spec["lte"])
    )


def _match_one(match: dict, value: Any) -> bool:
    if "value" in match:
        wanted = match["value"]
        if isinstance(wanted, bool):
            return isinstance(value, bool) and value == wanted
        if _is_int(wanted):
            return _is_int(value) and value == wanted
        return isinstance(value, str) and value == wanted
    if "any" in match:
        return any(_match_one({"value": w}, value) for w in match["any"])
    if "except" in match:
        if value is None:
            return False
        excluded = match["except"]
        integers = bool(excluded) and all(_is_int(x) for x in excluded)
        if integers and _is_int(value):
            return value not in excluded
        if not integers and isinstance(value, str):
            return value not in excluded
        return True
    if not isinstance(value, str):
        return False
    if "text" in match:  # a query without tokens matches nothing
        query = set(words(match["text"]))
        return bool(query) and query <= set(words(value))
    if "text_any" in match:
        return bool(set(words(match["text_any"])) & set(words(value)))
    if "phrase" in match:
        query, tokens = words(match["phrase"]), words(value)
        return bool(query) and any(tokens[i : i + len(query)] == query for i in range(len(tokens) - len(query) + 1))
    if "prefix" in match:
        return value.startswith(match["prefix"])
    if "substring" in match:
        return match["substring"] in value
    raise AssertionError(f"oracle does not know match {match}")


def _check_value(condition: dict, value: Any) -> bool:
    """One value (not an array) against the OR of the condition's checks."""
    if "match" in condition and _match_one(condition["match"], value):
        return True
    if "range" in condition:
        spec = condition["range"]
        if any(isinstance(v, str) for v in spec.values()):
            moment = parse_datetime(value)
            bounds = {k: parse_datetime(v) for k, v in spec.items()}
            if moment is not None and _bounds(bounds, moment):
                return True
        elif _is_number(value) and _bounds(spec, value):
            return True
    point = _geo(value)
    if point is None:
        return False
    lon, lat = point
    box = condition.get("geo_bounding_box")
    if box is not None:
        tl, br = box["top_left"], box["bottom_right"]
        if tl["lon"] < lon < br["lon"] and br["lat"] < lat < tl["lat"]:
            return True
    circle = condition.get("geo_radius")
    if circle is not None:
        center = circle["center"]
        if haversine_m(center["lon"], center["lat"], lon, lat) < circle["radius"]:
            return True
    polygon = condition.get("geo_polygon")
    if polygon is not None:
        if _in_ring(lon, lat, polygon["exterior"]["points"]) and not any(
            _in_ring(lon, lat, ring["points"]) for ring in polygon.get("interiors") or []
        ):
            return True
    return False


def _field(condition: dict, payload: dict) -> bool:
    values = values_at(payload, condition["key"])
    if "values_count" in condition:
        spec = condition["values_count"]
        if not values:
            return _bounds(spec, 0)
        return any(
            _bounds(spec, 0 if v is None else len(v) if isinstance(v, list) else 1) for v in values
        )
    if "is_empty" in condition:
        if not values:
            return condition["is_empty"]
        empty = [v is None or v == [] for v in values]
        return any(e == condition["is_empty"] for e in empty)
    if "is_null" in condition:
        if not values:
            return not condition["is_null"]
        nulls = [v is None or (isinstance(v, list) and None in v) for v in values]
        return any(n == condition["is_null"] for n in nulls)
    for value in values:
        if isinstance(value, list):
            if any(_check_value(condition, element) for element in value):
                return True
        elif _check_value(condition, value):
            return True
    return False


class Point:
    """One point of a test data set: id, payload and the names of its vectors."""

    def __init__(self, point_id: Any, payload: dict, vectors: dict[str, list[float]]) -> None:
        self.id = point_id
        self.payload = payload
        self.vectors = vectors


def _condition(condition: dict, payload: dict, point: Point | None) -> bool:
    if "key" in condition:
        return _field(condition, payload)
    if "is_empty" in condition:
        return all(v is None or v == [] for v in values_at(payload, condition["is_empty"]["key"]))
    if "is_null" in condition:  # arrays holding null count too (Qdrant >= 1.19.1)
        return any(v is None or (isinstance(v, list) and None in v) for v in values_at(payload, condition["is_null"]["key"]))
    if "has_id" in condition:
        return point is not None and point.id in {_normal_id(i) for i in condition["has_id"]}
    if "has_vector" in condition:
        return point is not None and condition["has_vector"] in point.vectors
    if "nested" in condition:
        nested = condition["nested"]
        elements = values_at(payload, nested["key"] + "[]")
        return any(
            evaluate(nested["filter"], element, None) for element in elements if isinstance(element, dict)
        )
    return evaluate(condition, payload, point)


def _clause(raw: Any) -> list[dict]:
    if raw is None:
        return []
    return raw if isinstance(raw, list) else [raw]


def evaluate(flt: dict, payload: dict, point: Point | None) -> bool:
    """Whether ``payload`` (of ``point``; None inside ``nested``) passes the REST-JSON filter."""
    check: Callable[[dict], bool] = lambda c: _condition(c, payload, point)  # noqa: E731
    if not all(check(c) for c in _clause(flt.get("must"))):
        return False
    if any(check(c) for c in _clause(flt.get("must_not"))):
        return False
    should = _clause(flt.get("should"))
    if should and not any(check(c) for c in should):
        return False
    min_should = flt.get("min_should")
    if min_should is not None:
        if sum(1 for c in min_should["conditions"] if check(c)) < min_should["min_count"]:
            return False
    return True


def expected_ids(flt: dict | None, points: list[Point]) -> list:
    """Ids of the points passing the filter, in Qdrant's id order."""
    hits = [p.id for p in points if flt is None or evaluate(flt, p.payload, p)]
    return sorted(hits, key=id_order)


def _normal_id(point_id: Any) -> Any:
    return point_id if isinstance(point_id, int) else str(uuid.UUID(str(point_id)))


def id_order(point_id: Any) -> tuple:
    return (0, point_id, "") if isinstance(point_id, int) else (1, 0, str(uuid.UUID(point_id)))


# ----------------------------------------------------------------------------- data set

VECTOR_SIZE = 4

_CITIES = ["Berlin", "Paris", "London", "Madrid", "Rome"]
_WORDS = "quick brown fox jumps over lazy dog red apple green river stone bright morning".split()
_USERS = ["alice", "bob", "carol", "dave"]


def _vector(rng: random.Random) -> list[float]:
    return [round(rng.uniform(-1, 1), 4) for _ in range(VECTOR_SIZE)]


def handcrafted_payloads() -> dict[int, dict]:
    """Points 1-24: the edge cases, each written out."""
    return {
        1: {
            "city": "Berlin", "count": 3, "price": 10.5, "flag": True, "tags": ["a", "b"],
            "created": "2024-01-05T10:00:00Z", "location": {"lon": 13.40, "lat": 52.52},
            "description": "The quick brown fox", "meta": {"owner": {"name": "alice", "age": 30}, "level": 2},
            "reviews": [{"user": "alice", "score": 5, "verified": True}, {"user": "bob", "score": 2, "verified": False}],
            "uid": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1",
            "teams": [{"name": "red", "members": [{"user": "alice", "role": "lead"}, {"user": "bob", "role": "dev"}]}],
        },
        2: {
            "city": ["Berlin", "Paris"], "count": 3.0, "price": 20, "flag": False, "tags": [],
            "created": "2024-03-01T12:00:00+02:00", "location": [{"lon": 2.35, "lat": 48.86}, {"lon": 13.41, "lat": 52.51}],
            "description": "lazy dogs sleep over the river", "meta": {"owner": {"name": "bob", "age": 41}, "level": 5},
            "reviews": [{"user": "bob", "score": 4, "verified": True}],
            "teams": [
                {"name": "red", "members": [{"user": "alice", "role": "dev"}]},
                {"name": "blue", "members": [{"user": "bob", "role": "lead"}]},
            ],
        },
        3: {
            "city": None, "count": [1, 5, 9], "price": 99.99, "flag": [True, False], "tags": [None],
            "created": "2024-02-15 08:30:00", "location": {"lon": -0.13, "lat": 51.51},
            "description": "Quick start guide", "meta": [{"level": 1}, {"level": 7}],
            "reviews": [1, {"user": "carol", "score": 5, "verified": True}],
        },
        4: {
            "city": 7, "count": "7", "flag": "true", "tags": None,
            "created": "2024-02-20", "location": {"lon": 200.0, "lat": 10.0},
            "description": 5, "meta": {"owner": None, "level": 3}, "reviews": [],
        },
        5: {
            "city": "berlin", "count": True, "price": -5, "tags": "a",
            "created": "not a date", "location": "here", "meta": {"level": [2, 4]},
            "reviews": {"user": "dave", "score": 5, "verified": True},
        },
        6: {},
        7: {"count": None, "tags": ["c", None], "created": 12345, "reviews": [{"user": "alice"}, {"score": 1}]},
        8: {"city": "Paris", "count": 10, "price": 0, "created": ["2023-12-31T23:59:59Z", "2024-06-01T00:00:00Z"],
            "location": {"lon": 2.29, "lat": 48.85}, "description": "brown fox over lazy dog and brown fox",
            "reviews": [{"user": "carol", "score": 3, "verified": False}, {"user": "dave", "score": 5, "verified": False}]},
        9: {"city": "London", "count": 0, "price": 50.0, "flag": False, "tags": ["b"],
            "created": "2024-01-31T23:00:00-01:00", "meta": {"owner": {"name": "carol", "age": 25}, "level": 9},
            "description": "fox brown"},
        10: {"city": [], "count": [], "tags": ["a"], "matrix": [[1, 2], [3]], "price": [1.5, 60.5]},
        11: {"city": [None], "matrix": [1, [2]], "meta": {"owner": {"name": ["alice", "bob"], "age": 50}}},
        12: {"city": "Rome", "count": -3, "price": 33.3, "flag": True, "created": "2024-01-01T00:00:00Z",
             "location": {"lon": 12.49, "lat": 41.89}, "description": "Bright morning over Rome",
             "reviews": [{"user": "alice", "score": 4, "verified": True}, {"user": "alice", "score": 1, "verified": False}]},
    }


UUID_POINTS = {
    "5c56c793-69f3-4fbf-87e6-c4bf54c28c26": {"city": "Paris", "count": 4, "tags": ["a"]},
    "0a1b2c3d-0000-4000-8000-000000000001": {"city": ["Rome"], "count": [3, 12], "price": 12.0},
}


def build_points(seed: int = 7, generated: int = 56) -> list[Point]:
    """The handcrafted points plus ``generated`` pseudo-random ones (ids 101...), with vectors
    ``image`` (most points) and ``text`` (some)."""
    rng = random.Random(seed)
    points: list[Point] = []
    for point_id, payload in handcrafted_payloads().items():
        vectors = {"image": _vector(rng)}
        if point_id % 3 == 0:
            vectors["text"] = _vector(rng)
        if point_id in (6, 11):
            vectors = {"text": _vector(rng)}
        points.append(Point(point_id, payload, vectors))
    for n in range(generated):
        payload: dict[str, Any] = {}
        if rng.random() < 0.85:
            payload["city"] = rng.choice(_CITIES) if rng.random() < 0.8 else rng.sample(_CITIES, 2)
        if rng.random() < 0.9:
            payload["count"] = rng.randint(-5, 15) if rng.random() < 0.8 else [rng.randint(0, 9) for _ in range(3)]
        if rng.random() < 0.9:
            payload["price"] = round(rng.uniform(0, 100), 2)
        if rng.random() < 0.7:
            payload["flag"] = rng.random() < 0.5
        if rng.random() < 0.8:
            payload["tags"] = rng.sample(["a", "b", "c", "d"], rng.randint(0, 3))
        if rng.random() < 0.8:
            day = rng.randint(1, 28)
            payload["created"] = f"2024-0{rng.randint(1, 6)}-{day:02d}T{rng.randint(0, 23):02d}:00:00Z"
        if rng.random() < 0.8:
            payload["location"] = {"lon": round(rng.uniform(-10, 30), 3), "lat": round(rng.uniform(35, 60), 3)}
        if rng.random() < 0.8:
            payload["description"] = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6)))
        if rng.random() < 0.7:
            payload["meta"] = {
                "owner": {"name": rng.choice(_USERS), "age": rng.randint(18, 70)},
                "level": rng.randint(0, 9),
            }
        if rng.random() < 0.7:
            payload["reviews"] = [
                {"user": rng.choice(_USERS), "score": rng.randint(1, 5), "verified": rng.random() < 0.5}
                for _ in range(rng.randint(0, 3))
            ]
        if rng.random() < 0.6:
            payload["uid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        vectors = {}
        if rng.random() < 0.9:
            vectors["image"] = _vector(rng)
        if rng.random() < 0.5:
            vectors["text"] = _vector(rng)
        points.append(Point(101 + n, payload, vectors))
    for point_id, payload in UUID_POINTS.items():
        points.append(Point(point_id, payload, {"image": _vector(rng)}))
    return points
