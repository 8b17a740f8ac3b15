"""A component's Lambda code asset: `functions/` without the other components' packages and
without caches, plus bytecode compiled for the runtime's Python when one is at hand.

One builder for the CDK app (infra/cdk/functions.py bundles with it, no Docker) and the bench.

Why bytecode: `/var/task` is read-only, so without `.pyc` files in the asset Python compiles
every module of ours at every cold start, and caches nothing (about 80 million instructions,
7% of a boto3 handler's whole cold start; docs/performance.md). The files must come from the
runtime's own minor version (a `.pyc` is tagged and checked by it: `cpython-314`), so they are
compiled only with a Python 3.14 found on this machine (`LAMBDA_BYTECODE_PYTHON`, `python3.14`
on PATH, or one uv manages: `make deploy` installs it with `uv python install`); without one
the asset is source only, which works the same, just slower to start.
Unchecked-hash bytecode (PEP 552): the asset is immutable, and zipping resets every file's
time, which would make timestamp-checked `.pyc` files stale at once.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
from collections.abc import Collection
from functools import cache
from pathlib import Path

from infra.local.lambda_runtime import PYTHON_RUNTIME
from infra.topology import TOPOLOGY

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"
RUNTIME_PYTHON_VERSION = PYTHON_RUNTIME.removeprefix("python")  # what the stacks deploy
BYTECODE_PYTHON_VARIABLE = "LAMBDA_BYTECODE_PYTHON"
LAMBDA_TASK_ROOT = "/var/task"
# caches and editor litter: they would change the asset without changing the code
LEFT_OUT = (
    "__pycache__",
    "*.py[cod]",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".DS_Store",
)


def other_components(component: str) -> set[str]:
    return {c.name for c in TOPOLOGY.components if c.name != component}


def copy_sources(
    component: str,
    target: Path,
    source: Path = FUNCTIONS_DIR,
    others: Collection[str] | None = None,
) -> Path:
    """The component's package, the shared kernel and the message models, from `source` (a
    functions/ tree) into `target` (created, or empty), leaving out `others` (by default the
    topology's other components); returns `target`."""
    excluded = set(other_components(component) if others is None else others)

    def ignore(directory: str, names: list[str]) -> set[str]:
        top = Path(directory) == source
        return {
            name
            for name in names
            if (top and name in excluded)
            or any(fnmatch.fnmatch(name, pattern) for pattern in LEFT_OUT)
        }

    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
    return target


def compile_bytecode(directory: Path, python: str) -> None:
    """`.pyc` files beside every module of `directory`, by `python`, checked by nothing.

    Each records its module's path as Lambda has it (`/var/task/...`), not this machine's: the
    same sources give the same bytes wherever they are built, so the asset's hash does not
    change with the checkout's folder."""
    command = [python, "-I", "-m", "compileall", "-q", "-j", "0", "-s", str(directory)]
    compiled = subprocess.run(  # noqa: S603 - a Python interpreter, fixed arguments
        [*command, "-p", LAMBDA_TASK_ROOT, "--invalidation-mode", "unchecked-hash", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if compiled.returncode != 0:  # compileall reports a module's syntax error on stdout
        raise RuntimeError(f"compiling {directory} failed:\n{compiled.stdout}{compiled.stderr}")


@cache
def runtime_python(version: str = RUNTIME_PYTHON_VERSION) -> str | None:
    """An interpreter of exactly `version` on this machine, or None (looked for once)."""
    candidates = [os.environ.get(BYTECODE_PYTHON_VARIABLE), shutil.which(f"python{version}")]
    uv = shutil.which("uv") or str(Path(sys.prefix) / "bin" / "uv")
    if Path(uv).is_file():
        found = subprocess.run(  # noqa: S603 - uv, fixed arguments
            [uv, "python", "find", "--no-python-downloads", version],
            capture_output=True,
            text=True,
            check=False,
        )
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for candidate in candidates:
        if candidate and _version_of(candidate) == version:
            return candidate
    return None


def _version_of(python: str) -> str | None:
    try:
        answer = subprocess.run(  # noqa: S603 - an interpreter we found, fixed arguments
            [python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return answer.stdout.strip()


def build(
    component: str,
    target: Path,
    python: str | None,
    source: Path = FUNCTIONS_DIR,
    others: Collection[str] | None = None,
) -> Path:
    """The component's asset in `target`: sources, and bytecode by `python` when given."""
    copy_sources(component, target, source, others)
    if python is not None:
        compile_bytecode(target, python)
    return target
