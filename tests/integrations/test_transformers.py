"""dlcli.integrations.transformers.WatchCallback inside a real transformers.Trainer (CPU, a tiny model, a few dozen
steps): the store's loss is the Trainer's logged loss, its steps the Trainer's, its learning rates the scheduler's,
and no hook stays after train(), finished or raised."""

from __future__ import annotations

import math

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")
torch = pytest.importorskip("torch")

from dlcli.integrations.transformers import WatchCallback  # noqa: E402
from dlcli.runs.run import load_run  # noqa: E402


class Tiny(torch.nn.Module):
    """tanh MLP on a linear target, the loss computed by the model (as a transformers model does); each training
    forward pass's loss noted, and `fail` raised at the forward pass numbered `fail_at`."""

    def __init__(self, fail_at: int | None = None, fail: type[BaseException] = RuntimeError) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        self.fail_at, self.fail = fail_at, fail
        self.losses: list[float] = []

    def forward(self, x, labels=None):
        if self.fail_at is not None and len(self.losses) == self.fail_at:
            raise self.fail("boom")
        out = self.net(x)
        loss = torch.nn.functional.mse_loss(out, labels)
        self.losses.append(loss.item())
        return {"loss": loss, "logits": out}


class Data(torch.utils.data.Dataset):
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 4, generator=g)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


def trainer_for(tmp_path, model, callback, **args):
    settings = {"max_steps": 12, "per_device_train_batch_size": 8, "learning_rate": 0.05, "logging_steps": 1,
                "lr_scheduler_type": "linear", "warmup_steps": 2, **args}
    training = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[], save_strategy="no",
                                              use_cpu=True, disable_tqdm=True, seed=0, **settings)
    return transformers.Trainer(model=model, args=training, train_dataset=Data(),
                                callbacks=[callback] if callback is not None else None)


def logged(trainer, key: str) -> dict[int, float]:
    return {h["step"]: h[key] for h in trainer.state.log_history if key in h}


def assert_no_hooks(model, trainer):
    for name, m in model.named_modules():
        assert not m._forward_hooks and not m._forward_pre_hooks, name
    opt = trainer.optimizer.optimizer   # inside accelerate's AcceleratedOptimizer
    assert isinstance(opt, torch.optim.Optimizer)
    assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks


def test_loss_steps_learning_rates_and_samples(tmp_path, one_thread):
    model = Tiny()
    trainer = trainer_for(tmp_path, model, WatchCallback(every=5, log=str(tmp_path / "run.db"), config={"seed": 0}))
    trainer.train()
    run = load_run(str(tmp_path / "run.db"))
    assert run.status == "finished"
    assert trainer.state.global_step == 12
    steps, loss = run.scalars["loss"]
    assert steps.tolist() == list(range(1, 13))
    assert loss.tolist() == [logged(trainer, "loss")[s] for s in steps.tolist()]   # the same float, exactly
    lr_steps, lr = run.scalars["lr"]
    assert lr_steps.tolist() == steps.tolist()
    assert lr.tolist() == [logged(trainer, "learning_rate")[s] for s in steps.tolist()]
    assert lr[:3].tolist() == [0.0, 0.025, 0.05]   # the warm-up, then down linearly
    assert run.steps.tolist() == [1, 6, 11]
    assert run.known["grad_norm"].all() and run.known["act_std"].all()
    assert_no_hooks(model, trainer)
    assert run.config["seed"] == 0
    assert {k: run.config["trainer"][k] for k in ("framework", "max_steps", "gradient_accumulation_steps",
                                                  "precision", "lr_scheduler_type")} \
        == {"framework": "transformers", "max_steps": 12, "gradient_accumulation_steps": 1, "precision": "fp32",
            "lr_scheduler_type": "linear"}


def test_accumulated_batches_make_one_step_and_their_mean_its_loss(tmp_path, one_thread):
    model = Tiny()
    trainer = trainer_for(tmp_path, model, WatchCallback(every=4, log=str(tmp_path / "run.db")), max_steps=9,
                          gradient_accumulation_steps=3)
    trainer.train()
    run = load_run(str(tmp_path / "run.db"))
    assert trainer.state.global_step == 9
    steps, loss = run.scalars["loss"]
    assert steps.tolist() == list(range(1, 10))
    assert loss.tolist() == [logged(trainer, "loss")[s] for s in steps.tolist()]
    # 8 batches an epoch: steps of 3, 3 and 2 batches; the Trainer logs their mean
    sizes = [3, 3, 2] * 3
    starts = [sum(sizes[:i]) for i in range(9)]
    for s, value in zip(steps.tolist(), loss.tolist(), strict=True):
        window = model.losses[starts[s - 1]:starts[s - 1] + sizes[s - 1]]
        assert math.isclose(value, sum(window) / len(window), rel_tol=1e-6), s
    assert run.steps.tolist() == [1, 5, 9]
    assert run.config["trainer"]["gradient_accumulation_steps"] == 3
    assert_no_hooks(model, trainer)


def test_a_loss_logged_every_few_steps_is_stored_at_those_steps(tmp_path, one_thread):
    model = Tiny()
    trainer = trainer_for(tmp_path, model, WatchCallback(every=5, log=str(tmp_path / "run.db")), logging_steps=4)
    trainer.train()
    run = load_run(str(tmp_path / "run.db"))
    steps, loss = run.scalars["loss"]
    assert steps.tolist() == [4, 8, 12]
    assert loss.tolist() == [logged(trainer, "loss")[s] for s in (4, 8, 12)]
    assert run.scalars["lr"][0].tolist() == list(range(1, 13))


@pytest.mark.parametrize(("fail", "status"), [(RuntimeError, "failed"), (KeyboardInterrupt, "interrupted")])
def test_a_train_that_raises_leaves_no_hook_and_the_run_says_why(tmp_path, one_thread, fail, status):
    model = Tiny(fail_at=7, fail=fail)
    callback = WatchCallback(every=5, log=str(tmp_path / "run.db"))
    trainer = trainer_for(tmp_path, model, callback)
    with pytest.raises(fail, match="boom"):
        trainer.train()
    run = load_run(str(tmp_path / "run.db"))
    assert run.status == status
    assert run.scalars["loss"][0].tolist() == list(range(1, 8))
    assert run.steps.tolist() == [1, 6]
    assert_no_hooks(model, trainer)
    assert callback.watch is None


def test_a_callback_added_later_guards_the_trainer_from_its_next_train(tmp_path, one_thread):
    """trainer.add_callback misses on_init_end: the first train() guards the Trainer for the next one."""
    model = Tiny()
    callback = WatchCallback(every=5, log=str(tmp_path / "run.db"), overwrite=True)
    trainer = trainer_for(tmp_path, model, None)
    trainer.add_callback(callback)
    trainer.train()
    assert load_run(str(tmp_path / "run.db")).status == "finished"
    model.fail_at = len(model.losses) + 3
    with pytest.raises(RuntimeError, match="boom"):
        trainer.train()
    run = load_run(str(tmp_path / "run.db"))
    assert run.status == "failed"
    assert run.scalars["loss"][0].tolist() == [1, 2, 3]
    assert_no_hooks(model, trainer)
