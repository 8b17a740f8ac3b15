"""The stacks pass AWS's own rule pack, and what makes them pass: tokens, scopes, validation, WAF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from jsonschema import Draft4Validator, Draft202012Validator

from infra.cdk.api import SCHEMAS_DIR, contract_schema
from infra.cdk.app import build, stack_names
from infra.cdk.auth import domain_prefix, scope_name
from infra.cdk.firewall import MANAGED_RULE_GROUPS
from infra.cdk.nag import add_security_checks
from infra.cdk.naming import app_prefix, construct_id, stack_name
from infra.cdk.stack import ComponentStack
from infra.cdk.stage import stage_settings
from infra.draft4 import to_draft4
from infra.topology import (
    ACCESS_TOKEN_MINUTES,
    API_KEY_HEADER,
    APP_CLIENTS,
    CATCH_ALL_SCOPES,
    RESOURCE_SERVER,
    SCOPE_READ,
    SCOPE_WRITE,
    SCOPES,
    TOPOLOGY,
    WAF_RATE_LIMIT_PER_IP,
    WAF_RATE_LIMIT_PER_TOKEN,
    AppClient,
)
from tests.infra.synth import (
    MESSAGING_STACK,
    Json,
    Synth,
    as_list,
    methods,
    of_type,
    only,
    statements,
)

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "events" / "samples" / "api"
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
STACKS = stack_names()
API_STACK = stack_name(TOPOLOGY.api_function().component)  # AsyncOrders-prod-Orders
# Every acknowledgment, where it is made: adding one means adding it here, with a reason.
FUNCTION_POLICIES = {
    f"{stack_name(f.component)}/Functions/{construct_id(f.name)}Role/DefaultPolicy"
    for f in TOPOLOGY.functions
}
ACKNOWLEDGED = {
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]": FUNCTION_POLICIES,
    "AwsSolutions::AwsSolutions-SMG4": {
        f"{stack_name(s.component)}/Secrets/{construct_id(s.name)}Secret" for s in TOPOLOGY.secrets
    },
    "AwsSolutions::AwsSolutions-COG8": {f"{API_STACK}/Auth/UserPool"},
    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonAPIGatewayPushToCloudWatchLogs]": {f"{API_STACK}/Api/RestApi/CloudWatchRole"},
}


@pytest.fixture(scope="module")
def resources(api_template: Json) -> Json:
    """The resources of the stack that serves the API (and holds its user pool)."""
    return api_template["Resources"]  # type: ignore[no-any-return]


# --- cdk-nag --------------------------------------------------------------------------------


def test_cdk_nag_finds_no_error_and_warns_only_that_waf_is_off(synthesized_dev: Synth) -> None:
    synthesized = synthesized_dev  # the dev stage has no WAF
    # The synth itself raises on an unacknowledged error; the report says what is left.
    findings = {(v["ruleName"], v["severity"], path) for v, path in synthesized.violations()}

    dev_api_stack = stack_name(TOPOLOGY.api_function().component, app_prefix("dev"))
    assert findings == {
        (
            "AwsSolutions-APIG3",
            "warning",
            f"{dev_api_stack}/Api/RestApi/DeploymentStage.v1/Resource",
        )
    }


def test_cdk_nag_checks_every_stack(synthesized: Synth, tmp_path: Path) -> None:
    # Each component stack had findings to acknowledge: cdk-nag looked at it
    acknowledged = {path.split("/", 1)[0] for _, path in synthesized.violations(suppressed=True)}
    assert acknowledged == set(STACKS) - {MESSAGING_STACK}

    # and the messaging stack, with nothing to acknowledge, is checked as well
    app = cdk.App(outdir=str(tmp_path))
    (messaging,) = build(app, only={MESSAGING_STACK}).values()
    sqs.Queue(messaging, "Plain", encryption=sqs.QueueEncryption.SQS_MANAGED)
    add_security_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    found = {
        (v["ruleName"], c["constructPath"])
        for p in report["pluginReports"]
        for v in p["violations"]
        for c in v["violatingConstructs"]
    }
    # (SQS3: the plain queue has no DLQ either; the real queues pass both rules)
    assert {path for _, path in found} == {f"{MESSAGING_STACK}/Plain/Resource"}
    assert ("AwsSolutions-SQS4", f"{MESSAGING_STACK}/Plain/Resource") in found


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


@pytest.mark.parametrize("stack", STACKS)
def test_a_resource_wildcard_is_only_ever_for_x_ray(stack: str, synthesized: Synth) -> None:
    resources = synthesized.templates[stack]["Resources"]
    wildcard = [s for _, s in statements(resources) if "*" in as_list(s["Resource"])]

    assert bool(wildcard) == bool(of_type(resources, "AWS::Lambda::Function"))
    for statement in wildcard:
        assert set(as_list(statement["Action"])) == XRAY_ACTIONS


@pytest.mark.parametrize("stack", STACKS)
def test_function_roles_have_no_managed_policy_and_write_only_their_own_logs(
    stack: str, synthesized: Synth
) -> None:
    resources = synthesized.templates[stack]["Resources"]
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


def app_clients(resources: Json) -> dict[str, Json]:
    """ClientName -> the Cognito app client's properties."""
    return {
        c["Properties"]["ClientName"]: c["Properties"]
        for c in of_type(resources, "AWS::Cognito::UserPoolClient").values()
    }


def oauth_scopes(resources: Json, client: Json) -> list[str]:
    """The client's allowed scopes, as "<resource server>/<scope name>"."""
    server_id, _ = only(resources, "AWS::Cognito::UserPoolResourceServer")
    scopes = []
    for scope in client["AllowedOAuthScopes"]:
        # The resource server's Ref is its identifier: "<identifier>/<scope name>"
        ref, suffix = scope["Fn::Join"][1]
        assert ref == {"Ref": server_id}
        scopes.append(RESOURCE_SERVER + suffix)
    return scopes


def test_the_app_clients_are_the_topology_clients_with_their_scopes(resources: Json) -> None:
    clients = app_clients(resources)

    assert len(clients) == len(of_type(resources, "AWS::Cognito::UserPoolClient"))
    assert {name: oauth_scopes(resources, c) for name, c in clients.items()} == {
        c.name: list(c.scopes) for c in APP_CLIENTS
    }


def test_app_clients_may_only_use_client_credentials_with_short_tokens(resources: Json) -> None:
    clients = app_clients(resources)
    assert clients

    for client in clients.values():
        assert client["GenerateSecret"] is True
        assert client["AllowedOAuthFlows"] == ["client_credentials"]
        assert client["AllowedOAuthFlowsUserPoolClient"] is True
        assert set(oauth_scopes(resources, client)) <= set(SCOPES)
        assert client["AccessTokenValidity"] == ACCESS_TOKEN_MINUTES
        assert client["TokenValidityUnits"] == {"AccessToken": "minutes"}
        # No user sign-in flow: refresh alone remains; client credentials issue no refresh token
        assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]


def test_the_token_endpoint_client_and_pool_are_stack_outputs(
    api_template: Json, resources: Json
) -> None:
    outputs = api_template["Outputs"]
    domain_id, domain = only(resources, "AWS::Cognito::UserPoolDomain")
    client_ids = {
        c["Properties"]["ClientName"]: id_
        for id_, c in of_type(resources, "AWS::Cognito::UserPoolClient").items()
    }
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
    # ClientId (the README's name) is the first client; every client has its own output too
    assert outputs["ClientId"]["Value"] == {"Ref": client_ids[APP_CLIENTS[0].name]}
    for client in APP_CLIENTS:
        output = outputs[f"{construct_id(client.name)}ClientId"]
        assert output["Value"] == {"Ref": client_ids[client.name]}
    assert outputs["UserPoolId"]["Value"] == {"Ref": pool_id}
    # the prefix domain is unique per account: the stack's name, then the account id
    assert domain["Domain"] == {
        "Fn::Join": ["", ["asyncorders-prod-orders-", {"Ref": "AWS::AccountId"}]]
    }


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
    assert responses["INVALID_API_KEY"]["StatusCode"] == "403"
    assert responses["QUOTA_EXCEEDED"]["StatusCode"] == "429"
    for kind in (
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "BAD_REQUEST_BODY",
        "INVALID_API_KEY",
        "QUOTA_EXCEEDED",
    ):
        body = responses[kind]["ResponseTemplates"]["application/json"]
        assert '"type":"urn:orders-api:problem:gateway-$context.error.responseType"' in body


# --- per-client limits: API keys and usage plans --------------------------------------------


def usage_plans(resources: Json) -> dict[str, tuple[str, Json]]:
    """Client name -> (logical id, properties) of its usage plan (named "<stack>-<client>")."""
    return {
        p["Properties"]["UsagePlanName"].removeprefix(f"{API_STACK}-"): (id_, p["Properties"])
        for id_, p in of_type(resources, "AWS::ApiGateway::UsagePlan").items()
    }


def api_keys(resources: Json) -> dict[str, str]:
    """Client name -> logical id of its API key (named "<stack>-<client>")."""
    return {
        k["Properties"]["Name"].removeprefix(f"{API_STACK}-"): id_
        for id_, k in of_type(resources, "AWS::ApiGateway::ApiKey").items()
    }


def test_every_method_needs_an_api_key_sent_as_the_topology_header(resources: Json) -> None:
    found = methods(resources)
    _, api = only(resources, "AWS::ApiGateway::RestApi")

    assert found
    for key, method in found.items():
        assert method.get("ApiKeyRequired") is True, key
    # HEADER is API Gateway's x-api-key header, the one the topology (and local gateway) name
    assert api["ApiKeySourceType"] == "HEADER"
    assert API_KEY_HEADER == "x-api-key"


def check_usage_plans(resources: Json, clients: tuple[AppClient, ...]) -> None:
    """One plan per client with its limits on the one stage; one generated key per client,
    in its plan and no other."""
    api_id, _ = only(resources, "AWS::ApiGateway::RestApi")
    stage_id, _ = only(resources, "AWS::ApiGateway::Stage")
    plans = usage_plans(resources)
    keys = api_keys(resources)

    assert len(plans) == len(of_type(resources, "AWS::ApiGateway::UsagePlan"))
    assert set(plans) == set(keys) == {c.name for c in clients}
    for client in clients:
        _, plan = plans[client.name]
        assert plan["Throttle"] == {"RateLimit": client.rate_per_second, "BurstLimit": client.burst}
        assert plan["Quota"] == {"Limit": client.quota_per_day, "Period": "DAY"}
        assert [(s["ApiId"], s["Stage"]) for s in plan["ApiStages"]] == [
            ({"Ref": api_id}, {"Ref": stage_id})
        ]
        # generated by API Gateway: no value in the template
        assert "Value" not in resources[keys[client.name]]["Properties"]
    associations = sorted(
        (k["Properties"]["KeyId"]["Ref"], k["Properties"]["UsagePlanId"]["Ref"])
        for k in of_type(resources, "AWS::ApiGateway::UsagePlanKey").values()
    )
    assert all(
        k["Properties"]["KeyType"] == "API_KEY"
        for k in of_type(resources, "AWS::ApiGateway::UsagePlanKey").values()
    )
    assert associations == sorted((keys[c.name], plans[c.name][0]) for c in clients)


def test_each_app_client_has_its_own_key_in_its_own_usage_plan(resources: Json) -> None:
    check_usage_plans(resources, APP_CLIENTS)


def test_each_client_s_api_key_id_is_a_stack_output(api_template: Json, resources: Json) -> None:
    outputs = api_template["Outputs"]
    keys = api_keys(resources)

    for client in APP_CLIENTS:
        assert outputs[f"{construct_id(client.name)}ApiKeyId"]["Value"] == {
            "Ref": keys[client.name]
        }


TWO_CLIENTS = (
    AppClient("orders-client", (SCOPE_READ, SCOPE_WRITE)),
    AppClient("reporting", (SCOPE_READ,), rate_per_second=5, burst=10, quota_per_day=1_000),
)


def test_every_declared_client_gets_an_app_client_a_key_a_plan_and_outputs() -> None:
    # Given two clients with different scopes and limits
    stack = ComponentStack(
        cdk.App(),
        API_STACK,
        topology=TOPOLOGY,
        component=TOPOLOGY.api_function().component,
        app_clients=TWO_CLIENTS,
    )
    template = Template.from_stack(stack).to_json()
    resources = template["Resources"]

    # Then each has its own app client, scopes, key, plan and outputs
    assert {n: oauth_scopes(resources, c) for n, c in app_clients(resources).items()} == {
        "orders-client": [SCOPE_READ, SCOPE_WRITE],
        "reporting": [SCOPE_READ],
    }
    check_usage_plans(resources, TWO_CLIENTS)
    for name in ("OrdersClient", "Reporting"):
        assert {f"{name}ClientId", f"{name}ApiKeyId"} <= set(template["Outputs"])
    assert template["Outputs"]["ClientId"] == {
        **template["Outputs"]["OrdersClientClientId"],
        "Description": template["Outputs"]["ClientId"]["Description"],
    }


@pytest.mark.parametrize(
    ("clients", "message"),
    [
        ((), "no app clients"),
        ((AppClient("billing", ("billing/read",)),), "scopes the resource server does not offer"),
        ((AppClient("a", (SCOPE_READ,)), AppClient("a", (SCOPE_WRITE,))), "declared twice"),
    ],
    ids=["none", "unknown scope", "duplicate"],
)
def test_app_clients_the_stack_cannot_serve_are_refused(
    clients: tuple[AppClient, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ComponentStack(
            cdk.App(),
            API_STACK,
            topology=TOPOLOGY,
            component=TOPOLOGY.api_function().component,
            app_clients=clients,
        )


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
        assert method.get("RequestParameters", {}) == {
            f"method.request.path.{name}": True for name in route.parameters
        }


def test_post_orders_body_model_is_the_committed_contract_in_draft_4(
    resources: Json, place_order_model: Json
) -> None:
    # Given the contract as events/schemas has it (a drift test keeps it equal to the model
    # the function validates with; the app reads the file and imports no Lambda code)
    committed = json.loads((SCHEMAS_DIR / f"{PLACE_ORDER_CONTRACT}.schema.json").read_text())
    assert contract_schema(PLACE_ORDER_CONTRACT) == committed

    # Then the API's model is that schema in draft 4, for JSON bodies
    assert place_order_model == to_draft4(committed)
    Draft4Validator.check_schema(place_order_model)
    (model,) = [m["Properties"] for m in of_type(resources, "AWS::ApiGateway::Model").values()]
    assert model["ContentType"] == "application/json"


def test_every_route_body_contract_is_a_committed_schema() -> None:
    bodies = {route.request_body for route in TOPOLOGY.routes if route.request_body}
    assert bodies == {PLACE_ORDER_CONTRACT}
    for stem in bodies:
        assert (SCHEMAS_DIR / f"{stem}.schema.json").is_file(), stem


def test_a_missing_contract_fails_the_synth() -> None:
    with pytest.raises(ValueError, match="no contract"):
        contract_schema("api/nothing.request")


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


def committed_validator() -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / f"{PLACE_ORDER_CONTRACT}.schema.json").read_text())
    return Draft202012Validator(schema)


@pytest.mark.parametrize("body", REFUSED.values(), ids=REFUSED.keys())
def test_the_model_refuses_what_the_contract_refuses(place_order_model: Json, body: Any) -> None:
    assert not committed_validator().is_valid(body)

    assert not Draft4Validator(place_order_model).is_valid(body)


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_the_model_accepts_what_the_contract_accepts(place_order_model: Json, body: Any) -> None:
    assert list(committed_validator().iter_errors(body)) == []

    errors = [e.message for e in Draft4Validator(place_order_model).iter_errors(body)]
    assert errors == []


# --- WAF ------------------------------------------------------------------------------------


def test_there_is_no_waf_in_the_dev_stage(synthesized_dev: Synth) -> None:
    for template in synthesized_dev.templates.values():
        types = [r["Type"] for r in template["Resources"].values()]
        assert [t for t in types if t.startswith("AWS::WAFv2::")] == []


def test_with_waf_true_a_regional_web_acl_guards_the_stage(synthesized_with_waf: Synth) -> None:
    resources = synthesized_with_waf.templates[API_STACK]["Resources"]
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
    assert by_token["Limit"] == WAF_RATE_LIMIT_PER_TOKEN
    assert by_token["CustomKeys"][0]["Header"]["Name"] == "authorization"
    assert rules["RatePerIp"]["Statement"]["RateBasedStatement"]["Limit"] == WAF_RATE_LIMIT_PER_IP
    for name in ("RatePerToken", "RatePerIp"):
        block = rules[name]["Action"]["Block"]["CustomResponse"]
        body = json.loads(acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]["Content"])
        assert block["ResponseCode"] == body["status"] == 429
        assert body["type"] == "urn:orders-api:problem:gateway-THROTTLED"


def test_waf_is_on_in_prod_off_in_dev_and_the_context_overrides_either() -> None:
    def waf(**context: str) -> bool:
        return stage_settings(cdk.App(context=context)).waf

    assert waf() is True  # prod, the default stage
    assert waf(stage="dev") is False
    assert waf(waf="false") is False
    assert waf(stage="dev", waf="true") is True
    with pytest.raises(ValueError, match="waf"):
        waf(waf="yes")
