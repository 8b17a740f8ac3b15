"""The REST API: every topology route, plus catch-alls so the function answers 404 and 405."""

from __future__ import annotations

import json
from collections.abc import Iterator

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.topology import Topology

STAGE_NAME = "v1"
THROTTLING_RATE_LIMIT = 100  # steady requests per second, for the whole stage
THROTTLING_BURST_LIMIT = 200
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:orders-api:problem:gateway-"
# Gateway response types this API can meet today, with the status API Gateway documents for
# them. DEFAULT_4XX/DEFAULT_5XX catch every other type; their status varies by type and a
# gateway response template cannot read it, so their body carries no "status" member.
GATEWAY_RESPONSE_STATUS = {
    apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN: 403,
    apigateway.ResponseType.REQUEST_TOO_LARGE: 413,
    apigateway.ResponseType.THROTTLED: 429,
    apigateway.ResponseType.INTEGRATION_FAILURE: 504,
    apigateway.ResponseType.INTEGRATION_TIMEOUT: 504,
}


class Api(Construct):
    """API Gateway REST API proxying to the topology's API function.

    Besides each route, every resource (root included) has an `ANY` method and a root
    `{proxy+}` catches unknown paths, all on the same integration: the function answers 404
    and 405 as problem+json instead of API Gateway's 403 "Missing Authentication Token".
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topology: Topology,
        handler: lambda_.IFunction,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=removal_policy
        )
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{Stack.of(self).stack_name}-api",
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
                throttling_rate_limit=THROTTLING_RATE_LIMIT,
                throttling_burst_limit=THROTTLING_BURST_LIMIT,
            ),
        )
        # The stack publishes the URL as ApiUrl; drop RestApi's own duplicate output.
        self.rest_api.node.try_remove_child("Endpoint")

        # One integration, one API-scoped invoke permission (not one per method).
        integration = apigateway.LambdaIntegration(handler, scope_permission_to_method=False)
        root = self.rest_api.root
        root.add_method("ANY", integration)
        for path in _paths_with_prefixes(topology.resource_paths()):
            resource = root.resource_for_path(path)
            for method in topology.methods_for(path):
                resource.add_method(method, integration)
            resource.add_method("ANY", integration)
        root.add_proxy(default_integration=integration, any_method=True)

        self._problem_response(apigateway.ResponseType.DEFAULT_4_XX, status=None)
        self._problem_response(apigateway.ResponseType.DEFAULT_5_XX, status=None)
        for response_type, status in GATEWAY_RESPONSE_STATUS.items():
            self._problem_response(response_type, status=status)

    def _problem_response(self, response_type: apigateway.ResponseType, status: int | None) -> None:
        body = problem_template(status)
        self.rest_api.add_gateway_response(
            response_type.response_type,
            type=response_type,
            status_code=str(status) if status is not None else None,
            response_headers={"Content-Type": f"'{PROBLEM_JSON}'"},
            templates={"application/json": body, PROBLEM_JSON: body},
        )


def problem_template(status: int | None) -> str:
    """An RFC 9457 body for API Gateway's own errors (`messageString` is already quoted)."""
    members = [
        f'"type":"{PROBLEM_TYPE_PREFIX}$context.error.responseType"',
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
