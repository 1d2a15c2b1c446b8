#!/usr/bin/env python3
"""The instrumented app of examples/kubernetes/deployment.yaml in miniature: configured only
through the OpenTelemetry SDK's standard environment (OTEL_EXPORTER_OTLP_ENDPOINT,
OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), as the manifest's
app container is. It counts 3 orders on `checkout.orders` {outcome="ok"}, exports them over
OTLP/gRPC and exits non-zero unless every export succeeded.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 OTEL_SERVICE_NAME=checkout k8s_app.py
"""

import os
import sys

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource


class RecordingExporter(OTLPMetricExporter):
    """The SDK's own exporter, remembering each export's result (the reader drops them)."""

    def __init__(self):
        super().__init__()
        self.results = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        self.results.append(result)
        return result


def main():
    if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc") != "grpc":
        sys.exit("k8s_app.py speaks OTLP/gRPC only, as deployment.yaml configures the app")
    exporter = RecordingExporter()
    reader = PeriodicExportingMetricReader(exporter)
    # Resource.create() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
    provider = MeterProvider(resource=Resource.create(), metric_readers=[reader])
    orders = provider.get_meter("checkout").create_counter("checkout.orders")
    orders.add(3, {"outcome": "ok"})
    provider.force_flush()
    provider.shutdown()
    if not exporter.results or any(r != MetricExportResult.SUCCESS for r in exporter.results):
        sys.exit(f"export failed: {exporter.results}")
    print(f"exported {len(exporter.results)} time(s)")


if __name__ == "__main__":
    main()
