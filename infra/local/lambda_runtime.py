"""Lambda-like invocation for local functions: a sandbox per execution environment, Lambda's
invocation contract, timeouts, crashes, scaling.

Each execution environment is a child process (`function_host.py`) that follows what Lambda
documents for its execution environment
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html):

- it runs the sandbox interpreter (`.venv-lambda`: the Python runtime's boto3 and the Powertools
  layer, from requirements/lambda.lock), never the development environment;
- its code is a read-only copy of the function's code directory, `LAMBDA_TASK_ROOT`; when the
  runtime runs as root, the copy belongs to `nobody` and the function drops every capability, so
  read-only holds for root too (Lambda runs functions as a user without privileges);
- it has a private temporary directory (`TMPDIR`, `tempfile`'s default) and its memory is
  capped at the function's memory size;
- it gets Lambda's reserved environment variables
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)
  and nothing of the host's environment but PATH;
- between invocations it is frozen (SIGSTOP; SIGCONT before the next one), so background threads
  do not run, as Lambda freezes the environment after the response.

An environment serves one invocation at a time; concurrent invocations get more environments up
to the function's concurrency. Payloads cross the process boundary as JSON, with Lambda's
synchronous limits (6 MB request and response:
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). A handler that runs past
the timeout is killed with its environment, as Lambda does, and so is one whose process dies; the
next invocation starts a fresh one (a cold start).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.function_host import LENGTH_BYTES

HOST_SCRIPT = Path(__file__).with_name("function_host.py")
REPOSITORY = Path(__file__).resolve().parents[2]
# Lambda gives init 10 s and, past them, retries it at the first invocation within the function's
# timeout (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-ib)
INIT_TIMEOUT_S = 10.0
# Lambda's synchronous invocation payload quota, request and response: 6 MB
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024  # 6,291,456
PYTHON_RUNTIME = "python3.14"  # the runtime the stack deploys (AWS_EXECUTION_ENV)
SANDBOX_PYTHON_VARIABLE = "LOCAL_LAMBDA_PYTHON"
NOBODY = 65534

LogSink = Callable[[str, str], None]  # (function name, line)


class InvocationError(Exception):
    """The invocation failed as a whole: Lambda reports it to the caller as a function error."""


class FunctionError(InvocationError):
    pass


class InitFailed(FunctionError):
    """The handler's module failed to import: Lambda reports an init error (INIT_REPORT)."""


class FunctionTimeout(InvocationError):
    pass


class EnvironmentCrashed(InvocationError):
    pass


class RequestTooLarge(InvocationError):
    """Lambda refused the invocation before running it: `RequestEntityTooLargeException`."""


class ResponseTooLarge(FunctionError):
    """The handler's result is over the response limit: `Function.ResponseSizeTooLarge`."""


def sandbox_python() -> Path:
    """The interpreter functions run in: LOCAL_LAMBDA_PYTHON, else the repository's .venv-lambda."""
    configured = os.environ.get(SANDBOX_PYTHON_VARIABLE)
    python = Path(configured) if configured else REPOSITORY / ".venv-lambda" / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"no Lambda sandbox interpreter at {python}: run `make .venv-lambda/.installed` "
            f"(or point {SANDBOX_PYTHON_VARIABLE} at a Python whose packages mirror Lambda's)"
        )
    return python


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    handler: str
    code_dir: Path
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]
    concurrency: int
    python: Path | None = None  # the sandbox interpreter; default: sandbox_python()
    runtime: str = PYTHON_RUNTIME
    region: str = "us-east-1"
    extra: dict[str, str] = field(default_factory=dict)


def _kept_out(directory: str, names: list[str]) -> set[str]:
    """Hidden files, and bytecode anywhere but in `__pycache__` (which Python uses only for
    a source beside it; a stray `.pyc` would import with no source at all)."""
    in_cache = os.path.basename(directory) == "__pycache__"
    return {n for n in names if n.startswith(".") or (n.endswith(".pyc") and not in_cache)}


class _TaskRoot:
    """A read-only copy of a code directory, shared by a function's environments (/var/task).

    Bytecode in the directory is kept, as an asset's is (infra/code_asset.py): Python uses the
    `.pyc` files made by its own version and ignores the others."""

    def __init__(self, code_dir: Path, name: str) -> None:
        self._parent = Path(tempfile.mkdtemp(prefix=f"lambda-task-{name}-"))
        self.path = self._parent / "task"
        shutil.copytree(
            code_dir,
            self.path,
            ignore=_kept_out,
            symlinks=False,
        )
        as_root = os.geteuid() == 0  # the function drops its capabilities: make it not the owner
        for directory, _, files in os.walk(self.path, topdown=False):
            for file in files:
                os.chmod(os.path.join(directory, file), 0o444)
                if as_root:
                    os.chown(os.path.join(directory, file), NOBODY, NOBODY)
            os.chmod(directory, 0o555)  # noqa: S103 - read-only, as /var/task
            if as_root:
                os.chown(directory, NOBODY, NOBODY)
        os.chmod(self._parent, 0o755)  # noqa: S103 - readable by the function

    def remove(self) -> None:
        for directory, _, _ in os.walk(self._parent):
            with contextlib.suppress(OSError):
                os.chmod(directory, 0o700)
        shutil.rmtree(self._parent, ignore_errors=True)


class _Environment:
    """One child process serving one invocation at a time, frozen in between."""

    def __init__(self, config: FunctionConfig, task_root: Path, log_sink: LogSink) -> None:
        self.name = config.name
        parent, child = socket.socketpair()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"lambda-tmp-{config.name}-"))
        now = time.gmtime()
        env = (
            {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "en_US.UTF-8",
                "TZ": ":UTC",
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "TMPDIR": str(self.tmp),
                "HOME": str(self.tmp),
                "_HANDLER": config.handler,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(config.timeout_s)),
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/", now)
                + f"[$LATEST]{uuid.uuid4().hex}",
                "AWS_REGION": config.region,
                "AWS_DEFAULT_REGION": config.region,
                "LAMBDA_TASK_ROOT": str(task_root),
                "LAMBDA_RUNTIME_DIR": str(HOST_SCRIPT.parent),
            }
            | config.extra
            | config.environment
        )
        python = config.python or sandbox_python()
        self.process = subprocess.Popen(  # noqa: S603 - the sandbox interpreter, our own script
            [str(python), "-I", str(HOST_SCRIPT), str(child.fileno()), config.handler],
            env=env,
            cwd=task_root,
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        child.close()
        self.connection = parent
        self._frozen = False
        self._logs = threading.Thread(
            target=_pump_logs, args=(self.process, config.name, log_sink), daemon=True
        )
        self._logs.start()
        init_timeout_s = INIT_TIMEOUT_S + config.timeout_s
        try:
            hello = self._receive(init_timeout_s)
        except FunctionTimeout:
            self.kill()
            raise EnvironmentCrashed(
                f"{config.name}: init timed out after {init_timeout_s}s"
            ) from None
        except EnvironmentCrashed:
            self.kill()
            raise
        if "init_error" in hello:
            self.kill()
            raise InitFailed(f"{config.name}: init failed\n{hello['init_error']}")

    def invoke(self, payload: bytes, timeout_s: float) -> Any:
        """Send an event (JSON) and wait for the answer; raises InvocationError subclasses."""
        self.thaw()
        try:
            self.connection.sendall(len(payload).to_bytes(LENGTH_BYTES, "big") + payload)
        except OSError as error:
            self.kill()
            raise EnvironmentCrashed(f"runtime exited: {self.process.poll()}") from error
        try:
            answer = self._receive(timeout_s, limit=PAYLOAD_LIMIT_BYTES)
        except (FunctionTimeout, EnvironmentCrashed):
            self.kill()
            raise
        if "error" in answer:
            raise FunctionError(
                f"{answer['error']['errorType']}: {answer['error']['errorMessage']}"
            )
        return answer["result"]

    def _receive(self, timeout_s: float, limit: int | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        header = self._exactly(LENGTH_BYTES, deadline, timeout_s)
        size = int.from_bytes(header, "big")
        # the wrapper {"result": ...} is 12 bytes over the result itself
        if limit is not None and size - len('{"result": }') > limit:
            self.kill()
            raise ResponseTooLarge(
                "Function.ResponseSizeTooLarge: Response payload size exceeded maximum "
                f"allowed payload size ({limit} bytes)."
            )
        answer: dict[str, Any] = json.loads(self._exactly(size, deadline, timeout_s))
        return answer

    def _exactly(self, size: int, deadline: float, timeout_s: float) -> bytes:
        chunks, remaining = [], size
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FunctionTimeout(f"Task timed out after {timeout_s:.2f} seconds")
            self.connection.settimeout(left)
            try:
                chunk = self.connection.recv(min(remaining, 1 << 20))
            except TimeoutError:
                raise FunctionTimeout(f"Task timed out after {timeout_s:.2f} seconds") from None
            except OSError as error:
                raise EnvironmentCrashed(f"runtime exited: {self.process.poll()}") from error
            if not chunk:
                self.process.wait()
                raise EnvironmentCrashed(f"Runtime exited with error: {self.process.returncode}")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def freeze(self) -> None:
        """Stop the process between invocations: its threads do not run until the next one."""
        if self.alive and not self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGSTOP)
                self._frozen = True

    def thaw(self) -> None:
        if self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
            self._frozen = False

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.connection.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _pump_logs(process: subprocess.Popen[bytes], name: str, sink: LogSink) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        sink(name, raw.decode(errors="replace").rstrip("\n"))


class LocalFunction:
    """A function with a pool of execution environments, at most `concurrency` at once."""

    def __init__(self, config: FunctionConfig, log_sink: LogSink) -> None:
        self.config = config
        self._log_sink = log_sink
        self._task_root = _TaskRoot(config.code_dir, config.name)
        self._idle: list[_Environment] = []
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._lock = threading.Lock()
        self._closed = False
        self._all: list[_Environment] = []
        self._invocations = itertools.count(1)
        self.cold_starts = 0

    @property
    def task_root(self) -> Path:
        return self._task_root.path

    def invoke(self, event: Any) -> Any:
        """Run the handler on `event`; raises an InvocationError when the invocation fails."""
        payload = json.dumps(
            {
                "event": event,
                "deadline_ms": int((time.time() + self.config.timeout_s) * 1000),
                "request_id": str(uuid.uuid4()),
                # the function's invocation count, by which injected faults are scheduled
                "invocation": next(self._invocations),
            }
        ).encode()
        with self._slots:
            try:
                size = len(json.dumps(event).encode())
                if size > PAYLOAD_LIMIT_BYTES:
                    raise RequestTooLarge(
                        f"RequestEntityTooLargeException: {size} bytes; request must be "
                        f"smaller than {PAYLOAD_LIMIT_BYTES} bytes for the Invoke operation"
                    )
                environment = self._take()
                try:
                    return environment.invoke(payload, self.config.timeout_s)
                finally:
                    self._give_back(environment)
            except FunctionError as error:
                if isinstance(error, InitFailed):  # Lambda logs the init's failure itself
                    self._log_sink(self.config.name, f"(runtime) {str(error).splitlines()[0]}")
                raise  # a handler's own traceback is already in its log, once
            except InvocationError as error:  # Lambda writes these to the function's log too
                self._log_sink(self.config.name, f"(runtime) {error}")
                raise

    def _take(self) -> _Environment:
        with self._lock:
            if self._closed:
                raise InvocationError(f"{self.config.name} is shut down")
            while self._idle:
                environment = self._idle.pop()
                if environment.alive:
                    return environment
                environment.kill()
            self.cold_starts += 1
        environment = _Environment(self.config, self.task_root, self._log_sink)
        with self._lock:
            self._all = [e for e in self._all if e.alive] + [environment]
        return environment

    def _give_back(self, environment: _Environment) -> None:
        with self._lock:
            if environment.alive and not self._closed:
                environment.freeze()
                self._idle.append(environment)
                return
        environment.kill()

    def kill_running(self) -> int:
        """Kill every environment that is busy right now, as if its host died mid-batch."""
        with self._lock:
            busy = [e for e in self._all if e.alive and e not in self._idle]
        for environment in busy:
            environment.process.kill()
        return len(busy)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            everyone = list(self._all)
        for environment in idle + everyone:
            environment.kill()
        self._task_root.remove()
