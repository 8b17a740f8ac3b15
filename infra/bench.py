"""`make bench`: cold-start cost of each function, measured as Lambda pays it.

For every function in the topology: a fresh interpreter (isolated, like a new execution
environment) imports its handler module, best of N runs; reported in milliseconds, as a ratio
to a bare interpreter's start, and with the peak memory of the process. Nothing here is a
pass/fail test: numbers to watch when a change adds an import to the init path.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra.topology import TOPOLOGY

CODE_DIR = Path(__file__).resolve().parents[1] / "functions"
RUNS = 5

_PROBE = """
import resource, sys, time
started = time.perf_counter()
{imports}
elapsed = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{{elapsed * 1000:.1f}} {{peak_kb}}")
"""


def measure(imports: str) -> tuple[float, float, int]:
    """(best ms, median ms, peak KiB) of importing `imports` in fresh interpreters."""
    samples: list[tuple[float, int]] = []
    for _ in range(RUNS):
        output = subprocess.run(  # noqa: S603 - our interpreter, our probe
            [
                sys.executable,
                "-I",
                "-c",
                f"import sys; sys.path.insert(0, {str(CODE_DIR)!r})\n"
                + _PROBE.format(imports=imports),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={"POWERTOOLS_SERVICE_NAME": "bench", "POWERTOOLS_METRICS_NAMESPACE": "bench"},
        ).stdout.split()
        samples.append((float(output[0]), int(output[1])))
    times = [ms for ms, _ in samples]
    return min(times), statistics.median(times), max(kb for _, kb in samples)


def main() -> None:
    baseline, _, baseline_kb = measure("pass")
    rows: list[dict[str, Any]] = []
    for function in TOPOLOGY.functions:
        module = function.handler.rsplit(".", 1)[0]
        best, median, peak_kb = measure(f"import {module}")
        rows.append(
            {
                "function": function.name,
                "import_ms_best": round(best, 1),
                "import_ms_median": round(median, 1),
                "peak_rss_mib": round(peak_kb / 1024, 1),
                "memory_mb": function.memory_mb,
            }
        )
    boto3_ms = measure("import boto3")[0]
    print(
        f"{'function':<14}{'import ms (best)':>18}{'median':>9}{'peak RSS MiB':>14}{'x boto3':>9}"
    )
    for row in rows:
        print(
            f"{row['function']:<14}{row['import_ms_best']:>18}{row['import_ms_median']:>9}"
            f"{row['peak_rss_mib']:>14}{row['import_ms_best'] / boto3_ms:>9.2f}"
        )
    print(
        f"\nbaseline: empty import {baseline:.2f} ms, {baseline_kb / 1024:.1f} MiB; "
        f"`import boto3` alone {boto3_ms:.1f} ms (the floor for any function using AWS). "
        f"Best of {RUNS} fresh interpreters each; Lambda adds the runtime's own init."
    )
    Path(".bench").mkdir(exist_ok=True)
    Path(".bench/cold-start.json").write_text(
        json.dumps({"boto3_ms": boto3_ms, "functions": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
