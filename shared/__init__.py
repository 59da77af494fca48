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
