"""The options every command shares, defined once: --format, -p key=value, --seed, activation names."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import typer

from dlcli.cli.render import Format
from dlcli.errors import InputError

FormatOpt = Annotated[
    Format | None,
    typer.Option("--format", "-f", help="Output format \\[default: table on a terminal, plain when piped]."),
]
SEED_LIMIT = 2**63  # every --seed: 0 <= seed < 2**63, a seed numpy, torch and Python's random all take


def check_seed(value: int | None) -> int | None:
    """--seed, the one rule for every command: a whole number from 0 to 2**63 - 1 (or none: a fresh one)."""
    if value is not None and not 0 <= value < SEED_LIMIT:
        raise InputError(f"--seed must be a whole number from 0 to 2**63 - 1 ({SEED_LIMIT - 1}), got {value}")
    return value


def seed_option(text: str) -> Any:
    """The --seed option of every command: `text` says what it seeds; the rule and the default follow."""
    return typer.Option("--seed", callback=check_seed,
                        help=f"{text}: a whole number from 0 to 2**63 - 1 \\[default: a fresh one, shown].")


SeedOpt = Annotated[int | None, seed_option("Seed for random choices")]

# Your own model (`vanish --model`, `diff --model`): the options that load it and build its batch.
MODEL_PANEL = "Your own model"
ModelOpt = Annotated[str | None, typer.Option(
    "--model", rich_help_panel=MODEL_PANEL, help="PATH.py:NAME, package.module:NAME or torchvision:NAME: an "
    "nn.Module class, a function returning one, or an instance. Loading a .py file RUNS ITS CODE, as python "
    "would: load only files you trust.")]
ModelArgOpt = Annotated[list[str] | None, typer.Option(
    "--model-arg", rich_help_panel=MODEL_PANEL, help="key=value passed to NAME (repeatable); values read "
    "as Python literals (ast.literal_eval, never eval), bare words as strings.")]
DataOpt = Annotated[str | None, typer.Option(
    "--data", rich_help_panel=MODEL_PANEL, help="digits (scikit-learn's 8×8 digits), FILE.npz (x, optional "
    "y: class labels or float targets; or, without x, arrays named after forward's parameters such as "
    "input_ids, attention_mask, with y or labels; x0, x1, ... positional) or FILE.npy (x); --batch takes the "
    "first rows \\[default: standard normal inputs; random token ids for a model that starts with an "
    "Embedding].")]
InputShapeOpt = Annotated[str | None, typer.Option(
    "--input-shape", rich_help_panel=MODEL_PANEL, help="Shape of one example, D or C,H,W: for standard "
    "normal inputs (inferred from a first Linear), T tokens for random ids, or to reshape --data rows.")]
OutputOpt = Annotated[str | None, typer.Option(
    "--output", rich_help_panel=MODEL_PANEL, help="For a model returning a dict or tuple: the key or index "
    "the loss is taken of \\[default: its first tensor].")]
EvalModeOpt = Annotated[bool, typer.Option(
    "--eval-mode", rich_help_panel=MODEL_PANEL, help="model.eval() (batch norm's running statistics, no "
    "dropout) \\[default: training mode].")]
StandardizeOpt = Annotated[bool, typer.Option(
    "--standardize/--no-standardize", rich_help_panel=MODEL_PANEL, help="With --data: x standardised per "
    "feature as train does (by the mean and std of train's training split for the same --seed: all of x where "
    "the file has x_test; constant features only centred), so both commands see the same inputs; named inputs "
    "(input_ids, ...) stay as given.")]


def complete_activation(incomplete: str) -> list[str]:
    """Activation names and aliases that start with what was typed (shell completion)."""
    from dlcli import activations

    return [n for n in activations.names(include_aliases=True) if n.startswith(incomplete)]


def complete_activation_list(incomplete: str) -> list[str]:
    """Element-wise activation names for a comma-separated list ('sigmoid,ta' completes the last name)."""
    from dlcli import activations

    head, _, last = incomplete.rpartition(",")
    prefix = head + "," if head else ""
    return [prefix + n for n in activations.names(include_aliases=True, elementwise_only=True) if n.startswith(last)]


def complete_from(module: str, constant: str) -> Callable[[str], list[str]]:
    """A completer offering the names in `module.constant` (imported only when completing)."""

    def complete(incomplete: str) -> list[str]:
        import importlib

        return [n for n in getattr(importlib.import_module(module), constant) if n.startswith(incomplete)]

    return complete


def complete_choices(*names: str) -> Callable[[str], list[str]]:
    """A completer offering `names`."""
    return lambda incomplete: [n for n in names if n.startswith(incomplete)]


def parse_params(pairs: list[str] | None, expected: str = "key=value") -> dict[str, str]:
    """`key=value` strings into a dict; the registry validates names and ranges."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param expects {expected}, got '{pair}'")
        out[key.strip()] = value.strip()
    return out


def draw_seed(seed: int | None) -> int:
    """The seed to use: the one given, else a fresh one (which the command then shows)."""
    return secrets.randbelow(2**32) if seed is None else seed


def click_message(exc: Any) -> str:
    """A click/Typer usage error in dlcli's own words (never pydantic's 'Value error, ... is not one of')."""
    import re

    text = exc.format_message()
    param = getattr(exc, "param", None)
    kind = type(exc).__name__
    if kind == "NoSuchOption":
        text = re.sub(r" \((?:Possible options|Did you mean):? (.*?)\??\)", r"; did you mean \1?", text)
        return text[0].lower() + text[1:]
    if kind == "MissingParameter" and param is not None:
        if type(param).__name__.endswith("Argument"):
            return f"missing argument {param.name.upper()}"
        return f"missing option {param.opts[0]} (it is required)"
    if kind == "BadParameter" and param is not None:
        name = param.opts[0] if param.opts[0].startswith("-") else param.name.upper()
        given = _given(param.opts)
        got = f" (got '{given}')" if given is not None else ""
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            match = re.search(r"'([^']*)' is not one of", text)
            shown = f" (got '{match.group(1)}')" if match else got
            return f"{name} must be one of {', '.join(m.value for m in annotation)}{shown}"
        bound = re.search(r"(greater|less) than( or equal to)? (\S+)", text)
        if bound:
            word = ("at least" if bound.group(2) else "more than") if bound.group(1) == "greater" else \
                ("at most" if bound.group(2) else "less than")
            return f"{name} must be {word} {bound.group(3)}{got}"
        if annotation is int:
            return f"{name} expects a whole number{got}"
        if annotation is float:
            return f"{name} expects a number{got}"
        return f"invalid value for {name}{got}"
    if match := re.match(r"Option '(.*?)' requires an argument", text):
        return f"{match.group(1)} needs a value"
    if match := re.match(r"Got unexpected extra argument(?:s|\(s\))? \((.*)\)", text):
        extra = match.group(1)
        return f"unexpected extra argument{'s' if ' ' in extra.strip() else ''}: {extra}"
    if match := re.match(r"No such command '(.*?)'", text):
        ctx = getattr(exc, "ctx", None)
        commands = ctx.command.list_commands(ctx) if ctx is not None else []
        from dlcli.errors import unknown_name

        return str(unknown_name("command", match.group(1), commands))
    text = text.rstrip(".")
    return text[0].lower() + text[1:] if text else kind


def _given(opts: list[str]) -> str | None:
    """The value the command line gave option `opts` (for error messages), if it can be found."""
    import sys

    argv = sys.argv[1:]
    for i, word in enumerate(argv):
        for opt in opts:
            if word == opt and i + 1 < len(argv):
                return argv[i + 1]
            if opt.startswith("--") and word.startswith(opt + "="):
                return word[len(opt) + 1:]
    return None
