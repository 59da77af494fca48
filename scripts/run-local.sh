#!/usr/bin/env bash
# Starts Azurite (data kept under .azurite/) and serves the app on $PORT:
# with `func start` when Azure Functions Core Tools is installed, else with the dev host.
# Ctrl-C, or a TERM or HUP to this script, stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-7071}"
children=()

stop_children() {
  for pid in ${children[@]+"${children[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${children[@]+"${children[@]}"}; do wait "$pid" 2>/dev/null || true; done
}
trap stop_children EXIT
trap 'exit 143' TERM HUP
trap 'exit 130' INT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if port_open 10002; then
  echo "Azurite (or another Table service) already listens on 10002; using it."
else
  mkdir -p .azurite
  node_modules/.bin/azurite --silent --location .azurite --skipApiVersionCheck --disableTelemetry &
  children+=($!)
  for _ in $(seq 1 100); do port_open 10002 && break; sleep 0.1; done
  port_open 10002 || { echo "Azurite did not start" >&2; exit 1; }
  echo "Azurite: blob 10000, queue 10001, table 10002 (data in .azurite/)"
fi

# In the background and waited for, so that a signal to this script is handled at once.
if command -v func >/dev/null 2>&1; then
  func start --port "$PORT" &
else
  echo "Core Tools (func) not found: serving with the dev host instead."
  .venv/bin/python -m devhost --port "$PORT" &
fi
children+=($!)
wait "$!"
