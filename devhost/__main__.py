"""`python -m devhost [--port 7071] [--host 127.0.0.1] [--root .] [--cert PEM [--key PEM]]`: serve the function app.

Over https with a certificate (`--cert`/`--key`, or DEVHOST_TLS_CERT/DEVHOST_TLS_KEY), behind Easy Auth with
DEVHOST_AUTH_ISSUER and DEVHOST_AUTH_AUDIENCES set (docs/operations.md, the dev host)."""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from pathlib import Path

from .config import ConfigError, Keys, load_local_settings
from .easy_auth import ISSUER_VARIABLE, PLATFORM_SETTING, EasyAuth, tell_the_app
from .functions import load_app
from .server import DevHost
from .timers import TimerScheduler
from .tls import CERT_VARIABLE, KEY_VARIABLE, TlsFiles


def listen_error(host: str, port: int, error: OSError) -> str:
    """One line for a socket the dev host cannot listen on; the usual cause, a port in use, says what to do."""
    if error.errno == errno.EADDRINUSE:
        return f"{host}:{port} is already in use: pick another port with --port (or PORT= for make run)"
    return f"cannot listen on {host}:{port}: {error.strerror or error}"


def port_number(text: str) -> int:
    """A TCP port (0 asks the system for a free one): anything else is argparse's one-line usage error."""
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--port", type=port_number, default=7071)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the function app folder (holds host.json)")
    parser.add_argument("--cert", type=Path, help=f"serve https with this PEM certificate chain (else ${CERT_VARIABLE})")
    parser.add_argument("--key", type=Path, help=f"its PEM private key, if not in the certificate's file (else ${KEY_VARIABLE})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # A line per request is on every request's path: skip gathering what this format never shows (the logging
    # HOWTO's "Optimization": caller's file and line, thread, process).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False

    root = args.root.resolve()
    # What the user must fix before anything can be served: one line on stderr and exit 1, no traceback.
    try:
        load_local_settings(root)
        app = load_app(root)
        keys = Keys.from_environment()
        tls_files = TlsFiles.chosen(cert=args.cert, key=args.key)
        tls = tls_files.server_context() if tls_files is not None else None
        auth = EasyAuth.from_environment()
    except ConfigError as error:
        sys.exit(f"devhost: {error}")
    # Before any function is imported: the app reads WEBSITE_AUTH_ENABLED as it reads any app setting.
    overruled = tell_the_app(auth)
    if overruled is not None:
        print(
            f"devhost: {PLATFORM_SETTING}={overruled} is overruled with False: Easy Auth is off here "
            f"(set {ISSUER_VARIABLE} to turn it on); the platform, not the app's settings, says whether it is on",
            file=sys.stderr,
            flush=True,
        )
    sys.path.insert(0, str(root))
    try:
        server = DevHost(app, (args.host, args.port), keys, tls=tls, auth=auth)
    except OSError as error:
        sys.exit(f"devhost: {listen_error(args.host, args.port, error)}")
    prefix = app.route_prefix.strip("/") + "/" if app.route_prefix.strip("/") else ""
    for function in app.functions.values():
        where = (
            f"{','.join(sorted(function.methods)).upper()} /{prefix}{function.trigger.get('route') or function.name}"
            if function.route
            else f"{function.trigger_type} {function.trigger.get('schedule', '')}"
        )
        print(f"  {function.name}: {where}{' (disabled)' if function.disabled else ''}", flush=True)
    timers = TimerScheduler(app.enabled_timers())
    easy_auth = f", Easy Auth on for tokens of {auth.issuer}" if auth is not None else ""
    print(f"Dev host serving {root} on {server.base_url} (keys {'on' if server.keys.enforced else 'off'}{easy_auth})", flush=True)
    timers.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        timers.stop()
        server.server_close()


if __name__ == "__main__":
    main()
