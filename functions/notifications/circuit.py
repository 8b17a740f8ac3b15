"""A circuit breaker per destination (scheme, host and port), on Powertools' circuit breaker.

Its state lives in the notifications component's own `deliveries` table, one item per
destination (`eventId` = `circuit#https://host:443`), expiring on the table's TTL, kept by
`circuit_state` (not Powertools' DynamoDB layer, whose package imports boto3). After
`failure_threshold` consecutive unhealthy attempts (no answer, 408, 5xx) the destination is
paused: its events are not attempted and wait (see delivery.service). Once the recovery time
has passed, one event is the probe (Powertools elects one worker with a conditional write); its
success closes the circuit and delivery resumes, its failure pauses the destination again.

Powertools counts failures per execution environment and fails open when the table cannot be
read: a breaker must never become an outage of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from notifications.delivery.decide import AttemptResult
from shared.aws import dynamodb

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.circuit_breaker.persistence import (
        CircuitBreakerPersistenceLayer,
    )

    from notifications.circuit_state import CircuitStore

KEY_PREFIX = "circuit#"


@dataclass(frozen=True)
class Paused:
    """The destination's circuit is open (or a probe is in flight): not attempted."""

    destination: str
    opened_at: int | None  # Unix seconds
    probing: bool  # another event is the probe right now


@dataclass(frozen=True)
class CircuitSettings:
    table_name: str
    failure_threshold: int
    recovery_s: int


class _Unhealthy(Exception):
    def __init__(self, result: AttemptResult) -> None:
        super().__init__(result.reason)
        self.result = result


def guarded(
    destination: str, settings: CircuitSettings, send: Callable[[], AttemptResult]
) -> AttemptResult | Paused:
    """`send()` unless the destination is paused; its result counts for the circuit."""
    # Imported here: the notifier is the only user, and only once it has an event to deliver.
    from aws_lambda_powertools.utilities.circuit_breaker import (
        CircuitBreakerConfig,
        CircuitInfo,
        CircuitState,
        circuit_breaker,
    )

    def protected() -> AttemptResult:
        result = send()
        if result.destination_unhealthy:
            raise _Unhealthy(result)
        return result

    def paused(*_: Any, circuit: CircuitInfo) -> Paused:
        return Paused(destination, circuit.opened_at, circuit.state is CircuitState.HALF_OPEN)

    config = CircuitBreakerConfig(
        failure_threshold=settings.failure_threshold,
        recovery_timeout=settings.recovery_s,
        success_threshold=1,  # one probe
        handled_exceptions=_Unhealthy,
        local_cache_max_age=min(5, settings.recovery_s),
    )
    breaker = circuit_breaker(
        name=KEY_PREFIX + destination,
        # duck-typed: the breaker calls only the layer's public methods (see circuit_state)
        persistence_store=cast("CircuitBreakerPersistenceLayer", _persistence(settings.table_name)),
        on_circuit_open=paused,
        config=config,
    )
    try:
        outcome: AttemptResult | Paused = breaker(protected)()
    except _Unhealthy as unhealthy:
        return unhealthy.result
    return outcome


@cache
def _persistence(table_name: str) -> CircuitStore:
    from notifications.circuit_state import CircuitStore

    return CircuitStore(dynamodb(), table_name)
