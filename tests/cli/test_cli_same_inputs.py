"""One preprocessing rule: `vanish --model --data digits` feeds the inputs `train` feeds (x standardised by the
statistics of train's training examples for the same seed), checked on what the model itself receives."""

from __future__ import annotations

import numpy as np
import pytest

RECORDER = '''
import itertools

import numpy as np
from torch import nn

CALLS = itertools.count()


class Recorder(nn.Module):
    """Saves every input it is called with (float64) as FOLDER/call<k>.npy."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder
        self.fc = nn.Linear(64, 10)
        self.double()  # vanish feeds the model's own dtype, train float64: both float64 here

    def forward(self, x):
        np.save(f"{self.folder}/call{next(CALLS)}.npy", x.detach().double().numpy())
        return self.fc(x)
'''


def calls(folder, rows):
    found = [np.load(p) for p in sorted(folder.glob("call*.npy"))]
    return [a for a in found if len(a) == rows]


def test_vanish_and_train_feed_the_same_standardised_digits(cli, tmp_path):
    pytest.importorskip("torch")
    datasets = pytest.importorskip("sklearn.datasets")
    raw = datasets.load_digits().data
    source = tmp_path / "recorder_model.py"
    source.write_text(RECORDER)
    seen_by = {}
    for command, extra in (("vanish", ["--batch", "1797"]), ("train", ["--batch", "full", "--epochs", "1"])):
        folder = tmp_path / command
        folder.mkdir()
        result = cli(command, "--model", f"{source}:Recorder", "--model-arg", f"folder={str(folder)!r}", "--data",
                     "digits", "--seed", "5", "-f", "json", *extra)
        assert result.exit_code == 0, result.output
        seen_by[command] = folder
    v = calls(seen_by["vanish"], 1797)[0]          # every example, in the file's order
    t = calls(seen_by["train"], 1438)[0]           # train's training split (80% of each class), one full batch
    live = raw.std(axis=0) > 0
    # train: each varying feature has mean 0 and std 1 over the training examples
    np.testing.assert_allclose(t[:, live].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(t[:, live].std(axis=0), 1, rtol=1e-12)
    assert not np.allclose(v, raw)  # vanish no longer feeds raw pixels 0-16
    # vanish applied one affine map per feature to the raw pixels; undone on train's inputs it gives whole
    # pixel values back: the same map (the training examples' mean and std), so the same input statistics
    scale = raw[:, live].std(axis=0) / v[:, live].std(axis=0)
    shift = raw[:, live].mean(axis=0) - scale * v[:, live].mean(axis=0)
    np.testing.assert_allclose(v[:, live] * scale + shift, raw[:, live], atol=1e-9)
    back = t[:, live] * scale + shift
    np.testing.assert_allclose(back, np.round(back), atol=1e-9)
    assert back.min() > -1e-9 and back.max() < 16 + 1e-9
    np.testing.assert_allclose(v[:, ~live], 0, atol=1e-12)  # constant features: centred, as train's
    np.testing.assert_allclose(t[:, ~live], 0, atol=1e-12)


def test_no_standardize_feeds_the_raw_pixels(cli, tmp_path):
    pytest.importorskip("torch")
    datasets = pytest.importorskip("sklearn.datasets")
    source = tmp_path / "recorder_raw.py"
    source.write_text(RECORDER)
    result = cli("vanish", "--model", f"{source}:Recorder", "--model-arg", f"folder={str(tmp_path)!r}", "--data",
                 "digits", "--batch", "50", "--seed", "5", "--no-standardize", "-f", "json")
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(calls(tmp_path, 50)[0], datasets.load_digits().data[:50])


def test_no_standardize_without_a_model_is_one_line(cli):
    result = cli("vanish", "--no-standardize")
    assert result.exit_code == 2 and "--standardize/--no-standardize needs --model" in result.stderr
