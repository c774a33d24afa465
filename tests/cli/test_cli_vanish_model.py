"""`dlcli vanish --model`: agreement with the built stacks on the same weights, formats, and every bad input."""

from __future__ import annotations

import json
import textwrap

import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT, one_line_error  # noqa: E402

EXAMPLES = ROOT / "examples" / "notes_models.py"
BATCH = "8"
SEED = "5"

USER = '''
import torch
from torch import nn

# The notes' network with the built stacks' activation after the top layer too.
notes_top = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10), nn.ReLU())

class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 2)
    def forward(self, x):
        return {"first": self.a(x), "second": self.b(x)}

class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 2, 3)
    def forward(self, x):
        return self.c(x)

def broken():
    raise ValueError("width must be even")

NUMBER = 3

# a million units after 4 inputs: 4 MB of activations an example
wide = nn.Sequential(nn.Linear(4, 1_000_000), nn.ReLU(), nn.Linear(1_000_000, 1))
'''


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from dlcli.vanish.config import make_config
    from dlcli.vanish.weights import layer_weights

    d = tmp_path_factory.mktemp("model")
    (d / "user.py").write_text(textwrap.dedent(USER))
    config = make_config("relu", layers=[784, 128, 10], engine="torch", dtype="float64", seed=int(SEED),
                         batch=int(BATCH))
    state = {}
    for layer, key in ((1, "0"), (2, "2")):
        w, b = layer_weights(config, layer)
        state[f"{key}.weight"], state[f"{key}.bias"] = torch.from_numpy(w), torch.from_numpy(b)
    torch.save({"model_state_dict": state, "epoch": 1}, d / "stack.pt")
    return d


def test_notes_network_agrees_with_the_built_stack_on_the_same_weights(cli, files):
    built = cli("vanish", "--layers", "784,128,10", "--act", "relu", "--engine", "torch", "--dtype", "float64",
                "--seed", SEED, "--batch", BATCH, "--format", "json")
    assert built.exit_code == 0, built.stderr
    mine = cli("vanish", "--model", f"{files}/user.py:notes_top", "--weights", f"{files}/stack.pt", "--dtype",
               "float64", "--seed", SEED, "--batch", BATCH, "--format", "json")
    assert mine.exit_code == 0, mine.stderr
    b, m = json.loads(built.stdout), json.loads(mine.stdout)
    assert [row["name"] for row in m["layers"]] == ["0", "2"]
    keys = ["weight_grad_norm", "grad_rms", "act_mean", "act_std", "saturated_frac", "dead_frac", "width"]
    for rb, rm in zip(b["layers"], m["layers"], strict=True):
        for k in keys:
            assert rm[k] == pytest.approx(rb[k], rel=1e-12, abs=1e-300), k
    assert m["gradient_ratio"] == pytest.approx(b["gradient_ratio"], rel=1e-12)
    assert m["verdict"] == b["verdict"]
    assert m["config"]["loss"] == "projection" and m["config"]["mode"] == "train"
    # the notes' own Sequential (no activation on top): the same forward pass, so layer 1's forward rows agree
    notes = cli("vanish", "--model", f"{EXAMPLES}:sequential", "--weights", f"{files}/stack.pt", "--dtype", "float64",
                "--seed", SEED, "--batch", BATCH, "--format", "json")
    n = json.loads(notes.stdout)["layers"][0]
    for k in ("act_mean", "act_std", "saturated_frac", "dead_frac"):
        assert n[k] == pytest.approx(b["layers"][0][k], rel=1e-12), k


def test_the_notes_ann_and_formats(cli):
    out = cli("vanish", "--model", f"{EXAMPLES}:ANN", "--batch", "4", "--seed", "1", "--format", "json")
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [r["name"] for r in doc["layers"]] == ["layer1", "layer3"]
    assert {"name", "type", "weight_norm", "weight_grad_norm", "grad_rms", "act_mean", "act_std", "saturated_frac",
            "dead_frac"} <= set(doc["layers"][0])
    assert doc["config"]["input_shape"] == [784] and doc["verdict"] in ("healthy", "vanishing", "exploding")
    csv_run = cli("vanish", "--model", f"{EXAMPLES}:ANN", "--batch", "4", "--seed", "1", "--format", "csv")
    assert csv_run.stdout.splitlines()[0].startswith("layer,name,type,width,weight_grad_norm")
    assert "seed: 1" in csv_run.stderr
    plain = cli("vanish", "--model", f"{EXAMPLES}:ANN", "--batch", "4", "--seed", "1", "--format", "plain")
    assert plain.stdout.splitlines()[1].startswith("1\tlayer1\tLinear\t128\t")
    table = cli("vanish", "--model", f"{EXAMPLES}:ANN", "--batch", "4", "--seed", "1", "--format", "table")
    assert "layer1 Linear→relu" in table.stdout and "HEALTHY" in table.stdout or "VANISHING" in table.stdout


def test_labelled_data_through_the_sigmoid_cnn_suggests_and_checks_a_fix(cli, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.uniform(0, 16, (20, 64)), y=rng.integers(0, 10, 20))
    out = cli("vanish", "--model", f"{EXAMPLES}:SigmoidCNN", "--model-arg", "channels=4",
              "--data", f"{tmp_path}/d.npz", "--input-shape", "1,8,8", "--batch", "16", "--seed", "0",
              "--format", "json")
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["config"]["loss"] == "cross_entropy" and doc["config"]["input_shape"] == [1, 8, 8]
    assert len(doc["layers"]) == 9 and doc["verdict"] == "vanishing" and doc["checks"][0]["init"] == "normal"
    assert doc["checks"][0]["helped"] and any(a.startswith("To try: --init normal") for a in doc["advice"])


def test_bad_models(cli, files, tmp_path):
    one_line_error(cli("vanish", "--model", f"{tmp_path}/none.py:Net"), "model file not found")
    one_line_error(cli("vanish", "--model", f"{files}/user.py:Nope"), "no 'Nope'", "it defines: Conv, Pair, broken")
    one_line_error(cli("vanish", "--model", f"{files}/user.py:NUMBER"), "is an int, not an nn.Module")
    one_line_error(cli("vanish", "--model", f"{files}/user.py:broken"), "ValueError: width must be even",
                   "user.py:")
    one_line_error(cli("vanish", "--model", f"{files}/user.py:Conv"), "give --input-shape", "c (Conv2d)")


def test_bad_inputs_and_outputs(cli, files):
    one_line_error(cli("vanish", "--model", f"{EXAMPLES}:ANN", "--input-shape", "100"),
                   "layer1 (Linear) got (64, 100)", "RuntimeError")
    one_line_error(cli("vanish", "--model", f"{files}/user.py:Pair", "--output", "third"),
                   "has keys: first, second")
    ok = cli("vanish", "--model", f"{files}/user.py:Pair", "--format", "json", "--seed", "0")
    assert json.loads(ok.stdout)["config"]["output"].startswith("'first', the first tensor")
    one_line_error(cli("vanish", "--model", f"{EXAMPLES}:ANN", "--loss", "cross_entropy"), "integer class labels")
    one_line_error(cli("vanish", "--model", f"{EXAMPLES}:ANN", "--depth", "3"), "--depth")
    one_line_error(cli("vanish", "--weights", "x.pt"), "--weights needs --model")
    one_line_error(cli("vanish", "--model", f"{EXAMPLES}:ANN", "--init", "lecun"), "unknown --init 'lecun'")


def test_bad_checkpoints(cli, files, tmp_path):
    one_line_error(cli("vanish", "--model", f"{EXAMPLES}:ANN", "--weights", f"{files}/stack.pt"),
                   "missing 4 keys: layer1.weight, layer1.bias, layer3.weight", "unexpected 4 keys: 0.weight")

    class Evil:
        def __reduce__(self):
            import os
            return (os.makedirs, (str(tmp_path / "ran"),))

    torch.save({"state_dict": {"layer1.weight": Evil()}}, tmp_path / "evil.pt")
    one_line_error(cli("vanish", "--model", f"{EXAMPLES}:ANN", "--weights", f"{tmp_path}/evil.pt"), "refused")
    assert not (tmp_path / "ran").exists()


def test_a_batch_too_big_for_memory_is_refused_before_it_runs(cli, files, monkeypatch):
    """The activations are estimated from probe passes of one and two examples, scaled to the batch."""
    from torch import nn

    from dlcli import memory
    from dlcli.vanish.memory import estimate_module_bytes

    model = nn.Sequential(nn.Linear(4, 1000), nn.ReLU(), nn.Linear(1000, 1)).double()
    # distinct tensors per example, 8 bytes an entry: the input, the Linear's output, the ReLU's (saved for the
    # backward pass, and the next Linear's saved input) and the last Linear's (also the Sequential's), counted
    # 2.5 times, and the largest (1000 entries) twice more
    kept, largest = 8 * (4 + 1000 + 1000 + 1), 8 * 1000
    params = sum(p.numel() for p in model.parameters()) * 8
    assert estimate_module_bytes(torch, model, torch.zeros(2, 4, dtype=torch.float64), 500) == \
        int(2.5 * kept * 500 + 2 * largest * 500 + 2 * params)
    monkeypatch.setattr(memory, "available_bytes", lambda: 4 << 30)
    one_line_error(cli("vanish", "--model", f"{files}/user.py:wide", "--batch", "2000", "--seed", "0"),
                   "needs about", "lower --batch")
    one_line_error(cli("vanish", "--model", f"{EXAMPLES}:ANN", "--batch", "100000000", "--seed", "0"),
                   "needs about", "lower --batch")


def test_help_says_loading_runs_code(cli):
    out = cli("vanish", "--help")
    assert "RUNS ITS CODE" in " ".join(out.stdout.split())
