"""Two runs for `dlcli diff` (docs/diff.md): the same MLP, seed and data, but in run B one layer's learning rate
is multiplied from some step on.

    python examples/diff_mlp.py A.db B.db [LAYER] [FACTOR] [FROM_STEP]

An MLP (8 → 64 → 64 → 64 → 1, ReLU) fits a smooth function of 8 inputs by SGD with momentum, one parameter group
per Linear (`0`, `2`, `4`, `6`), in float64 and on one thread, so that both runs are the same on every machine
until the change. By default layer `4`'s learning rate is ×100 from step 101. Each run's final weights go beside
its store (A.pt, B.pt): `dlcli diff --model examples/diff_mlp.py:mlp --weights A.pt --weights B.pt`.
"""

from __future__ import annotations

import sys

import torch

import dlcli


def mlp() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(8, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 1),
    ).double()


def record(path: str, layer: str | None = None, factor: float = 1.0, from_step: int = 1, steps: int = 300,
           lr: float = 0.002) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(512, 8, dtype=torch.float64)
    y = (x[:, :4].sin().sum(1, keepdim=True) + 0.5 * x[:, 4:5] * x[:, 5:6])
    model = mlp()
    names = [n for n, m in model.named_children() if isinstance(m, torch.nn.Linear)]
    groups = [{"params": list(model.get_submodule(n).parameters())} for n in names]
    optimizer = torch.optim.SGD(groups, lr=lr, momentum=0.9)
    with dlcli.watch(model, optimizer, every=10, log=path, overwrite=True) as w:
        for step in range(1, steps + 1):
            batch = torch.arange(64) + 64 * (step % 8)
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
            loss.backward()
            if layer is not None and step == from_step:
                optimizer.param_groups[names.index(layer)]["lr"] = lr * factor
            optimizer.step()
            w.record(loss=loss)
    torch.save(model.state_dict(), path.removesuffix(".db") + ".pt")


if __name__ == "__main__":
    record(sys.argv[1])
    record(sys.argv[2], *(sys.argv[3:4] or ["4"]), *(float(a) for a in sys.argv[4:5] or ["100"]),
           *(int(a) for a in sys.argv[5:6] or ["101"]))
