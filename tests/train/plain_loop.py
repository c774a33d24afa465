"""A plain torch training loop written out, the reference the train tests compare with: train's split and
batch order, plain SGD, per epoch each parameter's ‖W_after − W_before‖ and ‖W_before‖ and the mean step loss."""

from __future__ import annotations

import numpy as np
import torch

from dlcli.train.split import batch_order, prepare


def model_class(path, name):
    """The class `name` of the model file at `path`, run as train runs it."""
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace[name]


def plain_sgd(config, data, build):
    """`build()` makes the model (seeded here as train seeds it); returns one dict per epoch."""
    torch.manual_seed(config.seed)
    model = build().to(torch.float64)
    prepared = prepare(data.x, data.y, data.x_test, data.y_test, test_split=config.test_split,
                       standardize_inputs=config.standardize, seed=config.seed)
    x, y = torch.from_numpy(prepared.x_train), torch.from_numpy(prepared.y_train)
    params = dict(model.named_parameters())
    epochs = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        before = {k: p.detach().clone() for k, p in params.items()}
        losses = []
        for idx in torch.from_numpy(batch_order(config.seed, epoch, len(y))).split(config.batch):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            grads = torch.autograd.grad(loss, list(params.values()))
            losses.append(loss.item())
            with torch.no_grad():
                for p, g in zip(params.values(), grads, strict=True):
                    p -= config.lr * g
        epochs.append({"train_loss": float(np.mean(losses)),
                       "moved": {k: (p.detach() - before[k]).norm().item() for k, p in params.items()},
                       "start": {k: before[k].norm().item() for k in params}})
    return epochs
