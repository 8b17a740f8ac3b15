"""CDK entry point: `python -m infra.cdk.app` (what `npx cdk synth` runs, see cdk.json).

One stack per topology component plus the messaging stack, for one stage (`-c stage=dev|prod`,
prod by default), named by `infra.cdk.naming`: `AsyncOrders-prod-Messaging`,
`AsyncOrders-prod-Orders`, `AsyncOrders-prod-Notifications`. Each deploys alone
(`npx cdk deploy AsyncOrders-prod-Notifications`); a component stack depends on the messaging
stack for deployment order only.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import aws_cdk as cdk

from infra.cdk.nag import add_security_checks
from infra.cdk.naming import DEFAULT_PREFIX, MESSAGING, stack_name
from infra.cdk.stack import ComponentStack, MessagingStack
from infra.cdk.stage import stage_settings
from infra.topology import TOPOLOGY, Topology

DESCRIPTION = "Asynchronous order API: API Gateway -> Lambda -> SQS -> Lambda -> DynamoDB"


def stack_names(topology: Topology = TOPOLOGY, app_name: str = DEFAULT_PREFIX) -> list[str]:
    """A stage's stacks: the messaging stack, then one per component, in topology order."""
    return [
        stack_name(part, app_name) for part in (MESSAGING, *(c.name for c in topology.components))
    ]


def build(
    app: cdk.App,
    *,
    only: Collection[str] | None = None,
    topology: Topology = TOPOLOGY,
) -> dict[str, cdk.Stack]:
    """The stage's stacks in `app` (those named in `only`, if given), by name; the stage and
    its overrides come from the app's context. Environment-agnostic unless the CDK CLI knows
    account or region."""
    settings = stage_settings(app)
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    stage = settings.stage.name
    stacks: dict[str, cdk.Stack] = {}
    messaging_name = stack_name(MESSAGING, settings.prefix)
    if only is None or messaging_name in only:
        stacks[messaging_name] = MessagingStack(
            app,
            messaging_name,
            topology=topology,
            settings=settings,
            description=f"{DESCRIPTION} ({stage}): the queues between components, alarms topic "
            "and dashboard",
            env=env,
        )
    for component in topology.components:
        name = stack_name(component.name, settings.prefix)
        if only is not None and name not in only:
            continue
        stack = ComponentStack(
            app,
            name,
            topology=topology,
            component=component.name,
            settings=settings,
            description=f"{DESCRIPTION} ({stage}): {component.name} ({component.description})",
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
