"""The app's own package: every function folder, the purge timer and the commands use it.

In layers, each importing only those below it (`make lint` checks: .importlinter; docs/architecture.md):

    purge.py, migrate.py   the commands `python -m shared.purge` / `shared.migrate`
    app.py                 the composition root: settings -> storage client -> store -> service -> purge
    api/ | ops/            the wire (HTTP, bodies, api-versions, answers) | the operator's tools (purge, migrate)
    storage/               Table Storage: the job table, the expiry index and directory, skip tokens
    settings.py            the app settings, read and checked (also `python -m shared.settings`)
    domain/                the rules: the job, names, state machine, retention, locations, errors, the job operations

Nothing in it knows about the host that runs the functions.
"""

import sys as _sys


def _commands_need_the_apps_packages() -> None:
    """A command (`python -m shared.purge`, say) run by a Python without the app's packages: one line, not a traceback."""
    if _sys.argv[:1] != ["-m"]:  # only while `python -m shared.…` is starting; the app itself never comes here
        return
    try:
        import azure.data.tables  # noqa: F401
        import pydantic  # noqa: F401
    except ModuleNotFoundError as error:
        argv = _sys.orig_argv
        module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else "shared"
        print(
            f"python -m {module}: this Python ({_sys.executable}) does not have the app's packages (no module "
            f"{error.name!r}); run it as .venv/bin/python -m {module} from the repository folder (make run or make test "
            "sets up .venv)",
            file=_sys.stderr,
        )
        _sys.exit(2)  # as for other settings to fix: retrying with the same Python cannot help


_commands_need_the_apps_packages()
