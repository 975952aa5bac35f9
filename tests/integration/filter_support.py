"""Shared setup of the filter and payload-index integration tests: the collection layout,
the indexes the filters can use, and small client helpers."""

from __future__ import annotations

from qdrant_client import QdrantClient, models

from tests.integration.filter_oracle import VECTOR_SIZE, Point, build_points

POINTS = build_points()

# Every index the filters can use; created half before and half after the points are
# loaded, so both indexing on write and backfilling an index are exercised.
INDEXES_BEFORE_LOAD: dict[str, models.PayloadSchemaType | models.TextIndexParams] = {
    "city": models.PayloadSchemaType.KEYWORD,
    "count": models.PayloadSchemaType.INTEGER,
    "price": models.PayloadSchemaType.FLOAT,
    "flag": models.PayloadSchemaType.BOOL,
    "created": models.PayloadSchemaType.DATETIME,
    "reviews[].user": models.PayloadSchemaType.KEYWORD,
    "reviews[].score": models.PayloadSchemaType.INTEGER,
}
INDEXES_AFTER_LOAD: dict[str, models.PayloadSchemaType | models.TextIndexParams] = {
    "location": models.PayloadSchemaType.GEO,
    "description": models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD),
    "uid": models.PayloadSchemaType.UUID,
    "tags": models.PayloadSchemaType.KEYWORD,
    "meta.owner.name": models.PayloadSchemaType.KEYWORD,
    "meta.level": models.PayloadSchemaType.INTEGER,
    "meta[].level": models.PayloadSchemaType.INTEGER,
    "reviews[].verified": models.PayloadSchemaType.BOOL,
    "matrix[]": models.PayloadSchemaType.INTEGER,
    "teams[].name": models.PayloadSchemaType.KEYWORD,
    "teams[].members[].user": models.PayloadSchemaType.KEYWORD,
}


def filter_json(flt: models.Filter) -> dict:
    return flt.model_dump(mode="json", exclude_none=True, by_alias=True)


def vectors_config() -> dict[str, models.VectorParams]:
    return {
        "image": models.VectorParams(size=VECTOR_SIZE, distance=models.Distance.COSINE),
        "text": models.VectorParams(size=VECTOR_SIZE, distance=models.Distance.DOT),
    }


def point_structs(points: list[Point]) -> list[models.PointStruct]:
    return [models.PointStruct(id=p.id, vector=p.vectors, payload=p.payload) for p in points]


def create_loaded_collection(client: QdrantClient, name: str, shard_number: int, indexed: bool) -> None:
    client.create_collection(name, vectors_config=vectors_config(), shard_number=shard_number)
    if indexed:
        for field, schema in INDEXES_BEFORE_LOAD.items():
            client.create_payload_index(name, field, field_schema=schema, wait=True)
    client.upsert(name, points=point_structs(POINTS), wait=True)
    if indexed:
        for field, schema in INDEXES_AFTER_LOAD.items():
            client.create_payload_index(name, field, field_schema=schema, wait=True)


def scroll_all(client: QdrantClient, name: str, flt: models.Filter | None, page: int = 7) -> list:
    ids: list = []
    offset = None
    for _ in range(1000):
        records, offset = client.scroll(name, scroll_filter=flt, limit=page, offset=offset, with_payload=False)
        ids.extend(r.id for r in records)
        if offset is None:
            return ids
    raise AssertionError("scroll did not terminate")
