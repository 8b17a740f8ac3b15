"""The system's topology in plain Python: the one source for the CDK app and the local runtime.

Nothing here imports CDK, boto3 or Lambda code. Components, the tables and secrets each owns,
queues and the message types they carry, functions, routes with their operation metadata, limits
and the environment variable names functions read are declared once; `infra.cdk` turns them into
one stack per component (plus the messaging stack), `infra.local` into moto resources and local
event source mappings, and `infra.tools.contracts` into events/openapi.json.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

SERVICE_NAME = "orders"
METRICS_NAMESPACE = "AsyncOrders"
API_BODY_LIMIT_BYTES = 64 * 1024  # enforced by the API function (413 above it)
# Every error answer is application/problem+json with a `type` under this URN.
PROBLEM_TYPE_PREFIX = "urn:orders-api:problem:"
CORRELATION_ID_HEADER = "X-Correlation-Id"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"

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
# The stage's throttle, for every client together (API Gateway, and the local gateway).
STAGE_RATE_LIMIT_PER_SECOND = 100
STAGE_BURST_LIMIT = 200
# WAF (opt-in, `-c waf=true`): requests per 5 minutes per bearer token and per source IP.
WAF_RATE_LIMIT_PER_TOKEN = 3000
WAF_RATE_LIMIT_PER_IP = 6000
# Execution environments the local API function may scale to (Lambda scales it on demand).
LOCAL_API_CONCURRENCY = 8


# Stages ----------------------------------------------------------------------------------------
# `-c stage=dev|prod` picks one; each stage is its own set of stacks (`AsyncOrders-<stage>-...`)
# with its own SSM parameters (`/async-orders/<stage>/...`), so both can live in one account.


@dataclass(frozen=True)
class Stage:
    name: str
    log_retention_days: int  # every log group's (functions, API access logs)
    # what deleting a stack does to tables, log groups, the user pool and secrets
    removal_policy: Literal["retain", "destroy"]
    waf: bool  # a WAF web ACL in front of the API (`-c waf=` overrides)
    # the API function's reserved concurrency: a flood cannot take the account's whole pool
    # (and the API never gets less than this)
    api_reserved_concurrency: int
    alarm_email: str | None = None  # subscribed to the alarm topic (`-c alarmEmail=` overrides)


STAGES = {
    stage.name: stage
    for stage in (
        # a throwaway: its data goes with it, short logs, no WAF fee
        Stage(
            "dev",
            log_retention_days=7,
            removal_policy="destroy",
            waf=False,
            api_reserved_concurrency=10,
        ),
        # the safe default: data and logs outlive the stack, WAF on
        Stage(
            "prod",
            log_retention_days=30,
            removal_policy="retain",
            waf=True,
            api_reserved_concurrency=100,
        ),
    )
}
DEFAULT_STAGE = "prod"


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
class Component:
    """A unit deployed on its own: a package under functions/, a stack, and what it owns."""

    name: str
    description: str


@dataclass(frozen=True)
class Index:
    """A global secondary index (string keys, all attributes projected)."""

    name: str
    partition_key: str
    env_var: str  # the variable that carries the index name to the functions that query it
    sort_key: str | None = None


@dataclass(frozen=True)
class Table:
    name: str  # logical name; the local runtime uses it as the table name
    partition_key: str
    env_var: str  # the variable that carries the table name to functions
    component: str = ""  # the component that owns it: only its functions may use it
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
    # the variable that carries the DLQ's URL to its consumer, which dead-letters unreadable
    # messages and unknown message types itself, with the reason
    dlq_env_var: str | None = None
    component: str = ""  # the component whose function consumes it
    carries: tuple[str, ...] = ()  # message types on it, as "type@version"
    # FIFO: ordered per MessageGroupId, deduplicated for 5 minutes (by MessageDeduplicationId, or
    # by the body's SHA-256 with content-based deduplication); SQS adds `.fifo` to the names.
    fifo: bool = False
    content_based_deduplication: bool = False
    # the alarm on the oldest message's age (ApproximateAgeOfOldestMessage, seconds): a queue
    # whose consumer retries on a schedule ages as long as that schedule
    oldest_message_alarm_s: int = 600

    @property
    def dlq_name(self) -> str:
        return f"{self.name}-dlq"


@dataclass(frozen=True)
class Secret:
    name: str
    env_var: str  # the variable that carries the secret's ARN to functions
    description: str
    component: str = ""


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
    component: str = ""
    # table -> the DynamoDB actions its code calls on it (API names: "GetItem"); an Update
    # entry of a TransactWriteItems needs "UpdateItem" on its table, a Put "PutItem"...
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    indexes: tuple[str, ...] = ()  # the indexes it queries (Query only), by name
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


# What an SQS event source mapping does with the function's role (Lambda polls as the function):
# AWS's documented minimum, the actions of AWSLambdaSQSQueueExecutionRole.
EVENT_SOURCE_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
RESCHEDULE_ACTIONS = ("ChangeMessageVisibility",)  # a consumer that sets its next attempt
SEND_ACTIONS = ("SendMessage",)
SECRET_READ_ACTIONS = ("GetSecretValue",)  # what Powertools' parameters.get_secret calls
INDEX_ACTIONS = ("Query",)
# The item and query actions a function may declare on a table.
TABLE_ACTIONS = frozenset(
    {
        "BatchGetItem",
        "BatchWriteItem",
        "ConditionCheckItem",
        "DeleteItem",
        "GetItem",
        "PutItem",
        "Query",
        "Scan",
        "UpdateItem",
    }
)
ResourceKind = Literal["table", "index", "queue", "dlq", "secret"]
SERVICE_OF: dict[ResourceKind, str] = {
    "table": "dynamodb",
    "index": "dynamodb",
    "queue": "sqs",
    "dlq": "sqs",
    "secret": "secretsmanager",
}


@dataclass(frozen=True)
class Permission:
    """Actions a function may take on one resource: its whole IAM grant is a list of these."""

    kind: ResourceKind
    name: str  # the topology name: a table, `table/index`, a queue (its DLQ: the queue's name)
    actions: tuple[str, ...]  # API names without the service prefix, sorted

    @property
    def service(self) -> str:
        return SERVICE_OF[self.kind]

    @property
    def iam_actions(self) -> list[str]:
        return [f"{self.service}:{action}" for action in self.actions]


@dataclass(frozen=True)
class Answer:
    """One answer an operation gives: its description, body and response headers."""

    description: str
    body: str | None = None  # the contract stem (events/schemas/<stem>), None: problem+json
    headers: dict[str, bool] = field(default_factory=dict)  # header -> always sent


@dataclass(frozen=True)
class Operation:
    """What the OpenAPI document says of a route beyond its method, path and scopes."""

    operation_id: str
    tag: str
    summary: str
    description: str
    answers: dict[int, Answer]  # what the API function answers, success and refusals
    headers: tuple[str, ...] = ()  # request headers besides X-Correlation-Id
    links: dict[str, Any] = field(default_factory=dict)  # on the success answer


_TEMPLATE_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource path, e.g. /orders/{orderId}
    function: str
    scopes: tuple[str, ...]  # OAuth2 scopes, any one of which grants access
    # the contract (events/schemas/<stem>.schema.json) the gateway validates the body against
    request_body: str | None = None
    operation: Operation | None = None

    @property
    def parameters(self) -> list[str]:
        return _TEMPLATE_PARAMETER.findall(self.path)

    def matches(self, path: str) -> dict[str, str] | None:
        """Path parameters if `path` fits this route's template, else None."""
        pattern = _TEMPLATE_PARAMETER.sub(r"(?P<\1>[^/]+)", self.path)
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found else None


_Named = TypeVar("_Named", Table, Queue, Function, Secret, Component)


@dataclass(frozen=True)
class Topology:
    tables: tuple[Table, ...]
    queues: tuple[Queue, ...]
    functions: tuple[Function, ...]
    routes: tuple[Route, ...]
    secrets: tuple[Secret, ...] = ()
    components: tuple[Component, ...] = ()
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

    def component(self, name: str) -> Component:
        return _by_name(self.components, name)

    def index(self, name: str) -> tuple[Table, Index]:
        for table in self.tables:
            for index in table.indexes:
                if index.name == name:
                    return table, index
        raise KeyError(f"no index {name!r} in the topology")

    def consumers(self) -> Iterator[tuple[Function, EventSource]]:
        for function in self.functions:
            if function.event_source is not None:
                yield function, function.event_source

    def api_functions(self) -> list[Function]:
        names = dict.fromkeys(route.function for route in self.routes)
        return [self.function(name) for name in names]

    def api_function(self) -> Function:
        (function,) = self.api_functions()
        return function

    def owned_by(self, component: str) -> dict[str, tuple[str, ...]]:
        """What `component` owns, by kind: its functions, tables, secrets and queues."""
        return {
            "functions": tuple(f.name for f in self.functions if f.component == component),
            "tables": tuple(t.name for t in self.tables if t.component == component),
            "secrets": tuple(s.name for s in self.secrets if s.component == component),
            "queues": tuple(q.name for q in self.queues if q.component == component),
        }

    def route_for(self, method: str, path: str) -> Route | None:
        """The route a request is for, if any (a trailing slash matches too, as the API's
        resolver matches it)."""
        path = path.rstrip("/") or "/"
        for route in self.routes:
            if route.method == method and route.matches(path) is not None:
                return route
        return None

    def methods_at(self, path: str) -> list[str]:
        """The methods some route has at `path` (for 405's Allow)."""
        path = path.rstrip("/") or "/"
        return sorted({r.method for r in self.routes if r.matches(path) is not None})

    def resource_paths(self) -> list[str]:
        return sorted({route.path for route in self.routes})

    def environment_names(self, function: Function) -> dict[str, str]:
        """Variable name -> logical resource name, for every resource the function uses."""
        names = {self.table(t).env_var: t for t in function.tables}
        names |= {self.queue(q).env_var: q for q in self.queue_urls_needed(function)}
        names |= {self.dlq_env_var(q): self.queue(q).dlq_name for q in self.dead_letters(function)}
        names |= {self.secret(s).env_var: s for s in function.secrets}
        return names

    def permissions(self, function: Function) -> list[Permission]:
        """Everything the function's role may do besides writing its own logs and traces: the
        actions its code calls on its tables, the indexes it queries, the queues it sends to,
        consumes (as Lambda's event source mapping) or reschedules, the DLQs it dead-letters
        into and the secrets it reads. The CDK app grants exactly these, the README's table
        is generated from them and the infra tests compare the two."""
        queues: dict[tuple[ResourceKind, str], set[str]] = {}
        for name in function.sends_to:
            queues.setdefault(("queue", name), set()).update(SEND_ACTIONS)
        if (source := function.event_source) is not None:
            consumed = queues.setdefault(("queue", source.queue), set())
            consumed.update(EVENT_SOURCE_ACTIONS)
            if function.reschedules:
                consumed.update(RESCHEDULE_ACTIONS)
        for name in self.dead_letters(function):
            queues.setdefault(("dlq", name), set()).update(SEND_ACTIONS)
        granted = [
            Permission("table", name, tuple(sorted(set(actions))))
            for name, actions in function.tables.items()
        ]
        for index_name in function.indexes:
            table, _ = self.index(index_name)
            granted.append(Permission("index", f"{table.name}/{index_name}", INDEX_ACTIONS))
        granted += [
            Permission(kind, name, tuple(sorted(actions)))
            for (kind, name), actions in queues.items()
        ]
        granted += [Permission("secret", name, SECRET_READ_ACTIONS) for name in function.secrets]
        return granted

    def static_environment(self, function: Function) -> dict[str, str]:
        """Variables whose values the topology itself fixes: its limits, index names and, for an
        API function, its routes (operation id -> method, path, scopes)."""
        variables = {
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "FUNCTION_NAME": function.name,
        }
        for index_name in function.indexes:
            _, index = self.index(index_name)
            variables[index.env_var] = index.name
        routes = [r for r in self.routes if r.function == function.name]
        if routes:
            variables[API_ROUTES_VARIABLE] = routes_variable(routes)
        return variables | function.environment

    def settings_variables(self, function: Function) -> set[str]:
        """The variables the function's own code reads (its settings model asks for exactly
        these); POWERTOOLS_* are Powertools' own and FUNCTION_NAME labels it for operators."""
        names = set(self.environment_names(function)) | set(self.static_environment(function))
        return {n for n in names if not n.startswith("POWERTOOLS_") and n != "FUNCTION_NAME"}

    def queue_urls_needed(self, function: Function) -> tuple[str, ...]:
        """Queues whose URL the function reads: those it sends to, and its own if it reschedules."""
        own = (
            (function.event_source.queue,) if function.reschedules and function.event_source else ()
        )
        return tuple(dict.fromkeys(function.sends_to + own))

    def dead_letters(self, function: Function) -> tuple[str, ...]:
        """Queues whose DLQ the function sends to: its own, when the queue names a variable for
        it (the consumer dead-letters unknown message types there), and those it declares."""
        source = function.event_source
        own = (source.queue,) if source and self.queue(source.queue).dlq_env_var else ()
        return tuple(dict.fromkeys(own + function.dead_letters_to))

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
                for index_name in function.indexes:
                    table, _ = self.index(index_name)
                    if table.name not in function.tables:
                        problems.append(
                            f"{function.name}: queries {index_name} of a table it lacks"
                        )
            except KeyError as unknown:
                problems.append(f"{function.name}: {unknown.args[0]}")
                continue
            for table_name, actions in function.tables.items():
                if unknown_actions := sorted(set(actions) - TABLE_ACTIONS):
                    problems.append(
                        f"{function.name}: {table_name}: not table actions: {unknown_actions}"
                    )
            if function.reschedules and function.event_source is None:
                problems.append(f"{function.name}: reschedules without an event source")
            problems += self._ownership_problems(function)
        for queue in self.queues:
            if queue.dlq_retention_s <= queue.retention_s:
                problems.append(f"{queue.name}: DLQ retention must exceed the queue's")
        return problems

    def _ownership_problems(self, function: Function) -> list[str]:
        """A function uses only its own component's tables and secrets: what it needs of another
        component reaches it as a message."""
        if not self.components:
            return []
        problems = [
            f"{function.name} ({function.component}) uses {kind} {name} of {owner}"
            for kind, names, find in (
                ("table", function.tables, self.table),
                ("secret", function.secrets, self.secret),
            )
            for name in names
            if (owner := find(name).component) != function.component
        ]
        if function.component not in {c.name for c in self.components}:
            problems.append(f"{function.name}: no component {function.component!r}")
        return problems


def _by_name(items: tuple[_Named, ...], name: str) -> _Named:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {name!r} in the topology")


# The API function learns its routes (operation id -> method, path and scopes) from this
# variable, so the route list is written once, here.
API_ROUTES_VARIABLE = "API_ROUTES"


def routes_variable(routes: list[Route]) -> str:
    table = {
        (r.operation.operation_id if r.operation else f"{r.method} {r.path}"): {
            "method": r.method,
            "path": r.path,
            "scopes": list(r.scopes),
        }
        for r in routes
    }
    return json.dumps(table, separators=(",", ":"), sort_keys=True)


# Components ------------------------------------------------------------------------------------

ORDERS = Component("orders", "The order API, the worker that settles orders, the sweeper")
NOTIFICATIONS = Component("notifications", "Signed webhook delivery to third-party endpoints")

# Tables ------------------------------------------------------------------------------------------

PRODUCTS_TABLE = Table(
    name="products", partition_key="sku", env_var="PRODUCTS_TABLE_NAME", component=ORDERS.name
)
ORDERS_TABLE = Table(
    name="orders",
    partition_key="orderId",
    env_var="ORDERS_TABLE_NAME",
    component=ORDERS.name,
    indexes=(
        # sparse: only orders placed with an Idempotency-Key
        Index(
            "byIdempotencyKey",
            partition_key="idempotencyKey",
            env_var="ORDERS_BY_IDEMPOTENCY_KEY_INDEX",
        ),
        # sparse: only ACCEPTED orders carry a shard; the sweeper reads the oldest of each shard
        Index(
            "awaitingSettlement",
            partition_key="acceptedShard",
            sort_key="createdAt",
            env_var="ORDERS_AWAITING_SETTLEMENT_INDEX",
        ),
    ),
)
# The Idempotency-Key records of POST /orders (orders.adapters.idempotency_records), expiring
# after 24 hours.
IDEMPOTENCY_TABLE = Table(
    name="idempotency",
    partition_key="id",
    env_var="IDEMPOTENCY_TABLE_NAME",
    component=ORDERS.name,
    ttl_attribute="expiration",
)
# The notifier's own record of each webhook event: attempts, outcome, next attempt.
DELIVERIES_TABLE = Table(
    name="deliveries",
    partition_key="eventId",
    env_var="DELIVERIES_TABLE_NAME",
    component=NOTIFICATIONS.name,
    ttl_attribute="expiresAt",
)

# Limits --------------------------------------------------------------------------------------

# The sweeper's index spreads ACCEPTED orders over this many partitions.
ACCEPTED_SHARDS = 8
# An Idempotency-Key is remembered this long (its record's TTL, and the healing lookup).
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
# Webhook delivery: attempts are receives of the notification message; the notifier dead-letters
# an event itself (with the failure's context) after the last attempt or a permanent failure.
# The default schedule (30 s doubling to a 1 h cap, 12 attempts) rides out ~5 h of outage.
WEBHOOK_MAX_ATTEMPTS = 12
WEBHOOK_SCHEDULE = {
    "WEBHOOK_MAX_ATTEMPTS": str(WEBHOOK_MAX_ATTEMPTS),
    "WEBHOOK_RETRY_BASE_SECONDS": "30",
    "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "3600",
    # one attempt's hard wall-clock deadline is connect + read (7 s): DNS and connecting (TLS
    # included) take at most the first, the whole attempt (answer's status and headers) both
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "2",
    "WEBHOOK_READ_TIMEOUT_SECONDS": "5",
    # delivery records outlive the longest schedule, then expire
    "WEBHOOK_RECORD_RETENTION_DAYS": "30",
}
# Isolation (docs/webhooks.md): the records of a batch are delivered concurrently, at most this
# many at once to one destination (scheme, host, port) per execution environment; an event over
# the limit waits WEBHOOK_DEFER_SECONDS, unattempted, on the queue.
NOTIFIER_BATCH_SIZE = 10
WEBHOOK_ISOLATION = {
    "WEBHOOK_BATCH_CONCURRENCY": str(NOTIFIER_BATCH_SIZE),
    "WEBHOOK_MAX_IN_FLIGHT_PER_DESTINATION": "2",
    "WEBHOOK_DEFER_SECONDS": "5",
    # circuit breaking per destination: paused after this many consecutive unhealthy attempts
    # (no answer, 408, 5xx), probed by one event once the recovery time has passed
    "WEBHOOK_CIRCUIT_FAILURE_THRESHOLD": "5",
    "WEBHOOK_CIRCUIT_RECOVERY_SECONDS": "60",
}

# Alarms --------------------------------------------------------------------------------------
# Every threshold of the alarms the CDK app creates (infra/cdk/monitoring.py); each alarm has a
# runbook entry in docs/operations.md. Per-queue oldest-message thresholds are on the queues.


@dataclass(frozen=True)
class AlarmThresholds:
    period_s: int = 300  # the evaluation period of every alarm but saturation
    evaluation_periods: int = 1
    dlq_messages: int = 1  # any message in a dead-letter queue
    api_5xx_rate: float = 0.01  # share of requests answered 5XX in a period
    api_p99_latency_ms: int = 3000  # p99 of API Gateway's Latency in a period
    function_errors: int = 1  # failed invocations of one function in a period
    function_throttles: int = 1  # throttled invocations of one function in a period
    # a consumer at or above this share of its event source's maximum concurrency (percent),
    # minute after minute, for this long: its queue is filling faster than it drains
    consumer_saturation_percent: int = 100
    consumer_saturation_minutes: int = 15
    # the share of failed webhooks, WebhooksFailed / (WebhooksDelivered + WebhooksFailed) (the
    # notifier's EMF metrics), for this many periods in a row
    webhook_failure_rate: float = 0.25
    webhook_failure_periods: int = 3


ALARMS = AlarmThresholds()
# The notifier's EMF metrics (namespace METRICS_NAMESPACE, dimension service) behind the
# webhook failure alarm and the dashboard, and the component whose stack holds that alarm.
WEBHOOK_METRICS = {
    "delivered": "WebhooksDelivered",
    "failed": "WebhooksFailed",
    "latency": "WebhookDeliveryLatency",
}
WEBHOOK_METRICS_COMPONENT = NOTIFICATIONS.name
# The orders component's EMF metrics the dashboard shows (functions/orders/domain/service.py).
ORDER_METRICS = ("OrdersAccepted", "OrdersConfirmed", "OrdersRejected")
SETTLEMENT_LATENCY_METRIC = "SettlementLatency"  # ms from acceptance to settlement

# Queues and the messages they carry ----------------------------------------------------------

ORDER_PLACED = "order.placed@1"
WEBHOOK_REQUESTED = "webhook.requested@1"
WEBHOOK_DELIVERY_UPDATED = "webhook.delivery-updated@1"

ORDERS_QUEUE = Queue(
    name="orders",
    env_var="ORDERS_QUEUE_URL",
    dlq_env_var="ORDERS_DLQ_URL",
    visibility_timeout_s=180,
    component=ORDERS.name,
    # orders to settle, and how their webhooks went (from notifications)
    carries=(ORDER_PLACED, WEBHOOK_DELIVERY_UPDATED),
)
NOTIFICATIONS_QUEUE = Queue(
    name="notifications",
    env_var="NOTIFICATIONS_QUEUE_URL",
    dlq_env_var="NOTIFICATIONS_DLQ_URL",
    visibility_timeout_s=360,
    # a safety net above the notifier's own cap, for crashes and unreadable messages
    max_receive_count=WEBHOOK_MAX_ATTEMPTS + 3,
    component=NOTIFICATIONS.name,
    # an event is retried for about 5 hours (the schedule above) before it is given up
    oldest_message_alarm_s=6 * 3600,
    carries=(WEBHOOK_REQUESTED,),
    # a fair queue: producers set a MessageGroupId per client (the order's client), so one
    # client's backlog never starves the others' events (SQS fair queues, docs/webhooks.md)
)

WEBHOOK_SECRET = Secret(
    name="webhook-signing",
    env_var="WEBHOOK_SECRET_ARN",
    description="Standard Webhooks signing key (base64) for order webhooks",
    component=NOTIFICATIONS.name,
)

# Functions -----------------------------------------------------------------------------------

ORDER_API = Function(
    name="order-api",
    handler="orders.api.handler.lambda_handler",
    description="REST API: validates requests, records orders and enqueues them (202).",
    timeout_s=10,
    component=ORDERS.name,
    tables={
        # get_product, list_products (a paginated scan)
        "products": ("GetItem", "Scan"),
        # insert_order, get_order, delete_accepted_order (an order that could not be queued)
        "orders": ("PutItem", "GetItem", "DeleteItem"),
        # the Idempotency-Key records: claim, read a refused claim, complete, release
        "idempotency": ("GetItem", "PutItem", "UpdateItem", "DeleteItem"),
    },
    indexes=("byIdempotencyKey",),
    sends_to=("orders",),
    environment={
        "MAX_BODY_BYTES": str(API_BODY_LIMIT_BYTES),
        "PROBLEM_TYPE_PREFIX": PROBLEM_TYPE_PREFIX,
        "ACCEPTED_SHARDS": str(ACCEPTED_SHARDS),
        "IDEMPOTENCY_WINDOW_SECONDS": str(IDEMPOTENCY_WINDOW_SECONDS),
    },
)
ORDER_WORKER = Function(
    name="order-worker",
    handler="orders.worker.handler.lambda_handler",
    description="Consumes the orders queue: settles orders, records how their webhooks went.",
    timeout_s=30,
    component=ORDERS.name,
    tables={
        # get_products (BatchGetItem); confirm_order's TransactWriteItems Update per line
        "products": ("BatchGetItem", "UpdateItem"),
        # get_order; reject_order, record_delivery, mark_published and the transaction's Update
        "orders": ("GetItem", "UpdateItem"),
    },
    sends_to=("notifications",),
    event_source=EventSource(queue="orders", batch_size=10, max_concurrency=5),
)
NOTIFIER = Function(
    name="notifier",
    handler="notifications.notifier.handler.lambda_handler",
    description="Consumes the notifications queue: delivers signed webhooks with retries.",
    # a batch's records run concurrently, each within its 7 s deadline: a batch takes about
    # one deadline plus the bookkeeping, far inside the timeout
    timeout_s=60,
    component=NOTIFICATIONS.name,
    # its records of events (DeliveriesStore.get, .record) and each destination's circuit
    # state (Powertools' breaker: get_item, put_item, update_item)
    tables={"deliveries": ("GetItem", "PutItem", "UpdateItem")},
    # webhook.delivery-updated back to its order; a paused destination's event re-sent to its
    # own queue to wait (queues.postpone)
    sends_to=("orders", "notifications"),
    secrets=("webhook-signing",),
    # 5 environments x 10 concurrent records: 50 attempts in flight at most, of which one
    # destination holds at most 2 per environment; still a ceiling that never floods receivers
    event_source=EventSource(
        queue="notifications", batch_size=NOTIFIER_BATCH_SIZE, max_concurrency=5
    ),
    reschedules=True,
    environment=WEBHOOK_SCHEDULE | WEBHOOK_ISOLATION,
)
SWEEPER = Function(
    name="sweeper",
    handler="orders.sweeper.handler.lambda_handler",
    description="Heals orders left ACCEPTED without a message: re-enqueues them.",
    timeout_s=60,
    component=ORDERS.name,
    tables={"orders": ("GetItem", "UpdateItem")},  # get_order, count_reenqueue
    indexes=("awaitingSettlement",),
    sends_to=("orders",),
    schedule_minutes=5,
    environment={
        "ACCEPTED_SHARDS": str(ACCEPTED_SHARDS),
        # older than this and still ACCEPTED: its message was lost (a crash after the write)
        "SWEEP_AFTER_SECONDS": "900",
        # then it stays for an operator (its message keeps failing: see the DLQ)
        "SWEEP_MAX_REENQUEUES": "3",
    },
)

# Routes, with what the OpenAPI document says of each -------------------------------------------

_CORRELATED = {CORRELATION_ID_HEADER: False}  # the function sets it on all its answers
_RETRY_AFTER = _CORRELATED | {"Retry-After": True}

LIST_PRODUCTS = Operation(
    operation_id="listProducts",
    tag="products",
    summary="List the catalog",
    description="Every product with its unit price and the stock available now.",
    answers={
        200: Answer("The catalog.", "api/product-list.response", {CORRELATION_ID_HEADER: True})
    },
)
GET_PRODUCT = Operation(
    operation_id="getProduct",
    tag="products",
    summary="Get one product",
    description="One product by SKU.",
    answers={
        200: Answer("The product.", "api/product.response", {CORRELATION_ID_HEADER: True}),
        404: Answer(
            "No product with this SKU (a SKU that breaks the pattern is not found either).",
            headers=_CORRELATED,
        ),
    },
)
PLACE_ORDER = Operation(
    operation_id="placeOrder",
    tag="orders",
    summary="Place an order",
    description=(
        "Records the order as `ACCEPTED` and queues it, then answers 202 with its status "
        "link: a worker prices it from the catalog, reserves stock and settles it "
        "`CONFIRMED` or `REJECTED` (poll the link, or give a `callbackUrl` for a signed "
        "webhook). Prices are never taken from the client.\n\n"
        f"Send an `{IDEMPOTENCY_KEY_HEADER}` to retry safely: the same key and body answer "
        "the first 202 again and make one order, for 24 hours per client."
    ),
    headers=(IDEMPOTENCY_KEY_HEADER,),
    answers={
        202: Answer(
            "Accepted and queued: poll `Location` until the order leaves `ACCEPTED`.",
            "api/order-accepted.response",
            {"Location": True, CORRELATION_ID_HEADER: True},
        ),
        400: Answer(
            "The body breaks the `PlaceOrder` schema (API Gateway's request validator, "
            "`gateway-BAD_REQUEST_BODY`, before the function runs), is not JSON (or not "
            f"valid base64 when sent as binary), or the `{IDEMPOTENCY_KEY_HEADER}` breaks "
            "its pattern.",
            headers=_CORRELATED,
        ),
        409: Answer(
            f"A request with this `{IDEMPOTENCY_KEY_HEADER}` is still being served: retry "
            "after `Retry-After` seconds.",
            headers=_RETRY_AFTER,
        ),
        413: Answer(
            f"The body is over {API_BODY_LIMIT_BYTES} bytes and otherwise fits the schema (over "
            "10 MB the gateway itself refuses it). A body that is too large because a field "
            "breaks its schema (a string over its `maxLength`) gets the gateway's 400 first.",
            headers=_CORRELATED,
        ),
        415: Answer("The body is not sent as `application/json`.", headers=_CORRELATED),
        422: Answer(
            "The body fits the schema but is refused: it names a SKU twice or has a "
            "`callbackUrl` the system may not call (`errors` points at each offending "
            "member; a body that breaks the schema gets this answer too where no gateway "
            f"validated it first); or the `{IDEMPOTENCY_KEY_HEADER}` was used with another "
            "body in the last 24 hours.",
            headers=_CORRELATED,
        ),
        503: Answer(
            "The order could not be queued and nothing was recorded: retry after "
            f"`Retry-After` seconds (with the same `{IDEMPOTENCY_KEY_HEADER}`).",
            headers=_RETRY_AFTER,
        ),
    },
    links={
        "getOrder": {
            "operationId": "getOrder",
            "parameters": {"orderId": "$response.body#/orderId"},
            "description": "The order's status: poll it until it leaves `ACCEPTED`.",
        }
    },
)
GET_ORDER = Operation(
    operation_id="getOrder",
    tag="orders",
    summary="Get an order's status",
    description=(
        "The order as its client sees it: `ACCEPTED` until settled, then `CONFIRMED` "
        "(`unitPrice` and `total` set) or `REJECTED` (`reason` says why), and how its "
        "webhook deliveries went."
    ),
    answers={
        200: Answer("The order.", "api/order.response", {CORRELATION_ID_HEADER: True}),
        404: Answer(
            "No order with this id placed by this client (other clients' orders are not "
            "found either).",
            headers=_CORRELATED,
        ),
    },
)

TOPOLOGY = Topology(
    components=(ORDERS, NOTIFICATIONS),
    tables=(PRODUCTS_TABLE, ORDERS_TABLE, IDEMPOTENCY_TABLE, DELIVERIES_TABLE),
    queues=(ORDERS_QUEUE, NOTIFICATIONS_QUEUE),
    functions=(ORDER_API, ORDER_WORKER, NOTIFIER, SWEEPER),
    routes=(
        Route("GET", "/products", ORDER_API.name, (SCOPE_READ,), operation=LIST_PRODUCTS),
        Route("GET", "/products/{sku}", ORDER_API.name, (SCOPE_READ,), operation=GET_PRODUCT),
        Route(
            "POST",
            "/orders",
            ORDER_API.name,
            (SCOPE_WRITE,),
            "api/place-order.request",
            operation=PLACE_ORDER,
        ),
        Route("GET", "/orders/{orderId}", ORDER_API.name, (SCOPE_READ,), operation=GET_ORDER),
    ),
    secrets=(WEBHOOK_SECRET,),
    app_clients=APP_CLIENTS,
)
