"""Drives Microsoft's Python worker (azure-functions-runtime-v1) as the Functions host does, for
tests/devhost/test_worker_fidelity.py. Runs under Python 3.13 in `.venv-worker/`, never under the suite's Python.

The host talks to the worker over gRPC with FunctionRpc protobuf messages; the proxy worker in front of this
package turns each StreamingMessage into a call of the package's `handle_event` functions
(`worker_init_request`, `function_load_request`, `invocation_request`) with a request object that carries the
message and the generated protobuf module. This script does what the proxy and the host do around those calls,
and nothing of what the worker does itself: it builds the messages (`WorkerInitRequest`, `FunctionLoadRequest`
with each function.json's bindings as the host reads them, `InvocationRequest` with an `RpcHttp` or the timer's
JSON) with Microsoft's generated classes, hands them to Microsoft's handlers, and reports their
`InvocationResponse`.

Protocol: one JSON object per line on stdin, one answer per line on the stdout this process started with (the
functions' own prints go to stderr). Bytes travel as base64.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The package ships its generated FunctionRpc messages as a top-level `tests.protos` package; imported before the
# app folder goes on sys.path, whose own `tests` package would hide it.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]
import azure_functions_runtime_v1 as worker
from azure_functions_runtime_v1.logging import logger as worker_logger

import tests.protos as protos

# What the host sends a Python worker in WorkerInitRequest.capabilities (none change what this test compares).
HOST_CAPABILITIES: dict[str, str] = {}


@dataclass
class WorkerRequest:
    """What the proxy worker hands the library: the StreamingMessage and, for init, the protobuf module."""

    name: str
    request: Any
    properties: dict[str, Any] = field(default_factory=dict)


class Driver:
    def __init__(self) -> None:
        self.function_ids: dict[str, str] = {}
        self.records: list[logging.LogRecord] = []

    async def load(self, root: str) -> dict[str, Any]:
        """WorkerInitRequest, then one FunctionLoadRequest per function.json, as the host sends them at start."""
        app = Path(root).resolve()
        os.chdir(app)  # the host starts the worker in the app folder
        sys.path.insert(0, str(app))
        worker.start_threadpool_executor()
        init = protos.StreamingMessage(
            worker_init_request=protos.WorkerInitRequest(
                host_version="4.0.0", capabilities=HOST_CAPABILITIES, function_app_directory=str(app), worker_directory=str(app)
            )
        )
        answer = await worker.worker_init_request(
            WorkerRequest("WorkerInitRequest", init, {"protos": protos, "host": "127.0.0.1"})
        )
        if answer.result.status != protos.StatusResult.Success:
            return {"init": failure(answer.result)}
        loaded = {}
        for spec_path in sorted(app.glob("*/function.json")):
            loaded[spec_path.parent.name] = await self._load_function(spec_path)
        return {"init": None, "functions": loaded}

    async def _load_function(self, spec_path: Path) -> str | None:
        spec = json.loads(spec_path.read_text())
        folder = spec_path.parent
        function_id = str(uuid.uuid4())
        metadata = protos.RpcFunctionMetadata(
            name=folder.name,
            directory=str(folder),
            script_file=str(folder / spec.get("scriptFile", "__init__.py")),
            entry_point=spec.get("entryPoint", ""),
            language="python",
            function_id=function_id,
            bindings={binding["name"]: binding_info(binding) for binding in spec["bindings"]},
            raw_bindings=[json.dumps(binding) for binding in spec["bindings"]],
        )
        message = protos.StreamingMessage(
            function_load_request=protos.FunctionLoadRequest(function_id=function_id, metadata=metadata)
        )
        answer = await worker.function_load_request(WorkerRequest("FunctionLoadRequest", message))
        if answer.result.status != protos.StatusResult.Success:
            return failure(answer.result)
        self.function_ids[folder.name] = function_id
        return None

    async def invoke(self, function: str, trigger_name: str, data: Any) -> dict[str, Any]:
        """One InvocationRequest with the trigger's TypedData; the InvocationResponse as JSON."""
        message = protos.StreamingMessage(
            invocation_request=protos.InvocationRequest(
                invocation_id=str(uuid.uuid4()),
                function_id=self.function_ids[function],
                input_data=[protos.ParameterBinding(name=trigger_name, data=data)],
            )
        )
        self.records.clear()
        answer = await worker.invocation_request(WorkerRequest("FunctionInvocationRequest", message))
        logs = [[record.name, record.levelname, record.getMessage()] for record in self.records if not is_worker_log(record)]
        if answer.result.status != protos.StatusResult.Success:
            return {"error": failure(answer.result), "logs": logs}
        returned = answer.return_value
        kind = returned.WhichOneof("data")
        if kind != "http":
            return {"error": None, "return": None if kind is None else str(getattr(returned, kind)), "logs": logs}
        http = returned.http
        body = getattr(http.body, http.body.WhichOneof("data")) if http.body.WhichOneof("data") else b""
        return {
            "error": None,
            "status": http.status_code,
            "headers": [[name, value] for name, value in http.headers.items()],
            "cookies": len(http.cookies),
            "body": base64.b64encode(body if isinstance(body, bytes) else body.encode()).decode(),
            "logs": logs,
        }


def is_worker_log(record: logging.LogRecord) -> bool:
    """The worker's own lines ("Function name: ..."), which the dev host has no counterpart for."""
    return record.name == worker_logger.name or record.name.startswith(worker_logger.name + ".")


def binding_info(binding: dict[str, Any]) -> Any:
    direction = {
        "in": protos.BindingInfo.Direction.Value("in"),
        "out": protos.BindingInfo.Direction.Value("out"),
        "inout": protos.BindingInfo.Direction.Value("inout"),
    }[binding.get("direction", "in")]
    data_type = protos.BindingInfo.DataType.Value(binding.get("dataType", "undefined"))
    return protos.BindingInfo(type=binding["type"], direction=direction, data_type=data_type)


def failure(result: Any) -> str:
    return f"{result.exception.type or 'error'}: {result.exception.message}"


def http_trigger(request: dict[str, Any]) -> Any:
    """The RpcHttp the host builds for a request (ToRpcHttp for a worker declaring RpcHttpBodyOnly and
    RawHttpBodyBytes, as this one does): lower-case header names, query values that are not empty, the route
    values, and the body as bytes, sent only when there is one."""
    body = base64.b64decode(request["body"])
    http = protos.RpcHttp(
        method=request["method"],
        url=request["url"],
        headers={name.lower(): value for name, value in request["headers"].items()},
        query={name: value for name, value in request["query"].items() if value},
        params=request["params"],
    )
    if body:
        http.body.CopyFrom(protos.TypedData(bytes=body))
    return protos.TypedData(http=http)


class Collect(logging.Handler):
    def __init__(self, driver: Driver) -> None:
        super().__init__(logging.DEBUG)
        self.driver = driver

    def emit(self, record: logging.LogRecord) -> None:
        self.driver.records.append(record)


async def serve(lines, reply) -> None:
    driver = Driver()
    logging.getLogger().addHandler(Collect(driver))
    logging.getLogger().setLevel(logging.INFO)
    for line in lines:
        command = json.loads(line)
        op = command["op"]
        if op == "load":
            answer = await driver.load(command["root"])
        elif op == "http":
            answer = await driver.invoke(command["function"], command["trigger"], http_trigger(command["request"]))
        elif op == "timer":
            answer = await driver.invoke(
                command["function"], command["trigger"], protos.TypedData(json=json.dumps(command["info"]))
            )
        else:
            answer = {"error": f"unknown op {op}"}
        reply(answer)


def main() -> None:
    # The protocol keeps the real stdout; anything the worker or a function prints goes to stderr.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr

    def reply(answer: dict[str, Any]) -> None:
        channel.write(json.dumps(answer) + "\n")
        channel.flush()

    asyncio.run(serve(sys.stdin, reply))


if __name__ == "__main__":
    main()
