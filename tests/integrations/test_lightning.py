"""dlcli.integrations.lightning.WatchCallback inside a real lightning.Trainer (CPU, a tiny model, a few dozen steps):
the store's loss is the Trainer's logged loss, its steps the Trainer's, its learning rates the scheduler's, and no
hook stays after fit, finished or failed."""

from __future__ import annotations

import csv
import math

import pytest

L = pytest.importorskip("lightning")
torch = pytest.importorskip("torch")

from lightning.pytorch.loggers import CSVLogger  # noqa: E402

from dlcli.integrations.lightning import WatchCallback  # noqa: E402
from dlcli.runs.run import load_run  # noqa: E402

BATCHES = 8  # batches per epoch: 64 samples, 8 a batch


class Tiny(L.LightningModule):
    """tanh MLP on a linear target; each batch's loss, the trainer's step and the learning rate noted as it runs."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        self.fail_at = fail_at
        self.batches: list[tuple[int, float]] = []   # (global_step before the optimizer step, the batch's loss)
        self.lrs: dict[int, float] = {}              # step (1-based) -> the learning rate it used
        self.grad_norms: dict[int, float] = {}       # step -> |∂loss/∂net.2.weight| before the update

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        if self.fail_at is not None and len(self.batches) == self.fail_at:
            raise RuntimeError("boom")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        self.batches.append((self.trainer.global_step, loss.item()))
        return loss

    def on_before_optimizer_step(self, optimizer):
        step = self.trainer.global_step + 1
        self.lrs[step] = optimizer.param_groups[0]["lr"]
        self.grad_norms[step] = self.net[2].weight.grad.norm().item()

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.5)
        scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCHES * 8, 4, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def fit(tmp_path, model, callback, **trainer_args):
    torch.manual_seed(0)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=CSVLogger(tmp_path / "logs", name="tiny"),
                        log_every_n_steps=1, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, callbacks=[callback], **trainer_args)
    trainer.fit(model, data())
    return trainer


def logged_loss(trainer) -> dict[int, float]:
    """train_loss by optimizer step (1-based), as CSVLogger wrote it."""
    with open(f"{trainer.logger.log_dir}/metrics.csv") as f:
        return {int(r["step"]) + 1: float(r["train_loss"]) for r in csv.DictReader(f) if r.get("train_loss")}


def assert_no_hooks(model, trainer):
    for name, m in model.named_modules():
        assert not m._forward_hooks and not m._forward_pre_hooks, name
    opt = trainer.optimizers[0]
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks


def test_loss_steps_learning_rates_and_samples(tmp_path, one_thread):
    model = Tiny()
    trainer = fit(tmp_path, model, WatchCallback(every=5, log=str(tmp_path / "run.db"), config={"seed": 0}),
                  max_steps=23)
    run = load_run(str(tmp_path / "run.db"))
    assert run.status == "finished"
    assert trainer.global_step == 23
    steps, loss = run.scalars["loss"]
    assert steps.tolist() == list(range(1, 24))
    logged = logged_loss(trainer)
    assert sorted(logged) == steps.tolist()
    assert loss.tolist() == [logged[s] for s in steps.tolist()]   # the same float32, exactly
    assert run.steps.tolist() == [1, 6, 11, 16, 21]
    lr_steps, lr = run.scalars["lr"]
    assert lr_steps.tolist() == steps.tolist()
    assert lr.tolist() == [model.lrs[s] for s in steps.tolist()] == [0.1 * 0.5 ** ((s - 1) // 3) for s in steps]
    # the sampled figures are of the step's own gradients (read after Lightning's closure ran the backward pass)
    sampled, norms = run.metric("grad_norm", "net.2")
    assert sampled.tolist() == run.steps.tolist()
    for s, n in zip(sampled.tolist(), norms.tolist(), strict=True):
        assert math.isclose(n, model.grad_norms[s], rel_tol=1e-6), s
    assert run.known["act_std"].all()
    assert_no_hooks(model, trainer)
    assert run.config["seed"] == 0
    assert {k: run.config["trainer"][k] for k in ("framework", "max_steps", "accumulate_grad_batches", "precision")} \
        == {"framework": "lightning", "max_steps": 23, "accumulate_grad_batches": 1, "precision": "32-true"}


def test_accumulated_batches_make_one_step_and_their_mean_its_loss(tmp_path, one_thread):
    model = Tiny()
    trainer = fit(tmp_path, model, WatchCallback(every=4, log=str(tmp_path / "run.db")), max_steps=9,
                  accumulate_grad_batches=3)
    run = load_run(str(tmp_path / "run.db"))
    assert trainer.global_step == 9
    steps, loss = run.scalars["loss"]
    assert steps.tolist() == list(range(1, 10))
    windows: dict[int, list[float]] = {}
    for before, batch_loss in model.batches:
        windows.setdefault(before + 1, []).append(batch_loss)
    # 8 batches an epoch: windows of 3, 3 and 2 batches (Lightning steps at the epoch's end)
    assert [len(windows[s]) for s in range(1, 10)] == [3, 3, 2, 3, 3, 2, 3, 3, 2]
    for s, value in zip(steps.tolist(), loss.tolist(), strict=True):
        assert math.isclose(value, sum(windows[s]) / len(windows[s]), rel_tol=1e-6), s
    assert run.steps.tolist() == [1, 5, 9]
    assert run.config["trainer"]["accumulate_grad_batches"] == 3
    assert_no_hooks(model, trainer)


def test_a_fit_that_raises_leaves_no_hook_and_a_failed_run(tmp_path, one_thread):
    model = Tiny(fail_at=7)
    trainer = None
    callback = WatchCallback(every=5, log=str(tmp_path / "run.db"))
    with pytest.raises(RuntimeError, match="boom"):
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, callbacks=[callback], max_steps=20)
        trainer.fit(model, data())
    run = load_run(str(tmp_path / "run.db"))
    assert run.status == "failed"
    assert run.scalars["loss"][0].tolist() == list(range(1, 8))
    assert run.steps.tolist() == [1, 6]
    assert trainer is not None
    assert_no_hooks(model, trainer)
    assert callback.watch is None
