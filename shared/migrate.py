"""`python -m shared.migrate [--dry-run]`: bring jobs written by earlier versions of the app to the current layout.

Reads the app settings as the app does, builds the app (`shared.app`) and runs the migration (`shared.ops.migrate`):
one summary line; one line and a non-zero exit when it cannot. Idempotent; deletes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .app import open_app
from .ops.commands import describe_storage, run_storage_command
from .ops.migrate import MigrationReport, migrate
from .settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.migrate",
        description="Bring jobs written by earlier versions to the current layout: filter columns, expiry entry beside"
        " the job (idempotent; deletes nothing).",
    )
    parser.add_argument("--dry-run", action="store_true", help="count the jobs to bring up to date; write nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    def run() -> MigrationReport:
        # A dry run writes nothing: not even the table, which a mistyped name would otherwise create.
        with open_app(load_settings(), create_table=not args.dry_run) as app:
            storage = app.storage
            return migrate(storage.table, storage.store, dry_run=args.dry_run)

    unfinished = "the count stopped there" if args.dry_run else "run it again to finish"
    return run_storage_command(parser.prog, run, unfinished=unfinished, storage=describe_storage)


if __name__ == "__main__":
    sys.exit(main())
