"""Isolation end to end: receivers that attack the notifier (one trickling its answer a byte
every 3 seconds, one taking 10 seconds) delay only their own events. Other receivers get theirs
within seconds of settlement, once each.

The runtime runs the notifier as the topology sizes it (5 environments, 10 records at once, 2
per destination), with a shrunk schedule: a 2 s attempt deadline, 3 attempts, the circuit
tripping after 3 failures and probed after 2 s.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from infra.local.runtime import LocalRuntime
from infra.orders_local import orders_runtime
from tests.local.conftest import Http, Receiver, running_receiver, wait_until

pytestmark = pytest.mark.local

SECRET = "whsec_aXNvbGF0aW9uLW9mLXdlYmhvb2stZGVsaXZlcnktdGVzdHM="
ATTACK_SCHEDULE = {
    "WEBHOOK_MAX_ATTEMPTS": "2",
    "WEBHOOK_RETRY_BASE_SECONDS": "1",
    "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "2",
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "0.5",
    "WEBHOOK_READ_TIMEOUT_SECONDS": "1.5",
    "WEBHOOK_DEFER_SECONDS": "1",
    "WEBHOOK_CIRCUIT_FAILURE_THRESHOLD": "3",
    "WEBHOOK_CIRCUIT_RECOVERY_SECONDS": "2",
}
ATTACKING_ORDERS = 10
HEALTHY_ORDERS = 5
# generous for a loaded 2-core machine; unattacked deliveries take about a second here
WITHIN_S = 15.0


@contextlib.contextmanager
def trickling_receiver() -> Iterator[tuple[int, list[float]]]:
    """Answers every request one byte every 3 seconds, forever; yields its port and when each
    connection came."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    connections: list[float] = []
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                    connection.send(bytes([byte]))
                    if stop.wait(3):
                        return
            except OSError:
                return  # the notifier hung up at its deadline

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            connections.append(time.monotonic())
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1], connections
    finally:
        stop.set()
        server.close()


@pytest.fixture(scope="module")
def healthy() -> Iterator[Receiver]:
    with running_receiver(SECRET) as started:
        yield started


@pytest.fixture(scope="module")
def slow() -> Iterator[Receiver]:
    with running_receiver(SECRET) as started:
        yield started


@pytest.fixture(scope="module")
def trickle() -> Iterator[tuple[int, list[float]]]:
    with trickling_receiver() as started:
        yield started


@pytest.fixture(scope="module")
def runtime(
    healthy: Receiver, slow: Receiver, trickle: tuple[int, list[float]]
) -> Iterator[LocalRuntime]:
    ports = [healthy.server.server_address[1], slow.server.server_address[1], trickle[0]]
    with orders_runtime(
        callback_ports=ports,
        port=0,
        echo_logs=False,
        webhook_secret=SECRET,
        function_environment={"notifier": ATTACK_SCHEDULE},
    ) as started:
        yield started


@pytest.fixture(scope="module")
def http(runtime: LocalRuntime) -> Http:
    return Http.for_runtime(runtime)


def place(http: Http, callback_url: str) -> str:
    reply = http.post(
        "/orders",
        {
            "customerId": "c-iso",
            "items": [{"sku": "MS-002", "quantity": 1}],
            "callbackUrl": callback_url,
        },
    )
    assert reply.status == 202, reply.body
    return str(reply.body["orderId"])


def healthy_delivery_times(http: Http, healthy: Receiver, name: str) -> list[float]:
    """Place HEALTHY_ORDERS orders calling back the healthy receiver (a path each) while the
    attack runs; seconds from each order's 202 to its webhook's arrival."""
    placed = {}
    for n in range(HEALTHY_ORDERS):
        path = f"/{name}-{n}"
        healthy.script(path, (204, 0, {}))
        place(http, healthy.url + path)
        placed[path] = time.monotonic()
    wait_until(
        lambda: all(healthy.hits(path) for path in placed),
        60,
        f"every healthy webhook delivered during the {name} attack",
    )
    return [healthy.hits(path)[0]["received_at"] - at for path, at in placed.items()]


def attack_settled(http: Http, order_ids: list[str]) -> bool:
    """Polled once a second (SETTLED_POLL_S): ten reads each time stay within the client's
    50 requests a second (its usage plan), which a faster poll outran on a fast machine (429)."""
    replies = [http.get(f"/orders/{order_id}") for order_id in order_ids]
    assert all(reply.status == 200 for reply in replies), [r.body for r in replies]
    notes = [reply.body["notifications"] for reply in replies]
    return all(n and n[0]["status"] != "PENDING" for n in notes)


SETTLED_POLL_S = 1.0


def test_a_trickling_receiver_delays_no_one_else(
    http: Http, healthy: Receiver, trickle: tuple[int, list[float]]
) -> None:
    # Given a client whose 10 orders call back a receiver that answers a byte every 3 seconds
    port, connections = trickle
    attackers = [place(http, f"http://127.0.0.1:{port}/hook") for _ in range(ATTACKING_ORDERS)]
    wait_until(lambda: len(connections) >= 2, 30, "the trickling receiver is being called")

    # When other clients' orders settle meanwhile
    times = healthy_delivery_times(http, healthy, "trickle")

    # Then their webhooks arrive within seconds, each once; the attacker's end FAILED
    print(f"\nother receivers during the trickle attack: {[round(t, 2) for t in times]} s")
    assert max(times) < WITHIN_S, times
    wait_until(
        lambda: attack_settled(http, attackers), 180, "the trickling events settled", SETTLED_POLL_S
    )
    for n in range(HEALTHY_ORDERS):
        assert len(healthy.hits(f"/trickle-{n}")) == 1
        assert healthy.hits(f"/trickle-{n}")[0]["verified"]
    notes = [http.get(f"/orders/{o}").body["notifications"][0] for o in attackers]
    assert {n["status"] for n in notes} == {"FAILED"}
    assert all("TimeoutError" in (n["lastError"] or "") for n in notes)
    # never more attempts than recorded: a timed-out send never goes out later
    assert len(connections) <= sum(n["attempts"] for n in notes)


def test_a_ten_second_receiver_delays_no_one_else(
    http: Http, healthy: Receiver, slow: Receiver
) -> None:
    # Given a client whose 10 orders call back a receiver that takes 10 s to answer
    slow.script("/hook", (200, 10, {}))
    attackers = [place(http, slow.url + "/hook") for _ in range(ATTACKING_ORDERS)]
    wait_until(lambda: len(slow.hits("/hook")) >= 2, 30, "the slow receiver is being called")

    # When other clients' orders settle meanwhile
    times = healthy_delivery_times(http, healthy, "slow")

    # Then their webhooks arrive within seconds, each once
    print(f"\nother receivers during the 10 s receiver attack: {[round(t, 2) for t in times]} s")
    assert max(times) < WITHIN_S, times
    wait_until(
        lambda: attack_settled(http, attackers), 180, "the slow events settled", SETTLED_POLL_S
    )
    for n in range(HEALTHY_ORDERS):
        assert len(healthy.hits(f"/slow-{n}")) == 1
    notes = [http.get(f"/orders/{o}").body["notifications"][0] for o in attackers]
    assert {n["status"] for n in notes} == {"FAILED"}
    assert len(slow.hits("/hook")) == sum(n["attempts"] for n in notes)
