"""Time-ordered identifiers: UUIDv7 (RFC 9562), monotonic within a process."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_sequence = 0


def uuid7() -> str:
    """A UUIDv7 string; ids sort by creation time, and strictly within one process."""
    global _last_ms, _sequence
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms, _sequence = now_ms, int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:  # same millisecond (or a clock step back): count up inside the last one
            _sequence += 1
            if _sequence > 0xFFF:
                _last_ms, _sequence = _last_ms + 1, 0
        timestamp, counter = _last_ms, _sequence
    random_tail = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (timestamp & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62
    return str(uuid.UUID(int=value | random_tail))
