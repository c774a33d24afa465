"""One rule for --seed in every command (a whole number from 0 to 2**63 - 1), and --gain/--bias-std whose squares
a float holds: bad values are one line and exit 2, never an internal error. (issue 24)"""

from __future__ import annotations

import pytest

from conftest import ROOT, one_line_error

torch = pytest.importorskip("torch")

ANN = f"{ROOT}/examples/notes_models.py:ANN"
HUGE = "99999999999999999999999"
TOP = str(2**63 - 1)


@pytest.mark.parametrize("args", [
    ["perceptron", "train", "--fn", "xor", "--seed", "-1"],
    ["perceptron", "train", "--fn", "and", "--init", "random", "--seed", "-1"],
    ["perceptron", "train", "--fn", "and", "--shuffle", "--seed", "-1"],
    ["perceptron", "train", "--fn", "xor", "--hidden", "2", "--seed", "-1"],
    ["vanish", "--depth", "2", "--width", "4", "--seed", HUGE],
    ["vanish", "--model", ANN, "--seed", HUGE],
    ["train", "--depth", "1", "--width", "4", "--epochs", "1", "--seed", HUGE],
    ["train", "--depth", "1", "--width", "4", "--epochs", "1", "--seed", str(2**63)],
], ids=["perceptron", "perceptron-random", "perceptron-shuffle", "perceptron-hidden", "vanish", "vanish-model",
        "train", "train-2**63"])
def test_a_seed_out_of_range_is_one_line(cli, args):
    one_line_error(cli(*args), "--seed must be a whole number from 0 to 2**63 - 1")


@pytest.mark.parametrize("args", [
    ["perceptron", "train", "--fn", "and", "--shuffle", "--init", "random", "-f", "json"],
    ["perceptron", "train", "--fn", "xor", "--hidden", "2", "--epochs", "50", "-f", "json"],
    ["vanish", "--depth", "2", "--width", "4", "--batch", "3", "-f", "json"],
    ["vanish", "--depth", "2", "--width", "4", "--batch", "3", "--engine", "torch", "-f", "json"],
    ["vanish", "--model", ANN, "--batch", "3", "--init", "kaiming", "-f", "json"],
    ["train", "--depth", "1", "--width", "4", "--epochs", "1", "--batch", "256", "-f", "json"],
], ids=["perceptron", "perceptron-hidden", "vanish", "vanish-torch", "vanish-model", "train"])
def test_the_largest_seed_works_and_repeats_everywhere(cli, args, one_thread):
    first, second = cli(*args, "--seed", TOP), cli(*args, "--seed", TOP)
    assert first.exit_code in (0, 1) and "internal error" not in first.stderr and "--seed" not in first.stderr, \
        first.stderr
    assert first.stdout == second.stdout and TOP in first.stdout


@pytest.mark.parametrize("command", [["perceptron", "train"], ["vanish"], ["train"]])
def test_help_states_the_seed_rule(cli, command):
    text = " ".join(cli(*command, "--help").stdout.replace("│", " ").split())
    assert "from 0 to 2**63 - 1" in text


@pytest.mark.parametrize("args, option", [
    (["vanish", "--gain", "1e308", "--depth", "3"], "--gain"),
    (["vanish", "--bias-std", "1e300", "--depth", "3"], "--bias-std"),
    (["vanish", "--act", "tanh", "--phase", "--gain", "1e300"], "--gain"),
    (["vanish", "--model", ANN, "--init", "kaiming", "--gain", "1e200"], "--gain"),
    (["train", "--gain", "1e300", "--epochs", "1"], "--gain"),
])
def test_a_scale_whose_square_overflows_is_one_line(cli, args, option):
    result = cli(*args, "--seed", "0")
    one_line_error(result, f"{option} must be", "up to 1e150")
    assert "Warning" not in result.stderr


def test_the_largest_gain_runs_without_warnings(cli):
    result = cli("vanish", "--gain", "1e150", "--depth", "3", "--width", "8", "--seed", "0", "-f", "json")
    assert result.exit_code == 0 and result.stderr.strip() == "", result.stderr
