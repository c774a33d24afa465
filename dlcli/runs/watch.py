"""`dlcli.watch`: probe's hooks inside the user's own training loop. Steps are the optimizer's (its step hooks);
on a sampled step (1, 1+every, ...) probe's pass records every row and its reading, and the update is measured
over that step. Every step, a non-finite gradient is looked for on the device with no host synchronisation.
Under torch.distributed every rank watches, a sample is reduced over the ranks (runs/distributed.py) and rank 0
alone writes the store."""

from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Any

import numpy as np

from dlcli.errors import InputError, RunError
from dlcli.probe.graph import Graph, read_graph
from dlcli.probe.hooks import Pass, collect, hook_plan, value
from dlcli.probe.kinds import class_name, first_tensor, local, owner_modules, row_weights
from dlcli.probe.report import block_of, judge
from dlcli.runs import distributed as ranks
from dlcli.runs.store import RunWriter

FLUSH_SECONDS = 1.0   # on a CPU, recorded values reach the store at least this often (no device to wait for)
RING_ENTRIES = 2**20  # per-step gradient norms kept on the device between samples (4 MiB of float32), at most


class Watch:
    """A watched training run; use as a context manager (hooks are removed on exit, exception or Ctrl-C)."""

    def __init__(self, model: Any, optimizer: Any = None, *, every: int = 50, log: str | None = None,
                 overwrite: bool = False, config: dict[str, Any] | None = None) -> None:
        import torch

        model = ranks.unwrap(model)  # DDP's names are the model's own
        if not isinstance(model, torch.nn.Module):
            raise InputError(f"watch needs an nn.Module, got {type(model).__name__}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InputError(f"every must be a whole number of steps, at least 1 (got {every!r})")
        while isinstance(getattr(optimizer, "optimizer", None), torch.optim.Optimizer):
            optimizer = optimizer.optimizer  # accelerate's and Lightning's wrappers (accelerate's is an Optimizer)
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise InputError(f"watch needs a torch.optim.Optimizer (or none, marking steps with w.step()), "
                             f"got {type(optimizer).__name__}")
        if any(type(m).__name__ == "FullyShardedDataParallel" for m in model.modules()) or \
                any(getattr(p, "_fsdp_flattened", False) for p in model.parameters()):
            raise InputError("watch reads FSDP2 (fully_shard) and DDP models; FullyShardedDataParallel (FSDP1) "
                             "keeps flat shards it cannot name: use fully_shard")
        if not owner_modules(model):
            raise InputError("the model has no parameters: nothing to watch")
        self.torch = torch
        self.rank, self.world_size = ranks.world(torch)
        self.model = model
        self.optimizer = optimizer
        self.every = every
        self.log = log
        self.overwrite = overwrite
        self.extra = dict(config or {})
        self.steps = 0                # optimizer steps completed
        self.forward_since = False    # a forward pass with gradients ran since the last step
        self.pending: list[tuple[int, str, Any]] = []   # (step, name, value) recorded, to the host on a sample
        self.order: list[str] = []                       # row names in forward order, from the last sample
        self.nonfinite: dict[str, Any] | None = None
        self.writer: RunWriter | None = None
        self.path = log
        self.handles: list[Any] = []
        self.handles_root: Any = None
        self.run: Pass | None = None
        self.graph: Graph | None = None
        self.measured: Any = None
        self.snapshot: list[Any] | None = None
        self.failure: str | None = None   # dlcli's own error on a sample: sampling stopped
        self.flushed = time.monotonic()
        self.open = False

    # --- the user's side ---------------------------------------------------------------------------

    def __enter__(self) -> Watch:
        self.start()
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        status = "finished" if kind is None else "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed"
        self.close(status)

    def record(self, **values: Any) -> None:
        """Named scalars (the loss, an accuracy) for the current step; tensors stay on the device until a sample."""
        step = max(1, self.steps + 1 if self.forward_since else self.steps)
        for name, v in values.items():
            if isinstance(v, self.torch.Tensor):
                if v.numel() != 1:
                    raise InputError(f"record({name}=...) takes a number or a one-element tensor, "
                                     f"got shape {tuple(v.shape)}")
                v = v.detach() if v.dim() == 0 else v.detach().reshape(())
            elif not isinstance(v, (int, float)) or isinstance(v, bool):
                raise InputError(f"record({name}=...) takes a number or a one-element tensor, got {type(v).__name__}")
            self.pending.append((step, name, v))

    def step(self) -> None:
        """Marks a step where there is no optimizer: call it after the update, before the gradients are zeroed."""
        if self.optimizer is not None:
            raise InputError("the optimizer's own steps are counted: call w.step() only in a watch without one")
        self._before_step()
        self._after_step()

    # --- life cycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self.open:
            raise InputError("this watch is already running")
        torch = self.torch
        self.params = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        self.tensors = [p for _, p in self.params]
        # Read once for every sample (as self.params is): the rows, the modules hooked on a sampled step (rows and
        # activations only: the others' hooks would only track the modules running, for probe's error message),
        # each row's weights, every parameter. behaves_like probes a module class by calling it: the random
        # state is kept.
        state = torch.random.get_rng_state()
        self.plan = hook_plan(torch, self.model, every_module=False)
        torch.random.set_rng_state(state)
        self.rows = self.plan.rows
        self.row_weights = [row_weights(m) for _, m in self.rows]
        self.all_params = list(self.model.named_parameters())
        self.weights = self._row_tensors()
        self.row_index = {n: i for i, (n, _) in enumerate(self.rows)}
        self.weight_index = {id(w): k for k, w in enumerate(self.weights)}
        first = self.params[0][1] if self.params else next(self.model.parameters())
        self.device = first.device
        self.on_cpu = self.device.type == "cpu"
        self._check_memory()
        count = max(len(self.params), 1)
        self.ring = torch.zeros(max(1, min(self.every, RING_ENTRIES // count)), count, dtype=torch.float32,
                                device=self.device)
        self.ring_rows = list(self.ring.unbind(0))  # one view per step's row, made once
        self.ring_base, self.ring_used = 1, 0
        self.first_step = torch.full((), -1, dtype=torch.int64, device=self.device)
        self.first_mask = torch.zeros(count, dtype=torch.bool, device=self.device)
        self.zero = torch.zeros((), dtype=first.dtype, device=self.device)
        if self.rank == 0:  # the other ranks measure and reduce; one store
            if self.log is None:
                self.log = temporary_store()
            modules = [(n, class_name(m), block_of(n),
                        sum(p.numel() for p in m._parameters.values() if p is not None)) for n, m in self.rows]
            self.writer = RunWriter(self.log, self.config(), modules, self.overwrite)
        self.path = self.log
        if self.optimizer is not None:
            self.handles.append(self.optimizer.register_step_pre_hook(self._step_pre_hook))
            self.handles.append(self.optimizer.register_step_post_hook(lambda *_: self._after_step()))
        self.handles.append(self.model.register_forward_pre_hook(self._forward_seen))
        self.open = True
        self._arm()

    def _check_memory(self) -> None:
        """A sampled step copies the weights (the update ratio's reference): refused up front if that copy would
        not fit beside the model."""
        need = sum(local(w).numel() * w.element_size() for w in self.weights)
        if self.device.type == "cuda":
            have: int | None = int(self.torch.cuda.mem_get_info(self.device)[0])
        elif self.on_cpu:
            from dlcli.vanish.memory import available_bytes

            have = available_bytes()
        else:
            have = None
        if have is not None and need > have // 2:
            raise RunError(f"dlcli.watch copies the weights on a sampled step ({need / 2**30:.2f} GiB) for the "
                           f"update ratio; {have / 2**30:.2f} GiB is free on {self.device}, and it keeps half of "
                           "that for your training")

    def close(self, status: str = "finished") -> None:
        """Hooks removed, what was recorded flushed and the store closed with the run's status."""
        if not self.open:
            return
        self.open = False
        for h in self.handles:
            h.remove()
        self.handles.clear()
        self._disarm()
        try:
            self._flush_scalars()
            self._read_nonfinite()
        finally:
            if self.writer is not None:
                self.writer.put("meta", {"steps": self.steps, "ended": time.time()})
                self.writer.close(status)
                if self.writer.error is not None:
                    warnings.warn(f"dlcli.watch could not write {self.log}: {self.writer.error}", stacklevel=3)

    def config(self) -> dict[str, Any]:
        """What the run was: the model, its size, the optimizer and its hyperparameters, versions, the command."""
        import dlcli

        torch, opt = self.torch, self.optimizer
        groups = [] if opt is None else [
            {k: (v if isinstance(v, (int, float, str, bool, type(None))) else
                 list(v) if isinstance(v, tuple) else str(v)) for k, v in g.items() if k != "params"}
            for g in opt.param_groups]
        return {
            "model": class_name(self.model), "model_module": type(self.model).__module__,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "trainable": sum(p.numel() for _, p in self.params),
            "optimizer": None if opt is None else type(opt).__name__, "param_groups": groups,
            "dtype": str(self.params[0][1].dtype if self.params else torch.float32).removeprefix("torch."),
            "device": str(self.device), "every": self.every, "world_size": self.world_size,
            **({"parallelism": {n: ranks.module_parallelism(m, self.world_size) for n, m in self.rows},
                "backend": str(self.torch.distributed.get_backend())} if self.world_size > 1 else {}),
            "dlcli": dlcli.__version__, "torch": torch.__version__, "python": sys.version.split()[0],
            "argv": list(sys.argv), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **self.extra,
        }

    # --- hooks ---------------------------------------------------------------------------------------

    def _forward_seen(self, module: Any, args: Any) -> None:
        if self.torch.is_grad_enabled():
            self.forward_since = True

    def _step_pre_hook(self, optimizer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The gradients are read now, or, where `step` is given a closure that computes them (Lightning, LBFGS),
        right after the closure's first call."""
        closure = kwargs.get("closure") if "closure" in kwargs else args[1] if len(args) > 1 else None
        if closure is None:
            self._before_step()
            return None
        ran = False

        def then_read() -> Any:
            nonlocal ran
            result = closure()
            if not ran:
                ran = True
                self._before_step()
            return result

        if "closure" in kwargs:
            return args, {**kwargs, "closure": then_read}
        return (args[0], then_read, *args[2:]), kwargs

    def _sampled(self, step: int) -> bool:
        return self.failure is None and (step - 1) % self.every == 0

    def _safely(self, work: Any, *args: Any) -> None:
        """A sample's work; should dlcli itself fail there, sampling stops (said in the store and as a warning)
        and the user's training goes on untouched."""
        try:
            work(*args)
        except Exception as exc:
            self._disarm()
            self.measured = None
            self.failure = f"{type(exc).__name__}: {exc}"
            if self.writer is not None:
                self.writer.put("event", (self.steps + 1, "watch_error", None, self.failure))
            warnings.warn(f"dlcli.watch stopped sampling at step {self.steps + 1} ({self.failure}); please report "
                          "it. Your training goes on.", RuntimeWarning, stacklevel=2)

    def _arm(self) -> None:
        """Before a sampled step's forward pass: probe's hooks, and a copy of the weights for the update."""
        self._disarm()  # a sampled step whose gradients were never read (a closure never called)
        self.run = Pass(self.torch, self.model, None, grad_only=True, absmax=True, plan=self.plan,
                        units=self.world_size > 1)
        self.run.install()
        self.graph = None
        self.handles_root = self.model.register_forward_hook(self._read_graph)
        self.snapshot = [local(w.detach()).clone() for w in self.weights]

    def _disarm(self) -> None:
        if self.run is not None:
            self.run.remove()
            self.run.release()
            self.handles_root.remove()
            self.run = None
        self.snapshot = None

    def _read_graph(self, module: Any, args: Any, output: Any) -> None:
        """At the end of the first forward pass with gradients: who feeds whom, and functional activations."""
        out = first_tensor(output)
        run = self.run
        if run is None or self.graph is not None or out is None or out.grad_fn is None:
            return
        self.graph = read_graph(out.grad_fn, run.node_rows)
        for row, kind, node in self.graph.activations:
            if run.act[row] is None:
                run.functional(row, kind, node)
        run.pending.clear()
        run.outputs.clear()

    def _row_tensors(self) -> list[Any]:
        seen: set[int] = set()
        out = []
        for ws in self.row_weights:
            for w in ws:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    def _before_step(self) -> None:
        step = self.steps + 1
        if self.tensors:
            torch = self.torch
            try:  # every gradient there, none needing autograd, on the ring's device (a DTensor's shard: no collective)
                grads = [p.grad for p in self.tensors] if self.world_size == 1 else \
                    [p.grad if p.grad is None else local(p.grad) for p in self.tensors]
                torch.stack(torch._foreach_norm(grads), out=self.ring_rows[self.ring_used])
            except (TypeError, RuntimeError):  # a gradient None, one that requires grad, or on another device
                grads = [self.zero if p.grad is None else local(p.grad.detach()) for p in self.tensors]
                self.ring_rows[self.ring_used].copy_(
                    torch.stack([n.float().to(self.device) for n in torch._foreach_norm(grads)]))
            self.ring_used += 1
            if self.ring_used == self.ring.shape[0]:
                self._fold()
        if self.run is not None and self._sampled(step):
            self._safely(self._measure, step)

    def _after_step(self) -> None:
        self.steps += 1
        self.forward_since = False
        step = self.steps
        if self.optimizer is not None:
            for i, g in enumerate(self.optimizer.param_groups):
                lr = g.get("lr")
                if isinstance(lr, self.torch.Tensor):
                    lr = lr.detach().clone()  # a scheduler changes a tensor lr in place
                if lr is not None:
                    self.pending.append((step, "lr" if i == 0 else f"lr/{i}", lr))
        if self.measured is not None:
            self._safely(self._finish, step)
        if self._sampled(step + 1):
            self._safely(self._arm)
        elif self.on_cpu and time.monotonic() - self.flushed > FLUSH_SECONDS:
            self._flush_scalars()  # no device to wait for: the loss curve reaches the store as it goes

    # --- a sampled step ------------------------------------------------------------------------------

    def _measure(self, step: int) -> None:
        """Before the optimizer changes the weights: probe's pass read, as `vanish --model` reads it."""
        run = self.run
        assert run is not None
        run.remove()
        self.handles_root.remove()
        self.run = None
        graph = self.graph if self.graph is not None else Graph(root=None)
        params = self.all_params
        grads = {id(p): p.grad for _, p in params}
        measured = collect(run, params, grads, graph, "the user's loss")
        if self.world_size > 1:  # judged once reduced with the update, after the step (one collective a sample)
            self.measured = (measured, self._row_shares())
            return
        # judge() less what a sample does not store: mean-field's per-layer theory (it only adds a line to the
        # findings' text) and the per-parameter entries; the rows, verdict and alarms are judge()'s own.
        judged = judge(measured, full=False)
        self.measured = (measured, judged.rows, judged.concluded)
        run.release()  # else every sample's pass, and the tensors its graph saved, would stay in memory
        self.graph = None

    def _row_shares(self) -> list[tuple[Any, Any, Any]]:
        """Each row's (Σ weights, Σ weights², Σ gradients² or None) as this rank's share (runs/distributed.py)."""
        out = []
        for ws in self.row_weights:
            total, squares = ranks.shares(self.torch, ws, self.world_size)
            grads = [w.grad for w in ws]
            grad_sq = None if any(g is None for g in grads) else ranks.shares(self.torch, grads, self.world_size)[1]
            out.append((total, squares, grad_sq))
        return out

    def _finish(self, step: int) -> None:
        if self.world_size > 1:
            self._finish_reduced(step)
            return
        torch = self.torch
        measured, judged_rows, concluded = self.measured
        self.measured = None
        run, host = measured.run, measured.host
        weights = self.weights
        before = self.snapshot or []
        self.snapshot = None
        diffs = torch._foreach_norm(torch._foreach_sub([w.detach() for w in weights], before)) if weights else []
        moved = torch.stack([d.double() for d in diffs]).cpu().tolist() if diffs else []
        change = {id(w): d for w, d in zip(weights, moved, strict=True)}
        rows = []
        for r in judged_rows:
            i = self.row_index[r.name]
            ws = self.row_weights[i]
            moved_by = math.sqrt(sum(change.get(id(w), 0.0) ** 2 for w in ws))
            absmax = value(run, host, i, "act_absmax" if run.act[i] else "out_absmax")
            ratio = moved_by / r.weight_norm if r.weight_norm > 0 else None
            rows.append((r.name, (r.weight_grad_norm, r.weight_norm, ratio, r.grad_rms, r.act_mean, r.act_std,
                                  absmax, r.dead_frac, r.saturated_frac)))
        self._store(step, run, judged_rows, concluded, rows)

    def _finish_reduced(self, step: int) -> None:
        """A sample under torch.distributed: this rank's figures and its share of the update, one all-reduce of
        one flat buffer, then rank 0 judges the global figures and stores them."""
        torch, world_size = self.torch, self.world_size
        (measured, shares), self.measured = self.measured, None
        run, host = measured.run, measured.host
        before, self.snapshot = self.snapshot or [], None
        updates = [ranks.shares(torch, ws, world_size, [before[self.weight_index[id(w)]] for w in ws])[1]
                   for ws in self.row_weights]
        count = len(self.rows)
        added = np.zeros((count, len(ranks.ADDED)))
        maxed = np.zeros((count, len(ranks.MAXED)))
        for i in range(count):
            v = {k: value(run, host, i, k) or 0.0 for k in ("out_sum", "out_norm", "act_sum", "act_norm", "saturated",
                                                           "e_dphi2", "grad_norm", "out_absmax", "act_absmax")}
            total, squares, grad_sq = shares[i]
            added[i] = (v["out_sum"], v["out_norm"] ** 2, v["act_sum"], v["act_norm"] ** 2, v["saturated"],
                        v["e_dphi2"], v["grad_norm"] ** 2, run.slots[i].get("_numel", 0), float(total),
                        float(squares), 0.0 if grad_sq is None else float(grad_sq), float(updates[i]))
            maxed[i] = (v["out_absmax"], v["act_absmax"])
        units = sorted(run.alive)
        self.layout = ranks.Layout(count, [(i, run.alive[i].numel()) for i in units], len(self.params), world_size)
        self._fold()
        buf = ranks.pack(torch, self.layout, self.rank, added, [run.alive[i] for i in units], self.first_mask,
                         maxed, int(self.first_step))
        reduced = ranks.unpack(self.layout, ranks.all_reduce(torch, buf, self.device))
        if self.writer is not None and step == 1:
            self.writer.put("meta", {"sample_all_reduce_bytes": str(self.layout.bytes)})
        if reduced.first_step > 0:  # the first non-finite step over the ranks, and the tensors any rank saw
            self.first_step = torch.tensor(reduced.first_step, device=self.device)
            self.first_mask = torch.from_numpy(reduced.bad).to(self.device)
        if self.rank != 0:
            run.release()
            self._flush_scalars()  # the store is rank 0's: this rank's recorded values are dropped
            return
        measured.host = global_host(run, host, reduced, [s[2] is not None for s in shares], world_size)
        judged = judge(measured, full=False)
        run.release()
        rows = []
        for r in judged.rows:
            i = self.row_index[r.name]
            moved_by = math.sqrt(reduced.added[i][ranks.ADDED.index("update_sq")])
            ratio = moved_by / r.weight_norm if r.weight_norm > 0 else None
            absmax = float(reduced.maxed[i][1 if run.act[i] else 0])
            rows.append((r.name, (r.weight_grad_norm, r.weight_norm, ratio, r.grad_rms, r.act_mean, r.act_std,
                                  absmax, r.dead_frac, r.saturated_frac)))
        self._store(step, run, judged.rows, judged.concluded, rows)

    def _store(self, step: int, run: Pass, judged_rows: Any, concluded: Any, rows: list[Any]) -> None:
        alarms = [(a.kind, a.modules, a.text) for a in concluded.alarms]
        self.order = [run.rows[i][0] for i in run.order]
        self._flush_scalars()
        self._read_nonfinite()
        if self.writer is not None:
            if step == 1:
                self.writer.put("activations", {r.name: r.activation for r in judged_rows if r.activation})
            self.writer.put("sample", (step, rows, concluded.verdict, alarms))

    def _flush_scalars(self) -> None:
        """Recorded values and learning rates to the host at once (tensors in one transfer) and to the store."""
        if not self.pending:
            return
        torch = self.torch
        tensors = [v for _, _, v in self.pending if isinstance(v, torch.Tensor)]
        if tensors and all(t.dtype == tensors[0].dtype and t.device == tensors[0].device for t in tensors):
            moved = iter(torch.stack(tensors).to(torch.float64).cpu().tolist())  # one copy, one transfer
        else:
            moved = iter(torch.stack([t.to(torch.float64).cpu() for t in tensors]).tolist() if tensors else [])
        rows = [(s, n, next(moved) if isinstance(v, torch.Tensor) else float(v)) for s, n, v in self.pending]
        self.pending = []
        self.flushed = time.monotonic()
        if self.writer is not None:
            self.writer.put("scalars", rows)

    def _fold(self) -> None:
        """The per-step norms kept so far, reduced on the device to the first non-finite step and its tensors."""
        torch = self.torch
        if self.ring_used == 0:
            return
        bad = ~torch.isfinite(self.ring[:self.ring_used])
        row_bad = bad.any(1)
        first_row = torch.argmax(row_bad.to(torch.uint8))
        new = row_bad.any() & (self.first_step < 0)
        self.first_step = torch.where(new, first_row + self.ring_base, self.first_step)
        self.first_mask = torch.where(new, bad[first_row], self.first_mask)
        self.ring_base += self.ring_used
        self.ring_used = 0

    def _read_nonfinite(self) -> None:
        """On a sample: the first non-finite step, to the host; its module is the one nearest the loss."""
        if self.nonfinite is not None:
            return
        self._fold()
        step = int(self.first_step)
        if step < 0:
            return
        mask = self.first_mask.cpu().tolist()
        bad = [p for (_, p), b in zip(self.params, mask, strict=True) if b]
        names = [n for (n, _), b in zip(self.params, mask, strict=True) if b]
        owners = {id(w): n for n, m in self.rows for w in m._parameters.values() if w is not None}
        order = self.order or [n for n, _ in self.rows]
        named = [owners[id(p)] for p in bad if id(p) in owners]
        module = max(named, key=lambda n: order.index(n) if n in order else -1) if named else None
        self.nonfinite = {"step": step, "module": module}
        if self.writer is not None:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            self.writer.put("event", (step, "nonfinite_gradient", module,
                                      f"{shown}: {len(names)} of {len(mask)} parameter tensors"))

    def report(self) -> Any:
        """The run read back from its store (what `dlcli report` shows; in a notebook it draws itself)."""
        from dlcli.runs.report import load_report

        if self.open and self.writer is not None:
            self.writer.sync()
        return load_report(self.path or "")


def global_host(run: Pass, host: Any, reduced: Any, has_grad: list[bool], world_size: int) -> Any:
    """A pass's host figures with the global ones in their slots: what judge() reads, as if one process had run
    the global batch (the loss a mean over it, DDP's and FSDP's gradients the ranks' mean)."""
    out = host.copy()
    for i in range(len(run.rows)):
        a = dict(zip(ranks.ADDED, reduced.added[i], strict=True))
        slots = run.slots[i]
        given = {"out_sum": a["out_sum"], "out_norm": math.sqrt(a["out_sq"]), "act_sum": a["act_sum"],
                 "act_norm": math.sqrt(a["act_sq"]), "saturated": a["saturated"], "e_dphi2": a["e_dphi2"],
                 "grad_norm": math.sqrt(a["grad_sq"]) / world_size, "weight_sum": a["weight_sum"],
                 "weight_norm": math.sqrt(a["weight_sq"]), "dead": reduced.dead.get(i),
                 "weight_grad_norm": math.sqrt(a["weight_grad_sq"]) if has_grad[i] else None}
        for key, v in given.items():
            if key in slots and v is not None:
                out[slots[key]] = v
        if "_numel" in slots:
            slots["_numel"] = int(a["numel"])
    return out


def temporary_store() -> str:
    """A fresh file for a watch given no `log`: the report still has a store to read."""
    import os
    import tempfile

    fd, path = tempfile.mkstemp(prefix="dlcli-run-", suffix=".db")
    os.close(fd)
    os.unlink(path)
    return path
