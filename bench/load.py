"""Load benchmark: throughput and latency of a mixed workload at 1, 8 and 32 concurrent clients on the dev host.

    python -m bench.load [--clients 1,8,32] [--seconds 15]

Each client is a thread with its own kept-alive connection and resource
group, repeating two job lives (the mix below) as fast as answers come. Every
level gets a fresh table and a fresh dev host (`.venv/bin/python -m devhost`, its own
process) over one in-memory Azurite, and a warm-up life per client before the
clock starts. Any unexpected status counts as an error. Writes the table to
docs/benchmarks.md and a plot to docs/load.png.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.arguments import positive_float, positive_ints
from bench.client import SHIPPABLE_JOB_BODY, JobsClient, Reply
from bench.report import DOCS, machine, markdown_table, percentile, pyplot, write_section
from scripts.azurite import AzuriteTable
from scripts.devhost_process import DevHostProcess

SUBSCRIPTION = "00000000-0000-0000-0000-0000000000c0"
SHIP = {"state": "Shipping"}
CANCEL = {"cancelRequested": True}


def one_round(client: JobsClient, group: str, record) -> None:
    """Two job lives, 12 requests: one job is shipped and cancelled (it stays, as shipped jobs do until the
    datacenter returns them); the other is cancelled while Creating, which completes it, and deleted."""
    shipped, dropped = "s-" + uuid.uuid4().hex[:10], "d-" + uuid.uuid4().hex[:10]
    record("create", 201, lambda: client.create(group, shipped, SHIPPABLE_JOB_BODY))
    record("get", 200, lambda: client.get(group, shipped))
    record("ship", 200, lambda: client.update(group, shipped, SHIP))
    record("get", 200, lambda: client.get(group, shipped))
    record("cancel", 200, lambda: client.update(group, shipped, CANCEL))
    record("list", 200, lambda: client.list(group, top=20))
    record("create", 201, lambda: client.create(group, dropped))
    record("get", 200, lambda: client.get(group, dropped))
    record("cancel", 200, lambda: client.update(group, dropped, CANCEL))
    record("get", 200, lambda: client.get(group, dropped))
    record("delete", 200, lambda: client.delete(group, dropped))
    record("get", 404, lambda: client.get(group, dropped))


@dataclass
class Level:
    clients: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    host_cpu_seconds: float = 0.0
    azurite_cpu_seconds: float = 0.0
    generator_cpu_seconds: float = 0.0

    @property
    def all_latencies(self) -> list[float]:
        return [latency for values in self.latencies.values() for latency in values]

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_level(azurite: AzuriteTable, clients: int, seconds: float) -> Level:
    level = Level(clients)
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1, timeout=120)
    stop = threading.Event()
    with DevHostProcess(azurite.connection_string, "Load" + uuid.uuid4().hex[:8]) as host:

        def client_loop(number: int) -> None:
            client = JobsClient(host.port, SUBSCRIPTION)
            group = f"load-{number}"
            measuring = False

            def record(operation: str, expected: int, send) -> Reply:
                started = time.perf_counter()
                try:
                    reply = send()
                except OSError as error:  # the connection failed: an error, and this client stops
                    with lock:
                        level.errors.append(f"{operation}: {error!r}")
                    ready.abort()
                    raise
                elapsed = time.perf_counter() - started
                if measuring:
                    with lock:
                        level.latencies[operation].append(elapsed)
                        if reply.status != expected:
                            level.errors.append(f"{operation}: {reply.status} (expected {expected}) {reply.body[:200]!r}")
                return reply

            one_round(client, group, record)  # warm-up: connection, table, imports
            ready.wait()
            measuring = True
            while not stop.is_set():
                one_round(client, group, record)
            client.close()

        threads = [threading.Thread(target=client_loop, args=(n,), daemon=True) for n in range(clients)]
        for thread in threads:
            thread.start()
        ready.wait()
        host_cpu, azurite_cpu, generator_cpu = (
            cpu_seconds(host.process.pid),
            cpu_seconds(azurite.process.pid),
            time.process_time(),
        )
        started = time.perf_counter()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        level.seconds = time.perf_counter() - started  # rounds in flight at the stop finish and count
        level.host_cpu_seconds = cpu_seconds(host.process.pid) - host_cpu
        level.azurite_cpu_seconds = cpu_seconds(azurite.process.pid) - azurite_cpu
        level.generator_cpu_seconds = time.process_time() - generator_cpu
    return level


def plot(levels: list[Level], path: Path) -> None:
    plt = pyplot()
    clients = [level.clients for level in levels]
    figure, latency_axes = plt.subplots(figsize=(7, 4.2))
    for share, style in ((0.50, "o-"), (0.95, "s-"), (0.99, "^-")):
        latency_axes.plot(
            clients, [percentile(level.all_latencies, share) * 1000 for level in levels], style, label=f"p{int(share * 100)}"
        )
    latency_axes.set_xscale("log", base=2)
    latency_axes.set_yscale("log")
    latency_axes.set_xticks(clients, [str(c) for c in clients])
    latency_axes.set_xlabel("concurrent clients")
    latency_axes.set_ylabel("request latency (ms)")
    latency_axes.grid(True, which="both", alpha=0.3)
    throughput_axes = latency_axes.twinx()
    throughput_axes.plot(clients, [level.throughput for level in levels], "k--", alpha=0.6, label="throughput")
    throughput_axes.set_ylabel("throughput (requests/s)")
    throughput_axes.set_ylim(bottom=0)
    lines = latency_axes.get_legend_handles_labels()
    more = throughput_axes.get_legend_handles_labels()
    latency_axes.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")
    latency_axes.set_title("Mixed workload on the dev host over Azurite (in memory)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=positive_ints, default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=positive_float, default=15.0, help="measured time at each level")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    args = parser.parse_args(argv)

    with AzuriteTable() as azurite:
        levels = [run_level(azurite, clients, args.seconds) for clients in args.clients]

    def ms(values: list[float], share: float) -> str:
        return f"{percentile(values, share) * 1000:.1f}"

    rows = [
        [
            str(level.clients),
            f"{level.requests:,}",
            f"{level.throughput:.0f}",
            ms(level.all_latencies, 0.5),
            ms(level.all_latencies, 0.95),
            ms(level.all_latencies, 0.99),
            str(len(level.errors)),
            f"{level.host_cpu_seconds / level.seconds:.0%}",
            f"{level.azurite_cpu_seconds / level.seconds:.0%}",
            f"{level.generator_cpu_seconds / level.seconds:.0%}",
            f"{level.host_cpu_seconds / level.requests * 1000:.1f}",
        ]
        for level in levels
    ]
    overall = markdown_table(
        [
            "clients",
            "requests",
            "requests/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors",
            "dev host CPU",
            "Azurite CPU",
            "load generator CPU",
            "dev host CPU ms / request",
        ],
        rows,
    )
    operations = sorted({name for level in levels for name in level.latencies})
    by_operation = markdown_table(
        ["operation", *(f"p50 / p99 ms at {level.clients}" for level in levels)],
        [
            [name, *(f"{ms(level.latencies[name], 0.5)} / {ms(level.latencies[name], 0.99)}" for level in levels)]
            for name in operations
        ],
    )
    first, last = levels[0], levels[-1]
    summary = (
        f"From {first.clients} to {last.clients} clients: throughput {last.throughput / first.throughput:.1f}x, "
        f"p50 latency {statistics.median(last.all_latencies) / statistics.median(first.all_latencies):.1f}x, "
        f"p99 {percentile(last.all_latencies, 0.99) / percentile(first.all_latencies, 0.99):.1f}x; "
        f"{sum(len(level.errors) for level in levels)} errors in {sum(level.requests for level in levels):,} requests."
    )
    print(overall, by_operation, summary, sep="\n\n")
    for level in levels:
        for error in level.errors[:5]:
            print(f"{level.clients} clients: {error}", file=sys.stderr)
    if any(level.errors for level in levels):
        raise SystemExit("unexpected answers under load: see above")
    if args.no_write:
        return
    plot(levels, DOCS / "load.png")
    write_section(
        "load",
        f"""## Under load (`.venv/bin/python -m bench.load`)

A mixed workload, {args.seconds:.0f} s measured at each level: every client (a
thread with its own kept-alive connection and resource group) repeats two job
lives, 12 requests: create a job, get it, ship it, get it, cancel it (it stays
in Shipping with cancelRequested), list the resource group (20 a page); create
a second job, get it, cancel it (Creating: it completes), get it, delete it,
get it (404). So 5 gets, 1 list, 2 creates, 1 ship, 2 cancels, 1 delete. Each
level on a fresh table and a fresh dev host (`.venv/bin/python -m devhost`, its own
process), after a warm-up life per client; the load generator runs in a third
process. CPU columns: each process's CPU time over the level's wall time
(100% is one core), and the dev host's CPU time per request.

Machine: {machine()}

{overall}

{by_operation}

{summary}

The dev host is one Python process (one interpreter lock) and Azurite one
Node process, on a machine with {os.cpu_count()} cores that also runs the load
generator: past a few clients they are saturated, so more clients add queueing,
not throughput, and latency grows with the queue (throughput x mean latency
stays close to the number of clients). On Azure, Functions scales out
instances and Table Storage partitions; these figures are one process's worth.

![latency and throughput against concurrent clients](load.png)""",
    )


if __name__ == "__main__":
    main()
