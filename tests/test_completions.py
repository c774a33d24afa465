"""The shipped completion scripts are exactly what the app generates, and names complete."""

from __future__ import annotations

import pytest

from conftest import ROOT, run_cli


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_up_to_date(shell):
    generated = run_cli(env={"_DLCLI_COMPLETE": f"source_{shell}"}).stdout.decode()
    shipped = (ROOT / "completions" / f"dlcli.{shell}").read_text()
    assert generated == shipped, f"completions/dlcli.{shell} is stale: regenerate it (see README, Completion)"


def test_activation_names_complete_wherever_a_name_is_expected():
    for words, cword in (("dlcli activations eval sig", 3), ("dlcli activations show lr", 3),
                         ("dlcli activations plot relu ta", 4), ("dlcli activations check gel", 3)):
        out = run_cli(env={"_DLCLI_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
        prefix = words.split()[-1]
        candidates = out.stdout.decode().split()
        assert candidates and all(c.startswith(prefix) for c in candidates), (words, candidates)
    env = {"_DLCLI_COMPLETE": "complete_bash", "COMP_WORDS": "dlcli activations eval gelu", "COMP_CWORD": "3"}
    out = run_cli(env=env)
    assert set(out.stdout.decode().split()) == {"gelu", "gelu_tanh", "gelu_approx"}


def test_subcommands_complete():
    out = run_cli(env={"_DLCLI_COMPLETE": "complete_bash", "COMP_WORDS": "dlcli act", "COMP_CWORD": "1"})
    assert out.stdout.decode().split() == ["activations"]


def complete(words: str) -> list[str]:
    """What bash completion offers for the last word of `words` (a trailing space: a new, empty word)."""
    parts = words.split(" ")
    out = run_cli(env={"_DLCLI_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)})
    return out.stdout.decode().split()


@pytest.mark.parametrize(("words", "expected"), [
    ("dlcli perceptron train --act si", {"sigmoid", "silu"}),
    ("dlcli vanish --act relu,ta", {"relu,tanh", "relu,tanhshrink"}),
    ("dlcli vanish --init ", {"default", "xavier", "kaiming", "lecun", "orthogonal", "normal"}),
    ("dlcli vanish --device ", {"cpu", "cuda"}),
    ("dlcli vanish --dtype f", {"float64", "float32"}),
    ("dlcli vanish --engine ", {"numpy", "torch"}),
    ("dlcli vanish --loss ", {"projection", "mse"}),
    ("dlcli perceptron train --fn x", {"xor", "xnor"}),
    ("dlcli perceptron train --init ", {"zero", "random"}),
    ("dlcli perceptron census --method ", {"auto", "direct", "orbits", "lp"}),
    ("dlcli vanish --format ", {"table", "plain", "csv", "json"}),
    ("dlcli graph --format j", {"json"}),
    ("dlcli graph --example sig", {"sigmoid-neuron", "sigmoid-gate"}),
    ("dlcli report run.db --metric grad", {"grad_norm", "grad_rms"}),
    ("dlcli report run.db --by ", {"auto", "module", "block"}),
    ("dlcli rep", {"report"}),
    ("dlcli diff a.db b.db --metric up", {"update_ratio"}),
    ("dlcli dif", {"diff"}),
])
def test_every_name_valued_option_completes(words, expected):
    offered = set(complete(words))
    assert expected <= offered and all(o.startswith(words.split(" ")[-1]) for o in offered), offered
