"""Idempotent POST /orders: the `Idempotency-Key` header.

Same key and same body: the first answer again, and one order. Same key, other body: refused.
Same key while the first request is still running: refused as in progress. Keys expire after
the topology's window (24 hours). A request that fails frees its key for a retry. If the first
request died after recording its order (its claim lapses with the Lambda invocation), the retry
runs again and `service.place_order` finds that order by key, re-enqueues it if it was never
settled and answers it: a client retry heals the crash.

The records are `adapters.idempotency_records`, not Powertools idempotency: that package imports
boto3 at module level (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from aws_lambda_powertools.utilities.typing import LambdaContext

from orders.adapters.idempotency_records import Answered, IdempotencyRecords
from orders.domain.models import Accepted, PlaceOrder
from orders.settings import ApiSettings


def scoped_key(client: str, key: str) -> str:
    """The key as stored: unambiguous per client (`a#b` + `c` never meets `a` + `b#c`)."""
    return json.dumps([client, key], separators=(",", ":"))


def fingerprint(request: PlaceOrder) -> str:
    """The same for the same order, however its JSON was spelled (key order, spacing)."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def place_order(
    key: str,
    request: PlaceOrder,
    client: str,
    settings: ApiSettings,
    context: LambdaContext,
    place: Callable[[str], Accepted],
) -> Accepted:
    """`place(the key as stored)` at most once per (client, key), else the first answer again;
    raises the domain's errors."""
    scoped = scoped_key(client, key)
    records = IdempotencyRecords(
        settings.idempotency_table_name, settings.idempotency_window_seconds
    )
    # the claim lapses with this invocation, so a crashed request can be retried
    deadline_ms = int(time.time() * 1000) + context.get_remaining_time_in_millis()
    claim = records.claim(scoped, fingerprint(request), deadline_ms)
    if isinstance(claim, Answered):
        return Accepted.model_validate_json(claim.answer)
    try:
        accepted = place(scoped)
    except Exception:
        records.release(claim)
        raise
    records.complete(claim, accepted.model_dump_json())
    return accepted
