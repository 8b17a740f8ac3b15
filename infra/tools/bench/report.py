"""The bench's AWS (a moto server with the topology's resources) and its cold-start table."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from infra.local.provision import provision
from infra.local.runtime import new_webhook_secret
from infra.orders_local import sample_catalog, seed_catalog
from infra.tools.bench.scenarios import Aws, Receiver
from infra.topology import TOPOLOGY

COLD_BUDGET, COLD_AIM, WARM_BUDGET, ASSET_BUDGET_KB = 1.3, 1.15, 1.5, 200.0
REGION = "us-east-1"


@contextlib.contextmanager
def moto_aws() -> Iterator[Aws]:
    """A moto server on 127.0.0.1 (any free port) with the topology's tables, queues and
    secret, the sample catalog, and a webhook receiver."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with Receiver() as receiver:

            def client(service: str) -> Any:
                return boto3.client(  # type: ignore[call-overload]
                    service, endpoint_url=f"http://{host}:{port}", region_name=REGION
                )

            dynamodb, sqs = client("dynamodb"), client("sqs")
            secrets = {s.name: new_webhook_secret() for s in TOPOLOGY.secrets}
            resources = provision(TOPOLOGY, dynamodb, sqs, client("secretsmanager"), secrets)
            seed_catalog(dynamodb, resources.table_names["products"], sample_catalog())
            yield Aws(dynamodb, sqs, resources, receiver.url)
    finally:
        server.stop()


def _ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else math.nan


def print_cold(measured: dict[str, Any]) -> bool:
    """The table, ratios added to each row; whether every budget is met."""
    header = (
        f"{'scenario':<15}{'cold ms':>9}{'base':>7}{'ratio':>7}  {'cpu':>6}  {'instr':>6}  {'warm ms':>8}{'base':>7}"
        f"{'ratio':>7}  {'peak MiB':>8}{'base':>6}{'ratio':>7}  {'asset KB':>8}  budgets"
    )
    print(header)
    within = True
    for row in measured["rows"]:
        row["cold_ratio"] = _ratio(row["cold_ms"], row["baseline_cold_ms"])
        row["cold_cpu_ratio"] = _ratio(row["cold_cpu_ms"], row["baseline_cold_cpu_ms"])
        row["cold_instructions_ratio"] = _ratio(
            row.get("cold_instructions") or math.nan, row.get("baseline_cold_instructions") or 0
        )
        row["warm_ratio"] = _ratio(row["warm_ms"], row["baseline_warm_ms"])
        row["peak_ratio"] = _ratio(row["peak_mib"], row["baseline_peak_mib"])
        checks = {
            f"cold<={COLD_BUDGET}x": row["cold_ratio"] <= COLD_BUDGET,
            f"warm<={WARM_BUDGET}x": row["warm_ratio"] <= WARM_BUDGET,
            f"asset<{ASSET_BUDGET_KB:g}KB": row["asset_kb"] < ASSET_BUDGET_KB,
            "runs ok": row["failed_runs"] == 0,
        }
        row["budgets_met"] = all(checks.values())
        within = within and row["budgets_met"]
        verdict = (
            "ok"
            if row["budgets_met"]
            else "OVER: " + ", ".join(name for name, ok in checks.items() if not ok)
        )
        print(
            f"{row['scenario']:<15}{row['cold_ms']:>9.0f}{row['baseline_cold_ms']:>7.0f}"
            f"{row['cold_ratio']:>6.2f}x  {row['cold_cpu_ratio']:>5.2f}x  "
            f"{row['cold_instructions_ratio']:>5.2f}x  "
            f"{row['warm_ms']:>8.1f}{row['baseline_warm_ms']:>7.1f}"
            f"{row['warm_ratio']:>6.2f}x  {row['peak_mib']:>8.1f}{row['baseline_peak_mib']:>6.1f}"
            f"{row['peak_ratio']:>6.2f}x  {row['asset_kb']:>8.1f}  {verdict}"
        )
        if "first_key_warm_ms" in row:
            row["first_key_ratio"] = _ratio(
                row["first_key_warm_ms"], row["baseline_first_key_warm_ms"]
            )
            print(
                f"{'  first key':<15}{row['first_key_warm_ms']:>9.0f}"
                f"{row['baseline_first_key_warm_ms']:>7.0f}{row['first_key_ratio']:>6.2f}x"
                "  (first Idempotency-Key request in a warm order-api environment)"
            )
    if measured.get("before"):
        _print_before(measured)
    print(
        f"Medians of {measured['rounds']} rounds ({measured['warm_invocations']} warm invocations"
        f" each); cpu: the cold environment's own CPU time; instr: the instructions it executed"
        f" (callgrind, one run: the same on every run; nan without valgrind); budgets: cold <= {COLD_BUDGET}x (aim {COLD_AIM}x), warm <= {WARM_BUDGET}x, "
        f"asset < {ASSET_BUDGET_KB:g} KB. Baseline assets: {measured['rows'][0]['baseline_asset_kb']:.1f} KB."
    )
    return within


def _print_before(measured: dict[str, Any]) -> None:
    """The same ratios for the functions as they were at the compared revision."""
    print(f"\nBefore ({measured['before']}), same rounds, ratios to the same baselines:")
    print(
        f"{'scenario':<15}{'cold':>8}{'cpu':>8}{'warm':>8}{'peak':>8}{'asset KB':>10}"
        f"{'first key':>11}"
    )
    for row in measured["rows"]:
        then = row["before"]
        then["cold_ratio"] = _ratio(then["cold_ms"], row["baseline_cold_ms"])
        then["cold_cpu_ratio"] = _ratio(then["cold_cpu_ms"], row["baseline_cold_cpu_ms"])
        then["warm_ratio"] = _ratio(then["warm_ms"], row["baseline_warm_ms"])
        then["peak_ratio"] = _ratio(then["peak_mib"], row["baseline_peak_mib"])
        key = ""
        if "first_key_warm_ms" in then:
            then["first_key_ratio"] = _ratio(
                then["first_key_warm_ms"], row["baseline_first_key_warm_ms"]
            )
            key = f"{then['first_key_ratio']:.2f}x"
        print(
            f"{row['scenario']:<15}{then['cold_ratio']:>7.2f}x{then['cold_cpu_ratio']:>7.2f}x"
            f"{then['warm_ratio']:>7.2f}x"
            f"{then['peak_ratio']:>7.2f}x{then['asset_kb']:>10.1f}{key:>11}"
        )
