"""`orders-ops`: see the queues, inspect and redrive dead letters, load the catalog, locally or
on AWS.

    orders-ops status                            [TARGET] [--json]
    orders-ops dlq list                          [TARGET] [--json]
    orders-ops dlq show QUEUE [--max N]          [TARGET] [--json]
    orders-ops dlq redrive QUEUE [--rate N] [--max M] [TARGET]
    orders-ops catalog load FILE [--reset-stock] [TARGET]
    orders-ops catalog show                      [TARGET] [--json]
    orders-ops invoke FUNCTION EVENT_FILE        --local | --state-file PATH
    orders-ops webhook-keys list                 [TARGET] [--json]
    orders-ops webhook-keys add --ed25519|--hmac [TARGET]
    orders-ops webhook-keys remove KEY_ID        [TARGET]

TARGET is `--local` (the runtime `make run` started, described in .local/runtime.json),
`--state-file PATH` (another such description) or `--stack NAME [--region R]` (a deployed stage:
its stacks' prefix, `AsyncOrders-prod` or `AsyncOrders-dev`, or its messaging stack,
`AsyncOrders-prod-Messaging`, whose outputs `<Name>QueueUrl` and `<Name>DlqUrl` locate the
queues). QUEUE is a topology queue name
(`orders`, `notifications`) or its dead-letter queue's (`orders-dlq`).

Exit codes: 0 done; 1 failed (no runtime or stack, an AWS error, messages left behind);
2 usage (bad arguments, unknown queue); 130 interrupted.

The functions below take boto3 clients and a mapping of queue name -> (source URL, DLQ URL), so
tests and other tools can call them without the command line.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

import boto3
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from infra import catalog
from infra.cdk.naming import (
    DEFAULT_PREFIX,
    MESSAGING,
    construct_id,
    dlq_output,
    function_name,
    queue_output,
    stack_name,
)
from infra.local.state import STATE_FILE, state_file
from infra.topology import PRODUCTS_TABLE, TOPOLOGY, WEBHOOK_SECRET, Topology

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        MessageAttributeValueOutputTypeDef,
        MessageAttributeValueTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

# Where `make run` describes the running local runtime (infra/local/__main__.py writes it).
DEFAULT_STATE_FILE = STATE_FILE  # LOCAL_STATE_FILE overrides it, as for `make run`
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SQS_BATCH_MAX = 10  # entries per SQS batch call
SQS_BATCH_BYTES = 1024 * 1024  # total payload of one SendMessageBatch
MOVE_TASK_MAX_RATE = 500  # StartMessageMoveTask's MaxNumberOfMessagesPerSecond ceiling
PEEK_HOLD_S = 30  # how long `show` hides what it samples if it dies before releasing it
MOVE_HOLD_S = 30  # how long `redrive` hides a batch between receiving and deleting it
BODY_PREVIEW_CHARS = 2000
STATUS_SAMPLE_MAX = 100  # dead letters sampled locally for their age and failure reasons

# Error codes an endpoint gives for an action it does not have (emulators, older partitions).
ACTION_MISSING_CODES = frozenset(
    {"InvalidAction", "NotImplemented", "UnknownOperation", "UnknownOperationException"}
)


class QueuePair(NamedTuple):
    source_url: str
    dlq_url: str


Queues = Mapping[str, QueuePair]
# (service, region, endpoint URL) -> boto3 client; main() takes another for tests.
ClientFactory = Callable[[str, str | None, str | None], Any]


class OpsError(Exception):
    """A failure the operator can act on: printed without a traceback."""

    exit_code = EXIT_FAILED


class UnknownQueue(OpsError):
    exit_code = EXIT_USAGE


class UsageError(OpsError):
    exit_code = EXIT_USAGE


class NoLocalRuntime(OpsError):
    pass


class StackNotFound(OpsError):
    pass


# Targets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    queues: dict[str, QueuePair]
    region: str | None
    endpoint_url: str | None  # set for the local runtime
    description: str
    tables: dict[str, str] = field(default_factory=dict)  # topology name -> table (local)
    secrets: dict[str, str] = field(default_factory=dict)  # topology name -> secret ARN (local)
    prefix: str | None = None  # a deployed stage's stack prefix: AsyncOrders-prod

    @property
    def local(self) -> bool:
        return self.endpoint_url is not None


def local_target(state_file: Path) -> Target:
    """The local runtime described by `state_file` (what `LocalRuntime.describe()` returns)."""
    try:
        state = json.loads(state_file.read_text())
    except FileNotFoundError:
        raise NoLocalRuntime(f"{state_file} not found: is `make run` running?") from None
    except (OSError, ValueError) as error:
        raise NoLocalRuntime(f"cannot read {state_file}: {error}") from None
    try:
        sources, dlqs = state["queueUrls"], state["deadLetterQueueUrls"]
        queues = {name: QueuePair(sources[name], dlq) for name, dlq in dlqs.items()}
        endpoint_url, region = str(state["endpointUrl"]), str(state["region"])
        tables = {str(k): str(v) for k, v in state.get("tableNames", {}).items()}
        secrets = {str(k): str(v) for k, v in state.get("secretArns", {}).items()}
    except (KeyError, TypeError, AttributeError) as error:
        raise NoLocalRuntime(
            f"{state_file} does not describe a local runtime (no {error}): restart `make run`"
        ) from None
    return Target(
        queues,
        region,
        endpoint_url,
        f"the local runtime at {endpoint_url}",
        tables=tables,
        secrets=secrets,
    )


def messaging_stack(name: str) -> str:
    """The stack that owns the queues: `AsyncOrders-prod` (a stage's prefix) ->
    `AsyncOrders-prod-Messaging`; the messaging stack's own name stays as it is."""
    suffix = stack_name(MESSAGING, app_name="")  # "-Messaging"
    return name if name.endswith(suffix) else f"{name}{suffix}"


def stack_queues(cloudformation: Any, name: str, topology: Topology = TOPOLOGY) -> Queues:
    """Each topology queue's URLs from the messaging stack's outputs `<Name>QueueUrl` and
    `<Name>DlqUrl` (`name`: the app's prefix or the messaging stack's name)."""
    stack = messaging_stack(name)
    outputs = stack_outputs(cloudformation, stack)
    queues: dict[str, QueuePair] = {}
    for queue in topology.queues:
        source, dlq = outputs.get(queue_output(queue.name)), outputs.get(dlq_output(queue.name))
        if source and dlq:
            queues[queue.name] = QueuePair(source, dlq)
    if not queues:
        raise StackNotFound(
            f"stack {stack!r} has no queue outputs (such as OrdersQueueUrl and OrdersDlqUrl):"
            f" is it this project's messaging stack ({stack_name(MESSAGING)})?"
        )
    return queues


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        # CloudFormation answers ValidationError ("Stack with id X does not exist") for a missing
        # stack, and for nothing else a plain name could cause.
        if error.response.get("Error", {}).get("Code") != "ValidationError":
            raise
        message = error.response.get("Error", {}).get("Message", "")
        raise StackNotFound(f"stack {stack!r} not found: {message}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def stage_prefix(name: str) -> str:
    """`AsyncOrders-prod-Messaging` or `AsyncOrders-prod` -> `AsyncOrders-prod`."""
    return messaging_stack(name).removesuffix(stack_name(MESSAGING, app_name=""))


def products_table(target: Target, make_client: ClientFactory) -> str:
    """The products table: the local runtime's, or the orders stack's `ProductsTableName`."""
    return _resource(
        target,
        make_client,
        target.tables,
        PRODUCTS_TABLE.name,
        PRODUCTS_TABLE.component,
        f"{construct_id(PRODUCTS_TABLE.name)}TableName",
        "products table",
    )


def signing_secret(target: Target, make_client: ClientFactory) -> str:
    """The webhook signing secret's ARN: the local runtime's, or the notifications stack's
    `<Name>SecretArn` output."""
    return _resource(
        target,
        make_client,
        target.secrets,
        WEBHOOK_SECRET.name,
        WEBHOOK_SECRET.component,
        f"{construct_id(WEBHOOK_SECRET.name)}SecretArn",
        "signing secret",
    )


def _resource(
    target: Target,
    make_client: ClientFactory,
    local: dict[str, str],
    name: str,
    component: str,
    output: str,
    what: str,
) -> str:
    """A topology resource's physical name: from the local runtime's state file, or from the
    `output` of the owning component's stack."""
    if target.local:
        try:
            return local[name]
        except KeyError:
            raise NoLocalRuntime(
                f"the local runtime's state file names no {what}: restart `make run`"
            ) from None
    assert target.prefix is not None
    stack = stack_name(component, target.prefix)
    outputs = stack_outputs(make_client("cloudformation", target.region, None), stack)
    if output not in outputs:
        raise StackNotFound(f"stack {stack!r} has no {output} output")
    return outputs[output]


def find_queue(queues: Queues, name: str) -> QueuePair:
    """A queue by its topology name or its dead-letter queue's name (`orders-dlq`)."""
    if name in queues:
        return queues[name]
    for pair in queues.values():
        if _queue_name(pair.dlq_url) == name:
            return pair
    known = ", ".join(sorted(queues)) or "none"
    raise UnknownQueue(f"no queue {name!r} here: known queues are {known}")


# dlq list ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DlqStatus:
    queue: str
    dlq_url: str
    visible: int
    in_flight: int
    oldest_age_s: float | None  # from CloudWatch; None where it has no data (locally)

    @property
    def messages(self) -> int:
        return self.visible + self.in_flight


def list_dlqs(
    sqs: SQSClient, queues: Queues, cloudwatch: Any = None, *, sample: bool = False
) -> list[DlqStatus]:
    """Every dead-letter queue's approximate depth and, when CloudWatch has it, oldest age;
    with `sample` (locally: moto has no SQS metrics) the age of the oldest of the messages
    received to read their SentTimestamp, which raises their receive counts by one."""
    ages = _oldest_ages(cloudwatch, [pair.dlq_url for pair in queues.values()])
    if sample:
        for pair in queues.values():
            if pair.dlq_url not in ages and (age := sampled_age(sqs, pair.dlq_url)) is not None:
                ages[pair.dlq_url] = age
    statuses = []
    for name, pair in queues.items():
        attributes = sqs.get_queue_attributes(
            QueueUrl=pair.dlq_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        statuses.append(
            DlqStatus(
                queue=name,
                dlq_url=pair.dlq_url,
                visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
                in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                oldest_age_s=ages.get(pair.dlq_url),
            )
        )
    return statuses


def sampled_age(
    sqs: SQSClient, queue_url: str, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> float | None:
    """The age of the oldest of up to STATUS_SAMPLE_MAX messages received (see `peek`)."""
    sent = [m.sent_at for m in peek(sqs, queue_url, STATUS_SAMPLE_MAX) if m.sent_at is not None]
    return (now() - min(sent)).total_seconds() if sent else None


def _oldest_ages(cloudwatch: Any, dlq_urls: list[str]) -> dict[str, float]:
    """SQS's ApproximateAgeOfOldestMessage metric (any queues' URLs), latest datapoint of the
    last 15 minutes."""
    if cloudwatch is None or not dlq_urls:
        return {}
    now = datetime.now(UTC)
    queries = [
        {
            "Id": f"q{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SQS",
                    "MetricName": "ApproximateAgeOfOldestMessage",
                    "Dimensions": [{"Name": "QueueName", "Value": _queue_name(url)}],
                },
                "Period": 60,
                "Stat": "Maximum",
            },
        }
        for index, url in enumerate(dlq_urls)
    ]
    results = _metric_data(
        cloudwatch, queries, now - timedelta(minutes=15), now, ScanBy="TimestampDescending"
    )
    by_id = {result["Id"]: result.get("Values", []) for result in results}
    return {
        url: float(by_id[f"q{index}"][0])
        for index, url in enumerate(dlq_urls)
        if by_id.get(f"q{index}")
    }


def _metric_data(
    cloudwatch: Any, queries: list[dict[str, Any]], start: datetime, end: datetime, **extra: str
) -> list[dict[str, Any]]:
    """GetMetricData's results; none without cloudwatch:GetMetricData (the figures are a
    nicety: an operator without that permission still gets the rest)."""
    try:
        results: list[dict[str, Any]] = cloudwatch.get_metric_data(
            MetricDataQueries=queries, StartTime=start, EndTime=end, **extra
        )["MetricDataResults"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in (
            "AccessDenied",
            "AccessDeniedException",
        ):
            raise
        return []
    return results


# dlq show ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receive_count: int  # includes this look
    sent_at: datetime | None
    body: str
    attributes: dict[str, str]  # message attributes: the failure context; binary as base64

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "receiveCount": self.receive_count,
            "sentAt": _iso(self.sent_at) if self.sent_at else None,
            "attributes": self.attributes,
            "body": self.body,
        }


def peek(
    sqs: SQSClient,
    dlq_url: str,
    max_messages: int = 10,
    *,
    hold_s: int = PEEK_HOLD_S,
    wait_s: int = 1,
) -> list[DeadLetter]:
    """Up to `max_messages` messages, left in the queue and visible again when this returns.

    Each is received with a short visibility timeout (so a crash here hides them for `hold_s` at
    most) and released at once afterwards. Stops at what was visible at the start, so that it
    does not wait out a last empty receive.
    """
    wanted = min(max_messages, _visible(sqs, dlq_url))
    seen: dict[str, DeadLetter] = {}
    handles: list[str] = []
    try:
        while len(seen) < wanted:
            messages = _receive(
                sqs, dlq_url, min(SQS_BATCH_MAX, wanted - len(seen)), hold_s, wait_s
            )
            if not messages:
                break
            for message in messages:
                handles.append(message["ReceiptHandle"])
                seen.setdefault(message["MessageId"], _dead_letter(message))
    finally:
        _release(sqs, dlq_url, handles)
    return list(seen.values())


def _release(sqs: SQSClient, queue_url: str, handles: list[str]) -> None:
    # A handle that fails to release (it expired) only means its message reappears after hold_s.
    for start in range(0, len(handles), SQS_BATCH_MAX):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(handles[start : start + SQS_BATCH_MAX])
            ],
        )


def _dead_letter(message: MessageTypeDef) -> DeadLetter:
    system = message.get("Attributes", {})
    sent = system.get("SentTimestamp")
    return DeadLetter(
        message_id=message["MessageId"],
        receive_count=int(system.get("ApproximateReceiveCount", 0)),
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        body=message.get("Body", ""),
        attributes={
            name: _attribute_text(value)
            for name, value in sorted(message.get("MessageAttributes", {}).items())
        },
    )


def _attribute_text(value: MessageAttributeValueOutputTypeDef) -> str:
    if "StringValue" in value:
        return value["StringValue"]
    return base64.b64encode(value.get("BinaryValue", b"")).decode()


# dlq redrive ---------------------------------------------------------------------------------


@dataclass
class Redrive:
    method: Literal["move-task", "receive-send-delete"]
    task_handle: str | None = None  # of the StartMessageMoveTask
    moved: int = 0  # sent to the source queue and deleted from the DLQ
    unsent: list[str] = field(default_factory=list)  # still in the DLQ: why each failed
    undeleted: list[str] = field(default_factory=list)  # sent but still in the DLQ too


def redrive(
    sqs: SQSClient,
    pair: QueuePair,
    *,
    rate: int | None = None,
    max_messages: int | None = None,
    hold_s: int = MOVE_HOLD_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Redrive:
    """Move dead letters back to their source queue.

    With SQS's StartMessageMoveTask where the endpoint has it and no `max_messages` is asked
    for (the task moves everything); otherwise by receive, send, delete (`move_messages`).
    """
    if max_messages is None:
        try:
            return Redrive("move-task", task_handle=start_move_task(sqs, pair, rate))
        except NotImplementedError:  # moto in process (mock_aws)
            pass
        except ClientError as error:
            if not action_missing(error):
                raise
    return move_messages(
        sqs, pair, rate=rate, max_messages=max_messages, hold_s=hold_s, sleep=sleep, clock=clock
    )


def start_move_task(sqs: SQSClient, pair: QueuePair, rate: int | None = None) -> str:
    """Start SQS's own redrive from the DLQ to its source; returns the task handle."""
    source_arn, dlq_arn = _queue_arn(sqs, pair.source_url), _queue_arn(sqs, pair.dlq_url)
    if rate is None:  # SQS picks its own pace
        answer = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=source_arn)
    else:
        answer = sqs.start_message_move_task(
            SourceArn=dlq_arn, DestinationArn=source_arn, MaxNumberOfMessagesPerSecond=rate
        )
    return answer["TaskHandle"]


def action_missing(error: ClientError) -> bool:
    """The endpoint lacks the action (as opposed to refusing this request)."""
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    # moto's server raises NotImplementedError: an HTML 500 that botocore codes "500" (AWS's own
    # 500s parse to InternalError); other emulators answer 501 or one of the codes above.
    return code in ACTION_MISSING_CODES or status == 501 or (status == 500 and code == "500")


def move_messages(
    sqs: SQSClient,
    pair: QueuePair,
    *,
    rate: int | None = None,
    max_messages: int | None = None,
    hold_s: int = MOVE_HOLD_S,
    wait_s: int = 1,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Redrive:
    """Receive a batch from the DLQ, send it to the source, delete from the DLQ what was sent.

    An interruption between send and delete leaves a message in both queues (delivered twice:
    consumers are idempotent), never in neither. Without `max_messages`, moves as many messages
    as were visible at the start, so messages that fail again and come back are not moved twice.
    """
    result = Redrive("receive-send-delete")
    limit = max_messages if max_messages is not None else _visible(sqs, pair.dlq_url)
    handled = 0
    started = clock()
    while handled < limit:
        wanted = min(SQS_BATCH_MAX, limit - handled, rate or SQS_BATCH_MAX)
        if rate:  # the next batch is due when the messages handled so far fit the rate
            delay = started + handled / rate - clock()
            if delay > 0:
                sleep(delay)
        messages = _receive(sqs, pair.dlq_url, wanted, hold_s, wait_s)
        if not messages:
            break
        handled += len(messages)
        sent = _send(sqs, pair.source_url, messages, result)
        _delete(sqs, pair.dlq_url, sent, result)
    return result


def _receive(sqs: Any, url: str, count: int, hold_s: int, wait_s: int) -> list[Any]:
    """Up to `count` messages with every attribute, hidden from others for `hold_s`."""
    messages: list[Any] = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=count,
        VisibilityTimeout=hold_s,
        WaitTimeSeconds=wait_s,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return messages


def _send(
    sqs: SQSClient, queue_url: str, messages: list[MessageTypeDef], result: Redrive
) -> list[MessageTypeDef]:
    """Send `messages` to `queue_url`, keeping body and attributes; returns those that were sent."""
    sent: list[MessageTypeDef] = []
    for chunk in _chunks_by_size(messages):
        entries = {str(index): message for index, message in enumerate(chunk)}
        answer = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[_resend_entry(entry_id, message) for entry_id, message in entries.items()],
        )
        sent += [entries[ok["Id"]] for ok in answer.get("Successful", [])]
        result.unsent += [
            f"{entries[failed['Id']]['MessageId']}: {failed['Code']} {failed.get('Message', '')}"
            for failed in answer.get("Failed", [])
        ]
    return sent


def _delete(
    sqs: SQSClient, queue_url: str, messages: list[MessageTypeDef], result: Redrive
) -> None:
    for start in range(0, len(messages), SQS_BATCH_MAX):
        batch = {str(i): m for i, m in enumerate(messages[start : start + SQS_BATCH_MAX])}
        answer = sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in batch.items()],
        )
        result.moved += len(answer.get("Successful", []))
        result.undeleted += [
            f"{batch[failed['Id']]['MessageId']}: {failed['Code']} {failed.get('Message', '')}"
            for failed in answer.get("Failed", [])
        ]


def _resend_entry(entry_id: str, message: MessageTypeDef) -> SendMessageBatchRequestEntryTypeDef:
    entry: SendMessageBatchRequestEntryTypeDef = {"Id": entry_id, "MessageBody": message["Body"]}
    attributes = {
        name: _attribute_copy(value) for name, value in message.get("MessageAttributes", {}).items()
    }
    if attributes:
        entry["MessageAttributes"] = attributes
    trace = message.get("Attributes", {}).get("AWSTraceHeader")
    if trace:
        entry["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": trace}
        }
    return entry


def _attribute_copy(value: MessageAttributeValueOutputTypeDef) -> MessageAttributeValueTypeDef:
    copy: MessageAttributeValueTypeDef = {"DataType": value["DataType"]}
    if "StringValue" in value:
        copy["StringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        copy["BinaryValue"] = value["BinaryValue"]
    return copy


def _chunks_by_size(messages: list[MessageTypeDef]) -> list[list[MessageTypeDef]]:
    """Split so that no SendMessageBatch exceeds SQS's total payload limit."""
    chunks: list[list[MessageTypeDef]] = [[]]
    size = 0
    for message in messages:
        message_size = _size(message)
        if chunks[-1] and size + message_size > SQS_BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(message)
        size += message_size
    return [chunk for chunk in chunks if chunk]


def _size(message: MessageTypeDef) -> int:
    size = len(message.get("Body", "").encode())
    for name, value in message.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value["DataType"].encode())
        size += len(value.get("StringValue", "").encode()) + len(value.get("BinaryValue", b""))
    return size


def _visible(sqs: SQSClient, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0))


def _queue_arn(sqs: SQSClient, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def _queue_name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


# status --------------------------------------------------------------------------------------

RECENT_FAILURES_HOURS = 1
OldestSource = Literal["cloudwatch", "sampled", "unavailable"]


@dataclass(frozen=True)
class QueueState:
    queue: str  # the topology's name: `orders`, or its DLQ's, `orders-dlq`
    url: str
    dead_letters: bool
    visible: int
    in_flight: int
    delayed: int
    oldest_age_s: float | None
    oldest_from: OldestSource

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "url": self.url,
            "deadLetterQueue": self.dead_letters,
            "visible": self.visible,
            "inFlight": self.in_flight,
            "delayed": self.delayed,
            "oldestAgeSeconds": self.oldest_age_s,
            "oldestFrom": self.oldest_from,
        }


@dataclass
class Status:
    queues: list[QueueState]
    # local: dead letters sampled (newest first); AWS: function -> (errors, throttles) last hour
    recent_dead_letters: list[tuple[str, DeadLetter]] = field(default_factory=list)
    function_failures: dict[str, tuple[int, int]] = field(default_factory=dict)


def status(
    sqs: SQSClient,
    queues: Queues,
    *,
    cloudwatch: Any = None,
    functions: Mapping[str, str] | None = None,
    sample_dead_letters: bool = False,
    topology: Topology = TOPOLOGY,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Status:
    """Every queue and DLQ: visible, in flight, delayed, the oldest message's age.

    The age comes from CloudWatch (AWS) when `cloudwatch` is given. With
    `sample_dead_letters` (locally, where there is no CloudWatch) each DLQ's messages are
    received to read their SentTimestamp, which raises their receive count (harmless on a DLQ,
    which has no redrive policy); a live queue is never sampled: the receive count would move
    its messages toward the DLQ and the consumer would race the look.
    `functions` (topology name -> deployed name) asks CloudWatch for their recent errors.
    """
    urls = [(name, pair.source_url, False) for name, pair in queues.items()] + [
        (_dlq_name(topology, name), pair.dlq_url, True) for name, pair in queues.items()
    ]
    ages = _oldest_ages(cloudwatch, [url for _, url, _ in urls])
    result = Status(queues=[])
    for name, url, dead in urls:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        age: float | None = ages.get(url)
        source: OldestSource = "cloudwatch" if age is not None else "unavailable"
        if age is None and dead and sample_dead_letters:
            letters = peek(sqs, url, STATUS_SAMPLE_MAX)
            sent = [letter.sent_at for letter in letters if letter.sent_at is not None]
            if sent:
                age, source = (now() - min(sent)).total_seconds(), "sampled"
            result.recent_dead_letters += [(name, letter) for letter in letters]
        result.queues.append(
            QueueState(
                queue=name,
                url=url,
                dead_letters=dead,
                visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
                in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
                oldest_age_s=age,
                oldest_from=source,
            )
        )
    epoch = datetime.fromtimestamp(0, UTC)
    result.recent_dead_letters.sort(key=lambda entry: entry[1].sent_at or epoch, reverse=True)
    if cloudwatch is not None and functions:
        result.function_failures = _function_failures(cloudwatch, functions, now())
    return result


def _dlq_name(topology: Topology, queue: str) -> str:
    try:
        return topology.queue(queue).dlq_name
    except KeyError:
        return f"{queue}-dlq"


def _function_failures(
    cloudwatch: Any, functions: Mapping[str, str], now: datetime
) -> dict[str, tuple[int, int]]:
    """Each function's Errors and Throttles summed over the last hour."""
    names = list(functions)
    queries = [
        {
            "Id": f"{metric[0].lower()}{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "FunctionName", "Value": functions[name]}],
                },
                "Period": RECENT_FAILURES_HOURS * 3600,
                "Stat": "Sum",
            },
        }
        for index, name in enumerate(names)
        for metric in ("Errors", "Throttles")
    ]
    results = _metric_data(cloudwatch, queries, now - timedelta(hours=RECENT_FAILURES_HOURS), now)
    values = {r["Id"]: int(sum(r.get("Values", []))) for r in results}
    return {
        name: (values.get(f"e{index}", 0), values.get(f"t{index}", 0))
        for index, name in enumerate(names)
    }


# The command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, *, make_client: ClientFactory | None = None) -> int:
    """`orders-ops`; returns the exit code. `make_client` replaces boto3 (tests stub clients)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        _check_target_options(parser, args)
    except SystemExit as exit_:  # --help, or a usage error already printed by argparse
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    make_client = make_client or _boto3_client
    try:
        target = _target(args, make_client)
        sqs = cast("SQSClient", make_client("sqs", target.region, target.endpoint_url))
        command: Callable[[argparse.Namespace, Target, SQSClient, ClientFactory], int]
        command = args.command
        return command(args, target, sqs, make_client)
    except OpsError as error:
        _error(str(error))
        return error.exit_code
    except EndpointConnectionError as error:
        hint = " is `make run` running?" if vars(args).get("stack") is None else ""
        _error(f"cannot reach {error.kwargs.get('endpoint_url', 'the endpoint')}:{hint}")
        return EXIT_FAILED
    except NoCredentialsError:
        _error("no AWS credentials: set AWS_PROFILE or run `aws configure` / `aws sso login`")
        return EXIT_FAILED
    except NoRegionError:
        _error("no AWS region: pass --region or set AWS_REGION")
        return EXIT_FAILED
    except ClientError as error:
        details = error.response.get("Error", {})
        _error(f"{error.operation_name}: {details.get('Code')}: {details.get('Message', '')}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error(
            "interrupted. Nothing is lost: a message sent but not yet deleted is in both queues"
            " and will be delivered twice (consumers are idempotent)."
        )
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    # Target options are accepted before or after the command; SUPPRESS keeps a subcommand's
    # absent option from overwriting one given earlier.
    targets = argparse.ArgumentParser(add_help=False)
    group = targets.add_argument_group("target (one is required)")
    group.add_argument(
        "--local",
        action="store_true",
        default=argparse.SUPPRESS,
        help=f"the runtime `make run` started ({DEFAULT_STATE_FILE.parent.name}/"
        f"{DEFAULT_STATE_FILE.name})",
    )
    group.add_argument(
        "--state-file",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="a local runtime described by this file",
    )
    group.add_argument(
        "--stack",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help=f"a deployed stage: its stack prefix ({DEFAULT_PREFIX}, AsyncOrders-dev) or its "
        "messaging stack",
    )
    group.add_argument(
        "--region", default=argparse.SUPPRESS, help="the stack's region (default: AWS config)"
    )

    parser = argparse.ArgumentParser(
        prog="orders-ops",
        description="See the order system's queues, inspect and redrive its dead letters, "
        "load its catalog.",
        parents=[targets],
    )
    areas = parser.add_subparsers(
        dest="area",
        required=True,
        title="commands",
        metavar="{status,dlq,catalog,invoke,webhook-keys}",
    )
    state = areas.add_parser(
        "status",
        help="every queue and DLQ: visible, in flight, delayed, oldest; recent failures",
        parents=[targets],
    )
    _reports(state, _status_command)
    dlq = areas.add_parser("dlq", help="dead-letter queues", parents=[targets])
    commands = dlq.add_subparsers(dest="action", required=True)

    listing = commands.add_parser(
        "list", help="each DLQ, its source queue and depth", parents=[targets]
    )
    _reports(listing, _list_command)

    show = commands.add_parser(
        "show",
        help="sample messages; SQS has no peek: each sampled message's receive count goes up by "
        "one (it stays in the DLQ)",
        parents=[targets],
    )
    show.add_argument("queue", metavar="QUEUE", help="queue name, e.g. orders or orders-dlq")
    show.add_argument("--max", type=_positive, default=10, metavar="N", help="at most N (10)")
    show.add_argument("--json", action="store_true", help="machine-readable output, whole bodies")
    show.set_defaults(command=_show_command)

    move = commands.add_parser(
        "redrive", help="move messages back to their source queue", parents=[targets]
    )
    move.add_argument("queue", metavar="QUEUE", help="queue name, e.g. orders or orders-dlq")
    move.add_argument(
        "--rate",
        type=_positive,
        metavar="N",
        help=f"at most N messages per second (1..{MOVE_TASK_MAX_RATE}; default: SQS's pace)",
    )
    move.add_argument(
        "--max",
        type=_positive,
        metavar="M",
        help="move at most M messages (done client-side: SQS's move task moves everything)",
    )
    move.set_defaults(command=_redrive_command)

    products = areas.add_parser("catalog", help="the products table", parents=[targets])
    catalog_commands = products.add_subparsers(dest="action", required=True)
    load = catalog_commands.add_parser(
        "load",
        help="upsert products by SKU from a JSON file (an existing stock is kept)",
        parents=[targets],
    )
    load.add_argument("file", type=Path, metavar="FILE", help="e.g. infra/sample_catalog.json")
    load.add_argument(
        "--reset-stock",
        action="store_true",
        help="also overwrite the stock of products already in the table with the file's",
    )
    load.set_defaults(command=_catalog_load_command)
    listed = catalog_commands.add_parser("show", help="every product", parents=[targets])
    _reports(listed, _catalog_show_command)
    once = areas.add_parser(
        "invoke",
        help="run one function once on an event file, as the local runtime does (--local only)",
        parents=[targets],
    )
    once.add_argument("function", help="a topology function name, e.g. order-worker")
    once.add_argument("event_file", type=Path, help="an event, e.g. events/samples/sqs/orders.json")
    once.set_defaults(command=_invoke_command)

    keys = areas.add_parser(
        "webhook-keys",
        help="the webhook signing keys: list, add (start a rotation), remove (end it)",
        parents=[targets],
    )
    key_commands = keys.add_subparsers(dest="action", required=True)
    key_list = key_commands.add_parser(
        "list", help="each key, newest first: id, signature, public key", parents=[targets]
    )
    _reports(key_list, _keys_list_command)
    key_add = key_commands.add_parser(
        "add",
        help="a new key, signing beside the others (prints what receivers need)",
        parents=[targets],
    )
    kind = key_add.add_mutually_exclusive_group(required=True)
    kind.add_argument(
        "--ed25519",
        dest="kind",
        action="store_const",
        const="ed25519",
        help="an ed25519 key: v1a signatures, verified with its public key",
    )
    kind.add_argument(
        "--hmac",
        dest="kind",
        action="store_const",
        const="hmac",
        help="an HMAC key: v1 signatures, verified with the key itself",
    )
    key_add.set_defaults(command=_keys_add_command)
    key_remove = key_commands.add_parser(
        "remove", help="stop signing with a key (the last one stays)", parents=[targets]
    )
    key_remove.add_argument("key_id", metavar="KEY_ID", help="its id, from `webhook-keys list`")
    key_remove.set_defaults(command=_keys_remove_command)
    return parser


def _keys_list_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    from infra.tools import webhook_keys

    secretsmanager = make_client("secretsmanager", target.region, target.endpoint_url)
    found = webhook_keys.listed(secretsmanager, signing_secret(target, make_client))
    if args.json:
        print(json.dumps([key.to_json() for key in found], indent=2))
        return EXIT_OK
    print(f"{'ID':<12}  {'SIGNS':<7}  VERIFY WITH (newest key first)")
    for key in found:
        verify_with = {
            "v1": "the key itself (HMAC)",
            "invalid": "nothing: it cannot sign, remove it",
        }
        print(f"{key.key_id:<12}  {key.version:<7}  {key.public_key or verify_with[key.version]}")
    return EXIT_OK


def _keys_add_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    from infra.tools import webhook_keys

    secretsmanager = make_client("secretsmanager", target.region, target.endpoint_url)
    key, added = webhook_keys.add(secretsmanager, signing_secret(target, make_client), args.kind)
    print(f"Added key {added.key_id} ({added.version}) to {target.description}.")
    if added.public_key:
        print(f"Receivers verify its v1a signatures with the public key:\n  {added.public_key}")
    else:
        print(f"Receivers verify its v1 signatures with the key, shown this once:\n  {key}")
    print(
        f"Notifiers sign with it within {webhook_keys.NOTIFIER_CACHE_MINUTES} minutes. When every"
        " receiver has it, remove the key it replaces: `orders-ops webhook-keys remove KEY_ID`."
    )
    return EXIT_OK


def _keys_remove_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    from infra.tools import webhook_keys

    secretsmanager = make_client("secretsmanager", target.region, target.endpoint_url)
    try:
        gone = webhook_keys.remove(secretsmanager, signing_secret(target, make_client), args.key_id)
    except webhook_keys.RefusedChange as refused:
        raise UsageError(str(refused)) from None
    print(
        f"Removed key {gone.key_id} ({gone.version}) from {target.description}: notifiers stop"
        f" signing with it within {webhook_keys.NOTIFIER_CACHE_MINUTES} minutes."
    )
    return EXIT_OK


def _invoke_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    if not target.local:
        raise OpsError("invoke runs functions locally; on AWS use `aws lambda invoke`")
    from infra.tools import invoke  # the local runtime's Lambda host: only for this command

    path = vars(args).get("state_file") or state_file()
    return invoke.run(json.loads(Path(path).read_text()), args.function, args.event_file)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _reports(parser: argparse.ArgumentParser, command: Callable[..., int]) -> None:
    """A command that prints a report: a table, or with --json the same as JSON."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(command=command)


def _check_target_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    options = vars(args)
    local = options.get("local", False) or "state_file" in options
    if "stack" in options and local:
        parser.error("--stack and --local/--state-file are exclusive: choose one target")
    if "stack" not in options and not local:
        parser.error("choose a target: --local, --state-file PATH or --stack NAME")
    if "region" in options and "stack" not in options:
        parser.error("--region applies to --stack (the local runtime has its own)")
    if (options.get("rate") or 0) > MOVE_TASK_MAX_RATE:
        parser.error(f"--rate must be at most {MOVE_TASK_MAX_RATE} (SQS's limit)")


def _target(args: argparse.Namespace, make_client: ClientFactory) -> Target:
    options = vars(args)
    if "stack" not in options:
        return local_target(options.get("state_file") or state_file())
    region = options.get("region")
    queues = stack_queues(make_client("cloudformation", region, None), args.stack)
    where = f" in {region}" if region else ""
    return Target(
        dict(queues),
        region,
        None,
        f"stack {messaging_stack(args.stack)}{where}",
        prefix=stage_prefix(args.stack),
    )


def _boto3_client(service: str, region: str | None, endpoint_url: str | None) -> Any:
    if endpoint_url is None:  # AWS: the default credential chain
        return boto3.client(service, region_name=region)  # type: ignore[call-overload]
    return boto3.client(  # type: ignore[call-overload]
        service, region_name=region, endpoint_url=endpoint_url, **LOCAL_CREDENTIALS
    )


def _list_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    cloudwatch = None if target.local else make_client("cloudwatch", target.region, None)
    statuses = list_dlqs(sqs, target.queues, cloudwatch, sample=target.local)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "queue": status.queue,
                        "deadLetterQueue": _queue_name(status.dlq_url),
                        "deadLetterQueueUrl": status.dlq_url,
                        "messages": status.messages,
                        "visible": status.visible,
                        "inFlight": status.in_flight,
                        "oldestAgeSeconds": status.oldest_age_s,
                    }
                    for status in statuses
                ],
                indent=2,
            )
        )
        return EXIT_OK
    rows = [("QUEUE", "DEAD-LETTER QUEUE", "MESSAGES", "IN FLIGHT", "OLDEST")] + [
        (
            status.queue,
            _queue_name(status.dlq_url),
            str(status.messages),
            str(status.in_flight),
            _duration(status.oldest_age_s) if status.oldest_age_s is not None else "-",
        )
        for status in statuses
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    print(f"Dead-letter queues of {target.description}:")
    for row in rows:
        left = [cell.ljust(width) for cell, width in zip(row[:2], widths[:2], strict=True)]
        right = [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        print("  ".join(left + right).rstrip())
    if target.local:
        print(
            "OLDEST is sampled locally (moto has no CloudWatch metrics): the messages were"
            " received to read their age, which raised their receive counts by one."
        )
    return EXIT_OK


def _show_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    pair = find_queue(target.queues, args.queue)
    letters = peek(sqs, pair.dlq_url, args.max)
    if args.json:
        print(json.dumps([letter.to_json() for letter in letters], indent=2))
        return EXIT_OK
    dlq_name = _queue_name(pair.dlq_url)
    if not letters:
        print(f"{dlq_name} is empty.")
        return EXIT_OK
    print(
        f"{dlq_name}: {len(letters)} message(s) sampled. They stay in the queue, but SQS has no"
        " read that leaves a message untouched: receiving them raised each one's receive count"
        " by one (the count shown includes this look)."
    )
    for number, letter in enumerate(letters, 1):
        sent = _iso(letter.sent_at) if letter.sent_at else "?"
        print(f"\n#{number}  id {letter.message_id}  receives {letter.receive_count}  sent {sent}")
        width = max((len(name) for name in letter.attributes), default=0)
        for name, value in letter.attributes.items():
            print(f"    {name.ljust(width)}  {value}")
        print("    body:")
        for line in _preview(letter.body).splitlines():
            print(f"      {line}")
    return EXIT_OK


def _redrive_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    pair = find_queue(target.queues, args.queue)
    source, dlq_name = _queue_name(pair.source_url), _queue_name(pair.dlq_url)
    result = redrive(sqs, pair, rate=args.rate, max_messages=args.max)
    if result.method == "move-task":
        pace = f"at most {args.rate} messages/s" if args.rate else "at SQS's pace"
        print(f"Started a message move task {dlq_name} -> {source} ({pace}).")
        print(f"Task handle: {result.task_handle}")
        print("Follow it with: aws sqs list-message-move-tasks --source-arn <the DLQ's ARN>")
        return EXIT_OK
    why = "--max asked for" if args.max else "StartMessageMoveTask is not available here"
    print(f"{why}: moved by receive, send and delete.")
    print(f"Moved {result.moved} message(s) from {dlq_name} to {source}.")
    if result.unsent:
        print(f"{len(result.unsent)} could not be sent and stay in {dlq_name}:")
        for line in result.unsent:
            print(f"  {line}")
    if result.undeleted:
        print(
            f"{len(result.undeleted)} were sent but not deleted from {dlq_name}: another redrive"
            " would deliver them twice (consumers are idempotent):"
        )
        for line in result.undeleted:
            print(f"  {line}")
    return EXIT_FAILED if result.unsent or result.undeleted else EXIT_OK


def _status_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    cloudwatch = None if target.local else make_client("cloudwatch", target.region, None)
    functions = (
        {f.name: function_name(f.name, target.prefix) for f in TOPOLOGY.functions}
        if target.prefix
        else None
    )
    result = status(
        sqs,
        target.queues,
        cloudwatch=cloudwatch,
        functions=functions,
        sample_dead_letters=target.local,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "queues": [state.to_json() for state in result.queues],
                    "recentDeadLetters": [
                        {"deadLetterQueue": name} | letter.to_json()
                        for name, letter in result.recent_dead_letters
                    ],
                    "functionFailures": {
                        name: {"errors": errors, "throttles": throttles}
                        for name, (errors, throttles) in result.function_failures.items()
                    },
                },
                indent=2,
            )
        )
        return EXIT_OK
    marks = {"cloudwatch": "", "sampled": " *", "unavailable": ""}
    rows = [("QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED", "OLDEST")] + [
        (
            state.queue,
            str(state.visible),
            str(state.in_flight),
            str(state.delayed),
            (_duration(state.oldest_age_s) if state.oldest_age_s is not None else "n/a")
            + marks[state.oldest_from],
        )
        for state in result.queues
    ]
    print(f"Queues of {target.description}:")
    _table(rows)
    dead = sum(state.visible + state.in_flight for state in result.queues if state.dead_letters)
    print(f"\nDead letters: {dead}")
    if target.local:
        sampled = any(state.oldest_from == "sampled" for state in result.queues)
        print(
            "OLDEST: n/a for a live queue locally (moto has no CloudWatch metrics, and reading a"
            " message means receiving it, which raises its receive count toward the DLQ)"
            + (
                ";\n  * sampled: the DLQ's messages were received to read their age, which"
                " raised their receive counts by one."
                if sampled
                else "."
            )
        )
        if result.recent_dead_letters:
            print("\nRecent failures (newest dead letters):")
            for name, letter in result.recent_dead_letters[:5]:
                reason = letter.attributes.get("failureReason", "redriven after its receives")
                sent = _iso(letter.sent_at) if letter.sent_at else "?"
                print(f"  {name}  {letter.message_id}  sent {sent}  {reason}")
        return EXIT_OK
    print(f"\nRecent failures (Lambda, last {RECENT_FAILURES_HOURS} h):")
    if not result.function_failures:
        print("  none known (no data, or no cloudwatch:GetMetricData)")
    for name, (errors, throttles) in result.function_failures.items():
        print(f"  {name}: {errors} error(s), {throttles} throttle(s)")
    return EXIT_OK


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())


def _catalog_load_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    try:
        products = catalog.read_catalog(args.file)
    except catalog.CatalogError as error:
        raise UsageError(str(error)) from None
    table = products_table(target, make_client)
    dynamodb = make_client("dynamodb", target.region, target.endpoint_url)
    result = catalog.load(dynamodb, table, products, reset_stock=args.reset_stock)
    print(
        f"Loaded {len(products)} product(s) into {table} ({target.description}): "
        f"{len(result.created)} new, {len(result.updated)} updated."
    )
    for sku, (kept, wanted) in result.stock_kept.items():
        print(f"  {sku}: stock kept at {kept} (the file says {wanted}; --reset-stock sets it)")
    for sku, (was, now) in result.stock_reset.items():
        print(f"  {sku}: stock reset from {was} to {now}")
    return EXIT_OK


def _catalog_show_command(
    args: argparse.Namespace, target: Target, sqs: SQSClient, make_client: ClientFactory
) -> int:
    table = products_table(target, make_client)
    products = catalog.products_in(
        make_client("dynamodb", target.region, target.endpoint_url), table
    )
    if args.json:
        print(json.dumps(products, indent=2))
        return EXIT_OK
    if not products:
        print(f"{table} is empty: load a catalog with `orders-ops catalog load FILE`.")
        return EXIT_OK
    rows = [("SKU", "PRICE", "AVAILABLE", "NAME")] + [
        (
            p["sku"],
            f"{p['unitPrice']['amount'] / 100:.2f} {p['unitPrice']['currency']}",
            str(p["available"]),
            p["name"],
        )
        for p in products
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print(
            f"{row[0].ljust(widths[0])}  {row[1].rjust(widths[1])}  {row[2].rjust(widths[2])}  {row[3]}"
        )
    return EXIT_OK


def _preview(body: str) -> str:
    try:
        text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        text = body
    if len(text) <= BODY_PREVIEW_CHARS:
        return text
    return f"{text[:BODY_PREVIEW_CHARS]}\n... ({len(text) - BODY_PREVIEW_CHARS} more characters)"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _error(message: str) -> None:
    print(f"orders-ops: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
