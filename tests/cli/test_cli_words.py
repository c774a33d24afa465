"""Words: help summaries as one paragraph, articles and plurals in messages."""

from __future__ import annotations

import pytest


def test_every_commands_summary_is_one_paragraph_without_hard_line_breaks():
    """`dlcli --help` lists each command's first paragraph: a line break inside it shows as a broken line."""
    import typer

    from dlcli.cli import app

    root = typer.main.get_command(app)

    def walk(command, path):
        first = (command.help or "").strip().split("\n\n")[0]
        yield path, first
        for name in getattr(command, "list_commands", lambda ctx: [])(None):
            yield from walk(command.get_command(None, name), f"{path} {name}")

    broken = [path for path, first in walk(root, "dlcli") if "\n" in first]
    assert not broken, broken


def test_the_root_help_lists_train_on_whole_lines():
    from conftest import run_cli

    out = run_cli("--help", env={"COLUMNS": "100"}).stdout.decode()
    rows = [line for line in out.splitlines() if "train" in line or "model on a data set" in line]
    assert not any(line.rstrip(" │").endswith("data set,") for line in rows), out


@pytest.mark.parametrize(("noun", "expected"), [("int", "an int"), ("str", "a str"), ("ndarray", "an ndarray"),
                                                 ("OrderedDict", "an OrderedDict"), ("Tensor", "a Tensor"),
                                                 ("uniform", "a uniform"), ("LSTM", "an LSTM"), ("GRU", "a GRU"),
                                                 ("Embedding", "an Embedding"), ("ReLU", "a ReLU"),
                                                 ("8", "an 8"), ("16", "a 16"), ("8192", "an 8192"), ("11", "an 11"),
                                                 ("110", "a 110"), ("18000", "an 18000")])
def test_articles(noun, expected):
    from dlcli.errors import with_article

    assert with_article(noun) == expected


def test_kinds_and_counts():
    from dlcli.errors import count, kind_of

    assert kind_of(None) == "None" and kind_of(7) == "an int" and kind_of({}) == "a dict"
    assert count(1, "epoch") == "1 epoch" and count(2, "epoch") == "2 epochs" and count(0, "class", "classes") \
        == "0 classes" and count(1882, "function") == "1,882 functions"


def test_extra_arguments_in_the_right_number(cli):
    from conftest import one_line_error

    one_line_error(cli("activations", "list", "extra"), "unexpected extra argument: extra")
    one_line_error(cli("activations", "list", "extra", "more"), "unexpected extra arguments: extra more")
