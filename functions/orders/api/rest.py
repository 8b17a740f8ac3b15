"""The API function's router: API Gateway's REST proxy event in, its proxy response out.

Our own, in place of Powertools' APIGatewayRestResolver and APIGatewayProxyEvent, because of
cold start alone: `aws_lambda_powertools.event_handler` imports every resolver it has (AppSync,
Bedrock agents, VPC Lattice, the HTTP resolver, asyncio through them) and `data_classes` every
event class, ~80 ms of each API cold start, and no narrower import avoids it (a package's
`__init__` runs before any of its submodules). docs/performance.md has the measurements.

It keeps the resolver's semantics as this function used them:
- a route `/orders/<order_id>` matches the whole path, with or without trailing slashes; a
  parameter matches one segment (RFC 3986 unreserved and sub-delims, `%`, and `<> []{}|^`);
- static routes are tried before those with parameters, each in the order registered; the
  first with the request's method and a matching path runs, with the parameters
  as keyword arguments; none: the not-found handler, with a NotFound;
- an exception goes to the handler registered for the nearest class in its MRO, else it
  propagates;
- the answer's headers go out as `multiValueHeaders`, the body's Content-Type among them;
- request headers are read case-insensitively (the `headers` map; API Gateway puts the last
  value of a repeated header there).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

Body = TypeVar("Body")
Handler = Callable[..., "Response[Any]"]

_PARAMETER = re.compile(r"<(\w+)>")
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"


class Response(Generic[Body]):
    """An answer: status, body, headers (a content type becomes the Content-Type header)."""

    def __init__(
        self,
        status_code: int,
        content_type: str | None = None,
        body: Body | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.headers: dict[str, str | list[str]] = dict(headers) if headers else {}
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def proxy_result(self) -> dict[str, Any]:
        body: Any = self.body
        encoded = isinstance(body, bytes)
        if encoded:
            body = base64.b64encode(body).decode()
        headers: dict[str, list[str]] = {}
        for name, values in self.headers.items():
            headers.setdefault(name, []).extend([values] if isinstance(values, str) else values)
        return {
            "statusCode": self.status_code,
            "body": body,
            "isBase64Encoded": encoded,
            "multiValueHeaders": headers,
        }


class NotFound(Exception):
    """No route has this method and path."""


class _Headers(dict[str, str]):
    """Request headers, looked up case-insensitively."""

    def __init__(self, raw: Mapping[str, str] | None) -> None:
        super().__init__((name.lower(), value) for name, value in (raw or {}).items())

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


class Authorizer:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    @property
    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = self.raw.get("claims") or {}
        return claims


class RequestContext:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    @property
    def path(self) -> str:
        return str(self.raw["path"])

    @property
    def authorizer(self) -> Authorizer:
        return Authorizer(self.raw.get("authorizer") or {})


class ProxyEvent:
    """API Gateway's REST proxy event (the fields the API reads)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.headers = _Headers(raw.get("headers"))

    @property
    def path(self) -> str:
        return str(self.raw["path"])

    @property
    def http_method(self) -> str:
        return str(self.raw["httpMethod"])

    @property
    def body(self) -> str | None:
        body: str | None = self.raw.get("body")
        return body

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self.raw.get("isBase64Encoded"))

    @property
    def request_context(self) -> RequestContext:
        return RequestContext(self.raw["requestContext"])


class RestRouter:
    """Routes, exception handlers, and the request being served (one at a time, as Lambda)."""

    def __init__(self) -> None:
        self._static: list[tuple[str, re.Pattern[str], Handler]] = []
        self._dynamic: list[tuple[str, re.Pattern[str], Handler]] = []
        self._exception_handlers: dict[type[BaseException], Callable[[Any], Response[Any]]] = {}
        self.current_event: ProxyEvent
        self.lambda_context: Any = None

    def route(self, rule: str, method: str) -> Callable[[Handler], Handler]:
        pattern = _PARAMETER.sub(lambda p: f"(?P<{p.group(1)}>{_SEGMENT})", rule.rstrip("/"))
        compiled = re.compile(f"^{pattern}/*$")

        def register(handler: Handler) -> Handler:
            routes = self._dynamic if _PARAMETER.search(rule) else self._static
            routes.append((method.upper(), compiled, handler))
            return handler

        return register

    def exception_handler(
        self, kind: type[BaseException]
    ) -> Callable[[Callable[[Any], Response[Any]]], Callable[[Any], Response[Any]]]:
        def register(handler: Callable[[Any], Response[Any]]) -> Callable[[Any], Response[Any]]:
            self._exception_handlers[kind] = handler
            return handler

        return register

    def not_found(
        self, handler: Callable[[NotFound], Response[Any]]
    ) -> Callable[[NotFound], Response[Any]]:
        self._exception_handlers[NotFound] = handler
        return handler

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.current_event, self.lambda_context = ProxyEvent(event), context
        return self._answer().proxy_result()

    def _answer(self) -> Response[Any]:
        method, path = self.current_event.http_method.upper(), self.current_event.path
        for route_method, pattern, handler in self._static + self._dynamic:
            if route_method != method:
                continue
            found = pattern.match(path)
            if found:
                try:
                    return handler(**found.groupdict())
                except Exception as error:
                    return self._handle(error)
        return self._handle(NotFound())

    def _handle(self, error: Exception) -> Response[Any]:
        for kind in type(error).__mro__:
            handler = self._exception_handlers.get(kind)
            if handler is not None:
                return handler(error)
        raise error
