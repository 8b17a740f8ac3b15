"""The local runtime as an outside project uses it: its own toy topology and handlers (two API
functions, a code directory per function, a FIFO queue, app clients, binary media types), driven
only through the public API (`infra.local.LocalRuntime` and the pytest fixture)."""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local import LocalRuntime
from infra.local.pytest_plugin import StartRuntime
from infra.topology import AppClient, EventSource, Function, Queue, Route, Table, Topology
from tests.local.conftest import wait_until

pytestmark = pytest.mark.local

TOY = Path(__file__).with_name("toy")
READ, WRITE = "toy/read", "toy/write"
DELIVERIES = Table("deliveries", partition_key="id", env_var="DELIVERIES_TABLE")
JOBS = Queue(
    "jobs",
    env_var="JOBS_QUEUE_URL",
    visibility_timeout_s=4,
    fifo=True,
    content_based_deduplication=True,
)
BULK = Queue("bulk", env_var="BULK_QUEUE_URL", visibility_timeout_s=30)
TOPOLOGY = Topology(
    tables=(DELIVERIES,),
    queues=(JOBS, BULK),
    functions=(
        Function(
            "greeter",
            "greeter.handler",
            "greets and enqueues",
            timeout_s=3,
            sends_to=("jobs", "bulk"),
            code_dir=str(TOY / "greeter"),
        ),
        Function("echo", "echo.handler", "echoes the request", timeout_s=1),
        Function(
            "ledger",
            "consumers.ledger",
            "FIFO consumer",
            timeout_s=3,
            tables={"deliveries": ("PutItem",)},
            event_source=EventSource("jobs", batch_size=10),
            code_dir=str(TOY / "consumers"),
        ),
        Function(
            "tally",
            "consumers.tally",
            "batch sizes",
            timeout_s=5,
            tables={"deliveries": ("PutItem",)},
            event_source=EventSource("bulk", batch_size=10, max_batching_window_s=2),
            code_dir=str(TOY / "consumers"),
        ),
    ),
    routes=(
        Route("GET", "/hello", "greeter", (READ,)),
        Route("GET", "/hello/{what}", "greeter", (READ,)),
        Route("POST", "/jobs", "greeter", (WRITE,)),
        Route("POST", "/echo", "echo", (READ,), request_body="echo.request"),
    ),
    binary_media_types=("application/octet-stream", "image/*"),
    app_clients=(AppClient("reader", (READ,)), AppClient("writer", (READ, WRITE))),
)


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(
        TOPOLOGY,
        code_dir={"echo": TOY / "echo"},  # the others name their own in the topology
        schemas_dir=TOY / "schemas",
        timeout_advice=False,
        integration_timeout_s=1.5,
    ) as started:
        yield started


def token(runtime: LocalRuntime, client_index: int) -> dict[str, str]:
    client = runtime.clients[client_index]
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - loopback
        runtime.api_url + "/oauth2/token",
        data=b"grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        access = json.loads(answer.read())["access_token"]
    return {"Authorization": f"Bearer {access}", "x-api-key": client.api_key}


def raw(runtime: LocalRuntime, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; the answer's status, headers and body (never a dropped line)."""
    host, port = urllib.parse.urlsplit(runtime.api_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        return answer.status, dict(answer.getheaders()), answer.read()


def call(
    runtime: LocalRuntime,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    writer: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    auth = token(runtime, 1 if writer else 0)
    lines = [f"{method} {path} HTTP/1.1", "Host: local", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in [*auth.items(), *headers]]
    if body and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return raw(runtime, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def problem(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, str]:
    status, headers, body = answer
    assert headers["Content-Type"] == "application/problem+json", (status, body)
    return status, json.loads(body)["type"].rsplit(":", 1)[1]


def deliveries(runtime: LocalRuntime) -> list[dict[str, Any]]:
    items = runtime.client("dynamodb").scan(TableName="deliveries")["Items"]
    plain = [{k: _plain(v) for k, v in item.items()} for item in items]
    return sorted(plain, key=lambda item: int(item["at"]))


def _plain(value: dict[str, Any]) -> Any:
    ((kind, inner),) = value.items()
    return [_plain(v) for v in inner] if kind == "L" else inner


# 1, 2: any topology, through the public API -----------------------------------------------------


def test_two_api_functions_each_with_its_own_code_directory(runtime: LocalRuntime) -> None:
    status, _, body = call(runtime, "GET", "/hello", [])
    assert (status, json.loads(body)["function"]) == (200, "greeter")
    status, _, body = call(
        runtime, "POST", "/echo", [("Content-Type", "application/json")], b'{"name": "x"}'
    )
    assert (status, json.loads(body)["resource"]) == (200, "/echo")
    # no catch-all function: an unknown path is API Gateway's own 403
    assert problem(call(runtime, "GET", "/nowhere", [])) == (
        403,
        "gateway-MISSING_AUTHENTICATION_TOKEN",
    )


def test_queues_tables_and_clients_by_topology_name(runtime: LocalRuntime) -> None:
    assert runtime.queue_url("jobs").endswith("/jobs.fifo")
    sqs = runtime.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=runtime.queue_url("jobs"), AttributeNames=["All"]
    )
    assert attributes["Attributes"]["FifoQueue"] == "true"
    assert attributes["Attributes"]["ContentBasedDeduplication"] == "true"
    assert runtime.client("dynamodb").describe_table(TableName="deliveries")["Table"]


def test_the_pytest_fixture_starts_and_stops_a_runtime(local_runtime: StartRuntime) -> None:
    small = Topology(
        tables=(),
        queues=(),
        functions=(Function("echo", "echo.handler", "echo", timeout_s=1),),
        routes=(Route("POST", "/echo", "echo", ()),),
    )
    runtime = local_runtime(small, code_dir=TOY / "echo")
    # no app clients: no authorizer, no token endpoint
    request = urllib.request.Request(runtime.api_url + "/echo", data=b"hi")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert json.loads(answer.read())["body"] == "hi"


# 8: several clients, each with its own credentials and API key ----------------------------------


def test_each_app_client_is_a_local_client_with_its_own_credentials(runtime: LocalRuntime) -> None:
    reader, writer = runtime.clients
    assert (reader.client_id, writer.client_id) == ("reader", "writer")
    assert reader.client_secret != writer.client_secret
    assert reader.api_key != writer.api_key
    jobs = json.dumps({"jobs": []}).encode()
    assert call(runtime, "POST", "/jobs", [], jobs, writer=True)[0] == 202
    assert problem(call(runtime, "POST", "/jobs", [], jobs, writer=False)) == (
        403,
        "gateway-ACCESS_DENIED",
    )
    # one client's token with another's key is still metered by the key: both must be known
    mixed = token(runtime, 0) | {"x-api-key": "not-a-key"}
    request = urllib.request.Request(runtime.api_url + "/hello", headers=mixed)  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert refused.value.code == 403


# 5: API Gateway's edges ------------------------------------------------------------------------


def test_claims_reach_the_function_in_cognitos_format(runtime: LocalRuntime) -> None:
    claims = json.loads(call(runtime, "GET", "/hello", [])[2])["claims"]
    date = r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}"
    assert re.fullmatch(date, claims["exp"]), claims
    assert re.fullmatch(date, claims["iat"]), claims
    assert claims["client_id"] == "writer"
    assert all(isinstance(value, str) for value in claims.values())


def test_bodies_are_base64_only_for_binary_media_types(runtime: LocalRuntime) -> None:
    def echoed(content_type: str, body: bytes) -> dict[str, Any]:
        status, _, answer = call(runtime, "POST", "/echo", [("Content-Type", content_type)], body)
        assert status == 200, answer
        return dict(json.loads(answer))

    text = echoed("text/plain", "aGk= café".encode())
    assert (text["isBase64Encoded"], text["body"]) == (False, "aGk= café")
    binary = echoed("image/png", b"\x89PNG\x00")
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x89PNG\x00"
    # a base64 result is binary only where the client accepts a binary type
    assert call(runtime, "GET", "/hello/binary", [("Accept", "application/octet-stream")])[2] == (
        b"\x00\x01binary"
    )
    assert call(runtime, "GET", "/hello/binary", [("Accept", "application/json")])[2] == (
        base64.b64encode(b"\x00\x01binary")
    )


def test_chunked_bodies_reach_the_function_whole(runtime: LocalRuntime) -> None:
    chunked = b'5\r\n{"nam\r\n9\r\ne": "ok"}\r\n0\r\n\r\n'
    status, _, body = call(
        runtime,
        "POST",
        "/echo",
        [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
        chunked,
    )
    assert status == 200
    assert json.loads(body)["body"] == '{"name": "ok"}'


@pytest.mark.parametrize(
    ("content_length", "status", "kind"),
    [
        ("-1", 400, "gateway-BAD_REQUEST"),
        ("abc", 400, "gateway-BAD_REQUEST"),
        ("0x10", 400, "gateway-BAD_REQUEST"),
        ("4, 5", 400, "gateway-BAD_REQUEST"),
        (str(10 * 1024 * 1024 + 1), 413, "gateway-REQUEST_TOO_LARGE"),
    ],
)
def test_every_content_length_edge_gets_a_problem_not_a_dropped_connection(
    runtime: LocalRuntime, content_length: str, status: int, kind: str
) -> None:
    answer = call(
        runtime,
        "POST",
        "/echo",
        [("Content-Type", "text/plain"), ("Content-Length", content_length)],
        b"{}",
    )
    assert problem(answer) == (status, kind)


def test_a_second_content_type_does_not_skip_the_request_validator(runtime: LocalRuntime) -> None:
    for first, second in (("text/plain", "application/json"), ("application/json", "text/plain")):
        answer = call(
            runtime,
            "POST",
            "/echo",
            [("Content-Type", first), ("Content-Type", second)],
            b'{"nope": 1}',
        )
        assert problem(answer) == (400, "gateway-BAD_REQUEST_BODY")


def test_http_level_refusals_are_problems_too(runtime: LocalRuntime) -> None:
    many = [(f"X-Header-{i}", "x") for i in range(120)]
    assert problem(call(runtime, "GET", "/hello", many))[0] == 431
    assert problem(raw(runtime, b"BREW /hello HTTP/1.1\r\nHost: local\r\n\r\n"))[0] == 501


# 3: the invocation contract at the gateway ------------------------------------------------------


@pytest.mark.parametrize("path", ["/hello/malformed", "/hello/extra-key"])
def test_a_malformed_proxy_response_is_a_502_problem(runtime: LocalRuntime, path: str) -> None:
    assert problem(call(runtime, "GET", path, [])) == (502, "gateway-DEFAULT_5XX")


def test_a_function_timeout_is_502_and_only_the_integration_timeout_is_504(
    runtime: LocalRuntime,
) -> None:
    # echo times out after 1 s, before the 1.5 s integration timeout: a Lambda error
    slow_echo = call(
        runtime, "POST", "/echo", [("Content-Type", "text/plain"), ("X-Sleep", "1.2")], b"x"
    )
    assert problem(slow_echo) == (502, "gateway-DEFAULT_5XX")
    # greeter may run 3 s: the gateway stops waiting at 1.5 s
    assert problem(call(runtime, "GET", "/hello/slow?s=2.5", [])) == (
        504,
        "gateway-INTEGRATION_TIMEOUT",
    )


# 6: FIFO and fair queues -----------------------------------------------------------------------


def test_fifo_groups_stay_in_order_and_a_failure_holds_back_the_rest_of_its_group(
    runtime: LocalRuntime,
) -> None:
    jobs = [{"group": "a", "seq": n, "fail": n == 2} for n in range(1, 5)]
    jobs += [{"group": "b", "seq": n} for n in range(1, 4)]
    sqs = runtime.client("sqs")
    # in one request, so that the mapping receives them together
    entries = [
        {"Id": str(i), "MessageBody": json.dumps(j), "MessageGroupId": j["group"]}
        for i, j in enumerate(jobs)
    ]
    sqs.send_message_batch(QueueUrl=runtime.queue_url("jobs"), Entries=entries)  # type: ignore[arg-type]
    # a duplicate within five minutes (content-based deduplication) is dropped
    sqs.send_message(
        QueueUrl=runtime.queue_url("jobs"), MessageBody=json.dumps(jobs[-1]), MessageGroupId="b"
    )

    wait_until(lambda: runtime.queue_depth(runtime.queue_url("jobs")) == 0, 30, "jobs done")
    assert not [line for line in runtime.log_lines("ledger") if "timed out" in line]
    seen = [d for d in deliveries(runtime) if d.get("group") in ("a", "b")]
    group_a = [(int(d["seq"]), int(d["attempt"])) for d in seen if d["group"] == "a"]
    group_b = [int(d["seq"]) for d in seen if d["group"] == "b"]
    assert group_b == [1, 2, 3]
    # the group is retried from 2 on, in order: its final tries come in sequence
    last_try = {seq: attempt for seq, attempt in group_a}
    assert [seq for seq, attempt in group_a if attempt == last_try[seq]] == [1, 2, 3, 4]
    assert last_try[2] == 2
    # 3 or 4 handled after 2 failed in the same batch (if the mapping received them together)
    # was not kept: it was tried again after 2's retry
    retry_of_2 = group_a.index((2, 2))
    for seq in (3, 4):
        if (seq, 1) in group_a[:retry_of_2]:
            assert last_try[seq] >= 2


def test_standard_queue_records_carry_their_message_group(runtime: LocalRuntime) -> None:
    runtime.client("sqs").send_message(
        QueueUrl=runtime.queue_url("bulk"), MessageBody="{}", MessageGroupId="tenant-42"
    )
    wait_until(
        lambda: any("tenant-42" in d.get("groups", []) for d in deliveries(runtime)), 15, "tally"
    )


# 7: the batching window, without busy polling --------------------------------------------------


def test_the_batching_window_waits_without_polling_in_a_loop(runtime: LocalRuntime) -> None:
    (mapping,) = [m for m in runtime.mappings if m.function.config.name == "tally"]
    runtime.wait_until_idle()
    before = len([d for d in deliveries(runtime) if d.get("kind") == "batch"])
    calls_before = mapping.receive_calls
    sent = time.monotonic()
    runtime.client("sqs").send_message(QueueUrl=runtime.queue_url("bulk"), MessageBody="one")

    wait_until(
        lambda: len([d for d in deliveries(runtime) if d.get("kind") == "batch"]) > before,
        15,
        "the batch",
    )
    waited = time.monotonic() - sent
    assert waited >= 1.5  # the 2 s window was waited out for more messages
    # a busy loop makes ~100 receives a second; long polls and one sleep make a handful
    assert mapping.receive_calls - calls_before <= 8


# 3: a batch is capped at Lambda's 6 MB invoke payload ------------------------------------------


def test_a_batch_never_exceeds_the_6_mb_invoke_payload(runtime: LocalRuntime) -> None:
    runtime.wait_until_idle()
    before = {d["id"] for d in deliveries(runtime)}
    sqs = runtime.client("sqs")
    for index in range(10):  # ten messages of ~1 MB: about 10 MB in all
        sqs.send_message(QueueUrl=runtime.queue_url("bulk"), MessageBody=str(index) * 1_000_000)

    runtime.wait_until_idle(timeout_s=60)
    batches = [d for d in deliveries(runtime) if d["id"] not in before and d.get("kind") == "batch"]
    assert sum(int(b["records"]) for b in batches) == 10
    assert len(batches) >= 2
    assert all(int(b["bytes"]) <= 6 * 1024 * 1024 for b in batches)
