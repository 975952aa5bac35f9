"""Random filters over the test data set's keys, for comparing the server with the oracle."""

from __future__ import annotations

import random
from typing import Any

_KEYS_STR = ["city", "tags", "description", "meta.owner.name", "reviews[].user", "uid", "created", "count"]
_KEYS_NUM = ["count", "price", "meta.level", "reviews[].score", "meta[].level", "matrix[]"]
_KEYS_ANY = _KEYS_STR + _KEYS_NUM + ["flag", "location", "reviews", "meta", "meta.owner", "teams", "missing"]
_STRINGS = ["Berlin", "Paris", "London", "Rome", "a", "b", "c", "alice", "bob", "carol", "7", "red", "x"]
_WORDS = ["brown", "fox", "quick", "lazy", "river", "morning", "over", "red apple", "green"]


class FilterFuzzer:
    """Builds random REST-JSON filters; ``depth`` bounds the nesting of sub-filters."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def filter(self, depth: int = 2) -> dict:
        rng = self.rng
        out: dict[str, Any] = {}
        for clause, most in (("must", 1), ("should", 3), ("must_not", 2)):
            if rng.random() < 0.5:
                out[clause] = [self.condition(depth) for _ in range(rng.randint(1, most))]
        if rng.random() < 0.2:
            conditions = [self.condition(depth) for _ in range(rng.randint(1, 4))]
            out["min_should"] = {"conditions": conditions, "min_count": rng.randint(1, len(conditions))}
        return out

    def condition(self, depth: int, inside_nested: bool = False) -> dict:
        rng = self.rng
        roll = rng.random()
        if depth > 0 and roll < 0.12:
            return self.filter(depth - 1)
        if depth > 0 and roll < 0.22 and not inside_nested:
            key, inner_keys = rng.choice([("reviews", ["user", "score", "verified"]), ("meta", ["level"]), ("teams", ["name"])])
            inner: dict[str, Any] = {"must": [self.inner_condition(inner_keys)]}
            if rng.random() < 0.4:
                inner["must_not"] = [self.inner_condition(inner_keys)]
            return {"nested": {"key": key, "filter": inner}}
        if roll < 0.28:
            return {"has_id": rng.sample([1, 2, 3, 5, 8, 9, 12, 101, 110, 120, 140, 999], rng.randint(1, 4))}
        if roll < 0.32:
            return {"has_vector": rng.choice(["image", "text", "audio"])}
        if roll < 0.38:
            return {rng.choice(["is_empty", "is_null"]): {"key": rng.choice(_KEYS_ANY)}}
        return self.field_condition()

    def inner_condition(self, keys: list[str]) -> dict:
        rng = self.rng
        key = rng.choice(keys)
        roll = rng.random()
        if roll < 0.4:
            return {"key": key, "match": {"value": rng.choice(["alice", "bob", "red", True, False, 1, 4, 5])}}
        if roll < 0.8:
            return {"key": key, "range": {"gte": rng.randint(0, 5)}}
        return {"is_empty": {"key": key}}

    def field_condition(self) -> dict:
        rng = self.rng
        roll = rng.random()
        if roll < 0.2:
            return {"key": rng.choice(_KEYS_STR), "match": {"value": rng.choice(_STRINGS)}}
        if roll < 0.3:
            return {"key": rng.choice(_KEYS_NUM), "match": {"value": rng.randint(-3, 10)}}
        if roll < 0.35:
            return {"key": "flag", "match": {"value": rng.random() < 0.5}}
        if roll < 0.45:
            kind = rng.choice(["any", "except"])
            if rng.random() < 0.5:
                return {"key": rng.choice(_KEYS_STR), "match": {kind: rng.sample(_STRINGS, rng.randint(1, 3))}}
            return {"key": rng.choice(_KEYS_NUM), "match": {kind: rng.sample(range(-3, 11), rng.randint(1, 3))}}
        if roll < 0.55:
            key = rng.choice(_KEYS_NUM)
            bounds = {}
            for bound in rng.sample(["gt", "gte", "lt", "lte"], rng.randint(1, 2)):
                bounds[bound] = rng.choice([rng.randint(-5, 100), round(rng.uniform(-5, 100), 2)])
            return {"key": key, "range": bounds}
        if roll < 0.62:
            month = rng.randint(1, 6)
            bound = rng.choice(["gt", "gte", "lt", "lte"])
            return {"key": "created", "range": {bound: f"2024-0{month}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"}}
        if roll < 0.7:
            lon, lat = rng.uniform(-10, 25), rng.uniform(38, 58)
            if rng.random() < 0.5:
                return {"key": "location", "geo_radius": {"center": {"lon": lon, "lat": lat}, "radius": rng.uniform(1e4, 1e6)}}
            return {
                "key": "location",
                "geo_bounding_box": {
                    "top_left": {"lon": lon, "lat": min(lat + rng.uniform(1, 10), 89)},
                    "bottom_right": {"lon": min(lon + rng.uniform(1, 15), 179), "lat": lat},
                },
            }
        if roll < 0.75:
            kind = rng.choice(["text", "phrase", "text_any"])
            return {"key": "description", "match": {kind: rng.choice(_WORDS)}}
        if roll < 0.78:
            kind = rng.choice(["prefix", "substring"])
            return {"key": rng.choice(_KEYS_STR), "match": {kind: rng.choice(["B", "o", "ar", "2024-0", "a", ""])}}
        if roll < 0.88:
            bound = rng.choice(["gt", "gte", "lt", "lte"])
            return {"key": rng.choice(_KEYS_ANY), "values_count": {bound: rng.randint(0, 3)}}
        return {"key": rng.choice(_KEYS_ANY), rng.choice(["is_empty", "is_null"]): rng.random() < 0.5}
