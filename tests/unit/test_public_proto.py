"""Our public gRPC .proto files (proto/api) against the official qdrant-client descriptors.

Every message, enum, field and service method the official client knows must exist in our
private descriptor pool with the same full name, number, type, label, oneof and map-ness, so
that the official clients can talk to our server on port 6334. The round trips serialize with
one side and parse with the other, in one process (both modules are imported together).
"""

from concurrent import futures

import grpc
import pytest
from google.protobuf import descriptor as d
from qdrant_client.grpc import (
    collections_pb2 as their_collections,
    collections_service_pb2,
    json_with_int_pb2,
    points_pb2 as their_points,
    points_service_pb2,
    qdrant_common_pb2,
    qdrant_pb2 as their_qdrant,
    qdrant_pb2_grpc as their_qdrant_grpc,
    snapshots_service_pb2,
)

from proto.api import (
    collections_pb2,
    common_pb2,
    health_pb2,
    health_pb2_grpc,
    json_value_pb2,
    points_pb2,
    services_pb2,
    services_pb2_grpc,
)
from proto.api._pool import POOL

THEIR_FILES = [
    json_with_int_pb2,
    qdrant_common_pb2,
    their_collections,
    their_points,
    snapshots_service_pb2,
    their_qdrant,
    collections_service_pb2,
    points_service_pb2,
]
OUR_FILES = [json_value_pb2, common_pb2, collections_pb2, points_pb2, services_pb2]


def _all_messages(containers):
    """Yield every message descriptor (nested ones and map entries included)."""
    for container in containers:
        yield container
        yield from _all_messages(container.nested_types)


def _messages_of(files) -> dict[str, d.Descriptor]:
    out = {}
    for module in files:
        for msg in _all_messages(module.DESCRIPTOR.message_types_by_name.values()):
            out[msg.full_name] = msg
    return out


def _enums_of(files) -> dict[str, d.EnumDescriptor]:
    out = {}
    for module in files:
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            out[enum.full_name] = enum
        for msg in _all_messages(module.DESCRIPTOR.message_types_by_name.values()):
            for enum in msg.enum_types:
                out[enum.full_name] = enum
    return out


def _field_signature(field: d.FieldDescriptor) -> tuple:
    sub = field.message_type or field.enum_type
    oneof = field.containing_oneof
    is_map = bool(field.message_type and field.message_type.GetOptions().map_entry)
    return (
        field.name,
        field.number,
        field.type,
        field.is_repeated,
        sub.full_name if sub else None,
        oneof.name if oneof is not None else None,
        field.has_presence,
        is_map,
        field.GetOptions().deprecated,
    )


def _proto3_optional(field: d.FieldDescriptor) -> bool:
    oneof = field.containing_oneof
    return oneof is not None and len(oneof.fields) == 1 and oneof.name == "_" + field.name


def test_same_set_of_messages_and_enums() -> None:
    assert set(_messages_of(OUR_FILES)) == set(_messages_of(THEIR_FILES))
    assert set(_enums_of(OUR_FILES)) == set(_enums_of(THEIR_FILES))


@pytest.mark.parametrize("full_name", sorted(_messages_of(THEIR_FILES)))
def test_message_matches(full_name: str) -> None:
    theirs = _messages_of(THEIR_FILES)[full_name]
    ours = POOL.FindMessageTypeByName(full_name)
    assert ours.GetOptions().map_entry == theirs.GetOptions().map_entry
    assert [_field_signature(f) for f in ours.fields] == [_field_signature(f) for f in theirs.fields]
    assert [_proto3_optional(f) for f in ours.fields] == [_proto3_optional(f) for f in theirs.fields]
    their_oneofs = [(o.name, [f.name for f in o.fields]) for o in theirs.oneofs]
    assert [(o.name, [f.name for f in o.fields]) for o in ours.oneofs] == their_oneofs


@pytest.mark.parametrize("full_name", sorted(_enums_of(THEIR_FILES)))
def test_enum_matches(full_name: str) -> None:
    theirs = _enums_of(THEIR_FILES)[full_name]
    ours = POOL.FindEnumTypeByName(full_name)
    assert [(v.name, v.number) for v in ours.values] == [(v.name, v.number) for v in theirs.values]


def _services(files) -> dict[str, list[tuple]]:
    out = {}
    for module in files:
        for service in module.DESCRIPTOR.services_by_name.values():
            out[service.full_name] = [
                (
                    m.name,
                    m.input_type.full_name,
                    m.output_type.full_name,
                    m.client_streaming,
                    m.server_streaming,
                    m.GetOptions().deprecated,
                )
                for m in service.methods
            ]
    return out


def test_services_match() -> None:
    theirs = _services(THEIR_FILES)
    assert set(theirs) == {"qdrant.Qdrant", "qdrant.Collections", "qdrant.Points", "qdrant.Snapshots"}
    assert _services([services_pb2]) == theirs


def test_standard_health_service() -> None:
    service = health_pb2.DESCRIPTOR.services_by_name["Health"]
    assert service.full_name == "grpc.health.v1.Health"
    methods = {m.name: (m.input_type.full_name, m.output_type.full_name, m.server_streaming) for m in service.methods}
    assert methods == {
        "Check": ("grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse", False),
        "Watch": ("grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse", True),
    }
    status = health_pb2.HealthCheckResponse.ServingStatus
    assert [(v.name, v.number) for v in status.DESCRIPTOR.values] == [
        ("UNKNOWN", 0), ("SERVING", 1), ("NOT_SERVING", 2), ("SERVICE_UNKNOWN", 3)
    ]


def _cross_parse(their_msg, our_cls) -> None:
    """Their bytes parse into ours and serialize back to the same bytes, and vice versa."""
    wire = their_msg.SerializeToString(deterministic=True)
    ours = our_cls.FromString(wire)
    assert ours.SerializeToString(deterministic=True) == wire
    back = type(their_msg).FromString(ours.SerializeToString())
    assert back == their_msg


def test_upsert_points_round_trip() -> None:
    msg = their_points.UpsertPoints(collection_name="books", wait=True)
    msg.ordering.type = their_points.Strong
    point = msg.points.add()
    point.id.uuid = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"
    point.vectors.vectors.vectors["text"].dense.data.extend([0.5, -1.25, 3.0])
    point.vectors.vectors.vectors["sparse"].sparse.indices.extend([1, 7])
    point.vectors.vectors.vectors["sparse"].sparse.values.extend([0.25, 0.75])
    point.payload["year"].integer_value = 1999
    point.payload["tags"].list_value.values.add().string_value = "sci-fi"
    point.payload["meta"].struct_value.fields["rating"].double_value = 4.5
    point.payload["none"].null_value = json_with_int_pb2.NULL_VALUE
    cond = msg.update_filter.must.add()
    cond.field.key = "year"
    cond.field.range.gte = 1990
    msg.update_filter.must_not.add().has_id.has_id.add().num = 42
    _cross_parse(msg, points_pb2.UpsertPoints)

    ours = points_pb2.UpsertPoints.FromString(msg.SerializeToString())
    vec = ours.points[0].vectors.vectors.vectors["text"].dense.data
    assert list(vec) == [0.5, -1.25, 3.0]
    assert ours.points[0].payload["year"].WhichOneof("kind") == "integer_value"
    assert ours.update_filter.must[0].field.range.gte == 1990
    assert not ours.update_filter.must[0].field.range.HasField("lt")


def test_search_points_round_trip() -> None:
    msg = their_points.SearchPoints(collection_name="c", vector=[0.1, 0.2], limit=5, score_threshold=0.3)
    msg.filter.should.add().field.match.keywords.strings.extend(["a", "b"])
    msg.with_payload.include.fields.append("title")
    msg.params.hnsw_ef = 128
    msg.params.quantization.rescore = True
    msg.read_consistency.type = their_points.Majority
    _cross_parse(msg, points_pb2.SearchPoints)
    ours = points_pb2.SearchPoints.FromString(msg.SerializeToString())
    assert ours.HasField("score_threshold") and ours.limit == 5
    assert ours.read_consistency.WhichOneof("value") == "type"


def test_collection_info_round_trip() -> None:
    msg = their_collections.CollectionInfo(status=their_collections.Green, points_count=10, segments_count=2)
    params = msg.config.params
    params.vectors_config.params_map.map["img"].size = 512
    params.vectors_config.params_map.map["img"].distance = their_collections.Cosine
    params.sparse_vectors_config.map["bm25"].modifier = their_collections.Idf
    params.shard_number = 3
    msg.config.hnsw_config.m = 16
    msg.config.optimizer_config.deleted_threshold = 0.2
    msg.config.quantization_config.scalar.type = their_collections.Int8
    msg.payload_schema["year"].data_type = their_collections.Integer
    msg.payload_schema["year"].params.integer_index_params.range = True
    msg.optimizer_status.ok = True
    _cross_parse(msg, collections_pb2.CollectionInfo)


def test_query_and_snapshot_round_trip() -> None:
    query = their_points.QueryPoints(collection_name="c", limit=3)
    prefetch = query.prefetch.add()
    prefetch.query.nearest.dense.data.extend([1.0, 0.0])
    query.query.fusion = their_points.RRF
    _cross_parse(query, points_pb2.QueryPoints)

    reply = snapshots_service_pb2.ListSnapshotsResponse(time=0.5)
    desc = reply.snapshot_descriptions.add(name="s.snapshot", size=1024, checksum="ab")
    desc.creation_time.seconds = 1_700_000_000
    _cross_parse(reply, services_pb2.ListSnapshotsResponse)


class _HealthyQdrant(services_pb2_grpc.QdrantServicer):
    def HealthCheck(self, request, context):  # noqa: N802 - gRPC method name
        return services_pb2.HealthCheckReply(title="qdrant - vector search engine", version="1.2.3")


class _Health(health_pb2_grpc.HealthServicer):
    def Check(self, request, context):  # noqa: N802 - gRPC method name
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


def test_served_by_our_servicers_called_by_official_stub() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    services_pb2_grpc.add_QdrantServicer_to_server(_HealthyQdrant(), server)
    health_pb2_grpc.add_HealthServicer_to_server(_Health(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = their_qdrant_grpc.QdrantStub(channel).HealthCheck(their_qdrant.HealthCheckRequest(), timeout=10)
            assert (reply.title, reply.version, reply.HasField("commit")) == (
                "qdrant - vector search engine", "1.2.3", False
            )
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert status.status == health_pb2.HealthCheckResponse.SERVING
            # Methods we did not implement answer UNIMPLEMENTED, not a crash.
            with pytest.raises(grpc.RpcError) as err:
                services_pb2_grpc.CollectionsStub(channel).List(collections_pb2.ListCollectionsRequest(), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(None)
