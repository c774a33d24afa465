"""analyse_module against plain torch scripts written here: p.grad norms, retained output gradients, activations."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from dlcli.probe import analyse_module  # noqa: E402
from dlcli.probe.inputs import reinitialise, standard_inputs  # noqa: E402

RTOL = 1e-9  # float64, the same operations in another order at most


def projection(out, seed):
    """The documented projection loss: Σ v·out, v ~ N(0, 1) from SeedSequence(seed, spawn_key=(1, 0))."""
    v = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, 0))).standard_normal(tuple(out.shape[1:]))
    return (out * torch.from_numpy(v)).sum()


def rms(t):
    return float(t.pow(2).mean().sqrt())


def rows(result):
    return {r.name: r for r in result.layers}


def hooked_reference(model, x, loss_fn):
    """p.grad norms and ∂loss/∂output (retain_grad in forward hooks) by a plain backward()."""
    outs = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(getattr(m, "weight", None), torch.Tensor):
            def hook(mod, args, out, name=name):
                if name not in outs and out.requires_grad:
                    out.retain_grad()
                    outs[name] = out
            handles.append(m.register_forward_hook(hook))
    model.zero_grad()
    loss_fn(model(x)).backward()
    for h in handles:
        h.remove()
    grads = {n: (None if m.weight.grad is None else float(m.weight.grad.norm())) for n, m in model.named_modules()
             if isinstance(getattr(m, "weight", None), torch.Tensor)}
    return grads, {n: rms(o.grad) for n, o in outs.items()}


def test_mlp_against_a_plain_script():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(inplace=True), nn.Linear(8, 3)).double()
    x = torch.from_numpy(standard_inputs(3, 16, (6,)))
    r = analyse_module(model, x, seed=3, check_advice=False)
    assert [s.name for s in r.layers] == ["0", "2", "4"] and r.config.loss == "projection"
    # the script: the same network written out, each pre-activation's gradient retained
    l1, l2, l3 = model[0], model[2], model[4]
    model.zero_grad()
    z1 = l1(x)
    z1.retain_grad()
    a1 = torch.tanh(z1)
    z2 = l2(a1)
    z2.retain_grad()
    a2 = torch.relu(z2)
    z3 = l3(a2)
    z3.retain_grad()
    projection(z3, 3).backward()
    a1, a2 = a1.detach(), a2.detach()
    got = rows(r)
    for name, lin, z in (("0", l1, z1), ("2", l2, z2), ("4", l3, z3)):
        assert got[name].weight_grad_norm == pytest.approx(float(lin.weight.grad.norm()), rel=RTOL)
        assert got[name].grad_rms == pytest.approx(rms(z.grad), rel=RTOL)
        assert got[name].weight_norm == pytest.approx(float(lin.weight.detach().norm()), rel=RTOL)
    assert got["0"].activation == "tanh" and got["2"].activation == "relu" and got["4"].activation is None
    assert got["0"].act_mean == pytest.approx(float(a1.mean()), rel=RTOL)
    assert got["0"].act_std == pytest.approx(float(a1.std(correction=0)), rel=RTOL)
    assert got["2"].act_std == pytest.approx(float(a2.std(correction=0)), rel=RTOL)
    slope1 = 1 - a1.detach() ** 2
    assert got["0"].saturated_frac == float((slope1 < 0.01).double().mean())
    assert got["2"].dead_frac == float((z2.detach() <= 0).all(dim=0).double().mean())
    assert got["4"].act_mean == pytest.approx(float(z3.detach().mean()), rel=RTOL)  # no activation: the output itself
    # like with like: the first layer against the last of the same output size (8 wide), not the 3-wide head
    assert r.ratio_between == ("0", "2")
    assert r.gradient_ratio == pytest.approx(float(l1.weight.grad.norm() / l2.weight.grad.norm()), rel=RTOL)


def test_mean_field_factor_is_the_formula_on_the_actual_weights():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(50, 60), nn.Tanh(), nn.Linear(60, 40), nn.Tanh(), nn.Linear(40, 5)).double()
    x = torch.from_numpy(standard_inputs(0, 64, (50,)))
    r = analyse_module(model, x, seed=0, check_advice=False)
    t = rows(r)["0"].theory
    assert t.applies and t.next == "2"
    w = model[2].weight.detach()
    z = model[0](x).detach()
    q = float((z * z).mean())
    # E[tanh'(√q Z)²] by Gauss–Hermite quadrature (probabilists'), independent of the mean-field grid
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    e = float(weights @ (1 / np.cosh(math.sqrt(q) * nodes)) ** 4 / math.sqrt(2 * math.pi))
    assert t.q == pytest.approx(q, rel=RTOL) and t.e_dphi2_predicted == pytest.approx(e, rel=1e-6)
    assert t.sigma_w2 == pytest.approx(60 * float(w.var(correction=0)), rel=RTOL)
    assert t.predicted_factor == pytest.approx(math.sqrt(float(w.var(correction=0)) * 40 * e), rel=1e-6)
    assert t.measured_factor == pytest.approx(rows(r)["0"].grad_rms / rows(r)["2"].grad_rms, rel=RTOL)
    assert not rows(r)["4"].theory.applies and "top layer" in rows(r)["4"].theory.reason


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv1(x))))
        x = torch.sigmoid(self.conv2(x))
        return self.fc(x.flatten(1))


def test_cnn_with_batch_norm_and_pooling_against_a_plain_script():
    torch.manual_seed(2)
    model = SmallCNN().double()
    x = torch.randn(8, 2, 8, 8, dtype=torch.float64)  # dead units are counted from 8 examples on
    y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    r = analyse_module(model, x, y, seed=0, check_advice=False)
    assert r.config.loss == "cross_entropy" and r.config.mode == "train"
    assert [s.name for s in r.layers] == ["conv1", "bn", "conv2", "fc"]
    model.zero_grad()
    z1 = model.conv1(x)
    z2 = model.bn(z1)
    z3 = model.conv2(model.pool(torch.relu(z2)))
    z4 = model.fc(torch.sigmoid(z3).flatten(1))
    for z in (z1, z2, z3, z4):
        z.retain_grad()
    torch.nn.functional.cross_entropy(z4, y).backward()
    got = rows(r)
    for name, z in (("conv1", z1), ("bn", z2), ("conv2", z3), ("fc", z4)):
        m = getattr(model, name)
        assert got[name].weight_grad_norm == pytest.approx(float(m.weight.grad.norm()), rel=RTOL)
        assert got[name].grad_rms == pytest.approx(rms(z.grad), rel=RTOL)
    assert got["conv1"].width == 4 and got["fc"].width == 5
    # torch.relu / torch.sigmoid are functional calls, read from the autograd graph: the tensors they received
    a2, a3 = torch.relu(z2).detach(), torch.sigmoid(z3).detach()
    assert got["bn"].activation == "relu" and got["conv2"].activation == "sigmoid"
    assert got["bn"].act_std == pytest.approx(float(a2.std(correction=0)), rel=RTOL)
    assert got["bn"].act_mean == pytest.approx(float(a2.mean()), rel=RTOL)
    assert got["bn"].dead_frac == float((z2.detach() <= 0).permute(1, 0, 2, 3).flatten(1).all(dim=1).double().mean())
    slope3 = a3 * (1 - a3)
    assert got["conv2"].saturated_frac == float((slope3 < 0.01 * 0.25).double().mean())
    assert got["conv2"].act_std == pytest.approx(float(a3.std(correction=0)), rel=RTOL)
    assert "normalisation" in got["bn"].theory.reason
    assert any("functional calls" in n for n in r.notes)


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(5, 6)
        self.blocks = nn.Sequential(Block(6), Block(6))
        self.norm = nn.LayerNorm(6)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.norm(self.blocks(self.stem(x))))


def test_residual_network_of_own_blocks_against_hooked_backward():
    torch.manual_seed(3)
    model = ResNet().double()
    x = torch.randn(7, 5, dtype=torch.float64)
    t = torch.randn(7, 2, dtype=torch.float64)
    r = analyse_module(model, x, t, seed=0, check_advice=False)
    assert r.config.loss == "mse"
    names = [s.name for s in r.layers]
    assert names == ["stem", "blocks.0.fc1", "blocks.0.fc2", "blocks.1.fc1", "blocks.1.fc2", "norm", "head"]
    grads, out_rms = hooked_reference(model, x, lambda out: 0.5 * ((out - t) ** 2).sum())
    for s in r.layers:
        assert s.weight_grad_norm == pytest.approx(grads[s.name], rel=RTOL), s.name
        assert s.grad_rms == pytest.approx(out_rms[s.name], rel=RTOL), s.name
    got = rows(r)
    assert got["blocks.0.fc1"].activation == "relu" and got["blocks.0.fc1"].theory.applies
    assert not got["blocks.0.fc2"].theory.applies


class Partial(nn.Module):
    def __init__(self):
        super().__init__()
        self.frozen = nn.Linear(4, 4).requires_grad_(False)
        self.body = nn.Linear(4, 4)
        self.side = nn.Linear(4, 3)
        self.unused = nn.Linear(4, 4)
        self.top = nn.Linear(4, 3)

    def forward(self, x):
        h = torch.tanh(self.body(self.frozen(x)))
        with torch.no_grad():
            s = self.side(h)
        return self.top(h) + s


def test_frozen_unused_and_detached_weights():
    torch.manual_seed(4)
    model = Partial().double()
    x = torch.randn(5, 4, dtype=torch.float64)
    r = analyse_module(model, x, seed=1, check_advice=False)
    got = rows(r)
    assert [s.name for s in r.layers] == ["frozen", "body", "side", "top", "unused"]
    assert (got["frozen"].gradient, got["side"].gradient, got["unused"].gradient) == ("frozen", "detached", "unused")
    assert got["frozen"].weight_grad_norm is None and got["unused"].weight_grad_norm is None
    assert got["unused"].calls == 0 and got["unused"].act_mean is None
    grads, out_rms = hooked_reference(model, x, lambda out: projection(out, 1))
    assert grads["side"] is None and grads["frozen"] is None and grads["unused"] is None
    for name in ("body", "top"):
        assert got[name].weight_grad_norm == pytest.approx(grads[name], rel=RTOL)
        assert got[name].grad_rms == pytest.approx(out_rms[name], rel=RTOL)
    assert r.ratio_between == ("body", "top")
    text = " ".join(r.findings)
    assert "frozen (requires_grad is False)" in text and "unused" in text and "detached" in text


def test_factory_with_arguments(tmp_path):
    from dlcli.probe.loader import load_model

    f = tmp_path / "factory.py"
    f.write_text("from torch import nn\n"
                 "def make(depth, width=4, act='tanh'):\n"
                 "    acts = {'tanh': nn.Tanh, 'relu': nn.ReLU}\n"
                 "    layers = [nn.Linear(3, width), acts[act]()]\n"
                 "    for _ in range(depth - 1):\n"
                 "        layers += [nn.Linear(width, width), acts[act]()]\n"
                 "    return nn.Sequential(*layers, nn.Linear(width, 2))\n")
    torch.manual_seed(5)
    model = load_model(f"{f}:make", {"depth": 3, "width": 5, "act": "relu"}).double()
    x = torch.randn(9, 3, dtype=torch.float64)
    r = analyse_module(model, x, seed=2, check_advice=False)
    assert len(r.layers) == 4 and all(s.activation == "relu" for s in r.layers[:3])
    grads, out_rms = hooked_reference(model, x, lambda out: projection(out, 2))
    for s in r.layers:
        assert s.weight_grad_norm == pytest.approx(grads[s.name], rel=RTOL)
        assert s.grad_rms == pytest.approx(out_rms[s.name], rel=RTOL)


def test_dead_relu_units_and_nonfinite_gradients_are_found():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(3, 10), nn.ReLU(), nn.Linear(10, 2)).double()
    with torch.no_grad():
        model[0].bias[:4] = -100.0  # four units below zero for every input
    r = analyse_module(model, torch.randn(20, 3, dtype=torch.float64), seed=0, check_advice=False)
    assert rows(r)["0"].dead_frac == pytest.approx(0.4)
    assert any("Dead units" in f and "0 → relu 40% of 10" in f for f in r.findings)
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2)).double()
    with torch.no_grad():
        conv[0].bias[1] = -100.0  # channel 1 below zero at every position of every example
    r_conv = analyse_module(conv, torch.randn(8, 1, 6, 6, dtype=torch.float64), seed=0, check_advice=False)
    z = conv[0](torch.randn(8, 1, 6, 6, dtype=torch.float64))
    assert rows(r_conv)["0"].dead_frac == 0.25 and rows(r_conv)["0"].width == 4 and z.shape[1] == 4
    with torch.no_grad():
        model[2].weight[0, 0] = math.inf
    r = analyse_module(model, torch.randn(20, 3, dtype=torch.float64), seed=0, check_advice=False)
    assert any("NaN or inf first appears in the forward pass at 2" in f for f in r.findings)


def test_tuple_and_dict_outputs():
    from dlcli.errors import InputError

    class Two(nn.Module):
        def __init__(self, as_dict):
            super().__init__()
            self.a, self.b, self.as_dict = nn.Linear(3, 2), nn.Linear(3, 4), as_dict

        def forward(self, x):
            return {"aux": self.b(x), "logits": self.a(x)} if self.as_dict else ("skip", self.a(x), self.b(x))

    x = torch.randn(4, 3)
    r = analyse_module(Two(False), x, seed=0, check_advice=False)
    assert "item 1, the first tensor" in r.config.output and rows(r)["b"].gradient == "detached"
    r = analyse_module(Two(True), x, seed=0, output="logits", check_advice=False)
    assert r.config.output.startswith("'logits'") and rows(r)["b"].gradient == "detached"
    with pytest.raises(InputError, match="has keys: aux, logits"):
        analyse_module(Two(True), x, seed=0, output="nope", check_advice=False)


def test_advice_is_checked_by_rerunning_with_the_suggested_init():
    torch.manual_seed(7)
    layers = []
    for _ in range(6):
        layers += [nn.Linear(16, 16), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(16, 3)).double()
    x = torch.from_numpy(standard_inputs(0, 32, (16,)))
    r = analyse_module(model, x, seed=0)
    assert r.verdict == "vanishing" and r.checks
    check = r.checks[0]
    assert check.init == "normal" and check.gain == pytest.approx(10.149, rel=1e-3)  # sigmoid's critical gain
    # the check is the measurement of that re-initialised model: repeat it by hand
    again = __import__("copy").deepcopy(model)
    reinitialise(again, "normal", check.gain, 0)
    grads, _ = hooked_reference(again, x, lambda out: projection(out, 0))
    # compared like with like: the first and the last 16-wide layer (the 3-wide head has another size)
    assert r.ratio_between == ("0", "10")
    assert check.gradient_ratio == pytest.approx(grads["0"] / grads["10"], rel=RTOL)
    assert any(a.startswith("Checked: --init normal --gain 10.15") for a in r.advice)
    untimed = lambda checks: [{**c.as_dict(), "seconds": 0} for c in checks]  # noqa: E731
    assert all(c.seconds > 0 for c in r.checks)  # each re-run timed apart from the pass it checks
    assert untimed(analyse_module(model, x, seed=0).checks) == untimed(r.checks)  # same seed, same checks
    assert model[0].weight.detach().std() < 0.5  # the caller's model is left as it was


def test_reinitialise_draws_the_documented_distributions():
    model = nn.Sequential(nn.Linear(400, 300), nn.Conv2d(3, 200, 5)).double().requires_grad_(False)
    reinitialise(model, "kaiming", None, 0)
    assert float(model[0].weight.std()) == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert float(model[1].weight.std()) == pytest.approx(math.sqrt(2 / 75), rel=0.02)
    assert float(model[0].bias.abs().max()) == 0.0
    reinitialise(model, "orthogonal", 1.0, 0)
    w = model[0].weight.detach()
    assert torch.allclose(w @ w.T, torch.eye(300, dtype=torch.float64), atol=1e-12)
    reinitialise(model, "default", None, 0)
    assert float(model[0].weight.abs().max()) <= 1 / math.sqrt(400)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_cuda_agrees_with_the_cpu():
    torch.manual_seed(8)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x = torch.randn(16, 6, dtype=torch.float64)
    cpu = analyse_module(model, x, seed=0, check_advice=False)
    gpu = analyse_module(model.cuda(), x.cuda(), seed=0, check_advice=False)
    for a, b in zip(cpu.layers, gpu.layers, strict=True):
        assert b.weight_grad_norm == pytest.approx(a.weight_grad_norm, rel=1e-9)
        assert b.grad_rms == pytest.approx(a.grad_rms, rel=1e-9) and b.act_std == pytest.approx(a.act_std, rel=1e-9)


def test_chunked_cpu_statistics_match_whole_tensor_references():
    # tensors of several 2**17-entry chunks: weight 1024x200, outputs 300x1024; float32 as the CPU fast path runs
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(200, 1024), nn.ReLU(), nn.Linear(1024, 3))
    x = torch.randn(300, 200)
    x[:, 0] = 0.0
    x[-1, 0] = 1000.0  # unit 10 is positive on the last sample only: alive, found past the first chunk
    with torch.no_grad():
        model[0].weight[:11] = 0.0
        model[0].bias[:10] = -100.0  # units 0-9 dead
        model[0].weight[10, 0], model[0].bias[10] = 1.0, -1.0
    r = analyse_module(model, x, seed=0, check_advice=False)
    z = model[0](x).detach()
    a = torch.relu(z).double()
    row = rows(r)["0"]
    assert row.dead_frac == float((z <= 0).all(dim=0).double().mean()) == 10 / 1024
    assert row.saturated_frac == float((z <= 0).double().mean())
    assert row.act_mean == pytest.approx(float(a.mean()), rel=1e-5)
    assert row.act_std == pytest.approx(float(a.std(correction=0)), rel=1e-5)
    assert row.weight_norm == pytest.approx(float(model[0].weight.detach().double().norm()), rel=1e-5)
    assert rows(r)["2"].act_mean == pytest.approx(float(model(x).detach().double().mean()), rel=1e-4, abs=1e-6)
