"""Order ids are UUIDv7: they sort by creation time."""

from __future__ import annotations

import time
import uuid

from orders.domain.ids import uuid7


def test_ids_are_version_7_rfc_9562() -> None:
    parsed = uuid.UUID(uuid7())
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_ids_carry_their_creation_time() -> None:
    before = time.time_ns() // 1_000_000
    embedded = uuid.UUID(uuid7()).int >> 80
    after = time.time_ns() // 1_000_000
    assert before <= embedded <= after + 1


def test_ids_strictly_increase_even_within_a_millisecond() -> None:
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
