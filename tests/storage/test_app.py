"""The composition root over real storage: what it builds, and that a connect which hangs holds up no other request."""

from __future__ import annotations

import threading
import time

import pytest

from shared.app import App, Storage
from shared.domain.errors import NotFound
from shared.domain.names import JobKey
from shared.storage.client import connect_table


def test_a_connect_that_hangs_holds_up_no_other_request(fresh_app, subscription_id):
    # given an app whose first storage request (the first connect's create-table) hangs until released
    first_request_sent, release = threading.Event(), threading.Event()

    def hang_the_first(request) -> None:
        if not first_request_sent.is_set():
            first_request_sent.set()
            release.wait(30)

    app = fresh_app(raw_request_hook=hang_the_first)
    hung = threading.Thread(target=lambda: app.storage)
    hung.start()
    assert first_request_sent.wait(10)
    try:
        # when a job is read meanwhile
        started = time.monotonic()
        with pytest.raises(NotFound):
            app.jobs.get_job(JobKey(subscription_id, "rg", "absent"))
        waited = time.monotonic() - started
    finally:
        release.set()
        hung.join()
    # then it connected on its own and answered at once, and the app keeps one storage either way
    assert waited < 5
    assert app.storage is app.storage


def test_a_connect_that_loses_the_race_leaves_a_callers_table_open(app_settings, azurite):
    # given an app over a table client of the caller's own, whose first connect is held up until released
    table = connect_table(azurite, app_settings.table_name)
    first_started, release = threading.Event(), threading.Event()
    connects = []

    def hold_the_first(storage: Storage) -> Storage:
        connects.append(storage)
        if len(connects) == 1:
            first_started.set()
            release.wait(30)
        return storage

    app = App(app_settings, table=table, wrap_storage=hold_the_first)
    held = threading.Thread(target=lambda: app.storage)
    held.start()
    assert first_started.wait(10)
    # when another connect finishes first, and then the held one ends, having lost
    kept = app.storage
    release.set()
    held.join()
    # then the caller's table, shared by both, is still open
    assert len(connects) == 2 and app.storage is kept
    assert list(kept.table.query_entities("PartitionKey eq 'none'")) == []
    table.close()
