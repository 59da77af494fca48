"""How the commands over storage end: a summary and 0, or one line saying what stopped them and an exit code.

Used by `python -m shared.purge` and `python -m shared.migrate`; the purge timer words storage failures the same.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Protocol, TypeVar

from azure.core.exceptions import AzureError

from ..settings import SettingsError, load_settings
from ..storage.client import FailureKind, TableMissing
from ..storage.client import storage_failure as describe


class Report(Protocol):
    def summary(self) -> str: ...

    def problems(self) -> int:
        """Rows the run skipped because it could not read or write them (each logged with its keys)."""
        ...


def storage_failure(error: AzureError) -> str:
    """What went wrong with storage, in words: a refused credential is a setting to fix, not an outage to wait out."""
    return describe(error).text


def is_setting_to_fix(error: AzureError) -> bool:
    # A token the app could not get (its endpoint down, hanging) may come next time, as an outage may: exit 1.
    return describe(error).kind is FailureKind.REFUSED_CREDENTIALS


# What to check when storage does not answer, for a command run by hand.
WHERE_STORAGE_IS_SET = (
    "is it running (`make run` starts Azurite, and prints the `export AzureWebJobsStorage=...` line other shells need "
    "when it moved the ports)? the connection is IMPORTEXPORT_STORAGE_CONNECTION, else AzureWebJobsStorage"
)


def describe_storage() -> str:
    """The storage the app settings name, in words, with no secret."""
    return load_settings().describe_storage()


def run_storage_command(
    prog: str, work: Callable[[], Report], *, unfinished: str, storage: Callable[[], str] | None = None
) -> int:
    """A command's run over storage: its summary and 0, or one line saying what stopped it and an exit code
    (1 storage did not answer, 2 settings, credentials or a table name to fix, 3 done but rows skipped that could not
    be read or written, 130 interrupted); never a stack trace.

    `storage` describes the storage the settings name (no secret), for the line that says it did not answer.
    """
    try:
        report = work()
    except SettingsError as error:
        print(f"{prog}: the app settings are not usable: {error}", file=sys.stderr)
        return 2
    except TableMissing as error:
        where = f" ({storage()})" if storage is not None else ""
        print(f"{prog}: {error}{where}; check IMPORTEXPORT_TABLE_NAME. Nothing was created or changed", file=sys.stderr)
        return 2
    except AzureError as error:
        failure = describe(error)
        if failure.kind is FailureKind.UNAVAILABLE and storage is not None:
            print(f"{prog}: {failure.text} at {storage()}: {WHERE_STORAGE_IS_SET}; {unfinished}", file=sys.stderr)
        else:
            print(f"{prog}: {failure.text}; {unfinished}", file=sys.stderr)
        return 2 if is_setting_to_fix(error) else 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {unfinished}", file=sys.stderr)
        return 130
    print(report.summary())
    # Done with everything else: 3 says rows were skipped (logged above with their keys), for someone to look at.
    return 3 if report.problems() else 0


ReportT = TypeVar("ReportT", bound=Report)


def run_on_timer(what: str, work: Callable[[], ReportT], *, log: logging.Logger) -> ReportT | None:
    """A timer's run over storage: its report, or None after one error line saying what stopped it (unusable
    settings, or storage: what the run did is done, and the next run continues from the index); never a stack trace."""
    try:
        return work()
    except SettingsError as error:
        log.error("%s not run: the app settings are not usable: %s", what, error)
    except AzureError as error:
        log.error("%s stopped: %s; the next run continues", what, storage_failure(error))
    return None
