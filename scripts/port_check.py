"""Port checks for `make run` (scripts/run-local.sh): is a port free, who holds it, does a Table service answer there.

`python -m scripts.port_check app PORT` and `python -m scripts.port_check azurite BLOB QUEUE TABLE` print one line
and exit 1 when a port is taken; `azurite` exits 3 when a Table service already answers on TABLE (the script uses it).
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import socket
import subprocess
import sys

# Exit statuses the script acts on.
FREE, TAKEN, TABLE_SERVICE_RUNNING = 0, 1, 3
# What Azurite's Table service (and the old Windows Storage Emulator) put in the `Server` header of every answer.
TABLE_SERVERS = ("Azurite-Table/", "Windows-Azure-Table/")
PROBE_TIMEOUT_SECONDS = 2.0
MOVE_AZURITE = "AZURITE_PORT_BASE=, e.g. make run AZURITE_PORT_BASE=20000"


def in_use(port: int) -> bool:
    """Something listens on 127.0.0.1:port, or holds it so that Azurite's own bind would fail."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        pass
    with socket.socket() as probe:
        # As Node's listen does, so a closing connection's TIME_WAIT does not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def holder(port: int) -> str | None:
    """'name (pid N)' of the process listening on the port, when `ss` or `lsof` can tell (only one's own processes)."""
    if shutil.which("ss"):
        listing = _run(["ss", "-ltnpH", f"sport = :{port}"])
        found = re.search(r'\("([^"]+)",pid=(\d+)', listing)
        if found:
            return f"{found.group(1)} (pid {found.group(2)})"
    if shutil.which("lsof"):
        listing = _run(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"])
        pid, name = re.search(r"^p(\d+)$", listing, re.M), re.search(r"^c(.+)$", listing, re.M)
        if pid and name:
            return f"{name.group(1)} (pid {pid.group(1)})"
    return None


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def table_service(port: int) -> str | None:
    """The `Server` header when a Table service answers on the port (Azurite refuses the unsigned request, but says who it is)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/devstoreaccount1/Tables")
        server = connection.getresponse().getheader("Server", "")
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    return server if server.startswith(TABLE_SERVERS) else None


def taken_message(port: int, role: str, variables: str, why: str = "") -> str:
    held_by = holder(port)
    by = f" by {held_by}" if held_by else ""
    return f"Port {port} ({role}) is already in use{by}{why}; stop it or choose another port with {variables}."


def check_app(port: int) -> int:
    if in_use(port):
        print(taken_message(port, "the app", "PORT=, e.g. make run PORT=7072"), file=sys.stderr)
        return TAKEN
    return FREE


def check_azurite(blob: int, queue: int, table: int) -> int:
    if in_use(table):
        server = table_service(table)
        if server:
            print(f"A Table service ({server}) already answers on port {table}: using it, no Azurite started.")
            return TABLE_SERVICE_RUNNING
        print(
            taken_message(table, "Azurite table", f"AZURITE_TABLE_PORT= or {MOVE_AZURITE}", " and it is not a Table service"),
            file=sys.stderr,
        )
        return TAKEN
    for port, role, variable in ((blob, "Azurite blob", "AZURITE_BLOB_PORT"), (queue, "Azurite queue", "AZURITE_QUEUE_PORT")):
        if in_use(port):
            print(taken_message(port, role, f"{variable}= or {MOVE_AZURITE}"), file=sys.stderr)
            return TAKEN
    return FREE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.port_check", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("app").add_argument("port", type=int)
    azurite = commands.add_parser("azurite")
    for name in ("blob", "queue", "table"):
        azurite.add_argument(name, type=int)
    args = parser.parse_args(argv)
    if args.command == "app":
        return check_app(args.port)
    return check_azurite(args.blob, args.queue, args.table)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C during the check: the script stops, and a traceback would only be noise
        sys.exit(130)
