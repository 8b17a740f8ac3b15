"""The stack passes AWS's own rule pack, and what makes it pass: tokens, scopes, validation, WAF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from jsonschema import Draft4Validator
from pydantic import ValidationError

from infra import contracts
from infra.cdk.api import contract_schema
from infra.cdk.app import STACK_NAME
from infra.cdk.auth import domain_prefix, scope_name
from infra.cdk.firewall import MANAGED_RULE_GROUPS, RATE_LIMIT_PER_IP, RATE_LIMIT_PER_TOKEN
from infra.cdk.nag import add_security_checks
from infra.cdk.naming import construct_id
from infra.cdk.stack import waf_from_context
from infra.draft4 import to_draft4
from infra.topology import (
    ACCESS_TOKEN_MINUTES,
    CATCH_ALL_SCOPES,
    RESOURCE_SERVER,
    SCOPES,
    TOPOLOGY,
)
from tests.infra.synth import Synth

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "events" / "samples" / "api"
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# Every acknowledgment, where it is made: adding one means adding it here, with a reason.
FUNCTION_POLICIES = {
    f"{STACK_NAME}/Functions/{construct_id(f.name)}Role/DefaultPolicy" for f in TOPOLOGY.functions
}
ACKNOWLEDGED = {
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]": FUNCTION_POLICIES,
    "AwsSolutions::AwsSolutions-SMG4": {f"{STACK_NAME}/Secrets/WebhookSigningSecret"},
    "AwsSolutions::AwsSolutions-COG8": {f"{STACK_NAME}/Auth/UserPool"},
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonAPIGatewayPushToCloudWatchLogs]": {f"{STACK_NAME}/Api/RestApi/CloudWatchRole"},
}

Json = dict[str, Any]


@pytest.fixture(scope="module")
def resources(synthesized: Synth) -> Json:
    return synthesized.template["Resources"]  # type: ignore[no-any-return]


def of_type(resources: Json, type_: str) -> dict[str, Json]:
    return {id_: r for id_, r in resources.items() if r["Type"] == type_}


def only(resources: Json, type_: str) -> tuple[str, Json]:
    ((id_, resource),) = of_type(resources, type_).items()
    return id_, resource["Properties"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resource_path(resources: Json, resource_id: Any) -> str:
    parts: list[str] = []
    while "Ref" in resource_id:
        properties = resources[resource_id["Ref"]]["Properties"]
        parts.insert(0, properties["PathPart"])
        resource_id = properties["ParentId"]
    return "/" + "/".join(parts)


def methods(resources: Json) -> dict[tuple[str, str], Json]:
    """(path, HTTP method) -> the method's properties."""
    return {
        (resource_path(resources, m["Properties"]["ResourceId"]), m["Properties"]["HttpMethod"]): m[
            "Properties"
        ]
        for m in of_type(resources, "AWS::ApiGateway::Method").values()
    }


# --- cdk-nag --------------------------------------------------------------------------------


def test_cdk_nag_finds_no_error_and_warns_only_that_waf_is_off(synthesized: Synth) -> None:
    # The synth itself raises on an unacknowledged error; the report says what is left.
    findings = {(v["ruleName"], v["severity"]) for v, _ in synthesized.violations()}

    assert findings == {("AwsSolutions-APIG3", "warning")}


def test_an_unacknowledged_error_fails_the_synth(tmp_path: Path) -> None:
    # Given the app's checks on an app with a queue that accepts requests without TLS (SQS4)
    app = cdk.App(outdir=str(tmp_path))
    sqs.Queue(cdk.Stack(app, "Plain"), "Queue", encryption=sqs.QueueEncryption.SQS_MANAGED)
    add_security_checks(app)

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert "AwsSolutions-SQS4" in rules


def test_with_waf_on_cdk_nag_has_nothing_left_to_say(synthesized_with_waf: Synth) -> None:
    assert list(synthesized_with_waf.violations()) == []


def test_the_acknowledgments_are_exactly_the_known_ones(synthesized: Synth) -> None:
    made: dict[str, set[str]] = {}
    for path, rules in synthesized.acknowledgments.items():
        for rule in rules:
            made.setdefault(rule, set()).add(path)

    assert made == ACKNOWLEDGED


def test_every_acknowledgment_names_one_rule_and_gives_a_specific_reason(
    synthesized: Synth,
) -> None:
    reasons = [
        (rule, reason)
        for rules in synthesized.acknowledgments.values()
        for rule, reason in rules.items()
    ]
    assert reasons
    for rule, reason in reasons:
        assert rule.startswith("AwsSolutions::AwsSolutions-"), rule
        assert len(reason) >= 120, f"{rule}: say why, specifically: {reason!r}"
    # one reason per rule, not a reason pasted everywhere
    assert len({reason for _, reason in reasons}) == len({rule for rule, _ in reasons})


def test_every_acknowledgment_silences_a_finding_on_its_own_construct(synthesized: Synth) -> None:
    # Given the findings the acknowledgments suppressed, with where each was acknowledged
    suppressed = {
        (violation["acknowledgedId"], violation["acknowledgedAt"], path)
        for violation, path in synthesized.violations(suppressed=True)
    }

    # Then each acknowledgment suppressed something, on its construct or the construct's own
    # resources (`.../Resource`), never on a parent's other children
    for rule, paths in ACKNOWLEDGED.items():
        for path in paths:
            hits = {found for ack, at, found in suppressed if ack == rule and at == path}
            assert hits, f"{rule} at {path} suppresses nothing: remove it"
            assert all(found.startswith(path + "/") for found in hits), hits


def test_a_resource_wildcard_is_only_ever_for_x_ray(resources: Json) -> None:
    statements = [
        statement
        for policy in of_type(resources, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    wildcard = [s for s in statements if "*" in as_list(s["Resource"])]

    assert wildcard
    for statement in wildcard:
        assert set(as_list(statement["Action"])) == XRAY_ACTIONS


def test_function_roles_have_no_managed_policy_and_write_only_their_own_logs(
    resources: Json,
) -> None:
    functions = of_type(resources, "AWS::Lambda::Function")
    for function in functions.values():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert "ManagedPolicyArns" not in resources[role]["Properties"]
        logs = [
            statement
            for policy in of_type(resources, "AWS::IAM::Policy").values()
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if any(str(action).startswith("logs:") for action in as_list(statement["Action"]))
        ]
        assert logs == [
            {
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [log_group, "Arn"]},
            }
        ]


# --- authentication: Cognito ----------------------------------------------------------------


def test_the_user_pool_has_no_sign_up_a_strong_password_policy_and_mfa(resources: Json) -> None:
    _, pool = only(resources, "AWS::Cognito::UserPool")

    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    policy = pool["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 14
    assert all(
        policy[f"Require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols")
    )
    assert pool["MfaConfiguration"] == "ON"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_the_resource_server_offers_exactly_the_topology_scopes(resources: Json) -> None:
    _, server = only(resources, "AWS::Cognito::UserPoolResourceServer")

    assert server["Identifier"] == RESOURCE_SERVER
    assert {
        f"{RESOURCE_SERVER}/{s['ScopeName']}": s["ScopeDescription"] for s in server["Scopes"]
    } == SCOPES


def test_the_app_client_may_only_use_client_credentials_with_the_topology_scopes(
    resources: Json,
) -> None:
    server_id, _ = only(resources, "AWS::Cognito::UserPoolResourceServer")
    _, client = only(resources, "AWS::Cognito::UserPoolClient")

    assert client["GenerateSecret"] is True
    assert client["AllowedOAuthFlows"] == ["client_credentials"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    # The resource server's Ref is its identifier: "<identifier>/<scope name>"
    scopes = set()
    for scope in client["AllowedOAuthScopes"]:
        ref, suffix = scope["Fn::Join"][1]
        assert ref == {"Ref": server_id}
        scopes.add(RESOURCE_SERVER + suffix)
    assert scopes == set(SCOPES)
    assert client["AccessTokenValidity"] == ACCESS_TOKEN_MINUTES
    assert client["TokenValidityUnits"] == {"AccessToken": "minutes"}
    # No user sign-in flow: refresh alone remains, and client credentials issue no refresh token
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]


def test_the_token_endpoint_client_and_pool_are_stack_outputs(
    synthesized: Synth, resources: Json
) -> None:
    outputs = synthesized.template["Outputs"]
    domain_id, domain = only(resources, "AWS::Cognito::UserPoolDomain")
    client_id, _ = only(resources, "AWS::Cognito::UserPoolClient")
    pool_id, _ = only(resources, "AWS::Cognito::UserPool")

    assert outputs["TokenUrl"]["Value"] == {
        "Fn::Join": [
            "",
            [
                "https://",
                {"Ref": domain_id},
                ".auth.",
                {"Ref": "AWS::Region"},
                ".amazoncognito.com/oauth2/token",
            ],
        ]
    }
    assert outputs["ClientId"]["Value"] == {"Ref": client_id}
    assert outputs["UserPoolId"]["Value"] == {"Ref": pool_id}
    # the prefix domain is unique per account: the stack's name, then the account id
    assert domain["Domain"] == {"Fn::Join": ["", ["asyncorders-", {"Ref": "AWS::AccountId"}]]}


@pytest.mark.parametrize(
    ("stack_name", "prefix"),
    [("AsyncOrders", "asyncorders"), ("Orders_Prod 2", "orders-prod-2"), ("x" * 60, "x" * 48)],
)
def test_the_domain_prefix_is_what_cognito_takes(stack_name: str, prefix: str) -> None:
    assert domain_prefix(stack_name) == prefix


@pytest.mark.parametrize("stack_name", ["MyAwsOrders", "cognito-orders", "---"])
def test_a_stack_name_cognito_would_refuse_fails_the_synth(stack_name: str) -> None:
    with pytest.raises(ValueError, match="domain prefix"):
        domain_prefix(stack_name)


def test_a_scope_off_the_resource_server_is_refused() -> None:
    assert scope_name(f"{RESOURCE_SERVER}/read") == "read"
    with pytest.raises(ValueError, match="resource server"):
        scope_name("billing/read")


# --- authorization: every method ------------------------------------------------------------


def test_every_method_needs_a_cognito_token_with_its_route_scopes(resources: Json) -> None:
    authorizer_id, authorizer = only(resources, "AWS::ApiGateway::Authorizer")
    pool_id, _ = only(resources, "AWS::Cognito::UserPool")
    assert authorizer["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["ProviderARNs"] == [{"Fn::GetAtt": [pool_id, "Arn"]}]
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"

    found = methods(resources)
    routes = {(route.path, route.method): route.scopes for route in TOPOLOGY.routes}
    assert set(routes) < set(found)
    for key, method in found.items():
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS", key
        assert method["AuthorizerId"] == {"Ref": authorizer_id}, key
        assert method["AuthorizationScopes"] == list(routes.get(key, CATCH_ALL_SCOPES)), key


def test_unauthenticated_and_forbidden_answers_are_problem_details(resources: Json) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in of_type(resources, "AWS::ApiGateway::GatewayResponse").values()
    }

    assert responses["UNAUTHORIZED"]["StatusCode"] == "401"
    assert (
        responses["UNAUTHORIZED"]["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"]
        == "'Bearer realm=\"orders\"'"
    )
    assert responses["ACCESS_DENIED"]["StatusCode"] == "403"
    assert responses["BAD_REQUEST_BODY"]["StatusCode"] == "400"
    for kind in ("UNAUTHORIZED", "ACCESS_DENIED", "BAD_REQUEST_BODY"):
        body = responses[kind]["ResponseTemplates"]["application/json"]
        assert '"type":"urn:orders-api:problem:gateway-$context.error.responseType"' in body


# --- request validation ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def place_order_model(resources: Json) -> Json:
    post = methods(resources)["/orders", "POST"]
    model_id = post["RequestModels"]["application/json"]["Ref"]
    return resources[model_id]["Properties"]["Schema"]  # type: ignore[no-any-return]


def test_route_methods_validate_body_and_parameters_and_require_path_parameters(
    resources: Json,
) -> None:
    validator_id, validator = only(resources, "AWS::ApiGateway::RequestValidator")
    assert validator["ValidateRequestBody"] is validator["ValidateRequestParameters"] is True

    found = methods(resources)
    for route in TOPOLOGY.routes:
        method = found[route.path, route.method]
        assert method["RequestValidatorId"] == {"Ref": validator_id}
        names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
        assert method.get("RequestParameters", {}) == {
            f"method.request.path.{name}": True for name in names
        }


def test_post_orders_body_model_is_the_contract_in_draft_4(
    resources: Json, place_order_model: Json
) -> None:
    stem = PLACE_ORDER_CONTRACT
    # Given the contract as events/schemas has it, from the model the function validates with
    assert contracts.CONTRACTS[stem][0].__name__ == "PlaceOrder"
    committed = json.loads((contracts.SCHEMAS_DIR / f"{stem}.schema.json").read_text())
    assert contract_schema(stem) == committed

    # Then the API's model is that schema in draft 4, for JSON bodies
    assert place_order_model == to_draft4(committed)
    Draft4Validator.check_schema(place_order_model)
    (model,) = [m["Properties"] for m in of_type(resources, "AWS::ApiGateway::Model").values()]
    assert model["ContentType"] == "application/json"


def test_every_route_body_contract_exists() -> None:
    bodies = {route.request_body for route in TOPOLOGY.routes if route.request_body}
    assert bodies == {PLACE_ORDER_CONTRACT}
    assert bodies <= set(contracts.CONTRACTS)


PLACE_ORDER_CONTRACT = next(
    r.request_body for r in TOPOLOGY.routes if (r.method, r.path) == ("POST", "/orders")
)
SAMPLE_BODY = json.loads(json.loads((SAMPLES / "place_order.json").read_text())["body"])
LINE = {"sku": "KB-001", "quantity": 2}
REFUSED = {
    "unknown field": {**SAMPLE_BODY, "discount": 100},
    "unknown field in a line": {"customerId": "c-42", "items": [{**LINE, "price": 1}]},
    "quantity 0": {"customerId": "c-42", "items": [{**LINE, "quantity": 0}]},
    "quantity 1001": {"customerId": "c-42", "items": [{**LINE, "quantity": 1001}]},
    "quantity as a string": {"customerId": "c-42", "items": [{**LINE, "quantity": "2"}]},
    "missing items": {"customerId": "c-42"},
    "no lines": {"customerId": "c-42", "items": []},
    "26 lines": {
        "customerId": "c-42",
        "items": [{"sku": f"SKU-{i}", "quantity": 1} for i in range(26)],
    },
    "lower-case sku": {"customerId": "c-42", "items": [{**LINE, "sku": "kb-001"}]},
    "empty customer": {"customerId": "", "items": [LINE]},
    "not an object": [LINE],
}
ACCEPTED = {
    "the sample": SAMPLE_BODY,
    "with a callback": {**SAMPLE_BODY, "callbackUrl": "https://example.com/hooks"},
    "callback null": {**SAMPLE_BODY, "callbackUrl": None},
    "25 lines of 1000": {
        "customerId": "c-42",
        "items": [{"sku": f"SKU-{i}", "quantity": 1000} for i in range(25)],
    },
}


@pytest.mark.parametrize("body", REFUSED.values(), ids=REFUSED.keys())
def test_the_model_refuses_what_the_api_refuses(place_order_model: Json, body: Any) -> None:
    model, _ = contracts.CONTRACTS[PLACE_ORDER_CONTRACT]
    with pytest.raises(ValidationError):
        model.model_validate(body)

    assert not Draft4Validator(place_order_model).is_valid(body)


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_the_model_accepts_what_the_api_accepts(place_order_model: Json, body: Any) -> None:
    model, _ = contracts.CONTRACTS[PLACE_ORDER_CONTRACT]
    model.model_validate(body)

    errors = [e.message for e in Draft4Validator(place_order_model).iter_errors(body)]
    assert errors == []


# --- WAF ------------------------------------------------------------------------------------


def test_there_is_no_waf_by_default(resources: Json) -> None:
    assert [r["Type"] for r in resources.values() if r["Type"].startswith("AWS::WAFv2::")] == []


def test_with_waf_true_a_regional_web_acl_guards_the_stage(synthesized_with_waf: Synth) -> None:
    resources = synthesized_with_waf.template["Resources"]
    acl_id, acl = only(resources, "AWS::WAFv2::WebACL")
    _, association = only(resources, "AWS::WAFv2::WebACLAssociation")
    stage_id, _ = only(resources, "AWS::ApiGateway::Stage")

    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    assert association["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert {"Ref": stage_id} in association["ResourceArn"]["Fn::Join"][1]
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    for group in MANAGED_RULE_GROUPS:
        assert rules[group]["Statement"]["ManagedRuleGroupStatement"] == {
            "VendorName": "AWS",
            "Name": group,
        }
    by_token = rules["RatePerToken"]["Statement"]["RateBasedStatement"]
    assert by_token["Limit"] == RATE_LIMIT_PER_TOKEN
    assert by_token["CustomKeys"][0]["Header"]["Name"] == "authorization"
    assert rules["RatePerIp"]["Statement"]["RateBasedStatement"]["Limit"] == RATE_LIMIT_PER_IP
    for name in ("RatePerToken", "RatePerIp"):
        block = rules[name]["Action"]["Block"]["CustomResponse"]
        body = json.loads(acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]["Content"])
        assert block["ResponseCode"] == body["status"] == 429
        assert body["type"] == "urn:orders-api:problem:gateway-THROTTLED"


def test_waf_is_off_unless_the_context_says_true() -> None:
    assert waf_from_context(cdk.App()) is False
    assert waf_from_context(cdk.App(context={"waf": "false"})) is False
    assert waf_from_context(cdk.App(context={"waf": "true"})) is True
    with pytest.raises(ValueError, match="waf"):
        waf_from_context(cdk.App(context={"waf": "yes"}))
