"""Helpers for running the app's dependencies locally (tests and benchmarks)."""
