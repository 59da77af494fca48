"""A small stand-in for `func start`: serves an Azure Functions (Python v1 model) app's HTTP routes.

It knows `host.json` and each folder's `function.json`, nothing of the app's own rules.
Use it where Azure Functions Core Tools cannot be installed: `python -m devhost`.
"""
