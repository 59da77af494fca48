"""Cold-start benchmark: how long each function module takes to import, split into our code and its dependencies.

    python -m bench.coldstart [--repeat 7]

Each import runs in a fresh interpreter under `python -X importtime`; the
self times of the app's own modules (the function folder and `shared`) are
"ours", everything else "dependencies". Medians of --repeat runs; writes the
table to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from bench.arguments import positive_int
from bench.report import machine, markdown_table, write_section
from devhost.functions import load_app
from scripts.azurite import ROOT


def import_times(module: str, own: tuple[str, ...]) -> tuple[float, float]:
    """(our modules' self time, everything else's self time) in ms for one cold import of `module`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    ours = theirs = 0.0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if name.split(".")[0] in own:
            ours += int(self_us) / 1000
        else:
            theirs += int(self_us) / 1000
    return ours, theirs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=positive_int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for name in sorted(load_app(ROOT).functions):
        runs = [import_times(name, (name, "shared")) for _ in range(args.repeat)]
        ours = statistics.median(run[0] for run in runs)
        theirs = statistics.median(run[1] for run in runs)
        rows.append([name, f"{ours:.1f}", f"{theirs:.1f}", f"{ours + theirs:.1f}"])
        print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["function", "our modules (ms)", "dependencies (ms)", "total (ms)"], rows)
    print(table)
    if args.no_write:
        return
    write_section(
        "coldstart",
        f"""## Cold start (`.venv/bin/python -m bench.coldstart`)

Import time of each function module in a fresh interpreter (`python -X
importtime`), medians of {args.repeat} runs: the self time of the app's own
modules (the function folder and `shared`) against everything they import.
Nothing connects to storage at import: the client is built on the first request.

Machine: {machine()}

{table}""",
    )


if __name__ == "__main__":
    main()
