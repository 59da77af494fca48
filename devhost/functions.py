"""Reads a function app folder: `host.json`, every `function.json`, and the routes they declare."""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import read_json

DEFAULT_ROUTE_PREFIX = "api"
# Where a route stands among those matching a path (`route_precedence`): its segments' digits, then its template.
Precedence = tuple[tuple[int, ...], str]
_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(\?)?(?::[^}]*)?\}")


@dataclass
class Function:
    name: str
    folder: Path
    trigger: dict[str, Any]
    route: re.Pattern[str] | None = None
    methods: frozenset[str] = frozenset()
    # Where the route stands when several match a path (see `route_precedence`); lower comes first.
    precedence: Precedence | tuple[()] = ()
    # Turned off by the app setting `AzureWebJobs.{name}.Disabled`: its trigger never fires (an HTTP route is 404),
    # though the admin endpoint still runs it, as on the Functions host.
    disabled: bool = False
    _entry: Callable[..., Any] | None = field(default=None, repr=False)

    @property
    def trigger_type(self) -> str:
        trigger_type: str = self.trigger["type"]
        return trigger_type

    @property
    def auth_level(self) -> str:
        return str(self.trigger.get("authLevel", "function")).lower()

    def entry_point(self) -> Callable[..., Any]:
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


@dataclass(frozen=True)
class RouteMatch:
    """Which function a request reaches (None: none), its raw route values, and whether any route matched the path
    (when one did but none takes the method, the host still answers 404)."""

    function: Function | None
    route_values: dict[str, str]
    path_known: bool


@dataclass
class FunctionApp:
    root: Path
    route_prefix: str
    functions: dict[str, Function]

    def http_functions(self) -> list[Function]:
        """The HTTP functions in the order the host tries their routes: literal segments before parameters,
        parameters before catch-alls, then by route template, ignoring case."""
        return sorted((f for f in self.functions.values() if f.route is not None and not f.disabled), key=lambda f: f.precedence)

    def enabled_timers(self) -> list[Function]:
        """The timer functions whose schedules the host runs."""
        return [f for f in self.functions.values() if f.trigger_type == "timerTrigger" and not f.disabled]

    def match(self, method: str, path: str) -> RouteMatch:
        """The function a request reaches, and its raw route values.

        As on the Functions host, a route whose methods do not include the request's does not match, so the request
        goes on to the next route that does (a catch-all, say).
        """
        path_known = False
        for function in self.http_functions():
            assert function.route is not None
            found = function.route.fullmatch(path)
            if found is None:
                continue
            path_known = True
            if not function.methods or method.lower() in function.methods:
                return RouteMatch(function, {k: v for k, v in found.groupdict().items() if v is not None}, path_known=True)
        return RouteMatch(None, {}, path_known=path_known)

    def methods_at(self, path: str) -> set[str]:
        """The methods the functions whose routes match `path` take (for a 405's Allow header)."""
        return {
            method
            for function in self.http_functions()
            if function.route is not None and function.route.fullmatch(path)
            for method in function.methods
        }


def compile_route(prefix: str, template: str) -> re.Pattern[str]:
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


def route_precedence(prefix: str, template: str) -> Precedence:
    """A route's inbound precedence as ASP.NET Core routing (the Functions host's) computes it: one digit per
    segment, 1 for a literal, 2 for a segment of several parts or a constrained parameter, 3 for a parameter,
    5 for a catch-all (4 constrained); read as a decimal, lower is tried first. Ties go by template, ignoring case.
    """
    full = "/".join(part.strip("/") for part in (prefix, template) if part.strip("/"))
    digits = []
    for segment in filter(None, full.split("/")):
        parameters = list(_PARAMETER.finditer(segment))
        if not parameters:
            digit = 1
        elif len(parameters) > 1 or parameters[0].span() != (0, len(segment)):
            digit = 2
        else:
            catch_all = bool(parameters[0].group(1))
            constrained = ":" in parameters[0].group(0)
            digit = (5 if catch_all else 3) - constrained
        digits.append(digit)
    # Digit tuples compare as the decimals 0.d1d2... do (every digit is at least 1).
    return tuple(digits), full.lower()


def disabled_by_setting(name: str) -> bool:
    """Whether the app setting `AzureWebJobs.{name}.Disabled` turns the function off ("true" or "1", any case)."""
    return os.environ.get(f"AzureWebJobs.{name}.Disabled", "").strip().lower() in ("true", "1")


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
        function = Function(
            name=spec_path.parent.name,
            folder=spec_path.parent,
            trigger=trigger,
            disabled=disabled_by_setting(spec_path.parent.name),
        )
        if trigger["type"] == "httpTrigger":
            function.route = compile_route(prefix, trigger.get("route") or function.name)
            function.precedence = route_precedence(prefix, trigger.get("route") or function.name)
            function.methods = frozenset(m.lower() for m in trigger.get("methods") or ())
        functions[function.name] = function
    return FunctionApp(root=root, route_prefix=prefix, functions=functions)
