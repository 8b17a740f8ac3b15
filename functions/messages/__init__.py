"""The messages components exchange on queues: the only contract between them.

Each model is registered once (`shared.envelope.message`) with its type and version, and
`make contracts` publishes its JSON Schema under events/schemas/messages. A published version
only ever widens: a breaking change is a new version (tests/unit/test_compatibility.py).
"""

from messages import orders, webhooks

__all__ = ["orders", "webhooks"]
