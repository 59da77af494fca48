"""The app's own timers as the dev host runs them (`python -m devhost`, as `make run` starts it): a job cancelled in
Creating reaches Completed by itself, with no setting beyond the storage connection and no client action."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from scripts.devhost_process import DevHostProcess

from ..builders import API_VERSION, shippable_body

# The contract's bound; the timer runs every 10 s, so a completion takes 10 s at most and a few seconds on average.
COMPLETED_WITHIN_SECONDS = 60


@pytest.mark.slow
def test_a_job_cancelled_in_creating_is_completed_by_itself_within_a_minute(azurite):
    # given the app behind the dev host in its own process, with nothing set but its storage
    with DevHostProcess(azurite, "Timers" + uuid.uuid4().hex[:8]) as host:
        job = (
            f"http://127.0.0.1:{host.port}/subscriptions/{uuid.uuid4()}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/j"
        )
        version = {"api-version": API_VERSION}
        assert requests.put(job, params=version, json=shippable_body(), timeout=30).status_code == 201
        # when it is cancelled in Creating
        cancelled = requests.patch(job, params=version, json={"properties": {"cancelRequested": True}}, timeout=30)
        started = time.monotonic()
        # then the answer shows Creating, and the job is Completed a little later without anything more being asked
        assert cancelled.json()["properties"]["state"] == "Creating"
        state = "Creating"
        while state == "Creating" and time.monotonic() - started < COMPLETED_WITHIN_SECONDS:
            time.sleep(0.5)
            state = requests.get(job, params=version, timeout=30).json()["properties"]["state"]
        assert state == "Completed", f"still {state} after {COMPLETED_WITHIN_SECONDS} s"
        print(f"\ncancel in Creating completed {time.monotonic() - started:.1f} s after the PATCH's answer")
