"""`train --model`'s rows are `vanish --model`'s: every module that owns trainable weights, an LSTM's row
holding all its weight tensors (‖ΔW‖ over them together), a tied tensor once; checked against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_thread")
pytest.importorskip("sklearn")

from dlcli.data.datasets import load_dataset  # noqa: E402
from dlcli.train.config import make_train_config  # noqa: E402
from dlcli.train.run import train  # noqa: E402
from plain_loop import model_class, plain_sgd  # noqa: E402

SOURCE = '''
import torch
from torch import nn


class Recurrent(nn.Module):
    """Digits as 8 steps of 8 pixels: an LSTM, a layer scale, a head tied to nothing; a tied pair of Linears."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.scale = nn.Parameter(torch.ones(16))
        self.mix = nn.Linear(16, 16, bias=False)
        self.again = nn.Linear(16, 16, bias=False)
        self.again.weight = self.mix.weight  # tied: one tensor, one row
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        out, _ = self.lstm(x.reshape(-1, 8, 8))
        h = out[:, -1] * self.scale
        return self.head(torch.tanh(self.again(torch.tanh(self.mix(h)))))
'''


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "recurrent.py"
    path.write_text(SOURCE)
    return path


def test_rows_are_the_probes_and_an_lstm_row_moves_as_all_its_weights(source):
    digits = load_dataset("digits")
    config = make_train_config(None, model=f"{source}:Recurrent", epochs=2, batch=128, lr=0.1, seed=0)
    result = train(config, digits)
    assert result.rows == ("Recurrent", "lstm", "mix", "head")  # the root owns `scale`; `again` is tied to mix
    reference = plain_sgd(result.config, digits, model_class(source, "Recurrent"))
    for ours, moved in zip(result.epochs, reference, strict=True):
        moved = moved["moved"]
        got = {layer.name: layer.update_norm for layer in ours.layers}
        assert got["lstm"] == pytest.approx(math.hypot(moved["lstm.weight_ih_l0"], moved["lstm.weight_hh_l0"]),
                                            rel=1e-9)
        assert got["Recurrent"] == pytest.approx(moved["scale"], rel=1e-9)
        assert got["mix"] == pytest.approx(moved["mix.weight"], rel=1e-9)
        assert got["head"] == pytest.approx(moved["head.weight"], rel=1e-9)
        assert all(np.isfinite(layer.weight_grad_norm) for layer in ours.layers)
