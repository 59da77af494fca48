"""scripts/worker_venv.py: the worker's environment is optional, so failing to build it never stops `make`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from scripts import worker_venv
from scripts.azurite import ROOT


@pytest.fixture
def scratch_venv(tmp_path, monkeypatch) -> Path:
    """The module builds into a scratch directory instead of the project's .venv-worker."""
    venv = tmp_path / "venv-worker"
    monkeypatch.setattr(worker_venv, "WORKER_VENV", venv)
    monkeypatch.setattr(worker_venv, "WORKER_PYTHON", venv / "bin" / "python")
    return venv


@pytest.fixture
def python_that_cannot_make_a_venv(monkeypatch) -> None:
    """A Python 3.13 is "found", but creating the environment with it fails, as a broken install would."""
    monkeypatch.setattr(worker_venv, "find_python", lambda: Path("/bin/false"))


@pytest.mark.usefixtures("scratch_venv", "python_that_cannot_make_a_venv")
def test_a_failed_build_is_one_line_and_not_an_error_for_make(capsys):
    # given a Python 3.13 with which no environment can be built
    # when make deps runs the module
    worker_venv.main()

    # then it says why in one line and returns normally (exit 0), so make goes on
    err = capsys.readouterr().err
    assert err.startswith("worker venv skipped: `-m venv")
    assert "failed (exit 1)" in err
    assert err.count("\n") == 1


@pytest.mark.usefixtures("scratch_venv")
def test_a_python_that_does_not_run_is_a_failed_build(monkeypatch):
    # given a "Python 3.13" path that cannot be executed
    monkeypatch.setattr(worker_venv, "find_python", lambda: Path("/nonexistent/python3.13"))

    # when the environment is asked for, then the failure has its own class, which the fidelity test skips on
    with pytest.raises(worker_venv.WorkerVenvBuildFailed, match="could not run"):
        worker_venv.ensure_worker_venv()


@pytest.fixture
def builds_after_a_failed_build(scratch_venv, python_that_cannot_make_a_venv, monkeypatch) -> list[Path]:
    """A build that failed for these requirements; then each build asked for is only recorded (the python given)."""
    with pytest.raises(worker_venv.WorkerVenvBuildFailed):
        worker_venv.ensure_worker_venv()
    builds: list[Path] = []
    monkeypatch.setattr(worker_venv, "build", builds.append)
    return builds


def test_a_failed_build_is_not_retried_by_every_test_worker(builds_after_a_failed_build):
    # given a build that failed for these requirements
    builds = builds_after_a_failed_build
    # when the fidelity test asks again
    with pytest.raises(worker_venv.WorkerVenvBuildFailed, match="failed"):
        worker_venv.ensure_worker_venv()

    # then the recorded failure answers, without building again
    assert builds == []


def test_make_deps_retries_a_failed_build(builds_after_a_failed_build):
    # given a build that failed for these requirements
    builds = builds_after_a_failed_build
    # when make deps asks (it retries)
    worker_venv.ensure_worker_venv(retry_failed_build=True)

    # then it builds again
    assert builds == [Path("/bin/false")]


@pytest.mark.usefixtures("python_that_cannot_make_a_venv")
def test_what_an_interrupted_build_left_is_removed_and_the_venv_made_afresh(scratch_venv):
    # given an environment a Ctrl-C stopped half-way: a python, no stamp (and, say, no pip)
    (scratch_venv / "bin").mkdir(parents=True)
    (scratch_venv / "bin" / "python").symlink_to("/bin/true")
    # when it is asked for
    with pytest.raises(worker_venv.WorkerVenvBuildFailed) as failure:
        worker_venv.ensure_worker_venv()
    # then the build started from nothing (creating the venv, here failing), not from the leftovers
    assert str(failure.value).startswith("`-m venv")
    assert not (scratch_venv / "bin").exists()


@pytest.mark.usefixtures("python_that_cannot_make_a_venv")
def test_a_stamped_venv_whose_python_cannot_import_the_worker_is_rebuilt(scratch_venv):
    # given an environment stamped for these requirements whose python cannot import the worker (a damaged install)
    (scratch_venv / "bin").mkdir(parents=True)
    (scratch_venv / "bin" / "python").symlink_to("/bin/false")
    (scratch_venv / ".installed").write_text(worker_venv.requirements_digest())
    # when it is asked for, then it is not reported ready: it is built again (here failing, so the test would skip)
    with pytest.raises(worker_venv.WorkerVenvBuildFailed, match="-m venv"):
        worker_venv.ensure_worker_venv()


@pytest.mark.usefixtures("python_that_cannot_make_a_venv")
def test_a_stamp_that_is_not_text_means_not_ready(scratch_venv):
    # given an environment whose stamp holds bytes that are no digest (a damaged file)
    scratch_venv.mkdir()
    (scratch_venv / ".installed").write_bytes(b"\xff\xfe")
    # when it is asked for, then it is built again (here failing, so the test would skip), with no traceback
    with pytest.raises(worker_venv.WorkerVenvBuildFailed, match="-m venv"):
        worker_venv.ensure_worker_venv()


@pytest.mark.usefixtures("python_that_cannot_make_a_venv")
def test_a_venv_that_is_a_link_is_refused_and_what_it_points_at_kept(scratch_venv, tmp_path):
    # given .venv-worker as a link to a folder of something else
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    scratch_venv.symlink_to(elsewhere)
    # when it is asked for, then it is refused in one line, and nothing where it points is touched
    with pytest.raises(worker_venv.WorkerVenvBuildFailed, match="not a folder of its own"):
        worker_venv.ensure_worker_venv()
    assert (elsewhere / "precious.txt").read_text() == "keep me"


@pytest.mark.usefixtures("scratch_venv")
def test_ctrl_c_during_the_build_is_one_line_and_exit_130(monkeypatch, capsys):
    # given a build that Ctrl-C interrupts
    monkeypatch.setattr(worker_venv, "find_python", lambda: Path("/bin/false"))

    def interrupted(python):
        raise KeyboardInterrupt

    monkeypatch.setattr(worker_venv, "build", interrupted)
    # when make deps runs the module
    with pytest.raises(SystemExit) as exit:
        worker_venv.main()
    # then it exits as an interrupted command does, in one line and without a traceback
    assert exit.value.code == 130
    assert capsys.readouterr().err == "worker venv: interrupted; the next make deps builds it afresh\n"


def test_make_run_does_not_need_the_worker_or_the_clients():
    # given the Makefile
    # when make is asked what `run` would do from nothing
    planned = subprocess.run(
        ["make", "--dry-run", "--always-make", "run"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout

    # then it sets up the app's venv and npm packages only, and neither optional environment
    assert "requirements-dev.txt" in planned and "npm ci" in planned
    assert "worker_venv" not in planned and ".venv-clients" not in planned
