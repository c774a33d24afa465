"""Run stores for the report tests, recorded by a real `dlcli.watch` on a tiny MLP (well under a second each)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

import dlcli


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    f32 = torch.float32   # whatever default dtype another test left behind: the same weights, the same run
    return torch.nn.Sequential(torch.nn.Linear(4, 8, dtype=f32), torch.nn.ReLU(), torch.nn.Linear(8, 8, dtype=f32),
                               torch.nn.Tanh(), torch.nn.Linear(8, 1, dtype=f32))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=g, dtype=torch.float32)
    return x, x[:, :1] * 2 + x[:, 1:2].sin()


@contextlib.contextmanager
def one_thread():
    """torch on one thread (tiny matrices: a thread pool only adds waiting on a shared machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(w, model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int) -> None:
    """`steps` plain SGD steps on one batch, the loss recorded each step."""
    x, y = batch()
    with one_thread():
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            w.record(loss=loss)


def make_store(path: Path, steps: int = 60, every: int = 5, lr: float = 0.05) -> Path:
    """A finished run: `steps` steps, sampled every `every`; lr=3 makes it diverge (a non-finite gradient)."""
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with dlcli.watch(model, opt, every=every, log=str(path)) as w:
        train(w, model, opt, steps)
    return path


def open_watch(path: Path, every: int = 5):
    """A run left open: (watch, model, optimizer); `train` it, `w.writer.sync()` to commit, `w.close()` to end."""
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    w = dlcli.watch(model, opt, every=every, log=str(path))
    w.start()
    return w, model, opt
