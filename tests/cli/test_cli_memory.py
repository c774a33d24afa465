"""Large inputs: only what is asked is computed, memory is estimated before allocating (RLIMIT_AS honoured),
and long runs show progress."""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import tracemalloc
from types import SimpleNamespace

import pytest

from conftest import ROOT, run_cli

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def limited(args: list[str], limit: int, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """`python ARGS` with the address space limited to `limit` bytes (as `ulimit -v` does)."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, env=ENV, cwd=ROOT,
                          preexec_fn=cap, timeout=120)


def test_softmax_values_only_never_build_the_jacobian():
    n = 100_000
    numbers = "\n".join(map(str, range(1, n + 1))).encode()
    out = limited(["-m", "dlcli", "activations", "eval", "softmax"], 3 << 30, stdin=numbers)
    assert out.returncode == 0, out.stderr
    last = float(out.stdout.split()[-1])
    assert last == pytest.approx((1 - math.exp(-1)) / (1 - math.exp(-n)), rel=1e-12)  # 1 / Σ_j e^{-j}


def test_a_jacobian_too_big_is_refused_with_the_estimate():
    out = run_cli("activations", "eval", "softmax", "-f", "json", input="\n".join(map(str, range(100_000))))
    err = out.stderr.decode()
    assert out.returncode == 2 and "needs about" in err and "Jacobian" in err and "values only" in err


def test_census_direct_for_six_inputs_is_refused_before_allocating():
    out = limited(["-m", "dlcli", "perceptron", "census", "--inputs", "6", "--method", "direct"], 4 << 30)
    err = out.stderr.decode()
    assert out.returncode == 2 and "needs about" in err and "594,823,321 weight vectors" in err
    assert "--method orbits" in err and "Traceback" not in err


def test_a_huge_depth_is_refused_by_an_estimate_that_builds_nothing():
    out = limited(["-m", "dlcli", "vanish", "--depth", "100000000", "--width", "1"], 2 << 30)
    err = out.stderr.decode()
    assert out.returncode == 2 and "needs about" in err and "MemoryError" not in err and "Traceback" not in err


def test_the_estimate_takes_constant_memory():
    from dlcli.vanish.memory import estimate_bytes

    widths = (3,) * 2_000_000
    mixed = (5, 4) * 50_000
    tracemalloc.start()
    uniform = estimate_bytes(SimpleNamespace(widths=widths, depth=len(widths) - 1, batch=8, dtype="float64"))
    estimate_bytes(SimpleNamespace(widths=mixed, depth=len(mixed) - 1, batch=8, dtype="float64"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 100_000 and uniform > 2_000_000 * 9 * 8


def test_the_address_space_limit_is_honoured():
    code = "from dlcli.vanish.memory import available_bytes; print(available_bytes())"
    out = limited(["-c", code], 1 << 30)
    assert 0 <= int(out.stdout) < 1 << 30
    refused = limited(["-m", "dlcli", "vanish", "--depth", "4000", "--width", "256"], 1 << 30)
    assert refused.returncode == 2 and b"needs about" in refused.stderr


def test_progress_in_a_log_appears_after_ten_seconds_and_only_on_stderr(monkeypatch, capsys):
    from dlcli.cli import render

    clock = iter([0.0, 1.2, 10.2, 10.3, 16.0])
    monkeypatch.setattr(render.time, "monotonic", lambda: next(clock))
    progress = render.Progress("sigmoid")
    progress("forward", 1, 10)  # 1.2 s: nothing yet in a log (a terminal's live line would show)
    progress("forward", 5, 10)  # 10.2 s: the first line
    progress("forward", 6, 10)  # 10.3 s: too soon for another line in a log
    progress("backward", 2, 10)  # 16 s
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["dlcli: sigmoid forward 5/10 layers (50%)",
                                         "dlcli: sigmoid backward 2/10 layers (20%)"]


def test_progress_on_a_terminal_appears_after_a_second(monkeypatch, capsys):
    from dlcli.cli import render

    clock = iter([0.0, 0.5, 1.2])
    monkeypatch.setattr(render.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(render, "is_terminal", lambda stream: True)
    progress = render.Progress("sigmoid")
    progress("forward", 1, 10)  # 0.5 s: nothing yet
    progress("forward", 5, 10)  # 1.2 s: the live line
    progress.clear()
    assert "sigmoid forward 5/10 layers (50%)" in capsys.readouterr().err


def test_every_stage_of_a_run_reports_progress_from_its_first_layer():
    """Building a deep stack's weights took 17 s before the first report; now each stage reports as it goes."""
    from dlcli.vanish.config import make_config
    from dlcli.vanish.numpy_engine import run_numpy

    calls: list[tuple[str, int]] = []
    run_numpy(make_config("tanh", depth=5, width=4, batch=2, seed=1), lambda stage, done, total: calls.append(
        (stage, done)))
    stages = [stage for stage, _ in calls]
    assert stages == ["weights"] * 5 + ["forward"] * 5 + ["backward"] * 5
    assert calls[0] == ("weights", 1)
