"""`make credentials`: shell exports to call the running `make run` from another terminal.

    eval "$(make -s credentials)"

sets API (the base URL), CLIENT_ID, CLIENT_SECRET, API_KEY (the first local client's) and TOKEN
(a fresh access token from the local token endpoint, valid 15 minutes: run it again for a new
one). It reads what `make run` wrote to .local/runtime.json (or LOCAL_STATE_FILE).
"""

from __future__ import annotations

import base64
import json
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from infra.local.state import state_file


def exports(state: dict[str, Any], client_index: int = 0) -> dict[str, str]:
    client = state["clients"][client_index]
    values = {
        "API": str(state["apiUrl"]),
        "CLIENT_ID": str(client["clientId"]),
        "CLIENT_SECRET": str(client["clientSecret"]),
        "API_KEY": str(client["apiKey"]),
    }
    if state.get("tokenUrl"):
        values["TOKEN"] = token(
            str(state["tokenUrl"]), values["CLIENT_ID"], values["CLIENT_SECRET"]
        )
    return values


def token(token_url: str, client_id: str, client_secret: str) -> str:
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - the local runtime's own token endpoint
        token_url,
        data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        headers={"Authorization": f"Basic {basic}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return str(json.loads(answer.read())["access_token"])


def main() -> int:
    path = state_file()
    try:
        state = json.loads(path.read_text())
        values = exports(state)
    except FileNotFoundError:
        print(f"echo 'no {path}: start `make run` first' >&2; false")
        return 1
    except (KeyError, IndexError, ValueError, urllib.error.URLError) as error:
        print(f"echo {shlex.quote(f'cannot use {path}: {error}; restart `make run`')} >&2; false")
        return 1
    print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
