"""Queue semantics of the local event source mapping, with timings shrunk to seconds."""

from __future__ import annotations

import json
import uuid

import pytest

from infra.local.runtime import LocalRuntime
from infra.orders_local import orders_runtime
from infra.topology import TOPOLOGY, Topology
from tests.local.conftest import Http, wait_until

pytestmark = pytest.mark.local

# Poison messages go to the DLQ after two receives, five seconds apart (timings shrunk, so the
# six-times visibility advice is waived; shorter than a worker's cold start would make SQS
# redeliver messages still being processed, which is real SQS behaviour, not what we test here).
FAST = TOPOLOGY.replace_queue("orders", visibility_timeout_s=5, max_receive_count=2)


def fast_runtime(topology: Topology = FAST) -> LocalRuntime:
    return orders_runtime(topology, port=0, echo_logs=False, timeout_advice=False)


def placed_message(order_id: str) -> str:
    return json.dumps(
        {
            "id": order_id,
            "type": "order.placed",
            "version": 1,
            "correlationId": f"corr-{order_id}",
            "occurredAt": "2026-11-23T22:28:20Z",
            "data": {"orderId": order_id},
        }
    )


def test_poison_messages_end_in_the_dead_letter_queue_and_neighbours_are_not_resent() -> None:
    with fast_runtime() as runtime:
        http = Http.for_runtime(runtime)
        queue, dlq = runtime.resources.queue_urls["orders"], runtime.resources.dlq_urls["orders"]
        good_ids = [http.place(("CB-005", 1)) for _ in range(3)]
        runtime.wait_until_idle()
        # Given a batch that mixes a poison message with good ones
        runtime.sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": "poison", "MessageBody": "{not json"}]
            + [
                {"Id": f"good{i}", "MessageBody": placed_message(o)} for i, o in enumerate(good_ids)
            ],
        )

        wait_until(lambda: runtime.queue_depth(dlq) == 1, what="poison in DLQ")
        runtime.wait_until_idle()

        (dead,) = runtime.sqs.receive_message(
            QueueUrl=dlq, AttributeNames=["All"], MessageAttributeNames=["All"]
        )["Messages"]
        assert dead["Body"] == "{not json"
        # no retry can fix it: the worker dead-lettered it on its first receive, with the reason
        assert dead["Attributes"]["ApproximateReceiveCount"] == "1"
        reason = dead["MessageAttributes"]["failureReason"]["StringValue"]
        assert reason == "not a message envelope (type and version)"
        # the good messages were each received once: the poison never sent them back
        settling = [
            json.loads(line)
            for line in runtime.log_lines("order-worker")
            if '"Settling order"' in line and "corr-" in line
        ]
        assert sorted(entry["order_id"] for entry in settling) == sorted(good_ids)
        assert {entry["receive_count"] for entry in settling} == {1}
        assert runtime.queue_depth(queue) == 0


def test_an_unknown_message_type_is_dead_lettered_at_once_with_its_reason() -> None:
    with fast_runtime() as runtime:
        queue, dlq = runtime.resources.queue_urls["orders"], runtime.resources.dlq_urls["orders"]
        body = placed_message("o-1").replace('"version": 1', '"version": 9')
        runtime.sqs.send_message(QueueUrl=queue, MessageBody=body)

        wait_until(lambda: runtime.queue_depth(dlq) == 1, what="unknown version in the DLQ")
        (dead,) = runtime.sqs.receive_message(
            QueueUrl=dlq, AttributeNames=["All"], MessageAttributeNames=["All"]
        )["Messages"]
        assert dead["Body"] == body
        assert dead["Attributes"]["ApproximateReceiveCount"] == "1"
        assert dead["MessageAttributes"]["failureReason"]["StringValue"] == (
            "unknown message type order.placed@9"
        )


def test_a_timed_out_batch_is_not_deleted_and_comes_back() -> None:
    # Given a worker whose 10 ms timeout is too short for any batch
    with fast_runtime(FAST.replace_function("order-worker", timeout_s=0.01)) as runtime:
        queue, dlq = runtime.resources.queue_urls["orders"], runtime.resources.dlq_urls["orders"]
        runtime.sqs.send_message(QueueUrl=queue, MessageBody=placed_message(str(uuid.uuid4())))

        # Then the message is retried after each visibility timeout and dead-lettered, not lost
        wait_until(lambda: runtime.queue_depth(dlq) == 1, what="timed-out message in the DLQ")
        assert sum("timed out" in line for line in runtime.log_lines("order-worker")) >= 2
