"""SQS batches with partial batch responses, routed by message type.

One failing record never fails its neighbours: it is reported in `batchItemFailures`, and SQS
hands back only it. A record that can never succeed, because its body is not a message, its
type or version is not one this consumer handles, or it breaks its type's schema, is not
retried: it goes to the queue's dead-letter queue at once with the reason in its attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from shared.aws import sqs
from shared.envelope import REGISTRY, Envelope, EnvelopeHeader, MessageType
from shared.lifecycle import init_done
from shared.observability import correlated, logger


class SQSRecordAttributes:
    """The system attributes of a record (the ones consumers read)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    @property
    def approximate_receive_count(self) -> str | None:
        value = self.raw.get("ApproximateReceiveCount")
        return None if value is None else str(value)

    @property
    def message_group_id(self) -> str | None:
        """The FIFO group, or the fair-queue tenant of a standard queue."""
        value = self.raw.get("MessageGroupId")
        return None if value is None else str(value)


class SQSRecord:
    """One record of an SQS batch event, as Lambda delivers it.

    The loop in `MessageRouter.process` and this class replace Powertools' BatchProcessor and
    its SQSRecord data class, with the same semantics for a standard queue (every record runs;
    those that raised are reported; an entirely failed batch is reported record by record, not
    raised): importing those costs ~60 ms of every consumer's cold start, because their
    packages import every processor (asyncio among them) and every event data class. See
    docs/performance.md."""

    def __init__(self, raw_event: dict[str, Any]) -> None:
        self.raw_event = raw_event

    @property
    def message_id(self) -> str:
        return str(self.raw_event["messageId"])

    @property
    def receipt_handle(self) -> str:
        return str(self.raw_event["receiptHandle"])

    @property
    def body(self) -> str:
        return str(self.raw_event["body"])

    @property
    def attributes(self) -> SQSRecordAttributes:
        return SQSRecordAttributes(self.raw_event.get("attributes") or {})


Message = TypeVar("Message", bound=Envelope[Any])
Handler = Callable[[Any, SQSRecord], None]


class Unprocessable(Exception):
    """A record no retry can fix: dead-lettered with this reason."""


class ExpectedRetry(Exception):
    """A record failed by design (a scheduled retry): logged by whoever raised it, at WARNING."""

    expected_retry = True


class MessageRouter:
    """The message types one consumer handles, each with its record handler."""

    def __init__(self) -> None:
        self._routes: dict[str, tuple[MessageType, Handler]] = {}

    def handles(
        self, model: type[Message]
    ) -> Callable[[Callable[[Message, SQSRecord], None]], Callable[[Message, SQSRecord], None]]:
        entry = next((m for m in REGISTRY.values() if m.model is model), None)
        if entry is None:
            raise ValueError(f"{model.__name__} is not a registered message type")

        def register(
            handler: Callable[[Message, SQSRecord], None],
        ) -> Callable[[Message, SQSRecord], None]:
            self._routes[entry.key] = (entry, handler)
            return handler

        return register

    @property
    def message_types(self) -> set[str]:
        """ "type@version" of every message this consumer handles."""
        return set(self._routes)

    def process(
        self,
        event: dict[str, Any],
        context: LambdaContext,
        dead_letter_queue_url: str,
        concurrency: int = 1,
    ) -> dict[str, Any]:
        """Run each record's handler; `{"batchItemFailures": [...]}` for those that raised.

        With `concurrency` above 1, up to that many records are handled at once, each in its
        own thread (for consumers whose records wait on I/O, like webhook delivery)."""
        init_done()

        def record_handler(record: SQSRecord) -> None:
            try:
                entry, handler = self._route(record)
                message = _parse(entry, record.body)
            except Unprocessable as reason:
                dead_letter(record, str(reason), dead_letter_queue_url)
                return
            with correlated(message.correlation_id):
                try:
                    handler(message, record)
                except Exception as error:
                    if not getattr(error, "expected_retry", False):
                        _log_failure(error, entry, message)
                    raise

        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list):
            raise ValueError("Invalid event format: not an SQS batch event (no Records list)")

        def failed(raw: dict[str, Any]) -> str | None:
            record = SQSRecord(raw)
            try:
                record_handler(record)
            except Exception:  # reported, so SQS hands back this record alone
                return record.message_id
            return None

        if concurrency > 1 and len(records) > 1:
            workers = min(concurrency, len(records))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="record") as pool:
                outcomes = list(pool.map(failed, records))  # in the batch's order
        else:
            outcomes = [failed(raw) for raw in records]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in outcomes if m is not None]}

    def _route(self, record: SQSRecord) -> tuple[MessageType, Handler]:
        try:
            header = EnvelopeHeader.model_validate_json(record.body)
        except ValidationError as error:
            raise Unprocessable("not a message envelope (type and version)") from error
        key = f"{header.type}@{header.version}"
        if key not in self._routes:
            raise Unprocessable(f"unknown message type {key}")
        return self._routes[key]


def _log_failure(error: Exception, entry: MessageType, message: Envelope[Any]) -> None:
    """One structured ERROR line, with its traceback, for a record that failed unexpectedly."""
    logger.exception(
        "Record failed; SQS will deliver it again",
        extra={
            "message_type": entry.key,
            "order_id": getattr(message.data, "order_id", None),
            "error_type": type(error).__name__,
            "error": str(error)[:300],
        },
    )


def _parse(entry: MessageType, body: str) -> Envelope[Any]:
    try:
        message: Envelope[Any] = entry.model.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = "/".join(str(p) for p in first["loc"])
        raise Unprocessable(f"{entry.key} breaks its schema at {where}: {first['msg']}") from error
    return message


def dead_letter(
    record: SQSRecord, reason: str, queue_url: str, context: dict[str, str] | None = None
) -> None:
    """Put the record's body in the dead-letter queue, with its own attributes and why it is
    there (`failureReason`, and any `context`)."""
    own = {
        name: str(value.get("stringValue"))
        for name, value in (record.raw_event.get("messageAttributes") or {}).items()
        if value.get("dataType") == "String" and value.get("stringValue")
    }
    attributes = own | {"failureReason": reason[:256]} | (context or {})
    sqs().send_message(
        QueueUrl=queue_url,
        MessageBody=record.body,
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value}
            for name, value in attributes.items()
            if value
        },
    )
    logger.error(
        "Message dead-lettered",
        extra={"message_id": record.message_id, "reason": reason[:256], **_header(record.body)},
    )


def _header(body: str) -> dict[str, str]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {
        key: str(document[field])[:128]
        for key, field in (("message_type", "type"), ("correlation_id", "correlationId"))
        if field in document
    }
