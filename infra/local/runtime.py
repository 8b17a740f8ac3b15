"""The local runtime: a moto server, a topology's resources on it, and every function running
behind a Lambda-like gateway or event source mapping. Nothing here knows one application: the
topology says what exists, and whoever starts the runtime adds the optional extras (seed data,
the token endpoint's clients, a webhook receiver, a docs page). `make run` starts the orders
system on it (infra/orders_local.py); tests and other projects start their own:

    from infra.local import LocalRuntime

    with LocalRuntime(topology, code_dir="functions") as runtime:
        runtime.api_url              # base URL of the emulated REST API
        runtime.queue_url("orders")  # by topology name
        runtime.client("sqs")        # a boto3 client bound to the runtime's moto server

See docs/local-runtime.md.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import boto3

from infra.local import docs
from infra.local.auth import TOKEN_PATH, Client, LocalAuthorizer
from infra.local.event_source import SqsEventSourceMapping
from infra.local.function_host import INVOCATION_FAULTS
from infra.local.gateway import (
    ACCOUNT_ID,
    INTEGRATION_TIMEOUT_S,
    ApiGateway,
    LocalRoute,
)
from infra.local.lambda_runtime import FunctionConfig, InvocationError, LocalFunction
from infra.local.provision import Resources, provision
from infra.local.webhook_receiver import PATH as RECEIVER_PATH
from infra.local.webhook_receiver import WebhookReceiver
from infra.topology import Function, Topology

REPOSITORY = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
API_CONCURRENCY = 8  # execution environments the local API may scale to
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
CodeDirs = Path | str | Mapping[str, Path | str]


@dataclass(frozen=True)
class Faults:
    """Faults to inject into one function (tests and demos; nothing is injected by default).

    error: invocations that fail before the handler runs; crash: invocations whose process dies
    after the handler did its work, before answering. Each fires on a schedule (`*_every`:
    every n-th invocation of the function; `*_on_invocations`: those ones, numbered from 1
    whichever execution environment runs them) or at random (`*_rate`; with `seed`, the n-th
    invocation draws the same every run). aws_calls: rules for `shared.faults` (throttled and
    slow AWS calls, counted per execution environment). Every fault injected logs
    "Fault injected".
    """

    error_rate: float = 0.0
    error_every: int = 0
    error_on_invocations: tuple[int, ...] = ()
    crash_rate: float = 0.0
    crash_every: int = 0
    crash_on_invocations: tuple[int, ...] = ()
    seed: int | None = None
    aws_calls: tuple[dict[str, Any], ...] = ()

    def environment(self) -> dict[str, str]:
        invocations = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "aws_calls"}
        env = {INVOCATION_FAULTS: json.dumps(invocations)}
        if self.aws_calls:
            env["FAULT_INJECTION"] = json.dumps(list(self.aws_calls))
        return env


class LocalRuntime:
    """Any topology on moto, with Lambda's and API Gateway's semantics (docs/local-runtime.md).

    topology        what exists: tables, queues (standard or FIFO), functions, routes, secrets
    code_dir        the functions' code: one directory, or one per function name (a function's
                    own `code_dir` in the topology wins over the single default)
    host, port      where the API listens (port 0: any free port; see `api_url`)
    clients         local OAuth2 clients; None: one per topology app client (generated
                    credentials); empty, with no app clients: no authorizer, no token endpoint
    secrets         values of the topology's secrets by name (generated when missing)
    webhook_receiver  a Standard Webhooks signing secret: serve a verifying receiver at
                    /_local/webhooks with it
    callback_ports  loopback ports the functions may call back besides the API's own; see
                    `loopback_ports` (never the moto server's), for `environment` to pass on
    openapi         an OpenAPI document to serve at /openapi.json and /docs
    schemas_dir     where the routes' `request_body` models are (`<stem>.schema.json`)
    seed            called with the runtime once resources exist, before functions start
    environment     extra variables per function, computed once the API's port is known
    """

    def __init__(
        self,
        topology: Topology,
        code_dir: CodeDirs | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        echo_logs: bool = False,
        timeout_advice: bool = True,
        function_environment: Mapping[str, Mapping[str, str]] | None = None,
        static_environment: Callable[[Function], Mapping[str, str]] | None = None,
        environment: Callable[[LocalRuntime, Function], Mapping[str, str]] | None = None,
        faults: Mapping[str, Faults] | None = None,
        schedules: Mapping[str, float] | None = None,
        clients: Sequence[Client] | None = None,
        issuer: str = "urn:local:user-pool",
        catch_all_scopes: tuple[str, ...] | None = None,
        secrets: Mapping[str, str] | None = None,
        webhook_receiver: str | None = None,
        callback_ports: Iterable[int] = (),
        openapi: Path | None = None,
        schemas_dir: Path | None = None,
        problem_type_prefix: str = "urn:local-api:problem:",
        realm: str = "api",
        seed: Callable[[LocalRuntime], None] | None = None,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
        python: Path | None = None,
    ) -> None:
        problems = topology.validate(timeout_advice)
        if problems:
            raise ValueError("; ".join(problems))
        self.topology = topology
        self.code_dirs = _code_dirs(topology, code_dir)
        self.host, self.port = host, port
        self.echo_logs = echo_logs
        self.function_environment = dict(function_environment or {})
        self._static_environment = static_environment or (lambda f: f.environment)
        self._extra_environment = environment
        self.faults = dict(faults or {})
        if clients is None:
            clients = [Client.from_app_client(app) for app in topology.app_clients]
        self.clients = list(clients)
        route_scopes = tuple(dict.fromkeys(s for r in topology.routes for s in r.scopes))
        self.authorizer = (
            LocalAuthorizer(self.clients, issuer, route_scopes, catch_all_scopes=catch_all_scopes)
            if self.clients
            else None
        )
        if self.authorizer is not None:  # with the scopes resolved
            self.clients = list(self.authorizer.clients.values())
        # seconds between scheduled invocations, by function (default: the topology's rate)
        self.schedules = {
            f.name: (schedules or {}).get(f.name, f.schedule_minutes * 60)
            for f in topology.functions
            if f.schedule_minutes
        }
        self.secret_values = {
            s.name: (secrets or {}).get(s.name) or _token() for s in topology.secrets
        }
        self.webhook_secret = webhook_receiver
        self.callback_ports = tuple(callback_ports)
        self.openapi = openapi
        self.schemas_dir = schemas_dir
        self.problem_type_prefix = problem_type_prefix
        self.realm = realm
        self.seed = seed
        self.integration_timeout_s = integration_timeout_s
        self.python = python
        self._stopping = threading.Event()
        self._timers: list[threading.Thread] = []
        self.logs: collections.deque[tuple[str, str]] = collections.deque(maxlen=50_000)
        self.local_routes: dict[str, LocalRoute] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.mappings: list[SqsEventSourceMapping] = []
        self.resources = Resources()
        self.webhook_receiver: WebhookReceiver | None = None
        self._moto: subprocess.Popen[bytes] | None = None
        self._gateway: ApiGateway | None = None
        self._print_lock = threading.Lock()

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalRuntime:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.moto_url = self._start_moto()
        self.dynamodb, self.sqs = self.client("dynamodb"), self.client("sqs")
        self.resources = provision(
            self.topology,
            self.dynamodb,
            self.sqs,
            self.client("secretsmanager"),
            self.secret_values,
        )
        # bound now (the port is known to the functions' environment), serving once all is up
        self._gateway = ApiGateway(
            self.topology,
            self.host,
            self.port,
            local_routes=self.local_routes,
            authorizer=self.authorizer,
            schemas_dir=self.schemas_dir,
            problem_type_prefix=self.problem_type_prefix,
            realm=self.realm,
            integration_timeout_s=self.integration_timeout_s,
        )
        self._gateway.log = lambda line: self._log_line("api-gateway", line)
        if self.webhook_secret is not None:
            self.webhook_receiver = WebhookReceiver(
                self.webhook_secret, lambda line: self._log_line("webhook-receiver", line)
            )
            self.local_routes[RECEIVER_PATH] = self.webhook_receiver.handle
        if self.authorizer is not None:
            self.local_routes[TOKEN_PATH] = self.authorizer.token_endpoint
        if self.openapi is not None:  # /openapi.json and Swagger UI at /docs
            first = self.clients[0] if self.clients else None
            docs.register(
                self.local_routes,
                self.openapi,
                self.api_url,
                first.client_id if first else None,
                first.api_key if first else None,
            )
        if self.seed is not None:
            self.seed(self)
        for function in self.topology.functions:
            self.functions[function.name] = LocalFunction(self._config(function), self._log_line)
        self._gateway.functions = self.functions
        api_functions = {route.function for route in self.topology.routes}
        # one API function answers every path (the stack's `{proxy+}`); with several, an
        # unknown path gets API Gateway's own 403
        self._gateway.proxy_function = api_functions.pop() if len(api_functions) == 1 else None
        for function, source in self.topology.consumers():
            mapping = SqsEventSourceMapping(
                self.functions[function.name],
                source,
                self.client("sqs"),
                self.resources.queue_urls[source.queue],
                self.resources.queue_arns[source.queue],
                REGION,
                log=self._runtime_log(function.name),
                fifo=self.topology.queue(source.queue).fifo,
            )
            mapping.start()
            self.mappings.append(mapping)
        for name, period in self.schedules.items():
            timer = threading.Thread(target=self._tick, args=(name, period), daemon=True)
            timer.start()
            self._timers.append(timer)
        self._gateway.start()

    def stop(self) -> None:
        self._stopping.set()
        for timer in self._timers:
            timer.join(timeout=70)
        for mapping in self.mappings:
            mapping.stop()
        if self._gateway is not None:
            self._gateway.stop()
        for function in self.functions.values():
            function.close()
        if self._moto is not None:
            self._moto.terminate()
            self._moto.wait(timeout=10)

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # The public surface ------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        assert self._gateway is not None, "not started"
        return self._gateway.url

    @property
    def token_url(self) -> str:
        return self.api_url + TOKEN_PATH

    @property
    def receiver_url(self) -> str:
        return self.api_url + RECEIVER_PATH

    @property
    def loopback_ports(self) -> tuple[int, ...]:
        """Loopback ports functions may call back: the API's own (its receiver) and the ones
        allowed by whoever started the runtime; never the moto server's."""
        assert self._gateway is not None, "not started"
        moto_port = int(self.moto_url.rsplit(":", 1)[1])
        ports = (self._gateway.port, *self.callback_ports)
        return tuple(p for p in dict.fromkeys(ports) if p != moto_port)

    def queue_url(self, name: str) -> str:
        """The URL of the topology's queue `name` (FIFO queues included, without `.fifo`)."""
        return self.resources.queue_urls[name]

    def dlq_url(self, name: str) -> str:
        return self.resources.dlq_urls[name]

    def table_name(self, name: str) -> str:
        return self.resources.table_names[name]

    def client(self, service: str) -> Any:
        """A boto3 client bound to the runtime's moto server."""
        return boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=self.moto_url, region_name=REGION, **CREDENTIALS
        )

    def invoke(self, function: str, event: Any) -> Any:
        """Invoke a function synchronously, as `lambda invoke` does (InvocationError if it fails)."""
        return self.functions[function].invoke(event)

    def describe(self) -> dict[str, Any]:
        """Where everything is: what `make run` writes to .local/runtime.json for tools."""
        return {
            "apiUrl": self.api_url,
            "tokenUrl": self.token_url if self.authorizer else None,
            "endpointUrl": self.moto_url,
            "region": REGION,
            "queueUrls": dict(self.resources.queue_urls),
            "deadLetterQueueUrls": dict(self.resources.dlq_urls),
            "tableNames": dict(self.resources.table_names),
            "secretArns": dict(self.resources.secret_arns),
            # the local clients' credentials (`make credentials`): the file is the developer's own
            "clients": [
                {"clientId": c.client_id, "clientSecret": c.client_secret, "apiKey": c.api_key}
                for c in self.clients
            ],
            # how each function runs here, for one-off invocations (`orders-ops invoke`)
            "functions": {
                function.name: {
                    "handler": config.handler,
                    "codeDir": str(config.code_dir),
                    "timeoutS": config.timeout_s,
                    "memoryMb": config.memory_mb,
                    "environment": config.environment,
                }
                for function in self.topology.functions
                for config in (self._config(function),)
            },
        }

    def environment(self, function: Function) -> dict[str, str]:
        """Exactly what the function's process sees besides Lambda's own variables."""
        extra = self._extra_environment(self, function) if self._extra_environment else {}
        return (
            dict(self._static_environment(function))
            | self.resources.environment(self.topology, function)
            | {
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
                # Metrics would print an EMF blob per invocation; CloudWatch reads them on AWS.
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
            | dict(extra)
            | self.faults.get(function.name, Faults()).environment()
            | dict(self.function_environment.get(function.name, {}))
        )

    def wait_until_idle(self, timeout_s: float = 60.0, settle_s: float = 0.3) -> None:
        """Block until every consumer queue is empty (nothing visible or in flight) and stays so."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self._idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle_s:
                    return
            else:
                quiet_since = None
            time.sleep(0.05)
        raise TimeoutError(f"queues still busy after {timeout_s}s")

    def queue_depth(self, queue_url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def log_lines(self, function: str | None = None) -> list[str]:
        return [line for name, line in list(self.logs) if function in (None, name)]

    # Internals -----------------------------------------------------------------------------

    def _idle(self) -> bool:
        if any(mapping.busy for mapping in self.mappings):
            return False
        return all(
            self.queue_depth(self.resources.queue_urls[source.queue]) == 0
            for _, source in self.topology.consumers()
        )

    def _tick(self, name: str, period_s: float) -> None:
        """EventBridge's rate schedule: invoke `name` every `period_s` with a scheduled event."""
        while not self._stopping.wait(period_s):
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT_ID,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": REGION,
                "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{name}-schedule"],
                "detail": {},
            }
            try:
                result = self.functions[name].invoke(event)
            except InvocationError:
                continue  # already in the function's log; EventBridge would retry, we wait a tick
            self._log_line(name, f"(schedule) {json.dumps(result)}")

    def _config(self, function: Function) -> FunctionConfig:
        concurrency = (
            function.event_source.max_concurrency if function.event_source else API_CONCURRENCY
        )
        return FunctionConfig(
            name=function.name,
            handler=function.handler,
            code_dir=self.code_dirs[function.name],
            timeout_s=function.timeout_s,
            memory_mb=function.memory_mb,
            environment=self.environment(function),
            concurrency=concurrency,
            python=self.python,
            region=REGION,
        )

    def _start_moto(self) -> str:
        port = _free_port()
        self._moto = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            [sys.executable, "-m", "infra.local.moto_server", "127.0.0.1", str(port)],
            cwd=REPOSITORY,
            env=os.environ | {"PYTHONPATH": str(REPOSITORY)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._moto.poll() is not None:
                raise RuntimeError("the moto server exited at start")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1).close()  # noqa: S310
                return url
            time.sleep(0.05)
        raise RuntimeError("the moto server did not start within 20 s")

    def _log_line(self, function: str, line: str) -> None:
        self.logs.append((function, line))
        if self.echo_logs:
            with self._print_lock:
                print(f"[{function}] {line}", flush=True)

    def _runtime_log(self, function: str) -> Callable[[str], None]:
        """The event source mapping's own lines: structured, like the functions' (on AWS these
        surface as the mapping's state and metrics, not as log lines)."""

        def log(message: str) -> None:
            line = {
                "level": "WARNING",
                "source": "event-source-mapping",
                "function_name": function,
                "message": message[:500],
            }
            self._log_line(function, json.dumps(line))

        return log


def _code_dirs(topology: Topology, code_dir: CodeDirs | None) -> dict[str, Path]:
    """Each function's code directory: the runtime's mapping, else the function's own
    `code_dir`, else the runtime's single directory."""
    given = code_dir if isinstance(code_dir, Mapping) else {}
    default = None if isinstance(code_dir, Mapping) or code_dir is None else Path(code_dir)
    dirs: dict[str, Path] = {}
    for function in topology.functions:
        chosen = given.get(function.name) or function.code_dir or default
        if chosen is None:
            raise ValueError(f"{function.name}: no code directory (pass code_dir=...)")
        path = Path(chosen)
        dirs[function.name] = (path if path.is_absolute() else Path.cwd() / path).resolve()
        if not dirs[function.name].is_dir():
            raise ValueError(f"{function.name}: code directory {path} does not exist")
    return dirs


def new_webhook_secret(*, ed25519: bool = False) -> str:
    """A Standard Webhooks signing secret: an HMAC key in the `whsec_<base64>` form libraries
    take and, with `ed25519`, an ed25519 key (`whsk_<base64 of a 32-byte seed>`) before it."""
    hmac_key = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    if not ed25519:
        return hmac_key
    return "whsk_" + base64.b64encode(secrets.token_bytes(32)).decode() + " " + hmac_key


def _token() -> str:
    return secrets.token_urlsafe(32)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
