"""The operator's work over storage, apart from any request: the retention purge (`purge`), the migration of jobs
written by earlier versions (`migrate`), and how their commands end (`commands`).

Above the domain and storage, beside the API; the commands `python -m shared.purge` and `python -m shared.migrate`
run them (docs/architecture.md).
"""
