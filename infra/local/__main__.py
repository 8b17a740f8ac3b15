"""`make run`: the whole system on 127.0.0.1, backed by moto. Ctrl-C stops it.

HOST and PORT override where the API listens (default 127.0.0.1:3000).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from infra.local.runtime import LocalRuntime

# Where tools such as `orders-ops --local` find the running runtime.
STATE_FILE = Path(__file__).resolve().parents[2] / ".local" / "runtime.json"


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        port = int(os.environ.get("PORT", "3000"))
    except ValueError:
        sys.exit(f"PORT must be a number, not {os.environ['PORT']!r}")
    try:
        runtime = LocalRuntime(
            host=host, port=port, webhook_secret=os.environ.get("WEBHOOK_SECRET")
        ).start()
    except OSError as error:
        sys.exit(f"Cannot serve on {host}:{port}: {error.strerror}. Set PORT (and HOST) to choose.")
    stopping = threading.Event()
    # SIGINT too: a shell without job control starts background jobs with SIGINT ignored.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stopping.set())
    STATE_FILE.parent.mkdir(exist_ok=True)
    STATE_FILE.write_text(json.dumps(runtime.describe(), indent=2))
    api = runtime.api_url
    print(
        f"""
Async order API running locally (moto at {runtime.moto_url})
  API            {api}
  Queues         {", ".join(runtime.resources.queue_urls.values())}
  Dead letters   {", ".join(runtime.resources.dlq_urls.values())}
  Tables         {", ".join(runtime.resources.table_names.values())}
  Webhooks       signed with {runtime.webhook_secret}
                 (set WEBHOOK_SECRET to choose it); a verifying receiver is at
                 {runtime.receiver_url}

Try:
  curl -s {api}/products
  curl -si -X POST {api}/orders -H 'Content-Type: application/json' \\
       -d '{{"customerId": "c-42", "items": [{{"sku": "KB-001", "quantity": 2}}]}}'
  curl -s {api}/orders/<orderId from the Location header>

  # with a signed webhook to the built-in receiver when the order settles:
  curl -si -X POST {api}/orders -H 'Content-Type: application/json' \\
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
        STATE_FILE.unlink(missing_ok=True)
        runtime.stop()


if __name__ == "__main__":
    main()
