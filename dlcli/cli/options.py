"""The options every command shares, defined once: --format, -p key=value, --seed, activation names."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer

from dlcli.cli.render import Format
from dlcli.errors import InputError

FormatOpt = Annotated[
    Format | None,
    typer.Option("--format", "-f", help="Output format \\[default: table on a terminal, plain when piped]."),
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for random choices (shown).")]


def complete_activation(incomplete: str) -> list[str]:
    """Activation names and aliases that start with what was typed (shell completion)."""
    from dlcli import activations

    return [n for n in activations.names(include_aliases=True) if n.startswith(incomplete)]


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
