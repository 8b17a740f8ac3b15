"""Synthesizing the app as `npx cdk synth` does: cdk.json's context, cdk-nag on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from infra.cdk.app import STACK_NAME, build
from infra.cdk.nag import add_security_checks

REPO = Path(__file__).resolve().parents[2]
CDK_CONTEXT = json.loads((REPO / "cdk.json").read_text())["context"]

Json = dict[str, Any]


@dataclass(frozen=True)
class Synth:
    template: Json
    report: Json  # cdk-nag's validation-report.json ({"pluginReports": []} when it is silent)
    acknowledgments: dict[str, dict[str, str]]  # construct path -> {rule id: reason}

    def violations(self, *, suppressed: bool = False) -> Iterator[tuple[Json, str]]:
        """(violation, construct path) for each finding, or each acknowledged one."""
        key = "suppressedViolations" if suppressed else "violations"
        for plugin in self.report["pluginReports"]:
            for violation in plugin.get(key, []):
                for construct in violation["violatingConstructs"]:
                    yield violation, construct["constructPath"]


def synthesize(outdir: Path, **context: str) -> Synth:
    """Synthesize with cdk-nag; an unacknowledged error-level finding raises here."""
    app = cdk.App(context=CDK_CONTEXT | context, outdir=str(outdir))
    build(app)
    add_security_checks(app)
    assembly = app.synth()
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    acknowledgments: dict[str, dict[str, str]] = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledgments.setdefault(construct.node.path, {}).update(entry.data)
    template = assembly.get_stack_by_name(STACK_NAME).template
    return Synth(template=template, report=report, acknowledgments=acknowledgments)
