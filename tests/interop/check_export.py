"""Receives one OTLP/HTTP protobuf export, decodes it with the official
opentelemetry-proto package, checks it field by field against what the
Rust test sent, and prints OK or the first mismatch.

Prints "listening PORT" first; answers 200 with an empty
ExportTraceServiceResponse.
"""
import http.server
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

result = []


def check(req):
    spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    resource = {kv.key: kv.value for kv in req.resource_spans[0].resource.attributes}
    scope = req.resource_spans[0].scope_spans[0].scope
    assert resource["service.name"].string_value == "rust-sender", resource
    assert scope.name == "interop" and scope.version == "9.9.9", scope
    by_name = {s.name: s for s in spans}
    root, child = by_name["root"], by_name["child"]
    assert len(root.trace_id) == 16 and len(root.span_id) == 8
    assert child.trace_id == root.trace_id
    assert child.parent_span_id == root.span_id
    assert root.parent_span_id == b""
    assert root.kind == 2 and child.kind == 3, (root.kind, child.kind)
    assert root.end_time_unix_nano - root.start_time_unix_nano == 5_000_000
    attrs = {kv.key: kv.value for kv in root.attributes}
    assert attrs["s"].string_value == "text"
    assert attrs["i"].int_value == -42
    assert attrs["f"].double_value == 2.5
    assert attrs["b"].bool_value is True
    assert [v.int_value for v in attrs["ints"].array_value.values] == [1, 2]
    assert [v.string_value for v in attrs["strs"].array_value.values] == ["x", "y"]
    assert root.events[0].name == "cache.miss"
    assert root.events[0].attributes[0].key == "key"
    assert child.status.code == 2 and child.status.message == "boom", child.status
    assert root.status.code == 0
    assert len(root.links) == 1 and root.links[0].span_id == bytes.fromhex("00000000000000aa")
    assert root.flags & 0x01 == 0x01, hex(root.flags)
    assert root.trace_state == "vendor=v1", root.trace_state
    return "OK %d spans" % len(spans)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            assert self.path == "/v1/traces", self.path
            assert self.headers["Content-Type"] == "application/x-protobuf", self.headers["Content-Type"]
            assert self.headers["x-api-key"] == "k1", self.headers
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            result.append(check(req))
        except AssertionError as e:
            result.append("FAIL %r" % (e,))
        except Exception as e:
            result.append("FAIL %s: %s" % (type(e).__name__, e))
        out = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print("listening %d" % server.server_address[1], flush=True)
server.timeout = 20
server.handle_request()
print(result[0] if result else "FAIL nothing received", flush=True)
