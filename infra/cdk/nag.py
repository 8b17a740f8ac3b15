"""AWS's own rule pack (cdk-nag AwsSolutionsChecks) on the app, and the one way to acknowledge a rule.

Error-level findings fail the synth. A finding is acknowledged only where it cannot be fixed,
on the construct it is about, for one rule (and one finding of a granular rule such as IAM5),
with the reason it stays.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"


def add_security_checks(app: App) -> None:
    """Run AwsSolutionsChecks on every synth of `app`."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str, *, finding: str | None = None) -> None:
    """Acknowledge `rule` (e.g. "IAM5") on `scope`, narrowed to one `finding` (e.g. "Resource::*")."""
    rule_id = f"{PACK}::{PACK}-{rule}" + (f"[{finding}]" if finding else "")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
