"""`python -m devhost [--port 7071] [--host 127.0.0.1] [--root .]`: serve the function app."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .functions import load_app
from .server import DevHost, Keys
from .timers import TimerScheduler


def load_local_settings(root: Path) -> None:
    """Put `local.settings.json` Values into the environment, leaving variables already set alone, as `func` does."""
    path = root / "local.settings.json"
    if path.exists():
        for name, value in json.loads(path.read_text()).get("Values", {}).items():
            os.environ.setdefault(name, str(value))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the function app folder (holds host.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    root = args.root.resolve()
    load_local_settings(root)
    sys.path.insert(0, str(root))
    app = load_app(root)
    server = DevHost(app, (args.host, args.port), Keys.from_environment())
    for function in app.functions.values():
        where = (
            f"{','.join(sorted(function.methods)).upper()} /{app.route_prefix.strip('/') + '/' if app.route_prefix.strip('/') else ''}"
            f"{function.trigger.get('route') or function.name}"
            if function.route
            else f"{function.trigger_type} {function.trigger.get('schedule', '')}"
        )
        print(f"  {function.name}: {where}", flush=True)
    timers = TimerScheduler([f for f in app.functions.values() if f.trigger_type == "timerTrigger"])
    print(f"Dev host serving {root} on {server.base_url} (keys {'on' if server.keys.enforced else 'off'})", flush=True)
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
