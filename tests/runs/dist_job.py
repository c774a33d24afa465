"""A user's training script under torchrun (`torchrun --nproc_per_node 2 dist_job.py OUT [kill]`): DDP and FSDP2
on an MLP and a small transformer, float64, each rank taking its half of one global batch, watched by dlcli.
Rank 0 also writes what a shard-local norm would log (the √shards bug). With `kill`, rank 1 dies at step 4."""

from __future__ import annotations

import json
import os
import signal
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812

import dlcli

STEPS, EVERY, BATCH, LR = 5, 2, 8, 0.3
CASES = [(wrap, net) for wrap in ("ddp", "fsdp") for net in ("mlp", "transformer")]


class Block(torch.nn.Module):
    """Pre-norm attention (functional softmax) and a GELU MLP, both residual."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.qkv, self.proj = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
        self.up, self.down = torch.nn.Linear(d, 2 * d), torch.nn.Linear(2 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        att = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
        x = x + self.proj(att @ v)
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class TinyTransformer(torch.nn.Module):
    def __init__(self, vocab: int = 11, d: int = 8, length: int = 5) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Parameter(0.1 * torch.randn(length, d))
        self.blocks = torch.nn.Sequential(Block(d), Block(d))
        self.ln = torch.nn.LayerNorm(d)
        self.head = torch.nn.Linear(d, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.ln(self.blocks(self.embed(idx) + self.pos[: idx.shape[1]])))


def build(net: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if net == "mlp":
        model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 10),
                                    torch.nn.ReLU(), torch.nn.Linear(10, 3))
    else:
        model = TinyTransformer()
    return model.double()


def batch(net: str, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch of a step (the same on every rank and in the single-process reference)."""
    g = torch.Generator().manual_seed(100 + step)
    if net == "mlp":
        return torch.randn(BATCH, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (BATCH,), generator=g)
    idx = torch.randint(0, 11, (BATCH, 5), generator=g)
    return idx, torch.roll(idx, -1, dims=1)


def loss_of(net: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def wrap(kind: str, model: torch.nn.Module, net: str) -> torch.nn.Module:
    if kind == "ddp":
        return torch.nn.parallel.DistributedDataParallel(model)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    parts = [m for m in model if isinstance(m, torch.nn.Linear)] if net == "mlp" else list(model.blocks)
    for part in parts:
        fully_shard(part, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def main(out: str, kill: bool) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    cases = CASES[:1] if kill else CASES
    local_norms, collectives = {}, {}
    calls = []
    all_reduce = dist.all_reduce
    dist.all_reduce = lambda *a, **k: calls.append(1) or all_reduce(*a, **k)  # counts the Python-level ones
    for kind, net in cases:
        calls.clear()
        model = wrap(kind, build(net), net)
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
        with dlcli.watch(model, opt, every=EVERY, log=os.path.join(out, f"{kind}-{net}.db"), overwrite=True) as w:
            for step in range(1, STEPS + 1):
                x, y = batch(net, step)
                part = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
                loss = loss_of(net, model(x[part]), y[part])
                opt.zero_grad()
                loss.backward()
                if step == 1 and kind == "fsdp":  # what a tool taking each shard's own norm would log
                    local_norms[net] = {n: float(torch.linalg.vector_norm(
                        p.grad.to_local() if hasattr(p.grad, "to_local") else p.grad)) for n, p in
                        model.named_parameters()}
                if kill and step == 4 and rank == 1:
                    os.kill(os.getpid(), signal.SIGKILL)
                opt.step()
                w.record(loss=loss)
        collectives[f"{kind}-{net}"] = len(calls)
        dist.barrier()
    if rank == 0:
        with open(os.path.join(out, "job.json"), "w") as f:
            json.dump({"shard_local_norms": local_norms, "all_reduce_calls": collectives}, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "kill")
