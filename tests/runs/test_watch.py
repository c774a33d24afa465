"""dlcli.watch in a user's loop against a plain torch loop written out here: the stored figures of every sampled
step, bit-identical training, the non-finite step and module injected, hooks gone on any exit, the store."""

from __future__ import annotations

import copy
import math
import os
import signal
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

import dlcli
from dlcli.errors import InputError

torch = pytest.importorskip("torch")
from dlcli.runs.report import load_report  # noqa: E402
from dlcli.runs.run import load_run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mlp(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 10), torch.nn.ReLU(),
                               torch.nn.Linear(10, 3)).to(dtype)


def data(seed=1, n=32, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g, dtype=dtype), torch.randint(0, 3, (n,), generator=g)


def plain_reference(model, opt, x, y, steps, sampled):
    """Each sampled step's figures by hand: ‖∂W‖, ‖W‖ and ‖W_after − W_before‖/‖W_before‖ per Linear, the rms of
    ∂loss/∂z, and the statistics of the activation taking z (or of z for the last layer)."""
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    acts = {0: torch.tanh, 1: torch.relu}
    out, losses = {}, []
    for step in range(1, steps + 1):
        h, zs, hs = x, [], []
        for i, lin in enumerate(linears):
            z = lin(h)
            z.retain_grad()
            zs.append(z)
            h = acts[i](z) if i in acts else z
            hs.append(h)
        loss = torch.nn.functional.cross_entropy(h, y)
        opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        before = [lin.weight.detach().clone() for lin in linears]
        opt.step()
        if step in sampled:
            rows = []
            for i, lin in enumerate(linears):
                a, z = hs[i].detach(), zs[i]
                row = {"grad_norm": lin.weight.grad.norm().item(), "weight_norm": before[i].norm().item(),
                       "update_ratio": (lin.weight.detach() - before[i]).norm().item() / before[i].norm().item(),
                       "grad_rms": z.grad.pow(2).mean().sqrt().item(), "act_mean": a.mean().item(),
                       "act_std": a.std(unbiased=False).item(), "act_absmax": a.abs().max().item()}
                if i == 0:
                    slope = 1 - a * a
                    row["saturated_frac"] = (slope.abs() < 0.01).double().mean().item()
                    row["dead_frac"] = 0.0
                elif i == 1:
                    row["saturated_frac"] = (a <= 0).double().mean().item()
                    row["dead_frac"] = (a.max(0).values <= 0).double().mean().item()
                rows.append(row)
            out[step] = rows
    return out, losses


def test_store_holds_the_plain_loops_figures(tmp_path, one_thread):
    x, y = data()
    model = mlp()
    twin = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    twin_opt = torch.optim.SGD(twin.parameters(), lr=0.3, momentum=0.9)
    steps, every = 11, 4
    with dlcli.watch(model, opt, every=every, log=str(tmp_path / "run.db")) as w:
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.record(loss=loss)
    expected, losses = plain_reference(twin, twin_opt, x, y, steps, {1, 5, 9})
    run = load_run(str(tmp_path / "run.db"))
    assert run.status == "finished"
    assert run.steps.tolist() == [1, 5, 9]
    assert [m.name for m in run.modules] == ["0", "2", "4"]
    for i, step in enumerate(run.steps.tolist()):
        for j, row in enumerate(expected[step]):
            for metric, want in row.items():
                got = run.values[metric][i, j]
                assert got == pytest.approx(want, rel=1e-10, abs=1e-12), (step, j, metric, got, want)
    assert run.scalars["loss"][0].tolist() == list(range(1, steps + 1))
    np.testing.assert_allclose(run.scalars["loss"][1], losses, rtol=0, atol=0)
    assert run.scalars["lr"][1].tolist() == [0.3] * steps
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)  # the same weights to the last bit


class Block(torch.nn.Module):
    """A pre-norm transformer block with dropout, a functional GELU and residual adds."""

    def __init__(self, d=16):
        super().__init__()
        self.norm1, self.norm2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.attn = torch.nn.MultiheadAttention(d, 2, dropout=0.1, batch_first=True)
        self.fc1, self.fc2 = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)
        self.drop = torch.nn.Dropout(0.1)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.drop(self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x)))))


def tiny_lm(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Embedding(20, 16), Block(), Block(), torch.nn.LayerNorm(16),
                               torch.nn.Linear(16, 20))


def lm_run(every, steps=7, log=None):
    model = tiny_lm()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, 3, 0.5)
    g = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, 20, (4, 9), generator=g)
    torch.manual_seed(7)  # dropout's stream
    losses = []

    def loop(w=None):
        for _ in range(steps):
            logits = model(tokens[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 20), tokens[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.detach().clone())
            if w is not None:
                w.record(loss=loss)

    if every is None:
        loop()
    else:
        with dlcli.watch(model, opt, every=every, log=log) as w:
            loop(w)
    return model, losses


@pytest.mark.parametrize("every", [1, 3])
def test_training_is_bit_identical_with_and_without_watch(tmp_path, one_thread, every):
    plain, plain_losses = lm_run(None)
    watched, losses = lm_run(every, log=str(tmp_path / "lm.db"))
    assert all(torch.equal(a, b) for a, b in zip(plain_losses, losses, strict=True))
    for (n, p), q in zip(plain.named_parameters(), watched.parameters(), strict=True):
        assert torch.equal(p, q), n
    run = load_run(str(tmp_path / "lm.db"))
    assert run.steps.tolist() == list(range(1, 8, every))
    assert run.scalars["lr"][1].tolist() == [1e-2, 1e-2, 1e-2, 5e-3, 5e-3, 5e-3, 2.5e-3]  # the lr each step used
    names = [m.name for m in run.modules]
    assert "1.fc1" in names and "1.attn" in names and "0" in names
    act = {m.name: m.activation for m in run.modules}
    assert act["1.fc1"] == "gelu"  # the functional GELU, read from the autograd graph


def test_nonfinite_gradient_step_and_module(tmp_path, one_thread):
    """A NaN put into ∂loss/∂z of the middle layer at step 7 only: found at step 7 in that layer (the layer
    nearest the loss among those with a non-finite gradient), though steps 6 and 11 are the sampled ones."""
    x, y = data()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    state = {"step": 0}

    def poison(module, args, out):
        if state["step"] == 7 and out.requires_grad:
            out.register_hook(lambda g: g * math.nan)

    model[2].register_forward_hook(poison)
    with dlcli.watch(model, opt, every=5, log=str(tmp_path / "nan.db")) as w:
        for step in range(1, 13):
            state["step"] = step
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.record(loss=loss)
    report = load_report(str(tmp_path / "nan.db"))
    assert report.nonfinite == {"step": 7, "module": "2"}
    assert report.verdict == "non-finite"
    assert report.findings[0].kind == "nonfinite" and report.findings[0].step == 7
    assert w.nonfinite == {"step": 7, "module": "2"}


def test_nonfinite_found_after_the_device_ring_wraps(tmp_path, monkeypatch, one_thread):
    from dlcli.runs import watch as watch_module

    monkeypatch.setattr(watch_module, "RING_ENTRIES", 6 * 3)  # 3 rows for 6 tensors: folds every 3 steps
    x, y = data()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with dlcli.watch(model, opt, every=20, log=str(tmp_path / "wrap.db")) as w:
        for step in range(1, 15):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            if step == 8:
                model[4].bias.grad[0] = math.inf
            opt.step()
    assert w.nonfinite == {"step": 8, "module": "4"}


@pytest.mark.parametrize("error, status", [(RuntimeError, "failed"), (KeyboardInterrupt, "interrupted")])
def test_hooks_removed_on_error_and_interrupt(tmp_path, error, status, one_thread):
    x, y = data()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(error):
        with dlcli.watch(model, opt, every=1, log=str(tmp_path / "e.db")):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            model(x)  # a sampled step's hooks are armed now
            raise error("stop")
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks
    assert load_run(str(tmp_path / "e.db")).status == status


def test_without_an_optimizer_step_marks_steps(tmp_path, one_thread):
    x, y = data()
    model = mlp()
    twin = copy.deepcopy(model)
    with dlcli.watch(model, every=2, log=str(tmp_path / "s.db")) as w:
        for _ in range(3):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            w.record(loss=loss)
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.5 * p.grad
            w.step()
            model.zero_grad()
    expected, _ = plain_reference(twin, torch.optim.SGD(twin.parameters(), lr=0.5), x, y, 3, {1, 3})
    run = load_run(str(tmp_path / "s.db"))
    assert run.steps.tolist() == [1, 3]
    assert run.scalars["loss"][0].tolist() == [1, 2, 3]
    for i, step in enumerate((1, 3)):
        for j, row in enumerate(expected[step]):
            assert run.values["update_ratio"][i, j] == pytest.approx(row["update_ratio"], rel=1e-10)
            assert run.values["grad_norm"][i, j] == pytest.approx(row["grad_norm"], rel=1e-10)


def test_evaluation_passes_without_gradients_are_not_sampled(tmp_path, one_thread):
    x, y = data()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with dlcli.watch(model, opt, every=1, log=str(tmp_path / "ev.db")):
        with torch.no_grad():
            model(x * 100)  # an evaluation on other data before the training step
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    run = load_run(str(tmp_path / "ev.db"))
    with torch.no_grad():
        first = torch.tanh(mlp()[0](x))
    assert run.values["act_absmax"][0, 0] == pytest.approx(first.abs().max().item(), rel=1e-12)


def test_report_reads_the_store_while_the_run_writes_it(tmp_path, one_thread):
    x, y = data()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with dlcli.watch(model, opt, every=2, log=str(tmp_path / "live.db")) as w:
        for _ in range(5):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.record(loss=loss)
        live = w.report()
        assert live.run.status == "running"
        assert live.run.steps.tolist() == [1, 3, 5]
        other = sqlite3.connect(f"file:{tmp_path / 'live.db'}?mode=ro", uri=True)
        assert other.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 9
        other.close()
    assert load_run(str(tmp_path / "live.db")).status == "finished"


KILLED = """
import os, signal, sys, torch, dlcli
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
with dlcli.watch(model, opt, every=1, log=sys.argv[1]) as w:
    for step in range(1, 1000):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        w.record(loss=loss)
        if step == 40:
            w.writer.sync()
            os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_run_leaves_a_readable_store(tmp_path):
    path = str(tmp_path / "killed.db")
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", KILLED, path], env=env, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    run = load_run(path)
    assert run.status == "running"  # never closed: the report says it did not finish
    assert run.steps.tolist() == list(range(1, 41))
    assert run.scalars["loss"][0].tolist() == list(range(1, 40))  # step 40's loss waited for the next sample


def test_foreign_and_old_files_get_one_clear_line(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a dlcli run store"):
        load_run(str(text))
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="without dlcli's tables"):
        load_run(str(other))
    with pytest.raises(InputError, match="no such file"):
        load_run(str(tmp_path / "missing.db"))
    with pytest.raises(InputError, match="is a directory"):
        load_run(str(tmp_path))


def test_an_older_schema_says_so(tmp_path, one_thread):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = str(tmp_path / "old.db")
    with dlcli.watch(model, opt, log=path):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="schema version 0; this dlcli reads version 1"):
        load_run(path)


def test_bad_arguments(tmp_path):
    model = mlp()
    with pytest.raises(InputError, match="every must be"):
        dlcli.watch(model, every=0)
    with pytest.raises(InputError, match="needs an nn.Module"):
        dlcli.watch(lambda x: x)
    with pytest.raises(InputError, match="torch.optim.Optimizer"):
        dlcli.watch(model, object())
    path = tmp_path / "taken.db"
    path.write_text("x")
    with pytest.raises(InputError, match="already exists"):
        dlcli.watch(model, log=str(path)).start()
    assert path.read_text() == "x"
    with pytest.raises(InputError, match="one-element tensor"):
        with dlcli.watch(model, log=str(tmp_path / "r.db"), overwrite=True) as w:
            w.record(loss=torch.ones(3))


def test_config_is_stored(tmp_path):
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    with dlcli.watch(model, opt, every=7, log=str(tmp_path / "c.db"), config={"note": "baseline"}):
        pass
    cfg = load_run(str(tmp_path / "c.db")).config
    assert cfg["model"] == "Sequential" and cfg["optimizer"] == "AdamW" and cfg["every"] == 7
    assert cfg["parameters"] == sum(p.numel() for p in model.parameters())
    assert cfg["param_groups"][0]["lr"] == 3e-4 and cfg["param_groups"][0]["weight_decay"] == 0.1
    assert cfg["dtype"] == "float64" and cfg["device"] == "cpu" and cfg["torch"] == torch.__version__
    assert cfg["dlcli"] == dlcli.__version__ and cfg["note"] == "baseline" and cfg["argv"]


def test_a_step_with_a_closure_is_read_after_the_closure(tmp_path, one_thread):
    """LBFGS (and Lightning) compute the gradients inside step(closure): the watch reads them after its first call."""
    x, y = data()
    model = mlp()
    twin = copy.deepcopy(model)
    opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=3)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    with dlcli.watch(model, opt, every=1, log=str(tmp_path / "lbfgs.db")):
        opt.step(closure)
        opt.step(closure=closure)
    torch.nn.functional.cross_entropy(twin(x), y).backward()
    run = load_run(str(tmp_path / "lbfgs.db"))
    assert run.steps.tolist() == [1, 2]
    assert run.values["grad_norm"][0, 0] == pytest.approx(twin[0].weight.grad.norm().item(), rel=1e-12)
    moved = (model[0].weight.detach() - twin[0].weight.detach()).norm().item()
    assert run.values["update_ratio"][0, 0] > 0 and math.isfinite(moved)


def test_dlclis_own_failure_never_stops_the_training(tmp_path, monkeypatch, one_thread):
    from dlcli.runs import watch as watch_module

    real = watch_module.judge
    calls = {"n": 0}

    def failing(measured, full=True):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ValueError("math domain error")
        return real(measured, full)

    monkeypatch.setattr(watch_module, "judge", failing)
    x, y = data()
    model, twin = mlp(), mlp()
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (model, twin)]
    with pytest.warns(RuntimeWarning, match="stopped sampling at step 3"):
        with dlcli.watch(model, opts[0], every=2, log=str(tmp_path / "bug.db")) as w:
            for m, opt in ((model, opts[0]),) * 6:
                loss = torch.nn.functional.cross_entropy(m(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                w.record(loss=loss)
    for _ in range(6):
        loss = torch.nn.functional.cross_entropy(twin(x), y)
        opts[1].zero_grad()
        loss.backward()
        opts[1].step()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), twin.parameters(), strict=True))
    report = load_report(str(tmp_path / "bug.db"))
    assert report.run.steps.tolist() == [1]
    assert report.run.scalars["loss"][0].tolist() == list(range(1, 7))
    assert report.findings[0].kind == "watch_error" and "math domain error" in report.findings[0].text
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
