#!/usr/bin/env bash
# Regenerate the Python modules for the public Qdrant gRPC API.
# Run from the repository root: bash proto/api/generate.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

# Messages for every file; gRPC stubs/servicers only for the files with services.
python -m grpc_tools.protoc -I proto/api --python_out=proto/api \
  proto/api/json_value.proto proto/api/common.proto proto/api/collections.proto \
  proto/api/points.proto proto/api/services.proto proto/api/health.proto
python -m grpc_tools.protoc -I proto/api --grpc_python_out=proto/api \
  proto/api/services.proto proto/api/health.proto

for f in proto/api/*_pb2.py proto/api/*_pb2_grpc.py; do
  # Package-relative imports between our generated modules (proto.api.*).
  sed -i 's/^import \([a-z_]*_pb2\) as /from . import \1 as /' "$f"
done
for f in proto/api/*_pb2.py; do
  # Register into the private pool so qdrant_client.grpc can share the process.
  sed -i -e 's/_descriptor_pool\.Default()/_pool.POOL/' \
    -e 's/^from google\.protobuf import descriptor_pool as _descriptor_pool$/from . import _pool/' "$f"
done
