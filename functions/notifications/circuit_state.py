"""Where the circuit breaker keeps each destination's state: the `deliveries` table, via botocore.

**A library piece replaced.** Powertools' `CircuitBreakerDynamoDBPersistence` does exactly this,
but its package (`circuit_breaker.persistence`) imports boto3 at module level, and any import
from that package runs it: boto3's S3 transfer manager and resource layer, ~73 million
instructions on the notifier's first delivery (docs/performance.md). Powertools' breaker itself
(`CircuitBreakerHandler`: local failure counts, probe election, fail-open writes) is kept; it
calls the five public methods below (`configure`, `get_state`, `save_open`,
`try_acquire_half_open`, `save_reopen`, `save_closed`) and reads the record's fields.

What it keeps from Powertools' layer, item for item: the same attributes (`state`,
`failure_count`, `opened_at`, `half_open_owner`, `probe_lease_expiry`, the table's TTL), the
same conditional probe election, an eventually consistent read cached per environment for
`local_cache_max_age` seconds, and a read that fails open (treated as closed, not cached).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.circuit_breaker.states import CircuitInfo, CircuitState
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.circuit_breaker.config import CircuitBreakerConfig
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

# A circuit's item outlives its recovery window by this much, then the table's TTL reaps it.
TTL_AFTER_RECOVERY_S = 3600
_MAX_CACHED = 1024  # destinations cached per environment


@dataclass
class CircuitRecord:
    """One destination's circuit, as stored (the fields Powertools' breaker reads)."""

    name: str
    state: CircuitState
    failure_count: int = 0
    opened_at: int | None = None  # Unix seconds
    half_open_owner: str | None = None
    probe_lease_expiry: int | None = None
    expires_at: int | None = None

    def to_circuit_info(self) -> CircuitInfo:
        return CircuitInfo(
            name=self.name,
            state=self.state,
            failure_count=self.failure_count,
            opened_at=self.opened_at,
        )


@dataclass(frozen=True)
class _Timing:
    cache_s: int
    recovery_s: int


class CircuitStore:
    """The circuits of one table: `eventId` = the circuit's name, `expiresAt` its TTL."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._lock = threading.Lock()
        self._timing: dict[str, _Timing] = {}
        self._cache: OrderedDict[str, tuple[int, CircuitRecord]] = OrderedDict()  # by name

    def configure(self, config: CircuitBreakerConfig, circuit_name: str) -> None:
        with self._lock:
            self._timing[circuit_name] = _Timing(
                config.local_cache_max_age, config.recovery_timeout
            )

    def get_state(self, name: str) -> CircuitRecord:
        cached = self._cached(name)
        if cached is not None:
            return cached
        try:
            item = self._client.get_item(TableName=self._table, Key=_key(name)).get("Item")
            record = _record(name, item) if item else CircuitRecord(name, CircuitState.CLOSED)
        except Exception:  # a breaker must never become an outage of its own
            logger.warning("circuit %s unreadable; treated as closed", name, exc_info=True)
            return CircuitRecord(name, CircuitState.CLOSED)
        self._remember(record)
        return record

    def save_open(self, name: str, failure_count: int, opened_at: int) -> None:
        record = CircuitRecord(
            name, CircuitState.OPEN, failure_count, opened_at, expires_at=self._ttl(name)
        )
        self._client.put_item(TableName=self._table, Item=_item(record))
        self._remember(record)

    def try_acquire_half_open(self, name: str, owner: str, opened_at: int) -> bool:
        """Elect one probe: the circuit is open with no prober (and opened when the caller
        saw it), or the last prober's lease has run out."""
        now = _now()
        record = CircuitRecord(
            name,
            CircuitState.HALF_OPEN,
            opened_at=opened_at,
            half_open_owner=owner,
            probe_lease_expiry=now + self._timing_of(name).recovery_s,
            expires_at=self._ttl(name),
        )
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item(record),
                ConditionExpression=(
                    "(#state = :open AND attribute_not_exists(#owner) AND #opened = :opened)"
                    " OR (#state = :half_open AND #lease <= :now)"
                ),
                ExpressionAttributeNames={
                    "#state": "state",
                    "#owner": "half_open_owner",
                    "#opened": "opened_at",
                    "#lease": "probe_lease_expiry",
                },
                ExpressionAttributeValues={
                    ":open": {"S": CircuitState.OPEN.value},
                    ":half_open": {"S": CircuitState.HALF_OPEN.value},
                    ":opened": {"N": str(opened_at)},
                    ":now": {"N": str(now)},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        self._remember(record)
        return True

    def save_reopen(self, name: str, opened_at: int) -> None:
        self._update(CircuitRecord(name, CircuitState.OPEN, opened_at=opened_at))

    def save_closed(self, name: str) -> None:
        self._update(CircuitRecord(name, CircuitState.CLOSED))

    def _update(self, record: CircuitRecord) -> None:
        """Set the state, count and TTL; drop the probe (and, closing, the open time)."""
        record.expires_at = self._ttl(record.name)
        names = {
            "#state": "state",
            "#count": "failure_count",
            "#expires": "expiresAt",
            "#opened": "opened_at",
            "#owner": "half_open_owner",
            "#lease": "probe_lease_expiry",
        }
        values: dict[str, Any] = {
            ":state": {"S": record.state.value},
            ":count": {"N": str(record.failure_count)},
            ":expires": {"N": str(record.expires_at)},
        }
        if record.opened_at is None:
            expression = "SET #state = :state, #count = :count, #expires = :expires"
            expression += " REMOVE #opened, #owner, #lease"
        else:
            expression = "SET #state = :state, #count = :count, #expires = :expires"
            expression += ", #opened = :opened REMOVE #owner, #lease"
            values[":opened"] = {"N": str(record.opened_at)}
        self._client.update_item(
            TableName=self._table,
            Key=_key(record.name),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        self._remember(record)

    def _timing_of(self, name: str) -> _Timing:
        with self._lock:
            return self._timing.get(name, _Timing(cache_s=5, recovery_s=30))

    def _ttl(self, name: str) -> int:
        return _now() + self._timing_of(name).recovery_s + TTL_AFTER_RECOVERY_S

    def _remember(self, record: CircuitRecord) -> None:
        stale_at = _now() + self._timing_of(record.name).cache_s
        with self._lock:
            self._cache[record.name] = (stale_at, record)
            self._cache.move_to_end(record.name)
            if len(self._cache) > _MAX_CACHED:
                self._cache.popitem(last=False)  # the least recently written

    def _cached(self, name: str) -> CircuitRecord | None:
        with self._lock:
            cached = self._cache.get(name)
            if cached is None:
                return None
            stale_at, record = cached
            if _now() >= stale_at:
                del self._cache[name]
                return None
            return record


def _now() -> int:
    return int(time.time())


def _key(name: str) -> dict[str, Any]:
    return {"eventId": {"S": name}}


def _item(record: CircuitRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(record.name),
        "state": {"S": record.state.value},
        "failure_count": {"N": str(record.failure_count)},
    }
    for attribute, number in (
        ("opened_at", record.opened_at),
        ("probe_lease_expiry", record.probe_lease_expiry),
        ("expiresAt", record.expires_at),
    ):
        if number is not None:
            item[attribute] = {"N": str(number)}
    if record.half_open_owner is not None:
        item["half_open_owner"] = {"S": record.half_open_owner}
    return item


def _record(name: str, item: dict[str, Any]) -> CircuitRecord:
    def number(attribute: str) -> int | None:
        value = item.get(attribute)
        return int(value["N"]) if value else None

    owner = item.get("half_open_owner")
    return CircuitRecord(
        name,
        CircuitState(item["state"]["S"]),
        number("failure_count") or 0,
        number("opened_at"),
        owner["S"] if owner else None,
        number("probe_lease_expiry"),
        number("expiresAt"),
    )
