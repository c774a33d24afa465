"""`dlcli diff --model NET --weights A --weights B`: every layer's relative weight change and its weight gradient
under each checkpoint on the same batch, against the same numbers computed here with plain torch (autograd)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import one_line_error

torch = pytest.importorskip("torch")

NET = '''
import torch


class Net(torch.nn.Module):
    def __init__(self, hidden=5):
        super().__init__()
        self.fc1 = torch.nn.Linear(6, hidden)
        self.fc2 = torch.nn.Linear(hidden, hidden)
        self.fc3 = torch.nn.Linear(hidden, 3)

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))
'''
LAYERS = ("fc1", "fc2", "fc3")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The model's file, checkpoints A and B (fc2 moved most, fc1 a little, fc3 not at all) and a batch."""
    folder = tmp_path_factory.mktemp("diff_weights")
    (folder / "net.py").write_text(NET)
    namespace: dict = {}
    exec(NET, namespace)
    torch.manual_seed(3)
    a = namespace["Net"](hidden=8).double()
    b = namespace["Net"](hidden=8).double()
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        b.fc2.weight.add_(0.5 * torch.randn_like(b.fc2.weight))
        b.fc1.weight.mul_(1.01)
        b.fc1.bias.add_(1.0)          # a bias is not a weight: it moves the gradients, not the weight change
    torch.save(a.state_dict(), folder / "a.pt")
    torch.save(b.state_dict(), folder / "b.pt")
    rng = np.random.default_rng(0)
    np.savez(folder / "data.npz", x=rng.standard_normal((20, 6)), y=rng.integers(0, 3, 20))
    return {"folder": folder, "net": namespace["Net"], "a": a, "b": b}


def reference(files) -> dict[str, dict[str, float]]:
    """Plain torch: ‖W_B − W_A‖/‖W_A‖, and ‖∂L/∂W‖ of each checkpoint by autograd on the same 20 examples."""
    data = np.load(files["folder"] / "data.npz")
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    out: dict[str, dict[str, float]] = {name: {} for name in LAYERS}
    for who in ("a", "b"):
        model = files[who]
        loss = torch.nn.functional.cross_entropy(model(x), y)
        weights = [getattr(model, name).weight for name in LAYERS]
        for name, g in zip(LAYERS, torch.autograd.grad(loss, weights), strict=True):
            out[name][f"grad_norm_{who}"] = float(g.norm())
    for name in LAYERS:
        wa, wb = getattr(files["a"], name).weight.detach(), getattr(files["b"], name).weight.detach()
        out[name]["weight_change"] = float((wb - wa).norm() / wa.norm())
    return out


def run(cli, files, *extra):
    f = files["folder"]
    return cli("diff", "--model", f"{f / 'net.py'}:Net", "--model-arg", "hidden=8", "--weights", str(f / "a.pt"),
               "--weights", str(f / "b.pt"), "--data", str(f / "data.npz"), "--no-standardize", "--batch", "20",
               "--loss", "cross_entropy", "--dtype", "float64", "--seed", "0", *extra)  # x as the reference reads it


def test_weight_change_and_gradients_match_plain_torch(cli, files):
    result = run(cli, files, "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    expected = reference(files)
    got = {x["name"]: x for x in doc["layers"]}
    assert set(got) == set(LAYERS)
    for name in LAYERS:
        for key, value in expected[name].items():
            assert got[name][key] == pytest.approx(value, rel=1e-10, abs=1e-300), (name, key)
        ratio = expected[name]["grad_norm_b"] / expected[name]["grad_norm_a"]
        assert got[name]["grad_ratio"] == pytest.approx(ratio, rel=1e-10)
    assert got["fc3"]["weight_change"] == 0.0
    ranked = [x["name"] for x in doc["layers"]]
    assert ranked[0] == "fc2" and doc["layers"][0]["metric"] == "weight_change"
    assert doc["layers"][0]["score"] == pytest.approx(math.log10(1 + expected["fc2"]["weight_change"]), rel=1e-12)
    assert [x["score"] for x in doc["layers"]] == sorted((x["score"] for x in doc["layers"]), reverse=True)


def test_a_checkpoint_against_itself_is_empty(cli, files):
    f = files["folder"]
    result = cli("diff", "--model", f"{f / 'net.py'}:Net", "--model-arg", "hidden=8", "--weights", str(f / "a.pt"),
                 "--weights", str(f / "a.pt"), "--seed", "1", "-f", "json")
    doc = json.loads(result.stdout)
    assert doc["differing"] == 0 and all(x["score"] == 0 and x["weight_change"] == 0 for x in doc["layers"])


def test_table_plain_and_csv(cli, files):
    plain = run(cli, files, "-f", "plain")
    assert plain.exit_code == 0 and "\n1\tfc2\t" in plain.stdout
    rows = run(cli, files, "-f", "csv").stdout.splitlines()
    assert rows[0].startswith("rank,name,type,score,metric,weight_change") and len(rows) == 4


def test_a_checkpoint_of_another_model_is_one_line_and_exit_2(cli, files, tmp_path):
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "other.pt")
    f = files["folder"]
    one_line_error(cli("diff", "--model", f"{f / 'net.py'}:Net", "--model-arg", "hidden=8", "--weights",
                       str(f / "a.pt"), "--weights", str(tmp_path / "other.pt")), "other.pt: does not fit the model")
