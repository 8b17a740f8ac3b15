"""Names derived from topology names, so a name is written once.

No CDK import: the ops CLI reads deployed stacks by these names.
"""

from __future__ import annotations

import re
from typing import Literal

# The stacks' common prefix: `AsyncOrders-Messaging`, `AsyncOrders-<Component>`.
APP_NAME = "AsyncOrders"
MESSAGING = "messaging"  # the stack that owns the queues every component sends to

QueueAttribute = Literal["url", "arn"]


def construct_id(name: str) -> str:
    """`order-api` -> `OrderApi`: a CloudFormation-friendly id for a topology name."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def stack_name(part: str, app_name: str = APP_NAME) -> str:
    """`orders` -> `AsyncOrders-Orders`: the stack of a component, or of `MESSAGING`."""
    return f"{app_name}-{construct_id(part)}"


def parameter_root(app_name: str = APP_NAME) -> str:
    """`AsyncOrders` -> `/async-orders`: where the app's SSM parameters live."""
    return "/" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", app_name).lower()


def queue_parameter(queue: str, attribute: QueueAttribute, app_name: str = APP_NAME) -> str:
    """The SSM parameter holding a queue's (or a DLQ's, by its name) URL or ARN:
    `/async-orders/queues/orders/url`, `/async-orders/queues/orders-dlq/arn`."""
    return f"{parameter_root(app_name)}/queues/{queue}/{attribute}"


def queue_output(queue: str) -> str:
    """The messaging stack's output with the URL of a queue: `OrdersQueueUrl`."""
    return f"{construct_id(queue)}QueueUrl"


def dlq_output(queue: str) -> str:
    """The messaging stack's output with the URL of a queue's DLQ: `OrdersDlqUrl`."""
    return f"{construct_id(queue)}DlqUrl"
