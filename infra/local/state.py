"""Where a running `make run` describes itself for tools (`orders-ops --local`).

`.local/runtime.json` by default; `LOCAL_STATE_FILE` names another file (tests use their own, so
a developer's running `make run` is never touched).
"""

import os
from pathlib import Path

STATE_FILE = Path(__file__).resolve().parents[2] / ".local" / "runtime.json"
STATE_FILE_VARIABLE = "LOCAL_STATE_FILE"


def state_file() -> Path:
    """The file to describe the runtime in (or read it from), as configured now."""
    configured = os.environ.get(STATE_FILE_VARIABLE)
    return Path(configured) if configured else STATE_FILE
