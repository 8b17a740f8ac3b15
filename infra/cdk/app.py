"""CDK entry point: `python -m infra.cdk.app` (what `npx cdk synth` runs, see cdk.json).

One stack per topology component plus the messaging stack, named by `infra.cdk.naming`:
`AsyncOrders-Messaging`, `AsyncOrders-Orders`, `AsyncOrders-Notifications`. Each deploys alone
(`npx cdk deploy AsyncOrders-Notifications`); a component stack depends on the messaging stack
for deployment order only.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import aws_cdk as cdk

from infra.cdk.nag import add_security_checks
from infra.cdk.naming import APP_NAME, MESSAGING, stack_name
from infra.cdk.stack import ComponentStack, MessagingStack
from infra.topology import TOPOLOGY, Topology

DESCRIPTION = "Asynchronous order API: API Gateway -> Lambda -> SQS -> Lambda -> DynamoDB"


def stack_names(topology: Topology = TOPOLOGY, app_name: str = APP_NAME) -> list[str]:
    """The app's stacks: the messaging stack, then one per component, in topology order."""
    return [
        stack_name(part, app_name) for part in (MESSAGING, *(c.name for c in topology.components))
    ]


def build(
    app: cdk.App,
    *,
    only: Collection[str] | None = None,
    topology: Topology = TOPOLOGY,
    app_name: str = APP_NAME,
) -> dict[str, cdk.Stack]:
    """The stacks in `app` (those named in `only`, if given), by name; environment-agnostic
    unless the CDK CLI knows account or region."""
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    stacks: dict[str, cdk.Stack] = {}
    messaging_name = stack_name(MESSAGING, app_name)
    if only is None or messaging_name in only:
        stacks[messaging_name] = MessagingStack(
            app,
            messaging_name,
            topology=topology,
            app_name=app_name,
            description=f"{DESCRIPTION}: the queues between components",
            env=env,
        )
    for component in topology.components:
        name = stack_name(component.name, app_name)
        if only is not None and name not in only:
            continue
        stack = ComponentStack(
            app,
            name,
            topology=topology,
            component=component.name,
            app_name=app_name,
            description=f"{DESCRIPTION}: {component.name} ({component.description})",
            env=env,
        )
        if messaging_name in stacks:  # deploy order only: no reference crosses stacks
            stack.add_stack_dependency(stacks[messaging_name])
        stacks[name] = stack
    return stacks


def main() -> None:
    app = cdk.App()
    build(app)
    add_security_checks(app)  # AwsSolutions error-level findings fail the synth
    app.synth()


if __name__ == "__main__":
    main()
