#!/usr/bin/env python3
"""Sends spans, metrics and logs chosen to exercise burnwatch's resource, attributes,
filter and resourcedetection processors, with the real OpenTelemetry Python SDK over
OTLP/gRPC.

    send_for_processors.py --endpoint HOST:PORT

Resource: service.name=checkout, secret.token=t0ken.
Spans (kind SERVER):
  "GET /health"  http.route=/health                    (a filter condition drops it)
  "GET /orders"  http.route=/orders, user.email=ann@example.com, password=hunter2,
                 http.url=https://shop.example.com/orders?id=7
Metrics: counter proc.requests, +5 with env=prod and +2 with env=test (the test point is
filtered); counter proc.dropped +1 (the whole metric is filtered).
Logs: "debug detail" at DEBUG (filtered), "order placed" at INFO with order.id=7.
"""

import argparse
import logging

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.trace import SpanKind


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args()
    endpoint = "http://" + args.endpoint
    resource = Resource.create({"service.name": "checkout", "secret.token": "t0ken"})

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
    )
    tracer = tracer_provider.get_tracer("processors-e2e")
    with tracer.start_as_current_span("GET /health", kind=SpanKind.SERVER) as span:
        span.set_attribute("http.route", "/health")
    with tracer.start_as_current_span("GET /orders", kind=SpanKind.SERVER) as span:
        span.set_attribute("http.route", "/orders")
        span.set_attribute("user.email", "ann@example.com")
        span.set_attribute("password", "hunter2")
        span.set_attribute("http.url", "https://shop.example.com/orders?id=7")
    tracer_provider.shutdown()

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("processors-e2e")
    requests = meter.create_counter("proc.requests")
    requests.add(5, {"env": "prod"})
    requests.add(2, {"env": "test"})
    meter.create_counter("proc.dropped").add(1)
    meter_provider.shutdown()

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True))
    )
    logger = logging.getLogger("processors-e2e")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=logger_provider))
    logger.debug("debug detail")
    logger.info("order placed", extra={"order.id": 7})
    logger_provider.shutdown()


if __name__ == "__main__":
    main()
