"""NaN/inf is its own finding (verdict "non-finite", the layer where it first appears), never "vanishing":
the built stacks and `vanish --model` alike."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcli.vanish.analysis import run
from dlcli.vanish.config import make_config
from dlcli.vanish.numpy_engine import build_numpy


def first_nonfinite_layer(config) -> int | None:
    """The first layer whose a_l = φ(z_l) holds NaN/inf, by a forward pass written here on the engine's weights."""
    net = build_numpy(config)
    a = net.x
    with np.errstate(all="ignore"):
        for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
            z = a @ w.T + b
            a = {"log(x)": np.log, "1e200*x": lambda u: 1e200 * u}[config.activation](z)
            if not np.isfinite(a).all():
                return layer
    return None


@pytest.mark.parametrize(("act", "where"), [("log(x)", 1), ("1e200*x", 2)])
def test_a_stack_with_nan_or_inf_is_non_finite_and_names_the_layer(act, where) -> None:
    config = make_config(act, depth=5, width=32, batch=16, seed=0)
    assert first_nonfinite_layer(config) == where  # log of z < 0 at layer 1; 1e200·1e200 overflows at layer 2
    result = run(config)
    assert result.verdict == "non-finite"
    text = " ".join(result.explanation)
    assert f"NaN or inf first appears in the forward pass at layer {where}" in text
    assert "vanishing" not in text and "healthy" not in text


def test_the_cli_says_non_finite_and_prints_no_numpy_warnings(cli) -> None:
    result = cli("vanish", "--act", "log(x)", "--depth", "4", "--width", "16", "--seed", "0", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "non-finite" and "layer 1" in doc["explanation"][1]
    assert "Warning" not in result.stderr


MODEL = '''
import torch
from torch import nn


class MaskedNaN(nn.Module):
    """A deep sigmoid stack (its gradient vanishes) whose output has a NaN column, put in by a mask: the
    projection loss's gradient stays finite, so only the output and the loss show it."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(32, 32), nn.Sigmoid())])
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        out = self.head(self.layers(x))
        return out.masked_fill(torch.arange(10) == 3, float("nan"))
'''


def test_a_model_with_nan_outputs_is_non_finite_not_vanishing(cli, tmp_path) -> None:
    pytest.importorskip("torch")
    path = tmp_path / "masked_nan.py"
    path.write_text(MODEL)
    result = cli("vanish", "--model", f"{path}:MaskedNaN", "--seed", "0", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "non-finite"
    assert [a["kind"] for a in doc["alarms"]] == ["non_finite"] and doc["alarms"][0]["modules"] == ["head"]
    assert "after head" in " ".join(doc["findings"])
