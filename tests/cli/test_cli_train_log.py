"""`dlcli train --log`: the run store a user's dlcli.watch run writes, checked against train's own figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import one_line_error

pytest.importorskip("torch")
from dlcli.runs.run import load_run  # noqa: E402


@pytest.fixture
def blobs(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    x = rng.standard_normal((60, 4)) + y[:, None]
    path = tmp_path / "blobs.npz"
    np.savez(path, x=x, y=y)
    return str(path)


def test_train_log_writes_a_store_train_agrees_with(cli, blobs, tmp_path):
    store = str(tmp_path / "train.db")
    result = cli("train", "--data", blobs, "--depth", "2", "--width", "8", "--epochs", "3", "--batch", "16",
                 "--seed", "1", "--log", store, "--log-every", "2", "--format", "json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    run = load_run(store)
    steps_per_epoch = 3  # 48 training examples in batches of 16
    assert run.status == "finished"
    assert run.steps.tolist() == list(range(1, 10, 2))
    assert [m.name for m in run.modules] == ["0", "2", "4"]
    loss_steps, losses = run.scalars["loss"]
    assert loss_steps.tolist() == list(range(1, 10))
    for e, epoch in enumerate(out["epochs"]):  # train's own mean loss per epoch, from the same steps
        mean = float(np.mean(losses[e * steps_per_epoch:(e + 1) * steps_per_epoch]))
        assert mean == pytest.approx(epoch["train_loss"], rel=1e-12)
    assert run.config["command"] == "dlcli train" and run.config["train"]["seed"] == 1


def test_train_log_refuses_an_existing_file_and_several_runs(cli, blobs, tmp_path):
    taken = tmp_path / "taken.db"
    taken.write_text("keep me")
    one_line_error(cli("train", "--data", blobs, "--log", str(taken)), "already exists")
    assert taken.read_text() == "keep me"
    one_line_error(cli("train", "--data", blobs, "--act", "relu,tanh", "--log", str(tmp_path / "n.db")),
                   "--log records one run")
    one_line_error(cli("train", "--data", blobs, "--log-every", "5"), "--log-every goes with --log")
    one_line_error(cli("train", "--data", blobs, "--log", str(tmp_path)), "is a directory")
