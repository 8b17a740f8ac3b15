"""The README's least-privilege table, generated from the topology's permissions.

    python -m infra.tools.permissions           # print the table
    python -m infra.tools.permissions --write   # rewrite it in README.md, between its markers

`tests/infra/test_grants.py` builds the same table from the synthesized templates' policies and
compares it with the README, word for word.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from infra.topology import SERVICE_OF, TOPOLOGY, ResourceKind, Topology

README = Path(__file__).resolve().parents[2] / "docs" / "security.md"
BEGIN = "<!-- permissions:begin (python -m infra.tools.permissions --write) -->"
END = "<!-- permissions:end -->"


# function -> [(kind, name, IAM actions)], in the order to print
Grants = Mapping[str, Iterable[tuple[ResourceKind, str, Iterable[str]]]]


def topology_grants(
    topology: Topology = TOPOLOGY,
) -> dict[str, list[tuple[ResourceKind, str, list[str]]]]:
    return {
        function.name: [(p.kind, p.name, p.iam_actions) for p in topology.permissions(function)]
        for function in topology.functions
    }


def markdown(grants: Grants, topology: Topology = TOPOLOGY) -> str:
    """One row per function and resource, resources sorted by kind then name, actions sorted."""
    order = list(SERVICE_OF)
    rows = ["| Function | Resource | Actions |", "| --- | --- | --- |"]
    for function, resources in grants.items():
        for kind, name, actions in sorted(resources, key=lambda r: (order.index(r[0]), r[1])):
            listed = ", ".join(f"`{action}`" for action in sorted(actions))
            shown = topology.queue(name).dlq_name if kind == "dlq" else name
            label = "queue" if kind == "dlq" else kind
            rows.append(f"| `{function}` | {label} `{shown}` | {listed} |")
    return "\n".join(rows) + "\n"


def readme_table(text: str) -> str:
    """The table between the README's markers."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n") + "\n"


def with_table(text: str, table: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return f"{text[:start]}\n{table}{text[end:]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args(argv)
    table = markdown(topology_grants())
    if args.write:
        README.write_text(with_table(README.read_text(), table))
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
