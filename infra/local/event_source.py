"""An SQS event source mapping that behaves as Lambda's does.

Pollers (one per unit of maximum concurrency) long-poll the queue, hand the function batches of
real SQS event records, and delete what succeeded. Records reported in `batchItemFailures`
stay in flight and reappear after the visibility timeout; when the invocation fails as a whole
(an error, a timeout, a crash, or a malformed response) nothing is deleted. Redrive to the
dead-letter queue is the queue's own (moto applies `maxReceiveCount` on receive).
"""

from __future__ import annotations

import base64
import threading
import time
from typing import TYPE_CHECKING, Any

from infra.local.lambda_runtime import InvocationError, LocalFunction
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
    ) -> None:
        self.function = function
        self.source = source
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._log = log
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
        while not self._stop.is_set():
            try:
                messages = self._receive_batch()
            except Exception as error:  # the queue is unreachable: back off like Lambda's poller
                if not self._stop.is_set():
                    self._log(f"receive failed: {error}")
                self._stop.wait(1.0)
                continue
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

    def _receive_batch(self) -> list[MessageTypeDef]:
        """Up to batch_size messages, gathering for at most the batching window."""
        batch: list[MessageTypeDef] = []
        window_ends = time.monotonic() + self.source.max_batching_window_s
        while len(batch) < self.source.batch_size and not self._stop.is_set():
            answer = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self.source.batch_size - len(batch)),
                WaitTimeSeconds=0 if batch else POLL_WAIT_S,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch += answer.get("Messages", [])
            if not batch or time.monotonic() >= window_ends:
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
