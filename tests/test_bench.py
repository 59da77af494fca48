"""The benchmarks still run (tiny sizes, nothing written): figures are measured, never asserted on time."""

import subprocess
import sys

from .conftest import ROOT


def test_purge_benchmark_runs_and_checks_itself():
    result = subprocess.run(
        [sys.executable, "-m", "bench.purge", "--sizes", "300,600", "--expired", "100", "--no-write"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "| 600 | 100 |" in result.stdout
    assert "entities read per purged job at 1.00" in result.stdout


def test_operations_benchmark_runs_and_counts_round_trips():
    result = subprocess.run(
        [sys.executable, "-m", "bench.ops", "--repeat", "3", "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "| get | 1 | GET 1 |" in result.stdout
    assert "| cancel (in Shipping) | 2 | GET 1, PUT 1 |" in result.stdout


def test_cold_start_benchmark_splits_our_import_time_from_dependencies():
    result = subprocess.run(
        [sys.executable, "-m", "bench.coldstart", "--repeat", "1", "--no-write"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "| get_job |" in result.stdout and "| purge_timer |" in result.stdout
