"""The dev host in its own process (`python -m devhost`), as a user runs it, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys

from scripts.azurite import ROOT, free_port, wait_for_port


class DevHostProcess:
    """`python -m devhost` on a free port, over the given storage, as a user runs it; a context manager."""

    def __init__(self, connection: str, table: str) -> None:
        self.port = free_port()
        self.environment = {
            **os.environ,
            "IMPORTEXPORT_STORAGE_CONNECTION": connection,
            "IMPORTEXPORT_TABLE_NAME": table,
            "IMPORTEXPORT_PURGE_SCHEDULE": "0 0 0 1 1 *",  # the timer stays out of the way
        }
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "DevHostProcess":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--port", str(self.port), "--root", str(ROOT)],
            cwd=ROOT, env=self.environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 30)
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
