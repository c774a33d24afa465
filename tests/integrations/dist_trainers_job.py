"""Lightning's DDP strategy and the HF Trainer under accelerate's DDP, each with dlcli's WatchCallback, under
`torchrun --nproc_per_node 2 dist_trainers_job.py OUT`. Each rank gets its own examples; rank 0 also writes each
step's per-layer norm of the gradient the optimizer is about to use (DDP's mean over the ranks), read by hand."""

from __future__ import annotations

import json
import os
import sys

import lightning as L  # noqa: N812
import torch
import transformers
from lightning.pytorch.strategies import ModelParallelStrategy

from dlcli.integrations.lightning import WatchCallback as LightningWatch
from dlcli.integrations.transformers import WatchCallback as TrainerWatch

STEPS = 3


def net() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def norms(model: torch.nn.Module) -> dict[str, float]:
    """Each layer's weight gradient norm, by hand: a sharded (DTensor) gradient gathered whole first."""
    return {n.removesuffix(".weight"): float(getattr(p.grad, "full_tensor", lambda g=p.grad: g)().norm())
            for n, p in model.named_parameters() if "weight" in n}


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = net()
        self.seen: list[dict[str, float]] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def on_before_optimizer_step(self, optimizer):
        self.seen.append(norms(self))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Sharded(Tiny):
    """The same module under Lightning's ModelParallelStrategy: FSDP2's fully_shard on each Linear, then the root."""

    def configure_model(self):
        from torch.distributed.fsdp import fully_shard

        for layer in self.net:
            if isinstance(layer, torch.nn.Linear):
                fully_shard(layer, mesh=self.device_mesh["data_parallel"])
        fully_shard(self, mesh=self.device_mesh["data_parallel"])


class Seen(transformers.TrainerCallback):
    def __init__(self) -> None:
        self.seen: list[dict[str, float]] = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.seen.append(norms(model))


class HFTiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = net()

    def forward(self, x, labels=None):
        out = self.net(x)
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


class Data(torch.utils.data.Dataset):
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(48, 4, generator=g)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


def main(out: str) -> None:
    rank = int(os.environ["RANK"])
    model = Tiny()
    pairs = torch.utils.data.TensorDataset(Data().x, Data().y)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=STEPS, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[LightningWatch(every=1, log=os.path.join(out, "lightning.db"), overwrite=True)])
    trainer.fit(model, torch.utils.data.DataLoader(pairs, batch_size=4))
    sharded = Sharded()
    fsdp2 = ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1, process_group_backend="gloo")
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy=fsdp2,
                        max_steps=STEPS, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[
                            LightningWatch(every=1, log=os.path.join(out, "lightning-fsdp2.db"), overwrite=True)])
    trainer.fit(sharded, torch.utils.data.DataLoader(pairs, batch_size=4))
    seen = Seen()
    args = transformers.TrainingArguments(output_dir=os.path.join(out, "hf"), report_to=[], save_strategy="no",
                                          use_cpu=True, disable_tqdm=True, seed=0, max_steps=STEPS,
                                          per_device_train_batch_size=4, learning_rate=0.1, logging_steps=1)
    hf = transformers.Trainer(model=HFTiny(), args=args, train_dataset=Data(), callbacks=[
        TrainerWatch(every=1, log=os.path.join(out, "hf.db"), overwrite=True), seen])
    hf.train()
    if rank == 0:
        with open(os.path.join(out, "seen.json"), "w") as f:
            json.dump({"lightning": model.seen, "lightning-fsdp2": sharded.seen, "hf": seen.seen}, f)


if __name__ == "__main__":
    main(sys.argv[1])
