"""Shared test helpers: run the CLI in-process (CliRunner) or as a real subprocess (pipes, exit codes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, input: bytes | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m dlcli ARGS` as a subprocess with stdout/stderr captured (so stdout is a pipe, not a tty)."""
    inherited = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}  # colour rules are set per test
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    full_env = {**inherited, "PYTHONPATH": path, **(env or {})}
    data = input.encode() if isinstance(input, str) else input
    return subprocess.run([sys.executable, "-m", "dlcli", *args], input=data, capture_output=True, env=full_env,
                          cwd=ROOT, timeout=timeout)


def one_line_error(result, *fragments):
    """Bad input: exit 2 and one line on stderr holding each fragment."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture
def one_thread():
    """torch on one thread for the test (tiny matrices: a thread pool only adds waiting on a shared machine)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cli():
    """Invoke the app in-process: cli("activations", "eval", "relu", "1") -> Result (exit_code, stdout, stderr)."""
    from dlcli.cli import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, prog_name="dlcli")

    return invoke


@pytest.fixture(params=[True, False], ids=["host-stats", "device-stats"])
def on_host(request) -> bool:
    """The torch engine's two ways of taking statistics: numpy per layer (CPU), tensors on the device (GPU)."""
    return request.param
