"""docs/extending.md, followed as printed: a toy message type in a temporary copy of the
repository is registered, published, routed and handled, end to end."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

RECIPE = REPO / "docs" / "extending.md"

# What the toy run checks inside the copy: the consumer's router agrees with the topology, and a
# record of the new type reaches its handler through the worker's real entry point, on moto.
CHECK = """
import json, logging, os
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_DEFAULT_REGION="eu-west-1", POWERTOOLS_METRICS_NAMESPACE="Toy")
import boto3
from moto import mock_aws
from infra.local.provision import provision
from infra.topology import TOPOLOGY
from orders.worker import handler

worker = TOPOLOGY.function("order-worker")
assert handler.router.message_types == set(TOPOLOGY.queue("orders").carries)
assert TOPOLOGY.validate() == []
with mock_aws():
    resources = provision(TOPOLOGY, boto3.client("dynamodb"), boto3.client("sqs"),
                          boto3.client("secretsmanager"), {"webhook-signing": "whsec_AAAA"})
    env = TOPOLOGY.static_environment(worker) | resources.environment(TOPOLOGY, worker)
    os.environ.update(env)
    body = {"id": "n-1", "type": "order.noted", "version": 1, "correlationId": "toy",
            "occurredAt": "2026-11-30T12:00:00Z", "data": {"orderId": "o-1", "note": "gift"}}
    record = {"messageId": "m-1", "receiptHandle": "r-1", "body": json.dumps(body),
              "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
              "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:1:orders"}
    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "order-worker", "256", "req-1"
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:order-worker"
    print(json.dumps(handler.lambda_handler({"Records": [record]}, Context())))
    dlq = resources.dlq_urls["orders"]
    depth = boto3.client("sqs").get_queue_attributes(
        QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    print(json.dumps({"dead_lettered": int(depth["ApproximateNumberOfMessages"])}))
"""


def snippets() -> dict[str, str]:
    """The recipe's python blocks, by the instruction on their first line."""
    blocks = re.findall(r"```python\n(# [^\n]+)\n(.*?)```", RECIPE.read_text(), re.S)
    return {instruction: code for instruction, code in blocks}


def follow_recipe(copy: Path) -> None:
    for instruction, code in snippets().items():
        if instruction.startswith("# append to "):
            target = copy / instruction.removeprefix("# append to ")
            target.write_text(target.read_text() + "\n\n" + code)
        elif instruction.startswith("# in infra/topology.py"):
            topology = copy / "infra" / "topology.py"
            before = "    carries=(ORDER_PLACED, WEBHOOK_DELIVERY_UPDATED),\n"
            assert topology.read_text().count(before) == 1
            topology.write_text(topology.read_text().replace(before, code))
        else:
            raise AssertionError(f"an instruction the test does not know: {instruction}")


def test_the_recipe_carries_a_new_message_type_end_to_end(tmp_path: Path) -> None:
    # Given a copy of the repository's code and contracts
    copy = tmp_path / "repo"
    for part in ("functions", "infra", "events"):
        shutil.copytree(REPO / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    env = {"PYTHONPATH": f"{copy}{':'}{copy / 'functions'}", "PATH": "/usr/bin:/bin"}

    # When the recipe's three edits are made and `make contracts` runs
    follow_recipe(copy)
    generated = subprocess.run(
        [sys.executable, "-m", "infra.tools.contracts"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Then its schema is published, and a message of it reaches its handler
    assert generated.returncode == 0, generated.stdout + generated.stderr
    schema = copy / "events" / "schemas" / "messages" / "order-noted.v1.schema.json"
    assert json.loads(schema.read_text())["title"] == "OrderNoted"
    run = subprocess.run(  # noqa: S603 - the test's own script, in its own copy
        [sys.executable, "-c", CHECK],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert {"batchItemFailures": []} in lines
    assert {"dead_lettered": 0} in lines
    assert any(line.get("message") == "Order noted" for line in lines)
