#!/usr/bin/env bash
# `make run`: starts Azurite (data kept in $AZURITE_LOCATION, default .azurite/) and serves the app on $PORT:
# with `func start` when Azure Functions Core Tools is installed, else with the dev host.
# Ctrl-C, or a TERM or HUP to this script, stops the app, then Azurite, and waits until Azurite has saved its data.
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
storage_set_here=0
if [ -z "${AzureWebJobsStorage:-}" ]; then
  account=devstoreaccount1
  export AzureWebJobsStorage="DefaultEndpointsProtocol=http;AccountName=$account;\
AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\
BlobEndpoint=http://127.0.0.1:$AZURITE_BLOB_PORT/$account;QueueEndpoint=http://127.0.0.1:$AZURITE_QUEUE_PORT/$account;\
TableEndpoint=http://127.0.0.1:$AZURITE_TABLE_PORT/$account;"
  storage_set_here=1
fi

# Azurite and the app each run in a process group of their own (`set -m` around their start), so that the
# terminal's Ctrl-C reaches only this script, which then sends each of them one TERM. Azurite must get one signal:
# it handles SIGINT and SIGTERM once each, and a second one closes its servers again, throws "Cannot close server
# in status Closed" and exits before its loki store (autosaved every 5 s) is written. On one TERM it closes its
# servers, saves the store and exits 0, so waiting for it to exit is waiting for the data to be on disk.
azurite_pid=""
azurite_ready=0
# One Azurite per data folder: two would each autosave their own view of it, and one's would overwrite the other's.
# $AZURITE_LOCATION/azurite.pid names this script while it starts Azurite, then Azurite; removed once Azurite stopped.
azurite_pid_file="$AZURITE_LOCATION/azurite.pid"
holds_data_folder=0
app_pid=""
signalled=0

# TERM to the process group led by $1, up to $2 seconds for it to go, then KILL; returns the leader's exit status.
stop_group() {
  local leader=$1 deadline=$((SECONDS + $2))
  kill -TERM -- "-$leader" 2>/dev/null
  while kill -0 -- "-$leader" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL -- "-$leader" 2>/dev/null
      wait "$leader" 2>/dev/null
      return 137
    fi
    sleep 0.1
  done
  wait "$leader" 2>/dev/null
}

stop_all() {
  set +e
  # Further Ctrl-Cs must not cut Azurite's save short; every wait below is bounded.
  trap '' INT TERM HUP
  if [ -n "$app_pid" ]; then stop_group "$app_pid" 10; fi
  if [ -n "$azurite_pid" ]; then
    stop_group "$azurite_pid" 30
    local status=$?
    # Its log says so too: a shell that no longer knows the status (127) must not cry wolf.
    if [ "$status" -ne 0 ] && grep -q "Table service successfully closed" "$azurite_log" 2>/dev/null; then status=0; fi
    if [ "$status" -ne 0 ] && [ "$azurite_ready" = 1 ]; then
      echo "Azurite exited with status $status while stopping: writes of its last 5 s may be lost (log: $azurite_log)." >&2
    elif [ "$signalled" = 1 ]; then
      echo "Azurite stopped; its data is saved in $AZURITE_LOCATION/."
    fi
  fi
  if [ "$holds_data_folder" = 1 ]; then rm -f "$azurite_pid_file"; fi
}
trap stop_all EXIT
# Ctrl-C is how one stops the app: once it is serving, that is a normal end (0), so make reports no error.
trap 'signalled=1; if [ -n "$app_pid" ]; then exit 0; else exit 130; fi' INT
trap 'signalled=1; exit 143' TERM
trap 'signalled=1; exit 129' HUP

[ -x .venv/bin/python ] && [ -x node_modules/.bin/azurite ] || fail "Not set up: run make run (or make deps) rather than the script alone."

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Takes the data folder for this run, or stops with one line when a live Azurite (or a run starting one) holds it.
# set -C makes the pid file's creation atomic, so two runs starting at once cannot both take it.
claim_data_folder() {
  local holder
  if (set -C; echo "$$" >"$azurite_pid_file") 2>/dev/null; then holds_data_folder=1; return; fi
  holder=$(cat "$azurite_pid_file" 2>/dev/null || true)
  # A pid alive but not an Azurite or a run of this script was reused (after a reboot): the file is stale.
  case "$holder" in '' | *[!0-9]*) ;; *)
    if ps -p "$holder" -o args= 2>/dev/null | grep -q -e azurite -e run-local; then
      fail "The Azurite data folder $AZURITE_LOCATION is in use by another Azurite (pid $holder): stop it, or choose another folder with AZURITE_LOCATION=."
    fi ;;
  esac
  # Left by a run that was killed before it could clean up.
  rm -f "$azurite_pid_file"
  (set -C; echo "$$" >"$azurite_pid_file") 2>/dev/null \
    || fail "The Azurite data folder $AZURITE_LOCATION is being taken by another run: choose another folder with AZURITE_LOCATION=."
  holds_data_folder=1
}

# A Python step of this script, run with Ctrl-C ignored: Python keeps an inherited SIG_IGN, so a Ctrl-C cannot
# become a KeyboardInterrupt traceback (even during its imports); this script gets it too and exits, quietly, once
# the step (bounded: a second or two at most) is done.
python_step() { (trap '' INT; exec .venv/bin/python "$@"); }

# The app's settings as the app will read them: a malformed local.settings.json or connection string is one line here.
python_step -m shared.settings >/dev/null || exit 1
python_step -m scripts.port_check app "$PORT"
azurite_ports=0
python_step -m scripts.port_check azurite "$AZURITE_BLOB_PORT" "$AZURITE_QUEUE_PORT" "$AZURITE_TABLE_PORT" \
  || azurite_ports=$?
case "$azurite_ports" in
  3) ;; # a Table service already answers there, and the check said so
  0)
    mkdir -p "$AZURITE_LOCATION" 2>/dev/null || fail "Cannot create the Azurite data folder AZURITE_LOCATION=$AZURITE_LOCATION."
    claim_data_folder
    azurite_log="$AZURITE_LOCATION/azurite.log"
    set -m
    node_modules/.bin/azurite --silent --location "$AZURITE_LOCATION" --skipApiVersionCheck --disableTelemetry \
      --blobPort "$AZURITE_BLOB_PORT" --queuePort "$AZURITE_QUEUE_PORT" --tablePort "$AZURITE_TABLE_PORT" \
      </dev/null >"$azurite_log" 2>&1 &
    azurite_pid=$!
    set +m
    echo "$azurite_pid" >"$azurite_pid_file"
    started_by=$((SECONDS + 60))
    until port_open "$AZURITE_TABLE_PORT"; do
      kill -0 "$azurite_pid" 2>/dev/null || fail "Azurite did not start: $(tail -n 1 "$azurite_log") (log: $azurite_log)"
      [ "$SECONDS" -lt "$started_by" ] || fail "Azurite did not open port $AZURITE_TABLE_PORT within 60 s (log: $azurite_log)"
      sleep 0.1
    done
    azurite_ready=1
    echo "Azurite: blob $AZURITE_BLOB_PORT, queue $AZURITE_QUEUE_PORT, table $AZURITE_TABLE_PORT (data in $AZURITE_LOCATION/, log in $azurite_log)"
    ;;
  *) exit 1 ;; # a port is taken; the check printed which
esac
# Commands run by hand in another shell (python -m shared.purge) read UseDevelopmentStorage=true from
# local.settings.json, which means port 10002: off the default ports, that is not this Azurite (maybe someone else's).
scheme=http
[ -n "${DEVHOST_TLS_CERT:-}" ] && scheme=https
echo "In another shell, paste these first, for the walk-through (README.md) and the commands (docs/operations.md):"
echo "  BASE=$scheme://localhost:$PORT"
if [ "$storage_set_here" = 1 ] && [ "$((10#$AZURITE_BLOB_PORT)).$((10#$AZURITE_QUEUE_PORT)).$((10#$AZURITE_TABLE_PORT))" != 10000.10001.10002 ]; then
  echo "  export AzureWebJobsStorage='$AzureWebJobsStorage'"
fi

# Waited for in the background, so that a signal to this script is handled at once.
set -m
# Core Tools serves plain http and plays no App Service Authentication: asked for HTTPS or Easy Auth, the dev host serves.
dev_host_asked=""
for setting in DEVHOST_TLS_CERT DEVHOST_TLS_KEY DEVHOST_AUTH_ISSUER DEVHOST_AUTH_AUDIENCES DEVHOST_AUTH_JWKS_FILE DEVHOST_AUTH_METADATA_URL; do
  [ -n "${!setting:-}" ] && dev_host_asked="$setting"
done
if command -v func >/dev/null 2>&1 && [ -z "$dev_host_asked" ]; then
  func start --port "$PORT" </dev/null &
elif [ -n "$dev_host_asked" ]; then
  echo "$dev_host_asked is set: serving with the dev host, which plays HTTPS and App Service Authentication (Core Tools does not)."
  .venv/bin/python -m devhost --port "$PORT" </dev/null &
else
  echo "Core Tools (func) not found: serving with the dev host instead."
  .venv/bin/python -m devhost --port "$PORT" </dev/null &
fi
app_pid=$!
set +m
app_status=0
wait "$app_pid" || app_status=$?
exit "$app_status"
