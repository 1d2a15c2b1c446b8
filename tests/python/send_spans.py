#!/usr/bin/env python3
"""Sends spans of known durations with the real OpenTelemetry Python SDK over OTLP/gRPC,
for tests/collector_spanmetrics.rs.

    send_spans.py SPEC.json

SPEC.json: {"endpoint": "127.0.0.1:4317", "service": "py-checkout",
            "spans": [{"name": "POST /payment", "kind": "server", "error": false,
                       "duration_us": 1500}, ...]}

Every span gets explicit start and end times (integer nanoseconds), so its duration is
exactly duration_us microseconds; the process exits non-zero if the export fails.
"""

import json
import sys
import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

KINDS = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "internal": SpanKind.INTERNAL,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}


class CheckedExporter(OTLPSpanExporter):
    """Remembers whether any export failed, so the process can say so."""

    failed = False

    def export(self, spans):
        result = super().export(spans)
        if result != SpanExportResult.SUCCESS:
            CheckedExporter.failed = True
        return result


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    provider = TracerProvider(resource=Resource.create({"service.name": spec["service"]}))
    exporter = CheckedExporter(endpoint="http://" + spec["endpoint"], insecure=True, timeout=30)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=512))
    tracer = provider.get_tracer("burnwatch.tests.spanmetrics")
    base = time.time_ns() - 3_600_000_000_000
    for i, s in enumerate(spec["spans"]):
        start = base + i * 1_000_000
        span = tracer.start_span(s["name"], kind=KINDS[s["kind"]], start_time=start)
        if s["error"]:
            span.set_status(Status(StatusCode.ERROR, "failed"))
        span.end(end_time=start + s["duration_us"] * 1000)
    ok = provider.force_flush(60_000)
    provider.shutdown()
    if not ok or CheckedExporter.failed:
        print("the span export failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
