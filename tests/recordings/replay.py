"""Replays the recorded requests of tests/recordings/*.json against this app and writes what differs.

    .venv/bin/python -m tests.recordings.replay                 # writes tests/recordings/DIFFERENCES.md
    .venv/bin/python -m tests.recordings.replay --answers F     # also our answers, as JSON, to F

The app runs in this process (the tests' way: an in-memory Azurite, the repository's locations, the dev host without
keys). Each recording gets a subscription of its own, a fresh UUID in place of the recorded one in the request path,
so that names never collide; resource groups, job names, api-versions and bodies are as recorded. A recording whose
requests need a job the recorded test made beforehand (Az.ImportExport's setupEnv makes "test-job") is preceded by
that job's creation, marked as setup. Answers are compared field by field after our subscription id is put back to
the recorded one, so ids differ only where they really do.
"""

from __future__ import annotations

import argparse
import json
import re
import uuid
from collections import Counter
from pathlib import Path

import requests

from devhost.server import Keys
from scripts.azurite import running_azurite
from shared.app import app_in_use, open_app
from shared.domain.locations import load_catalogue
from shared.settings import DEFAULT_LOCATIONS_FILE, Settings
from tests.harness import serving

HERE = Path(__file__).resolve().parent
ABSENT = "<absent>"

# Az.ImportExport's test/utils.ps1 setupEnv: New-AzImportExport test-job in eastus with drive 9CA995BB, before the
# recorded cmdlets ran (its own request is not in the recordings). Its body is the recorded New/Remove body's form.
SETUP_TEST_JOB = {
    "properties": {
        "returnAddress": {
            "city": "Redmond",
            "countryOrRegion": "USA",
            "email": "test@contoso.com",
            "phone": "4250000000",
            "postalCode": "98008",
            "recipientName": "Some name",
            "stateOrProvince": "WA",
            "streetAddress1": "Street1",
        },
        "backupDriveManifest": True,
        "diagnosticsPath": "waimportexport",
        "driveList": [
            {
                "bitLockerKey": "238810-662376-448998-450120-652806-203390-606320-483076",
                "driveHeaderHash": "",
                "driveId": "9CA995BB",
                "manifestFile": "\\\\DriveManifest.xml",
                "manifestHash": "109B21108597EF36D5785F08303F3638",
            }
        ],
        "jobType": "Import",
        "storageAccountId": "/subscriptions/9e223dbe-3399-4e19-88eb-0975f02ac87f/resourcegroups/ImportExportTest"
        "/providers/Microsoft.Storage/storageAccounts/teststorageforimport",
    },
    "location": "eastus",
}
NEEDS_TEST_JOB = {
    "powershell_get_azimportexport.json",
    "powershell_update_azimportexport.json",
    "powershell_get_azimportexportbitlockerkey.json",
    "powershell_get_azbitlockerkey.json",
}
TEST_JOB_PATH = "/subscriptions/{sub}/resourceGroups/ImportExportTest/providers/Microsoft.ImportExport/jobs/test-job"


def recorded_subscription(path: str) -> str | None:
    parts = path.split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else None


def answer(http: requests.Session, base: str, method: str, path: str, query: dict, body) -> tuple[int, object]:
    response = http.request(method, base + path, params=query, json=body, timeout=30)
    text = response.text
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return response.status_code, parsed


def replay(base: str) -> dict:
    http = requests.Session()
    results = {}
    for recording in sorted(HERE.glob("*.json")):
        doc = json.loads(recording.read_text(encoding="utf-8"))
        ours_sub = str(uuid.uuid4())
        steps = []
        if recording.name in NEEDS_TEST_JOB:
            status, body = answer(
                http, base, "PUT", TEST_JOB_PATH.format(sub=ours_sub), {"api-version": doc["api_version"]}, SETUP_TEST_JOB
            )
            steps.append(
                {"setup": True, "method": "PUT", "path": TEST_JOB_PATH.format(sub="{sub}"), "status": status, "body": body}
            )
        for interaction in doc["interactions"]:
            path = interaction["path"]
            theirs_sub = recorded_subscription(path)
            if theirs_sub:
                path = path.replace(f"/subscriptions/{theirs_sub}", f"/subscriptions/{ours_sub}", 1)
            status, body = answer(http, base, interaction["method"], path, interaction["query"], interaction["request_body"])
            if theirs_sub:
                # our ids carry our subscription: put the recorded one back, so only real differences remain
                body = json.loads(json.dumps(body).replace(ours_sub, theirs_sub))
            steps.append(
                {"setup": False, "method": interaction["method"], "path": interaction["path"], "status": status, "body": body}
            )
        results[recording.name] = {"subscription": ours_sub, "steps": steps}
    return results


# --- comparing ---

# Lists of objects are matched by the first of these keys every element has (drives, jobs, locations), else by index.
LIST_KEYS = ("driveId", "id", "name")


def _list_key(items: list) -> str | None:
    for key in LIST_KEYS:
        if items and all(isinstance(item, dict) and key in item for item in items):
            return key
    return None


def _label(value: str) -> str:
    return value.rsplit("/", 1)[-1] if value.startswith("/") else value


def differences(recorded, ours, path: str = "$"):
    """(field, recorded value, our value) for every JSON field that differs; ABSENT where one side has none."""
    if isinstance(recorded, dict) and isinstance(ours, dict):
        for key in list(recorded) + [key for key in ours if key not in recorded]:
            yield from differences(recorded.get(key, ABSENT), ours.get(key, ABSENT), f"{path}.{key}")
    elif isinstance(recorded, list) and isinstance(ours, list):
        key = _list_key(recorded)
        if key and key == _list_key(ours):
            theirs_by, ours_by = {i[key]: i for i in recorded}, {i[key]: i for i in ours}
            for value in list(theirs_by) + [value for value in ours_by if value not in theirs_by]:
                yield from differences(theirs_by.get(value, ABSENT), ours_by.get(value, ABSENT), f"{path}[{_label(value)}]")
            shared_theirs = [i[key] for i in recorded if i[key] in ours_by]
            shared_ours = [i[key] for i in ours if i[key] in theirs_by]
            if shared_theirs != shared_ours:
                yield (f"{path} (order)", [_label(v) for v in shared_theirs], [_label(v) for v in shared_ours])
        else:
            for index in range(max(len(recorded), len(ours))):
                yield from differences(
                    recorded[index] if index < len(recorded) else ABSENT,
                    ours[index] if index < len(ours) else ABSENT,
                    f"{path}[{index}]",
                )
    elif recorded != ours or type(recorded) is not type(ours):
        yield (path, recorded, ours)


# The classes of difference, in the summary's order: (label, test of (recording, interaction, field, recorded, ours)).
ADDRESS_FIELDS = (
    "recipientName",
    "streetAddress1",
    "streetAddress2",
    "city",
    "stateOrProvince",
    "postalCode",
    "countryOrRegion",
    "phone",
)


def _is_location(interaction) -> bool:
    return "/locations" in interaction["path"]


def _leaf(field: str) -> str:
    return re.split(r"[.\[]", field.rstrip("]"))[-1]


CLASSES = [
    (
        'drives lack `state` (the service shows `"Specified"` for each drive)',
        lambda i, f, r, o: re.search(r"driveList\[[^\]]+\]\.state$", f) and o == ABSENT,
    ),
    (
        "`tags: {}` shown (the service shows no `tags` when none were given)",
        lambda i, f, r, o: f.endswith(".tags") and r == ABSENT and o == {},
    ),
    (
        "`percentComplete: 0` shown (the service shows none in `Creating`)",
        lambda i, f, r, o: f.endswith(".percentComplete") and r == ABSENT,
    ),
    (
        "`systemData` shown (the service's 2021-01-01 answers had none; its times are masked here)",
        lambda i, f, r, o: f.endswith(".systemData") and r == ABSENT,
    ),
    (
        "default `encryptionKey: {kekType: MicrosoftManaged}` missing (the service shows it even at 2016-11-01)",
        lambda i, f, r, o: f.endswith(".encryptionKey") and o == ABSENT,
    ),
    (
        "default `identity: {type: None}` missing at 2016-11-01 (the service shows it there too; ours from 2020-08-01)",
        lambda i, f, r, o: f.endswith(".identity") and o == ABSENT,
    ),
    (
        "default `logLevel: Error` missing when the client sent none",
        lambda i, f, r, o: f.endswith(".logLevel") and r == "Error" and o == ABSENT,
    ),
    (
        '`returnAddress.streetAddress2: ""` missing (the service fills the empty string when none was sent)',
        lambda i, f, r, o: f.endswith(".returnAddress.streetAddress2") and r == "" and o == ABSENT,
    ),
    (
        "location shown as sent (`eastus`); the service shows the display name (`East US`) in GET, PATCH and listings, "
        "and the region name only in the PUT's answer",
        lambda i, f, r, o: (
            f.endswith(".location") and isinstance(r, str) and isinstance(o, str) and r.replace(" ", "").lower() == o.lower()
        ),
    ),
    (
        "a resource group's listing includes `driveList` "
        "(the service leaves it out there; its subscription listing and GET show it)",
        lambda i, f, r, o: f.endswith(".driveList") and r == ABSENT and i["method"] == "GET" and "/resourceGroups/" in i["path"],
    ),
    (
        "cancel of a job in `Creating` answered `state: Completed` (the service kept `Creating` with `cancelRequested: true`)",
        lambda i, f, r, o: f.endswith(".properties.state") and r == "Creating" and o == "Completed",
    ),
    (
        "a job's `shippingInformation` missing (our catalogue has no address for `eastus`)",
        lambda i, f, r, o: f.endswith(".shippingInformation") and o == ABSENT,
    ),
    (
        "a job's `shippingInformation` differs "
        "(`westus`: the service had 3020 Coronado, 95054; our catalogue 2045 Lafayette Street, 95050)",
        lambda i, f, r, o: ".shippingInformation." in f,
    ),
    (
        "locations: address field missing in our catalogue (we have addresses for few datacenters)",
        lambda i, f, r, o: _is_location(i) and _leaf(f) in ADDRESS_FIELDS and o == ABSENT,
    ),
    (
        'locations: address field differs (the service\'s placeholder `" "` or its 2020 address vs ours)',
        lambda i, f, r, o: _is_location(i) and _leaf(f) in ADDRESS_FIELDS,
    ),
    ("locations: `supportedCarriers` missing or different", lambda i, f, r, o: _is_location(i) and "supportedCarriers" in f),
    (
        "locations: `alternateLocations` differ (ours name the location itself; the service often names another)",
        lambda i, f, r, o: _is_location(i) and "alternateLocations" in f,
    ),
]
OTHER = "other"


def classify(interaction, field, recorded, ours) -> str:
    for label, test in CLASSES:
        if test(interaction, field, recorded, ours):
            return label
    return OTHER


TIMES = ("createdAt", "lastModifiedAt")


def _without_times(body):
    """Our answer with systemData's times masked, so that the report is the same from run to run."""
    if isinstance(body, dict):
        return {key: "<time of the replay>" if key in TIMES else _without_times(value) for key, value in body.items()}
    if isinstance(body, list):
        return [_without_times(item) for item in body]
    return body


def _cell(value) -> str:
    text = ABSENT if value is ABSENT or value == ABSENT else json.dumps(value, ensure_ascii=False)
    return "`" + text.replace("|", "\\|") + "`"


def report(results: dict) -> str:
    fields, interactions_hit, status_mismatches = Counter(), {}, []
    sections = []
    total_interactions = 0
    for name, result in results.items():
        doc = json.loads((HERE / name).read_text(encoding="utf-8"))
        ours_steps = [step for step in result["steps"] if not step["setup"]]
        lines = [f"## {name}", "", f"Source: `{doc['source']}` at `{doc['commit']}`, api-version {doc['api_version']}.", ""]
        for step in result["steps"]:
            if step["setup"]:
                lines += [
                    f"- setup, not recorded: `PUT {step['path']}` (Az.ImportExport's setupEnv job) answered {step['status']}",
                    "",
                ]
        for number, (interaction, step) in enumerate(zip(doc["interactions"], ours_steps, strict=True), start=1):
            total_interactions += 1
            found = list(differences(interaction["response_body"], _without_times(step["body"])))
            status = f"recorded {interaction['status']}, ours {step['status']}"
            if interaction["status"] != step["status"]:
                status_mismatches.append(f"{name} #{number}")
                status = "**" + status + "**"
            lines.append(f"### {number}. {interaction['method']} `{interaction['path']}`")
            lines += ["", f"{status}; {len(found)} field(s) differ.", ""]
            if found:
                lines += ["| field | recorded | ours | class |", "|---|---|---|---|"]
                for field, recorded, ours in found:
                    label = classify(interaction, field, recorded, ours)
                    fields[label] += 1
                    interactions_hit.setdefault(label, set()).add((name, number))
                    short = label.split(" (")[0]
                    lines.append(f"| `{field}` | {_cell(recorded)} | {_cell(ours)} | {short} |")
                lines.append("")
        sections.append("\n".join(lines))
    summary = [
        "# The recordings replayed against this app",
        "",
        "Every recorded Microsoft.ImportExport request in `tests/recordings/*.json` (see [README.md](README.md)) sent",
        "to this app, and every JSON field of the answer that differs from the real service's recorded answer. Made by",
        "`.venv/bin/python -m tests.recordings.replay` (the app in process over an in-memory Azurite, the repository's",
        "locations, the dev host without keys). Each recording ran in a fresh subscription (its id put back to the",
        "recorded one before comparing, so ids only differ where they really do); resource groups, job names,",
        "api-versions and bodies as recorded. Az.ImportExport's recordings that read or change `test-job` were",
        "preceded by its creation as the module's `setupEnv` did (marked setup below). Lists are matched by",
        "`driveId`, `id` or `name`, else by index.",
        "",
        f"{total_interactions} interactions; statuses: "
        + ("all equal." if not status_mismatches else "differ in " + ", ".join(status_mismatches) + "."),
        'No recorded request sends `"state": ""` or any other value this app refuses, and none reads a job',
        "past `Creating`: those cases are not exercised by the recordings.",
        "",
        "## Summary: classes of difference",
        "",
        "| class | fields | interactions |",
        "|---|---|---|",
    ]
    for label in [label for label, _ in CLASSES] + [OTHER]:
        if fields[label]:
            summary.append(f"| {label} | {fields[label]} | {len(interactions_hit[label])} |")
    summary.append("")
    return "\n".join(summary) + "\n" + "\n".join(sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=Path, help="also write our answers, as JSON, to this file")
    options = parser.parse_args()
    with running_azurite() as connection:
        settings = Settings(
            storage_connection=connection,
            table_name="Replay" + uuid.uuid4().hex[:12],
            locations=load_catalogue(DEFAULT_LOCATIONS_FILE),
        )
        with open_app(settings) as app, app_in_use(app), serving(keys=Keys()) as server:
            results = replay(server.base_url)
    if options.answers:
        options.answers.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (HERE / "DIFFERENCES.md").write_text(report(results), encoding="utf-8")


if __name__ == "__main__":
    main()
