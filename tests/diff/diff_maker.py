"""Recorded runs for the diff tests: a 10→32→32→4 ReLU MLP trained by full-batch SGD under a real dlcli.watch, one
parameter group per Linear, so that one layer's learning rate can be changed from some step on."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

import dlcli

LINEARS = ("0", "2", "4")   # the Linear modules' names in the Sequential, one parameter group each


def problem(n: int = 64, d: int = 10, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=torch.float32)
    w = torch.randn(d, classes, generator=g, dtype=torch.float32)
    return x, (x @ w).argmax(1)


def mlp(seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    f32 = torch.float32
    return torch.nn.Sequential(torch.nn.Linear(10, 32, dtype=f32), torch.nn.ReLU(), torch.nn.Linear(32, 32, dtype=f32),
                               torch.nn.ReLU(), torch.nn.Linear(32, 4, dtype=f32))


@contextlib.contextmanager
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def record(path: Path, steps: int = 40, every: int = 5, lr: float = 0.01, group: int | None = None,
           scale: float = 1.0, from_step: int = 1) -> Path:
    """A run; with `group`, that parameter group's learning rate ×`scale` from step `from_step` on."""
    x, y = problem()
    model = mlp()
    groups = [{"params": list(m.parameters())} for m in model if isinstance(m, torch.nn.Linear)]
    opt = torch.optim.SGD(groups, lr=lr)
    with one_thread(), dlcli.watch(model, opt, every=every, log=str(path)) as w:
        for step in range(1, steps + 1):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            if group is not None and step == from_step:
                opt.param_groups[group]["lr"] = lr * scale
            opt.step()
            w.record(loss=loss)
    return path
