"""`dlcli train` from the command line: bad input is one line and exit 2, divergence exit 1, the JSON contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

SMALL = ["--depth", "2", "--width", "8", "--epochs", "2", "--seed", "1"]


@pytest.fixture
def npz(tmp_path):
    def make(name="d.npz", **arrays):
        path = tmp_path / name
        np.savez(path, **arrays)
        return str(path)
    return make


@pytest.fixture
def blobs(npz):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    x = rng.standard_normal((60, 4)) + y[:, None]
    return npz(x=x, y=y)


@pytest.mark.parametrize(("args", "message"), [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--lr", "0"], "--lr must be a positive finite number"),
    (["--lr", "-1"], "--lr must be a positive finite number"),
    (["--lr", "nan"], "--lr must be a positive finite number"),
    (["--lr", "inf"], "--lr must be a positive finite number"),
    (["--test-split", "0"], "--test-split must lie strictly between 0 and 1"),
    (["--test-split", "1"], "--test-split must lie strictly between 0 and 1"),
    (["--batch", "many"], "--batch expects a number of examples or 'full'"),
    (["--batch", "0"], "--batch must be at least 1"),
    (["--optimizer", "rmsprop"], "unknown --optimizer 'rmsprop'"),
    (["--loss", "hinge"], "unknown --loss 'hinge'"),
    (["--layers", "64,x,10"], "--layers expects comma-separated integers"),
    (["--layers", "63,32,10"], "--layers starts with 63 inputs; the data has 4 features"),
    (["--layers", "4,32,9"], "--layers ends with 9 outputs; the data has 3 classes"),
    (["--act", "softmax"], "acts on a whole vector"),
    (["--act", "relu", "--model", "m.py:Net"], "give one of them"),
])
def test_bad_options_are_one_line_and_exit_2(cli, blobs, args, message):
    result = cli("train", "--data", blobs, *args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_data_is_one_line_and_exit_2(cli, npz):
    x = np.zeros((10, 3))
    cases = [
        (npz("a.npz", x=x, y=np.linspace(0, 1, 10)), "needs integer class labels"),
        (npz("b.npz", x=x, y=np.arange(-1, 9)), "must be 0, 1, 2"),
        (npz("c.npz", x=x, y=np.zeros(9, dtype=int)), "'y' has 9 rows, 'x' has 10"),
        (npz("d.npz", z=x), "no array named 'x'"),
        (npz("e.npz", x=x), "training needs labels"),
    ]
    for path, message in cases:
        result = cli("train", "--data", path, *SMALL)
        assert result.exit_code == 2, (message, result.stdout, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_model_whose_output_does_not_match_the_classes(cli, blobs, tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import torch.nn as nn\n\n"
                      "def Net(out=5):\n    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, out))\n")
    result = cli("train", "--data", blobs, "--model", f"{source}:Net", "--epochs", "1")
    assert result.exit_code == 2
    assert "the model's output has shape (2, 5)" in result.stderr and "3 classes" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    ok = cli("train", "--data", blobs, "--model", f"{source}:Net", "--model-arg", "out=3", "--epochs", "2",
             "--seed", "0", "-f", "json")
    assert ok.exit_code == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert [layer["name"] for layer in doc["epochs"][0]["layers"]] == ["0", "2"]
    assert doc["learning_speed_layers"] == [1, 2]


def test_divergence_is_exit_1_and_says_where(cli, blobs):
    result = cli("train", "--data", blobs, "--act", "identity", "--loss", "mse", "--lr", "100", "--batch", "full",
                 "--depth", "2", "--width", "8", "--epochs", "30", "--seed", "1", "-f", "json")
    assert result.exit_code == 1
    assert "training diverged at step" in result.stderr and "layer 3 (head)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    doc = json.loads(result.stdout)
    assert doc["divergence"]["step"] == doc["divergence"]["epoch"] == len(doc["epochs"]) + 1


def test_json_contract_and_several_activations(cli, blobs):
    result = cli("train", "--data", blobs, "--act", "sigmoid,relu", *SMALL, "-f", "json")
    assert result.exit_code == 0, result.stderr
    docs = json.loads(result.stdout)
    assert [d["config"]["activation"] for d in docs] == ["sigmoid", "relu"]
    for doc in docs:
        assert {"config", "epochs", "learning_speed_ratio", "verdict", "final"} <= set(doc)
        epoch = doc["epochs"][0]
        assert {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "layers"} <= set(epoch)
        assert [layer["layer"] for layer in epoch["layers"]] == [1, 2, 3]
        assert set(epoch["layers"][0]) >= {"layer", "name", "weight_grad_norm", "update_ratio", "dead_frac",
                                           "act_std"}
        assert set(doc["final"]) >= {"train_accuracy", "test_accuracy"}
        assert doc["config"]["seed"] == 1 and doc["data"]["standardized"] is True


def test_csv_and_plain_are_one_row_per_epoch_and_layer(cli, blobs, tmp_path):
    result = cli("train", "--data", blobs, *SMALL, "-f", "csv")
    assert result.exit_code == 0
    rows = result.stdout.strip().splitlines()
    assert rows[0].startswith("run,epoch,train_loss") and len(rows) == 1 + 2 * 3
    svg = tmp_path / "t.svg"
    plain = cli("train", "--data", blobs, *SMALL, "-f", "table", "--svg", str(svg))
    assert plain.exit_code == 0 and "update ratio" in plain.stdout
    assert any(words in plain.stdout for words in ("every layer learns", "barely train", "learned next to nothing"))
    assert svg.read_text().count("<svg") == 1 + 3  # the loss and accuracy curves and one heat map
