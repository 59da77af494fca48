"""Which properties of a JSON answer an official Python client's generated models do not define.

The generated models carry their wire names in `_attribute_map` (flattened ones as `properties.x`): the
client's own description of its api-version. Used by the 0.1.0 tests in process and by the 1.0.0b2 driver.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def undefined_properties(document: Any, model: type, models: ModuleType, path: str = "") -> list[str]:
    """The properties of a JSON answer that `model`'s generated metadata does not define, by path.

    `models` is the client's models module, where the metadata names the types of nested properties.
    """
    if not isinstance(document, dict):
        return []
    tree: dict[str, Any] = {}
    for spec in model._attribute_map.values():
        *parents, leaf = spec["key"].split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = spec["type"]
    return _walk(document, tree, models, path)


def _walk(document: dict, tree: dict, models: ModuleType, path: str) -> list[str]:
    found: list[str] = []
    for name, value in document.items():
        where = f"{path}.{name}" if path else name
        if name not in tree:
            found.append(where)
        elif isinstance(tree[name], dict):
            found += _walk(value, tree[name], models, where) if isinstance(value, dict) else []
        else:
            type_name = tree[name].strip("[]")
            nested = getattr(models, type_name, None)
            items = value if isinstance(value, list) else [value]
            if nested is not None and hasattr(nested, "_attribute_map"):
                for index, item in enumerate(items):
                    found += undefined_properties(item, nested, models, f"{where}[{index}]" if isinstance(value, list) else where)
    return found
