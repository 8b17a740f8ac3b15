"""SQS batches with partial batch responses, routed by message type.

One failing record never fails its neighbours: it is reported in `batchItemFailures`, and SQS
hands back only it. A record that can never succeed, because its body is not a message, its
type or version is not one this consumer handles, or it breaks its type's schema, is not
retried: it goes to the queue's dead-letter queue at once with the reason in its attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
    def approximate_receive_count(self) -> str:
        return str(self.raw["ApproximateReceiveCount"])


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
        self, event: dict[str, Any], context: LambdaContext, dead_letter_queue_url: str
    ) -> dict[str, Any]:
        """Run each record's handler; `{"batchItemFailures": [...]}` for those that raised."""
        init_done()

        def record_handler(record: SQSRecord) -> None:
            try:
                entry, handler = self._route(record)
                message = _parse(entry, record.body)
            except Unprocessable as reason:
                dead_letter(record, str(reason), dead_letter_queue_url)
                return
            with correlated(message.correlation_id):
                handler(message, record)

        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list):
            raise ValueError("Invalid event format: not an SQS batch event (no Records list)")
        failures: list[dict[str, str]] = []
        for raw in records:
            record = SQSRecord(raw)
            try:
                record_handler(record)
            except Exception:  # reported, so SQS hands back this record alone
                failures.append({"itemIdentifier": record.message_id})
        return {"batchItemFailures": failures}

    def _route(self, record: SQSRecord) -> tuple[MessageType, Handler]:
        try:
            header = EnvelopeHeader.model_validate_json(record.body)
        except ValidationError as error:
            raise Unprocessable("not a message envelope (type and version)") from error
        key = f"{header.type}@{header.version}"
        if key not in self._routes:
            raise Unprocessable(f"unknown message type {key}")
        return self._routes[key]


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
