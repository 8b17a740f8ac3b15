"""The system's topology in plain Python: one source for the CDK stack and the local runtime.

Nothing here imports CDK or boto3. Queues, tables, functions, routes, batch sizes, timeouts and
the environment variable names functions read are declared once; `infra.cdk` turns them into
CloudFormation and `infra.local` into moto resources and local event source mappings.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Access = Literal["read", "write", "read_write"]

SERVICE_NAME = "orders"
METRICS_NAMESPACE = "AsyncOrders"
API_BODY_LIMIT_BYTES = 64 * 1024  # enforced by the API function (413 above it)

# OAuth2 (client credentials): a Cognito resource server in the cloud, the local token endpoint
# locally. Every method needs a token with one of its route's scopes.
RESOURCE_SERVER = "orders"
SCOPE_READ = f"{RESOURCE_SERVER}/read"
SCOPE_WRITE = f"{RESOURCE_SERVER}/write"
SCOPES = {SCOPE_READ: "Read products and your orders", SCOPE_WRITE: "Place orders"}
# Unknown paths and wrong methods (answered 404/405 by the API function) need any valid token.
CATCH_ALL_SCOPES = (SCOPE_READ, SCOPE_WRITE)
ACCESS_TOKEN_MINUTES = 15  # short-lived tokens, cloud and local
# Per-client limits: each app client also gets an API key in its own usage plan, which every
# method requires (header x-api-key): API Gateway meters keys, not tokens.
API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True)
class AppClient:
    name: str
    scopes: tuple[str, ...]
    rate_per_second: int = 50
    burst: int = 100
    quota_per_day: int = 100_000


APP_CLIENTS = (AppClient("orders-client", (SCOPE_READ, SCOPE_WRITE)),)

# Lambda's visibility-timeout advice: at least six times the consumer's timeout.
VISIBILITY_TO_TIMEOUT_RATIO = 6


@dataclass(frozen=True)
class Index:
    """A global secondary index (string keys, all attributes projected)."""

    name: str
    partition_key: str
    sort_key: str | None = None


@dataclass(frozen=True)
class Table:
    name: str  # logical name; the local runtime uses it as the table name
    partition_key: str
    env_var: str  # the variable that carries the table name to functions
    sort_key: str | None = None
    ttl_attribute: str | None = None
    indexes: tuple[Index, ...] = ()


@dataclass(frozen=True)
class Queue:
    name: str
    env_var: str  # the variable that carries the queue URL to functions
    visibility_timeout_s: int
    retention_s: int = 4 * 24 * 3600
    max_receive_count: int = 5  # receives before redrive to the dead-letter queue
    dlq_retention_s: int = 14 * 24 * 3600  # longer than the source queue's, the maximum
    dlq_env_var: str | None = None  # set when a function dead-letters messages itself
    # FIFO: ordered per MessageGroupId, deduplicated for 5 minutes (by MessageDeduplicationId, or
    # by the body's SHA-256 with content-based deduplication); SQS adds `.fifo` to the names.
    fifo: bool = False
    content_based_deduplication: bool = False

    @property
    def dlq_name(self) -> str:
        return f"{self.name}-dlq"


@dataclass(frozen=True)
class Secret:
    name: str
    env_var: str  # the variable that carries the secret's ARN to functions
    description: str


@dataclass(frozen=True)
class EventSource:
    """An SQS event source mapping, as Lambda's: batches with partial batch responses."""

    queue: str
    batch_size: int
    max_batching_window_s: int = 0
    max_concurrency: int = 2  # Lambda's MaximumConcurrency (2..1000)


@dataclass(frozen=True)
class Function:
    name: str
    handler: str  # module.attribute under functions/
    description: str
    timeout_s: int
    memory_mb: int = 256
    tables: dict[str, Access] = field(default_factory=dict)
    sends_to: tuple[str, ...] = ()
    dead_letters_to: tuple[str, ...] = ()  # queues whose DLQ it sends to, with failure context
    secrets: tuple[str, ...] = ()  # secrets it reads
    event_source: EventSource | None = None
    # the function's own code directory (absolute, or relative to the working directory: the
    # repository for make and pytest); the local runtime's default code directory when None
    code_dir: str | None = None
    reschedules: bool = False  # changes its messages' visibility: needs its own queue's URL
    schedule_minutes: int | None = None  # invoked on this fixed rate (EventBridge; a local timer)
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource path, e.g. /orders/{orderId}
    function: str
    scopes: tuple[str, ...]  # OAuth2 scopes, any one of which grants access
    # the contract (events/schemas/<stem>.schema.json) the gateway validates the body against
    request_body: str | None = None

    def matches(self, path: str) -> dict[str, str] | None:
        """Path parameters if `path` fits this route's template, else None."""
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path)
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found else None


_Named = TypeVar("_Named", Table, Queue, Function, Secret)


@dataclass(frozen=True)
class Topology:
    tables: tuple[Table, ...]
    queues: tuple[Queue, ...]
    functions: tuple[Function, ...]
    routes: tuple[Route, ...]
    secrets: tuple[Secret, ...] = ()
    # API Gateway's binaryMediaTypes: bodies of these types (wildcards allowed) are base64
    binary_media_types: tuple[str, ...] = ()
    # OAuth2 app clients (each with an API key in its own usage plan); the local runtime makes
    # a local client for each
    app_clients: tuple[AppClient, ...] = ()

    def table(self, name: str) -> Table:
        return _by_name(self.tables, name)

    def queue(self, name: str) -> Queue:
        return _by_name(self.queues, name)

    def function(self, name: str) -> Function:
        return _by_name(self.functions, name)

    def secret(self, name: str) -> Secret:
        return _by_name(self.secrets, name)

    def consumers(self) -> Iterator[tuple[Function, EventSource]]:
        for function in self.functions:
            if function.event_source is not None:
                yield function, function.event_source

    def api_function(self) -> Function:
        (name,) = {route.function for route in self.routes}
        return self.function(name)

    def route_for(self, method: str, path: str) -> Route | None:
        """The route a request is for, if any (a trailing slash matches too, as the API's
        resolver matches it)."""
        path = path.rstrip("/") or "/"
        for route in self.routes:
            if route.method == method and route.matches(path) is not None:
                return route
        return None

    def resource_paths(self) -> list[str]:
        return sorted({route.path for route in self.routes})

    def environment_names(self, function: Function) -> dict[str, str]:
        """Variable name -> logical resource name, for every resource the function uses."""
        names = {self.table(t).env_var: t for t in function.tables}
        names |= {self.queue(q).env_var: q for q in self.queue_urls_needed(function)}
        names |= {self.dlq_env_var(q): self.queue(q).dlq_name for q in function.dead_letters_to}
        names |= {self.secret(s).env_var: s for s in function.secrets}
        return names

    def queue_urls_needed(self, function: Function) -> tuple[str, ...]:
        """Queues whose URL the function reads: those it sends to, and its own if it reschedules."""
        own = (
            (function.event_source.queue,) if function.reschedules and function.event_source else ()
        )
        return tuple(dict.fromkeys(function.sends_to + own))

    def dlq_env_var(self, queue_name: str) -> str:
        variable = self.queue(queue_name).dlq_env_var
        if variable is None:
            raise KeyError(f"queue {queue_name!r} declares no dlq_env_var")
        return variable

    def replace_queue(self, name: str, **changes: Any) -> Topology:
        """A copy with one queue changed: tests shrink visibility timeouts and receive counts."""
        queues = tuple(
            dataclasses.replace(q, **changes) if q.name == name else q for q in self.queues
        )
        return dataclasses.replace(self, queues=queues)

    def replace_function(self, name: str, **changes: Any) -> Topology:
        functions = tuple(
            dataclasses.replace(f, **changes) if f.name == name else f for f in self.functions
        )
        return dataclasses.replace(self, functions=functions)

    def validate(self, timeout_advice: bool = True) -> list[str]:
        """Problems with the topology; empty when it is sound.

        `timeout_advice=False` skips AWS's visibility-timeout advice (tests shrink timings).
        """
        problems: list[str] = []
        for function, source in self.consumers():
            queue = self.queue(source.queue)
            ratio = VISIBILITY_TO_TIMEOUT_RATIO if timeout_advice else 0
            if queue.visibility_timeout_s < ratio * function.timeout_s:
                problems.append(
                    f"{queue.name}: visibility timeout {queue.visibility_timeout_s}s is under "
                    f"{VISIBILITY_TO_TIMEOUT_RATIO} x {function.name}'s {function.timeout_s}s"
                )
            if not 2 <= source.max_concurrency <= 1000:
                problems.append(f"{function.name}: maximum concurrency must be 2..1000")
            if not 1 <= source.batch_size <= 10_000:
                problems.append(f"{function.name}: batch size must be 1..10000")
            if source.batch_size > 10 and source.max_batching_window_s < 1:
                problems.append(f"{function.name}: batches over 10 need a batching window")
        for function in self.functions:
            try:
                self.environment_names(function)
            except KeyError as unknown:
                problems.append(f"{function.name}: {unknown.args[0]}")
            if function.reschedules and function.event_source is None:
                problems.append(f"{function.name}: reschedules without an event source")
        for queue in self.queues:
            if queue.dlq_retention_s <= queue.retention_s:
                problems.append(f"{queue.name}: DLQ retention must exceed the queue's")
        return problems


def _by_name(items: tuple[_Named, ...], name: str) -> _Named:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {name!r} in the topology")


PRODUCTS = Table(name="products", partition_key="sku", env_var="PRODUCTS_TABLE_NAME")
ORDERS = Table(
    name="orders",
    partition_key="orderId",
    env_var="ORDERS_TABLE_NAME",
    indexes=(
        # sparse: only orders placed with an Idempotency-Key
        Index("byIdempotencyKey", partition_key="idempotencyKey"),
        # sparse: only ACCEPTED orders carry a shard; the sweeper reads the oldest of each shard
        Index("awaitingSettlement", partition_key="acceptedShard", sort_key="createdAt"),
    ),
)
# Powertools idempotency records for POST /orders (Idempotency-Key), expiring after 24 hours.
IDEMPOTENCY = Table(
    name="idempotency",
    partition_key="id",
    env_var="IDEMPOTENCY_TABLE_NAME",
    ttl_attribute="expiration",
)

# Webhook delivery: attempts are receives of the notification message; the notifier dead-letters
# an event itself (with the failure's context) after the last attempt or a permanent failure.
# The default schedule (30 s doubling to a 1 h cap, 12 attempts) rides out ~5 h of outage.
WEBHOOK_MAX_ATTEMPTS = 12
WEBHOOK_SCHEDULE = {
    "WEBHOOK_MAX_ATTEMPTS": str(WEBHOOK_MAX_ATTEMPTS),
    "WEBHOOK_RETRY_BASE_SECONDS": "30",
    "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "3600",
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "2",
    "WEBHOOK_READ_TIMEOUT_SECONDS": "5",
}

ORDERS_QUEUE = Queue(name="orders", env_var="ORDERS_QUEUE_URL", visibility_timeout_s=180)
NOTIFICATIONS_QUEUE = Queue(
    name="notifications",
    env_var="NOTIFICATIONS_QUEUE_URL",
    dlq_env_var="NOTIFICATIONS_DLQ_URL",
    visibility_timeout_s=360,
    # a safety net above the notifier's own cap, for crashes and unreadable messages
    max_receive_count=WEBHOOK_MAX_ATTEMPTS + 3,
)

WEBHOOK_SECRET = Secret(
    name="webhook-signing",
    env_var="WEBHOOK_SECRET_ARN",
    description="Standard Webhooks signing key (base64) for order webhooks",
)

ORDER_API = Function(
    name="order-api",
    handler="order_api.handler.lambda_handler",
    description="REST API: validates requests, records orders and enqueues them (202).",
    timeout_s=10,
    tables={"products": "read", "orders": "read_write", "idempotency": "read_write"},
    sends_to=("orders",),
    environment={"MAX_BODY_BYTES": str(API_BODY_LIMIT_BYTES)},
)
ORDER_WORKER = Function(
    name="order-worker",
    handler="order_worker.handler.lambda_handler",
    description="Consumes the orders queue: prices, reserves stock and settles orders.",
    timeout_s=30,
    tables={"products": "read_write", "orders": "read_write"},
    sends_to=("notifications",),
    event_source=EventSource(queue="orders", batch_size=10, max_concurrency=5),
)
NOTIFIER = Function(
    name="notifier",
    handler="notifier.handler.lambda_handler",
    description="Consumes the notifications queue: delivers signed webhooks with retries.",
    timeout_s=60,  # a batch of 5 at 2 s connect + 5 s read each fits with room to spare
    tables={"orders": "read_write"},
    dead_letters_to=("notifications",),
    secrets=("webhook-signing",),
    # a low ceiling so a flood of events never hammers third parties
    event_source=EventSource(queue="notifications", batch_size=5, max_concurrency=2),
    reschedules=True,
    environment=WEBHOOK_SCHEDULE,
)

SWEEPER = Function(
    name="sweeper",
    handler="sweeper.handler.lambda_handler",
    description="Heals orders left ACCEPTED without a message: re-enqueues them.",
    timeout_s=60,
    tables={"orders": "read_write"},
    sends_to=("orders",),
    schedule_minutes=5,
    environment={
        # older than this and still ACCEPTED: its message was lost (a crash after the write)
        "SWEEP_AFTER_SECONDS": "900",
        # then it stays for an operator (its message keeps failing: see the DLQ)
        "SWEEP_MAX_REENQUEUES": "3",
    },
)

TOPOLOGY = Topology(
    tables=(PRODUCTS, ORDERS, IDEMPOTENCY),
    queues=(ORDERS_QUEUE, NOTIFICATIONS_QUEUE),
    functions=(ORDER_API, ORDER_WORKER, NOTIFIER, SWEEPER),
    routes=(
        Route("GET", "/products", ORDER_API.name, (SCOPE_READ,)),
        Route("GET", "/products/{sku}", ORDER_API.name, (SCOPE_READ,)),
        Route("POST", "/orders", ORDER_API.name, (SCOPE_WRITE,), "api/place-order.request"),
        Route("GET", "/orders/{orderId}", ORDER_API.name, (SCOPE_READ,)),
    ),
    secrets=(WEBHOOK_SECRET,),
    app_clients=APP_CLIENTS,
)


def common_environment(function: Function) -> dict[str, str]:
    """Static variables every function gets, in the cloud and locally (resource names aside)."""
    return {
        "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "FUNCTION_NAME": function.name,
    } | function.environment
