"""Generated Python modules for the public Qdrant gRPC API (port 6334).

Messages live in ``proto.api.{json_value,common,collections,points,services,health}_pb2``,
stubs and ``add_*Servicer_to_server`` helpers in ``proto.api.services_pb2_grpc`` and
``proto.api.health_pb2_grpc``. All descriptors are registered in the private pool
``proto.api._pool.POOL``; see ``proto/README.md`` for how to regenerate them.
"""
