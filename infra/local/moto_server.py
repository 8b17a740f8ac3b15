"""moto's server, with one fidelity fix: DynamoDB requests run one at a time.

DynamoDB applies each write, condition and transaction atomically per item. moto's threaded
server does not: two concurrent conditional updates of one item can both pass their condition
(we saw ten concurrent orders oversell a product locally). Serializing DynamoDB requests restores
the guarantee; SQS requests (long polls included) still run concurrently.

    python -m infra.local.moto_server <host> <port>
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerializedDynamoDB:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def main(host: str, port: int) -> None:
    os.environ.setdefault("MOTO_PORT", str(port))
    from moto.server import (  # type: ignore[attr-defined]  # re-exported, not declared
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
    run_simple(host, port, app, threaded=True)


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group; the runtime stops us after its pollers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    main(sys.argv[1], int(sys.argv[2]))
