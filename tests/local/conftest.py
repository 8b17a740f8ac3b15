"""End to end over real HTTP against the local runtime (moto server, processes, pollers)."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from infra.local.auth import Client
from infra.local.runtime import LocalRuntime
from infra.orders_local import orders_runtime


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


class Http:
    """A client of the local API: gets a token for `client` (client credentials) and sends it."""

    def __init__(self, base_url: str, client: Client | None = None) -> None:
        self.base_url = base_url
        self.client = client
        self._token: str | None = None

    @classmethod
    def for_runtime(cls, runtime: LocalRuntime, client: Client | None = None) -> Http:
        return cls(runtime.api_url, client or runtime.clients[0])

    def token(self, scope: str | None = None) -> str:
        assert self.client is not None
        form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
        basic = base64.b64encode(f"{self.client.client_id}:{self.client.client_secret}".encode())
        request = urllib.request.Request(  # noqa: S310 - loopback only
            self.base_url + "/oauth2/token",
            data=urllib.parse.urlencode(form).encode(),
            headers={
                "Authorization": f"Basic {basic.decode()}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return str(json.loads(response.read())["access_token"])

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        data = (
            body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        )
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.client is not None:
            self._token = self._token or self.token()
            all_headers["Authorization"] = f"Bearer {self._token}"
            all_headers["x-api-key"] = self.client.api_key
        request = urllib.request.Request(  # noqa: S310 - loopback only
            self.base_url + path, data=data, method=method, headers=all_headers | (headers or {})
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return _reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return _reply(error.code, error.headers, error.read())

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Reply:
        return self.request("POST", path, body, headers)

    def place(self, *items: tuple[str, int], customer: str = "c-1") -> str:
        reply = self.post(
            "/orders",
            {"customerId": customer, "items": [{"sku": s, "quantity": q} for s, q in items]},
        )
        assert reply.status == 202, reply.body
        return str(reply.body["orderId"])

    def wait_for(self, order_id: str, timeout_s: float = 60) -> dict[str, Any]:
        """Poll the status link until the order leaves ACCEPTED, as a client would."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            order = self.get(f"/orders/{order_id}").body
            if order["status"] != "ACCEPTED":
                return dict(order)
            time.sleep(0.1)
        raise TimeoutError(f"order {order_id} still ACCEPTED after {timeout_s}s")


def _reply(status: int, headers: Any, raw: bytes) -> Reply:
    return Reply(status, dict(headers.items()), json.loads(raw) if raw else None)


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float = 60,
    what: str = "condition",
    interval_s: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not met after {timeout_s}s")


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with orders_runtime(port=0, echo_logs=False) as started:
        yield started


@pytest.fixture(scope="module")
def http(runtime: LocalRuntime) -> Http:
    return Http.for_runtime(runtime)


@dataclass
class Receiver:
    """A third party: answers per path from a script, verifies and records every request."""

    server: ThreadingHTTPServer
    scripts: dict[str, list[tuple[int, float, dict[str, str]]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, path: str, *answers: tuple[int, float, dict[str, str]]) -> str:
        """Answers for `path`, in order; the last one repeats. Returns the callback URL."""
        self.scripts[path] = list(answers)
        return self.url + path

    def hits(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


@contextlib.contextmanager
def running_receiver(secret: str) -> Iterator[Receiver]:
    """A scripted third-party receiver on 127.0.0.1 that verifies every signature."""
    verifier = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = dict(self.headers.items())
            try:
                payload, verified = verifier.verify(body, headers), True
            except Exception:
                payload, verified = None, False
            with state.lock:
                state.requests.append(
                    {
                        "received_at": time.monotonic(),
                        "path": self.path,
                        "headers": headers,
                        "payload": payload,
                        "verified": verified,
                    }
                )
                script = state.scripts.get(self.path, [(204, 0.0, {})])
                status, delay, extra = script.pop(0) if len(script) > 1 else script[0]
            time.sleep(delay)
            try:
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the notifier gave up waiting: that is the point of a slow answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    """A scripted receiver verifying with the test module's `SECRET`."""
    with running_receiver(request.module.SECRET) as started:
        yield started
