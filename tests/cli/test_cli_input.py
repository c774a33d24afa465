"""Odd input: negative non-finite numbers, --epochs 0, bare commands, control characters, plurals."""

from __future__ import annotations

import math

import pytest

from conftest import run_cli


def test_negative_infinity_and_nan_are_numbers_on_the_command_line():
    out = run_cli("activations", "eval", "identity", "-inf", "-Infinity", "-nan", "-1e-7", "inf")
    assert out.returncode == 0, out.stderr
    values = [float(v) for v in out.stdout.split()]
    assert values[:2] == [-math.inf, -math.inf] and math.isnan(values[2]) and values[3:] == [-1e-7, math.inf]
    table = run_cli("activations", "eval", "tanh", "-inf", "-f", "json")  # '-f' after '-inf' is still --format
    assert table.returncode == 0 and b'"value":[-1.0]' in table.stdout


def test_negative_numbers_as_option_values():
    out = run_cli("activations", "plot", "relu", "--xmin", "-Infinity")
    assert out.returncode == 2 and b"--xmin must be a finite number (got -inf)" in out.stderr
    ok = run_cli("activations", "plot", "relu", "--xmin", "-3", "--xmax", "-1", "--width", "20", "--height", "4")
    assert ok.returncode == 0 and b"f on [-3, -1]" in ok.stdout


def test_only_negative_number_words_are_protected_from_the_option_parser():
    from dlcli.cli import protect_negative_numbers

    words = ["eval", "relu", "-inf", "-nan", "-2", "-x", "-d", "--", "-inf"]
    assert protect_negative_numbers(words) == ["eval", "relu", " -inf", " -nan", " -2", "-x", "-d", "--", "-inf"]


@pytest.mark.parametrize("extra", [(), ("--hidden", "2")])
def test_epochs_zero_is_rejected_not_ignored(extra):
    out = run_cli("perceptron", "train", "--fn", "xor", *extra, "--epochs", "0")
    assert out.returncode == 2 and out.stderr == b"dlcli: error: --epochs must be at least 1 (got 0)\n"


@pytest.mark.parametrize("words", [(), ("activations",), ("perceptron",)])
def test_bare_commands_print_their_help_once(words):
    out = run_cli(*words)
    assert out.returncode == 0 and out.stdout.decode().count("Usage:") == 1


def test_control_characters_in_errors_are_escaped():
    for args, shown in ((("activations", "eval", "sig\x1b[31mmoid", "1"), "'sig\\x1b[31mmoid'"),
                        (("activations", "eval", "relu", "1\x1b[2J"), "'1\\x1b[2J' is not a number"),
                        (("activations", "eval", "relu", "--format", "\x07"), "(got '\\x07')")):
        out = run_cli(*args)
        err = out.stderr.decode()
        assert out.returncode == 2 and shown in err and "\x1b" not in err and "\x07" not in err, err
    piped = run_cli("activations", "eval", "relu", input="1\n\x1b]0;title\x07\n")
    assert b"line 2: '\\x1b]0;title\\x07' is not a number" in piped.stderr and b"\x1b" not in piped.stderr


def test_the_caret_stays_under_an_escaped_character():
    out = run_cli("graph", "x+\x1b+y", "x=1", "y=2")
    lines = out.stderr.decode().splitlines()
    assert out.returncode == 2 and lines[1] == "  x+\\x1b+y" and lines[2] == "    ^^^^"


def test_plurals_follow_the_count():
    from dlcli.cli.render import count

    assert (count(1, "epoch"), count(3, "epoch"), count(1882, "function")) == ("1 epoch", "3 epochs",
                                                                               "1,882 functions")
    once = run_cli("perceptron", "train", "--fn", "xor", "--epochs", "1", "-f", "table").stdout.decode()
    assert "after 1 epoch with 3 mistakes" in once and "1 epochs" not in once
