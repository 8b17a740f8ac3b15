"""CDK entry point: `python -m infra.cdk.app` (what `npx cdk synth` runs, see cdk.json)."""

from __future__ import annotations

import os

import aws_cdk as cdk

from infra.cdk.nag import add_security_checks
from infra.cdk.stack import AsyncOrdersStack
from infra.topology import TOPOLOGY

STACK_NAME = "AsyncOrders"


def build(app: cdk.App) -> AsyncOrdersStack:
    """The stack in `app`; environment-agnostic unless the CDK CLI knows account or region."""
    return AsyncOrdersStack(
        app,
        STACK_NAME,
        topology=TOPOLOGY,
        description="Asynchronous order API: API Gateway -> Lambda -> SQS -> Lambda -> DynamoDB",
        env=cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
            region=os.environ.get("CDK_DEFAULT_REGION"),
        ),
    )


def main() -> None:
    app = cdk.App()
    build(app)
    add_security_checks(app)  # AwsSolutions error-level findings fail the synth
    app.synth()


if __name__ == "__main__":
    main()
