"""Cold start, warm cost, peak memory and asset size of every function against its baseline.

Cold start is what Lambda bills for a new execution environment: a fresh interpreter (the
sandbox's, `.venv-lambda`) with Lambda's environment variables, the handler's import, and the
first invocation, timed from spawn to answer through the local runtime's own `LocalFunction`.
Warm cost is the median of later invocations in that environment. Peak memory is the
environment's peak resident set (VmHWM, what `ru_maxrss` reports) after the warm invocations.
Function and baseline runs are interleaved in a shuffled order in each round, so load from
elsewhere on the machine falls on both alike; ratios are of the medians over the rounds.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import signal
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from infra.local.lambda_runtime import (
    FunctionConfig,
    InvocationError,
    LocalFunction,
    sandbox_python,
)
from infra.tools.bench import assets
from infra.tools.bench.scenarios import BASELINES_DIR, SCENARIOS, Aws, Scenario, environment
from infra.topology import TOPOLOGY

# (scenario, "function" | "baseline") -> samples
Key = tuple[str, str]


@dataclass
class Samples:
    cold_ms: list[float] = field(default_factory=list)
    cold_cpu_ms: list[float] = field(default_factory=list)  # the environment's own CPU time
    warm_ms: list[float] = field(default_factory=list)
    peak_kib: list[int] = field(default_factory=list)
    first_key_ms: list[float] = field(default_factory=list)  # order-api: first keyed request, warm
    failures: int = 0

    def add(self, other: Samples) -> None:
        self.cold_ms += other.cold_ms
        self.cold_cpu_ms += other.cold_cpu_ms
        self.warm_ms += other.warm_ms
        self.peak_kib += other.peak_kib
        self.first_key_ms += other.first_key_ms
        self.failures += other.failures


def _config(
    scenario: Scenario, kind: str, aws: Aws, code_dirs: dict[str, dict[str, Path]]
) -> FunctionConfig:
    """`kind`: "function", "baseline", or "before" (the function at the compared revision)."""
    function = TOPOLOGY.function(scenario.function)
    handler = scenario.baseline if kind == "baseline" else function.handler
    code_dir = code_dirs[kind][function.component]
    return FunctionConfig(
        name=function.name,
        handler=handler,
        code_dir=code_dir,
        timeout_s=function.timeout_s,
        memory_mb=function.memory_mb,
        environment=environment(function, aws) | aws_endpoint(aws),
        concurrency=1,
        python=sandbox_python(),
    )


def aws_endpoint(aws: Aws) -> dict[str, str]:
    endpoint = aws.dynamodb.meta.endpoint_url
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # as the local runtime: EMF metrics would print a blob per invocation
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


def _environment(function: LocalFunction) -> Any:
    """The function's one execution environment."""
    (environment,) = [e for e in function._all if e.alive]
    return environment


def _pid(function: LocalFunction) -> int:
    return int(_environment(function).process.pid)


def _cpu_ms(function: LocalFunction) -> float:
    """User + system CPU time of the environment's process so far: what the cold start cost
    the machine, whatever else the machine was doing meanwhile (10 ms resolution)."""
    fields = Path(f"/proc/{_pid(function)}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _peak_kib(function: LocalFunction) -> int:
    """The environment's peak resident set, read while it is frozen between invocations."""
    for line in Path(f"/proc/{_pid(function)}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_once(
    scenario: Scenario,
    kind: str,
    aws: Aws,
    code_dirs: dict[str, dict[str, Path]],
    warm: int,
    logs: list[str],
) -> Samples:
    """One execution environment: its cold start, `warm` invocations, its peak memory."""
    samples = Samples()
    function = LocalFunction(
        _config(scenario, kind, aws, code_dirs), lambda _, line: logs.append(line)
    )
    try:
        scenario.prepare(aws)
        event = scenario.event(aws)
        started = time.perf_counter()
        answer = function.invoke(event)
        samples.cold_ms.append((time.perf_counter() - started) * 1000)
        samples.cold_cpu_ms.append(_cpu_ms(function))
        ok = scenario.succeeded(answer)
        for _ in range(warm):
            scenario.prepare(aws)
            event = scenario.event(aws)
            started = time.perf_counter()
            answer = function.invoke(event)
            samples.warm_ms.append((time.perf_counter() - started) * 1000)
            ok = ok and scenario.succeeded(answer)
        if scenario.name == "order-api":  # the Idempotency-Key path's first use, warm
            keyed = next(s for s in SCENARIOS if s.name == "order-api+key")
            started = time.perf_counter()
            answer = function.invoke(keyed.event(aws))
            samples.first_key_ms.append((time.perf_counter() - started) * 1000)
            ok = ok and keyed.succeeded(answer)
        samples.peak_kib.append(_peak_kib(function))
        samples.failures += not ok
    finally:
        function.close()
    return samples


def count_instructions(
    scenario: Scenario, kind: str, aws: Aws, code_dirs: dict[str, dict[str, Path]], work_dir: Path
) -> int | None:
    """Instructions the environment executes from spawn to its first answer (and its exit),
    counted by valgrind's callgrind: the same figure on every run, whatever else the machine
    does, where wall and CPU time swing by a third from round to round here. None without
    valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    out = work_dir.resolve() / f"callgrind-{scenario.name}-{kind}.out"
    out.unlink(missing_ok=True)
    wrapper = work_dir.resolve() / f"callgrind-{scenario.name}-{kind}.sh"
    python = sandbox_python()
    wrapper.write_text(
        f'#!/bin/sh\nexec {valgrind} -q --tool=callgrind --callgrind-out-file={out} {python} "$@"\n'
    )
    wrapper.chmod(0o755)
    config = dataclasses.replace(
        _config(scenario, kind, aws, code_dirs), python=wrapper, timeout_s=600
    )
    function = LocalFunction(config, lambda _, line: None)
    try:
        scenario.prepare(aws)
        answer = function.invoke(scenario.event(aws))
        if not scenario.succeeded(answer):
            return None
        # let the environment end by itself, so that callgrind writes its count
        environment = _environment(function)
        environment.connection.shutdown(socket.SHUT_RDWR)
        os.kill(environment.process.pid, signal.SIGCONT)  # frozen between invocations
        environment.process.wait(timeout=300)
    finally:
        function.close()
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    return None


def _retrying(run: Callable[[], Samples]) -> Samples:
    """`run`, again after a pause when the machine is out of processes or threads (a shared
    machine can be): nothing of a run that could not start is kept."""
    for attempt in range(10):
        try:
            return run()
        except (BlockingIOError, RuntimeError, InvocationError) as error:
            if attempt == 9 or not _out_of_resources(error):
                raise
            print(f"  (out of processes or threads: {error}; retrying)", flush=True)
            time.sleep(5)
    raise AssertionError("unreachable")


def _out_of_resources(error: BaseException) -> bool:
    text = f"{error} {error.__cause__ or ''}"
    return isinstance(error, BlockingIOError) or any(
        marker in text for marker in ("can't start new thread", "Resource temporarily unavailable")
    )


def measure(
    aws: Aws,
    rounds: int,
    warm: int,
    work_dir: Path,
    before: str | None = None,
    only: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Every scenario's (or `only` those) function and baseline, and with `before` (a git
    revision) the function as it was then too, in the same interleaved rounds."""
    scenarios = [s for s in SCENARIOS if not only or s.name in only]
    kinds = ("function", "baseline", "before") if before else ("function", "baseline")
    # The functions' assets hold bytecode, compiled by the sandbox's Python as a deployment
    # compiles them with the runtime's; a `before` revision is built as it was deployed (with
    # bytecode from the revision that brought infra/code_asset.py on); the baselines are
    # source only, as a hand-written handler's zip would be.
    python = str(sandbox_python())
    baselines = _baselines_asset(work_dir)
    code_dirs = {
        "function": {
            c.name: assets.build(c.name, work_dir / "assets", python) for c in TOPOLOGY.components
        },
        "baseline": {c.name: baselines for c in TOPOLOGY.components},
    }
    if before:
        source = assets.functions_at(before, work_dir / "revision")
        before_python = python if assets.builds_bytecode_at(before) else None
        code_dirs["before"] = {
            c.name: assets.build(c.name, work_dir / "assets-before", before_python, source)
            for c in TOPOLOGY.components
        }
    samples: dict[Key, Samples] = {(s.name, kind): Samples() for s in scenarios for kind in kinds}
    logs: list[str] = []
    order = list(samples)
    for number in range(1, rounds + 1):
        random.shuffle(order)
        for scenario_name, kind in order:
            scenario = next(s for s in SCENARIOS if s.name == scenario_name)
            run = partial(run_once, scenario, kind, aws, code_dirs, warm, logs)
            samples[scenario_name, kind].add(_retrying(run))
        print(f"  round {number}/{rounds} done", flush=True)
    instructions: dict[Key, int | None] = {}
    if shutil.which("valgrind"):
        print("  counting instructions (callgrind, one run each)", flush=True)
    for key in samples:
        if key[1] == "before":
            continue
        scenario = next(s for s in SCENARIOS if s.name == key[0])
        instructions[key] = count_instructions(scenario, key[1], aws, code_dirs, work_dir)
    baseline_asset = assets.zipped_size(baselines)
    rows = []
    for scenario in scenarios:
        mine, theirs = samples[scenario.name, "function"], samples[scenario.name, "baseline"]
        component = TOPOLOGY.function(scenario.function).component
        row: dict[str, Any] = {
            "scenario": scenario.name,
            "function": scenario.function,
            "cold_ms": _median(mine.cold_ms),
            "baseline_cold_ms": _median(theirs.cold_ms),
            "cold_cpu_ms": _median(mine.cold_cpu_ms),
            "baseline_cold_cpu_ms": _median(theirs.cold_cpu_ms),
            "warm_ms": _median(mine.warm_ms),
            "baseline_warm_ms": _median(theirs.warm_ms),
            "peak_mib": _median(mine.peak_kib) / 1024,
            "baseline_peak_mib": _median(theirs.peak_kib) / 1024,
            "asset_kb": assets.zipped_size(code_dirs["function"][component]) / 1000,
            "baseline_asset_kb": baseline_asset / 1000,
            "failed_runs": mine.failures + theirs.failures,
            "cold_instructions": instructions.get((scenario.name, "function")),
            "baseline_cold_instructions": instructions.get((scenario.name, "baseline")),
            "samples": {"cold": len(mine.cold_ms), "warm": len(mine.warm_ms)},
            # every round's cold start, in the order run: to tell a steady gap from noise
            "rounds_cold_ms": [round(v) for v in mine.cold_ms],
            "rounds_baseline_cold_ms": [round(v) for v in theirs.cold_ms],
            "rounds_cold_cpu_ms": [round(v) for v in mine.cold_cpu_ms],
            "rounds_baseline_cold_cpu_ms": [round(v) for v in theirs.cold_cpu_ms],
        }
        if mine.first_key_ms:
            row["first_key_warm_ms"] = _median(mine.first_key_ms)
            row["baseline_first_key_warm_ms"] = _median(theirs.first_key_ms)
        if before:
            then = samples[scenario.name, "before"]
            row["before"] = {
                "cold_ms": _median(then.cold_ms),
                "cold_cpu_ms": _median(then.cold_cpu_ms),
                "warm_ms": _median(then.warm_ms),
                "peak_mib": _median(then.peak_kib) / 1024,
                "asset_kb": assets.zipped_size(code_dirs["before"][component]) / 1000,
                "failed_runs": then.failures,
            }
            if then.first_key_ms:
                row["before"]["first_key_warm_ms"] = _median(then.first_key_ms)
        rows.append(row)
    return {"rounds": rounds, "warm_invocations": warm, "before": before, "rows": rows}


def _baselines_asset(work_dir: Path) -> Path:
    """The baselines as their own asset: a copy without the caches tests leave beside them."""
    target = work_dir / "assets" / "baselines"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(BASELINES_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _median(values: list[float] | list[int]) -> float:
    return float(statistics.median(values)) if values else float("nan")
