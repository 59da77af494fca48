"""Start a private, in-memory Azurite Table service on a free port, for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development key.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def connection_string(port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    )


class AzuriteTable:
    """An Azurite Table service on a fixed free port, as a context manager.

    In memory, or kept in `location` so that it survives a restart. Given `cert` and `key` (PEM files), it serves
    HTTPS; with `oauth`, it also takes Entra ID bearer tokens (Azurite's "basic" check: issuer, audience and times,
    not the signature); `account` and `account_key` replace the development account (AZURITE_ACCOUNTS), so the
    well-known development key is refused.
    """

    def __init__(
        self,
        location: Path | None = None,
        *,
        cert: Path | None = None,
        key: Path | None = None,
        oauth: bool = False,
        account: str = ACCOUNT,
        account_key: str = ACCOUNT_KEY,
    ) -> None:
        self.executable = ROOT / "node_modules" / ".bin" / "azurite-table"
        if not self.executable.exists():
            raise RuntimeError("Azurite is not installed: run `make test` or `npm ci`")
        self.port = free_port()
        self.location = location
        self.tls = None if cert is None or key is None else (cert, key)
        self.oauth = oauth
        self.account, self.account_key = account, account_key
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        """The account's Table endpoint, path-style on 127.0.0.1 (on `localhost`, the SDK would take it for Cosmos DB)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/{self.account}"

    @property
    def connection_string(self) -> str:
        if self.tls is None and (self.account, self.account_key) == (ACCOUNT, ACCOUNT_KEY):
            return connection_string(self.port)
        return (
            f"DefaultEndpointsProtocol={'https' if self.tls else 'http'};AccountName={self.account};"
            f"AccountKey={self.account_key};TableEndpoint={self.endpoint};"
        )

    def start(self) -> None:
        storage = ["--location", str(self.location)] if self.location else ["--inMemoryPersistence"]
        security = ["--cert", str(self.tls[0]), "--key", str(self.tls[1])] if self.tls else []
        if self.oauth:
            security += ["--oauth", "basic"]
        environment = None
        if (self.account, self.account_key) != (ACCOUNT, ACCOUNT_KEY):
            environment = {**os.environ, "AZURITE_ACCOUNTS": f"{self.account}:{self.account_key}"}
        self.process = subprocess.Popen(
            [
                str(self.executable),
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(self.port),
                *storage,
                *security,
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        wait_for_port(self.port, 30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> "AzuriteTable":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


@contextmanager
def running_azurite() -> Iterator[str]:
    """Yields the connection string of an in-memory Azurite Table service that lives as long as the block."""
    with AzuriteTable() as azurite:
        yield azurite.connection_string
