"""Each component's Lambda code asset, built as the CDK app builds it (infra/code_asset.py),
and zipped."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from infra import code_asset

FUNCTIONS_DIR = code_asset.FUNCTIONS_DIR


def build(component: str, into: Path, python: str | None, source: Path = FUNCTIONS_DIR) -> Path:
    """The component's asset under `into` (from `source`, a functions/ tree), with bytecode by
    `python` when given, as a deployment with the runtime's Python builds it; returns it."""
    target = into / component
    shutil.rmtree(target, ignore_errors=True)
    return code_asset.build(component, target, python, source)


def builds_bytecode_at(revision: str) -> bool:
    """Whether the CDK app at `revision` compiled its assets' bytecode (infra/code_asset.py)."""
    return (
        subprocess.run(  # noqa: S603 - git, fixed arguments
            ["git", "cat-file", "-e", f"{revision}:infra/code_asset.py"],  # noqa: S607
            cwd=FUNCTIONS_DIR.parent,
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def functions_at(revision: str, into: Path) -> Path:
    """functions/ as it was at a git revision, extracted under `into`."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    archive = subprocess.run(  # noqa: S603 - git, fixed arguments
        ["git", "archive", revision, "functions"],  # noqa: S607
        cwd=FUNCTIONS_DIR.parent,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "functions"


def zipped_size(directory: Path) -> int:
    """Bytes of the directory zipped (deflate), as the asset is uploaded."""
    archive = directory.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(directory))
    return archive.stat().st_size
