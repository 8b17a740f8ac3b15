"""moto's server, with fidelity fixes.

DynamoDB applies each write, condition and transaction atomically per item. moto's threaded
server does not: two concurrent conditional updates of one item can both pass their condition
(we saw ten concurrent orders oversell a product locally). Serializing DynamoDB requests restores
the guarantee; SQS requests (long polls included) still run concurrently.

SQS FIFO keeps a message group out of every receive while any of its messages is in flight
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html).
moto 5.2 breaks that two ways: concurrent long polls on one FIFO queue decide with a stale view
of the groups in flight (a group's third message went out while its first two were in flight),
and messages that are visible again still count as in flight, so the first of a group to time
out is skipped and the last is delivered first. Receives on a FIFO queue run one at a time here,
and only invisible messages hold their group. And each pass of a FIFO receive sees the queue at
one instant: moto's loop read the clock message by message and kept the groups in flight from
its first pass, so a group whose messages timed out during a long poll could skip its first
message (still held, by a stale view) and deliver the next ones (no longer held, by a fresh
one): the group's order broken.

moto decides whether each message is visible, and whether it is delayed, with its own clock
(`unix_time_millis`, two datetime conversions, ~20 us) at every call, and scans every message of
the queue several times per SendMessage, ReceiveMessage and GetQueueAttributes: with a few
hundred messages queued (a burst the consumers have not caught up with), each receive took
close to a second of the server's one core, and the API's SendMessage waited behind it. The
same comparison against `time.time()` (the same clock: milliseconds since the epoch) keeps a
backlog of hundreds cheap.

moto keeps every table's items as Python objects, tens of them per item, and the collector's
full collections walk them all: with a few hundred orders a full collection took hundreds of
milliseconds, a thousand orders later over a second, and every request, the API's included,
waited for it (one interpreter lock). After each full collection the survivors are frozen
(`gc.freeze()`): later full collections walk only what is newer, so a pause stays short however
much the server holds. What is frozen is still freed when nothing refers to it; only a cycle
among frozen objects would stay (a local server's memory, not its behaviour).

moto makes TransactWriteItems all-or-nothing by deep-copying every table the transaction
names before it starts, to put the copy back if any part fails: with 800 orders in the table,
each transaction (the worker settling an order) cost close to 100 ms of the server, under the
DynamoDB lock above, and every API write queued behind it. DynamoDB's own transactions cost
the same however big the table (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html).
Here a transaction copies only the items it touches, and restores just those if it fails:
the same all-or-nothing outcome, at the cost of the transaction's own items.

    python -m infra.local.moto_server <host> <port>
"""

from __future__ import annotations

import copy
import gc
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerializedDynamoDB:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


class SerializedFifoReceives:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") != "AmazonSQS.ReceiveMessage":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            queue_url = str(json.loads(body).get("QueueUrl", ""))
        except ValueError:
            queue_url = ""
        if not queue_url.endswith(".fifo"):
            return self.app(environ, start_response)
        with self.guard:
            lock = self.locks.setdefault(queue_url, threading.Lock())
        with lock:
            return list(self.app(environ, start_response))


def _fifo_groups_in_flight() -> None:
    from moto.sqs.models import Queue

    def pending_message_groups(self: Any) -> set[str]:
        return {
            message.group_id
            for message in self._pending_messages
            if message.group_id is not None and not message.visible
        }

    Queue.pending_message_groups = property(pending_message_groups)  # type: ignore[method-assign,assignment]


def _wall_ms() -> float:
    return time.time() * 1000


_INSTANT = threading.local()  # `ms`: the one instant a FIFO receive's pass sees, in this thread


def _now_ms() -> float:
    frozen: float | None = getattr(_INSTANT, "ms", None)
    return _wall_ms() if frozen is None else frozen


def _fifo_receives_see_one_instant() -> None:
    from moto.sqs.models import SQSBackend

    receive = SQSBackend.receive_message

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue:
            return receive(
                self,
                queue_name,
                count,
                wait_seconds_timeout,
                visibility_timeout,
                message_attribute_names,
            )
        polling_ends = time.monotonic() + wait_seconds_timeout
        while True:
            _INSTANT.ms = _wall_ms()
            try:
                # moto's own cleanup (a consumer that timed out no longer holds its message),
                # done before the pass rather than in the middle of it
                for message in list(queue.pending_messages):
                    if message.visible:
                        queue.pending_messages.discard(message)
                # one pass, no wait: moto's loop would keep this pass's groups in flight
                received = receive(
                    self, queue_name, count, 0, visibility_timeout, message_attribute_names
                )
            finally:
                _INSTANT.ms = None
            remaining = polling_ends - time.monotonic()
            if received or remaining <= 0:
                return received
            queue.wait_for_messages(min(1.0, remaining))  # a new message wakes it
            if queue.messages:  # visible, but their groups are in flight: no busy loop
                time.sleep(min(0.05, max(0.0, polling_ends - time.monotonic())))

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


def _cheap_message_clock() -> None:
    from moto.sqs.models import Message

    def visible(self: Any) -> bool:
        return _now_ms() > float(self.visible_at)

    def delayed(self: Any) -> bool:
        return _now_ms() < float(self.delayed_until)

    Message.visible = property(visible)  # type: ignore[method-assign,assignment]
    Message.delayed = property(delayed)  # type: ignore[method-assign,assignment]


def _transactions_copy_only_their_items() -> None:
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    class TablesKeptInPlace:
        """`copy` inside moto's DynamoDB backend: a table is not copied (its transaction's
        items are, below); anything else is, as before."""

        @staticmethod
        def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

        def __getattr__(self, name: str) -> Any:  # copy.copy and the rest, unchanged
            return getattr(copy, name)

    setattr(dynamodb_models, "copy", TablesKeptInPlace())  # noqa: B010 - not a declared export
    all_or_nothing = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = [_item_before(self, entry) for entry in transact_items]
        try:
            all_or_nothing(self, transact_items)
        except BaseException:
            for touched in reversed(before):
                if touched is not None:
                    _restore(*touched)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _item_before(backend: Any, entry: dict[str, Any]) -> tuple[Any, Any, Any, Any] | None:
    """(table, hash key, range key, a copy of the item or None) for one transaction entry;
    None where the entry is malformed (moto refuses it before writing anything)."""
    try:
        (operation,) = entry.values()
        table = backend.get_table(operation["TableName"])  # a name or an ARN, as moto takes
        key = operation["Item"] if "Item" in operation else operation["Key"]
        hash_key, range_key = backend.get_keys_value(table, key)
        item = table.get_item(hash_key, range_key)
    except Exception:  # moto reports the malformed entry itself
        return None
    return table, hash_key, range_key, copy.deepcopy(item)


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is not None:
        if item is None:
            table.items[hash_key].pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item


def _freeze_survivors_of_full_collections() -> None:
    def after(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.callbacks.append(after)


def main(host: str, port: int) -> None:
    os.environ.setdefault("MOTO_PORT", str(port))
    from moto.server import (  # type: ignore[attr-defined]  # re-exported, not declared
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    _fifo_groups_in_flight()
    _cheap_message_clock()
    _fifo_receives_see_one_instant()
    _transactions_copy_only_their_items()
    _freeze_survivors_of_full_collections()
    app = SerializedFifoReceives(
        SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))
    )
    run_simple(host, port, app, threaded=True)


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group; the runtime stops us after its pollers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    main(sys.argv[1], int(sys.argv[2]))
