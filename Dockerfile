# burnwatch as a container image: the collector sidecar (`burnwatch collector`).
#
#   docker build -t burnwatch:dev .
#   docker run --rm -p 4317:4317 -p 4318:4318 -p 8889:8889 -p 13133:13133 \
#     -v "$PWD/examples/otelcol-seed.yaml:/etc/burnwatch/config.yaml:ro" \
#     burnwatch:dev --config /etc/burnwatch/config.yaml
#
# Without --config the embedded default configuration runs (OTLP on localhost:4317/4318, the
# Prometheus exporter on localhost:8889), which suits a sidecar sharing the pod's network.
# The image has no HEALTHCHECK on purpose: liveness and readiness belong to Kubernetes'
# probes against the health_check extension (:13133), see examples/kubernetes/.

# --- build: the `dist` profile (stripped, LTO, one codegen unit) -----------------------------
# The full image, not -slim: tikv-jemalloc-sys (the global allocator) builds jemalloc with make.
FROM rust:1.90-bookworm AS builder
WORKDIR /src
# Everything the workspace compiles, including the files it embeds (examples/demo-slos,
# dashboards); .dockerignore keeps target/, .git and the test peers out of the context.
COPY . .
RUN cargo build --locked --profile dist --bin burnwatch \
    && install -D -m 0755 target/dist/burnwatch /out/burnwatch

# --- run: glibc and libgcc only, no shell, no package manager --------------------------------
# distroless/cc carries exactly the shared libraries the binary links (libc, libm, libgcc_s).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/burnwatch /usr/local/bin/burnwatch
# A numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
# (65532 is distroless's "nonroot").
USER 65532:65532
# 4317 OTLP/gRPC, 4318 OTLP/HTTP, 8888 the collector's own metrics, 8889 the Prometheus
# exporter, 13133 the health_check extension.
EXPOSE 4317 4318 8888 8889 13133
ENTRYPOINT ["/usr/local/bin/burnwatch", "collector"]
