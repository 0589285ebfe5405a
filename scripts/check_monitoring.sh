#!/bin/sh
# ctest monitoring_rules: the Prometheus alert rules of monitoring/ load (`promtool check rules`) and
# pass their unit tests (`promtool test rules`), and the Grafana dashboard is valid JSON. promtool comes
# with Debian's `prometheus` package (scripts/setup.sh --test); without it the test is skipped (77).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIPPED: promtool not found (apt install prometheus, or scripts/setup.sh --test)"
  exit 77
fi
cd "$here/monitoring/prometheus"
promtool check rules kabar-alerts.yml
promtool test rules kabar-alerts.test.yml
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["panels"], "no panels"' \
  "$here/monitoring/grafana/kabar-dashboard.json"
echo "monitoring/: rules and dashboard OK"
