"""Microsoft's Python worker in a Python 3.13 virtual environment of the project's own (`.venv-worker/`).

`azure-functions-runtime-v1`, the worker that runs v1-model apps in Azure, needs Python 3.13; the suite's Python
is older. tests/devhost/test_worker_fidelity.py runs every function through it and through the dev host and compares
the answers. `make deps` calls this module, and so does the test (for a `pytest` run without `make`):

    python -m scripts.worker_venv     # creates or refreshes .venv-worker; says why and exits 0 when it cannot

The environment is rebuilt only when requirements-worker.txt or requirements.txt changed since it was built.
Neither the app nor the rest of the suite needs it: without a Python 3.13, or when the environment cannot be
built (no package index, say), `make` goes on and the fidelity test skips with the reason. A failed build is
remembered for its requirements, so the suite's parallel workers do not each retry it; `make deps` retries.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER_VENV = ROOT / ".venv-worker"
WORKER_PYTHON = WORKER_VENV / "bin" / "python"
REQUIREMENTS = (ROOT / "requirements-worker.txt", ROOT / "requirements.txt")
WORKER_PYTHON_VERSION = "3.13"
# What the fidelity test needs the environment's python to import; a build that stopped half-way fails this.
WORKER_IMPORTS = "import azure_functions_runtime_v1, azure.functions, grpc, google.protobuf"
LOCK = ".lock"


class WorkerUnavailable(Exception):
    """The worker environment cannot be had on this machine; the message says why."""


class NoWorkerPython(WorkerUnavailable):
    """No Python 3.13 on this machine; the message says where it was looked for."""


class WorkerVenvBuildFailed(WorkerUnavailable):
    """Creating the environment or installing the worker into it failed; the message has the tool's last words."""


def find_python() -> Path:
    """A Python 3.13 that runs: `python3.13` on PATH, else one pyenv installed (PYENV_ROOT, or ~/.pyenv).

    Each candidate is run once: a pyenv shim on PATH exists even where the version it names is not selected."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [shutil.which(f"python{WORKER_PYTHON_VERSION}")]
    candidates += sorted(
        glob.glob(str(pyenv_root / "versions" / f"{WORKER_PYTHON_VERSION}*" / "bin" / f"python{WORKER_PYTHON_VERSION}"))
    )
    for candidate in filter(None, candidates):
        if runs_as_worker_python(candidate):
            return Path(candidate)
    raise NoWorkerPython(
        f"no python{WORKER_PYTHON_VERSION} on PATH nor under {pyenv_root}/versions "
        f"(azure-functions-runtime-v1 needs Python {WORKER_PYTHON_VERSION})"
    )


def runs_as_worker_python(candidate: str) -> bool:
    check = "import sys; print('%d.%d' % sys.version_info[:2])"
    try:
        ran = subprocess.run([candidate, "-c", check], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return ran.returncode == 0 and ran.stdout.strip() == WORKER_PYTHON_VERSION


def requirements_digest() -> str:
    digest = hashlib.sha256()
    for path in REQUIREMENTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_worker_venv(*, retry_failed_build: bool = False) -> Path:
    """The worker venv's python, built first if missing or stale; WorkerUnavailable when it cannot be.

    A lock makes parallel callers (pytest-xdist workers, make -j) build it once and wait for it. A build that
    failed for these requirements is not tried again unless `retry_failed_build`."""
    wanted = requirements_digest()
    if is_ready(wanted):
        return WORKER_PYTHON
    python = find_python()
    if WORKER_VENV.is_symlink() or (WORKER_VENV.exists() and not WORKER_VENV.is_dir()):
        # Never build into (and so empty) whatever a link or a stray file points at.
        raise WorkerVenvBuildFailed(f"{WORKER_VENV} is not a folder of its own; remove it and run make deps again")
    try:
        WORKER_VENV.mkdir(exist_ok=True)
        with open(WORKER_VENV / LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if is_ready(wanted):
                return WORKER_PYTHON  # another caller built it while this one waited
            build_under_lock(python, wanted, retry_failed_build=retry_failed_build)
    except OSError as error:
        raise WorkerVenvBuildFailed(f"{WORKER_VENV} cannot be prepared: {error}; remove it and run make deps again") from error
    return WORKER_PYTHON


def build_under_lock(python: Path, wanted: str, *, retry_failed_build: bool) -> None:
    failed = WORKER_VENV / ".build-failed"
    if not retry_failed_build and failed.is_file():
        digest, _, reason = failed.read_text(errors="replace").partition("\n")
        if digest == wanted:
            raise WorkerVenvBuildFailed(reason)
    try:
        build(python)
    except WorkerVenvBuildFailed as error:
        failed.write_text(f"{wanted}\n{error}")
        raise
    stamp_file().write_text(wanted)


def stamp_file() -> Path:
    """Holds the digest of the requirements the environment was built for (read at call time: tests move the venv)."""
    return WORKER_VENV / ".installed"


def is_ready(wanted: str) -> bool:
    """Built for these requirements, and whole: its python runs and imports the worker (an interrupted or damaged
    environment is not ready, whatever its stamp says)."""
    try:
        if stamp_file().read_text(errors="replace") != wanted or not WORKER_PYTHON.exists():
            return False
    except OSError:  # no stamp, or something else where it should be
        return False
    try:
        ran = subprocess.run([str(WORKER_PYTHON), "-c", WORKER_IMPORTS], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return ran.returncode == 0


def build(python: Path) -> None:
    """A new environment from nothing: whatever an earlier, interrupted or failed build left is removed first."""
    for leftover in WORKER_VENV.iterdir():
        if leftover.name != LOCK:
            shutil.rmtree(leftover) if leftover.is_dir() and not leftover.is_symlink() else leftover.unlink()
    pip = [str(WORKER_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = [[str(python), "-m", "venv", str(WORKER_VENV)], [*pip, "-r", str(REQUIREMENTS[0])]]
    for command in steps:
        try:
            ran = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        except OSError as error:
            raise WorkerVenvBuildFailed(f"{command[0]} could not run: {error}") from error
        if ran.returncode != 0:
            lines = (ran.stderr or ran.stdout).strip().splitlines()
            last_words = lines[-1] if lines else "no output"
            raise WorkerVenvBuildFailed(f"`{' '.join(command[1:4])}` failed (exit {ran.returncode}): {last_words}")


def main() -> None:
    try:
        python = ensure_worker_venv(retry_failed_build=True)
    except WorkerUnavailable as error:
        # Not an error for `make deps`: the fidelity test skips with this reason; everything else runs.
        print(f"worker venv skipped: {error}", file=sys.stderr)
        return
    except KeyboardInterrupt:
        print("worker venv: interrupted; the next make deps builds it afresh", file=sys.stderr)
        sys.exit(130)
    print(f"worker venv ready: {python.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
