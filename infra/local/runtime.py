"""The local runtime: a moto server, the topology's resources on it, and every function running
behind a Lambda-like gateway or event source mapping. `make run` starts one; tests start their own.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from infra.local import docs
from infra.local.auth import TOKEN_PATH, Client, LocalAuthorizer
from infra.local.event_source import SqsEventSourceMapping
from infra.local.function_host import INVOCATION_FAULTS
from infra.local.gateway import ACCOUNT_ID, ApiGateway, LocalRoute
from infra.local.lambda_runtime import FunctionConfig, InvocationError, LocalFunction
from infra.local.provision import Resources, provision, sample_catalog, seed_catalog
from infra.local.webhook_receiver import PATH as RECEIVER_PATH
from infra.local.webhook_receiver import WebhookReceiver
from infra.topology import TOPOLOGY, Function, Topology, common_environment

if TYPE_CHECKING:
    pass

CODE_DIR = Path(__file__).resolve().parents[2] / "functions"
REGION = "us-east-1"
API_CONCURRENCY = 8  # execution environments the local API may scale to
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ISSUER = "urn:local:orders-user-pool"


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
    def __init__(
        self,
        topology: Topology = TOPOLOGY,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        echo_logs: bool = True,
        function_environment: dict[str, dict[str, str]] | None = None,
        seed: bool = True,
        timeout_advice: bool = True,
        webhook_secret: str | None = None,
        faults: dict[str, Faults] | None = None,
        schedules: dict[str, float] | None = None,
        clients: list[Client] | None = None,
        auth: bool = True,
    ) -> None:
        problems = topology.validate(timeout_advice)
        if problems:
            raise ValueError("; ".join(problems))
        self.topology = topology
        self.host, self.port = host, port
        self.echo_logs = echo_logs
        self.seed = seed
        self.function_environment = function_environment or {}
        self.faults = faults or {}
        # OAuth2 app clients; the first is the default one `make run` prints
        self.clients = clients or [Client.generate("local-client")]
        self.authorizer = LocalAuthorizer(self.clients, ISSUER) if auth else None
        # seconds between scheduled invocations, by function (default: the topology's rate)
        self.schedules = {
            f.name: (schedules or {}).get(f.name, f.schedule_minutes * 60)
            for f in topology.functions
            if f.schedule_minutes
        }
        self._stopping = threading.Event()
        self._timers: list[threading.Thread] = []
        # The Standard Webhooks signing key, in the `whsec_<base64>` form libraries take.
        self.webhook_secret = webhook_secret or new_webhook_secret()
        self.logs: collections.deque[tuple[str, str]] = collections.deque(maxlen=50_000)
        self.local_routes: dict[str, LocalRoute] = {}
        self.functions: dict[str, LocalFunction] = {}
        self.mappings: list[SqsEventSourceMapping] = []
        self.resources = Resources()
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
            {secret.name: self.webhook_secret for secret in self.topology.secrets},
        )
        self.webhook_receiver = WebhookReceiver(
            self.webhook_secret, lambda line: self._log_line("webhook-receiver", line)
        )
        self.local_routes[RECEIVER_PATH] = self.webhook_receiver.handle
        if self.authorizer is not None:
            self.local_routes[TOKEN_PATH] = self.authorizer.token_endpoint
        docs.register(self)  # /openapi.json and Swagger UI at /docs
        if self.seed:
            seed_catalog(self.dynamodb, self.resources.table_names["products"], sample_catalog())
        for function in self.topology.functions:
            self.functions[function.name] = LocalFunction(self._config(function), self._log_line)
        for function, source in self.topology.consumers():
            mapping = SqsEventSourceMapping(
                self.functions[function.name],
                source,
                self.client("sqs"),
                self.resources.queue_urls[source.queue],
                self.resources.queue_arns[source.queue],
                REGION,
                log=self._runtime_log(function.name),
            )
            mapping.start()
            self.mappings.append(mapping)
        for name, period in self.schedules.items():
            timer = threading.Thread(target=self._tick, args=(name, period), daemon=True)
            timer.start()
            self._timers.append(timer)
        api = self.functions[self.topology.api_function().name]
        self._gateway = ApiGateway(
            self.topology, api, self.host, self.port, self.local_routes, self.authorizer
        )
        self._gateway.log = lambda line: self._log_line("api-gateway", line)
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

    # What tests and the CLI read -----------------------------------------------------------

    @property
    def token_url(self) -> str:
        return self.api_url + TOKEN_PATH

    @property
    def receiver_url(self) -> str:
        return self.api_url + RECEIVER_PATH

    @property
    def api_url(self) -> str:
        assert self._gateway is not None, "not started"
        return self._gateway.url

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
        }

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=self.moto_url, region_name=REGION, **CREDENTIALS
        )

    def environment(self, function: Function) -> dict[str, str]:
        """Exactly what the function's process sees besides Lambda's own variables."""
        return (
            common_environment(function)
            | self.resources.environment(self.topology, function)
            | {
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
                # Metrics would print an EMF blob per invocation; CloudWatch reads them on AWS.
                "POWERTOOLS_METRICS_DISABLED": "true",
                # Callbacks may be plain http to loopback (the built-in receiver); never on AWS.
                "WEBHOOK_LOCAL_MODE": "true",
            }
            | self.faults.get(function.name, Faults()).environment()
            | self.function_environment.get(function.name, {})
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
            code_dir=CODE_DIR,
            timeout_s=function.timeout_s,
            memory_mb=function.memory_mb,
            environment=self.environment(function),
            concurrency=concurrency,
        )

    def _start_moto(self) -> str:
        port = _free_port(self.host)
        self._moto = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            [sys.executable, "-m", "infra.local.moto_server", "127.0.0.1", str(port)],
            cwd=CODE_DIR.parent,
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
        return lambda message: self._log_line(function, f"(event source mapping) {message}")


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
