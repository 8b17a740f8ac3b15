"""OAuth2 client credentials for the local runtime, as Cognito and API Gateway do it in the cloud.

    POST /oauth2/token   grant_type=client_credentials[&scope=...], client id and secret by
                         HTTP Basic (or in the form): a short-lived RS256 access token shaped
                         like Cognito's (token_use, scope, client_id, iss, exp, ...)

Every request also needs the API key of a usage plan (`x-api-key`): a known key (403 otherwise),
within the plan's rate, burst and daily quota (429), as API Gateway meters keys.

Requests to the API are checked the way API Gateway's Cognito authorizer checks them: a Bearer
access token with a valid signature, not expired, issued here, carrying one of the method's
scopes (401 without or with a bad token, 403 without the scope); the claims then reach the
function in `requestContext.authorizer.claims`, as strings, where API Gateway puts them; `exp`
and `iat` are dates there (`Mon Nov 23 22:43:00 UTC 2026`, see events/samples/api), as the Cognito
authorizer gives them
(https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-integrate-with-cognito.html).

Nothing here is specific to one API: the scopes come from the topology's routes, the clients and
their usage plans from whoever starts the runtime (or the topology's app clients).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from infra.local.gateway import API_KEY_HEADER, GatewayRequestHandler
from infra.topology import AppClient

TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret
TOKEN_MINUTES = 15
_PLAN = AppClient("defaults", ())  # the usage plan limits an app client has by default


@dataclass(frozen=True)
class Client:
    """An app client: OAuth2 credentials, and the API key of its usage plan.

    `scopes` empty means every scope the API's routes use."""

    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ()
    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    rate_per_second: float = _PLAN.rate_per_second
    burst: int = _PLAN.burst
    quota_per_day: int = _PLAN.quota_per_day

    @staticmethod
    def generate(client_id: str, scopes: tuple[str, ...] = ()) -> Client:
        return Client(client_id, secrets.token_urlsafe(24), scopes)

    @staticmethod
    def from_app_client(
        app: AppClient,
        client_id: str | None = None,
        client_secret: str | None = None,
        api_key: str | None = None,
    ) -> Client:
        """A local client for one of the topology's app clients: its scopes and usage plan,
        with the given credentials or generated ones."""
        return Client(
            client_id or app.name,
            client_secret or secrets.token_urlsafe(24),
            app.scopes,
            api_key or secrets.token_urlsafe(30),
            app.rate_per_second,
            app.burst,
            app.quota_per_day,
        )


class _UsagePlan:
    """A usage plan for one key: a token bucket (rate, burst) and a daily quota."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.tokens = float(client.burst)
        self.refilled = time.monotonic()
        self.day = time.gmtime().tm_yday
        self.used_today = 0
        self.lock = threading.Lock()

    def admit(self) -> Denied | None:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(
                self.client.burst, self.tokens + (now - self.refilled) * self.client.rate_per_second
            )
            self.refilled = now
            if time.gmtime().tm_yday != self.day:
                self.day, self.used_today = time.gmtime().tm_yday, 0
            if self.used_today >= self.client.quota_per_day:
                return Denied(429, "QUOTA_EXCEEDED", "the key's daily quota is used up")
            if self.tokens < 1:
                return Denied(429, "THROTTLED", "over the key's rate")
            self.tokens -= 1
            self.used_today += 1
            return None


@dataclass(frozen=True)
class Denied:
    status: int  # 401 or 403
    kind: str  # the gateway response type API Gateway would answer with
    reason: str


class LocalAuthorizer:
    def __init__(
        self,
        clients: list[Client],
        issuer: str,
        scopes: tuple[str, ...],
        token_minutes: int = TOKEN_MINUTES,
        catch_all_scopes: tuple[str, ...] | None = None,
    ):
        """`scopes`: every scope the API knows; `catch_all_scopes`: those that let a request to
        an unknown path through to the catch-all function (default: any of them)."""
        clients = [c if c.scopes else replace(c, scopes=scopes) for c in clients]
        self.clients = {client.client_id: client for client in clients}
        self.plans = {client.api_key: _UsagePlan(client) for client in clients}
        self.catch_all_scopes = catch_all_scopes or scopes
        self.issuer = issuer
        self.token_seconds = token_minutes * 60
        self._key = RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex})

    # Issuing ---------------------------------------------------------------------------------

    def issue(self, client: Client, scopes: tuple[str, ...], now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {
            "sub": client.client_id,
            "client_id": client.client_id,
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": issued,
            "iat": issued,
            "exp": issued + self.token_seconds,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "version": 2,
        }
        header = {"alg": "RS256", "kid": self._key.kid}
        return jwt.encode(header, claims, self._key)

    def token_endpoint(self, request: GatewayRequestHandler) -> None:
        if request.command != "POST":
            request.send_json(405, {"error": "invalid_request"})
            return
        body = request.read_body()
        if body is None:
            return
        form = dict(parse_qsl(body.decode(errors="replace")))
        client = self._client(request.headers.get("Authorization"), form)
        if client is None:
            request.send_json(401, {"error": "invalid_client"})
            return
        if form.get("grant_type") != "client_credentials":
            request.send_json(400, {"error": "unsupported_grant_type"})
            return
        asked = tuple(form["scope"].split()) if form.get("scope") else client.scopes
        if not set(asked) <= set(client.scopes):
            request.send_json(400, {"error": "invalid_scope"})
            return
        token = self.issue(client, asked)
        request.send_json(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_seconds}
        )

    def _client(self, authorization: str | None, form: dict[str, str]) -> Client | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            client_id, _, secret = decoded.partition(":")
        client = self.clients.get(client_id or "")
        if client is None or not hmac.compare_digest(client.client_secret, secret or ""):
            return None
        return client

    # Verifying -------------------------------------------------------------------------------

    def meter(self, api_key: str | None) -> Denied | None:
        """API Gateway's usage plans: a known key (403 otherwise), within its rate and quota (429)."""
        plan = self.plans.get(api_key or "")
        if plan is None:
            return Denied(403, "INVALID_API_KEY", f"missing or unknown {API_KEY_HEADER}")
        return plan.admit()

    def authorize(
        self, authorization: str | None, scopes: tuple[str, ...]
    ) -> dict[str, str] | Denied:
        """The token's claims (as API Gateway passes them: strings), or why it is refused."""
        if not authorization or not authorization.startswith("Bearer "):
            return Denied(401, "UNAUTHORIZED", "missing bearer token")
        try:
            token = jwt.decode(authorization[7:].strip(), self._key, algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                exp={"essential": True},
                token_use={"essential": True, "value": "access"},
                client_id={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError) as error:
            return Denied(401, "UNAUTHORIZED", f"invalid token: {error}")
        granted = set(str(token.claims.get("scope", "")).split())
        if not granted & set(scopes):
            return Denied(403, "ACCESS_DENIED", f"needs one of the scopes {', '.join(scopes)}")
        return {name: _claim_string(name, value) for name, value in token.claims.items()}


def _claim_string(name: str, value: Any) -> str:
    """A claim as API Gateway's Cognito authorizer passes it: a string; exp and iat as dates."""
    if name in ("exp", "iat") and isinstance(value, int | float):
        return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)
