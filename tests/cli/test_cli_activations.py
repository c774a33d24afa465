"""`dlcli activations ...` end to end: formats, pipes, errors, colour rules, start-up imports."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from conftest import ROOT, run_cli


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_eval_negative_numbers_are_numbers(cli):
    result = cli("activations", "eval", "relu", "-2", "-1e-7", "0", "3", "--format", "plain")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["0.0", "0.0", "0.0", "3.0"]


def test_eval_plain_is_shortest_round_trip(cli):
    result = cli("activations", "eval", "sigmoid", "-2", "0", "0.5", "-f", "plain")
    assert result.stdout.split() == [repr(torch.sigmoid(torch.tensor(v, dtype=torch.float64)).item())
                                     for v in (-2.0, 0.0, 0.5)]


def test_eval_derivative_flag(cli):
    result = cli("activations", "eval", "tanh", "-d", "0", "1", "-f", "plain")
    values = [float(v) for v in result.stdout.split()]
    assert values == [1.0, pytest.approx(1 - math.tanh(1) ** 2, rel=1e-15)]


def test_eval_json_contract(cli):
    result = cli("activations", "eval", "leaky_relu", "-p", "alpha=0.1", "-3", "2", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc == {"activation": "leaky_relu", "params": {"alpha": 0.1}, "x": [-3.0, 2.0],
                   "value": [pytest.approx(-0.3), 2.0], "derivative": [0.1, 1.0]}


def test_eval_csv_header_and_rows(cli):
    result = cli("activations", "eval", "sigmoid", "0", "2", "-f", "csv")
    lines = result.stdout.splitlines()
    assert lines[0] == "x,value,derivative"
    x, value, deriv = map(float, lines[2].split(","))
    assert (x, value, deriv) == (2.0, sigmoid(2.0), pytest.approx(sigmoid(2) * (1 - sigmoid(2)), rel=1e-15))


def test_softmax_json_has_jacobian(cli):
    doc = json.loads(cli("activations", "eval", "softmax", "1", "2", "3", "-f", "json").stdout)
    t = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda z: torch.softmax(z, -1), t)
    assert doc["value"] == pytest.approx(torch.softmax(t, -1).tolist(), rel=1e-15)
    assert doc["derivative"] == [pytest.approx(row, abs=1e-16) for row in jac.tolist()]


def test_piped_default_is_plain():
    piped = run_cli("activations", "eval", "sigmoid", "0")
    assert piped.stdout == b"0.5\n"


def test_stdin_stream_and_dash(tmp_path):
    numbers = "\n".join(str(v) for v in range(-5, 6)) + "\n"
    for args in (["activations", "eval", "sigmoid"], ["activations", "eval", "sigmoid", "-"]):
        out = run_cli(*args, input=numbers)
        assert out.returncode == 0
        assert [float(v) for v in out.stdout.split()] == [pytest.approx(sigmoid(v), rel=1e-15) for v in range(-5, 6)]


def test_stream_carries_tokens_split_across_reads():
    """Numbers cut in half between two reads of the pipe must be joined, not parsed as two numbers."""
    code = ("import os, sys; sys.stdout.write('1234'); sys.stdout.flush(); import time; time.sleep(0.3);"
            "sys.stdout.write('5.5 -1\\n')")
    producer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    consumer = subprocess.run([sys.executable, "-m", "dlcli", "activations", "eval", "identity"],
                              stdin=producer.stdout, capture_output=True, cwd=ROOT, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    producer.wait()
    assert consumer.stdout.split() == [b"12345.5", b"-1.0"]


def test_output_flows_while_input_is_still_arriving():
    proc = subprocess.Popen([sys.executable, "-m", "dlcli", "activations", "eval", "relu"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        proc.stdin.write(b"-1\n2\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"0.0\n"  # answered before stdin is closed
        assert proc.stdout.readline() == b"2.0\n"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_stream_csv(tmp_path):
    out = run_cli("activations", "eval", "relu", "-f", "csv", input="-1\n2\n")
    assert out.stdout == b"x,value,derivative\n-1.0,0.0,0.0\n2.0,2.0,1.0\n"


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["activations", "eval", "sigmod", "1"], None, "unknown activation 'sigmod'; did you mean 'sigmoid'?"),
    (["activations", "eval", "elu", "-p", "alpha=-1", "1"], None, "parameter alpha=-1 is out of range"),
    (["activations", "eval", "elu", "-p", "alpha", "1"], None, "--param expects key=value"),
    (["activations", "eval", "relu"], "1\n2\nbanana\n", "line 3: 'banana' is not a number"),
    (["activations", "eval", "relu"], "", "no numbers"),
    (["activations", "eval", "relu", "-f", "json"], "  \n", "no numbers"),
    (["activations", "eval", "relu", "abc"], None, "'abc' is not a number"),
    (["activations", "eval", "relu", "--frobnicate"], None, "no such option: --frobnicate"),
    (["activations", "plot", "softmax"], None, "softmax acts on a whole vector"),
    (["activations", "plot", "--xmin", "3", "--xmax", "1"], None, "--xmin (3) must be less than --xmax (1)"),
    (["activations", "show"], None, "missing argument NAME"),
    (["nonsense"], None, "unknown command 'nonsense'"),
])
def test_bad_input_is_one_line_and_exit_2(args, stdin, message):
    out = run_cli(*args, input=stdin)
    err = out.stderr.decode()
    assert out.returncode == 2, err
    assert err.count("\n") == 1 and err.startswith("dlcli: error: "), err
    assert message in err
    assert "Traceback" not in err


def test_no_ansi_when_piped_and_under_no_color(tmp_path):
    for env in ({}, {"NO_COLOR": "1"}, {"TERM": "dumb"}):
        for args in (["activations", "list"], ["activations", "plot", "relu", "tanh"], ["activations", "show", "elu"],
                     ["activations", "eval", "relu", "x"]):
            out = run_cli(*args, env=env)
            assert b"\x1b[" not in out.stdout and b"\x1b[" not in out.stderr, args


def test_colour_rules_on_a_terminal(monkeypatch):
    from dlcli.cli import render

    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert render.colour_allowed(Tty())
    monkeypatch.setenv("NO_COLOR", "")
    assert not render.colour_allowed(Tty())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not render.colour_allowed(Tty())


def test_broken_pipe_ends_quietly(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("\n".join(str(i % 97 - 48) for i in range(300_000)) + "\n")
    cmd = f"{sys.executable} -m dlcli activations eval sigmoid - < {big} | head -1"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, cwd=ROOT, env=env, timeout=60)
    assert out.stdout.decode().strip() == repr(sigmoid(-48))
    assert out.stderr == b""
    listing = subprocess.run(["bash", "-c", f"{sys.executable} -m dlcli activations list | head -n 1"],
                             capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert listing.stderr == b""


def test_help_and_numpy_commands_never_import_torch():
    code = (
        "import sys\n"
        "from dlcli.cli import app\n"
        "for args in (['--help'], ['activations', 'eval', 'sigmoid', '0'], ['activations', 'list'],\n"
        "             ['activations', 'show', 'tanh'], ['activations', 'plot'], ['activations', '--help'],\n"
        "             ['perceptron', 'train', '--fn', 'xor', '--hidden', '2', '--seed', '1'],\n"
        "             ['perceptron', 'census', '--inputs', '4'], ['graph', '(x+y)*z', 'x=1', 'y=2', 'z=3']):\n"
        "    try:\n"
        "        app(args, prog_name='dlcli')\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (args, e.code)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.returncode == 0, out.stderr.decode()[-500:]


def test_version_and_python_m_match_the_console_script():
    from dlcli import __version__

    out = run_cli("--version")
    assert out.stdout.decode().strip() == f"dlcli {__version__}"
    usage = run_cli("activations", "eval", "--help").stdout.decode()
    assert "Usage: dlcli activations eval" in usage


def test_list_json_has_every_activation(cli):
    from dlcli import activations

    rows = json.loads(cli("activations", "list", "-f", "json").stdout)
    assert [r["name"] for r in rows] == activations.names()
    sig = next(r for r in rows if r["name"] == "sigmoid")
    assert sig["grad_at_zero"] == 0.25 and sig["max_abs_grad"] == pytest.approx(0.25)


def test_show_json_and_table(cli):
    doc = json.loads(cli("activations", "show", "step", "-f", "json").stdout)
    assert doc["grad_undefined_at"] == [0.0] and doc["value_at_zero"] == 1.0
    table = cli("activations", "show", "gelu", "-f", "table")
    assert table.exit_code == 0 and "x·Φ(x)" in table.stdout


def test_step_derivative_at_threshold_is_flagged(cli):
    out = run_cli("activations", "eval", "step", "-d", "0", "1")
    assert out.stdout.split() == [b"0.0", b"0.0"]
    assert b"undefined at x = 0.0" in out.stderr


def test_plot_draws_axes_legend_and_markers_without_colour(cli):
    out = run_cli("activations", "plot", "relu", "sigmoid", "--width", "40", "--height", "10").stdout.decode()
    assert "* relu(x)" in out and "+ sigmoid(x)" in out  # distinct markers when there is no colour
    assert "└" in out and "┬" in out
    single = run_cli("activations", "plot", "tanh", "--both", "--width", "40", "--height", "10").stdout.decode()
    assert "tanh'(x)" in single


def test_plot_svg_is_written_and_valid(tmp_path, cli):
    path = tmp_path / "acts.svg"
    result = cli("activations", "plot", "relu", "tanh", "--svg", str(path))
    assert result.exit_code == 0
    root = ET.fromstring(path.read_text())
    assert root.tag.endswith("svg")
    assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) == 2


def test_plot_svg_to_unwritable_place_is_exit_2_and_leaves_nothing(tmp_path):
    out = run_cli("activations", "plot", "--svg", str(tmp_path / "missing" / "x.svg"))
    assert out.returncode == 2 and b"cannot write" in out.stderr
    assert not (tmp_path / "missing").exists()


def test_check_passes_for_every_activation(cli):
    result = cli("activations", "check", "-f", "json")
    assert result.exit_code == 0, result.output
    assert all(r["passed"] for r in json.loads(result.stdout))


def test_check_can_fail(monkeypatch, cli):
    """A wrong derivative must be caught: the checker is not a rubber stamp."""
    from dlcli.activations import base

    wrong = base.get("tanh")._replace(grad=lambda x: np.ones_like(x))  # the slope of the identity
    monkeypatch.setitem(base._REGISTRY, "tanh", wrong)
    result = cli("activations", "check", "tanh", "-f", "plain")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout


def test_stream_in_memory_stdin(cli):
    """The in-process path (no file descriptors, as under CliRunner) streams too."""
    result = cli("activations", "eval", "relu", "-f", "plain", input="-1 2\n3\n")
    assert result.exit_code == 0
    assert result.stdout.split() == ["0.0", "2.0", "3.0"]


def test_large_stream_in_order_with_constant_chunks(tmp_path):
    values = [(i * 7919) % 2001 / 100 - 10 for i in range(200_000)]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(map(repr, values)) + "\n")
    with open(path, "rb") as f:
        out = subprocess.run([sys.executable, "-m", "dlcli", "activations", "eval", "tanh", "-f", "csv"], stdin=f,
                             capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    rows = out.stdout.decode().splitlines()
    assert rows[0] == "x,value,derivative" and len(rows) == len(values) + 1
    for i in (0, 1, 99_999, 199_999):
        x, value, _ = map(float, rows[i + 1].split(","))
        assert x == values[i] and value == pytest.approx(math.tanh(values[i]), rel=1e-15, abs=1e-300)


def test_bad_line_after_good_output_still_exits_2(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("1\n" * 300_000 + "oops\n")
    with open(path, "rb") as f:
        out = subprocess.run([sys.executable, "-m", "dlcli", "activations", "eval", "relu"], stdin=f,
                             capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 2
    assert out.stderr.decode() == "dlcli: error: line 300001: 'oops' is not a number\n"
