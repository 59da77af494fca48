"""Persistence in Azure Table Storage: the client's choices, the entity layout, the job table (`job_table`, the
domain's `JobStore`), the purge's expiry index and its directory, and the listings' skip tokens.

Above the domain and below the API and the operations' tools: it imports `shared.domain` and `shared.settings`
only (docs/architecture.md).
"""
