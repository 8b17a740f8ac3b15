"""Lambda-like invocation for local functions: isolated processes, timeouts, crashes, scaling.

Each execution environment is a child process (`function_host.py`) with the function's own
environment variables. An environment serves one invocation at a time; concurrent invocations
get more environments up to the function's concurrency. A handler that runs past the timeout is
killed with its environment, as Lambda does, and so is one whose process dies; the next
invocation starts a fresh one (a cold start).
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HOST_SCRIPT = Path(__file__).with_name("function_host.py")
INIT_TIMEOUT_S = 10.0

LogSink = Callable[[str, str], None]  # (function name, line)


class InvocationError(Exception):
    """The invocation failed as a whole: Lambda reports it to the caller as a function error."""


class FunctionError(InvocationError):
    pass


class FunctionTimeout(InvocationError):
    pass


class EnvironmentCrashed(InvocationError):
    pass


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    handler: str
    code_dir: Path
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]
    concurrency: int


class _Environment:
    """One child process serving one invocation at a time."""

    def __init__(self, config: FunctionConfig, log_sink: LogSink) -> None:
        parent, child = socket.socketpair()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(config.timeout_s)),
            "LAMBDA_TASK_ROOT": str(config.code_dir),
        } | config.environment
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [
                sys.executable,
                "-I",
                str(HOST_SCRIPT),
                str(child.fileno()),
                config.handler,
                str(config.code_dir),
            ],
            env=env,
            cwd=config.code_dir,
            pass_fds=(child.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        child.close()
        self.connection = Connection(parent.detach())
        self._logs = threading.Thread(
            target=_pump_logs, args=(self.process, config.name, log_sink), daemon=True
        )
        self._logs.start()
        if not self.connection.poll(INIT_TIMEOUT_S):
            self.kill()
            raise EnvironmentCrashed(f"{config.name}: init timed out after {INIT_TIMEOUT_S}s")
        try:
            hello = self.connection.recv()
        except (EOFError, OSError) as error:
            self.kill()
            raise EnvironmentCrashed(f"{config.name}: died during init") from error
        if "init_error" in hello:
            self.kill()
            raise FunctionError(f"{config.name}: init failed\n{hello['init_error']}")

    def invoke(self, event: Any, timeout_s: float, number: int = 0) -> Any:
        """`number`: the function's invocation count, by which injected faults are scheduled."""
        deadline_ms = int((time.time() + timeout_s) * 1000)
        try:
            self.connection.send(
                {
                    "event": event,
                    "deadline_ms": deadline_ms,
                    "request_id": str(uuid.uuid4()),
                    "invocation": number,
                }
            )
            if not self.connection.poll(timeout_s):
                self.kill()
                raise FunctionTimeout(f"task timed out after {timeout_s:.2f} seconds")
            answer = self.connection.recv()
        except (EOFError, OSError) as error:
            self.kill()
            raise EnvironmentCrashed(f"runtime exited: {self.process.poll()}") from error
        if "error" in answer:
            raise FunctionError(
                f"{answer['error']['errorType']}: {answer['error']['errorMessage']}"
            )
        return answer["result"]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.connection.close()


def _pump_logs(process: subprocess.Popen[bytes], name: str, sink: LogSink) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        sink(name, raw.decode(errors="replace").rstrip("\n"))


class LocalFunction:
    """A function with a pool of execution environments, at most `concurrency` at once."""

    def __init__(self, config: FunctionConfig, log_sink: LogSink) -> None:
        self.config = config
        self._log_sink = log_sink
        self._idle: list[_Environment] = []
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._lock = threading.Lock()
        self._closed = False
        self._all: list[_Environment] = []
        self._invocations = itertools.count(1)
        self.cold_starts = 0

    def invoke(self, event: Any) -> Any:
        """Run the handler on `event`; raises an InvocationError when the invocation fails."""
        with self._slots:
            try:
                environment = self._take()
                try:
                    return environment.invoke(event, self.config.timeout_s, next(self._invocations))
                finally:
                    self._give_back(environment)
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
            self.cold_starts += 1
        environment = _Environment(self.config, self._log_sink)
        with self._lock:
            self._all = [e for e in self._all if e.alive] + [environment]
        return environment

    def _give_back(self, environment: _Environment) -> None:
        with self._lock:
            if environment.alive and not self._closed:
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
        for environment in idle:
            environment.kill()
