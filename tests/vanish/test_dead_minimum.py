"""Dead units need enough examples: below MIN_DEAD_EXAMPLES no unit is called dead (a live relu unit is 0 on all
of n examples with probability 2^−n), and the output says why; from it on, the share is counted as before."""

from __future__ import annotations

import json

import numpy as np
import pytest

MIN_DEAD_EXAMPLES = 8  # dlcli.vanish.statistics.MIN_DEAD_EXAMPLES (checked below): a live unit looks dead w.p. 2^−8

MLP = '''
from torch import nn


def Net():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
'''


def test_vanish_model_in_eval_mode_with_one_example_calls_no_unit_dead(cli, tmp_path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from dlcli.vanish import statistics

    assert statistics.MIN_DEAD_EXAMPLES == MIN_DEAD_EXAMPLES
    path = tmp_path / "mlp_net.py"
    path.write_text(MLP)
    args = ("vanish", "--model", f"{path}:Net", "--data", "digits", "--eval-mode", "--seed", "0", "-f", "json")
    one = json.loads(cli(*args, "--batch", "1").stdout)
    # the fact the old report misread: on one example about half of a live relu layer's units are 0
    torch.manual_seed(0)
    from sklearn.datasets import load_digits

    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU())
    zeros = float((net(torch.tensor(load_digits().data[:1], dtype=torch.float32)) == 0).float().mean())
    assert zeros > 0.2
    assert all(row["dead_frac"] is None for row in one["layers"])
    assert f"Dead units need ≥ {MIN_DEAD_EXAMPLES} examples; got 1 (--batch)" in " ".join(one["findings"])
    assert not any(a["kind"] == "dead" for a in one["alarms"])
    many = json.loads(cli(*args, "--batch", "64").stdout)
    assert all(row["dead_frac"] is not None for row in many["layers"] if row["activation"] == "relu")
    assert "Dead units need" not in " ".join(many["findings"])


def test_built_stacks_below_the_minimum_batch_give_no_dead_share(cli) -> None:
    result = cli("vanish", "--act", "relu", "--depth", "3", "--width", "32", "--batch", str(MIN_DEAD_EXAMPLES - 1),
                 "--seed", "0", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert all(layer["dead_frac"] is None for layer in doc["layers"])
    assert any(f"got {MIN_DEAD_EXAMPLES - 1} (--batch)" in line for line in doc["explanation"])
    table = cli("vanish", "--act", "relu", "--depth", "3", "--width", "32", "--batch", "1", "--seed", "0",
                "--no-chart", "-f", "table")
    assert table.exit_code == 0 and "nan%" not in table.stdout


def test_train_with_few_test_examples_gives_no_dead_share(cli, tmp_path) -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 20)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=rng.standard_normal((20, 4)) + y[:, None], y=y)
    result = cli("train", "--data", str(path), "--depth", "2", "--width", "8", "--epochs", "2", "--seed", "1",
                 "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["data"]["test"] < MIN_DEAD_EXAMPLES
    assert all(layer["dead_frac"] is None for e in doc["epochs"] for layer in e["layers"])
    assert any("Dead units need" in line for line in doc["explanation"])
