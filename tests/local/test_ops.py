"""`orders-ops`: dead letters listed, sampled and redriven against the local runtime.

Poison messages are dead-lettered by the runtime itself (the worker fails them, the queue's redrive
policy moves them); SQS's StartMessageMoveTask, which moto lacks, is checked with a Stubber.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from infra.local.runtime import LocalRuntime
from infra.orders_local import orders_runtime
from infra.tools import ops
from infra.tools.ops import QueuePair
from infra.topology import TOPOLOGY
from tests.local.conftest import Http, wait_until

pytestmark = pytest.mark.local

# A poison message is dead-lettered on its second receive, one second after the worker fails it.
# the worker dead-letters poison itself, on its first receive
FAST = TOPOLOGY.replace_queue("orders", visibility_timeout_s=30, max_receive_count=1)
POISON_COUNT = 3
# Stubbed clients never send, and if one did it would hit a closed local port, never AWS.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with orders_runtime(FAST, port=0, echo_logs=False, timeout_advice=False) as started:
        yield started


@pytest.fixture
def queues(runtime: LocalRuntime) -> dict[str, QueuePair]:
    urls = runtime.resources
    return {name: QueuePair(urls.queue_urls[name], dlq) for name, dlq in urls.dlq_urls.items()}


@pytest.fixture
def empty_dlqs(runtime: LocalRuntime) -> None:
    runtime.wait_until_idle()  # what an earlier test redrove is back in a DLQ
    for dlq_url in runtime.resources.dlq_urls.values():  # moto allows a purge a minute: drain
        wait_until(lambda url=dlq_url: _drained(runtime, url), 30, "an empty DLQ")


def _drained(runtime: LocalRuntime, queue_url: str) -> bool:
    messages = runtime.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    )
    if messages:
        runtime.sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
    return runtime.queue_depth(queue_url) == 0


@pytest.fixture
def poisoned(runtime: LocalRuntime, empty_dlqs: None) -> dict[str, str]:
    """POISON_COUNT order messages the worker failed into the DLQ: body -> correlation id."""
    run = uuid.uuid4().hex[:8]
    poison = {_poison(index, run): f"corr-{run}-{index}" for index in range(POISON_COUNT)}
    for body, correlation_id in poison.items():
        runtime.sqs.send_message(
            QueueUrl=runtime.resources.queue_urls["orders"],
            MessageBody=body,
            MessageAttributes={
                "correlationId": {"DataType": "String", "StringValue": correlation_id},
                "messageType": {"DataType": "String", "StringValue": "order.placed"},
            },
        )
    dlq = runtime.resources.dlq_urls["orders"]
    wait_until(lambda: runtime.queue_depth(dlq) == POISON_COUNT, 30, "poison in the DLQ")
    runtime.wait_until_idle()
    return poison


def _poison(index: int, run: str) -> str:
    if index == 0:
        return f"{{not json {run}"
    # valid JSON, but not an envelope the worker knows
    return json.dumps({"type": "order.exploded", "version": 1, "poison": f"{run}-{index}"})


def _state_file(runtime: LocalRuntime, directory: Path) -> Path:
    path = directory / "runtime.json"
    path.write_text(json.dumps(runtime.describe()))
    return path


def visible(runtime: LocalRuntime, queue_url: str) -> int:
    attributes = runtime.sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def dlq_bodies(runtime: LocalRuntime, dlq_url: str) -> list[str]:
    return sorted(letter.body for letter in ops.peek(runtime.sqs, dlq_url, 100, wait_s=0))


# dlq list and show ---------------------------------------------------------------------------


def test_list_counts_the_dead_letters_of_each_queue(
    runtime: LocalRuntime, queues: dict[str, QueuePair], poisoned: dict[str, str]
) -> None:
    statuses = ops.list_dlqs(runtime.sqs, queues, runtime.client("cloudwatch"))

    by_queue = {status.queue: status for status in statuses}
    assert set(by_queue) == {"orders", "notifications"}
    assert by_queue["orders"].messages == POISON_COUNT
    assert by_queue["orders"].dlq_url == runtime.resources.dlq_urls["orders"]
    assert by_queue["notifications"].messages == 0
    assert by_queue["orders"].oldest_age_s is None  # moto's CloudWatch has no SQS metrics


def test_show_samples_bodies_and_failure_context_without_consuming_them(
    runtime: LocalRuntime, queues: dict[str, QueuePair], poisoned: dict[str, str]
) -> None:
    dlq = queues["orders"].dlq_url

    letters = ops.peek(runtime.sqs, dlq, max_messages=10)

    assert sorted(letter.body for letter in letters) == sorted(poisoned)
    for letter in letters:
        assert letter.attributes["messageType"] == "order.placed"
        assert letter.attributes["correlationId"] == poisoned[letter.body]
        assert letter.receive_count >= 1  # this look (the worker dead-lettered a copy)
        assert letter.sent_at is not None
    # Then they are all still there, and visible again at once (not hidden for the hold time)
    assert runtime.queue_depth(dlq) == POISON_COUNT
    assert visible(runtime, dlq) == POISON_COUNT


def test_show_prints_the_notifiers_failure_context(
    runtime: LocalRuntime, empty_dlqs: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an event the notifier dead-lettered itself, with why
    event = {"id": "evt-1", "type": "webhook.requested", "data": {"orderId": "o-1"}}
    context = {
        "failureReason": "HTTP 503 from the receiver",
        "lastStatusCode": "503",
        "attempts": "12",
        "orderId": "o-1",
        "eventId": "evt-1",
        "correlationId": "corr-n",
    }
    runtime.sqs.send_message(
        QueueUrl=runtime.resources.dlq_urls["notifications"],
        MessageBody=json.dumps(event),
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in context.items()
        },
    )
    state = _state_file(runtime, tmp_path)

    assert ops.main(["dlq", "show", "notifications", "--state-file", str(state)]) == 0
    text = capsys.readouterr().out
    assert "notifications-dlq: 1 message(s) sampled" in text
    for name, value in context.items():
        assert name in text
        assert value in text
    assert '"orderId": "o-1"' in text  # the body, pretty-printed

    assert ops.main(["dlq", "show", "notifications", "--json", "--state-file", str(state)]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["attributes"] == context
    assert json.loads(shown["body"]) == event
    assert runtime.queue_depth(runtime.resources.dlq_urls["notifications"]) == 1


# dlq redrive ---------------------------------------------------------------------------------


def test_redrive_moves_every_dead_letter_back_and_none_is_lost(
    runtime: LocalRuntime, queues: dict[str, QueuePair], poisoned: dict[str, str]
) -> None:
    pair = queues["orders"]

    result = ops.redrive(runtime.sqs, pair)

    # moto has no StartMessageMoveTask: the client-side move ran
    assert result.method == "receive-send-delete"
    assert result.moved == POISON_COUNT
    assert not result.unsent
    assert not result.undeleted
    # Then the worker fails them again (at once: no retry fixes poison) and they come back, bodies and attributes intact
    wait_until(lambda: runtime.queue_depth(pair.dlq_url) == POISON_COUNT, 30, "back in the DLQ")
    runtime.wait_until_idle()
    letters = ops.peek(runtime.sqs, pair.dlq_url, 10, wait_s=0)
    assert sorted(letter.body for letter in letters) == sorted(poisoned)
    assert {letter.body: letter.attributes["correlationId"] for letter in letters} == poisoned


class Interrupted(Exception):
    """Stands for Ctrl-C or a crash between sending a batch and deleting it."""


class DeleteFailsOnce:
    """The real SQS client, except that the first delete_message_batch never happens."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.deletes_failed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def delete_message_batch(self, **kwargs: Any) -> Any:
        if not self.deletes_failed:
            self.deletes_failed += 1
            raise Interrupted
        return self._sqs.delete_message_batch(**kwargs)


def test_an_interrupted_redrive_duplicates_but_never_loses(
    runtime: LocalRuntime, queues: dict[str, QueuePair], poisoned: dict[str, str]
) -> None:
    pair = queues["orders"]
    sqs = DeleteFailsOnce(runtime.sqs)

    with pytest.raises(Interrupted):
        ops.redrive(sqs, pair, hold_s=1)  # type: ignore[arg-type]

    assert sqs.deletes_failed == 1
    # counted source first: a message moving source -> DLQ in between counts twice, never zero
    in_source = runtime.queue_depth(pair.source_url)
    assert in_source + runtime.queue_depth(pair.dlq_url) >= POISON_COUNT
    # Then the undeleted originals reappear and the sent copies fail back: each one twice
    wait_until(lambda: visible(runtime, pair.dlq_url) == 2 * POISON_COUNT, 30, "all in DLQ")
    runtime.wait_until_idle()
    assert dlq_bodies(runtime, pair.dlq_url) == sorted(list(poisoned) * 2)


class FirstOfEachBatchIsRefused:
    """The real SQS client, except that SendMessageBatch reports its first entry failed."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def send_message_batch(self, **request: Any) -> Any:
        refused, *rest = request["Entries"]
        answer = self._sqs.send_message_batch(**(request | {"Entries": rest}))
        failure = {"Id": refused["Id"], "SenderFault": False, "Code": "InternalError"}
        return answer | {"Failed": [*answer.get("Failed", []), failure]}


def test_a_message_that_could_not_be_sent_stays_in_the_dlq(runtime: LocalRuntime) -> None:
    pair = unconsumed_pair(runtime, messages=3)

    sqs = FirstOfEachBatchIsRefused(runtime.sqs)

    result = ops.redrive(sqs, pair, hold_s=1)  # type: ignore[arg-type]

    assert result.moved == 2
    assert len(result.unsent) == 1
    assert "InternalError" in result.unsent[0]
    assert runtime.queue_depth(pair.source_url) == 2
    assert runtime.queue_depth(pair.dlq_url) == 1  # not deleted: back in view after hold_s


def test_large_messages_are_sent_in_batches_under_the_size_limit(runtime: LocalRuntime) -> None:
    # Given three 600 KB dead letters: any two together exceed SendMessageBatch's 1 MiB
    pair = unconsumed_pair(runtime, messages=0)
    bodies = [letter * 600_000 for letter in "abc"]
    for body in bodies:
        runtime.sqs.send_message(QueueUrl=pair.dlq_url, MessageBody=body)

    result = ops.redrive(runtime.sqs, pair, max_messages=3)

    assert result.moved == 3
    assert not result.unsent
    assert runtime.queue_depth(pair.source_url) == 3
    assert runtime.queue_depth(pair.dlq_url) == 0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_redrive_keeps_to_the_rate_and_the_maximum(runtime: LocalRuntime) -> None:
    pair = unconsumed_pair(runtime, messages=7)
    fake = FakeClock()

    result = ops.redrive(
        runtime.sqs, pair, rate=2, max_messages=5, sleep=fake.sleep, clock=fake.clock
    )

    assert result.method == "receive-send-delete"  # a maximum is client-side on AWS too
    assert result.moved == 5
    assert runtime.queue_depth(pair.source_url) == 5
    assert runtime.queue_depth(pair.dlq_url) == 2
    # batches of 2, 2 and 1 at t = 0, 1 and 2 s: 2 messages per second
    assert fake.sleeps == pytest.approx([1.0, 1.0])


def test_start_message_move_task_is_used_where_sqs_has_it() -> None:
    sqs = _stubbable("sqs")
    pair = QueuePair(
        "https://sqs.eu-west-1.amazonaws.com/111122223333/orders",
        "https://sqs.eu-west-1.amazonaws.com/111122223333/orders-dlq",
    )
    with Stubber(sqs) as stub:
        _expect_arns(stub, pair)
        stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "task-handle-1"},
            {
                "SourceArn": "arn:aws:sqs:eu-west-1:111122223333:orders-dlq",
                "DestinationArn": "arn:aws:sqs:eu-west-1:111122223333:orders",
                "MaxNumberOfMessagesPerSecond": 50,
            },
        )

        result = ops.redrive(sqs, pair, rate=50)

        stub.assert_no_pending_responses()
    assert result.method == "move-task"
    assert result.task_handle == "task-handle-1"


def test_a_refused_move_task_is_an_error_not_a_silent_fallback() -> None:
    sqs = _stubbable("sqs")
    pair = QueuePair(
        "https://sqs.eu-west-1.amazonaws.com/111122223333/orders",
        "https://sqs.eu-west-1.amazonaws.com/111122223333/orders-dlq",
    )
    with Stubber(sqs) as stub:
        _expect_arns(stub, pair)
        stub.add_client_error(
            "start_message_move_task", service_error_code="AccessDenied", http_status_code=403
        )

        with pytest.raises(ClientError) as raised:
            ops.redrive(sqs, pair)

    assert raised.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize(
    ("code", "status", "missing"),
    [
        ("500", 500, True),  # moto's server: NotImplementedError as an HTML page
        ("InvalidAction", 400, True),
        ("InternalFailure", 501, True),
        ("InternalError", 500, False),  # AWS having a bad moment: not a reason to fall back
        ("AccessDenied", 403, False),
        ("ResourceNotFoundException", 400, False),
    ],
)
def test_only_a_missing_action_counts_as_missing(code: str, status: int, missing: bool) -> None:
    error = ClientError(
        {"Error": {"Code": code, "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "StartMessageMoveTask",
    )
    assert ops.action_missing(error) is missing


# status and catalog --------------------------------------------------------------------------


def status_rows(out: str) -> dict[str, list[str]]:
    """The queue table of `status`: its lines up to the first blank one, by queue."""
    table = out.split("\n\n", 1)[0].splitlines()[1:]
    return {line.split()[0]: line.split() for line in table}


def test_status_prints_every_queue_and_dlq_with_what_it_can_know_locally(
    runtime: LocalRuntime,
    poisoned: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = str(_state_file(runtime, tmp_path))

    assert ops.main(["status", "--state-file", state]) == 0
    out = capsys.readouterr().out
    rows = status_rows(out)

    # every queue and every DLQ, with visible, in flight, delayed and oldest
    for queue in TOPOLOGY.queues:
        assert rows[queue.name][1:4] == ["0", "0", "0"]
        assert rows[queue.name][4] == "n/a"  # a live queue is never sampled
    assert rows["orders-dlq"][1:4] == [str(POISON_COUNT), "0", "0"]
    assert re.fullmatch(r"\d+s", rows["orders-dlq"][4])
    assert rows["orders-dlq"][5] == "*"  # sampled, and the footnote says what that costs
    assert rows["notifications-dlq"][1:] == ["0", "0", "0", "n/a"]
    assert f"Dead letters: {POISON_COUNT}" in out
    assert "raised their receive counts by one" in out
    # the recent failures are the newest dead letters, with the reason the worker gave
    assert "Recent failures (newest dead letters):" in out
    assert out.count("orders-dlq  ") >= 1

    assert ops.main(["status", "--state-file", state, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [q["queue"] for q in report["queues"]] == [
        *(q.name for q in TOPOLOGY.queues),
        *(q.dlq_name for q in TOPOLOGY.queues),
    ]
    assert len(report["recentDeadLetters"]) == POISON_COUNT
    assert {letter["body"] for letter in report["recentDeadLetters"]} == set(poisoned)


def test_status_with_no_dead_letters_samples_nothing_and_says_no_more(
    runtime: LocalRuntime, empty_dlqs: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ops.main(["status", "--state-file", str(_state_file(runtime, tmp_path))]) == 0
    out = capsys.readouterr().out
    rows = status_rows(out)
    for queue in TOPOLOGY.queues:
        assert rows[queue.name][1:] == ["0", "0", "0", "n/a"]
        assert rows[queue.dlq_name][1:] == ["0", "0", "0", "n/a"]
    assert "Dead letters: 0" in out
    assert "sampled" not in out  # no footnote for a mark that is not there


def test_status_of_a_stack_reads_ages_and_failures_from_cloudwatch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = "https://sqs.eu-west-1.amazonaws.com/111122223333/AsyncOrders-prod-Messaging"
    outputs = {"OrdersQueueUrl": f"{base}-OrdersQueue", "OrdersDlqUrl": f"{base}-OrdersDlq"}
    clients = {name: _stubbable(name) for name in ("cloudformation", "sqs", "cloudwatch")}
    with (
        Stubber(clients["cloudformation"]) as cfn_stub,
        Stubber(clients["sqs"]) as sqs_stub,
        Stubber(clients["cloudwatch"]) as cloudwatch_stub,
    ):
        cfn_stub.add_response(
            "describe_stacks",
            _stack("AsyncOrders-prod-Messaging", outputs),
            {"StackName": "AsyncOrders-prod-Messaging"},
        )
        cloudwatch_stub.add_response(  # the oldest message of each queue, then the DLQ
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "q0", "Values": [95.0], "StatusCode": "Complete"},
                    {"Id": "q1", "Values": [7260.0], "StatusCode": "Complete"},
                ]
            },
        )
        for visible, in_flight, delayed in (("12", "3", "1"), ("2", "0", "0")):
            sqs_stub.add_response(
                "get_queue_attributes",
                {
                    "Attributes": {
                        "ApproximateNumberOfMessages": visible,
                        "ApproximateNumberOfMessagesNotVisible": in_flight,
                        "ApproximateNumberOfMessagesDelayed": delayed,
                    }
                },
            )
        cloudwatch_stub.add_response(  # Errors and Throttles per function, last hour
            "get_metric_data",
            {
                "MetricDataResults": [
                    {"Id": "e1", "Values": [3.0, 1.0], "StatusCode": "Complete"},
                    {"Id": "t1", "Values": [], "StatusCode": "Complete"},
                ]
            },
        )

        code = ops.main(
            ["status", "--stack", "AsyncOrders-prod", "--region", "eu-west-1"],
            make_client=lambda service, *_: clients[service],
        )
        cloudwatch_stub.assert_no_pending_responses()

    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    rows = status_rows(out)
    assert rows["orders"][1:] == ["12", "3", "1", "1m", "35s"]
    assert rows["orders-dlq"][1:] == ["2", "0", "0", "2h", "1m"]
    assert "Dead letters: 2" in out
    worker = TOPOLOGY.functions[1].name
    assert f"  {worker}: 4 error(s), 0 throttle(s)" in out


def test_catalog_load_then_get_products_shows_them_and_a_reload_keeps_the_stock(
    runtime: LocalRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(_state_file(runtime, tmp_path))
    sku = f"OPS-{uuid.uuid4().hex[:6].upper()}"
    catalog_file = tmp_path / "catalog.json"

    def write(amount: int, available: int) -> None:
        product = {
            "sku": sku,
            "name": "Ops test widget",
            "unitPrice": {"amount": amount, "currency": "EUR"},
            "available": available,
        }
        catalog_file.write_text(json.dumps([product]))

    def served() -> dict[str, Any]:
        (product,) = [
            p for p in Http.for_runtime(runtime).get("/products").body["items"] if p["sku"] == sku
        ]
        return dict(product)

    # Given a new product loaded from a file
    write(1500, 7)
    assert ops.main(["catalog", "load", str(catalog_file), "--state-file", state]) == 0
    assert "1 new, 0 updated" in capsys.readouterr().out
    # Then GET /products serves it
    assert served() == {
        "sku": sku,
        "name": "Ops test widget",
        "unitPrice": {"amount": 1500, "currency": "EUR"},
        "available": 7,
    }

    # When the file changes price and stock and is loaded again
    write(1700, 50)
    assert ops.main(["catalog", "load", str(catalog_file), "--state-file", state]) == 0
    out = capsys.readouterr().out
    # Then the price changes, the live stock stays, and the output says so
    assert "0 new, 1 updated" in out
    assert f"{sku}: stock kept at 7 (the file says 50; --reset-stock sets it)" in out
    assert served()["unitPrice"]["amount"] == 1700
    assert served()["available"] == 7

    # and --reset-stock restocks
    assert (
        ops.main(["catalog", "load", str(catalog_file), "--reset-stock", "--state-file", state])
        == 0
    )
    assert f"{sku}: stock reset from 7 to 50" in capsys.readouterr().out
    assert served()["available"] == 50

    assert ops.main(["catalog", "show", "--state-file", state]) == 0
    assert any(
        line.split()[:4] == [sku, "17.00", "EUR", "50"]
        for line in capsys.readouterr().out.splitlines()
    )


def test_a_catalog_file_with_problems_is_refused_with_each_one(
    runtime: LocalRuntime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(_state_file(runtime, tmp_path))
    bad = tmp_path / "bad.json"
    product = {
        "sku": "ok-lower",
        "name": "x",
        "unitPrice": {"amount": -1, "currency": "EUR"},
        "available": 1,
    }
    bad.write_text(json.dumps([product, product]))

    assert ops.main(["catalog", "load", str(bad), "--state-file", state]) == 2
    err = capsys.readouterr().err
    assert "#0 sku" in err
    assert "#0 unitPrice/amount" in err
    assert "SKU ok-lower appears 2 times" in err


# The command line ----------------------------------------------------------------------------


def test_main_lists_shows_and_redrives_a_local_runtime(
    runtime: LocalRuntime,
    poisoned: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = str(_state_file(runtime, tmp_path))
    runtime.resources.dlq_urls["orders"]

    assert ops.main(["dlq", "list", "--state-file", state]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    (orders,) = [row for row in rows if row[:2] == ["orders", "orders-dlq"]]
    # locally the oldest age is sampled (moto has no SQS metrics): seconds old, not "-"
    assert orders[2:4] == [str(POISON_COUNT), "0"]
    assert re.fullmatch(r"\d+s", orders[4])
    assert ["notifications", "notifications-dlq", "0", "0", "-"] in rows

    assert ops.main(["--state-file", state, "dlq", "show", "orders-dlq", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert sorted(message["body"] for message in shown) == sorted(poisoned)

    assert ops.main(["dlq", "redrive", "orders", "--max", "1", "--state-file", state]) == 0
    assert "Moved 1 message(s) from orders-dlq to orders." in capsys.readouterr().out

    assert ops.main(["dlq", "redrive", "orders", "--state-file", state]) == 0
    out = capsys.readouterr().out
    assert "StartMessageMoveTask is not available here" in out
    # the rest, and the one moved first if the worker already dead-lettered it again
    moved = re.search(r"Moved (\d+) message\(s\) from orders-dlq to orders", out)
    assert moved is not None
    assert int(moved.group(1)) in (POISON_COUNT - 1, POISON_COUNT)


def test_main_redrives_a_stack_with_a_move_task(capsys: pytest.CaptureFixture[str]) -> None:
    base = "https://sqs.eu-west-1.amazonaws.com/111122223333/AsyncOrders-prod-Messaging"
    outputs = {
        "OrdersQueueUrl": f"{base}-OrdersQueue",
        "OrdersDlqUrl": f"{base}-OrdersDlq",
        "NotificationsQueueUrl": f"{base}-NotificationsQueue",
        "NotificationsDlqUrl": f"{base}-NotificationsDlq",
    }
    cloudformation, sqs = _stubbable("cloudformation"), _stubbable("sqs")
    made: list[tuple[str, str | None, str | None]] = []

    def make_client(service: str, region: str | None, endpoint_url: str | None) -> Any:
        made.append((service, region, endpoint_url))
        return {"cloudformation": cloudformation, "sqs": sqs}[service]

    with Stubber(cloudformation) as cfn_stub, Stubber(sqs) as sqs_stub:
        cfn_stub.add_response(
            "describe_stacks",
            _stack("AsyncOrders-prod-Messaging", outputs),
            {"StackName": "AsyncOrders-prod-Messaging"},
        )
        pair = QueuePair(outputs["NotificationsQueueUrl"], outputs["NotificationsDlqUrl"])
        source_arn, dlq_arn = _expect_arns(sqs_stub, pair)
        sqs_stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "task-handle-2"},
            {"SourceArn": dlq_arn, "DestinationArn": source_arn, "MaxNumberOfMessagesPerSecond": 5},
        )

        code = ops.main(
            [
                *("dlq", "redrive", "notifications", "--rate", "5"),
                *("--stack", "AsyncOrders-prod", "--region", "eu-west-1"),
            ],
            make_client=make_client,
        )

        sqs_stub.assert_no_pending_responses()
    assert code == 0, capsys.readouterr().err
    assert "Task handle: task-handle-2" in capsys.readouterr().out
    assert made == [("cloudformation", "eu-west-1", None), ("sqs", "eu-west-1", None)]


def test_main_lists_a_stack_with_the_oldest_age_from_cloudwatch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = "https://sqs.us-east-1.amazonaws.com/111122223333/AsyncOrders-prod-Messaging"
    outputs = {"OrdersQueueUrl": f"{base}-OrdersQueue", "OrdersDlqUrl": f"{base}-OrdersDlq"}
    clients = {name: _stubbable(name) for name in ("cloudformation", "sqs", "cloudwatch")}
    with (
        Stubber(clients["cloudformation"]) as cfn_stub,
        Stubber(clients["sqs"]) as sqs_stub,
        Stubber(clients["cloudwatch"]) as cloudwatch_stub,
    ):
        cfn_stub.add_response(
            "describe_stacks",
            _stack("AsyncOrders-prod-Messaging", outputs),
            {"StackName": "AsyncOrders-prod-Messaging"},
        )
        cloudwatch_stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [{"Id": "q0", "Values": [7260.0], "StatusCode": "Complete"}]},
            {
                "MetricDataQueries": ANY,
                "StartTime": ANY,
                "EndTime": ANY,
                "ScanBy": "TimestampDescending",
            },
        )
        sqs_stub.add_response(
            "get_queue_attributes",
            {
                "Attributes": {
                    "ApproximateNumberOfMessages": "4",
                    "ApproximateNumberOfMessagesNotVisible": "1",
                }
            },
        )

        code = ops.main(
            ["dlq", "list", "--stack", "AsyncOrders-prod-Messaging"],
            make_client=lambda service, *_: clients[service],
        )

    assert code == 0, capsys.readouterr().err
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["orders", "AsyncOrders-prod-Messaging-OrdersDlq", "5", "1", "2h", "1m"] in rows


def test_a_missing_stack_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    cloudformation = _stubbable("cloudformation")
    with Stubber(cloudformation) as stub:
        stub.add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message="Stack with id Nope-Messaging does not exist",
        )

        code = ops.main(
            ["dlq", "list", "--stack", "Nope", "--region", "eu-west-1"],
            make_client=lambda *_: cloudformation,
        )

    assert code == 1
    assert (
        "stack 'Nope-Messaging' not found: Stack with id Nope-Messaging does not exist"
        in capsys.readouterr().err
    )


def test_a_missing_state_file_asks_whether_make_run_is_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = ops.main(["dlq", "list", "--state-file", str(tmp_path / "runtime.json")])

    assert code == 1
    assert "is `make run` running?" in capsys.readouterr().err


def test_an_unknown_queue_names_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "runtime.json"
    state.write_text(
        json.dumps(
            {
                "endpointUrl": NOWHERE,
                "region": "us-east-1",
                "queueUrls": {"orders": f"{NOWHERE}/1/orders"},
                "deadLetterQueueUrls": {"orders": f"{NOWHERE}/1/orders-dlq"},
            }
        )
    )

    code = ops.main(["dlq", "show", "payments", "--state-file", str(state)])

    assert code == 2
    assert "no queue 'payments' here: known queues are orders" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dlq", "list"], "choose a target"),
        (["dlq", "list", "--local", "--stack", "S"], "exclusive"),
        (["dlq", "list", "--local", "--region", "eu-west-1"], "--region applies to --stack"),
        (["dlq", "redrive", "orders", "--local", "--rate", "0"], "must be 1 or more"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ops.main(argv) == 2
    assert message in capsys.readouterr().err


# Helpers -------------------------------------------------------------------------------------


def unconsumed_pair(runtime: LocalRuntime, messages: int) -> QueuePair:
    """A fresh queue and a DLQ holding `messages` messages, on the runtime's moto; no consumer."""
    name = f"ops-{uuid.uuid4().hex[:8]}"
    pair = QueuePair(
        runtime.sqs.create_queue(QueueName=name)["QueueUrl"],
        runtime.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"],
    )
    for index in range(messages):
        runtime.sqs.send_message(QueueUrl=pair.dlq_url, MessageBody=f"m{index}")
    return pair


def _stubbable(service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name="eu-west-1",
        endpoint_url=NOWHERE,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _expect_arns(stub: Stubber, pair: QueuePair) -> tuple[str, str]:
    arns = []
    for url in (pair.source_url, pair.dlq_url):
        arn = "arn:aws:sqs:eu-west-1:111122223333:" + url.rsplit("/", 1)[-1]
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": arn}},
            {"QueueUrl": url, "AttributeNames": ["QueueArn"]},
        )
        arns.append(arn)
    return arns[0], arns[1]


def _stack(name: str, outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": name,
                "CreationTime": "2026-11-23T00:00:00Z",
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }
