#!/usr/bin/env bash
# Installs everything kabar needs on a fresh Debian 12 machine. Idempotent; run as root.
#   scripts/setup.sh          build and run dependencies
#   scripts/setup.sh --test   also the test dependencies (npm clients, headless Chromium)
#   scripts/setup.sh --bench  also the benchmark peers (laravel-echo-server from npm, redis-server)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ pkg-config
  libboost-dev libpaho-mqttpp-dev libpaho-mqtt-dev
  mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev
  nlohmann-json3-dev libvalijson-dev libsqlitecpp-dev libsqlite3-dev sqlite3
  libspdlog-dev libcli11-dev libssl-dev libcpp-jwt-dev
  libgtest-dev libgmock-dev
)
with_tests=false
with_bench=false
for arg in "$@"; do
  case "$arg" in
    # nginx: tests/e2e/failover_nginx.test.mjs runs two nodes behind it (started by the test, one process),
    # tls_proxy.test.mjs the same config with TLS. openssl: the TLS tests make their certificates with it.
    # rabbitmq-server: tests/e2e/rabbitmq_cluster.test.mjs runs kabar over a 3-node RabbitMQ cluster
    # (its MQTT plugin) that the test starts itself on loopback; the system service is not used.
    # buildah, debootstrap: tests/e2e/compose_image.test.mjs builds the compose image's runtime stage over
    # a Debian 12 made by debootstrap (no registry needed) and runs it with buildah's chroot isolation;
    # package.test.mjs installs the .deb with dpkg --root into that Debian. dpkg-dev (dpkg-shlibdeps) for
    # cpack's Depends; systemd for systemd-analyze verify of the unit (no system service is started).
    # prometheus: only for its promtool, which checks the live /metrics (tests/e2e/observability.test.mjs)
    # and the alert rules of monitoring/ (ctest monitoring_rules); the server itself is not used.
    --test) with_tests=true; packages+=(nodejs npm chromium clang libclang-rt-14-dev docker-compose nginx openssl rabbitmq-server
                                         buildah debootstrap dpkg-dev systemd prometheus) ;;
    --bench) with_bench=true; packages+=(nodejs npm redis-server jq) ;;
    *) echo "setup: unknown argument $arg (--test, --bench)" >&2; exit 2 ;;
  esac
done

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# node/npm may come from elsewhere (nodesource, the image): only install them when absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Debian mosquitto package starts a system broker on 127.0.0.1:1883 (mosquitto.service), where
# kabar's embedded broker would listen. It is left alone: kabar's broker then takes a free port and
# logs which (docs/operations.md "Running"); say so now, so the port in the log is no surprise.
if command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
  echo "setup: mosquitto.service is running on 1883; kabar's own broker will take a free port and log it" \
       "(or use the system broker: kabar serve --external-broker)"
fi
# Debian's rabbitmq-server enables and starts a system broker (and epmd) on install. The test starts
# its own nodes on ports of its own and never uses it: stop it and keep it from starting at boot.
if $with_tests && command -v systemctl >/dev/null && systemctl is-enabled --quiet rabbitmq-server 2>/dev/null; then
  echo "setup: stopping and disabling rabbitmq-server.service (tests start their own RabbitMQ nodes)"
  as_root systemctl disable --now rabbitmq-server || true
fi
# Debian's prometheus enables and starts a Prometheus server on :9090 on install; the tests use only its
# promtool. Stop it and keep it from starting at boot (--no-install-recommends above leaves out
# prometheus-node-exporter, which would be a second service).
if $with_tests && command -v systemctl >/dev/null && systemctl is-enabled --quiet prometheus 2>/dev/null; then
  echo "setup: stopping and disabling prometheus.service (tests use only promtool)"
  as_root systemctl disable --now prometheus || true
fi
if $with_tests && [[ -f tests/e2e/package.json ]]; then
  (cd tests/e2e && if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)
  # esbuild, to measure kabar.js against its size budget (clients/js/test/size.test.mjs)
  npm --prefix clients/js ci --no-audit --no-fund --loglevel=error
fi
if $with_bench; then
  npm --prefix bench/peers ci --no-audit --no-fund --loglevel=error
fi
echo "setup: done"
