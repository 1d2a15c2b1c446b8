#!/usr/bin/env python3
"""Exports one span with the real OpenTelemetry Python SDK's OTLP exporter, optionally
with request headers, and reports whether the collector accepted it.

    send_auth.py --protocol grpc|http --endpoint HOST:PORT [--header NAME=VALUE]... [--ca PEM]

With --ca the exporter connects over TLS (https) and trusts only that certificate.

Exit status: 0 when the exporter reports SUCCESS, 3 when it reports FAILURE (an
authentication refusal is not retryable, so the SDK gives up at once), anything else
on a crash.
"""

import argparse
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=["grpc", "http"], required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--ca")
    args = parser.parse_args()
    headers = dict(h.split("=", 1) for h in args.header)

    # Record one finished span in memory, then hand it to the OTLP exporter directly so
    # its result (SUCCESS / FAILURE) is observable.
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "auth-e2e"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("auth-e2e").start_as_current_span("authenticated-span"):
        pass
    spans = memory.get_finished_spans()

    if args.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        if args.ca:
            import grpc

            with open(args.ca, "rb") as ca:
                credentials = grpc.ssl_channel_credentials(root_certificates=ca.read())
            exporter = OTLPSpanExporter(
                endpoint=f"https://{args.endpoint}",
                insecure=False,
                credentials=credentials,
                headers=headers or None,
                timeout=10,
            )
        else:
            exporter = OTLPSpanExporter(
                endpoint=f"http://{args.endpoint}", insecure=True, headers=headers or None, timeout=10
            )
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        scheme = "https" if args.ca else "http"
        exporter = OTLPSpanExporter(
            endpoint=f"{scheme}://{args.endpoint}/v1/traces",
            certificate_file=args.ca,
            headers=headers or None,
            timeout=10,
        )
    result = exporter.export(spans)
    exporter.shutdown()
    print(f"export result: {result.name}")
    sys.exit(0 if result == SpanExportResult.SUCCESS else 3)


if __name__ == "__main__":
    main()
