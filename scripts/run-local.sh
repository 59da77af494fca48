#!/usr/bin/env bash
# `make run`: starts Azurite (data kept in $AZURITE_LOCATION, default .azurite/) and serves the app on $PORT:
# with `func start` when Azure Functions Core Tools is installed, else with the dev host.
# Ctrl-C, or a TERM or HUP to this script, stops both.
# Its own variables: PORT, AZURITE_PORT_BASE, AZURITE_BLOB_PORT, AZURITE_QUEUE_PORT, AZURITE_TABLE_PORT, AZURITE_LOCATION.
# Runs on macOS's bash 3.2: no negative array indexes, empty arrays guarded under set -u.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "$*" >&2; exit 1; }
is_port() { case "$1" in '' | *[!0-9]*) return 1 ;; esac; [ "$((10#$1))" -ge 1 ] && [ "$((10#$1))" -le 65535 ]; }
require_port() { is_port "$2" || fail "$1=$2 is not a port number (1-65535)."; }

PORT="${PORT:-7071}"
AZURITE_PORT_BASE="${AZURITE_PORT_BASE:-10000}"
require_port AZURITE_PORT_BASE "$AZURITE_PORT_BASE"
AZURITE_BLOB_PORT="${AZURITE_BLOB_PORT:-$((10#$AZURITE_PORT_BASE))}"
AZURITE_QUEUE_PORT="${AZURITE_QUEUE_PORT:-$((10#$AZURITE_PORT_BASE + 1))}"
AZURITE_TABLE_PORT="${AZURITE_TABLE_PORT:-$((10#$AZURITE_PORT_BASE + 2))}"
for name in PORT AZURITE_BLOB_PORT AZURITE_QUEUE_PORT AZURITE_TABLE_PORT; do require_port "$name" "${!name}"; done
AZURITE_LOCATION="${AZURITE_LOCATION:-.azurite}"

# The app's storage is the Azurite of this run (the app reads the environment before local.settings.json),
# unless the environment already names one. Azurite's well-known development account, as in shared/settings.py.
if [ -z "${AzureWebJobsStorage:-}" ]; then
  account=devstoreaccount1
  export AzureWebJobsStorage="DefaultEndpointsProtocol=http;AccountName=$account;\
AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\
BlobEndpoint=http://127.0.0.1:$AZURITE_BLOB_PORT/$account;QueueEndpoint=http://127.0.0.1:$AZURITE_QUEUE_PORT/$account;\
TableEndpoint=http://127.0.0.1:$AZURITE_TABLE_PORT/$account;"
fi

children=()
stop_children() {
  for pid in ${children[@]+"${children[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${children[@]+"${children[@]}"}; do wait "$pid" 2>/dev/null || true; done
}
trap stop_children EXIT
trap 'exit 143' TERM HUP
trap 'exit 130' INT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

.venv/bin/python -m scripts.port_check app "$PORT"
azurite_ports=0
.venv/bin/python -m scripts.port_check azurite "$AZURITE_BLOB_PORT" "$AZURITE_QUEUE_PORT" "$AZURITE_TABLE_PORT" \
  || azurite_ports=$?
case "$azurite_ports" in
  3) ;; # a Table service already answers there, and the check said so
  0)
    mkdir -p "$AZURITE_LOCATION" 2>/dev/null || fail "Cannot create the Azurite data folder AZURITE_LOCATION=$AZURITE_LOCATION."
    azurite_log="$AZURITE_LOCATION/azurite.log"
    node_modules/.bin/azurite --silent --location "$AZURITE_LOCATION" --skipApiVersionCheck --disableTelemetry \
      --blobPort "$AZURITE_BLOB_PORT" --queuePort "$AZURITE_QUEUE_PORT" --tablePort "$AZURITE_TABLE_PORT" \
      </dev/null >"$azurite_log" 2>&1 &
    azurite_pid=$!
    children+=("$azurite_pid")
    started_by=$((SECONDS + 60))
    until port_open "$AZURITE_TABLE_PORT"; do
      kill -0 "$azurite_pid" 2>/dev/null || fail "Azurite did not start: $(tail -n 1 "$azurite_log") (log: $azurite_log)"
      [ "$SECONDS" -lt "$started_by" ] || fail "Azurite did not open port $AZURITE_TABLE_PORT within 60 s (log: $azurite_log)"
      sleep 0.1
    done
    echo "Azurite: blob $AZURITE_BLOB_PORT, queue $AZURITE_QUEUE_PORT, table $AZURITE_TABLE_PORT (data in $AZURITE_LOCATION/, log in $azurite_log)"
    ;;
  *) exit 1 ;; # a port is taken; the check printed which
esac

# In the background and waited for, so that a signal to this script is handled at once.
if command -v func >/dev/null 2>&1; then
  func start --port "$PORT" &
else
  echo "Core Tools (func) not found: serving with the dev host instead."
  .venv/bin/python -m devhost --port "$PORT" &
fi
children+=($!)
wait "$!"
