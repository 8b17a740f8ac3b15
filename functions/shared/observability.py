"""The one place that creates the Logger and Metrics every module imports.

No Tracer: creating one loads the X-Ray SDK (~285 ms of cold start). Lambda's active tracing
still records each invocation and its AWS calls at the service level.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

LONGEST_LOGGED_LINE = 300  # of a traceback: an exception may carry a whole request's input


class _Formatter(LambdaPowertoolsFormatter):
    """Tracebacks once (no second, structured copy) and with every line cut to a sane length."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        lines = super().formatException(ei).splitlines()
        cut = LONGEST_LOGGED_LINE
        return "\n".join(line if len(line) <= cut else f"{line[:cut]}... (cut)" for line in lines)


logger = Logger(logger_formatter=_Formatter(serialize_stacktrace=False))
metrics = Metrics()

# A read-only request publishes no metric; that is expected, not worth a warning per call.
warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)

CORRELATION_ID_HEADER = "X-Correlation-Id"


@contextmanager
def correlated(correlation_id: str) -> Iterator[None]:
    """Tag every log line inside the block with the id that follows the work across queues."""
    if threading.current_thread() is not threading.main_thread():
        # a record handled in a worker thread: keys of its own, never its neighbours'
        logger.thread_safe_append_keys(correlation_id=correlation_id)
        try:
            yield
        finally:
            logger.thread_safe_remove_keys(["correlation_id"])
        return
    previous = logger.get_correlation_id()
    logger.set_correlation_id(correlation_id)
    try:
        yield
    finally:
        logger.set_correlation_id(previous)
