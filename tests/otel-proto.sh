#!/usr/bin/env bash
# Provisions the OTLP receiver of tests/otel.rs: a Python virtual environment under
# target/otel-venv with `opentelemetry-proto` (the official OTLP protobuf schema, and protobuf's
# JSON parser), which the receiver parses every export with. Idempotent: a venv that already has
# the package is kept. Prints the venv's python on stdout (everything else goes to stderr).
#   tests/otel-proto.sh
#   OTEL_PROTO_VERSION=1.38.0 tests/otel-proto.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${BATON_OTEL_VENV:-target/otel-venv}"
version="${OTEL_PROTO_VERSION:-1.38.0}"
check='from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest'

if ! "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
  python="$(command -v python3 || command -v python || true)"
  if [ -z "$python" ]; then
    echo "tests/otel-proto.sh: python3 is needed to install opentelemetry-proto (apt-get install python3-venv)" >&2
    exit 1
  fi
  echo "tests/otel-proto.sh: installing opentelemetry-proto $version into $venv" >&2
  "$python" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "opentelemetry-proto==$version" >&2
  "$venv/bin/python" -c "$check"
fi
cd "$venv/bin" && echo "$PWD/python"
