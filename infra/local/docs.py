"""An API's contract, served by the local runtime: no token needed, nothing fetched online.
Optional: the runtime serves it when given an OpenAPI document.

GET /openapi.json   the document (here events/openapi.json, from `make contracts`), its
                    `servers` set to this runtime
GET /docs           Swagger UI on that document; "Authorize" gets a token from /oauth2/token
                    with the client credentials `make run` prints
GET /docs/<file>    Swagger UI's own files, from the swagger-ui-bundle-v2 package (Swagger UI 5:
                    OpenAPI 3.1; swagger-ui-bundle ships 4.x, which cannot read 3.1)
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from swagger_ui_bundle import swagger_ui_path

from infra.local.gateway import GatewayRequestHandler, LocalRoute

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
ASSETS = Path(str(swagger_ui_path))
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".map": "application/json",
}

# validatorUrl null: Swagger UI would otherwise send the document to an online validator.
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} (local)</title>
  <link rel="stylesheet" href="{docs}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{docs}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{docs}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{openapi}",
      dom_id: "#swagger-ui",
      deepLinking: true,
      // each `make run` has new credentials: an authorization kept from an earlier one would
      // show as authorized and get 401s
      persistAuthorization: false,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
    }});
    window.ui.initOAuth({{clientId: {client_id}}});
    // the local client's API key is filled in: Authorize then needs only its secret
    if ({api_key}) {{ window.ui.preauthorizeApiKey("apiKey", {api_key}); }}
  </script>
</body>
</html>
"""


def register(
    local_routes: dict[str, LocalRoute],
    openapi_file: Path,
    api_url: str,
    client_id: str | None,
    api_key: str | None = None,
) -> None:
    """Add /openapi.json, /docs and /docs/<file> to the runtime's local routes."""
    document = json.loads(openapi_file.read_text())
    title = html.escape(str(document.get("info", {}).get("title", "API")))
    script_id = json.dumps(client_id or "").replace("<", "\\u003c")  # in <script>
    script_key = json.dumps(api_key or "").replace("<", "\\u003c")
    page = PAGE.format(
        docs=DOCS_PATH, openapi=OPENAPI_PATH, client_id=script_id, api_key=script_key, title=title
    )
    page_bytes = page.encode()

    def openapi(request: GatewayRequestHandler) -> None:
        if _readable(request):
            # "Try it out" and the relative tokenUrl resolve against the server: this one.
            host = request.headers.get("Host") or api_url.removeprefix("http://")
            served = document | {
                "servers": [{"url": f"http://{host}", "description": "this local runtime"}]
            }
            _send(request, json.dumps(served).encode(), "application/json")

    def docs(request: GatewayRequestHandler) -> None:
        if _readable(request):
            _send(request, page_bytes, CONTENT_TYPES[".html"])

    def asset(request: GatewayRequestHandler) -> None:
        name = request.path.split("?", 1)[0].rsplit("/", 1)[-1]
        if not name:
            docs(request)
            return
        if not _readable(request):
            return
        file = ASSETS / name
        if name.startswith(".") or file.suffix not in CONTENT_TYPES or not file.is_file():
            request.send_problem(404, "not-found", "Not found")
            return
        _send(request, file.read_bytes(), CONTENT_TYPES[file.suffix], cache=True)

    local_routes[OPENAPI_PATH] = openapi
    local_routes[DOCS_PATH] = docs
    local_routes[DOCS_PATH + "/"] = asset  # a directory route: /docs/<file>


def _readable(request: GatewayRequestHandler) -> bool:
    """True for GET and HEAD; otherwise answers 405 (after reading the body off the connection)."""
    if request.command in ("GET", "HEAD"):
        return True
    if request.read_body() is not None:
        request.send_problem(
            405, "method-not-allowed", "Method not allowed", {"Allow": "GET, HEAD"}
        )
    return False


def _send(
    request: GatewayRequestHandler, body: bytes, content_type: str, cache: bool = False
) -> None:
    request.send_response(200)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    if cache:  # Swagger UI's files change only with the package
        request.send_header("Cache-Control", "max-age=3600")
    request.end_headers()
    if request.command != "HEAD":
        request.wfile.write(body)
