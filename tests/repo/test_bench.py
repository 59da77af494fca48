"""The benchmarks still run (tiny sizes, nothing written): figures are measured, never asserted on time."""

import subprocess
import sys

import pytest

from scripts.azurite import ROOT


def run_bench(module: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", module, *args, "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "module,args",
    [
        ("bench.ops", ["--repeat", "0"]),
        ("bench.ops", ["--rounds", "-1"]),
        ("bench.coldstart", ["--repeat", "0"]),
        ("bench.load", ["--seconds", "-5"]),
        ("bench.load", ["--seconds", "nan"]),
        ("bench.load", ["--clients", "0"]),
        ("bench.load", ["--clients", "1,,8"]),
        ("bench.purge", ["--sizes", "10,x"]),
        ("bench.purge", ["--sizes", "-1"]),
        ("bench.purge", ["--sizes", "10", "--expired", "20"]),
        ("bench.purge", ["--sizes", "100000000000000000000", "--expired", "1"]),
        ("bench.load", ["--seconds", "1e308"]),
        ("bench.ops", ["--repeat", "١٢"]),
        ("bench.cancels", ["--jobs", "0"]),
        ("bench.cancels", ["--sizes", "10,x"]),
    ],
)
def test_a_bad_argument_is_one_usage_error_not_a_traceback(module, args):
    # given a benchmark and an argument it cannot run with
    # when it is started
    result = subprocess.run([sys.executable, "-m", module, *args, "--no-write"], cwd=ROOT, capture_output=True, text=True)
    # then argparse refuses it before anything starts: exit 2, usage and one error line
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"python -m {module}: error: ")


# Each starts its own Azurite or interpreters: seconds apiece.
@pytest.mark.azurite  # starts its own
@pytest.mark.slow
def test_purge_benchmark_runs_and_checks_itself():
    # (it stops with an error when a purge deleted other than the expired jobs)
    output = run_bench("bench.purge", "--sizes", "100,200", "--expired", "50")
    assert "| 200 | 50 |" in output and "| 100, worst case | 50 |" in output
    assert "entities read per purged job at " in output


@pytest.mark.azurite  # starts its own
@pytest.mark.slow
@pytest.mark.usefixtures("machine_to_itself")
def test_operations_benchmark_runs_and_counts_round_trips():
    # one round: each round repeats the same timings on a fresh table and dev host; the round trips are counted once anyway
    output = run_bench("bench.ops", "--repeat", "3", "--rounds", "1")
    assert "| get | 1 | GET 1 |" in output
    assert "| create | 1 | POST 1 |" in output
    assert "| cancel (in Shipping) | 2 | GET 1, PUT 1 |" in output
    assert "| cancel (in Creating) | 2 | GET 1, POST 1 |" in output
    assert "| complete (operator, Packaging to Completed) | 2 | GET 1, POST 1 |" in output


@pytest.mark.azurite  # starts its own
@pytest.mark.slow
@pytest.mark.usefixtures("machine_to_itself")
def test_cancels_benchmark_sees_every_cancel_completed_and_counts_what_completing_costs():
    # (it stops with an error when a cancel answers other than Creating, or a job is not Completed within a minute)
    output = run_bench("bench.cancels", "--jobs", "2", "--pending", "4", "--sizes", "10,50")
    assert "| 2 |" in output
    # 4 jobs in 4 subscriptions: a directory query, then per subscription an entry query, a read, a write and a note
    assert "| 10 | 4 | 17 | 4.25 | 5 | 1 |" in output and "| 50 | 4 | 17 | 4.25 | 5 | 1 |" in output


@pytest.mark.slow
def test_cold_start_benchmark_splits_our_import_time_from_dependencies():
    output = run_bench("bench.coldstart", "--repeat", "1")
    assert "| get_job |" in output and "| purge_timer |" in output


@pytest.mark.azurite  # starts its own
@pytest.mark.slow
@pytest.mark.usefixtures("machine_to_itself")
def test_load_benchmark_runs_each_level_without_errors():
    output = run_bench("bench.load", "--clients", "1,2", "--seconds", "1")
    assert "| 1 |" in output and "| 2 |" in output
    assert " 0 errors in " in output
