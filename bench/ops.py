"""Per-operation benchmark: storage round trips of each HTTP operation, and its time against the raw SDK.

    python -m bench.ops [--repeat 200]

Round trips are counted by a proxy in front of Azurite, so they are what
storage really received. Times: each operation driven through the dev host
over HTTP, against the same storage calls made directly with
azure-data-tables, in the same run; medians and p95 of --repeat tries.
Writes the tables to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/ops.py` works too

import requests  # noqa: E402
from azure.core import MatchConditions  # noqa: E402
from azure.data.tables import TableServiceClient, UpdateMode  # noqa: E402

from bench.report import machine, markdown_table, write_section  # noqa: E402
from devhost.functions import load_app  # noqa: E402
from devhost.server import DevHost, Keys  # noqa: E402
from scripts.azurite import ROOT, AzuriteTable, connection_string  # noqa: E402
from scripts.storage_proxy import StorageProxy  # noqa: E402
from shared import jobs, settings, store  # noqa: E402
from shared.clock import SystemClock  # noqa: E402
from shared.expiry_index import IndexEntry  # noqa: E402
from shared.models import JobCreateRequest  # noqa: E402
from shared.names import JobKey  # noqa: E402
from shared.state_machine import new_job  # noqa: E402
from shared.store import job_entity, job_from_entity  # noqa: E402

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000b0"
API = {"api-version": "2021-01-01"}
BODY = {
    "location": "westus",
    "properties": {"storageAccountId": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a", "jobType": "Import"},
}
RETURN = {"recipientName": "A", "streetAddress1": "1 Way", "city": "C", "postalCode": "1", "countryOrRegion": "US", "phone": "1", "email": "a@b.c"}
PACKAGE = {"carrierName": "FedEx", "trackingNumber": "1", "driveCount": 1, "shipDate": "2026-11-20"}


def serve_app(connection: str, table: str) -> DevHost:
    os.environ.update(IMPORTEXPORT_STORAGE_CONNECTION=connection, IMPORTEXPORT_TABLE_NAME=table)
    settings.load_settings.cache_clear()
    store._store_for.cache_clear()
    jobs.get_service.cache_clear()
    server = DevHost(load_app(ROOT), ("127.0.0.1", 0), Keys())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Client:
    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()

    def url(self, name: str) -> str:
        return f"{self.base}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ImportExport/jobs/{name}"

    def create(self, name: str, body=None):
        return self.http.put(self.url(name), params=API, json=body or BODY)

    def get(self, name: str):
        return self.http.get(self.url(name), params=API)

    def patch(self, name: str, body: dict):
        return self.http.patch(self.url(name), params=API, json=body)

    def delete(self, name: str):
        return self.http.delete(self.url(name), params=API)


# Each operation: how to prepare a job for it, and the operation itself.
def operations(client: Client):
    shippable = {**BODY, "properties": {**BODY["properties"], "returnAddress": RETURN, "deliveryPackage": PACKAGE}}
    return {
        "get": (lambda name: client.create(name), lambda name: client.get(name)),
        "create": (lambda name: None, lambda name: client.create(name)),
        "cancel (in Shipping)": (
            lambda name: (client.create(name, shippable), client.patch(name, {"properties": {"state": "Shipping"}})),
            lambda name: client.patch(name, {"properties": {"cancelRequested": True}}),
        ),
        "cancel (in Creating)": (lambda name: client.create(name), lambda name: client.patch(name, {"properties": {"cancelRequested": True}})),
        "delete (in Creating)": (lambda name: client.create(name), lambda name: client.delete(name)),
    }


def count_round_trips(azurite_port: int) -> dict[str, Counter]:
    proxy = StorageProxy(azurite_port)
    server = serve_app(connection_string(proxy.port), "OpsCount" + uuid.uuid4().hex[:8])
    client = Client(server.base_url)
    counts = {}
    for name, (prepare, operate) in operations(client).items():
        job = "count-" + uuid.uuid4().hex[:8]
        prepare(job)
        client.get(job)  # warm: the table exists, the client is built
        proxy.fail_next(0)
        response = operate(job)
        assert response.status_code < 300, (name, response.status_code, response.text)
        counts[name] = Counter()
        for (method, _status), n in proxy.seen.items():
            counts[name][method] += n
    server.shutdown()
    proxy.close()
    return counts


def raw_calls(service: TableServiceClient, table: str):
    """The same storage calls each operation makes, straight from the SDK (keys and bodies prepared in advance)."""
    jobs_table = service.get_table_client(table)
    index = service.get_table_client(table + "Expiry")

    def job(name):
        return new_job(JobKey(SUBSCRIPTION, "rg", name), JobCreateRequest.model_validate(BODY), SystemClock().now())

    def create(name):
        j = job(name)
        entry = IndexEntry.for_job(j)
        index.upsert_entity(entry.to_entity(), mode=UpdateMode.REPLACE)
        etag = jobs_table.create_entity(job_entity(j))["etag"]
        index.update_entity({"PartitionKey": entry.partition_key, "RowKey": entry.row_key, "JobEtag": etag}, mode=UpdateMode.MERGE)

    def get(name):
        jobs_table.get_entity(SUBSCRIPTION, f"rg:{name}")

    def cancel_shipping(name):
        entity = jobs_table.get_entity(SUBSCRIPTION, f"rg:{name}")
        jobs_table.update_entity(entity, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"], match_condition=MatchConditions.IfNotModified)

    def delete(name):
        entity = jobs_table.get_entity(SUBSCRIPTION, f"rg:{name}")
        jobs_table.delete_entity(SUBSCRIPTION, f"rg:{name}", etag=entity.metadata["etag"], match_condition=MatchConditions.IfNotModified)
        index.delete_entity(*IndexEntry.for_job(job_from_entity(entity)).address)

    return {"get": get, "create": create, "cancel (in Shipping)": cancel_shipping, "delete (in Creating)": delete}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def time_operations(connection: str, repeat: int) -> dict[str, tuple[list[float], list[float]]]:
    table = "OpsTime" + uuid.uuid4().hex[:8]
    server = serve_app(connection, table)
    client = Client(server.base_url)
    service = TableServiceClient.from_connection_string(connection)
    raw = raw_calls(service, table)
    results = {}
    for name, (prepare, operate) in operations(client).items():
        if name not in raw:
            continue
        ours, direct = [], []
        for i in range(repeat):
            for measured, call in ((ours, operate), (direct, raw[name])):
                job = f"t-{len(ours)}-{len(direct)}-{uuid.uuid4().hex[:6]}"
                prepare(job)
                started = time.perf_counter()
                call(job)
                measured.append(time.perf_counter() - started)
        results[name] = (ours, direct)
    server.shutdown()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ops", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    azurite = AzuriteTable()
    azurite.start()
    try:
        counts = count_round_trips(azurite.port)
        timings = time_operations(azurite.connection_string, args.repeat)
    finally:
        azurite.stop()
    trips = markdown_table(
        ["operation", "storage requests", "by method"],
        [[name, str(sum(c.values())), ", ".join(f"{m} {n}" for m, n in sorted(c.items()))] for name, c in counts.items()],
    )
    rows = []
    for name, (ours, direct) in timings.items():
        rows.append([
            name, f"{statistics.median(ours) * 1000:.1f}", f"{percentile(ours, 0.95) * 1000:.1f}",
            f"{statistics.median(direct) * 1000:.1f}", f"{percentile(direct, 0.95) * 1000:.1f}",
            f"{statistics.median(ours) / statistics.median(direct):.2f}x", f"{percentile(ours, 0.95) / percentile(direct, 0.95):.2f}x",
        ])
    overhead = markdown_table(["operation", "ours median ms", "ours p95 ms", "raw SDK median ms", "raw SDK p95 ms", "median ratio", "p95 ratio"], rows)
    print(trips, overhead, sep="\n\n")
    if args.no_write:
        return
    write_section(
        "ops",
        f"""## Operations (`python -m bench.ops`)

Storage requests per HTTP operation, counted by a proxy in front of Azurite
(what storage received; the table and client already warm). Then each
operation through the dev host over HTTP against the same storage calls made
straight from azure-data-tables, {args.repeat} tries each, alternating.

Machine: {machine()}

{trips}

{overhead}

The floor the rules allow: get 1; cancel 2 (read, conditional write); create 1
and delete 2, plus the expiry index's writes (create: the entry written ahead
and its ETag; delete: the entry's removal). A cancel in Creating moves the job
to Completed, so its entry moves too (written ahead, then the old one goes).
The raw-SDK column makes exactly our storage calls, with bodies prepared in
advance; the ratio is what the dev host, HTTP and the app add.""",
    )


if __name__ == "__main__":
    main()
