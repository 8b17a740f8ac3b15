"""The topology is sound, and its checks catch what they claim to."""

from __future__ import annotations

from infra.topology import TOPOLOGY, Route


def test_the_shipped_topology_is_sound() -> None:
    assert TOPOLOGY.validate() == []


def test_visibility_under_six_times_the_consumer_timeout_is_reported() -> None:
    shrunk = TOPOLOGY.replace_queue("orders", visibility_timeout_s=60)
    assert shrunk.validate() == ["orders: visibility timeout 60s is under 6 x order-worker's 30s"]
    assert shrunk.validate(timeout_advice=False) == []


def test_dlq_must_outlive_its_queue() -> None:
    bad = TOPOLOGY.replace_queue("orders", dlq_retention_s=60)
    assert "orders: DLQ retention must exceed the queue's" in bad.validate()


def test_routes_match_paths_and_extract_parameters() -> None:
    route = Route("GET", "/orders/{orderId}", "order-api", ("orders/read",))
    assert route.matches("/orders/abc-1") == {"orderId": "abc-1"}
    assert route.matches("/orders") is None
    assert route.matches("/orders/a/b") is None


def test_every_consumer_reads_a_queue_that_exists_with_a_dlq() -> None:
    for function, source in TOPOLOGY.consumers():
        queue = TOPOLOGY.queue(source.queue)
        assert queue.max_receive_count >= 5, function.name
        assert queue.dlq_retention_s > queue.retention_s


def test_unknown_names_are_reported_not_raised() -> None:
    assert TOPOLOGY.replace_function("notifier", secrets=("nope",)).validate() == [
        "notifier: no 'nope' in the topology"
    ]
    # a queue without a DLQ variable: a function that declares it dead-letters to it is refused
    # (its own consumer just gets no DLQ variable)
    no_dlq_variable = TOPOLOGY.replace_queue("orders", dlq_env_var=None)
    assert no_dlq_variable.replace_function("notifier", dead_letters_to=("orders",)).validate() == [
        "notifier: queue 'orders' declares no dlq_env_var",
    ]
    assert TOPOLOGY.replace_function("order-api", reschedules=True).validate() == [
        "order-api: reschedules without an event source"
    ]
