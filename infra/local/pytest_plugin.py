"""A pytest fixture for the local runtime, for any project's tests.

Enable it in a conftest.py:

    pytest_plugins = ["infra.local.pytest_plugin"]

then start a runtime in a test; it stops when the test ends:

    def test_my_api(local_runtime):
        runtime = local_runtime(MY_TOPOLOGY, code_dir="src/functions")
        requests.get(runtime.api_url + "/things")
        runtime.client("sqs").send_message(QueueUrl=runtime.queue_url("jobs"), MessageBody="{}")

`local_runtime(topology, code_dir=..., **options)` takes LocalRuntime's arguments. For a runtime
shared by a module, use `with LocalRuntime(...) as runtime:` in a module-scoped fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from infra.local.runtime import LocalRuntime

StartRuntime = Callable[..., LocalRuntime]


@pytest.fixture
def local_runtime() -> Iterator[StartRuntime]:
    """Start LocalRuntimes in a test: `local_runtime(topology, code_dir=..., **options)`."""
    with ExitStack() as started:

        def start(*args: Any, **options: Any) -> LocalRuntime:
            return started.enter_context(LocalRuntime(*args, **options))

        yield start
