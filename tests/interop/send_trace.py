"""Sends a small two-service trace to an OTLP/HTTP endpoint with the
official OpenTelemetry Python SDK, then prints the trace id (hex).

usage: send_trace.py ENDPOINT   (e.g. http://127.0.0.1:4318/v1/traces)
"""
import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

endpoint = sys.argv[1]


def provider(service):
    p = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "test"}))
    p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return p


frontend = provider("py-frontend")
backend = provider("py-backend")
ft = frontend.get_tracer("interop", "1.2.3")
bt = backend.get_tracer("interop")

with ft.start_as_current_span("GET /checkout", kind=SpanKind.SERVER) as root:
    root.set_attribute("http.request.method", "GET")
    root.set_attribute("http.response.status_code", 200)
    root.set_attribute("ratio", 0.25)
    root.set_attribute("cached", False)
    root.set_attribute("tags", ["a", "b"])
    root.set_attribute("ids", [1, 2, 3])
    with ft.start_as_current_span("POST", kind=SpanKind.CLIENT) as call:
        ctx = set_span_in_context(call)
        server = bt.start_span("POST /charge", context=ctx, kind=SpanKind.SERVER)
        server.add_event("card.declined", {"attempt": 2, "reason": "insufficient funds"})
        server.set_status(Status(StatusCode.ERROR, "payment failed"))
        server.end()
    print(format(root.get_span_context().trace_id, "032x"))

frontend.shutdown()
backend.shutdown()
