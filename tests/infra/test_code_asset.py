"""infra/code_asset.py: the component's sources, and bytecode the runtime uses as shipped.

This machine has no Python 3.14, so the bytecode tests compile with the interpreter running
them, standing in for the runtime's (the mechanism does not depend on the version)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import code_asset
from infra.topology import TOPOLOGY

THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def fresh_lookup() -> Iterator[None]:
    code_asset.runtime_python.cache_clear()
    yield
    code_asset.runtime_python.cache_clear()


@pytest.mark.parametrize("component", [c.name for c in TOPOLOGY.components])
def test_an_asset_holds_its_component_the_kernel_and_the_messages(
    component: str, tmp_path: Path
) -> None:
    asset = code_asset.build(component, tmp_path / "asset", python=None)

    others = code_asset.other_components(component)
    top = {path.name for path in asset.iterdir()}
    assert component in top
    assert {"shared", "messages"} <= top
    assert top & others == set()
    assert [p for p in asset.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"] == []


def test_bytecode_is_used_as_shipped_whatever_the_files_times(tmp_path: Path) -> None:
    asset = code_asset.build("orders", tmp_path / "asset", python=sys.executable)

    tag = sys.implementation.cache_tag
    sources = [p for p in asset.rglob("*.py")]
    compiled = {p.relative_to(asset) for p in asset.rglob(f"*.{tag}.pyc")}
    assert sources
    assert all(
        Path(importlib.util.cache_from_source(str(p.relative_to(asset)))) in compiled
        for p in sources
    )
    for path in asset.rglob("*.pyc"):  # PEP 552: hash-based, not checked against the source
        assert int.from_bytes(path.read_bytes()[4:8], "little") == 0b01

    # A zip (the uploaded asset) resets every time: the bytecode must not depend on them, so
    # a source changed after compiling is not even read.
    (asset / "orders" / "settings.py").write_text("raise SystemExit('compiled at import')\n")
    probe = f"import sys; sys.path.insert(0, {str(asset)!r}); import orders.settings"
    answer = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=False
    )
    assert answer.returncode == 0, answer.stderr


def test_the_runtime_s_python_is_taken_only_at_its_exact_version(
    fresh_lookup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(code_asset.BYTECODE_PYTHON_VARIABLE, sys.executable)
    assert code_asset.runtime_python(THIS_PYTHON) == sys.executable
    assert code_asset.runtime_python("2.7") is None


def test_the_same_sources_compile_to_the_same_bytes_wherever_they_are_built(
    tmp_path: Path,
) -> None:
    """The asset's hash is its content's: a build elsewhere must not redeploy every function."""
    here = code_asset.build("notifications", tmp_path / "a" / "asset", python=sys.executable)
    there = code_asset.build("notifications", tmp_path / "b" / "c" / "x", python=sys.executable)

    def contents(asset: Path) -> dict[Path, bytes]:
        return {p.relative_to(asset): p.read_bytes() for p in asset.rglob("*") if p.is_file()}

    assert contents(here) == contents(there)
    assert str(tmp_path).encode() not in b"".join(contents(here).values())
