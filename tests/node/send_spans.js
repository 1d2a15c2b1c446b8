// Sends spans of known durations with the real OpenTelemetry Node.js SDK over OTLP/gRPC,
// for tests/collector_spanmetrics.rs.
//
//     node send_spans.js SPEC.json
//
// SPEC.json: {"endpoint": "127.0.0.1:4317", "service": "node-checkout",
//             "spans": [{"name": "POST /payment", "kind": "server", "error": false,
//                        "duration_us": 1500}, ...]}
//
// Every span gets explicit start and end times as [seconds, nanoseconds] pairs, so its
// duration is exactly duration_us microseconds; the process exits non-zero if the export
// fails.
'use strict';

const fs = require('fs');
const { SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');

const KINDS = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const exporter = new OTLPTraceExporter({ url: `http://${spec.endpoint}`, timeoutMillis: 30000 });
  let failed = null;
  const inner = exporter.export.bind(exporter);
  exporter.export = (spans, done) =>
    inner(spans, (result) => {
      if (result.code !== 0) failed = result.error || new Error(`export result ${result.code}`);
      done(result);
    });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': spec.service }),
    spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 512, maxQueueSize: 4096 })],
  });
  const tracer = provider.getTracer('burnwatch.tests.spanmetrics');
  // An hour ago, whole seconds: start and end are exact nanosecond pairs.
  const base = Math.floor(Date.now() / 1000) - 3600;
  spec.spans.forEach((s, i) => {
    const startNs = i * 1_000_000;
    const start = [base + Math.floor(startNs / 1e9), startNs % 1e9];
    const endNs = startNs + s.duration_us * 1000;
    const end = [base + Math.floor(endNs / 1e9), endNs % 1e9];
    const span = tracer.startSpan(s.name, { kind: KINDS[s.kind], startTime: start });
    if (s.error) span.setStatus({ code: SpanStatusCode.ERROR, message: 'failed' });
    span.end(end);
  });
  await provider.forceFlush();
  await provider.shutdown();
  if (failed) {
    console.error(`the span export failed: ${failed}`);
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
