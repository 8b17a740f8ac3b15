"""The API's `Idempotency-Key` records: one item per (client, key) in the `idempotency` table.

A request first claims its key with a conditional write. The claim holds while the request runs
(until its invocation's deadline, so a request that died frees its key) and, once the request
has an answer, for the key's window (the table's TTL attribute, `expiration`). Attribute names
are those of Powertools idempotency's DynamoDB layer, which this replaces (its package imports
boto3 at module level: docs/performance.md), and its rules are the same:

- no record, an expired one, or one whose request died: this request runs;
- a record for another body: refused (`IdempotencyKeyReused`), whatever its state;
- a finished record: its answer, again;
- a running record: refused as in progress (`RequestInProgress`), to be retried.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from orders.domain.errors import IdempotencyKeyReused, RequestInProgress
from shared.aws import dynamodb

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

logger = logging.getLogger(__name__)

IN_PROGRESS, COMPLETED = "INPROGRESS", "COMPLETED"
KEY_ATTRIBUTE, TTL_ATTRIBUTE = "id", "expiration"  # the table's key and its TTL attribute
# placeholders for every attribute: STATUS and DATA are DynamoDB reserved words
_NAMES = {
    "#id": KEY_ATTRIBUTE,
    "#status": "status",
    "#data": "data",
    "#expires": TTL_ATTRIBUTE,
    "#running_until": "in_progress_expiration",
}
_CLAIM_ATTEMPTS = 3  # a record can expire or be released between a refused claim and its read


class IdempotencyRecords:
    def __init__(self, table_name: str, window_s: int) -> None:
        self.table_name = table_name
        self.window_s = window_s

    def claim(self, key: str, fingerprint: str, deadline_ms: int) -> str | None:
        """Claim `key` for a request whose body has `fingerprint`, running until `deadline_ms`
        (Unix milliseconds): None if this request runs, else the first request's answer."""
        for _ in range(_CLAIM_ATTEMPTS):
            now = time.time()
            try:
                dynamodb().put_item(
                    TableName=self.table_name,
                    Item={
                        KEY_ATTRIBUTE: _s(_record_id(key)),
                        "status": _s(IN_PROGRESS),
                        "validation": _s(fingerprint),
                        TTL_ATTRIBUTE: _n(int(now) + self.window_s),
                        "in_progress_expiration": _n(deadline_ms),
                    },
                    ConditionExpression=(
                        "attribute_not_exists(#id) OR #expires < :now"
                        " OR (#status = :running AND #running_until < :now_ms)"
                    ),
                    ExpressionAttributeNames=_names("#id", "#expires", "#status", "#running_until"),
                    ExpressionAttributeValues={
                        ":now": _n(int(now)),
                        ":now_ms": _n(int(now * 1000)),
                        ":running": _s(IN_PROGRESS),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return None
            except ClientError as error:
                if _code(error) != "ConditionalCheckFailedException":
                    raise
                returned: dict[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
                held = returned or self._read(key)  # ALL_OLD, where the service returns it
            if held is None:
                continue  # released since: claim again
            if held["validation"]["S"] != fingerprint:
                raise IdempotencyKeyReused(
                    "an Idempotency-Key stands for one request body for its window"
                )
            now = time.time()
            if int(held[TTL_ATTRIBUTE]["N"]) < int(now):
                continue  # expired since
            if held["status"]["S"] == COMPLETED:
                return str(held["data"]["S"])
            if int(held["in_progress_expiration"]["N"]) >= int(now * 1000):
                raise RequestInProgress("retry once the first request has finished")
        raise RequestInProgress("retry once the first request has finished")

    def complete(self, key: str, answer: str) -> None:
        """Keep `answer` for the key's window. A failure is logged, not raised: the answer is
        already true (the order is recorded and queued), and once the claim lapses a retry
        finds the order by its key."""
        try:
            dynamodb().update_item(
                TableName=self.table_name,
                Key={KEY_ATTRIBUTE: _s(_record_id(key))},
                UpdateExpression="SET #status = :done, #data = :data, #expires = :expires",
                ExpressionAttributeNames=_names("#status", "#data", "#expires"),
                ExpressionAttributeValues={
                    ":done": _s(COMPLETED),
                    ":data": _s(answer),
                    ":expires": _n(int(time.time()) + self.window_s),
                },
            )
        except Exception:
            logger.warning("idempotency record not completed; its claim will lapse", exc_info=True)

    def release(self, key: str) -> None:
        """Free the key of a request that failed, for a retry to run again. A failure is
        logged, not raised: the request's own error is the answer, and its claim lapses."""
        try:
            dynamodb().delete_item(
                TableName=self.table_name, Key={KEY_ATTRIBUTE: _s(_record_id(key))}
            )
        except Exception:
            logger.warning("idempotency record not released; its claim will lapse", exc_info=True)

    def _read(self, key: str) -> dict[str, Any] | None:
        found = dynamodb().get_item(
            TableName=self.table_name, Key={KEY_ATTRIBUTE: _s(_record_id(key))}, ConsistentRead=True
        )
        return found.get("Item")


def _record_id(key: str) -> str:
    """Fixed-length ids: a client's key is never a table key as written."""
    return "place-order#" + hashlib.sha256(key.encode()).hexdigest()


def _names(*placeholders: str) -> dict[str, str]:
    """DynamoDB refuses a name an expression does not use."""
    return {placeholder: _NAMES[placeholder] for placeholder in placeholders}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}
