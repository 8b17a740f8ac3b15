"""An SQS event source mapping that behaves as Lambda's does
(https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).

Pollers (one per unit of maximum concurrency) long-poll the queue, hand the function batches of
real SQS event records, and delete what succeeded. Records reported in `batchItemFailures`
stay in flight and reappear after the visibility timeout; when the invocation fails as a whole
(an error, a timeout, a crash, a result Lambda cannot marshal, or a malformed response) nothing
is deleted (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).
Redrive to the dead-letter queue is the queue's own (moto applies `maxReceiveCount` on receive).

Batches are gathered as Lambda gathers them
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#sqs-polling-behavior):
until the batch size, the batching window or the 6 MB invocation payload is reached, whichever
comes first. While the window is open the poller waits in SQS long polls (or sleeps out the last
fraction of a second), never polling in a loop. Messages that would take the event over 6 MB
stay with the poller, still in flight, and open the next batch.

FIFO queues: records of one message group reach the function in order, and when a record fails
the mapping keeps every later record of its group in the batch too, so the group is retried from
the failure on and never out of order ("stop processing after the first failure", in the page on
error handling above). A standard queue's records carry a `MessageGroupId` when the producer set
one (fair queues,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-fair-queues.html).
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from infra.local.lambda_runtime import PAYLOAD_LIMIT_BYTES, InvocationError, LocalFunction
from infra.topology import EventSource

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

POLL_WAIT_S = 1  # Lambda long-polls for up to 20 s; 1 s keeps local shutdown quick
SQS_RECEIVE_MAX = 10


class SqsEventSourceMapping:
    def __init__(
        self,
        function: LocalFunction,
        source: EventSource,
        sqs: SQSClient,
        queue_url: str,
        queue_arn: str,
        region: str,
        log: Any,
        fifo: bool = False,
    ) -> None:
        self.function = function
        self.source = source
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._log = log
        self.fifo = fifo
        self.receive_calls = 0  # ReceiveMessage requests made (tests check there is no busy loop)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._poll, name=f"{function.config.name}-poller-{i}", daemon=True
            )
            for i in range(source.max_concurrency)
        ]
        self._in_flight = 0
        self._counter_lock = threading.Lock()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=POLL_WAIT_S + self.function.config.timeout_s + 5)

    @property
    def busy(self) -> bool:
        return self._in_flight > 0

    def _poll(self) -> None:
        carried: list[MessageTypeDef] = []  # received, in flight, over the last batch's 6 MB
        while not self._stop.is_set():
            try:
                gathered = self._receive_batch(carried)
            except Exception as error:  # the queue is unreachable: back off like Lambda's poller
                if not self._stop.is_set():
                    self._log(f"receive failed: {error}")
                self._stop.wait(1.0)
                continue
            messages, carried = _fit(gathered, self._record)
            if not messages:
                continue
            with self._counter_lock:
                self._in_flight += 1
            try:
                self._deliver(messages)
            except (
                Exception
            ) as error:  # Lambda's pollers survive anything; undeleted messages return
                self._log(f"delivering a batch failed: {error!r}")
            finally:
                with self._counter_lock:
                    self._in_flight -= 1

    def _receive_batch(self, carried: list[MessageTypeDef]) -> list[MessageTypeDef]:
        """Up to batch_size messages (and 6 MB), gathering for at most the batching window,
        which opens with the first message. Every wait is a long poll or a sleep."""
        batch = list(carried)
        size = sum(_record_size(self._record(m)) for m in batch)
        window_ends = time.monotonic() + self.source.max_batching_window_s
        while (
            len(batch) < self.source.batch_size
            and size <= PAYLOAD_LIMIT_BYTES
            and not self._stop.is_set()
        ):
            last_look = False
            if not batch:
                wait_s = POLL_WAIT_S
            else:
                remaining = window_ends - time.monotonic()
                if remaining <= 0:
                    break
                if remaining < 1:  # long polls wait whole seconds: sleep out the fraction
                    self._stop.wait(remaining)
                    wait_s, last_look = 0, True
                else:
                    wait_s = min(20, math.floor(remaining))
            self.receive_calls += 1
            received = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self.source.batch_size - len(batch)),
                WaitTimeSeconds=wait_s,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if received and not batch:
                window_ends = time.monotonic() + self.source.max_batching_window_s
            batch += received
            size += sum(_record_size(self._record(m)) for m in received)
            if not batch or last_look:
                break
        return batch

    def _deliver(self, messages: list[MessageTypeDef]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        try:
            response = self.function.invoke(event)
        except InvocationError as error:
            self._log(
                f"batch of {len(messages)} failed, all retried after visibility timeout: {error}"
            )
            return
        failed = _failed_ids(response, {m["MessageId"] for m in messages})
        if failed is None:
            self._log("malformed batch response: the whole batch will be retried")
            return
        if self.fifo and failed:
            failed = _with_rest_of_group(messages, failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), SQS_RECEIVE_MAX):
            chunk = done[start : start + SQS_RECEIVE_MAX]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )

    def _record(self, message: MessageTypeDef) -> dict[str, Any]:
        """The record exactly as Lambda builds it from a received message."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }


def _record_size(record: dict[str, Any]) -> int:
    return len(json.dumps(record).encode()) + 2  # with its separator in the Records list


def _fit(
    messages: list[MessageTypeDef], record: Any
) -> tuple[list[MessageTypeDef], list[MessageTypeDef]]:
    """The longest leading run of messages whose event fits Lambda's 6 MB, and the rest."""
    size = len(b'{"Records": []}')
    for index, message in enumerate(messages):
        size += _record_size(record(message))
        if size > PAYLOAD_LIMIT_BYTES and index > 0:
            return messages[:index], messages[index:]
    return messages, []


def _with_rest_of_group(messages: list[MessageTypeDef], failed: set[str]) -> set[str]:
    """FIFO: a failed record and every later record of its message group stay in the queue."""
    stopped: set[str] = set()
    kept = set(failed)
    for message in messages:
        group = message.get("Attributes", {}).get("MessageGroupId", "")
        if group in stopped:
            kept.add(message["MessageId"])
        elif message["MessageId"] in failed:
            stopped.add(group)
    return kept


def _message_attribute(value: Any) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def _failed_ids(response: Any, batch_ids: set[str]) -> set[str] | None:
    """Ids reported failed, or None when Lambda would treat the response as a whole-batch failure.

    As documented for ReportBatchItemFailures: a null/empty response means all succeeded; an
    itemIdentifier that is missing, empty or not in the batch fails the whole batch.
    """
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch_ids:
            return None
        failed.add(identifier)
    return failed
