"""`python -m infra.tools.bench [cold|load|all]`: the tables on stdout, JSON in .bench/."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from infra.tools.bench import cold, load, report

OUT = Path(".bench")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.tools.bench")
    parser.add_argument("what", nargs="?", choices=("cold", "load", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "7")))
    parser.add_argument("--warm", type=int, default=int(os.environ.get("BENCH_WARM", "15")))
    parser.add_argument(
        "--before",
        metavar="REVISION",
        help="also run the functions as they were at this git revision, in the same rounds",
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="SCENARIO", help="repeatable"
    )
    arguments = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    within = True
    if arguments.what in ("cold", "all"):
        print(f"Cold start and warm cost: {arguments.rounds} interleaved rounds", flush=True)
        with report.moto_aws() as aws:
            measured = cold.measure(
                aws, arguments.rounds, arguments.warm, OUT, arguments.before, tuple(arguments.only)
            )
        within = report.print_cold(measured)
        results["cold"] = measured
        (OUT / "cold.json").write_text(json.dumps(measured, indent=2))
    if arguments.what in ("load", "all"):
        print("\nLoad levelling: a burst at 10x what the capped consumers settle", flush=True)
        measured = load.measure()
        load.print_report(measured)
        results["load"] = measured
        (OUT / "load.json").write_text(json.dumps(measured, indent=2))
    print(f"\nJSON in {OUT}/: " + ", ".join(f"{name}.json" for name in results))
    raise SystemExit(0 if within else 1)


if __name__ == "__main__":
    main()
