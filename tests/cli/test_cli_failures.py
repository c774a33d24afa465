"""Every failure is one line on stderr: exit 2 for bad input, 1 for a failed run, 130 when interrupted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli


def one_line(out: subprocess.CompletedProcess) -> str:
    err = out.stderr.decode()
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("dlcli: error: "), err
    return err


@pytest.mark.parametrize(("args", "message"), [
    (("activations", "plot", "sigmoid", "--svg", ""), "name is empty"),
    (("activations", "plot", "sigmoid", "--xmin", "-inf"), "--xmin must be a finite number (got -inf)"),
    (("activations", "plot", "sigmoid", "--xmax", "nan"), "--xmax must be a finite number (got nan)"),
    (("activations", "plot", "sigmoid", "--xmin", "-1e308", "--xmax", "1e308"), "too wide or too narrow"),
    (("perceptron", "train", "--fn", "and", "--lr", "1e400"), "--lr must be a finite positive number"),
    (("perceptron", "train", "--fn", "xor", "--hidden", "2", "--lr", "inf"), "--lr must be a finite positive"),
    (("activations", "list", "--format", "yaml"), "--format must be one of table, plain, csv, json (got 'yaml')"),
    (("activations", "show", "relu", "--width", "10000"), "--width must be at most 400 (got '10000')"),
    (("vanish", "--depth", "abc"), "--depth expects a whole number (got 'abc')"),
    (("perceptron", "census"), "missing option --inputs"),
    (("activations", "nope"), "unknown command 'nope'"),
    (("activations", "plot", "--bot"), "no such option: --bot; did you mean --both?"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    out = run_cli(*args)
    assert out.returncode == 2 and message in one_line(out)
    assert "Value error" not in out.stderr.decode() and "Input should" not in out.stderr.decode()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("args", [
    ("activations", "eval", "sigmoid", "1", "2"), ("vanish", "--format", "json", "--depth", "2", "--width", "4"),
    ("graph", "x*y", "x=1", "y=2"), ("activations", "list"), ("activations", "eval", "sigmoid"),
    ("activations", "eval", "sigmoid", "-f", "csv"),
])
def test_full_disk_is_exit_1_saying_which_file_and_why(args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open("/dev/full", "wb") as full:
        out = subprocess.run([sys.executable, "-m", "dlcli", *args], input=b"1\n2\n3\n", stdout=full,
                             stderr=subprocess.PIPE, env=env, cwd=ROOT, timeout=60)
    assert out.returncode == 1 and "cannot write stdout: No space left on device" in one_line(out)


@pytest.mark.parametrize("args", [("activations", "list"), ("activations", "eval", "relu")])
def test_closed_stdout_is_exit_1_with_one_line(args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = " ".join([sys.executable, "-m", "dlcli", *args]) + " >&- <<< 1"
    out = subprocess.run(["bash", "-c", command], stderr=subprocess.PIPE, env=env, cwd=ROOT, timeout=60)
    assert out.returncode == 1 and "cannot write stdout: Bad file descriptor (stdout is closed)" in one_line(out)


def test_memory_error_is_one_line(monkeypatch):
    from dlcli.cli import failure

    assert failure(MemoryError("Unable to allocate 74.5 GiB")) == 1


def test_unexpected_exception_is_one_line_not_a_traceback(capsys):
    from dlcli.cli import failure

    assert failure(ZeroDivisionError("boom")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "ZeroDivisionError: boom" in err
