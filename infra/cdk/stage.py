"""The deployment's stage and its settings: the topology's `STAGES`, chosen and overridden
with CDK context values.

    npx cdk deploy --all -c stage=dev                 # prod when not given: the safe default
    -c alarmEmail=ops@example.com                     # subscribe an address to the alarm topic
    -c waf=true|false                                 # override the stage's WAF setting
    -c removalPolicy=retain|destroy                   # override the stage's removal policy
    -c seedCatalog=true                               # load infra/sample_catalog.json on deploy
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.cdk.naming import app_prefix
from infra.topology import DEFAULT_STAGE, STAGES, Stage

STAGE_CONTEXT = "stage"
REMOVAL_POLICY_CONTEXT = "removalPolicy"
WAF_CONTEXT = "waf"
ALARM_EMAIL_CONTEXT = "alarmEmail"
SEED_CATALOG_CONTEXT = "seedCatalog"

RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class StageSettings:
    stage: Stage
    removal_policy: RemovalPolicy
    waf: bool
    alarm_email: str | None
    seed_catalog: bool

    @property
    def prefix(self) -> str:
        """The stage's stack prefix: `AsyncOrders-prod`."""
        return app_prefix(self.stage.name)

    @property
    def log_retention(self) -> logs.RetentionDays:
        return RETENTION[self.stage.log_retention_days]


def stage_settings(scope: Construct) -> StageSettings:
    """The stage the context names (prod by default) with the context's overrides; a value
    that is not one of those documented is refused."""
    name = scope.node.try_get_context(STAGE_CONTEXT) or DEFAULT_STAGE
    if name not in STAGES:
        raise ValueError(f"context {STAGE_CONTEXT}={name!r}: expected one of {sorted(STAGES)}")
    stage = STAGES[name]
    if stage.log_retention_days not in RETENTION:
        raise ValueError(f"stage {name}: CloudWatch keeps no {stage.log_retention_days}-day logs")
    email = scope.node.try_get_context(ALARM_EMAIL_CONTEXT) or stage.alarm_email
    if email is not None and not _EMAIL.fullmatch(str(email)):
        raise ValueError(f"context {ALARM_EMAIL_CONTEXT}={email!r}: not an email address")
    return StageSettings(
        stage=stage,
        removal_policy=removal_policy_from_context(scope, stage.removal_policy),
        waf=_flag(scope, WAF_CONTEXT, stage.waf),
        alarm_email=str(email) if email else None,
        seed_catalog=_flag(scope, SEED_CATALOG_CONTEXT, False),
    )


def removal_policy_from_context(scope: Construct, default: str = "retain") -> RemovalPolicy:
    """What happens to tables, log groups, the user pool and secrets when a stack is deleted:
    the stage's setting (RETAIN in prod), or the context value `removalPolicy=retain|destroy`."""
    value = scope.node.try_get_context(REMOVAL_POLICY_CONTEXT) or default
    if value == "retain":
        return RemovalPolicy.RETAIN
    if value == "destroy":
        return RemovalPolicy.DESTROY
    raise ValueError(f"context {REMOVAL_POLICY_CONTEXT}={value!r}: expected 'retain' or 'destroy'")


def _flag(scope: Construct, key: str, default: bool) -> bool:
    """`true`/`false` (or JSON booleans in cdk.json) only."""
    value = scope.node.try_get_context(key)
    if value is None:
        return default
    if value in (True, "true"):
        return True
    if value in (False, "false"):
        return False
    raise ValueError(f"context {key}={value!r}: expected 'true' or 'false'")
