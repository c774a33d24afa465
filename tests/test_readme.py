"""README.md and docs/*.md show real output of the current code, compared up to float64 rounding."""

from __future__ import annotations

import pytest

from readme_examples import DOCUMENTS, README, blocks, difference, run, tokens

EXAMPLES = [(command, recorded) for path in DOCUMENTS for command, recorded in blocks(path.read_text())]


def test_readme_has_examples():
    assert len(blocks(README.read_text())) >= 5


@pytest.mark.parametrize(("command", "recorded"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_output_is_current(command, recorded):
    change = difference(recorded, run(command), command)
    assert change is None, f"README is stale ({change}): run python tests/readme_examples.py"


def test_every_command_has_its_help_in_the_command_reference():
    """docs/cli.md holds `dlcli ... --help` for the root and every group and command the app has."""
    import typer

    from dlcli.cli import app
    from readme_examples import ROOT

    documented = {c for c, _ in blocks((ROOT / "docs" / "cli.md").read_text())}
    root = typer.main.get_command(app)

    def paths(group, prefix):
        yield prefix
        for name in getattr(group, "list_commands", lambda ctx: [])(None):
            yield from paths(group.get_command(None, name), [*prefix, name])

    missing = [p for p in paths(root, ["dlcli"]) if " ".join([*p, "--help"]) not in documented]
    assert not missing, missing


# --- the comparison itself -----------------------------------------------------------------------

JSON = '{"layer":1,"weight_grad_norm":10.314544610762166,"grad_rms":0.2819807806185946,"dead":0.0,"q":1e+308}'
PLAIN = "outputs\t0.0052267859208280885 0.9467660202171352\nepochs\t695\nratio\t3.511e+08 1.25e-07"
TABLE = ("┏━━━━━━━┳━━━━━━━━━━━┓\n┃ layer ┃  grad rms ┃\n┡━━━━━━━╇━━━━━━━━━━━┩\n"
         "│     1 │ -0.1966   │\n│     2 │ 1.682e-17 │\n└───────┴───────────┘")
CSV = "name,value,note\nx1,1.0000000000000002,inf\nrelu6,-Infinity,nan"
CHECK = "│ sigmoid │ 20016 │ 2.2e-16 │ 3.4e-17 │ pass │"


def last_digit(token: str) -> str:
    """The same token with its last mantissa digit moved by one."""
    mantissa, _, exponent = token.lower().partition("e")
    i = max(j for j, ch in enumerate(mantissa) if ch.isdigit())
    digit = str((int(mantissa[i]) + 1) % 10) if mantissa[i] != "9" else "8"
    return mantissa[:i] + digit + mantissa[i + 1:] + (f"e{exponent}" if exponent else "")


def replace_number(text: str, k: int, new: str) -> str:
    texts, numbers = tokens(text)
    numbers[k] = new
    return "".join(t + n for t, n in zip(texts, [*numbers, ""], strict=True))


def test_number_tokens_cover_every_form():
    assert tokens(JSON)[1] == ["1", "10.314544610762166", "0.2819807806185946", "0.0", "1e+308"]
    assert tokens(PLAIN)[1] == ["0.0052267859208280885", "0.9467660202171352", "695", "3.511e+08", "1.25e-07"]
    assert tokens(TABLE)[1] == ["1", "-0.1966", "2", "1.682e-17"]
    assert tokens(CSV)[1] == ["1.0000000000000002", "inf", "-Infinity", "nan"]  # x1, relu6 are names
    assert tokens("nand info 2.13.0 h2 inf")[1] == ["2.13", "inf"]


@pytest.mark.parametrize("text", [JSON, PLAIN, CSV])
def test_a_last_digit_change_is_rounding(text):
    for k, token in enumerate(tokens(text)[1]):
        if "." in token and len(token.lstrip("-").split("e")[0]) >= 15:  # full round-trip precision
            assert difference(text, replace_number(text, k, last_digit(token))) is None, token


def test_a_shortest_repr_that_loses_a_digit_and_moves_the_padding_is_rounding():
    wide = "│ 10.314544610762166 │\n┏━━━━━━━━━━━━━━━━━━━━┓"
    narrow = "│ 10.31454461076216 │\n┏━━━━━━━━━━━━━━━━━━━┓"
    assert difference(wide, narrow) is None


@pytest.mark.parametrize("text", [JSON, PLAIN, TABLE, CSV])
def test_a_change_at_1e_9_fails(text):
    for k, token in enumerate(tokens(text)[1]):
        value = float(token)
        if value != 0 and abs(value) != float("inf") and value == value:
            changed = repr(value * (1 + 1e-9))
            assert difference(text, replace_number(text, k, changed)) is not None, token


@pytest.mark.parametrize("text", [JSON, PLAIN, TABLE, CSV])
def test_changed_text_fails(text):
    assert difference(text, text.replace("e", "E", 1).replace("a", "b", 1)) is not None
    assert difference(text, text + "\nmore") is not None
    assert difference(text, text.replace("\n", " ", 1)) is not None or "\n" not in text


def test_a_number_in_a_different_place_fails():
    assert difference("epochs 695 loss 0.05", "epochs loss 695 0.05") is not None
    assert difference("a\t1.5\t2.5", "a\t2.5\t1.5") is not None
    assert difference("x 1.5", "x 1.5 2") is not None
    assert difference("x 1.5", "x1.5") is not None


def test_integers_inf_and_nan_compare_exactly():
    assert difference("epochs 695", "epochs 696") is not None
    assert difference("n 15028134", "n 15028135") is not None
    assert difference("q inf", "q -inf") is not None
    assert difference("q nan", "q 1e308") is not None
    assert difference("q nan", "q nan") is None


def test_error_magnitudes_at_roundoff_agree_only_in_commands_that_print_errors():
    moved = CHECK.replace("2.2e-16", "2.9e-16").replace("3.4e-17", "5.6e-17")
    assert difference(CHECK, moved, "dlcli activations check sigmoid --format table") is None
    assert difference(CHECK, CHECK.replace("2.2e-16", "2.2e-12"), "dlcli activations check sigmoid") is not None
    assert difference(CHECK, CHECK.replace("20016", "20017"), "dlcli activations check sigmoid") is not None
    fd = "│ eru │ 20011 │ 1.0e-14 │ 3.2e-10 │ pass │"
    assert difference(fd, fd.replace("3.2e-10", "2.9e-10"), "dlcli activations check eru") is None
    assert difference(fd, fd.replace("3.2e-10", "3.2e-09"), "dlcli activations check eru") is not None
    assert difference(fd, fd.replace("3.2e-10", "0.0"), "dlcli activations check eru") is not None
    assert difference(fd, fd.replace("3.2e-10", "3.3e-10"), "dlcli vanish") is not None  # only in check's output
    # a vanishing gradient of 1.682e-17 is a measured value, not an error: it keeps the relative tolerance
    assert difference(TABLE, TABLE.replace("1.682e-17", "1.69e-17"), "dlcli vanish --depth 20") is not None
