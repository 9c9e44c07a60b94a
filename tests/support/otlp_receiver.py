"""An OTLP/HTTP traces receiver for tests/otel.rs, on 127.0.0.1.

Every POST to /v1/traces is parsed against the official OTLP schema (`opentelemetry-proto`,
with protobuf's strict JSON parser: an unknown field or a wrong type is an error) and written
to OUT as one JSON line: {"headers": {...}, "request": <the parsed request>} or
{"error": "..."} (answered 400). OTLP/JSON carries trace and span ids as hex, where protobuf's
JSON mapping has base64: they are converted (and checked for their length) before parsing.

    python otlp_receiver.py OUT [--refuse-first]

Prints the port on its first line of stdout. With --refuse-first, the first export is answered
503, as a collector that is restarting would.
"""

import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

OUT = sys.argv[1]
REFUSE_FIRST = "--refuse-first" in sys.argv[2:]
state = {"requests": 0}

ID_LENGTHS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def hex_ids_to_base64(body):
    for rs in body.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key, length in ID_LENGTHS.items():
                    if key in span:
                        raw = bytes.fromhex(span[key])
                        if len(raw) != length:
                            raise ValueError(f"{key} {span[key]!r} is not {length} bytes")
                        span[key] = base64.b64encode(raw).decode()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        state["requests"] += 1
        if REFUSE_FIRST and state["requests"] == 1:
            self.answer(503, b'{"message": "restarting"}')
            return
        try:
            if self.path != "/v1/traces":
                raise ValueError(f"posted to {self.path}, not /v1/traces")
            if self.headers.get("Content-Type") != "application/json":
                raise ValueError(f"content type {self.headers.get('Content-Type')!r}")
            body = json.loads(data)
            hex_ids_to_base64(body)
            request = json_format.ParseDict(body, ExportTraceServiceRequest())
            parsed = json_format.MessageToDict(request)
            line = {"headers": {k.lower(): v for k, v in self.headers.items()}, "request": parsed}
            status, answer = 200, b"{}"
        except Exception as e:  # noqa: BLE001 - every problem is the test's to see
            line = {"error": f"{type(e).__name__}: {e}"}
            status, answer = 400, json.dumps({"message": str(e)}).encode()
        with open(OUT, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        self.answer(status, answer)

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
