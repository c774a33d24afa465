"""dlcli.watch in a torchrun FSDP2 job: a small transformer, fully_shard per block, float64 (the figures repeat
on any machine), each rank training on its half of every global batch.

    torchrun --standalone --nproc_per_node 2 examples/watch_fsdp.py runs/fsdp.db [LAYER=SCALE]

LAYER=SCALE multiplies one layer's learning rate from step 31 (blocks.1.up=100), for `dlcli diff`."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

import dlcli

VOCAB, WIDTH, LENGTH, BATCH, STEPS = 16, 32, 8, 32, 60


class Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(WIDTH), torch.nn.LayerNorm(WIDTH)
        self.qkv, self.proj = torch.nn.Linear(WIDTH, 3 * WIDTH), torch.nn.Linear(WIDTH, WIDTH)
        self.up, self.down = torch.nn.Linear(WIDTH, 4 * WIDTH), torch.nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v, is_causal=True))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class GPT(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, WIDTH)
        self.pos = torch.nn.Parameter(0.02 * torch.randn(LENGTH, WIDTH))
        self.blocks = torch.nn.Sequential(Block(), Block())
        self.ln = torch.nn.LayerNorm(WIDTH)
        self.head = torch.nn.Linear(WIDTH, VOCAB)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.ln(self.blocks(self.embed(idx) + self.pos))
        return self.head(x.reshape(-1, WIDTH))  # (batch × length, vocab)


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences counting up by a random stride mod VOCAB: the next token is predictable from the last two."""
    g = torch.Generator().manual_seed(step)
    start = torch.randint(0, VOCAB, (BATCH, 1), generator=g)
    stride = torch.randint(1, 4, (BATCH, 1), generator=g)
    seq = (start + stride * torch.arange(LENGTH + 1)) % VOCAB
    return seq[:, :-1], seq[:, 1:].reshape(-1)


def main(log: str, scale: str | None) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = GPT().double()
    mesh = init_device_mesh("cpu", (world,))
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    layer, _, factor = (scale or "").partition("=")
    scaled = [p for n, p in model.named_parameters() if layer and n.startswith(layer + ".")]
    rest = [p for p in model.parameters() if all(p is not q for q in scaled)]
    opt = torch.optim.AdamW([{"params": rest}, {"params": scaled}], lr=3e-3)
    part = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
    with dlcli.watch(model, opt, every=5, log=log, overwrite=True) as w:
        for step in range(1, STEPS + 1):
            if step == 31 and scaled:
                opt.param_groups[1]["lr"] *= float(factor)
            x, y = batch(step)
            loss = F.cross_entropy(model(x[part]), y.reshape(BATCH, LENGTH)[part].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            w.record(loss=loss)  # rank 0's own loss is stored (its half of the batch)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
