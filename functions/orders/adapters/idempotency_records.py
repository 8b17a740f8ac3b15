"""The API's `Idempotency-Key` records: one item per (client, key) in the `idempotency` table.

A request first claims its key with a conditional write. The claim holds while the request runs
(until its invocation's deadline, so a request that died frees its key) and, once the request
has an answer, for the key's window (the table's TTL attribute, `expiration`). Attribute names
are those of Powertools idempotency's DynamoDB layer, which this replaces (its package imports
boto3 at module level: docs/performance.md), and so are its rules:

- no record, an expired one, or one whose request died (for the same body): this request runs;
- a record for another body: refused (`IdempotencyKeyReused`), whatever its state;
- a finished record: its answer, again;
- a running record: refused as in progress (`RequestInProgress`), to be retried.

Two rules are stricter than Powertools': a died request's key is not taken by another body (it
stands for the body of the order that request may have recorded), and a claim carries a token,
so a request that outlived its claim cannot complete or release the next request's.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    "#fingerprint": "validation",
    "#token": "claim_token",
}
# a request that outlived its claim leaves the next request's record alone
_STILL_HELD = "#token = :token"
_CLAIM_ATTEMPTS = 3  # a record can expire or be released between a refused claim and its read


@dataclass(frozen=True)
class Claim:
    """This request holds the key: it runs, then completes or releases its claim."""

    key: str
    token: str  # this claim's own: a request that outlived its claim cannot touch the next


@dataclass(frozen=True)
class Answered:
    """The key's request has finished: its answer, to give again."""

    answer: str


class IdempotencyRecords:
    def __init__(self, table_name: str, window_s: int) -> None:
        self.table_name = table_name
        self.window_s = window_s

    def claim(self, key: str, fingerprint: str, deadline_ms: int) -> Claim | Answered:
        """Claim `key` for a request whose body has `fingerprint`, running until `deadline_ms`
        (Unix milliseconds), or give the answer of the request that already has."""
        for _ in range(_CLAIM_ATTEMPTS):
            claim, now = Claim(key, uuid.uuid4().hex), time.time()
            try:
                dynamodb().put_item(
                    TableName=self.table_name,
                    Item={
                        KEY_ATTRIBUTE: _s(_record_id(key)),
                        "status": _s(IN_PROGRESS),
                        "validation": _s(fingerprint),
                        TTL_ATTRIBUTE: _n(int(now) + self.window_s),
                        "in_progress_expiration": _n(deadline_ms),
                        "claim_token": _s(claim.token),
                    },
                    # new, expired, or a claim that lapsed (its request died) for this body
                    ConditionExpression=(
                        "attribute_not_exists(#id) OR #expires < :now OR (#status = :running"
                        " AND #running_until < :now_ms AND #fingerprint = :fingerprint)"
                    ),
                    ExpressionAttributeNames=_names(
                        "#id", "#expires", "#status", "#running_until", "#fingerprint"
                    ),
                    ExpressionAttributeValues={
                        ":now": _n(int(now)),
                        ":now_ms": _n(int(now * 1000)),
                        ":running": _s(IN_PROGRESS),
                        ":fingerprint": _s(fingerprint),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return claim
            except ClientError as error:
                if _code(error) != "ConditionalCheckFailedException":
                    raise
                returned: dict[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
                held = returned or self._read(key)  # ALL_OLD, where the service returns it
            now = time.time()
            if held is None or _number(held, TTL_ATTRIBUTE) < int(now):
                continue  # released or expired since: claim again
            if _text(held, "validation") != fingerprint:
                raise IdempotencyKeyReused(
                    "an Idempotency-Key stands for one request body for its window"
                )
            if _text(held, "status") == COMPLETED:
                return Answered(_text(held, "data"))
            if _number(held, "in_progress_expiration") >= int(now * 1000):
                raise RequestInProgress("retry once the first request has finished")
        raise RequestInProgress("retry once the first request has finished")

    def complete(self, claim: Claim, answer: str) -> None:
        """Keep `answer` for the key's window, if the claim is still this request's. A failure
        is logged, not raised: the answer is already true (the order is recorded and queued),
        and once the claim lapses a retry finds the order by its key."""
        with _logged_not_raised("not completed"):
            dynamodb().update_item(
                TableName=self.table_name,
                Key={KEY_ATTRIBUTE: _s(_record_id(claim.key))},
                UpdateExpression="SET #status = :done, #data = :data, #expires = :expires",
                ConditionExpression=_STILL_HELD,
                ExpressionAttributeNames=_names("#status", "#data", "#expires", "#token"),
                ExpressionAttributeValues={
                    ":done": _s(COMPLETED),
                    ":data": _s(answer),
                    ":expires": _n(int(time.time()) + self.window_s),
                    ":token": _s(claim.token),
                },
            )

    def release(self, claim: Claim) -> None:
        """Free the key of a request that failed, for a retry to run again, if the claim is
        still this request's. A failure is logged, not raised: the request's own error is the
        answer, and its claim lapses."""
        with _logged_not_raised("not released"):
            dynamodb().delete_item(
                TableName=self.table_name,
                Key={KEY_ATTRIBUTE: _s(_record_id(claim.key))},
                ConditionExpression=_STILL_HELD,
                ExpressionAttributeNames=_names("#token"),
                ExpressionAttributeValues={":token": _s(claim.token)},
            )

    def _read(self, key: str) -> dict[str, Any] | None:
        found = dynamodb().get_item(
            TableName=self.table_name, Key={KEY_ATTRIBUTE: _s(_record_id(key))}, ConsistentRead=True
        )
        return found.get("Item")


@contextmanager
def _logged_not_raised(failure: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:
        if isinstance(error, ClientError) and _code(error) == "ConditionalCheckFailedException":
            logger.warning("idempotency record %s: its claim had lapsed", failure)
        else:
            logger.warning("idempotency record %s; its claim will lapse", failure, exc_info=True)


def _record_id(key: str) -> str:
    """Fixed-length ids: a client's key is never a table key as written."""
    return "place-order#" + hashlib.sha256(key.encode()).hexdigest()


def _names(*placeholders: str) -> dict[str, str]:
    """DynamoDB refuses a name an expression does not use."""
    return {placeholder: _NAMES[placeholder] for placeholder in placeholders}


def _text(item: dict[str, Any], attribute: str) -> str:
    value = item.get(attribute, {}).get("S")
    return value if isinstance(value, str) else ""  # no such string: matches nothing we ask


def _number(item: dict[str, Any], attribute: str) -> int:
    value = item.get(attribute, {}).get("N")
    return int(value) if isinstance(value, str) else 0  # no such number: long past


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}
