"""An HTTP front door that behaves as API Gateway's REST API with Lambda proxy integration.

Each request becomes a REST proxy event (payload format 1.0) for the function its route names,
and the function's answer becomes the HTTP response, as documented in
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html.
What API Gateway itself answers is answered here too, as problem+json (the stack's gateway
responses, https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html):

- a body over 10 MB: 413 (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html);
  a malformed, negative or duplicated Content-Length, or both Content-Length and chunked: 400;
  chunked bodies are read whole, under the same cap;
- an event over Lambda's 6 MB request payload: 413, as Lambda refuses the invoke;
- a function error, a function timeout, a result over 6 MB or a malformed proxy response: 502
  (https://repost.aws/knowledge-center/malformed-502-api-gateway,
  https://docs.aws.amazon.com/apigateway/latest/developerguide/handle-errors-in-lambda-integration.html);
- no answer within the integration timeout (29 s by default): 504
  (https://repost.aws/knowledge-center/api-gateway-504-errors), whatever the function's own
  timeout, which keeps running;
- no route and no catch-all function: 403 MISSING_AUTHENTICATION_TOKEN, as for an unknown resource;
- what the HTTP layer refuses (a bad request line, too many or too long headers (431), an
  unknown method (501)) is problem+json as well.

Bodies are base64-encoded in the event only when their Content-Type is one of the API's binary
media types, and a base64 result is decoded only when the first type of the request's Accept
is one of them; otherwise the text passes as it is
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html).
Repeated headers reach the function as API Gateway passes them: the last value in `headers`, all
of them in `multiValueHeaders`; the authorizer and request validator read the same values the
function will, and a body is validated when any of its Content-Type values names JSON.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema import Draft4Validator

from infra.draft4 import to_draft4
from infra.local.lambda_runtime import InvocationError, LocalFunction, RequestTooLarge
from infra.topology import Route, Topology

GATEWAY_PAYLOAD_LIMIT = 10 * 1024 * 1024
INTEGRATION_TIMEOUT_S = 29.0  # REST API default integration timeout
STAGE = "local"
ACCOUNT_ID = "123456789012"
API_KEY_HEADER = "x-api-key"  # API Gateway's header for usage plan keys
PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS = re.compile(r"[0-9]+")

# Extra local-only endpoints (webhook receiver, token endpoint...) plug in here: path -> handler.
# A path ending in "/" is a directory route: it also answers every file directly under it.
LocalRoute = Callable[["GatewayRequestHandler"], None]


class BadRequest(Exception):
    def __init__(self, status: int, kind: str, title: str) -> None:
        super().__init__(title)
        self.status, self.kind, self.title = status, kind, title


class ApiGateway:
    def __init__(
        self,
        topology: Topology,
        host: str,
        port: int,
        *,
        local_routes: dict[str, LocalRoute] | None = None,
        authorizer: Any = None,
        schemas_dir: Path | None = None,
        problem_type_prefix: str = "urn:local-api:problem:",
        realm: str = "api",
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
    ) -> None:
        self.topology = topology
        # filled in by the runtime once the functions exist (the port is known before)
        self.functions: dict[str, LocalFunction] = {}
        # the function behind `{proxy+}` (unknown paths), if any
        self.proxy_function: str | None = None
        # checks each request's token as API Gateway's Cognito authorizer does (infra.local.auth)
        self.authorizer = authorizer
        self.schemas_dir = schemas_dir
        self.problem_type_prefix = problem_type_prefix
        self.realm = realm
        self.integration_timeout_s = integration_timeout_s
        self.binary_media_types = tuple(getattr(topology, "binary_media_types", ()))
        self.log: Callable[[str], None] = lambda _: None
        self.local_routes = local_routes if local_routes is not None else {}
        handler = type("BoundHandler", (GatewayRequestHandler,), {"gateway": self})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def valid_body(self, route: Route | None, content_types: list[str], body: bytes) -> bool:
        """API Gateway's request validator: a JSON body must fit its route's model, if any."""
        if route is None or route.request_body is None:
            return True
        if not any(_media_type(value) == "application/json" for value in content_types):
            return True
        path = f"{route.method} {route.path}"
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            self.log(f"{path}: invalid request body: not JSON")
            return False
        if self.schemas_dir is None:
            raise RuntimeError(f"{path} names a request model but the runtime has no schemas_dir")
        validator = _validator(self.schemas_dir, route.request_body)
        errors = [e.message for e in validator.iter_errors(document)]
        if errors:  # values are echoed in the messages: keep each line short
            shown = [error if len(error) <= 160 else error[:157] + "..." for error in errors[:5]]
            self.log(f"{path}: request body does not match the model: {shown}")
        return not errors

    def is_binary(self, content_type: str | None) -> bool:
        media_type = _media_type(content_type or "")
        return bool(media_type) and any(
            fnmatch.fnmatchcase(media_type, pattern.lower()) for pattern in self.binary_media_types
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, path: str) -> Route | None:
        return self.topology.route_for("GET" if method == "HEAD" else method, path)

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
            single[name] = value  # the last one wins, as in API Gateway's `headers`
            multi.setdefault(name, []).append(value)
        query = parse_qsl(split.query, keep_blank_values=True)
        multi_query: dict[str, list[str]] = {}
        for name, value in query:
            multi_query.setdefault(name, []).append(value)
        if self.is_binary(_last(single, "Content-Type")):
            text, is_base64 = base64.b64encode(body).decode(), True
        else:
            text, is_base64 = body.decode(errors="replace"), False
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
                "identity": {"sourceIp": source_ip, "userAgent": _last(single, "User-Agent")},
                "domainName": "localhost",
                "apiId": "local",
            },
            "body": text if body else None,
            "isBase64Encoded": is_base64,
        }


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def _last(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value as the function sees it (the last one sent), by any case of its name."""
    found = None
    for key, value in headers.items():
        if key.lower() == name.lower():
            found = value
    return found


@cache
def _validator(schemas_dir: Path, contract: str) -> Draft4Validator:
    """The route's request model: its contract from the schemas directory, in draft 4 as on AWS."""
    schema = json.loads((schemas_dir / f"{contract}.schema.json").read_text())
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

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What the HTTP layer refuses (bad request line, 431, 501...), as problem+json too."""
        status = HTTPStatus(code)
        self.close_connection = True
        self.send_problem(code, f"gateway-{status.name}", message or status.phrase)

    # Reading the body ------------------------------------------------------------------------

    def read_body(self) -> bytes | None:
        """The whole body under API Gateway's 10 MB cap; None once a refusal was sent."""
        try:
            return self._read_body()
        except BadRequest as refused:
            self.close_connection = True
            self.send_problem(refused.status, refused.kind, refused.title)
            return None

    def _read_body(self) -> bytes:
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if lengths:
                raise BadRequest(400, "gateway-BAD_REQUEST", "Content-Length with chunked")
            codings = [c.strip().lower() for c in ",".join(encodings).split(",") if c.strip()]
            if codings != ["chunked"]:
                raise BadRequest(501, "gateway-NOT_IMPLEMENTED", "Unsupported transfer coding")
            return self._read_chunked()
        if not lengths:
            return b""
        values = {value.strip() for value in lengths}
        (value,) = values if len(values) == 1 else ("",)
        if not _DIGITS.fullmatch(value):
            raise BadRequest(400, "gateway-BAD_REQUEST", "Invalid Content-Length")
        length = int(value)
        if length > GATEWAY_PAYLOAD_LIMIT:
            self._drain(length)
            raise BadRequest(413, "gateway-REQUEST_TOO_LARGE", "Request entity too large")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise BadRequest(400, "gateway-BAD_REQUEST", "Body shorter than its Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]+", size_text):
                raise BadRequest(400, "gateway-BAD_REQUEST", "Malformed chunked body")
            size = int(size_text, 16)
            if size == 0:
                break
            if len(body) + size > GATEWAY_PAYLOAD_LIMIT:
                raise BadRequest(413, "gateway-REQUEST_TOO_LARGE", "Request entity too large")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3).strip():
                raise BadRequest(400, "gateway-BAD_REQUEST", "Malformed chunked body")
            body += chunk
        while (trailer := self.rfile.readline(8192)).strip():  # trailers: read and dropped
            if not trailer.endswith(b"\n"):
                raise BadRequest(400, "gateway-BAD_REQUEST", "Malformed chunked body")
        return bytes(body)

    def _drain(self, length: int) -> None:
        """Read (a bounded part of) an oversized body, so the client reads our answer."""
        remaining = min(length, 8 * GATEWAY_PAYLOAD_LIMIT)
        self.connection.settimeout(1)
        try:
            while remaining > 0 and (chunk := self.rfile.read(min(remaining, 1 << 20))):
                remaining -= len(chunk)
        except OSError:
            pass

    # Proxying --------------------------------------------------------------------------------

    def _handle(self) -> None:
        gateway = self.gateway
        path = urlsplit(self.path).path
        # an exact local route, else a directory one: "/docs/" serves every "/docs/<file>"
        routes = gateway.local_routes
        local = routes.get(path) or routes.get(path[: path.rfind("/") + 1])
        if local is not None:
            local(self)
            return
        body = self.read_body()
        if body is None:
            return
        headers = list(self.headers.items())
        event = gateway.proxy_event(self.command, self.path, headers, body, self.client_address[0])
        route = gateway.route(self.command, event["path"])
        function_name = route.function if route else gateway.proxy_function
        if function_name is None:
            self.send_problem(
                403, "gateway-MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token"
            )
            return
        seen = event["headers"] or {}
        if gateway.authorizer is not None:
            scopes = route.scopes if route else gateway.authorizer.catch_all_scopes
            verdict = gateway.authorizer.authorize(_last(seen, "Authorization"), scopes)
            if isinstance(verdict, dict):
                verdict = gateway.authorizer.meter(_last(seen, API_KEY_HEADER)) or verdict
            if not isinstance(verdict, dict):
                self.send_problem(
                    verdict.status,
                    f"gateway-{verdict.kind}",
                    {401: "Unauthorized", 403: "Forbidden"}.get(
                        verdict.status, "Too Many Requests"
                    ),
                    {"WWW-Authenticate": f'Bearer realm="{gateway.realm}"'}
                    if verdict.status == 401
                    else None,
                )
                return
            event["requestContext"]["authorizer"] = {"claims": verdict}
        content_types = self.headers.get_all("Content-Type") or []
        if not gateway.valid_body(route, content_types, body):
            self.send_problem(400, "gateway-BAD_REQUEST_BODY", "Invalid request body")
            return
        self._integrate(gateway.functions[function_name], event)

    def _integrate(self, function: LocalFunction, event: dict[str, Any]) -> None:
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def invoke() -> None:
            try:
                outcome["result"] = function.invoke(event)
            except InvocationError as error:
                outcome["error"] = error
            finally:
                done.set()

        threading.Thread(target=invoke, daemon=True).start()
        if not done.wait(self.gateway.integration_timeout_s):
            # the function keeps running, as it does behind API Gateway
            self.send_problem(504, "gateway-INTEGRATION_TIMEOUT", "Endpoint request timed out")
            return
        error = outcome.get("error")
        if isinstance(error, RequestTooLarge):
            self.send_problem(413, "gateway-REQUEST_TOO_LARGE", "Request entity too large")
        elif error is not None:  # an error, a crash or a function timeout: 502
            self.send_problem(502, "gateway-DEFAULT_5XX", "Internal server error")
        else:
            self._send_proxy_result(outcome["result"])

    def _send_proxy_result(self, result: Any) -> None:
        response = self._proxy_response(result)
        if response is None:
            self.gateway.log(f"malformed Lambda proxy response: {str(result)[:200]}")
            self.send_problem(502, "gateway-DEFAULT_5XX", "Internal server error")
            return
        status, headers, payload = response
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _proxy_response(self, result: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """The HTTP answer a proxy result stands for, or None when API Gateway would call it
        malformed (502): not an object, unknown keys, a status that is not an integer, headers
        that are not strings, a body that is not a string, bad base64."""
        if not isinstance(result, dict) or not set(result) <= PROXY_RESPONSE_KEYS:
            return None
        status = result.get("statusCode")
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            return None
        headers: dict[str, list[Any]] = {}
        single, multi = result.get("headers") or {}, result.get("multiValueHeaders") or {}
        if not isinstance(single, dict) or not isinstance(multi, dict):
            return None
        for name, value in single.items():
            headers[str(name)] = [value]
        for name, values in multi.items():
            if not isinstance(values, list):
                return None
            headers[str(name)] = values
        flat: list[tuple[str, str]] = []
        for name, values in headers.items():
            for value in values:
                if isinstance(value, dict | list) or value is None:
                    return None
                text = str(value).lower() if isinstance(value, bool) else str(value)
                if not _HEADER_NAME.fullmatch(name) or any(c in text for c in "\r\n\0"):
                    return None
                flat.append((name, text))
        body = result.get("body")
        if body is not None and not isinstance(body, str):
            return None
        is_base64 = result.get("isBase64Encoded", False)
        if not isinstance(is_base64, bool):
            return None
        # binary out only when the client's Accept (its first type) is a binary media type
        accept = (_last(dict(self.headers.items()), "Accept") or "").split(",")[0]
        if is_base64 and self.gateway.is_binary(accept):
            try:
                return status, flat, base64.b64decode(body or "", validate=True)
            except (binascii.Error, ValueError):
                return None
        return status, flat, (body or "").encode()

    # Answering -------------------------------------------------------------------------------

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
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def send_problem(
        self, status: int, kind: str, title: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_json(
            status,
            {"type": f"{self.gateway.problem_type_prefix}{kind}", "title": title, "status": status},
            content_type="application/problem+json",
            headers=headers,
        )
