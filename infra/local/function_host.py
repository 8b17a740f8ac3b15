"""One Lambda execution environment: a fresh interpreter that imports one handler and serves it.

Started by `infra.local.lambda_runtime` in the sandbox's own interpreter (`.venv-lambda`, built
from requirements/lambda.lock: the Python runtime's boto3 and the Powertools layer, nothing from
the development environment), with the function's own environment variables only, in a
read-only copy of its code directory. This file imports the standard library and nothing else:
it runs where the project's own packages are not importable.

    python -I function_host.py <fd> <module.attribute>

Invocations arrive over a socket passed as a file descriptor, as JSON framed by an 8-byte length;
results go back the same way, marshalled as Lambda's Python runtime marshals them (JSON, with
Decimal as a number): anything else fails the invocation with `Runtime.MarshalError`
(https://docs.aws.amazon.com/lambda/latest/dg/python-handler.html#python-handler-return). stdout
and stderr are the function's logs.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import random
import resource
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

LENGTH_BYTES = 8


@dataclass
class LambdaContext:
    """The context object as the Python runtime builds it
    (https://docs.aws.amazon.com/lambda/latest/dg/python-context.html): `memory_limit_in_mb` is
    a string there, as here."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def send(connection: socket.socket, message: bytes) -> None:
    connection.sendall(len(message).to_bytes(LENGTH_BYTES, "big") + message)


# Injected faults (tests and demos only), as JSON: for `error` (the invocation fails before the
# handler runs) and `crash` (the process dies after the handler did its work, before answering),
# `<fault>_rate` (random draws, reproducible with `seed`), `<fault>_every` (every n-th
# invocation) and `<fault>_on_invocations` (those invocations). Invocations are those of the
# function, numbered from 1 by the runtime that sends them, whichever environment runs them.
# See `infra.local.runtime.Faults`, which writes it.
INVOCATION_FAULTS = "LOCAL_INVOCATION_FAULTS"


class InvocationFaults:
    """When this environment injects a fault into an invocation, and the line that says so."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def fires(self, fault: str, invocation: int) -> bool:
        rate = float(self.spec.get(f"{fault}_rate", 0))
        every = int(self.spec.get(f"{fault}_every", 0))
        scheduled = invocation in self.spec.get(f"{fault}_on_invocations", ()) or (
            every > 0 and invocation % every == 0
        )
        return scheduled or (rate > 0 and self._draw(fault, invocation) < rate)

    def _draw(self, fault: str, invocation: int) -> float:
        """With a seed, the draw of one fault for one invocation number, the same every time."""
        seed = self.spec.get("seed")
        if seed is None:
            return random.random()
        return random.Random(f"{seed}:{fault}:{invocation}").random()

    @staticmethod
    def report(fault: str, invocation: int, context: LambdaContext) -> None:
        line = {
            "level": "WARNING",
            "message": "Fault injected",
            "fault": fault,
            "invocation": invocation,
            "function_name": context.function_name,
            "function_request_id": context.aws_request_id,
        }
        print(json.dumps(line), flush=True)


def receive(connection: socket.socket) -> bytes | None:
    header = _exactly(connection, LENGTH_BYTES)
    if header is None:
        return None
    return _exactly(connection, int.from_bytes(header, "big"))


def _exactly(connection: socket.socket, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = connection.recv(min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _decimal(value: Any) -> Any:
    # awslambdaric's marshaller: Decimal becomes a number; every other non-JSON type is an error
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def marshal(result: Any) -> bytes:
    """The result as Lambda's Python runtime serializes it; raises TypeError/ValueError."""
    return json.dumps({"result": result}, default=_decimal).encode()


def error_message(error_type: str, message: str) -> bytes:
    return json.dumps({"error": {"errorType": error_type, "errorMessage": message}}).encode()


def limit_memory() -> None:
    """The function's memory size as a ceiling on the process's private writable memory
    (RLIMIT_DATA: heap, anonymous mappings, thread stacks), so an allocation beyond it fails."""
    megabytes = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"))
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def drop_capabilities() -> None:
    """As root, give up every capability: the read-only code copy (owned by another user) then
    stays read-only, as a Lambda function runs without privileges."""
    if os.geteuid() != 0:
        return
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3, all zero
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed: cannot drop root's capabilities")


def serve(connection: socket.socket, handler_path: str) -> None:
    module_name, attribute = handler_path.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception:  # an init error is reported to the caller, as Lambda reports it
        traceback.print_exc()
        send(connection, json.dumps({"init_error": traceback.format_exc()}).encode())
        return
    send(connection, b'{"ready": true}')
    environ = os.environ
    name = environ["AWS_LAMBDA_FUNCTION_NAME"]
    region = environ.get("AWS_REGION", "us-east-1")
    account = environ.get("LOCAL_ACCOUNT_ID", "123456789012")
    faults = InvocationFaults(json.loads(environ.get(INVOCATION_FAULTS) or "{}"))
    served = 0
    while True:
        raw = receive(connection)
        if raw is None:
            return
        request: dict[str, Any] = json.loads(raw)
        context = LambdaContext(
            function_name=name,
            function_version=environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            invoked_function_arn=f"arn:aws:lambda:{region}:{account}:function:{name}",
            memory_limit_in_mb=environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            aws_request_id=request["request_id"],
            log_group_name=environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}"),
            log_stream_name=environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
            deadline_ms=request["deadline_ms"],
        )
        served += 1
        number = request.get("invocation") or served  # the function's count, if the runtime sent it
        try:
            if faults.fires("error", number):
                faults.report("error", number, context)
                raise RuntimeError("injected fault: invocation failed")
            result = handler(request["event"], context)
            if faults.fires("crash", number):
                faults.report("crash", number, context)
                print("injected fault: execution environment killed", flush=True)
                os._exit(137)
        except Exception as error:
            traceback.print_exc()
            answer = error_message(type(error).__name__, str(error))
        else:
            try:
                answer = marshal(result)
            except (TypeError, ValueError) as error:
                print(f"[ERROR] Runtime.MarshalError: Unable to marshal response: {error}")
                answer = error_message(
                    "Runtime.MarshalError", f"Unable to marshal response: {error}"
                )
        sys.stdout.flush()
        sys.stderr.flush()
        send(connection, answer)


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group; the runtime that started us decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd, handler_path = sys.argv[1], sys.argv[2]
    # Like /var/task: the task root first, then the sandbox's own site-packages.
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    limit_memory()
    drop_capabilities()
    serve(socket.socket(fileno=int(fd)), handler_path)
