"""Synthesizing the app as `npx cdk synth` does (cdk.json's context, cdk-nag on), and reading
its templates by what the topology says rather than by generated logical ids."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from infra.cdk.app import build
from infra.cdk.nag import add_security_checks
from infra.cdk.naming import MESSAGING, QueueAttribute, construct_id, queue_parameter, stack_name
from infra.topology import Function

REPO = Path(__file__).resolve().parents[2]
CDK_CONTEXT = json.loads((REPO / "cdk.json").read_text())["context"]
MESSAGING_STACK = stack_name(MESSAGING)
SSM_STRING = "AWS::SSM::Parameter::Value<String>"

Json = dict[str, Any]


@dataclass(frozen=True)
class Synth:
    templates: dict[str, Json]  # stack name -> its template
    report: Json  # cdk-nag's validation-report.json ({"pluginReports": []} when it is silent)
    acknowledgments: dict[str, dict[str, str]]  # construct path -> {rule id: reason}
    outdir: Path

    def violations(self, *, suppressed: bool = False) -> Iterator[tuple[Json, str]]:
        """(violation, construct path) for each finding, or each acknowledged one."""
        key = "suppressedViolations" if suppressed else "violations"
        for plugin in self.report["pluginReports"]:
            for violation in plugin.get(key, []):
                for construct in violation["violatingConstructs"]:
                    yield violation, construct["constructPath"]

    def of_component(self, component: str) -> Json:
        return self.templates[stack_name(component)]

    def code_asset(self, stack: str) -> Path:
        """The directory of the one function code asset `stack` deploys."""
        assets = json.loads((self.outdir / f"{stack}.assets.json").read_text())["files"]
        (path,) = [
            a["source"]["path"]
            for a in assets.values()
            if a["source"]["path"] != f"{stack}.template.json"
        ]
        return self.outdir / path


def synthesize(outdir: Path, *, only: Collection[str] | None = None, **context: str) -> Synth:
    """Synthesize with cdk-nag; an unacknowledged error-level finding raises here."""
    app = cdk.App(context=CDK_CONTEXT | context, outdir=str(outdir))
    stacks = build(app, only=only)
    add_security_checks(app)
    assembly = app.synth()
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    acknowledgments: dict[str, dict[str, str]] = {}
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledgments.setdefault(construct.node.path, {}).update(entry.data)
    templates = {name: assembly.get_stack_by_name(name).template for name in stacks}
    return Synth(templates, report, acknowledgments, outdir)


# --- reading templates ------------------------------------------------------------------------


def of_type(resources: Json, type_: str) -> dict[str, Json]:
    return {id_: r for id_, r in resources.items() if r["Type"] == type_}


def only(resources: Json, type_: str) -> tuple[str, Json]:
    ((id_, resource),) = of_type(resources, type_).items()
    return id_, resource["Properties"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def output_ref(template: Json, output: str) -> str:
    """Logical id of the resource an output points at (`{"Ref": id}`)."""
    return template["Outputs"][output]["Value"]["Ref"]  # type: ignore[no-any-return]


def table_id(template: Json, name: str) -> str:
    return output_ref(template, f"{construct_id(name)}TableName")


def secret_id(template: Json, name: str) -> str:
    return output_ref(template, f"{construct_id(name)}SecretArn")


def imported(template: Json, queue: str, attribute: QueueAttribute) -> Json:
    """How a component stack refers to a queue's (or DLQ's, by its name) URL or ARN: the
    deploy-time value of the messaging stack's SSM parameter."""
    parameter = queue_parameter(queue, attribute)
    (found,) = [
        id_
        for id_, p in template.get("Parameters", {}).items()
        if p["Type"] == SSM_STRING and p["Default"] == parameter
    ]
    return {"Ref": found}


def function_id(resources: Json, spec: Function) -> str:
    """The function whose FUNCTION_NAME (from the static environment) is the topology name."""
    (found,) = [
        id_
        for id_, r in of_type(resources, "AWS::Lambda::Function").items()
        if r["Properties"]["Environment"]["Variables"].get("FUNCTION_NAME") == spec.name
    ]
    return found


def statements(resources: Json) -> Iterator[tuple[str, Json]]:
    """(role logical id, statement) for every statement of every IAM policy in `resources`."""
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                yield role["Ref"], statement


def allowed(resources: Json, spec: Function) -> Iterator[tuple[str, Any]]:
    """(action, resource) pairs the function's role is allowed."""
    role = resources[function_id(resources, spec)]["Properties"]["Role"]["Fn::GetAtt"][0]
    for holder, statement in statements(resources):
        if holder == role and statement["Effect"] == "Allow":
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    yield action, resource


def resource_path(resources: Json, resource_id: Any) -> str:
    """`/orders/{orderId}` for a method's ResourceId, following ParentId up to the root."""
    parts: list[str] = []
    while "Ref" in resource_id:
        properties = resources[resource_id["Ref"]]["Properties"]
        parts.insert(0, properties["PathPart"])
        resource_id = properties["ParentId"]
    assert resource_id["Fn::GetAtt"][1] == "RootResourceId"
    return "/" + "/".join(parts)


def methods(resources: Json) -> dict[tuple[str, str], Json]:
    """(path, HTTP method) -> the method's properties."""
    return {
        (resource_path(resources, m["Properties"]["ResourceId"]), m["Properties"]["HttpMethod"]): m[
            "Properties"
        ]
        for m in of_type(resources, "AWS::ApiGateway::Method").values()
    }
