"""Each component's Lambda code asset, built as the CDK app builds it: functions/ without the
other components' packages and without caches (infra.cdk.functions.asset_excludes), zipped."""

from __future__ import annotations

import fnmatch
import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from infra.topology import TOPOLOGY

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"
# mirrors infra.cdk.functions.ASSET_EXCLUDES (which cannot be imported without CDK)
CACHE_PATTERNS = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    "*.pyd",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".DS_Store",
)


def other_components(component: str) -> set[str]:
    return {c.name for c in TOPOLOGY.components if c.name != component}


def build(component: str, into: Path, source: Path = FUNCTIONS_DIR) -> Path:
    """A copy of the component's asset directory (from `source`, a functions/ tree) under
    `into`; returns it."""
    target = into / component
    shutil.rmtree(target, ignore_errors=True)
    excluded = other_components(component)

    def ignore(directory: str, names: list[str]) -> set[str]:
        top = Path(directory) == source
        return {
            name
            for name in names
            if (top and name in excluded)
            or any(fnmatch.fnmatch(name, pattern) for pattern in CACHE_PATTERNS)
        }

    shutil.copytree(source, target, ignore=ignore)
    return target


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
