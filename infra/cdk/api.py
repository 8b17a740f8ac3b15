"""The REST API: every topology route, plus catch-alls so the function answers 404 and 405.

Every method needs a Cognito access token carrying one of its route's scopes and an API key
(header x-api-key): each app client has its own key in its own usage plan, which throttles it
and caps its requests per day. Request bodies with a contract are validated against its draft-4
model before the function runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.cdk.nag import acknowledge
from infra.cdk.naming import api_name, construct_id
from infra.draft4 import to_draft4
from infra.topology import (
    API_KEY_HEADER,
    CATCH_ALL_SCOPES,
    PROBLEM_TYPE_PREFIX,
    STAGE_BURST_LIMIT,
    STAGE_RATE_LIMIT_PER_SECOND,
    AppClient,
    Route,
    Topology,
)

# The committed contracts (`make contracts` writes them from the models; a drift test keeps
# them equal): the app reads these files and never imports Lambda code.
SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "events" / "schemas"
STAGE_NAME = "v1"

PROBLEM_JSON = "application/problem+json"
# API Gateway's own errors: `<prefix>gateway-<response type>`, apart from the function's types.
GATEWAY_PROBLEM_TYPE_PREFIX = f"{PROBLEM_TYPE_PREFIX}gateway-"
# Gateway response types this API can meet today, with the status API Gateway documents for
# them. DEFAULT_4XX/DEFAULT_5XX catch every other type; their status varies by type and a
# gateway response template cannot read it, so their body carries no "status" member.
GATEWAY_RESPONSE_STATUS = {
    apigateway.ResponseType.BAD_REQUEST_BODY: 400,  # the body breaks the route's model
    apigateway.ResponseType.BAD_REQUEST_PARAMETERS: 400,
    apigateway.ResponseType.UNAUTHORIZED: 401,  # no token, or not a valid one
    apigateway.ResponseType.ACCESS_DENIED: 403,
    apigateway.ResponseType.INVALID_API_KEY: 403,  # no x-api-key, or not a key of this stage
    apigateway.ResponseType.WAF_FILTERED: 403,  # with -c waf=true
    apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN: 403,
    apigateway.ResponseType.REQUEST_TOO_LARGE: 413,
    apigateway.ResponseType.THROTTLED: 429,
    apigateway.ResponseType.QUOTA_EXCEEDED: 429,  # the client's usage plan quota for the day
    apigateway.ResponseType.INTEGRATION_FAILURE: 504,
    apigateway.ResponseType.INTEGRATION_TIMEOUT: 504,
}
# RFC 6750: a 401 names the scheme it wants (the local gateway answers the same).
GATEWAY_RESPONSE_HEADERS = {
    apigateway.ResponseType.UNAUTHORIZED: {"WWW-Authenticate": 'Bearer realm="orders"'},
}
JSON = "application/json"


class Api(Construct):
    """API Gateway REST API proxying to the topology's API function, behind a Cognito authorizer.

    Besides each route, every resource (root included) has an `ANY` method and a root
    `{proxy+}` catches unknown paths, all on the same integration: the function answers 404
    and 405 as problem+json instead of API Gateway's 403 "Missing Authentication Token".
    Every method, catch-alls included, needs an access token: a route's with one of its
    scopes, a catch-all's with any of CATCH_ALL_SCOPES, and an API key of one of `app_clients`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        handler: lambda_.IFunction,
        user_pool: cognito.IUserPool,
        app_clients: Sequence[AppClient],
        removal_policy: RemovalPolicy,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id)
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=removal_policy
        )
        authorizer = apigateway.CognitoUserPoolsAuthorizer(
            self, "Authorizer", cognito_user_pools=[user_pool]
        )
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=api_name(Stack.of(self).stack_name),  # its metrics' ApiName
            description="Asynchronous order API: accepts orders and queues them for settlement.",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # Execution logging needs the account-level API Gateway role: a singleton per
            # account and region, retained on stack deletion (CDK's default).
            cloud_watch_role=True,
            deploy_options=apigateway.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=_access_log_format(),
                logging_level=apigateway.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # request and response bodies stay out of the logs
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=STAGE_RATE_LIMIT_PER_SECOND,
                throttling_burst_limit=STAGE_BURST_LIMIT,
            ),
            api_key_source_type=apigateway.ApiKeySourceType.HEADER,  # API_KEY_HEADER
            # Nothing is open by default: a method added without options is a catch-all. Every
            # method (routes merge their options over these) needs a token and an API key.
            default_method_options=apigateway.MethodOptions(
                authorizer=authorizer,
                authorization_type=apigateway.AuthorizationType.COGNITO,
                authorization_scopes=list(CATCH_ALL_SCOPES),
                api_key_required=True,
            ),
        )
        # The stack publishes the URL as ApiUrl; drop RestApi's own duplicate output.
        self.rest_api.node.try_remove_child("Endpoint")
        if (role := self.rest_api.node.try_find_child("CloudWatchRole")) is not None:
            acknowledge(
                role,
                "IAM4",
                "This is the account-wide API Gateway logging role (AWS::ApiGateway::Account "
                "holds one per account and region, and every REST API in it logs through it), "
                "so it cannot be scoped to this stack's log groups without breaking other APIs' "
                "logs; AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for it.",
                finding="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs",
            )
        self._validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )

        # One integration, one API-scoped invoke permission (not one per method).
        integration = apigateway.LambdaIntegration(handler, scope_permission_to_method=False)
        root = self.rest_api.root
        root.add_method("ANY", integration)
        for path in _paths_with_prefixes(topology.resource_paths()):
            resource = root.resource_for_path(path)
            for route in topology.routes:
                if route.path == path:
                    resource.add_method(route.method, integration, **self._route_options(route))
            resource.add_method("ANY", integration)
        root.add_proxy(default_integration=integration, any_method=True)

        self.api_keys = self._usage_plans(app_clients)

        self._problem_response(apigateway.ResponseType.DEFAULT_4_XX, status=None)
        self._problem_response(apigateway.ResponseType.DEFAULT_5_XX, status=None)
        for response_type, status in GATEWAY_RESPONSE_STATUS.items():
            self._problem_response(response_type, status=status)

    def _usage_plans(self, app_clients: Sequence[AppClient]) -> dict[str, apigateway.IApiKey]:
        """Per app client: a generated API key in its own usage plan on the stage, with the
        client's rate, burst and daily quota. AppClient name -> its key."""
        stack_name = Stack.of(self).stack_name
        stage = self.rest_api.deployment_stage
        keys: dict[str, apigateway.IApiKey] = {}
        for client in app_clients:
            name = construct_id(client.name)
            key = self.rest_api.add_api_key(
                f"{name}ApiKey",
                api_key_name=f"{stack_name}-{client.name}",
                description=f"{client.name}: send it as {API_KEY_HEADER} with every request",
            )
            plan = self.rest_api.add_usage_plan(
                f"{name}UsagePlan",
                name=f"{stack_name}-{client.name}",
                description=f"Limits for {client.name}",
                throttle=apigateway.ThrottleSettings(
                    rate_limit=client.rate_per_second, burst_limit=client.burst
                ),
                quota=apigateway.QuotaSettings(
                    limit=client.quota_per_day, period=apigateway.Period.DAY
                ),
                api_stages=[apigateway.UsagePlanPerApiStage(api=self.rest_api, stage=stage)],
            )
            plan.add_api_key(key)
            keys[client.name] = key
        return keys

    def _route_options(self, route: Route) -> dict[str, Any]:
        """A route's scopes, its required path parameters and, if it has one, its body model."""
        options: dict[str, Any] = {
            "authorization_scopes": list(route.scopes),
            "request_validator": self._validator,
        }
        if parameters := route.parameters:
            options["request_parameters"] = {
                f"method.request.path.{name}": True for name in parameters
            }
        if (contract := route.request_body) is not None:
            options["request_models"] = {JSON: self._model(contract)}
        return options

    def _model(self, contract: str) -> apigateway.IModel:
        """The contract's JSON Schema (as events/schemas has it) as a draft-4 API model."""
        schema = to_draft4(contract_schema(contract))
        name = construct_id(contract.rsplit("/", 1)[-1].replace(".", "-"))  # PlaceOrderRequest
        model = apigateway.CfnModel(
            self,
            f"{name}Model",
            rest_api_id=self.rest_api.rest_api_id,
            name=name,
            content_type=JSON,
            description=f"{contract} (events/schemas), as JSON Schema draft 4",
            schema=schema,
        )
        # As apigateway.Model does: a changed schema is a new deployment, made after the model.
        deployment = self.rest_api.latest_deployment
        if deployment is not None:
            deployment.node.add_dependency(model)
            deployment.add_to_logical_id({"model": {"name": name, "schema": schema}})
        return apigateway.Model.from_model_name(self, f"{name}ModelRef", model.ref)

    def _problem_response(self, response_type: apigateway.ResponseType, status: int | None) -> None:
        body = problem_template(status)
        headers = {"Content-Type": PROBLEM_JSON}
        for kind, extra in GATEWAY_RESPONSE_HEADERS.items():  # jsii enums compare by name
            if kind.response_type == response_type.response_type:
                headers |= extra
        self.rest_api.add_gateway_response(
            response_type.response_type,
            type=response_type,
            status_code=str(status) if status is not None else None,
            # Static header values are quoted for API Gateway.
            response_headers={name: f"'{value}'" for name, value in headers.items()},
            templates={"application/json": body, PROBLEM_JSON: body},
        )


def contract_schema(stem: str) -> dict[str, Any]:
    """The committed JSON Schema of `stem` (events/schemas/<stem>.schema.json)."""
    schema_file = SCHEMAS_DIR / f"{stem}.schema.json"
    if not schema_file.is_file():
        raise ValueError(f"no contract {stem!r}: {schema_file} is missing (run `make contracts`)")
    return json.loads(schema_file.read_text())  # type: ignore[no-any-return]


def problem_template(status: int | None) -> str:
    """An RFC 9457 body for API Gateway's own errors (`messageString` is already quoted)."""
    members = [
        f'"type":"{GATEWAY_PROBLEM_TYPE_PREFIX}$context.error.responseType"',
        '"title":$context.error.messageString',
        *([f'"status":{status}'] if status is not None else []),
        '"requestId":"$context.requestId"',
    ]
    return "{" + ",".join(members) + "}"


def _paths_with_prefixes(paths: list[str]) -> Iterator[str]:
    """Every path and each of its parents, so no resource is left without a method."""
    seen: set[str] = set()
    for path in paths:
        parts = path.strip("/").split("/")
        for end in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:end])
            if prefix not in seen:
                seen.add(prefix)
                yield prefix


def _access_log_format() -> apigateway.AccessLogFormat:
    """One JSON line per request: who, what, how it ended and how long it took."""
    field = apigateway.AccessLogField
    return apigateway.AccessLogFormat.custom(
        json.dumps(
            {
                "requestId": field.context_request_id(),
                "extendedRequestId": field.context_extended_request_id(),
                "requestTime": field.context_request_time(),
                "ip": field.context_identity_source_ip(),
                "httpMethod": field.context_http_method(),
                "resourcePath": field.context_resource_path(),
                "path": field.context_path(),
                "protocol": field.context_protocol(),
                "status": field.context_status(),
                "responseLength": field.context_response_length(),
                "responseLatency": field.context_response_latency(),
                "integrationLatency": field.context_integration_latency(),
                "errorType": field.context_error_response_type(),
                "errorMessage": field.context_error_message(),
                "xrayTraceId": field.context_xray_trace_id(),
            }
        )
    )
