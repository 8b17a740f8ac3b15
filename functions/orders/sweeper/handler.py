"""The sweeper, on a schedule: re-enqueues orders left ACCEPTED with no message.

That happens when the API crashed between recording an order and sending its message; the
re-sent message carries the same id, and settling is idempotent, so a re-send that was not
needed changes nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orders.domain import service
from orders.settings import SweeperSettings
from shared.lifecycle import init_done
from shared.observability import logger, metrics
from shared.settings import load_settings

SETTINGS = SweeperSettings  # what this function reads from its environment


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    init_done()
    settings = load_settings(SweeperSettings)
    counts = service.sweep(
        settings.sweep_after_seconds,
        settings.sweep_max_reenqueues,
        store=settings.store(),
        queues=settings.queues(),
    )
    logger.info("Sweep finished", extra=counts)
    return counts
