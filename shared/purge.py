"""`python -m shared.purge [--dry-run] [--as-of TIME]`: the retention purge (rule 6 of docs/contract.md), by hand.

Reads the app settings as the app does, builds the app (`shared.app`) and runs one purge (`shared.ops.purge`):
a line per job it deletes (or would delete), then a summary; one line and a non-zero exit when it cannot.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timezone

from .app import open_app
from .domain.clock import FixedClock, TimeOutOfRange, to_utc
from .domain.job import JobState
from .ops.commands import describe_storage, run_storage_command
from .ops.purge import PurgeReport
from .settings import load_settings


def utc_time(text: str) -> datetime:
    """An ISO-8601 time with its zone, in the range the rules accept; anything else is argparse's one-line error."""
    try:
        moment = datetime.fromisoformat(text[:-1] + "Z" if text[-1:] == "z" else text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from error
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time zone (Z for UTC): {text!r}")
    try:
        return to_utc(moment)
    except TimeOutOfRange as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.purge",
        description="Delete the Import/Export jobs whose retention ran out (rule 6 of the contract, docs/contract.md).",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    parser.add_argument("--as-of", type=utc_time, help="judge expiry at this ISO-8601 time instead of now")
    args = parser.parse_args(argv)
    now = datetime.now(timezone.utc)
    if args.as_of is not None and args.as_of > now and not args.dry_run:
        parser.error("--as-of in the future would delete jobs that have not expired yet; add --dry-run to preview it")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    verb = "would delete" if args.dry_run else "deleted"

    def report_job(state: JobState, resource_id: str) -> None:
        print(f"{verb} {state.value} {resource_id}", flush=True)

    def purge() -> PurgeReport:
        # A dry run writes nothing: not even the table, which a mistyped name would otherwise create.
        with open_app(load_settings(), create_table=not args.dry_run) as app:
            as_of = FixedClock(args.as_of) if args.as_of else None
            return app.purge(as_of=as_of, dry_run=args.dry_run, on_job=report_job).run()

    unfinished = "the preview stopped there" if args.dry_run else "nothing more was purged"
    return run_storage_command(parser.prog, purge, unfinished=unfinished, storage=describe_storage)


if __name__ == "__main__":
    sys.exit(main())
