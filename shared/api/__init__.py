"""The wire: HTTP requests in, ARM answers out, in each api-version's shapes.

`http` (query parameters, route keys, responses, the error boundary), `bodies` (request bodies), `versions` (every
api-version rule), `rendering` (answers' bodies), `filters` (the `$filter` grammar), `operations` (the provider's
operations list). Above the domain and storage; nothing below imports it (docs/architecture.md).
"""
