"""The local runtime serves the contract: /openapi.json and Swagger UI at /docs, with no token and
nothing fetched from the internet; Swagger UI's "Authorize" gets a token from /oauth2/token."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import pytest

from infra.local.runtime import LocalRuntime
from infra.tools.contracts import OPENAPI_FILE

pytestmark = pytest.mark.local


@dataclass
class Raw:
    status: int
    content_type: str
    body: bytes


def fetch(url: str, method: str = "GET", data: bytes | None = None, **headers: str) -> Raw:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return Raw(response.status, response.headers["Content-Type"], response.read())
    except urllib.error.HTTPError as error:
        return Raw(error.code, error.headers["Content-Type"], error.read())


def test_the_document_is_served_without_a_token_aimed_at_this_runtime(
    runtime: LocalRuntime,
) -> None:
    reply = fetch(runtime.api_url + "/openapi.json")

    assert reply.status == 200
    assert reply.content_type == "application/json"
    served = json.loads(reply.body)
    committed = json.loads(OPENAPI_FILE.read_text())
    assert served["servers"] == [{"url": runtime.api_url, "description": "this local runtime"}]
    assert {**served, "servers": committed["servers"]} == committed


def test_swagger_ui_and_every_file_it_loads_are_served_locally(runtime: LocalRuntime) -> None:
    page = fetch(runtime.api_url + "/docs")

    assert page.status == 200
    assert page.content_type.startswith("text/html")
    html = page.body.decode()
    assert not re.search(r"https?://", html), "the page must not load anything from elsewhere"
    assert 'url: "/openapi.json"' in html
    assert f'clientId: "{runtime.clients[0].client_id}"' in html
    assets = re.findall(r'(?:src|href)="(/docs/[^"]+)"', html)
    assert "/docs/swagger-ui-bundle.js" in assets
    for asset in assets:
        reply = fetch(runtime.api_url + asset)
        assert reply.status == 200, asset
        assert len(reply.body) > 0
    assert fetch(runtime.api_url + "/docs/swagger-ui.css").content_type.startswith("text/css")
    assert fetch(runtime.api_url + "/docs/").status == 200


def test_authorize_needs_only_the_secret_and_forgets_on_restart(runtime: LocalRuntime) -> None:
    html = fetch(runtime.api_url + "/docs").body.decode()
    client = runtime.clients[0]
    # the API key every operation needs is filled in; a restart's new credentials are not
    # shadowed by an authorization the browser kept from an earlier run
    assert f'preauthorizeApiKey("apiKey", "{client.api_key}")' in html
    assert "persistAuthorization: false" in html
    assert f'clientId: "{client.client_id}"' in html


def test_only_swagger_ui_files_are_served_and_only_read(runtime: LocalRuntime) -> None:
    for path in ("/docs/nope.js", "/docs/..%2F..%2Fpyproject.toml", "/docs/.hidden.js"):
        assert fetch(runtime.api_url + path).status == 404, path
    assert fetch(runtime.api_url + "/docs", method="POST", data=b"x").status == 405
    # the directory route answers files under /docs/ only: the API is still behind its token
    assert fetch(runtime.api_url + "/products").status == 401


def test_authorize_gets_a_token_as_swagger_ui_asks_for_it(runtime: LocalRuntime) -> None:
    """Swagger UI's clientCredentials flow: tokenUrl resolved against the server, HTTP Basic."""
    served = json.loads(fetch(runtime.api_url + "/openapi.json").body)
    flow = served["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    token_url = urllib.parse.urljoin(served["servers"][0]["url"], flow["tokenUrl"])
    client = runtime.clients[0]
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    form = {"grant_type": "client_credentials", "scope": " ".join(flow["scopes"])}

    reply = fetch(
        token_url,
        method="POST",
        data=urllib.parse.urlencode(form).encode(),
        Authorization=f"Basic {basic}",
        Accept="application/json, text/plain, */*",
        **{
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Requested-With": "XMLHttpRequest",
        },
    )

    assert token_url == runtime.token_url
    assert reply.status == 200
    token = json.loads(reply.body)["access_token"]
    products = fetch(
        runtime.api_url + "/products",
        Authorization=f"Bearer {token}",
        **{"x-api-key": client.api_key},
    )
    assert products.status == 200
