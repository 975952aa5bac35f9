"""Private descriptor pool for the public Qdrant gRPC API modules.

The official ``qdrant_client.grpc`` modules register the same full names
(``qdrant.PointId``, ...) in protobuf's default pool, and the default pool
rejects a second, differently named file defining them. Our generated
``*_pb2`` modules therefore register into ``POOL`` instead (``generate.sh``
rewrites ``_descriptor_pool.Default()`` to it), so both can live in one process.
The wire format is unaffected: only full names and field numbers travel.

One consequence: message classes of this pool are distinct from the default
pool's. A ``google.protobuf.Timestamp`` field of our messages holds a
``Timestamp`` built from ``POOL`` (exported below), so use its methods
(``FromDatetime``, ``GetCurrentTime``) or set ``seconds``/``nanos`` rather than
``CopyFrom`` a ``timestamp_pb2.Timestamp``.
"""

from google.protobuf import descriptor_pool, message_factory, timestamp_pb2

POOL = descriptor_pool.DescriptorPool()
# Well-known types our .proto files import must exist in the private pool too.
POOL.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)

#: The ``google.protobuf.Timestamp`` class used by fields of our messages.
Timestamp = message_factory.GetMessageClass(POOL.FindMessageTypeByName("google.protobuf.Timestamp"))
