"""`make run`'s entry point: serves on HOST:PORT, prints a first curl, stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.local


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serves_the_api_and_stops_on_ctrl_c() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local"],
        cwd=REPO,
        env=os.environ | {"PORT": str(port), "HOST": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/products", timeout=10) as reply:
            assert reply.status == 200

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass
