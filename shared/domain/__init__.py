"""The service's rules, with no storage and no HTTP: a job and its names, the state machine, retention, locations,
the listing filter's conditions, the errors the contract names, and the job operations (`jobs.JobService`) over a
store they know only by its interface (`store.JobStore`).

The lowest layer: it imports nothing else of `shared` (docs/architecture.md).
"""
