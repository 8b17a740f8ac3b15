"""An HTTP front door that behaves as API Gateway's REST API with Lambda proxy integration.

Each request becomes a REST proxy event (payload format 1.0) for the API function and the
function's answer becomes the HTTP response. As on AWS, every path reaches the function (the
stack routes unknown paths to it through `{proxy+}`), bodies over 10 MB are refused by the
gateway, and a failing or timed-out function gets API Gateway's 502/504, rendered as
problem+json as the stack's gateway responses do.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema import Draft4Validator

from infra.draft4 import to_draft4
from infra.local.lambda_runtime import FunctionTimeout, InvocationError, LocalFunction
from infra.topology import API_KEY_HEADER, CATCH_ALL_SCOPES, Topology

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "events" / "schemas"

GATEWAY_PAYLOAD_LIMIT = 10 * 1024 * 1024
STAGE = "local"
ACCOUNT_ID = "123456789012"

# Extra local-only endpoints (webhook receiver, token endpoint...) plug in here: path -> handler.
# A path ending in "/" is a directory route: it also answers every file directly under it.
LocalRoute = Callable[["GatewayRequestHandler"], None]


class ApiGateway:
    def __init__(
        self,
        topology: Topology,
        function: LocalFunction,
        host: str,
        port: int,
        local_routes: dict[str, LocalRoute] | None = None,
        authorizer: Any = None,
    ) -> None:
        self.topology = topology
        self.function = function
        # checks each request's token as API Gateway's Cognito authorizer does (infra.local.auth)
        self.authorizer = authorizer
        self.log: Callable[[str], None] = lambda _: None
        self.local_routes = local_routes or {}
        handler = type("BoundHandler", (GatewayRequestHandler,), {"gateway": self})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def valid_body(self, method: str, path: str, headers: Any, body: bytes) -> bool:
        """API Gateway's request validator: a JSON body must fit its route's model, if any."""
        route = self.topology.route_for(method, path)
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if route is None or route.request_body is None or content_type != "application/json":
            return True
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            self.log(f"{method} {path}: invalid request body: not JSON")
            return False
        errors = [e.message for e in _validator(route.request_body).iter_errors(document)]
        if errors:
            self.log(f"{method} {path}: request body does not match the model: {errors}")
        return not errors

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def proxy_event(
        self,
        method: str,
        raw_path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> dict[str, Any]:
        """A REST API proxy event, shaped like the samples in events/samples/api/."""
        split = urlsplit(raw_path)
        path = split.path or "/"
        resource, path_parameters = "/{proxy+}", {"proxy": path.lstrip("/")}
        for route in self.topology.routes:
            found = route.matches(path)
            if found is not None:
                resource, path_parameters = route.path, found
                break
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        query = parse_qsl(split.query, keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for name, value in query:
            multi_query.setdefault(name, []).append(value)
        try:
            text, is_base64 = body.decode(), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode(), True
        now = time.time()
        request_id = str(uuid.uuid4())
        return {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": dict(query) or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "local",
                "resourcePath": resource,
                "httpMethod": method,
                "extendedRequestId": request_id,
                "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": path,
                "accountId": ACCOUNT_ID,
                "protocol": "HTTP/1.1",
                "stage": STAGE,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(now * 1000),
                "requestId": request_id,
                "identity": {"sourceIp": source_ip, "userAgent": single.get("User-Agent")},
                "domainName": "localhost",
                "apiId": "local",
            },
            "body": text if body else None,
            "isBase64Encoded": is_base64,
        }


@cache
def _validator(contract: str) -> Draft4Validator:
    """The route's request model: its contract from events/schemas, in draft 4 as on AWS."""
    schema = json.loads((SCHEMAS_DIR / f"{contract}.schema.json").read_text())
    return Draft4Validator(to_draft4(schema))


class GatewayRequestHandler(BaseHTTPRequestHandler):
    gateway: ApiGateway
    protocol_version = "HTTP/1.1"
    server_version = "local-api-gateway"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the functions log every request; the gateway stays quiet

    def do_GET(self) -> None:
        self._handle()

    # every method reaches the API (API Gateway's ANY); the function answers 405 where due
    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815
    do_TRACE = do_QUERY = do_CONNECT = do_GET  # noqa: N815

    def read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > GATEWAY_PAYLOAD_LIMIT:
            remaining = min(
                length, 8 * GATEWAY_PAYLOAD_LIMIT
            )  # drain, so the client reads our answer
            while remaining > 0 and (chunk := self.rfile.read(min(remaining, 1 << 20))):
                remaining -= len(chunk)
            self.send_problem(413, "gateway-REQUEST_TOO_LARGE", "Request entity too large")
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        path = urlsplit(self.path).path
        # an exact local route, else a directory one: "/docs/" serves every "/docs/<file>"
        routes = self.gateway.local_routes
        local = routes.get(path) or routes.get(path[: path.rfind("/") + 1])
        if local is not None:
            local(self)
            return
        body = self.read_body()
        if body is None:
            return
        event = self.gateway.proxy_event(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        if self.gateway.authorizer is not None:
            route = self.gateway.topology.route_for(
                "GET" if self.command == "HEAD" else self.command, event["path"]
            )
            scopes = route.scopes if route else CATCH_ALL_SCOPES
            verdict = self.gateway.authorizer.authorize(self.headers.get("Authorization"), scopes)
            if isinstance(verdict, dict):
                verdict = self.gateway.authorizer.meter(self.headers.get(API_KEY_HEADER)) or verdict
            if not isinstance(verdict, dict):
                self.send_problem(
                    verdict.status,
                    f"gateway-{verdict.kind}",
                    {401: "Unauthorized", 403: "Forbidden"}.get(
                        verdict.status, "Too Many Requests"
                    ),
                    {"WWW-Authenticate": 'Bearer realm="orders"'}
                    if verdict.status == 401
                    else None,
                )
                return
            event["requestContext"]["authorizer"] = {"claims": verdict}
        if not self.gateway.valid_body(self.command, event["path"], self.headers, body):
            self.send_problem(400, "gateway-BAD_REQUEST_BODY", "Invalid request body")
            return
        try:
            result = self.gateway.function.invoke(event)
        except FunctionTimeout:
            self.send_problem(504, "gateway-INTEGRATION_TIMEOUT", "Endpoint request timed out")
            return
        except InvocationError:
            self.send_problem(502, "gateway-DEFAULT_5XX", "Internal server error")
            return
        self._send_proxy_result(result)

    def _send_proxy_result(self, result: Any) -> None:
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
            self.send_problem(502, "gateway-DEFAULT_5XX", "Malformed Lambda proxy response")
            return
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        self.send_response(result["statusCode"])
        headers: dict[str, list[str]] = {
            k: [str(v)] for k, v in (result.get("headers") or {}).items()
        }
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = [str(v) for v in values]
        for name, values in headers.items():
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                for value in values:
                    self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def send_json(
        self,
        status: int,
        document: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def send_problem(
        self, status: int, kind: str, title: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_json(
            status,
            {"type": f"urn:orders-api:problem:{kind}", "title": title, "status": status},
            content_type="application/problem+json",
            headers=headers,
        )
