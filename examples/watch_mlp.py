"""A plain PyTorch training loop under `dlcli.watch`: the run store that `dlcli report` reads (docs/report.md).

    python examples/watch_mlp.py RUN.db [LR] [STEPS]

An MLP (8 → 64 → 64 → 64 → 1, ReLU) fits a smooth function of 8 inputs by SGD, seeded and in float64 so that the
report is the same on every run. LR 0.05 (the default) trains; LR 0.6 makes it blow up.
"""

from __future__ import annotations

import sys

import torch

import dlcli


def main(path: str, lr: float = 0.05, steps: int = 300) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(512, 8, dtype=torch.float64)
    y = (x[:, :4].sin().sum(1, keepdim=True) + 0.5 * x[:, 4:5] * x[:, 5:6])
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 1),
    ).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    with dlcli.watch(model, optimizer, every=10, log=path, overwrite=True) as w:
        for step in range(steps):
            batch = torch.arange(64) + 64 * (step % 8)
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            w.record(loss=loss)


if __name__ == "__main__":
    main(sys.argv[1], *(float(a) for a in sys.argv[2:3]), *(int(a) for a in sys.argv[3:4]))
