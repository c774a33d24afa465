"""A watch under torch.distributed (DDP, FSDP2, DTensor): each rank's sample reduced to global figures with one
all-reduce of one flat float64 buffer. Norms come from squared sums (never a shard's own norm), a replicated
tensor's share counted once, activation statistics over every rank's examples, dead units over the global batch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.probe.kinds import local, row_weights

# Per row, summed over ranks: a data-parallel rank's own examples (the first eight), a tensor's share (the last
# four, each rank's local squared sum divided by how many ranks hold the same entries).
ADDED = ("out_sum", "out_sq", "act_sum", "act_sq", "saturated", "e_dphi2", "grad_sq", "numel",
         "weight_sum", "weight_sq", "weight_grad_sq", "update_sq")
MAXED = ("out_absmax", "act_absmax")  # per rank, in its own slot (the others add zeros): the max is taken after


def world(torch: Any) -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) outside torch.distributed."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def unwrap(model: Any) -> Any:
    """The module DDP (or DataParallel) wraps: its names are the model's own, as in a single-process run."""
    while type(model).__name__ in ("DistributedDataParallel", "DataParallel") and hasattr(model, "module"):
        model = model.module
    return model


def replication(t: Any, world_size: int) -> int:
    """How many ranks hold the same entries of `t`: a DTensor's shards are split over its mesh's sharded
    dimensions; a plain tensor under DDP is the same on every rank."""
    if type(t).__name__ != "DTensor":
        return world_size
    shards = math.prod(t.device_mesh.size(d) for d, p in enumerate(t.placements) if p.is_shard())
    return max(1, world_size // shards)


def module_parallelism(module: Any, world_size: int) -> str:
    """How a row's weights are laid out over the ranks, in words: 'replicated', 'Shard(dim=0) on a mesh of 2'."""
    weights = row_weights(module)
    placed = [w for w in weights if type(w).__name__ == "DTensor"]
    if placed:
        w = placed[0]
        return f"{', '.join(repr(p) for p in w.placements)} on a mesh of {w.device_mesh.size()}"
    return "replicated" if world_size > 1 else "local"


def shares(torch: Any, tensors: list[Any], world_size: int, before: list[Any] | None = None) -> tuple[Any, Any]:
    """(Σ entries, Σ squares) of `tensors` (or of tensor − before), each rank's local part divided by how many
    ranks hold it: summed over ranks, the whole tensors' figures, each entry counted once."""
    total: Any = 0.0
    squares: Any = 0.0
    for k, t in enumerate(tensors):  # on the tensors' device: the host reads a row's two sums once, not each tensor's
        part = local(t.detach()).double()
        if before is not None:
            part = part - before[k].double()
        r = replication(t, world_size)
        total = total + part.sum() / r
        squares = squares + part.pow(2).sum() / r
    return total, squares


@dataclass
class Layout:
    """Where each rank's figures sit in the flat buffer: ADDED per row, the alive units of each row with an
    activation, the non-finite mask per parameter tensor, then one slot per rank for MAXED per row and the first
    non-finite step."""

    rows: int
    units: list[tuple[int, int]]    # (row, width) of each row whose alive units are reduced
    params: int
    world_size: int

    @property
    def added(self) -> int:
        return self.rows * len(ADDED) + sum(w for _, w in self.units) + self.params

    @property
    def per_rank(self) -> int:
        return self.rows * len(MAXED) + 1

    @property
    def size(self) -> int:
        return self.added + self.world_size * self.per_rank

    @property
    def bytes(self) -> int:
        return 8 * self.size


def pack(torch: Any, layout: Layout, rank: int, added: np.ndarray, alive: list[Any], mask: Any,
         maxed: np.ndarray, first_step: int) -> Any:
    """This rank's flat buffer: its sums, alive units and mask, and its own slot of maxima (zeros elsewhere)."""
    buf = torch.zeros(layout.size, dtype=torch.float64)
    buf[:added.size] = torch.from_numpy(added.reshape(-1))
    at = added.size
    for (_, width), units in zip(layout.units, alive, strict=True):
        buf[at:at + width] = units.reshape(-1).to(device="cpu", dtype=torch.float64)
        at += width
    buf[at:at + layout.params] = mask.to(device="cpu", dtype=torch.float64)
    slot = layout.added + rank * layout.per_rank
    buf[slot:slot + maxed.size] = torch.from_numpy(maxed.reshape(-1))
    buf[slot + maxed.size] = float(first_step)
    return buf


@dataclass
class Reduced:
    """The global figures of a sample, read back from the all-reduced buffer."""

    added: np.ndarray         # rows × ADDED, summed over ranks
    dead: dict[int, int]      # row -> units zero on every rank's every example
    bad: np.ndarray           # per parameter tensor: non-finite on some rank
    maxed: np.ndarray         # rows × MAXED, the max over ranks
    first_step: int           # the first non-finite step over ranks, -1 where none


def unpack(layout: Layout, buf: np.ndarray) -> Reduced:
    added = buf[:layout.rows * len(ADDED)].reshape(layout.rows, len(ADDED))
    at = added.size
    dead = {}
    for row, width in layout.units:
        dead[row] = int(np.count_nonzero(buf[at:at + width] == 0))
        at += width
    bad = buf[at:at + layout.params] > 0
    slots = buf[layout.added:].reshape(layout.world_size, layout.per_rank)
    maxed = slots[:, :-1].max(axis=0).reshape(layout.rows, len(MAXED))
    steps = slots[:, -1]
    found = steps[steps > 0]
    return Reduced(added, dead, bad, maxed, int(found.min()) if found.size else -1)


def all_reduce(torch: Any, buf: Any, device: Any) -> np.ndarray:
    """The one collective of a sampled step (on the model's device, as NCCL needs)."""
    moved = buf.to(device)
    torch.distributed.all_reduce(moved)
    return np.asarray(moved.cpu().numpy(), dtype=np.float64)
