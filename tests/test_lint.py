"""Lint and type-check as part of the test suite, so the README's one test command covers them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

# The pure core that mypy checks: everything outside the CLI layer (a few seconds).
TYPED_CORE = ["dlcli/activations", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "dlcli").glob("*.py"))]


def test_ruff():
    if shutil.which("ruff") is None:
        pytest.skip("ruff not installed (pip install -e '.[test]')")
    out = subprocess.run(["ruff", "check", "dlcli", "tests", "benchmarks"], capture_output=True, cwd=ROOT, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_on_the_core():
    out = subprocess.run([sys.executable, "-m", "mypy", *TYPED_CORE], capture_output=True, cwd=ROOT, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_core_never_imports_the_cli_layer_or_prints():
    for path in (ROOT / "dlcli").glob("*.py"):
        text = path.read_text()
        if path.name == "__main__.py":
            continue
        assert "import typer" not in text and "from rich" not in text and "dlcli.cli" not in text, path
        assert "print(" not in text, path
