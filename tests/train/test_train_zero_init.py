"""Weights that start at zero (timm's zero_init_last: a residual block's last BatchNorm γ) are no divergence:
their update ratio ‖ΔW‖/‖W‖ is not defined, their absolute update ‖ΔW‖ is reported; checked against a plain
torch loop written here. A huge learning rate still diverges; a model that makes NaN from the start is the
model's fault, not the learning rate's."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_thread")
pytest.importorskip("sklearn")

from dlcli.data.datasets import load_dataset  # noqa: E402
from dlcli.train.config import make_train_config  # noqa: E402
from dlcli.train.run import train  # noqa: E402
from plain_loop import model_class, plain_sgd  # noqa: E402

RESIDUAL = '''
import torch
from torch import nn


class Block(nn.Module):
    """A timm/torchvision BasicBlock with zero_init_last: bn2's γ starts at zero, the shortcut added in place."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.act2 = nn.ReLU()
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        x += shortcut
        return self.act2(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.block = Block(4)
        self.head = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        x = torch.relu(self.stem(x.reshape(-1, 1, 8, 8)))
        return self.head(self.block(x).flatten(1))


class NaNNet(Net):
    """Its output is NaN for every input, before any update: stem's output times inf, minus itself."""

    def forward(self, x):
        x = torch.relu(self.stem(x.reshape(-1, 1, 8, 8)))
        x = self.block(x)
        return self.head((x * float("inf") - x * float("inf")).flatten(1))
'''


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "resnet_block.py"
    path.write_text(RESIDUAL)
    return path


def test_a_zero_initialised_batchnorm_weight_is_no_divergence_and_its_absolute_update_matches(digits, source):
    config = make_train_config(None, model=f"{source}:Net", epochs=2, batch=64, lr=0.1, seed=0)
    result = train(config, digits)
    assert result.divergence is None and len(result.epochs) == 2
    assert result.rows == ("stem", "block.conv1", "block.bn1", "block.conv2", "block.bn2", "head")
    reference = plain_sgd(result.config, digits, model_class(source, "Net"))
    bn2 = result.rows.index("block.bn2")
    for ours, ref in zip(result.epochs, reference, strict=True):
        assert ours.train_loss == pytest.approx(ref["train_loss"], abs=1e-10, rel=0)
        for layer in ours.layers:
            key = f"{layer.name}.weight"
            assert layer.update_norm == pytest.approx(ref["moved"][key], rel=1e-9)
            if ref["start"][key] == 0:
                assert layer.update_ratio is None
            else:
                assert layer.update_ratio == pytest.approx(ref["moved"][key] / ref["start"][key], rel=1e-9)
    first, second = (e.layers[bn2] for e in result.epochs)
    assert reference[0]["start"]["block.bn2.weight"] == 0 and first.update_ratio is None
    assert first.update_norm > 0 and np.isfinite(first.update_norm)
    assert second.update_ratio is not None and np.isfinite(second.update_ratio)  # no longer zero after epoch 1
    assert result.epochs[-1].test_accuracy > 0.5
    text = " ".join(result.explanation)
    assert "block.bn2" in text and "update_norm" in text
    assert "not finite" not in text and "diverg" not in text and "diverg" not in result.verdict
    doc = result.as_dict()
    assert doc["divergence"] is None
    assert doc["epochs"][0]["layers"][bn2]["update_ratio"] is None
    assert doc["epochs"][0]["layers"][bn2]["update_norm"] == first.update_norm


def test_the_cli_runs_the_residual_model_to_the_end(cli, source):
    result = cli("train", "--model", f"{source}:Net", "--data", "digits", "--epochs", "2", "--seed", "0", "-f",
                 "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["divergence"] is None and len(doc["epochs"]) == 2
    row = next(layer for layer in doc["epochs"][0]["layers"] if layer["name"] == "block.bn2")
    assert row["update_ratio"] is None and row["update_norm"] > 0
    table = cli("train", "--model", f"{source}:Net", "--data", "digits", "--epochs", "2", "--seed", "0",
                "--no-chart")
    assert table.exit_code == 0, table.stderr
    assert "diverged" not in table.stdout + table.stderr and "update_norm" in table.stdout


def test_a_huge_learning_rate_on_it_is_still_divergence(digits, source):
    config = make_train_config(None, model=f"{source}:Net", epochs=5, batch=64, lr=1e6, loss="mse", seed=0)
    result = train(config, digits)
    d = result.divergence
    assert d is not None and d.step > 1 and not d.before_update
    assert "training diverged at step" in d.message(config.lr) and "--lr" in d.message(config.lr)
    assert result.as_dict()["divergence"]["cause"] == "training"


def test_a_model_that_makes_nan_from_the_start_is_the_models_fault(digits, source):
    config = make_train_config(None, model=f"{source}:NaNNet", epochs=2, batch=64, lr=0.1, seed=0)
    result = train(config, digits)
    d = result.divergence
    assert d is not None and d.step == 0 and result.epochs == ()
    assert (d.layer, d.name, d.what) == (6, "head", "output")  # the first watched layer whose output is NaN
    message = d.message(config.lr)
    assert "the model produces NaN/inf at its initial weights" in message and "layer 6 (head)" in message
    assert "--lr" not in message and "diverged" not in message
    assert result.as_dict()["divergence"]["cause"] == "model"


def test_nan_at_the_first_step_before_any_update_is_the_models_fault_too(digits, tmp_path):
    path = tmp_path / "train_nan.py"
    path.write_text(RESIDUAL + '''

class TrainNaN(Net):
    """Finite in eval mode (the evaluation before training), NaN in train mode: step 1 fails, before an update."""

    def forward(self, x):
        out = super().forward(x)
        return out * float("nan") if self.training else out
''')
    config = make_train_config(None, model=f"{path}:TrainNaN", epochs=2, batch=64, lr=0.1, seed=0)
    result = train(config, digits)
    d = result.divergence
    assert d is not None and (d.step, d.epoch, d.what) == (1, 1, "model") and d.before_update
    message = d.message(config.lr)
    assert "at step 1, before any update" in message and "--lr" not in message


def test_a_parameter_that_is_not_finite_before_training_is_named(digits, tmp_path):
    path = tmp_path / "inf_bias.py"
    path.write_text("import torch\nfrom torch import nn\n\n"
                    "def Net():\n    m = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))\n"
                    "    with torch.no_grad():\n        m[2].bias[3] = float('inf')\n    return m\n")
    config = make_train_config(None, model=f"{path}:Net", epochs=1, seed=0)
    d = train(config, digits).divergence
    assert d is not None and (d.step, d.layer, d.name, d.what, d.parameter) == (0, 2, "2", "weights", "2.bias")
    assert "layer 2 (2)'s parameter 2.bias is not finite;" in d.message(config.lr)
    assert "--lr" not in d.message(config.lr)
