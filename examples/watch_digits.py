"""A user's own training loop on the digits, watched by dlcli: `python examples/watch_digits.py RUN.db [--lr LR]`.

The loop is plain PyTorch; `dlcli.watch` adds nothing to it but the `with` line and `w.record(loss=loss)`.
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits

import dlcli

parser = argparse.ArgumentParser()
parser.add_argument("log")
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--steps", type=int, default=600)
args = parser.parse_args()

torch.manual_seed(0)
torch.set_num_threads(1)
x, y = load_digits(return_X_y=True)
x = torch.tensor((x - x.mean(0)) / (x.std(0) + 1e-8))
y = torch.tensor(y)
model = torch.nn.Sequential(
    torch.nn.Linear(64, 128), torch.nn.ReLU(),
    torch.nn.Linear(128, 128), torch.nn.ReLU(),
    torch.nn.Linear(128, 128), torch.nn.ReLU(),
    torch.nn.Linear(128, 10),
).double()
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
order = torch.Generator().manual_seed(1)

with dlcli.watch(model, optimizer, every=20, log=args.log, overwrite=True) as w:
    for _ in range(args.steps):
        idx = torch.randint(0, len(y), (64,), generator=order)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        w.record(loss=loss)
