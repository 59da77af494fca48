"""The dev host in its own process (`python -m devhost`), as a user runs it, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scripts.azurite import ROOT, free_port, wait_for_port


class DevHostProcess:
    """`python -m devhost` on a free port, over the given storage, as a user runs it; a context manager.

    `connection` and `table` (when given) are the app's storage settings; `root` is the app it serves (None: no
    `--root`, so the dev host's default, the working directory, this repository); `environment` adds variables and
    `arguments` options (`--cert`); with `capture_output`, what the process printed is in `output` once the block
    has ended.
    """

    def __init__(
        self,
        connection: str | None = None,
        table: str | None = None,
        *,
        root: Path | None = ROOT,
        environment: dict[str, str] | None = None,
        arguments: list[str] | None = None,
        capture_output: bool = False,
    ) -> None:
        self.port = free_port()
        storage = {"IMPORTEXPORT_STORAGE_CONNECTION": connection, "IMPORTEXPORT_TABLE_NAME": table}
        self.environment = {
            **os.environ,
            **{name: value for name, value in storage.items() if value is not None},
            "IMPORTEXPORT_PURGE_SCHEDULE": "0 0 0 1 1 *",  # the timer stays out of the way
            **(environment or {}),
        }
        self.root = root
        self.arguments = arguments or []
        self.capture_output = capture_output
        self.output = ""
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "DevHostProcess":
        command = [sys.executable, "-m", "devhost", "--port", str(self.port)]
        if self.root is not None:
            command += ["--root", str(self.root)]
        command += self.arguments
        output = subprocess.PIPE if self.capture_output else subprocess.DEVNULL
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.environment,
            stdout=output,
            stderr=subprocess.STDOUT if self.capture_output else subprocess.DEVNULL,
            text=True,
        )
        try:
            wait_for_port(self.port, 30)
        except RuntimeError:  # it never listened: stop it, and keep what it printed for the error
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.terminate()
        if self.capture_output:
            self.output = self.process.communicate(timeout=10)[0]
        else:
            self.process.wait(timeout=10)
