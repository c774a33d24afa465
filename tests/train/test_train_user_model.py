"""train --model on outputs and batches a user's model brings: a dict of outputs trains as a plain loop on its
logits does; batch norm and dropout are not touched by the check pass before training; words in the right number."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_thread")
pytest.importorskip("sklearn")

from dlcli.data.datasets import load_dataset  # noqa: E402
from dlcli.errors import InputError  # noqa: E402
from dlcli.train.config import make_train_config  # noqa: E402
from dlcli.train.run import train  # noqa: E402
from plain_loop import model_class, plain_sgd  # noqa: E402

SOURCE = '''
import torch
from torch import nn

class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 24)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(24, 10)

    def forward(self, x):
        return self.head(self.drop(torch.tanh(self.fc(x))))

class Outputs(Plain):
    def forward(self, x):
        logits = super().forward(x)
        return {"logits": logits, "hidden": torch.tanh(self.fc(x))}

class Normed(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 16)
        self.bn = nn.BatchNorm1d(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.bn(self.fc(x)).relu())
'''


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "outputs.py"
    path.write_text(SOURCE)
    return path


def test_a_dict_output_trains_as_a_plain_loop_on_its_logits(source):
    """Outputs returns {'logits', 'hidden'}; the plain loop trains Plain (the same weights, the same dropout draws)
    on its logits: every epoch's mean step loss and every weight's move agree. (The check pass before training
    runs in eval mode: it draws no dropout mask, or the plain loop's masks would differ.)"""
    digits = load_dataset("digits")
    config = make_train_config(None, model=f"{source}:Outputs", epochs=2, batch=128, lr=0.1, seed=0)
    result = train(config, digits)
    reference = plain_sgd(result.config, digits, model_class(source, "Plain"))
    for ours, plain in zip(result.epochs, reference, strict=True):
        assert ours.train_loss == pytest.approx(plain["train_loss"], rel=1e-9)
        got = {layer.name: layer.update_norm for layer in ours.layers}
        assert got["fc"] == pytest.approx(plain["moved"]["fc.weight"], rel=1e-9)
        assert got["head"] == pytest.approx(plain["moved"]["head.weight"], rel=1e-9)


def test_the_check_pass_moves_no_running_statistics(source):
    """Batch norm's running statistics after training are the plain loop's: the two-example pass that checks
    the output's shape ran in eval mode (in training mode it would have moved them once more)."""
    digits = load_dataset("digits")
    config = make_train_config(None, model=f"{source}:Normed", epochs=1, batch=256, lr=0.1, seed=0)
    from dlcli.train import run as train_run

    built = []
    original = train_run.build_network

    def keep(*args, **kwargs):
        net = original(*args, **kwargs)
        built.append(net.model)
        return net

    train_run.build_network = keep
    try:
        train(config, digits)
    finally:
        train_run.build_network = original
    torch.manual_seed(0)
    plain = model_class(source, "Normed")().to(torch.float64)
    from dlcli.train.split import batch_order, prepare

    data = prepare(digits.x, digits.y, digits.x_test, digits.y_test, test_split=0.2, standardize_inputs=True, seed=0)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    optimizer = torch.optim.SGD(plain.parameters(), lr=0.1)
    plain.train()
    for idx in torch.from_numpy(batch_order(0, 1, len(y))).split(256):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(plain(x[idx]), y[idx]).backward()
        optimizer.step()
    ours = built[0].bn
    assert int(ours.num_batches_tracked) == int(plain.bn.num_batches_tracked)
    torch.testing.assert_close(ours.running_mean, plain.bn.running_mean, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(ours.running_var, plain.bn.running_var, rtol=1e-9, atol=1e-12)


def test_a_last_minibatch_of_one_with_batch_norm_is_refused_before_training(source):
    digits = load_dataset("digits")  # 1438 training examples in the seeded 0.2 split: --batch 479 leaves 1
    config = make_train_config(None, model=f"{source}:Normed", epochs=1, batch=479, seed=0)
    with pytest.raises(InputError, match=r"--batch 479 leaves one example in the last minibatch") as info:
        train(config, digits)
    assert "\n" not in str(info.value) and "e.g. 478" in str(info.value)


def test_one_epoch_is_one_epoch_in_the_words():
    digits = load_dataset("digits")
    result = train(make_train_config("relu", depth=2, width=16, epochs=1, batch=256, seed=0), digits)
    assert any(w.startswith("After 1 epoch test accuracy") for w in result.explanation), result.explanation
