"""Where a running `make run` describes itself for tools (`orders-ops --local`)."""

from pathlib import Path

STATE_FILE = Path(__file__).resolve().parents[2] / ".local" / "runtime.json"
