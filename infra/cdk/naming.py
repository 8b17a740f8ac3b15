"""Names derived from topology names, so a name is written once.

No CDK import: the ops CLI reads deployed stacks by these names.
"""

from __future__ import annotations

import re
from typing import Literal

from infra.topology import DEFAULT_STAGE

# The app's name; a stage's stacks share the prefix `AsyncOrders-<stage>`:
# `AsyncOrders-prod-Messaging`, `AsyncOrders-prod-<Component>`.
APP_NAME = "AsyncOrders"
MESSAGING = "messaging"  # the stack that owns the queues every component sends to


def app_prefix(stage: str = DEFAULT_STAGE) -> str:
    """`prod` -> `AsyncOrders-prod`: the common prefix of a stage's stacks."""
    return f"{APP_NAME}-{stage}"


DEFAULT_PREFIX = app_prefix()

QueueAttribute = Literal["url", "arn"]


def construct_id(name: str) -> str:
    """`order-api` -> `OrderApi`: a CloudFormation-friendly id for a topology name."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def stack_name(part: str, app_name: str = DEFAULT_PREFIX) -> str:
    """`orders` -> `AsyncOrders-prod-Orders`: the stack of a component, or of `MESSAGING`."""
    return f"{app_name}-{construct_id(part)}"


def parameter_root(app_name: str = DEFAULT_PREFIX) -> str:
    """`AsyncOrders-prod` -> `/async-orders/prod`: where a stage's SSM parameters live."""
    return "".join(
        "/" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", part).lower() for part in app_name.split("-")
    )


def queue_parameter(queue: str, attribute: QueueAttribute, app_name: str = DEFAULT_PREFIX) -> str:
    """The SSM parameter holding a queue's (or a DLQ's, by its name) URL or ARN:
    `/async-orders/prod/queues/orders/url`, `/async-orders/prod/queues/orders-dlq/arn`."""
    return f"{parameter_root(app_name)}/queues/{queue}/{attribute}"


def queue_output(queue: str) -> str:
    """The messaging stack's output with the URL of a queue: `OrdersQueueUrl`."""
    return f"{construct_id(queue)}QueueUrl"


def dlq_output(queue: str) -> str:
    """The messaging stack's output with the URL of a queue's DLQ: `OrdersDlqUrl`."""
    return f"{construct_id(queue)}DlqUrl"


def alarm_topic_parameter(app_name: str = DEFAULT_PREFIX) -> str:
    """The SSM parameter holding the ARN of the stage's alarm topic (messaging stack)."""
    return f"{parameter_root(app_name)}/alarms/topic-arn"


def function_name(function: str, app_name: str = DEFAULT_PREFIX) -> str:
    """`order-api` -> `AsyncOrders-prod-order-api`: a function's physical name, fixed so that
    the stage's dashboard (messaging stack) can chart it without a reference across stacks."""
    return f"{app_name}-{function}"


def api_name(component_stack: str) -> str:
    """The REST API's name (its CloudWatch `ApiName` dimension): `<stack>-api`."""
    return f"{component_stack}-api"


def dashboard_name(app_name: str = DEFAULT_PREFIX) -> str:
    return app_name
