"""Per-operation benchmark: storage round trips of each HTTP operation, and its time against the raw SDK.

    python -m bench.ops [--repeat 200]

Round trips are counted by a proxy in front of Azurite, so they are what
storage really received. Times, in the same run, --repeat tries each: the
same storage calls made directly with azure-data-tables; the function called
in process; and the operation through the dev host (its own process) over
HTTP. Writes the tables to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
import uuid
from collections import Counter
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from azure.core import MatchConditions
from azure.data.tables import TableServiceClient, UpdateMode

from bench.arguments import positive_int
from bench.client import JOB_BODY, SHIPPABLE_JOB_BODY, JobsClient, Reply
from bench.report import machine, markdown_table, percentile, write_section
from devhost.functions import load_app
from scripts.azurite import ROOT, AzuriteTable, connection_string
from scripts.devhost_process import DevHostProcess
from scripts.storage_proxy import StorageProxy
from shared.app import App, app_in_use
from shared.domain.access import AuthMode
from shared.domain.clock import SystemClock
from shared.domain.job import Job, JobState
from shared.domain.locations import load_catalogue
from shared.domain.names import JobKey
from shared.domain.requests import JobCreateRequest, JobUpdateRequest
from shared.domain.state_machine import move_job, new_job, update_job
from shared.settings import DEFAULT_LOCATIONS_FILE, Settings
from shared.storage.client import table_service
from shared.storage.entities import job_entity, stored_job
from shared.storage.expiry_index import ExpiryEntry, entry_operations

TARGET_RATIO = 1.3  # over HTTP, through the dev host
IN_PROCESS_TARGET_RATIO = 1.10  # the app's own code, called in process, over the same storage calls from the SDK
# What reading an Entra ID caller's principal and authorising it may add, in process, over a key holder's request.
ENTRA_TARGET_RATIO = 1.05
# The caller of the Entra ID way: a user holding the roles every timed operation needs, as Easy Auth passes it in.
ENTRA_CALLER_CLAIMS = [
    {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "00000000-0000-0000-0000-0000000000e1"},
    {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "val": "bench@contoso.example"},
    {"typ": "http://schemas.microsoft.com/identity/claims/scope", "val": "user_impersonation"},
    {"typ": "roles", "val": "ImportExport.Contributor"},
    {"typ": "roles", "val": "ImportExport.Operator"},
]
ENTRA_HEADERS = {
    "X-MS-CLIENT-PRINCIPAL": base64.b64encode(
        json.dumps({"auth_typ": "aad", "name_typ": "name", "role_typ": "roles", "claims": ENTRA_CALLER_CLAIMS}).encode()
    ).decode(),
    "X-MS-CLIENT-PRINCIPAL-ID": "00000000-0000-0000-0000-0000000000e1",
    "X-MS-CLIENT-PRINCIPAL-NAME": "bench@contoso.example",
    "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
}
SUBSCRIPTION = "00000000-0000-0000-0000-0000000000b0"
# The cancel completion's timer (every 10 s) would add its storage requests to the counts and its work to the times.
NO_BACKGROUND_TIMER = {"AzureWebJobs.complete_cancels.Disabled": "true"}
GROUP = "rg"
LOCATIONS = load_catalogue(DEFAULT_LOCATIONS_FILE)


# Each operation: how to prepare a job for it (untimed), and the operation itself.
def operations(client: JobsClient):
    return {
        "get": (lambda job: client.create(GROUP, job), lambda job: client.get(GROUP, job)),
        "create": (lambda job: None, lambda job: client.create(GROUP, job)),
        "cancel (in Shipping)": (
            lambda job: (client.create(GROUP, job, SHIPPABLE_JOB_BODY), client.update(GROUP, job, {"state": "Shipping"})),
            lambda job: client.update(GROUP, job, {"cancelRequested": True}),
        ),
        "cancel (in Creating)": (
            lambda job: client.create(GROUP, job),
            lambda job: client.update(GROUP, job, {"cancelRequested": True}),
        ),
        "delete (in Creating)": (lambda job: client.create(GROUP, job), lambda job: client.delete(GROUP, job)),
        "ship (Creating to Shipping)": (
            lambda job: client.create(GROUP, job, SHIPPABLE_JOB_BODY),
            lambda job: client.update(GROUP, job, {"state": "Shipping"}),
        ),
        "complete (operator, Packaging to Completed)": (
            lambda job: (
                client.create(GROUP, job, SHIPPABLE_JOB_BODY),
                client.update(GROUP, job, {"state": "Shipping"}),
                *(client.move(GROUP, job, state) for state in ("Received", "Transferring", "Packaging")),
            ),
            lambda job: client.move(GROUP, job, "Completed"),
        ),
        "list a resource group": (lambda job: client.create(GROUP, job), lambda job: client.list(GROUP, top=20)),
    }


def count_round_trips(azurite_port: int) -> dict[str, Counter]:
    """Storage requests per operation, counted twice: by an azure-core policy in the app (called in process) and on
    the wire by a proxy in front of Azurite (the app behind the dev host). The two must agree."""
    proxy = StorageProxy(azurite_port)
    by_policy: Counter = Counter()
    counts = {}
    table = "OpsCount" + uuid.uuid4().hex[:8]
    with DevHostProcess(connection_string(proxy.port), table, environment=NO_BACKGROUND_TIMER) as host:
        client = JobsClient(host.port, SUBSCRIPTION)
        in_process = JobsClient(host.port, SUBSCRIPTION)

        def count_request(request) -> None:  # azure-core's CustomHookPolicy calls this on every try sent, retries included
            by_policy[request.http_request.method] += 1

        in_process.send = InProcessApp(connection_string(azurite_port), table, raw_request_hook=count_request).send
        for caller in (client, in_process):
            # Each process writes a directory day the first time it meets a subscription, countdown and day (one
            # request more, once; for a pending cancel, once a minute); a job created, cancelled and completed meets
            # today's for each countdown, so the counts are the steady state.
            warm = "warm-" + uuid.uuid4().hex[:8]
            expect_success(caller.create(GROUP, warm), "warming up")
            expect_success(caller.update(GROUP, warm, {"cancelRequested": True}), "warming up")
            expect_success(caller.move(GROUP, warm, "Completed"), "warming up")
        for name, (prepare, operate) in operations(client).items():

            def run_once(caller: JobsClient, operation, prepare=prepare, name=name) -> None:
                job = "count-" + uuid.uuid4().hex[:8]
                prepare(job)
                caller.get(GROUP, job)  # warm: the table exists, the client is built
                proxy.fail_next(0)
                by_policy.clear()
                expect_success(operation(job), f"{name}, counted")

            run_once(client, operate)
            on_the_wire = Counter()
            for (method, _status), n in proxy.seen.items():
                on_the_wire[method] += n
            run_once(in_process, operations(in_process)[name][1])
            counted = Counter(by_policy)
            if on_the_wire != counted:
                raise SystemExit(f"{name}: the policy counted {dict(counted)}, the wire {dict(on_the_wire)}")
            counts[name] = counted
    proxy.close()
    return counts


def raw_calls(service: TableServiceClient, table: str):
    """The storage calls each operation makes, straight from the SDK: for a job, a call with everything prepared.

    The same requests the app sends (one transaction of the job and its expiry entry, or a plain conditional
    update when no entry changes), built before the timing starts.
    """
    jobs_table = service.get_table_client(table)

    def stored(name):
        return stored_job(jobs_table.get_entity(SUBSCRIPTION, f"{GROUP}:{name}"))

    def create(name):
        request = JobCreateRequest.model_validate(JOB_BODY)
        shipping_to = LOCATIONS.get(request.location).shipping_information()
        job = new_job(JobKey(SUBSCRIPTION, GROUP, name), request, SystemClock().now(), shipping_to=shipping_to)
        operations = [("create", job_entity(job)), *entry_operations(SUBSCRIPTION, None, ExpiryEntry.for_job(job))]
        return lambda: jobs_table.submit_transaction(operations)

    def get(name):
        return lambda: jobs_table.get_entity(SUBSCRIPTION, f"{GROUP}:{name}")

    def write(current: Job, changed: Job):
        """Read, then the conditional write that takes the job (and its entry) from `current` to `changed`."""
        entry_changes = entry_operations(SUBSCRIPTION, ExpiryEntry.for_job(current), ExpiryEntry.for_job(changed))
        entity = job_entity(changed)

        def call():
            etag = jobs_table.get_entity(SUBSCRIPTION, f"{GROUP}:{changed.name}").metadata["etag"]
            condition = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
            if not entry_changes:
                jobs_table.update_entity(entity, mode=UpdateMode.REPLACE, **condition)
            else:
                jobs_table.submit_transaction([("update", entity, {"mode": UpdateMode.REPLACE, **condition}), *entry_changes])

        return call

    def changed_by(patch: dict):
        def prepare(name):
            current = stored(name).job
            return write(
                current, update_job(current, JobUpdateRequest.model_validate({"properties": patch}), SystemClock().now())
            )

        return prepare

    def complete(name):
        current = stored(name).job
        return write(current, move_job(current, JobState.COMPLETED, None, SystemClock().now()))

    def delete(name):
        entry = ExpiryEntry.for_job(stored(name).job)

        def call():
            etag = jobs_table.get_entity(SUBSCRIPTION, f"{GROUP}:{name}").metadata["etag"]
            jobs_table.submit_transaction(
                [
                    (
                        "delete",
                        {"PartitionKey": SUBSCRIPTION, "RowKey": f"{GROUP}:{name}"},
                        {"etag": etag, "match_condition": MatchConditions.IfNotModified},
                    ),
                    *entry_operations(SUBSCRIPTION, entry, None),
                ]
            )

        return call

    def list_group(name):
        def call():
            query = "PartitionKey eq @partition and RowKey ge @low and RowKey lt @high"
            parameters = {"partition": SUBSCRIPTION, "low": f"{GROUP}:", "high": f"{GROUP};"}
            next(jobs_table.query_entities(query, parameters=parameters, results_per_page=20).by_page(), [])

        return call

    return {
        "get": get,
        "create": create,
        "cancel (in Shipping)": changed_by({"cancelRequested": True}),
        "cancel (in Creating)": changed_by({"cancelRequested": True}),
        "delete (in Creating)": delete,
        "ship (Creating to Shipping)": changed_by({"state": "Shipping"}),
        "complete (operator, Packaging to Completed)": complete,
        "list a resource group": list_group,
    }


class InProcessApp:
    """The function app called in this process, no HTTP: what our code adds to the storage calls, and nothing else."""

    def __init__(self, connection: str, table: str, *, entra: bool = False, **client_options) -> None:
        # The app's storage client gets `client_options` too (a request-counting hook, say). With `entra`, the app
        # takes Entra ID callers behind App Service Authentication, and every request carries one's principal.
        callers = {"auth_mode": AuthMode.ENTRA, "easy_auth_enabled": True} if entra else {}
        settings = Settings(storage_connection=connection, table_name=table, locations=LOCATIONS, **callers)
        self.app = App(settings, **client_options)
        self.caller_headers = ENTRA_HEADERS if entra else {}
        self.functions = load_app(ROOT)

    def send(self, method: str, path: str, body: dict | None = None) -> Reply:
        url = urlsplit(path)
        found = self.functions.match(method, url.path)
        assert found.function is not None, path
        request = func.HttpRequest(
            method=method,
            url="http://localhost" + path,
            params=dict(parse_qsl(url.query)),
            route_params=found.route_values,
            headers={**self.caller_headers, **({"Content-Type": "application/json"} if body is not None else {})},
            body=json.dumps(body).encode() if body is not None else b"",
        )
        with app_in_use(self.app):
            response = found.function.invoke(request)
        return Reply(response.status_code, response.get_body())


def expect_success(reply: Reply, what: str) -> None:
    """A failed operation stops the benchmark: a fast failure is no figure."""
    if not 200 <= reply.status < 300:
        raise SystemExit(f"{what}: {reply.status} {reply.body[:300]!r}")


def timed(call) -> float:
    """Seconds `call` took; a reply that is not a success stops the benchmark."""
    started = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - started
    if isinstance(result, Reply):
        expect_success(result, "an operation failed while timed")
    return elapsed


def time_operations(connection: str, repeat: int) -> tuple[dict[str, dict[str, list[float]]], list[float], float]:
    """Per operation, the times of: the raw SDK calls, the app in process, the app over HTTP; and of a bare HTTP hop."""
    table = "OpsTime" + uuid.uuid4().hex[:8]
    service = table_service(connection)  # the app's client options
    raw = raw_calls(service, table)
    with DevHostProcess(connection, table, environment=NO_BACKGROUND_TIMER) as host:
        client = JobsClient(host.port, SUBSCRIPTION)
        in_process = JobsClient(host.port, SUBSCRIPTION)
        in_process.send = InProcessApp(connection, table).send
        in_process_entra = JobsClient(host.port, SUBSCRIPTION)
        in_process_entra.send = InProcessApp(connection, table, entra=True).send
        hop = client.path(GROUP, "hop").split("?")[0]  # no api-version: answered 400 before any storage call
        hops, results = [], {}
        for name, (prepare, operate) in operations(client).items():
            if name not in raw:
                continue
            in_process_operate = operations(in_process)[name][1]
            entra_operate = operations(in_process_entra)[name][1]
            times = results[name] = {"raw SDK": [], "in process": [], "over HTTP": [], "in process, Entra ID": []}
            calls = {
                "over HTTP": lambda job, operate=operate: lambda: operate(job),
                "raw SDK": lambda job, name=name: raw[name](job),
                "in process": lambda job, operate=in_process_operate: lambda: operate(job),
                "in process, Entra ID": lambda job, operate=entra_operate: lambda: operate(job),
            }
            # Prepare every job first, so no timed call follows on the heels of untimed work; then alternate,
            # rotating the order so that no way always runs right after the same other one.
            job_names = {kind: [f"t-{uuid.uuid4().hex[:12]}" for _ in range(repeat)] for kind in calls}
            for job in (job for batch in job_names.values() for job in batch):
                prepare(job)
            kinds = list(calls)
            for i in range(repeat):
                for kind in kinds[i % len(kinds) :] + kinds[: i % len(kinds)]:
                    times[kind].append(timed(calls[kind](job_names[kind][i])))
                hops.append(timed(lambda: client.send("GET", hop).status))
        sdk_cpu = sdk_cpu_per_read(raw["get"], client)
    return results, hops, sdk_cpu


def sdk_cpu_per_read(raw_get, client: JobsClient, reads: int = 500) -> float:
    """CPU seconds this process spends in the SDK per point read (storage's own time is another process's)."""
    job = "cpu-" + uuid.uuid4().hex[:8]
    client.create(GROUP, job)
    read = raw_get(job)
    started = time.process_time()
    for _ in range(reads):
        read()
    return (time.process_time() - started) / reads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ops", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=positive_int, default=200, help="tries of each operation each way, per round")
    parser.add_argument("--rounds", type=positive_int, default=3, help="independent rounds, each with a fresh table and dev host")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    with AzuriteTable() as azurite:
        counts = count_round_trips(azurite.port)
        rounds = [time_operations(azurite.connection_string, args.repeat) for _ in range(args.rounds)]
    trips = markdown_table(
        ["operation", "storage requests (policy = wire)", "by method"],
        [[name, str(sum(c.values())), ", ".join(f"{m} {n}" for m, n in sorted(c.items()))] for name, c in counts.items()],
    )
    median, p95 = statistics.median, lambda values: percentile(values, 0.95)

    def pooled(name: str, kind: str) -> list[float]:
        return [t for timings, _, _ in rounds for t in timings[name][kind]]

    def ratios(name: str, kind: str, base: str = "raw SDK") -> list[float]:
        return sorted(median(timings[name][kind]) / median(timings[name][base]) for timings, _, _ in rounds)

    def spread(values: list[float]) -> str:
        return f"{median(values):.2f}x ({values[0]:.2f}-{values[-1]:.2f})" if len(values) > 1 else f"{values[0]:.2f}x"

    names = list(rounds[0][0])
    rows = [
        [
            name,
            f"{median(pooled(name, 'raw SDK')) * 1000:.2f}",
            f"{median(pooled(name, 'in process')) * 1000:.2f}",
            f"{median(pooled(name, 'over HTTP')) * 1000:.2f}",
            spread(ratios(name, "in process")),
            spread(ratios(name, "over HTTP")),
            f"{p95(pooled(name, 'over HTTP')) / p95(pooled(name, 'raw SDK')):.2f}x",
            spread(ratios(name, "in process, Entra ID", "in process")),
        ]
        for name in names
    ]
    overhead = markdown_table(
        [
            "operation",
            "raw SDK ms",
            "app in process ms",
            "app over HTTP ms",
            "in process / raw",
            "over HTTP / raw",
            "p95 over HTTP / raw",
            "Entra ID caller / key holder, in process",
        ],
        rows,
    )
    verdicts = []
    for kind, target in (("in process", IN_PROCESS_TARGET_RATIO), ("over HTTP", TARGET_RATIO)):
        missed = [name for name in names if round(median(ratios(name, kind)), 2) > target]
        verdicts.append(
            f"{kind.capitalize()}, the target of {target}x is met for every operation (median of the rounds)."
            if not missed
            else f"{kind.capitalize()}, the target of {target}x is not met for: {', '.join(missed)} (median of the rounds)."
        )
    missed = [name for name in names if round(median(ratios(name, "in process, Entra ID", "in process")), 2) > ENTRA_TARGET_RATIO]
    verdicts.append(
        f"An Entra ID caller (its principal read and its roles checked) against a key holder, in process, the target of "
        f"{ENTRA_TARGET_RATIO}x is " + (f"not met for: {', '.join(missed)}." if missed else "met for every operation.")
    )
    verdict = " ".join(verdicts)
    hops = [h for _, round_hops, _ in rounds for h in round_hops]
    sdk_cpu = median([cpu for _, _, cpu in rounds])
    hop = (
        f"A bare HTTP request through the dev host (answered 400 before any storage call): median {median(hops) * 1000:.2f} ms. "
        f"The SDK's own CPU time per point read, in the caller's process: {sdk_cpu * 1000:.2f} ms."
    )
    print(trips, overhead, hop, verdict, sep="\n\n")
    if args.no_write:
        return
    write_section(
        "ops",
        f"""## Operations (`.venv/bin/python -m bench.ops`)

Storage requests per HTTP operation, the table and client already warm,
counted twice, and the counts must agree: by an azure-core policy (the
`raw_request_hook` of its CustomHookPolicy, which sees every try) in the app
called in process, and on the wire by a proxy in front of Azurite, with the
app behind the dev host. Then each
operation four ways, {args.repeat} tries each way in each of {args.rounds} rounds
(a fresh table and dev host each), alternating, every job prepared before the
timing starts: the same storage calls made straight from
azure-data-tables with the app's client options (the floor); the function
called in this process with no HTTP (what our code adds); the same with an Entra
ID caller (the app in `entra` mode, each request carrying a user's
`X-MS-CLIENT-PRINCIPAL` as App Service Authentication passes it, so the
principal is read and its roles checked: what authorising adds); and through the dev
host (`.venv/bin/python -m devhost`, its own process) over HTTP from a kept-alive
`http.client` connection (what a caller sees). Times are medians of all
rounds; ratios are the median round's, with the lowest and highest round in
brackets, since the ratio moves from run to run on a shared machine.

Machine: {machine()}

{trips}

{overhead}

{hop} {verdict}

Every operation is at the floor the rules allow: get 1; create 1 (the job and
its expiry entry in one transaction); cancel, ship, complete and delete 2 (the
read, then one conditional transaction of the job and its entry; a cancel in
Shipping changes no entry, so its write is a plain conditional update). A
listing reads one page. The counts are the steady state: a process adds one
directory merge the first time it writes an entry for a subscription, countdown
and recent day (once per process and day for each subscription it serves; for
a cancel in Creating, whose entry waits for the completion timer, once a
minute at most), and one for each write that moves an entry onto an older day
(an operator's back-dated finish). Completing a cancel costs two requests per
job more, in the timer (see Cancel in Creating). Because every write rewrites the job's entry in the same
transaction, the purge deletes expired jobs without reading them (see Purge).

Reading the ratios: in process, our code (parsing, validation, the rules,
shaping the ARM body) costs a few per cent over the raw SDK calls. Over HTTP,
the extra is one more
local round trip, the HTTP request itself, which costs about what the bare
request above costs whatever the operation. It weighs most against the
cheapest operation, a point read from an emulator on the same machine. Against
Azure Table Storage over a network, where each storage request takes
milliseconds, the same fixed cost weighs far less.""",
    )


if __name__ == "__main__":
    main()
