"""How the commands over storage end: a summary and 0, or one line saying what stopped them and an exit code.

Used by `python -m shared.purge` and `python -m shared.migrate`; the purge timer words storage failures the same.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol

from azure.core.exceptions import AzureError

from ..settings import SettingsError
from ..storage.client import FailureKind
from ..storage.client import storage_failure as describe


class Report(Protocol):
    def summary(self) -> str: ...


def storage_failure(error: AzureError) -> str:
    """What went wrong with storage, in words: a refused credential is a setting to fix, not an outage to wait out."""
    return describe(error).text


def is_setting_to_fix(error: AzureError) -> bool:
    # A token the app could not get (its endpoint down, hanging) may come next time, as an outage may: exit 1.
    return describe(error).kind is FailureKind.REFUSED_CREDENTIALS


def run_storage_command(prog: str, work: Callable[[], Report], *, unfinished: str) -> int:
    """A command's run over storage: its summary and 0, or one line saying what stopped it and an exit code
    (1 storage did not answer, 2 settings or credentials to fix, 130 interrupted); never a stack trace."""
    try:
        report = work()
    except SettingsError as error:
        print(f"{prog}: the app settings are not usable: {error}", file=sys.stderr)
        return 2
    except AzureError as error:
        print(f"{prog}: {storage_failure(error)}; {unfinished}", file=sys.stderr)
        return 2 if is_setting_to_fix(error) else 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; {unfinished}", file=sys.stderr)
        return 130
    print(report.summary())
    return 0
