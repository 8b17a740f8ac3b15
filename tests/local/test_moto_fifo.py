"""The local moto server's FIFO receives keep a message group in order while its messages time out.

A group is held while any of its messages is in flight, and its messages go out in the order
they were sent (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html).
moto's long poll read the clock message by message and kept the groups in flight from its first
pass: when a group's messages timed out during the poll, its first message could be skipped
(held, by the stale view) and the next ones delivered (free, by a fresh one). The clock is the
server's (`_wall_ms`), moved by the test: the race, made certain.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import Message, Queue, SQSBackend

from infra.local import moto_server

REGION = "us-east-1"


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # the server's patches, undone after the test (this process's other tests use plain moto)
    for cls, name in (
        (Queue, "pending_message_groups"),
        (Message, "visible"),
        (Message, "delayed"),
        (SQSBackend, "receive_message"),
    ):
        monkeypatch.setattr(cls, name, vars(cls)[name])
    moto_server._fifo_groups_in_flight()
    moto_server._cheap_message_clock()
    moto_server._fifo_receives_see_one_instant()
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def test_a_group_whose_messages_time_out_during_a_long_poll_keeps_its_order(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for n in range(1, 5):
        sqs.send_message(
            QueueUrl=url, MessageBody=f"a{n}", MessageGroupId="a", MessageDeduplicationId=f"a{n}"
        )
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=10)
    first, second, *_ = received["Messages"]
    assert [m["Body"] for m in received["Messages"]] == ["a1", "a2", "a3", "a4"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    # a2's consumer gave it back sooner; a3 and a4 are still in flight, holding the group
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=5
    )
    now = moto_server._wall_ms()
    clock = [now + 7_000]  # a2 visible again, a3 and a4 not yet
    monkeypatch.setattr(moto_server, "_wall_ms", lambda: clock[0])

    def time_passes(self: Any, timeout: float) -> None:
        clock[0] = now + 11_000  # during the long poll, a3 and a4 time out too

    monkeypatch.setattr(Queue, "wait_for_messages", time_passes)

    again = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2, VisibilityTimeout=10
    )

    assert [m["Body"] for m in again["Messages"]] == ["a2", "a3", "a4"]


def test_a_group_stays_held_while_any_of_its_messages_is_in_flight(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="held.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for body, group in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body
        )
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30)
    assert [m["Body"] for m in first["Messages"]] == ["a1"]

    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)

    assert [m["Body"] for m in rest["Messages"]] == ["b1"]  # a2 waits for a1
