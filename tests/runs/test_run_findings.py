"""The report's findings against runs whose health is known by construction: healthy runs raise no alarm;
a layer frozen, a layer's learning rate raised ×100, dead and saturated units, a vanishing stack are found and
named by layer and step. The table is in docs/watch.md."""

from __future__ import annotations

import math

import pytest

import dlcli

torch = pytest.importorskip("torch")
from dlcli.runs.report import load_report  # noqa: E402


def problem(seed=0, n=128, d=10, classes=4):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, classes, generator=g)
    return x, (x @ w).argmax(1)


def layers(act=torch.nn.ReLU, widths=(10, 32, 32, 4), seed=0):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        mods.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            mods.append(act())
    return torch.nn.Sequential(*mods)


def run(tmp_path, model, steps=120, every=10, lr=0.05, change=None, schedule=None, name="run.db"):
    """Train with one parameter group per Linear; `change(step, opt)` runs before each step's update."""
    x, y = problem()
    groups = [{"params": list(m.parameters())} for m in model if isinstance(m, torch.nn.Linear)]
    opt = torch.optim.SGD(groups, lr=lr)
    sched = schedule(opt) if schedule else None
    path = str(tmp_path / name)
    with dlcli.watch(model, opt, every=every, log=path) as w:
        for step in range(1, steps + 1):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            if change:
                change(step, opt)
            opt.step()
            if sched:
                sched.step()
            w.record(loss=loss)
    return load_report(path)


def alarms(report):
    return [f for f in report.findings if f.severity == "alarm"]


@pytest.mark.parametrize("act", [torch.nn.ReLU, torch.nn.Tanh, torch.nn.GELU])
def test_healthy_runs_raise_no_alarm(tmp_path, act, one_thread):
    report = run(tmp_path, layers(act))
    assert alarms(report) == [], [f.text for f in report.findings]
    assert report.verdict == "healthy"
    assert report.headline()["final_loss"] < report.headline()["first_loss"]


def test_a_learning_rate_decayed_to_zero_is_not_a_layer_that_stopped(tmp_path, one_thread):
    report = run(tmp_path, layers(), schedule=lambda opt: torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: max(0.0, 1 - k / 100)))
    assert alarms(report) == [], [f.text for f in report.findings]


def test_a_frozen_layer_is_named_with_the_step(tmp_path, one_thread):
    def freeze(step, opt):
        if step == 41:
            opt.param_groups[1]["lr"] = 0.0

    report = run(tmp_path, layers(), change=freeze)
    found = [f for f in report.findings if f.kind == "stopped"]
    assert [(f.modules, f.step) for f in found] == [(("2",), 31)], [f.text for f in report.findings]
    assert "`2` stopped learning after step 31" in found[0].text
    assert report.verdict == "unhealthy"


def test_a_layer_never_learning_is_named(tmp_path, one_thread):
    model = layers()
    report = run(tmp_path, model, change=lambda step, opt: opt.param_groups[0].update(lr=0.0))
    found = [f for f in report.findings if f.kind == "never_learned"]
    assert [f.modules for f in found] == [("0",)], [f.text for f in report.findings]


def test_a_learning_rate_raised_a_hundredfold_is_found_from_its_step(tmp_path, one_thread):
    def boost(step, opt):
        if step == 61:
            opt.param_groups[2]["lr"] = 100 * opt.param_groups[0]["lr"]

    report = run(tmp_path, layers(), lr=0.01, change=boost)
    found = [f for f in report.findings if f.kind == "update_grew"]
    assert [(f.modules, f.step) for f in found] == [(("4",), 61)], [f.text for f in report.findings]


def test_dead_units_are_found_with_the_layer(tmp_path, one_thread):
    model = layers()
    with torch.no_grad():
        model[2].bias.fill_(-100.0)  # every unit of the second hidden layer is dead from the start
    report = run(tmp_path, model)
    found = [f for f in report.findings if f.kind == "dead"]  # probe's alarm, from the step it first holds
    assert [(f.modules, f.step) for f in found] == [(("2",), 1)], [f.text for f in report.findings]
    assert "units are dead at 2" in found[0].text


def test_saturated_tanh_units_are_found(tmp_path, one_thread):
    model = layers(torch.nn.Tanh)
    with torch.no_grad():
        model[0].weight.mul_(60.0)
    report = run(tmp_path, model)
    found = [f for f in report.findings if f.kind == "saturated"]
    assert [f.modules for f in found] == [("0",)], [f.text for f in report.findings]


def test_a_vanishing_sigmoid_stack_carries_probes_alarm(tmp_path, one_thread):
    model = layers(torch.nn.Sigmoid, widths=(10, *[32] * 10, 4))
    report = run(tmp_path, model, steps=30)
    assert report.verdict == "vanishing"
    found = [f for f in report.findings if f.kind == "vanishing"]
    assert found and found[0].step == 1 and "0" in found[0].modules
    assert "Vanishing gradients" in found[0].text


def test_a_loss_spike_is_tied_to_the_update_that_grew(tmp_path, one_thread):
    def blow(step, opt):
        if step == 81:
            for g in opt.param_groups:
                g["lr"] = 40.0

    report = run(tmp_path, layers(), lr=0.05, change=blow, steps=100, every=5)
    spikes = [f for f in report.findings if f.kind == "loss_spike"]
    assert spikes and spikes[0].step == 82
    assert not any(f.kind == "update_grew" for f in report.findings)  # the lr grew, not one layer's update
    assert math.isfinite(report.headline()["final_loss"]) or report.verdict == "non-finite"


def test_layers_that_stop_once_the_data_is_fitted_are_one_note(tmp_path, one_thread):
    """8 points fitted until the loss is under 1e-3 of its start: the layers stop moving, as they should."""
    torch.manual_seed(0)
    x, y = torch.randn(8, 4, dtype=torch.float64), torch.arange(8) % 2
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 2)).double()
    opt = torch.optim.SGD(model.parameters(), lr=3.0)
    with dlcli.watch(model, opt, every=20, log=str(tmp_path / "fit.db")) as w:
        for _ in range(1000):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.record(loss=loss)
    report = load_report(str(tmp_path / "fit.db"))
    assert [f.kind for f in report.findings if f.kind in ("stopped", "converged")] == ["converged"]
