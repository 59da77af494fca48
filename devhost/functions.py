"""Reads a function app folder: `host.json`, every `function.json`, and the routes they declare."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import read_json

DEFAULT_ROUTE_PREFIX = "api"
_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(\?)?(?::[^}]*)?\}")


@dataclass
class Function:
    name: str
    folder: Path
    trigger: dict[str, Any]
    route: re.Pattern | None = None
    methods: frozenset[str] = frozenset()
    _entry: Callable | None = field(default=None, repr=False)

    @property
    def trigger_type(self) -> str:
        return self.trigger["type"]

    @property
    def auth_level(self) -> str:
        return str(self.trigger.get("authLevel", "function")).lower()

    def entry_point(self) -> Callable:
        """The function's Python entry point, imported on first use as the worker does."""
        if self._entry is None:
            spec = read_json(self.folder / "function.json")
            script = spec.get("scriptFile", "__init__.py")
            module_name = self.folder.name if script == "__init__.py" else f"{self.folder.name}.{Path(script).stem}"
            module = importlib.import_module(module_name)
            self._entry = getattr(module, spec.get("entryPoint", "main"))
        return self._entry

    def invoke(self, argument: Any) -> Any:
        return self.entry_point()(**{self.trigger["name"]: argument})


@dataclass
class FunctionApp:
    root: Path
    route_prefix: str
    functions: dict[str, Function]

    def http_functions(self) -> list[Function]:
        return [f for f in self.functions.values() if f.route is not None]

    def match(self, method: str, path: str) -> tuple[Function, dict[str, str]] | None | bool:
        """The function and raw route values for a request; False when the path matches but not the method."""
        path_matched = False
        for function in self.http_functions():
            found = function.route.fullmatch(path)
            if found is None:
                continue
            path_matched = True
            if not function.methods or method.lower() in function.methods:
                return function, {k: v for k, v in found.groupdict().items() if v is not None}
        return False if path_matched else None

    def methods_at(self, path: str) -> set[str]:
        """The methods the functions whose routes match `path` take (for a 405's Allow header)."""
        return {method for function in self.http_functions() if function.route.fullmatch(path) for method in function.methods}


def compile_route(prefix: str, template: str) -> re.Pattern:
    """An ASP.NET-style route template (`a/{b}/{c?}/{*rest}`) as a case-insensitive regex."""
    full = "/" + "/".join(part.strip("/") for part in (prefix, template) if part.strip("/"))
    pattern, position = "", 0
    for parameter in _PARAMETER.finditer(full):
        literal = re.escape(full[position : parameter.start()])
        catch_all, name, optional = parameter.groups()
        value = f"(?P<{name}>.*)" if catch_all else f"(?P<{name}>[^/]+)"
        if (optional or catch_all) and literal.endswith("/"):
            pattern += literal[:-1] + f"(?:/{value})?"
        else:
            pattern += literal + value
        position = parameter.end()
    pattern += re.escape(full[position:])
    return re.compile(pattern, re.IGNORECASE)


def load_app(root: Path) -> FunctionApp:
    """The app in `root`; a missing or malformed host.json or function.json is a ConfigError naming the file."""
    host = read_json(root / "host.json")
    prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", DEFAULT_ROUTE_PREFIX)
    functions: dict[str, Function] = {}
    for spec_path in sorted(root.glob("*/function.json")):
        spec = read_json(spec_path)
        if spec.get("disabled"):
            continue
        trigger = next(b for b in spec["bindings"] if b.get("direction") == "in" and b["type"].endswith("Trigger"))
        function = Function(name=spec_path.parent.name, folder=spec_path.parent, trigger=trigger)
        if trigger["type"] == "httpTrigger":
            function.route = compile_route(prefix, trigger.get("route") or function.name)
            function.methods = frozenset(m.lower() for m in trigger.get("methods") or ())
        functions[function.name] = function
    return FunctionApp(root=root, route_prefix=prefix, functions=functions)
