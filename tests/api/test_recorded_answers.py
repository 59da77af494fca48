"""The real service's recorded answers, replayed: every Microsoft.ImportExport request that Azure CLI's and Azure
PowerShell's own tests recorded against the service (tests/recordings, with their sources) is sent to this app, and
our answer must be the recorded one: the same status, and the same JSON body field by field once our subscription
id is put back to the recorded one. The allowed differences are named below, each with its reason."""

from __future__ import annotations

import json
import re

import pytest

from ..recordings.replay import HERE, differences, replay

RECORDINGS = sorted(path.name for path in HERE.glob("*.json"))

# The differences the issue allows, each named for what it is.
ALLOWED = {
    # The 2021-01-01 specification and its examples define systemData; the recorded answers predate it.
    "systemData": lambda field: re.search(r"\.systemData(\.|$)", field) is not None,
}


@pytest.fixture(scope="module")
def replayed(devhost) -> dict:
    """Every recording replayed once against the session's app (a subscription of its own each)."""
    return replay(devhost.base_url)


def cases():
    for name in RECORDINGS:
        interactions = json.loads((HERE / name).read_text(encoding="utf-8"))["interactions"]
        for index, interaction in enumerate(interactions):
            yield pytest.param(name, index, id=f"{name[:-5]}-{index}-{interaction['method']}")


@pytest.mark.parametrize("recording,index", list(cases()))
def test_our_answer_is_the_recorded_one(replayed, recording, index):
    # given the recorded request and the service's answer to it
    recorded = json.loads((HERE / recording).read_text(encoding="utf-8"))["interactions"][index]
    # when the same request was sent to the app (in the recording's order, after the ones before it)
    ours = [step for step in replayed[recording]["steps"] if not step["setup"]][index]
    # then the status and every field of the body are the recorded ones, but for the allowed differences
    assert ours["status"] == recorded["status"]
    left = [
        (field, theirs, mine)
        for field, theirs, mine in differences(recorded["response_body"], ours["body"])
        if not any(allowed(field) for allowed in ALLOWED.values())
    ]
    assert left == []
