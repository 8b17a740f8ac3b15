"""`make run`'s entry point: serves on HOST:PORT, prints a first curl, stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local.auth import Client
from infra.local.state import STATE_FILE
from tests.conftest import REPO
from tests.local.conftest import Http

pytestmark = pytest.mark.local


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serves_the_api_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    # a developer's own `make run` describes itself in .local/runtime.json: never touch it
    developers = STATE_FILE.read_bytes() if STATE_FILE.exists() else None
    described = tmp_path / "runtime.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local"],
        cwd=REPO,
        env=os.environ
        | {
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "LOCAL_STATE_FILE": str(described),
            "LOCAL_CLIENT_ID": "cli-test",
            "LOCAL_CLIENT_SECRET": "cli-test-secret",
            "LOCAL_CLIENT_API_KEY": "cli-test-api-key",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        assert process.stdout is not None
        banner = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            banner.append(line)
            if "Ctrl-C to stop" in line or not line:
                break
        text = "".join(banner)
        assert f"curl -s http://127.0.0.1:{port}/products" in text, text
        assert "client id cli-test, secret cli-test-secret" in text

        http = Http(
            f"http://127.0.0.1:{port}",
            Client("cli-test", "cli-test-secret", api_key="cli-test-api-key"),
        )
        assert http.get("/products").status == 200
        assert Http(f"http://127.0.0.1:{port}").get("/products").status == 401
        # it described itself where it was told, for `orders-ops --local`
        assert json.loads(described.read_text())["apiUrl"].endswith(f":{port}")

        # Ctrl-C in a terminal signals the whole foreground process group
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0
        rest = process.stdout.read()
        assert "Traceback" not in rest, rest
        assert "receive failed" not in rest, rest
        assert not described.exists()  # removed on the way out
        assert (STATE_FILE.read_bytes() if STATE_FILE.exists() else None) == developers
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


def test_a_busy_port_gets_a_clear_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        finished = subprocess.run(
            [sys.executable, "-m", "infra.local"],
            cwd=REPO,
            env=os.environ | {"PORT": str(port), "HOST": "127.0.0.1"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert finished.returncode == 1
    assert f"Cannot serve on 127.0.0.1:{port}" in finished.stderr
    assert "Traceback" not in finished.stderr
