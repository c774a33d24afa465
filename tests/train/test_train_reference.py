"""The recording loop against plain torch training loops written here: same weights, same data, same order."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_thread")

from dlcli.train.config import make_train_config  # noqa: E402
from dlcli.train.loop import train_loop  # noqa: E402
from dlcli.train.run import build_network, train  # noqa: E402
from dlcli.train.split import batch_order, prepare  # noqa: E402
from dlcli.vanish.weights import layer_weights  # noqa: E402

F = torch.nn.functional


def small_data(n=90, n_test=30, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, features)) * 2
    y = rng.integers(0, classes, n + n_test)
    x = centres[y] + rng.standard_normal((n + n_test, features))
    return SimpleNamespace(x=x[:n], y=y[:n], x_test=x[n:], y_test=y[n:])


def reference_weights(config):
    vc = config.vanish_config()
    out = []
    for layer in range(1, vc.depth + 1):
        w, b = layer_weights(vc, layer)
        out += [torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)]
    return out


def forward(params, x, act):
    a = x
    pairs = list(zip(params[0::2], params[1::2], strict=True))
    for i, (w, b) in enumerate(pairs):
        a = a @ w.T + b
        if i < len(pairs) - 1:
            a = act(a)
    return a


def plain_run(config, data, act, adam=False, betas=(0.9, 0.999), eps=1e-8):
    """Plain training: autograd for the gradients, the update written out; per epoch the step losses'
    mean, each weight's relative move, the gradient norms' mean and the test loss."""
    params = reference_weights(config)
    x, y = torch.tensor(data.x), torch.tensor(data.y)
    xt, yt = torch.tensor(data.x_test), torch.tensor(data.y_test)
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    t = 0
    epochs = []
    for epoch in range(1, config.epochs + 1):
        order = np.arange(len(y)) if config.batch is None else batch_order(config.seed, epoch, len(y))
        size = len(y) if config.batch is None else config.batch
        before = [p.detach().clone() for p in params[0::2]]
        losses, norms = [], []
        for start in range(0, len(y), size):
            idx = torch.from_numpy(order[start:start + size])
            loss = F.cross_entropy(forward(params, x[idx], act), y[idx])
            grads = torch.autograd.grad(loss, params)
            losses.append(loss.item())
            norms.append([g.norm().item() for g in grads[0::2]])
            t += 1
            with torch.no_grad():
                for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                    if adam:
                        m[i] = betas[0] * m[i] + (1 - betas[0]) * g
                        v[i] = betas[1] * v[i] + (1 - betas[1]) * g * g
                        m_hat = m[i] / (1 - betas[0] ** t)
                        v_hat = v[i] / (1 - betas[1] ** t)
                        p -= config.lr * m_hat / (v_hat.sqrt() + eps)
                    else:
                        p -= config.lr * g
        with torch.no_grad():
            ratios = [((p - b).norm() / b.norm()).item() for p, b in zip(params[0::2], before, strict=True)]
            test_loss = F.cross_entropy(forward(params, xt, act), yt).item()
        epochs.append({"train_loss": float(np.mean(losses)), "update_ratio": ratios,
                       "weight_grad_norm": list(np.mean(norms, axis=0)), "test_loss": test_loss})
    return epochs


def compare(result, reference):
    assert len(result.epochs) == len(reference)
    for ours, ref in zip(result.epochs, reference, strict=True):
        assert ours.train_loss == pytest.approx(ref["train_loss"], abs=1e-10, rel=0)
        assert ours.test_loss == pytest.approx(ref["test_loss"], abs=1e-10, rel=0)
        assert [layer.update_ratio for layer in ours.layers] == pytest.approx(ref["update_ratio"], rel=1e-9)
        assert [layer.weight_grad_norm for layer in ours.layers] == pytest.approx(ref["weight_grad_norm"], rel=1e-9)


def test_full_batch_sgd_matches_a_plain_loop():
    data = small_data()
    config = make_train_config("tanh", depth=3, width=16, epochs=6, batch="full", optimizer="sgd", lr=0.5, seed=3,
                               standardize=False)
    result = train(config, data)
    compare(result, plain_run(result.config, data, torch.tanh))
    # full batch, plain SGD: epoch e's train_loss is the loss of the weights after e − 1 steps
    losses = [e.train_loss for e in result.epochs]
    assert losses == sorted(losses, reverse=True)


def test_minibatch_adam_matches_a_plain_loop_given_the_batch_order():
    data = small_data(n=100)
    config = make_train_config("relu", depth=2, width=12, init="kaiming", epochs=4, batch=32, optimizer="adam",
                               lr=0.01, seed=5, standardize=False)
    result = train(config, data)
    assert len(result.epochs) == 4
    compare(result, plain_run(result.config, data, torch.relu, adam=True))


def test_minibatch_sgd_train_accuracy_counts_each_example_before_its_update():
    data = small_data(n=64)
    config = make_train_config("sigmoid", depth=1, width=8, epochs=1, batch=16, lr=0.3, seed=1, standardize=False)
    result = train(config, data)
    params = reference_weights(result.config)
    x, y = torch.tensor(data.x), torch.tensor(data.y)
    correct = 0
    for idx in torch.from_numpy(batch_order(result.config.seed, 1, 64)).split(16):
        out = forward(params, x[idx], torch.sigmoid)
        correct += int((out.argmax(1) == y[idx]).sum())
        grads = torch.autograd.grad(F.cross_entropy(out, y[idx]), params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= 0.3 * g
    assert result.epochs[0].train_accuracy == correct / 64


def test_dead_units_and_act_std_at_epoch_end():
    data = small_data()
    config = make_train_config("relu", depth=2, width=10, epochs=1, batch="full", lr=0.1, seed=2, bias_std=3.0,
                               init="normal", standardize=False)
    result = train(config, data)
    params = reference_weights(result.config)
    grads = torch.autograd.grad(F.cross_entropy(forward(params, torch.tensor(data.x), torch.relu),
                                                torch.tensor(data.y)), params)
    with torch.no_grad():
        params = [p - 0.1 * g for p, g in zip(params, grads, strict=True)]
        a = torch.relu(torch.tensor(data.x_test) @ params[0].T + params[1])
    layer = result.epochs[0].layers[0]
    assert layer.act_std == pytest.approx(a.std(unbiased=False).item(), rel=1e-12)
    assert layer.dead_frac == float((a.max(0).values == a.min(0).values).double().mean())


def test_a_diverging_run_says_where_and_the_gpu_path_finds_the_same_step():
    data = small_data()
    config = make_train_config("relu", depth=3, width=16, init="kaiming", epochs=20, batch=30, lr=100.0, seed=0,
                               loss="mse", standardize=False)
    result = train(config, data)
    d = result.divergence
    assert d is not None and d.step >= 1 and len(result.epochs) == d.epoch - 1
    assert 1 <= d.layer <= 4 and d.name == result.rows[d.layer - 1]
    assert "diverged at step" in d.message(config.lr) and "--lr" in d.message(config.lr)
    # The GPU's way (no check per step, the bad epoch run again from its start) on this CPU: the same place.
    resolved = result.config
    prepared = prepare(data.x, data.y, data.x_test, data.y_test, test_split=0.2, standardize_inputs=False, seed=0)
    tensors = [torch.from_numpy(a) for a in (prepared.x_train, prepared.y_train, prepared.x_test, prepared.y_test)]
    net = build_network(torch, resolved, prepared, torch.device("cpu"), torch.float64)
    out = train_loop(torch, net, *tensors, prepared.classes, resolved, check_each=False)
    assert out.divergence == d


def test_learning_speed_ratio_is_the_geometric_mean_of_first_over_last_hidden():
    data = small_data()
    config = make_train_config("sigmoid", depth=4, width=16, epochs=3, batch="full", lr=0.2, seed=4,
                               standardize=False)
    result = train(config, data)
    assert result.speed_rows == (1, 4) and result.rows[3] == "sigmoid" and result.rows[4] == "head"
    ratios = [e.layers[0].update_ratio / e.layers[3].update_ratio for e in result.epochs]
    assert result.learning_speed_ratio == pytest.approx(math.prod(ratios) ** (1 / 3), rel=1e-12)
    assert result.as_dict()["learning_speed_ratio"] == result.learning_speed_ratio
