"""The torch training loop with the recording: per epoch the losses and accuracies, per layer how it learned.

Statistics stay on the device as tensors and come to the host once per epoch, in one copy. Steps never wait
for the host: a NaN/inf loss or gradient leaves the epoch's sums NaN/inf, and an epoch found bad so at its end
is run again from a copy taken at its start, checking every step, to say where it went wrong.
(A check per step would make a GPU wait for the host at every step.)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dlcli.errors import InputError
from dlcli.probe.kinds import first_tensor
from dlcli.train.config import MOMENTUM, TrainConfig
from dlcli.train.result import Divergence, EpochRecord, LayerEpoch
from dlcli.train.split import batch_order
from dlcli.vanish.statistics import MIN_DEAD_EXAMPLES

EpochProgress = Callable[[EpochRecord, int], None]  # (the epoch just finished, epochs in all)
EVAL_CHUNK = 8192   # test examples per forward pass at an epoch's end


@dataclass
class Network:
    """What the loop trains: the model, and per row (layer) its name, its weight and the module whose output
    the row's dead_frac and act_std describe (the activation after a built stack's linear layer)."""

    model: Any
    names: Sequence[str]
    weights: Sequence[Any]         # the rows' weight tensors, in row order (an LSTM's row has several)
    layer_modules: Sequence[Any]   # whose output is the layer's output z (divergence is located there)
    probes: Sequence[Any]          # whose output the statistics describe
    loss_fn: Callable[[Any, Any], Any] | None = None        # (output, y) -> loss; None: config.loss on logits
    count_correct: Callable[[Any, Any], Any] | None = None  # (output, y) -> right answers; None: argmax of logits
    tensor_rows: Sequence[int] | None = None  # each weight tensor's row; None: one tensor per row
    own_model: Any = None          # the user's module where `model` wraps it (train --log watches this one)


@dataclass
class LoopOutput:
    initial: EpochRecord
    epochs: list[EpochRecord]
    divergence: Divergence | None


def one_value_norms(torch: Any, model: Any, call: Callable[[], Any]) -> tuple[Any, list[str]]:
    """`call()`'s result, and the batch-norm modules whose input held one value per channel and example in that
    pass (a minibatch of one example is one value per channel: training mode cannot normalise it)."""
    found: list[str] = []

    def hook(name: str) -> Callable[..., None]:
        def see(_module: Any, inputs: Any) -> None:
            x = inputs[0] if inputs else None
            if isinstance(x, torch.Tensor) and x.dim() >= 2 and int(np.prod(x.shape[2:])) == 1:
                found.append(name)
        return see

    norms = torch.nn.modules.batchnorm._BatchNorm
    handles = [m.register_forward_pre_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, norms)]
    try:
        return call(), found
    finally:
        for h in handles:
            h.remove()


def check_last_batch(norms: list[str], n: int, batch: int | None) -> None:
    """Refuse a run whose last minibatch holds one example when batch norm (`norms`) would get one value per
    channel from it: torch cannot normalise that in training mode. The fix is named: another --batch."""
    size = n if batch is None else min(batch, n)
    if not norms or n % size != 1 and size != 1:
        return
    if n == 1:
        raise InputError(f"batch norm ({norms[0]}) cannot train on a training set of one example")
    fits = next(b for d in range(n) for b in (size - d, size + d) if 2 <= b <= n and n % b != 1)
    raise InputError(f"--batch {batch or 'full'} leaves one example in the last minibatch ({n} training examples) "
                     f"and batch norm ({norms[0]}) cannot normalise one example in training mode: give another "
                     f"--batch, e.g. {fits}")


def make_optimizer(torch: Any, params: Any, config: TrainConfig) -> Any:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    momentum = MOMENTUM if config.optimizer == "momentum" else 0.0
    return torch.optim.SGD(params, lr=config.lr, momentum=momentum, weight_decay=config.weight_decay)


def loss_function(torch: Any, config: TrainConfig, classes: int) -> Callable[[Any, Any], Any]:
    """cross_entropy on the logits, or mse (mean over batch and outputs) against one-hot targets."""
    functional = torch.nn.functional
    if config.loss == "mse":
        return lambda out, y: functional.mse_loss(out, functional.one_hot(y, classes).to(out.dtype))
    return functional.cross_entropy


def train_loop(torch: Any, net: Network, x_train: Any, y_train: Any, x_test: Any, y_test: Any, classes: int,
               config: TrainConfig, progress: EpochProgress | None = None, check_each: bool | None = None,
               log: str | None = None, log_every: int | None = None) -> LoopOutput:
    """Train for config.epochs epochs (x, y: tensors on the device), recording every epoch (`check_each`:
    check every step for NaN/inf as it goes; by default only an epoch found bad is run again so). `log`: also
    record the run under dlcli.watch into that run store, every `log_every` steps (default: ~100 samples)."""
    loop = _Loop(torch, net, x_train, y_train, x_test, y_test, classes, config)
    if log is None:
        return _train(loop, net, config, progress, bool(check_each))
    from dlcli.runs.watch import Watch

    per_epoch = 1 if config.batch is None else -(-len(y_train) // config.batch)
    every = log_every or max(1, config.epochs * per_epoch // 100)
    loop.watch = Watch(net.own_model or net.model, loop.optimizer, every=every, log=log,
                       config={"command": "dlcli train", "train": config.as_dict()})
    with loop.watch:  # each step checked as it goes: an epoch is never replayed into the store
        return _train(loop, net, config, progress, True)


def _train(loop: _Loop, net: Network, config: TrainConfig, progress: EpochProgress | None, check_each: bool,
           ) -> LoopOutput:
    initial = loop.record(0, None)
    divergence = loop.initial_fault(initial)  # the model's own NaN/inf, before any update
    epochs: list[EpochRecord] = []
    for epoch in range(1, config.epochs + 1) if divergence is None else ():
        state = loop.snapshot()
        if epoch == 1:
            loop.first_state = state  # kept: a later bad batch is checked at the initial weights too
        saved = None if check_each else (copy.deepcopy(loop.optimizer.state_dict()), loop.step)
        sums, divergence = loop.epoch(epoch, check_each, state)
        if divergence is None and saved is not None and loop.went_bad(sums):
            net.model.load_state_dict(state)
            loop.optimizer.load_state_dict(saved[0])
            loop.step = saved[1]
            sums, divergence = loop.epoch(epoch, True, state)
        if divergence is not None:
            break
        record = loop.record(epoch, sums)
        divergence = loop.bad_parameter(epoch)  # a zero-norm weight's undefined update ratio is no divergence
        if divergence is not None:
            break
        epochs.append(record)
        if progress is not None:
            progress(record, config.epochs)
    return LoopOutput(initial, epochs, divergence)


class _Loop:
    def __init__(self, torch: Any, net: Network, x_train: Any, y_train: Any, x_test: Any, y_test: Any,
                 classes: int, config: TrainConfig) -> None:
        self.torch, self.net, self.config = torch, net, config
        self.x, self.y, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self.loss_fn = net.loss_fn or loss_function(torch, config, classes)
        self.count_correct = net.count_correct or (lambda out, y: (out.argmax(dim=1) == y).sum())
        self.optimizer = make_optimizer(torch, net.model.parameters(), config)
        self.step = 0
        self.watch: Any = None  # dlcli.watch recording the run into a store (train --log)
        self.first_state: dict[str, Any] | None = None  # the model's state before the first update
        self.device, self.dtype = x_train.device, x_train.dtype
        keys = {id(p): k for k, p in net.model.state_dict(keep_vars=True).items()}
        self.weight_keys = [keys.get(id(w)) for w in net.weights]  # None: a weight the state does not hold
        self.params, self.param_names, self.param_rows = _parameters(net)
        self.param_max: Any = None  # per parameter max |value| at the last record (host): NaN/inf = not finite
        self.rows = len(net.names)
        by_row = net.tensor_rows
        self.row_index = None if by_row is None or list(by_row) == list(range(self.rows)) else \
            torch.tensor(list(by_row), device=self.device)

    def per_row(self, norms: Any) -> Any:
        """Per-tensor norms (the last axis) as per-row norms: √(Σ ‖t‖²) over each row's tensors."""
        if self.row_index is None:
            return norms
        shape = (*norms.shape[:-1], self.rows)
        return norms.new_zeros(shape).index_add_(norms.dim() - 1, self.row_index, norms * norms).sqrt()

    def snapshot(self) -> dict[str, Any]:
        """A copy of the model's state at an epoch's start: the update ratios' reference, and what an epoch
        found bad is replayed from (one copy for both)."""
        return {k: v.detach().clone() for k, v in self.net.model.state_dict().items()}

    def batches(self, epoch: int) -> Iterator[tuple[Any, Any]]:
        n = len(self.y)
        if self.config.batch is None or self.config.batch >= n:
            yield self.x, self.y
            return
        order = self.torch.from_numpy(batch_order(self.config.seed, epoch, n)).to(self.device)
        for idx in order.split(self.config.batch):
            yield self.x[idx], self.y[idx]  # gathered just before its step, while that step has it in cache

    def epoch(self, epoch: int, check_each: bool, state: dict[str, Any]) -> tuple[dict[str, Any], Divergence | None]:
        """One pass over the training set from `state` (the snapshot); the sums stay tensors on the device.
        Per step only the recorded values' own kernels run (kept in lists, added up once at the end)."""
        torch, weights, model = self.torch, self.net.weights, self.net.model
        model.train()
        before = [state[k] if k is not None else w.detach().clone() for k, w in zip(self.weight_keys, weights,
                                                                                       strict=True)]
        losses: list[Any] = []
        correct: list[Any] = []
        norms: list[Any] = []
        for xb, yb in self.batches(epoch):
            self.step += 1
            self.optimizer.zero_grad(set_to_none=True)
            try:
                out = model(xb)
                loss = self.loss_fn(out, yb)
                loss.backward()
            except (InputError, MemoryError, torch.cuda.OutOfMemoryError):
                raise
            except Exception as exc:  # the user's model failing on this minibatch: their error in one line
                from dlcli.memory import is_out_of_memory
                from dlcli.probe.loader import user_error

                if is_out_of_memory(exc):
                    raise  # memory that ran out: train's run time failure (exit 1), not the model's

                raise user_error(exc, f"step {self.step} (epoch {epoch}) failed") from None
            if self.watch is not None:
                self.watch.record(loss=loss)
            # One fused call for every layer (a hook per layer, taking each norm while autograd has that
            # gradient in cache, measured no faster here on a CPU, and puts Python calls into a GPU's backward).
            step_norms = torch._foreach_norm([w.grad if w.grad is not None else torch.zeros_like(w)
                                              for w in weights])
            with torch.no_grad():
                losses.append(loss.detach())
                correct.append(self.count_correct(out.detach() if hasattr(out, "detach") else out, yb))
                norms.extend(step_norms)
                if check_each and not bool(torch.isfinite(loss.detach() + sum(step_norms))):
                    return {}, self.origin(epoch, xb, yb, self.locate(epoch, xb, yb))
            self.optimizer.step()
        steps = len(losses)
        with torch.no_grad():
            moved = torch._foreach_sub([w.detach() for w in weights], before)
            update = self.per_row(torch.stack(torch._foreach_norm(moved)))
            start = self.per_row(torch.stack(torch._foreach_norm(before)))
            grad_sum = self.per_row(torch.stack(norms).reshape(steps, len(weights))).sum(dim=0)
        return {"loss_sum": torch.stack(losses).sum(), "correct": torch.stack(correct).sum(), "grad_sum": grad_sum,
                "steps": steps, "update": update, "start": start}, None

    def went_bad(self, sums: dict[str, Any]) -> bool:
        """Whether some step of the epoch had a NaN/inf loss or gradient: losses and norms are ≥ 0, so such a
        value leaves their sums NaN or inf (one sync per epoch)."""
        return not bool(self.torch.isfinite(sums["loss_sum"] + sums["grad_sum"].sum()))

    def record(self, epoch: int, sums: dict[str, Any] | None) -> EpochRecord:
        """Evaluate on the test set and bring this epoch's numbers to the host in one copy (with each parameter's
        largest |value|, for bad_parameter)."""
        torch = self.torch
        test_loss, test_correct, dead, std = self.evaluate()
        with torch.no_grad():
            param_max = torch.stack(torch._foreach_norm([p.detach() for p in self.params], ord=float("inf")))
        parts = [test_loss.reshape(1), test_correct.reshape(1).to(torch.float64), dead, std, param_max]
        rows, n_params = self.rows, len(self.params)
        if sums is not None:
            parts += [sums["loss_sum"].reshape(1), sums["correct"].reshape(1).to(torch.float64), sums["grad_sum"],
                      sums["update"], sums["start"]]
        host = torch.cat([p.to(torch.float64) for p in parts]).cpu().numpy()
        n_test, n_train = len(self.y_test), len(self.y)
        dead_h, std_h = host[2:2 + rows], host[2 + rows:2 + 2 * rows]
        if n_test < MIN_DEAD_EXAMPLES:  # a live unit can be constant on so few examples by chance
            dead_h = np.full(rows, np.nan)
        self.param_max = host[2 + 2 * rows:2 + 2 * rows + n_params]
        ratios: list[float | None]
        if sums is None:
            train_loss = train_acc = float("nan")
            grad_h = update_h = np.full(rows, np.nan)
            ratios = [float("nan")] * rows
        else:
            rest = host[2 + 2 * rows + n_params:]
            train_loss, train_acc = float(rest[0]) / sums["steps"], float(rest[1]) / n_train
            grad_h, update_h = rest[2:2 + rows] / sums["steps"], rest[2 + rows:2 + 2 * rows]
            start_h = rest[2 + 2 * rows:2 + 3 * rows]
            # ‖ΔW‖/‖W‖ is not defined for a weight that starts the epoch at zero (timm's zero_init_last BN γ):
            # None, and its update_norm says how far it moved.
            ratios = [float(u / w) if w != 0 else None for u, w in zip(update_h, start_h, strict=True)]
        layers = tuple(LayerEpoch(i + 1, self.net.names[i], float(grad_h[i]), ratios[i], float(update_h[i]),
                                  float(dead_h[i]), float(std_h[i])) for i in range(rows))
        return EpochRecord(epoch, train_loss, train_acc, float(host[0]), float(host[1]) / n_test, layers)

    def bad_parameter(self, epoch: int) -> Divergence | None:
        """The first parameter (in the model's order) that is not finite at the last record, if any."""
        bad = np.flatnonzero(~np.isfinite(self.param_max))
        if not len(bad):
            return None
        i = int(bad[0])
        row = self.param_rows[i]
        return Divergence(self.step, epoch, row + 1, self.net.names[row], "weights", self.param_names[i])

    def initial_fault(self, initial: EpochRecord) -> Divergence | None:
        """Before any update: a parameter that is not finite, or where the test examples' loss is not."""
        bad = self.bad_parameter(0)
        if bad is not None or np.isfinite(initial.test_loss):
            return bad
        self.net.model.eval()
        for start in range(0, len(self.y_test), EVAL_CHUNK):
            found = self.locate(0, self.x_test[start:start + EVAL_CHUNK], self.y_test[start:start + EVAL_CHUNK],
                                only_bad=True)
            if found is not None:
                return found
        top = len(self.net.names)
        return Divergence(0, 0, top, self.net.names[-1], "loss")

    def evaluate(self) -> tuple[Any, Any, Any, Any]:
        """Test loss, correct count, and per row the dead share and output std, as device tensors."""
        torch, model = self.torch, self.net.model
        model.eval()
        probes = self.net.probes
        acc: list[list[Any] | None] = [None] * len(probes)  # per probe: min, max, sum, sum of squares, count

        def hook(i: int) -> Callable[..., None]:
            def grab(_module: Any, _inputs: Any, output: Any) -> None:
                output = first_tensor(output)  # an LSTM's (output, (h, c)): its output
                if output is None or output.dim() == 0:
                    return
                flat = output.detach().reshape(output.shape[0], -1)
                lo, hi = torch.aminmax(flat, dim=0)
                f64 = flat.to(torch.float64)
                part = [lo, hi, f64.sum(), torch.linalg.vector_norm(f64).square(), flat.numel()]
                old = acc[i]
                acc[i] = part if old is None else [torch.minimum(old[0], part[0]), torch.maximum(old[1], part[1]),
                                                   old[2] + part[2], old[3] + part[3], old[4] + part[4]]
            return grab

        handles = [p.register_forward_hook(hook(i)) for i, p in enumerate(probes)]
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        n = len(self.y_test)
        try:
            with torch.no_grad():
                for start in range(0, n, EVAL_CHUNK):
                    xb, yb = self.x_test[start:start + EVAL_CHUNK], self.y_test[start:start + EVAL_CHUNK]
                    out = model(xb)
                    loss_sum += self.loss_fn(out, yb).to(torch.float64) * len(yb)
                    correct = correct + self.count_correct(out, yb)
        finally:
            for h in handles:
                h.remove()
        # A few vector operations over all rows, not a dozen tiny ones per row; a probe the forward pass did not
        # reach has NaN statistics.
        nan = torch.full((), float("nan"), dtype=torch.float64, device=self.device)
        dead_units = torch.stack([(a[0] == a[1]).sum().to(torch.float64) if a is not None else nan for a in acc])
        units = torch.tensor([a[0].numel() if a is not None else 1 for a in acc], dtype=torch.float64,
                             device=self.device)
        s1 = torch.stack([a[2] if a is not None else nan for a in acc])
        s2 = torch.stack([a[3] if a is not None else nan for a in acc])
        count = torch.tensor([a[4] if a is not None else 1 for a in acc], dtype=torch.float64, device=self.device)
        mean = s1 / count
        std = torch.clamp(s2 / count - mean * mean, min=0.0).sqrt()
        return loss_sum / n, correct, dead_units / units, std

    def origin(self, epoch: int, xb: Any, yb: Any, found: Divergence | None) -> Divergence | None:
        """A bad step after updates, checked on the same batch at the initial weights: where it is NaN/inf there
        too, the model makes it (located there, `at_start`), not the learning rate."""
        if found is None or found.step <= 1 or self.first_state is None:
            return found
        torch, model = self.torch, self.net.model
        now = self.snapshot()
        try:
            model.load_state_dict(self.first_state)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.enable_grad():  # called from inside the step's no_grad block
                loss = self.loss_fn(model(xb), yb)
                loss.backward()
            grads = [w.grad for w in self.net.weights if w.grad is not None]
            if bool(torch.isfinite(loss.detach())) and all(bool(torch.isfinite(g).all()) for g in grads):
                return found
            there = self.locate(epoch, xb, yb)
        finally:
            model.load_state_dict(now)
            self.optimizer.zero_grad(set_to_none=True)
        return None if there is None else replace(there, at_start=True)

    def locate(self, epoch: int, xb: Any, yb: Any, only_bad: bool = False) -> Divergence | None:
        """Where step self.step went wrong, from its weights (not yet updated): the first layer whose output is
        not finite, else the model's output, else the top-most layer whose weight gradient is not finite, else
        the loss (`only_bad`: None where this batch's loss is finite; gradients are not looked at)."""
        torch, net = self.torch, self.net
        outputs: dict[int, bool] = {}

        def hook(i: int) -> Callable[..., None]:
            def grab(_module: Any, _inputs: Any, output: Any) -> None:
                output = first_tensor(output)
                if output is not None:
                    outputs[i] = outputs.get(i, True) and bool(torch.isfinite(output).all())
            return grab

        # a row's own output, and its activation's (a built stack's φ(z) may be the first NaN: log(x) of z < 0)
        watched = [(i, m) for i, m in enumerate(net.layer_modules)]
        watched += [(i, p) for i, p in enumerate(net.probes) if p is not net.layer_modules[i]]
        handles = [m.register_forward_hook(hook(i)) for i, m in watched]
        try:
            with torch.no_grad():
                out = net.model(xb)
                loss = self.loss_fn(out, yb)
        finally:
            for h in handles:
                h.remove()
        step = 0 if only_bad else self.step
        for i in sorted(outputs):
            if not outputs[i]:
                return Divergence(step, epoch, i + 1, net.names[i], "output")
        top = len(net.names)
        shown = first_tensor(out)  # a dict or tuple: its first tensor
        if shown is not None and not bool(torch.isfinite(shown).all()):
            return Divergence(step, epoch, top, net.names[-1], "model")
        if bool(torch.isfinite(loss)):
            if only_bad:
                return None
            rows_of = net.tensor_rows or range(len(net.weights))
            for i in range(top - 1, -1, -1):
                grads = [w.grad for w, r in zip(net.weights, rows_of, strict=True) if r == i and w.grad is not None]
                if any(not bool(torch.isfinite(g).all()) for g in grads):
                    return Divergence(step, epoch, i + 1, net.names[i], "gradient")
        return Divergence(step, epoch, top, net.names[-1], "loss")


def _parameters(net: Network) -> tuple[list[Any], list[str], list[int]]:
    """The model's parameters in its order, their names, and per parameter its row (0-based): the row of the
    module holding it, else the last row before that module (the first row before any)."""
    rows = {id(m): i for i, m in enumerate(net.layer_modules)}
    params, names, where = [], [], []
    seen: set[int] = set()
    row = 0
    for prefix, module in net.model.named_modules():
        row = rows.get(id(module), row)
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            params.append(p)
            names.append(f"{prefix}.{name}" if prefix else name)
            where.append(row)
    return params, names, where
