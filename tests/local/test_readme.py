"""The README works as printed: its tested shell blocks run, in order, against `make run`; and
every relative link in the README and docs/ leads somewhere."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.local

README = REPO / "README.md"
TESTED = re.compile(r"<!-- tested: (\w+) -->\n```sh\n(.*?)```", re.S)


def readme_blocks() -> dict[str, str]:
    """The README's shell blocks marked `<!-- tested: NAME -->`, by name, in order."""
    blocks: dict[str, str] = {}
    for name, code in TESTED.findall(README.read_text()):
        blocks[name] = blocks.get(name, "") + code
    return blocks


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`make run`'s program on a free port, describing itself in a file of the test's own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "LOCAL_STATE_FILE": str(tmp_path_factory.mktemp("state") / "runtime.json"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.local"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if "Ctrl-C to stop" in line or not line:
                break
        assert Path(env["LOCAL_STATE_FILE"]).exists(), "make run did not start"
        yield env
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def run_shell(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the README's own blocks
        ["/bin/bash", "-c", "set -euo pipefail\n" + script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_quick_start_and_the_webhook_blocks_work_as_printed(make_run: dict[str, str]) -> None:
    blocks = readme_blocks()
    assert set(blocks) == {"quickstart", "webhooks"}

    # The blocks in the order printed, in one shell, as a reader pastes them
    script = blocks["quickstart"] + blocks["webhooks"]
    script += '\necho\necho "ORDER=$ORDER"\n'
    first = run_shell(script, make_run)

    assert first.returncode == 0, first.stdout + first.stderr
    assert '"sku":"KB-001"' in first.stdout  # GET /products answered the catalog
    order_id = re.search(r"^ORDER=(\S+)$", first.stdout, re.M)
    assert order_id is not None, first.stdout
    # Then, run again a moment later as the comments say, the order is settled and the webhook in
    settled = ""
    deliveries: list[dict[str, object]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        again = run_shell(
            blocks["quickstart"].splitlines()[0]
            + "\n"
            + blocks["quickstart"].splitlines()[1]
            + f'\ncurl -s "$API/orders/{order_id.group(1)}" "${{AUTH[@]}}"\n'
            + 'echo\ncurl -s "$API/_local/webhooks"\n',
            make_run,
        )
        assert again.returncode == 0, again.stderr
        order_line, receiver_line = again.stdout.strip().splitlines()[-2:]
        settled = json.loads(order_line)["status"]
        deliveries = json.loads(receiver_line)["deliveries"]
        if settled == "CONFIRMED" and deliveries:
            break
        time.sleep(0.5)
    assert settled == "CONFIRMED"
    assert deliveries
    assert all(d["signature"] == "valid" for d in deliveries)


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


@pytest.mark.parametrize(
    "document",
    [README, *sorted((REPO / "docs").glob("*.md"))],
    ids=lambda path: str(path.relative_to(REPO)),
)
def test_every_relative_link_leads_somewhere(document: Path) -> None:
    text = document.read_text()
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: ...: not ours to check offline
        path, _, anchor = target.partition("#")
        destination = (document.parent / path).resolve() if path else document
        if not destination.exists() or (
            anchor
            and destination.suffix == ".md"
            and anchor not in anchors(destination.read_text())
        ):
            broken.append(target)
    assert not broken, f"{document.name}: broken links {broken}"
