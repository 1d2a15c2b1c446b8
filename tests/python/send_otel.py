#!/usr/bin/env python3
"""Sends a known set of traces, metrics and logs to an OTLP endpoint with the real
OpenTelemetry Python SDK, so burnwatch's end-to-end tests can check what arrives.

    send_otel.py --protocol grpc|http|json --endpoint HOST:PORT --instance ID

`grpc` and `http` use the SDK's own OTLP exporters (protobuf). `json` encodes with the
SDK's own OTLP encoders and posts the OTLP/JSON mapping (hex ids, integer enums), which the
Python SDK has no exporter for.

What is sent (service.namespace=burnwatch-tests, service.name=sdk-e2e):
  traces:  3 spans (a parent and two children)
  metrics: e2e.requests counter += 2 then += 3 (5), e2e.queue.depth up-down counter
           +10 -3 (7), e2e.utilization gauge 0.75 (unit 1), e2e.latency histogram (unit s)
           of 0.05, 0.2, 2.5 with bounds [0.1, 0.5, 1, 5], e2e.delta.jobs counter with DELTA
           temporality, 3 then 4 in two exports (7 cumulative)
  logs:    2 log records
"""

import argparse
import json
import logging
import sys
import urllib.request

from google.protobuf.json_format import MessageToDict
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.metrics import MeterProvider, Counter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import View, ExplicitBucketHistogramAggregation
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor, LogExporter, LogExportResult
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs


def hexify_ids(node):
    """The OTLP/JSON mapping writes trace and span ids as hex, not proto3 base64."""
    import base64

    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                hexify_ids(value)
    elif isinstance(node, list):
        for item in node:
            hexify_ids(item)
    return node


def post_json(url, message):
    body = json.dumps(hexify_ids(MessageToDict(message, use_integers_for_enums=True))).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{url} answered {resp.status}")


class JsonSpanExporter(SpanExporter):
    def __init__(self, base):
        self.url = base + "/v1/traces"

    def export(self, spans):
        post_json(self.url, encode_spans(spans))
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


class JsonMetricExporter(MetricExporter):
    def __init__(self, base, preferred_temporality=None):
        super().__init__(preferred_temporality=preferred_temporality)
        self.url = base + "/v1/metrics"

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        post_json(self.url, encode_metrics(metrics_data))
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        pass


class JsonLogExporter(LogExporter):
    def __init__(self, base):
        self.url = base + "/v1/logs"

    def export(self, batch):
        post_json(self.url, encode_logs(batch))
        return LogExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self):
        pass


def exporters(protocol, endpoint, delta=False):
    temporality = {Counter: AggregationTemporality.DELTA} if delta else None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        url = f"http://{endpoint}"
        return (
            OTLPSpanExporter(endpoint=url, insecure=True),
            OTLPMetricExporter(endpoint=url, insecure=True, preferred_temporality=temporality),
            OTLPLogExporter(endpoint=url, insecure=True),
        )
    base = f"http://{endpoint}"
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return (
            OTLPSpanExporter(endpoint=base + "/v1/traces"),
            OTLPMetricExporter(endpoint=base + "/v1/metrics", preferred_temporality=temporality),
            OTLPLogExporter(endpoint=base + "/v1/logs"),
        )
    if protocol == "json":
        return JsonSpanExporter(base), JsonMetricExporter(base, temporality), JsonLogExporter(base)
    raise SystemExit(f"unknown protocol {protocol!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", required=True, choices=["grpc", "http", "json"])
    parser.add_argument("--endpoint", required=True, help="host:port of the OTLP receiver")
    parser.add_argument("--instance", required=True, help="service.instance.id")
    args = parser.parse_args()

    resource = Resource.create(
        {
            "service.name": "sdk-e2e",
            "service.namespace": "burnwatch-tests",
            "service.instance.id": args.instance,
            "deployment.environment": "test",
        }
    )
    span_exporter, metric_exporter, log_exporter = exporters(args.protocol, args.endpoint)
    _, delta_exporter, _ = exporters(args.protocol, args.endpoint, delta=True)

    # Traces: three spans, exported as each ends.
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    tracer = tracer_provider.get_tracer("e2e.tracer", "1.2.3")
    with tracer.start_as_current_span("checkout"):
        with tracer.start_as_current_span("reserve-stock"):
            pass
        with tracer.start_as_current_span("charge-card"):
            pass
    tracer_provider.shutdown()

    # Cumulative metrics, exported once at shutdown.
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    view = View(
        instrument_name="e2e.latency",
        aggregation=ExplicitBucketHistogramAggregation(boundaries=[0.1, 0.5, 1.0, 5.0]),
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader], views=[view])
    meter = meter_provider.get_meter("e2e.meter", "1.2.3")
    requests = meter.create_counter("e2e.requests", unit="{request}", description="Requests served.")
    requests.add(2, {"route": "/checkout", "code": "200"})
    requests.add(3, {"route": "/checkout", "code": "200"})
    depth = meter.create_up_down_counter("e2e.queue.depth", unit="{item}", description="Items queued.")
    depth.add(10)
    depth.add(-3)
    utilization = meter.create_gauge("e2e.utilization", unit="1", description="Busy share.")
    utilization.set(0.75)
    latency = meter.create_histogram("e2e.latency", unit="s", description="Request latency.")
    for v in (0.05, 0.2, 2.5):
        latency.record(v, {"route": "/checkout"})
    meter_provider.shutdown()

    # A delta-temporality counter, exported twice: the collector must accumulate it.
    delta_reader = PeriodicExportingMetricReader(delta_exporter, export_interval_millis=3_600_000)
    delta_provider = MeterProvider(resource=resource, metric_readers=[delta_reader])
    jobs = delta_provider.get_meter("e2e.meter", "1.2.3").create_counter("e2e.delta.jobs", description="Jobs done.")
    jobs.add(3)
    delta_provider.force_flush()
    jobs.add(4)
    delta_provider.shutdown()

    # Logs: two records through the logging bridge.
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    log = logging.getLogger("e2e")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.info("order placed")
    log.warning("stock low")
    logger_provider.shutdown()
    print("sent", args.protocol, file=sys.stderr)


if __name__ == "__main__":
    main()
