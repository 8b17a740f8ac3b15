"""`make run`: the orders system on 127.0.0.1, backed by moto. Ctrl-C stops it.

HOST and PORT override where the API listens (default 127.0.0.1:3000). The local clients come
from the topology's app clients or LOCAL_CLIENTS (infra/orders_local.py says how); loopback
callbacks may reach the built-in receiver and the ports in LOCAL_CALLBACK_PORTS only.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from infra.local.state import state_file  # where `orders-ops --local` looks
from infra.local.webhook_receiver import describe_signing_keys
from infra.orders_local import from_environment, local_clients, orders_runtime


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        port = int(os.environ.get("PORT", "3000"))
    except ValueError:
        sys.exit(f"PORT must be a number, not {os.environ['PORT']!r}")
    try:
        clients = local_clients(os.environ)
        options = from_environment()
    except ValueError as error:
        sys.exit(str(error))
    default_client = clients[0]
    try:
        runtime = orders_runtime(
            host=host, port=port, echo_logs=True, clients=clients, **options
        ).start()
    except OSError as error:
        sys.exit(f"Cannot serve on {host}:{port}: {error.strerror}. Set PORT (and HOST) to choose.")
    stopping = threading.Event()
    # SIGINT too: a shell without job control starts background jobs with SIGINT ignored.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stopping.set())
    described = state_file()
    described.parent.mkdir(parents=True, exist_ok=True)
    described.touch(mode=0o600)  # it holds the local clients' secrets: the developer's alone
    described.write_text(json.dumps(runtime.describe(), indent=2))
    api = runtime.api_url
    others = "".join(
        f"\n  Client         {c.client_id}, secret {c.client_secret}, API key {c.api_key}"
        for c in runtime.clients[1:]
    )
    signing = describe_signing_keys(runtime.webhook_secret or "")
    print(
        f"""
Async order API running locally (moto at {runtime.moto_url})
  API            {api}   (contract: {api}/openapi.json, Swagger UI: {api}/docs)
  Queues         {", ".join(runtime.resources.queue_urls.values())}
  Dead letters   {", ".join(runtime.resources.dlq_urls.values())}
  Tables         {", ".join(runtime.resources.table_names.values())}
  Webhooks       signed {signing}
                 (set WEBHOOK_SECRET to choose the keys); a verifying receiver is at
                 {runtime.receiver_url}
  OAuth2         token URL {runtime.token_url} (client credentials)
                 client id {default_client.client_id}, secret {default_client.client_secret}
                 API key (x-api-key, its usage plan) {default_client.api_key}
                 (set LOCAL_CLIENT_ID / LOCAL_CLIENT_SECRET / LOCAL_CLIENT_API_KEY to choose them){others}

Try:
  TOKEN=$(curl -s -u {default_client.client_id}:{default_client.client_secret} \\
       -d grant_type=client_credentials {runtime.token_url} \\
       | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  curl -s {api}/products -H "Authorization: Bearer $TOKEN" -H "x-api-key: {default_client.api_key}"
  curl -si -X POST {api}/orders -H "Authorization: Bearer $TOKEN" -H "x-api-key: {default_client.api_key}" \\
       -H 'Content-Type: application/json' \\
       -d '{{"customerId": "c-42", "items": [{{"sku": "KB-001", "quantity": 2}}]}}'
  curl -s {api}/orders/<orderId from the Location header> -H "Authorization: Bearer $TOKEN" -H "x-api-key: {default_client.api_key}"

  # with a signed webhook to the built-in receiver when the order settles:
  curl -si -X POST {api}/orders -H "Authorization: Bearer $TOKEN" -H "x-api-key: {default_client.api_key}" \\
       -H 'Content-Type: application/json' \\
       -d '{{"customerId": "c-42", "items": [{{"sku": "MS-002", "quantity": 1}}],
            "callbackUrl": "{runtime.receiver_url}"}}'
  curl -s {runtime.receiver_url}

Ctrl-C to stop.
""",
        flush=True,
    )
    try:
        stopping.wait()
    finally:
        print("\nStopping...", flush=True)
        described.unlink(missing_ok=True)
        runtime.stop()


if __name__ == "__main__":
    main()
