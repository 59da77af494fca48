"""`make run` (scripts/run-local.sh) as a user runs it.

On ports and a data folder of the test's own; taken ports are refused in one line.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from azure.data.tables import TableServiceClient

from scripts.azurite import ROOT, AzuriteTable, free_port
from shared.domain.names import JobKey

from ..builders import API_VERSION, job_body

SCRIPT = ROOT / "scripts" / "run-local.sh"
# The storage comes from the script, not from whatever the test session put in the environment.
INHERITED_SETTINGS = ("AzureWebJobsStorage", "IMPORTEXPORT_STORAGE_CONNECTION")
TABLE = "RunLocalJobs"
CAN_NAME_HOLDER = shutil.which("ss") is not None or shutil.which("lsof") is not None

# The script starts an Azurite of its own (node_modules/.bin/azurite) for all but its earliest refusals.
pytestmark = pytest.mark.azurite


# A command started with SIGINT at its default, whatever this process inherited: a background job or a CI runner may
# start the tests with SIGINT ignored, which every child (and the script's own trap) would inherit, so Ctrl-C
# (SIGINT to the process group) would do nothing. A POSIX shell cannot undo an ignored signal; Python can, then exec.
RESET_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


def with_default_sigint(command: list[str]) -> list[str]:
    return [sys.executable, "-c", RESET_SIGINT, *command]


class RunLocal:
    """scripts/run-local.sh in a process group of its own, as a terminal runs it, on free ports and the given data folder."""

    def __init__(self, data: Path, **variables: str) -> None:
        self.data = data
        self.output = data.parent / f"run-local-{uuid.uuid4().hex[:8]}.log"
        self.variables = {
            "PORT": str(free_port()),
            "AZURITE_BLOB_PORT": str(free_port()),
            "AZURITE_QUEUE_PORT": str(free_port()),
            "AZURITE_TABLE_PORT": str(free_port()),
            "AZURITE_LOCATION": str(data),
            **variables,
        }
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.variables['PORT']}"

    def start(self, *, through_make: bool = False) -> subprocess.Popen:
        """Starts the script, or (`through_make`) `make run`, which runs it, as a user types it."""
        environment = {name: value for name, value in os.environ.items() if name not in INHERITED_SETTINGS}
        # A table of the test's own, and the purge timer out of the way.
        environment.update(self.variables, IMPORTEXPORT_TABLE_NAME=TABLE, IMPORTEXPORT_PURGE_SCHEDULE="0 0 0 1 1 *")
        with self.output.open("w") as output:
            self.process = subprocess.Popen(
                with_default_sigint(["/usr/bin/env", "make", "--no-print-directory", "run"] if through_make else [str(SCRIPT)]),
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process

    def serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"run-local.sh exited {self.process.returncode}:\n{self.text()}"
            try:
                requests.get(self.base_url + "/", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
            except requests.ReadTimeout:
                # It accepted the connection, so it serves: "/" is the app's catch-all function, whose first call
                # imports the app's modules, which can take over a second on a busy machine.
                return
        raise AssertionError(f"the app did not answer within {timeout} s:\n{self.text()}")

    def finished(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise AssertionError(f"run-local.sh still running after {timeout} s:\n{self.text()}") from None

    def text(self) -> str:
        return self.output.read_text()

    def strays(self) -> list[str]:
        """This run's Azurite and app processes still alive (found by their data folder and port)."""
        # -ww: ps cuts each line at the terminal's (or COLUMNS') width otherwise, before the --location of a long path.
        listing = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
        ours = re.compile(rf"--location {re.escape(str(self.data))}( |$)|--port {self.variables['PORT']}( |$)")
        return [line for line in listing.splitlines() if ours.search(line)]

    def stop(self) -> None:
        """Whatever the test did, nothing of the run is left behind: not the script, nor the Azurite and app it started
        in process groups of their own (which a script killed on a timeout cannot stop)."""
        try:
            if self.process is not None and self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.finished()
        finally:
            for line in self.strays():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(line.split()[0]), signal.SIGKILL)


@pytest.fixture
def run_local(tmp_path: Path) -> Iterator[Callable[..., RunLocal]]:
    runs: list[RunLocal] = []

    def make(**variables: str) -> RunLocal:
        runs.append(RunLocal(tmp_path / "azurite", **variables))
        return runs[-1]

    yield make
    for run in runs:
        run.stop()


@contextmanager
def listening_socket() -> Iterator[int]:
    """A port held by a plain listening socket of this test process, that never answers."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


@contextmanager
def foreign_http_server() -> Iterator[int]:
    """An HTTP server that is not a Table service: it answers every GET with 200 and a web page."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>not storage</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def assert_refused_in_one_line(run: RunLocal, *expected: str) -> None:
    status = run.finished(timeout=30)
    lines = run.text().splitlines()
    assert status != 0
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    for text in expected:
        assert text in lines[0]
    assert not run.strays()


def job_url(run: RunLocal, key: JobKey) -> str:
    return f"{run.base_url}{key.resource_id}?api-version={API_VERSION}"


@pytest.mark.slow
def test_ctrl_c_stops_everything_and_keeps_a_job_created_just_before(run_local):
    # given make run's script serving, and a job it has just created
    run = run_local()
    run.start()
    run.serving()
    key = JobKey(str(uuid.uuid4()), "rg", "kept")
    created = requests.put(job_url(run, key), json=job_body(), timeout=30)
    assert created.status_code == 201, created.text
    # when Ctrl-C is pressed: the terminal sends SIGINT to the whole foreground process group
    os.killpg(run.process.pid, signal.SIGINT)
    # then everything stops, Azurite having saved the job, and that is a normal end (0), as a stop asked for
    assert run.finished() == 0
    assert not run.strays()
    assert "Azurite stopped; its data is saved" in run.text()
    run.start()
    run.serving()
    assert requests.get(job_url(run, key), timeout=30).status_code == 200


@pytest.mark.slow
def test_a_data_folder_another_running_azurite_uses_is_refused_in_one_line(run_local):
    # given make run serving on a data folder
    first = run_local()
    first.start()
    first.serving()
    # when a second run starts on the same data folder, with ports of its own
    second = run_local()
    second.start()
    # then it refuses in one line naming the folder, the Azurite that holds it and the variable that moves it
    assert second.finished(timeout=30) != 0
    [line] = second.text().splitlines()
    holder = re.search(r"pid (\d+)", line)
    assert str(first.data) in line and "AZURITE_LOCATION=" in line and holder, line
    assert any(stray.split()[0] == holder.group(1) for stray in first.strays())
    # and the first run still serves, its data its own
    key = JobKey(str(uuid.uuid4()), "rg", "first")
    assert requests.put(job_url(first, key), json=job_body(), timeout=30).status_code == 201
    assert requests.get(job_url(first, key), timeout=30).status_code == 200


def running_in_group(group: int, command: str, timeout: float = 30) -> None:
    """Waits until a process of the process group runs `command` (e.g. `-m shared.settings`); the steps before it
    take seconds of their own on a loaded machine, hence the generous wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = subprocess.run(["ps", "-ww", "-eo", "pgid=,args="], capture_output=True, text=True).stdout
        if any(line.split(None, 1)[0] == str(group) and command in line for line in listing.splitlines()):
            return
        time.sleep(0.005)
    raise AssertionError(f"no {command} ran in process group {group} within {timeout} s")


@pytest.mark.parametrize("step", ["-m shared.settings", "-m scripts.port_check app", "-m scripts.port_check azurite"])
def test_ctrl_c_during_a_python_step_before_the_services_exits_quietly(run_local, step):
    # given make run's script running one of the Python steps it takes before starting anything
    run = run_local()
    run.start()
    running_in_group(run.process.pid, step)
    # when Ctrl-C is pressed then
    os.killpg(run.process.pid, signal.SIGINT)
    # then the script stops without a Python traceback, starting nothing
    assert run.finished(timeout=30) == 130
    assert "Traceback" not in run.text() and "KeyboardInterrupt" not in run.text(), run.text()
    assert not run.strays()


def test_on_other_than_the_default_ports_it_says_how_to_point_other_shells_at_its_azurite(run_local):
    # given make run on Azurite ports other than 10000-10002
    run = run_local()
    # when it is serving
    run.start()
    run.serving()
    # then it prints the export that points by-hand commands (python -m shared.purge) at this Azurite, not at 10002
    exports = [line for line in run.text().splitlines() if "export AzureWebJobsStorage=" in line]
    assert len(exports) == 1, run.text()
    connection = exports[0].split("export AzureWebJobsStorage=", 1)[1].strip("'")
    assert f"TableEndpoint=http://127.0.0.1:{run.variables['AZURITE_TABLE_PORT']}/devstoreaccount1;" in connection
    assert f"BlobEndpoint=http://127.0.0.1:{run.variables['AZURITE_BLOB_PORT']}/devstoreaccount1;" in connection
    # and the walk-through's BASE for its port, to paste beside it
    assert f"  BASE=http://localhost:{run.variables['PORT']}" in run.text().splitlines()


@pytest.mark.slow
def test_ctrl_c_of_make_run_ends_without_an_error_from_make(run_local):
    # given `make run` serving, as a user typed it
    run = run_local()
    run.start(through_make=True)
    run.serving()
    # when Ctrl-C is pressed
    os.killpg(run.process.pid, signal.SIGINT)
    run.finished()
    # then make reports no error (its "*** ... Interrupt" or "Error 130" reads as a failure), and everything stopped
    assert "***" not in run.text(), run.text()
    assert "Azurite stopped; its data is saved" in run.text()
    assert not run.strays()


def test_term_to_the_script_alone_stops_azurite_and_the_app(run_local):
    # given make run's script serving
    run = run_local()
    run.start()
    run.serving()
    # when only the script gets TERM (as from kill or a process manager)
    run.process.terminate()
    # then it stops the app and Azurite before exiting, and leaves the data folder free for the next run
    assert run.finished() != 0
    assert not run.strays()
    assert not (run.data / "azurite.pid").exists()


def test_a_taken_app_port_is_named_with_the_variable_that_moves_it(run_local):
    # given the app's port held by a socket of another program (here, the test's)
    with listening_socket() as port:
        run = run_local(PORT=str(port))
        # when the script starts
        run.start()
        # then it says in one line which port is taken, by whom, and which variable chooses another
        assert_refused_in_one_line(run, f"Port {port} (the app)", "PORT=", *([f"pid {os.getpid()}"] if CAN_NAME_HOLDER else []))


@pytest.mark.parametrize("service", ["blob", "queue", "table"])
def test_a_taken_azurite_port_is_named_with_the_variable_that_moves_it(run_local, service):
    # given one of Azurite's ports held by a socket that is no storage service
    with listening_socket() as port:
        run = run_local(**{f"AZURITE_{service.upper()}_PORT": str(port)})
        # when the script starts
        run.start()
        # then it says in one line which port is taken, by whom, and which variables choose others; it starts nothing
        assert_refused_in_one_line(
            run,
            f"Port {port} (Azurite {service})",
            f"AZURITE_{service.upper()}_PORT=",
            "AZURITE_PORT_BASE=",
            *([f"pid {os.getpid()}"] if CAN_NAME_HOLDER else []),
        )


def test_a_foreign_http_server_on_the_table_port_is_not_taken_for_azurite(run_local):
    # given an HTTP server that is not a Table service on Azurite's table port
    with foreign_http_server() as port:
        run = run_local(AZURITE_TABLE_PORT=str(port))
        # when the script starts
        run.start()
        # then it refuses it in one line rather than serving an app whose every request would be 503
        assert_refused_in_one_line(run, f"Port {port} (Azurite table)", "not a Table service", "AZURITE_TABLE_PORT=")


@pytest.mark.slow
def test_a_table_service_already_on_the_table_port_is_used(run_local):
    # given Azurite's Table service already running on the chosen table port
    with AzuriteTable() as running:
        run = run_local(AZURITE_TABLE_PORT=str(running.port))
        # when the script starts and a job is created
        run.start()
        run.serving()
        key = JobKey(str(uuid.uuid4()), "rg", "reused")
        created = requests.put(job_url(run, key), json=job_body(), timeout=30)
        # then the app stored it in that service, and the script started no Azurite of its own
        assert created.status_code == 201, created.text
        stored = TableServiceClient.from_connection_string(running.connection_string).get_table_client(TABLE)
        assert stored.get_entity(key.partition_key, key.row_key)
        assert "using it" in run.text()
        assert not run.data.exists()


def test_a_port_variable_that_is_not_a_port_is_refused_in_one_line(run_local):
    # given a port base that is not a number
    run = run_local(AZURITE_PORT_BASE="ten-thousand")
    # when the script starts
    run.start()
    # then it names the variable and its value
    assert_refused_in_one_line(run, "AZURITE_PORT_BASE=ten-thousand")


def test_the_script_gets_sigint_at_its_default_even_when_the_tests_were_started_with_it_ignored():
    # given this process ignoring SIGINT, as a background job or a CI runner may start the tests
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # when a command is started as the script is
        probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
        result = subprocess.run(with_default_sigint([sys.executable, "-c", probe]), capture_output=True, text=True, timeout=30)
    finally:
        signal.signal(signal.SIGINT, previous)
    # then it has SIGINT as a terminal would give it (Python's own handler, installed only over the default)
    assert result.stdout.strip() == "True", result.stderr


def test_every_variable_of_the_script_is_in_the_configuration_page():
    # given the variables run-local.sh reads (each defaulted as NAME="${NAME:-...}")
    variables = re.findall(r'^(\w+)="\$\{\1:-', SCRIPT.read_text(), re.MULTILINE)
    page = (ROOT / "docs" / "configuration.md").read_text()
    configuration = page.split("## Variables of `make run`", 1)[1].split("\n## ", 1)[0]
    # then the configuration page's section on make run's variables names each
    assert "AZURITE_TABLE_PORT" in variables and "AZURITE_LOCATION" in variables
    assert [name for name in variables if f"`{name}`" not in configuration] == []


def test_a_data_folder_that_cannot_be_made_is_refused_in_one_line(run_local, tmp_path):
    # given a data folder whose path is taken by a file
    (tmp_path / "a-file").write_text("")
    run = run_local(AZURITE_LOCATION=str(tmp_path / "a-file" / "azurite"))
    # when the script starts
    run.start()
    # then it names the variable and the path
    assert_refused_in_one_line(run, "AZURITE_LOCATION=", "a-file")


def test_an_unusable_connection_string_is_refused_in_one_line_before_anything_starts(run_local):
    # given a storage connection string whose key is not base64
    run = run_local(IMPORTEXPORT_STORAGE_CONNECTION="AccountName=a;AccountKey=%%;TableEndpoint=http://127.0.0.1:1/a")
    # when the script starts
    run.start()
    # then it names the setting and the problem, and starts nothing
    assert_refused_in_one_line(run, "IMPORTEXPORT_STORAGE_CONNECTION: its AccountKey is not base64")
