"""One forward and backward pass through any nn.Module under hooks, and each weighted module's raw statistics:
forward hooks on its output z and the activation module taking z, a tensor hook on ∂loss/∂z. The choices and
their measurements are in docs/vanish.md (`vanish --model`, Cost)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli import activations
from dlcli.errors import InputError, RunError
from dlcli.probe.graph import Graph, read_graph
from dlcli.probe.inputs import Batch, loss_value
from dlcli.probe.kinds import (
    FUNCTIONAL_ACTIVATIONS,
    activation_of,
    class_name,
    first_tensor,
    local,
    owner_modules,
    row_weights,
    select_output,
    unit_axis,
    unit_max,
)
from dlcli.vanish.config import Progress
from dlcli.vanish.statistics import SATURATION_LEVEL, _max_abs_grad

CHUNK = 2**17  # entries reduced at a time on a CPU: 512 KB of float32, inside a core's L2 cache
ZERO_ONE_SLOPES = frozenset({"relu", "relu6", "hardtanh", "threshold", "step"})  # φ'(z) is 0 or 1 everywhere


def dead_units(torch: Any, a: Any, axis: int) -> Any:
    """Units whose a = relu(z) is 0 on every sample (NaN is not): the first ~CHUNK entries' samples first, the
    rest only for the units still 0 there (none, mostly: then the whole tensor is read once, not twice)."""
    head = max(1, CHUNK * a.shape[0] // max(a.numel(), 1))
    if axis == 0 or head >= a.shape[0]:
        return torch.count_nonzero(unit_max(a, axis) == 0)
    candidates = (unit_max(a[:head], axis) == 0).nonzero().reshape(-1)
    if candidates.numel() == 0:
        return 0.0
    return torch.count_nonzero(unit_max(a[head:].index_select(axis, candidates), axis) == 0)


@dataclass(frozen=True)
class HookPlan:
    """What Pass.install reads from a model, read once for many passes: the rows (owner_modules) and the modules
    to hook with their activation (name, module, activation_of or None). `hook_plan(..., every_module=False)`
    leaves out modules that are neither a row nor an activation: their hooks only keep the stack of running
    modules that `failed_module` names."""

    rows: list[tuple[str, Any]]
    modules: list[tuple[str, Any, tuple[str, dict[str, float]] | None]]


def hook_plan(torch: Any, model: Any, every_module: bool = True) -> HookPlan:
    rows = owner_modules(model)
    owners = {id(m) for _, m in rows}
    modules = [(name or class_name(m), m, activation_of(torch, m)) for name, m in model.named_modules()]
    return HookPlan(rows, [(n, m, a) for n, m, a in modules if every_module or a is not None or id(m) in owners])


class Pass:
    """Hooks for one forward and backward pass; each statistic a 0-d tensor on the model's device (or a float
    reduced on a CPU) until host()."""

    def __init__(self, torch: Any, model: Any, progress: Progress | None, *, grad_only: bool = False,
                 absmax: bool = False, plan: HookPlan | None = None, units: bool = False) -> None:
        self.torch = torch
        self.model = model
        self.progress = progress
        self.grad_only = grad_only  # skip forward passes run without gradients (a user's evaluation)
        self.absmax = absmax        # also max |a| of each activation and output
        self.plan = plan            # the rows and hooked modules read once (a watch's every sample), else now
        self.units = units          # also keep which units of each activation are alive (reduced across ranks)
        self.alive: dict[int, Any] = {}  # row -> bool tensor, a unit's φ'(z) (or relu's a) nonzero on some sample
        self.rows = owner_modules(model) if plan is None else plan.rows
        self.node_rows: dict[int, int] = {}          # id(a row output's grad_fn) -> row
        self.first_nodes: list[Any] = [None] * len(self.rows)  # each row's first output node
        self.versions: dict[int, int] = {}          # id(z) -> z._version when the row returned it
        self.index = {id(m): i for i, (_, m) in enumerate(self.rows)}
        self.order: list[int] = []              # row indices in first-call order
        self.calls = [0] * len(self.rows)
        self.values: list[Any] = []             # 0-d tensors or floats, to the host at once in host()
        self.slots: list[dict[str, int]] = [{} for _ in self.rows]
        self.param_slots: list[dict[str, int]] = []
        self.weight_norm_slot: dict[int, int] = {}    # id(weight) -> the slot of its norm, read once
        self.act: list[tuple[str, dict[str, float]] | None] = [None] * len(self.rows)
        self.pending: dict[int, tuple[int, Any]] = {}   # id(z) -> (row, z) awaiting an activation module
        self.outputs: dict[int, tuple[int, Any]] = {}   # data_ptr of a row's activation output -> (row, tensor)
        self.after: dict[int, int] = {}                 # id(z) -> row, φ'(z) to be read from the module's output
        self.act_inputs: dict[int, int] = {}            # id(z) -> row, for an activation module running now
        self.chain: dict[int, int] = {}                 # row -> the row whose activation output it takes
        self.stack: list[tuple[str, str, Any]] = []     # (name, type, inputs) of modules running now
        self.handles: list[Any] = []
        self.grads_seen = 0
        self.flags = np.empty(0, dtype=bool)  # relu's zero-slope flags, one buffer for every layer

    def put_param(self, index: int, key: str, value: Any) -> None:
        """A parameter's statistic (norm, grad_norm), kept beside the rows' until host()."""
        self.param_slot(index, key, len(self.values))
        self.values.append(value.detach() if isinstance(value, self.torch.Tensor) else value)

    def param_slot(self, index: int, key: str, slot: int) -> None:
        """A parameter's statistic that a row already holds (its weight's norm, taken in the forward hook)."""
        while len(self.param_slots) <= index:
            self.param_slots.append({})
        self.param_slots[index][key] = slot

    def put(self, row: int, key: str, value: Any) -> None:
        self.slots[row][key] = len(self.values)
        self.values.append(value.detach() if isinstance(value, self.torch.Tensor) else value)

    def host(self) -> np.ndarray:
        """Every statistic as float64 on the host: one transfer from a device, item by item on a CPU."""
        torch = self.torch
        tensors = [v for v in self.values if isinstance(v, torch.Tensor) and v.device.type != "cpu"]
        moved = iter(torch.stack([t.to(torch.float64).reshape(()) for t in tensors]).cpu().tolist()
                     if tensors else ())
        return np.array([next(moved) if isinstance(v, torch.Tensor) and v.device.type != "cpu" else float(v)
                         for v in self.values], dtype=np.float64)

    def weight_stats(self, row: int, m: Any) -> None:
        weights = row_weights(m)
        if len(weights) == 1:
            self.sums(row, "weight", self.wide(weights[0]))
            self.weight_norm_slot.setdefault(id(weights[0]), self.slots[row]["weight_norm"])
            return
        torch = self.torch
        wide = [self.wide(w) for w in weights]
        self.put(row, "weight_sum", torch.stack([w.sum() for w in wide]).sum())
        self.put(row, "weight_norm", torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(w) for w in wide])))

    def sums(self, row: int, key: str, t: Any, also: Callable[[int, int], None] | None = None) -> None:
        """Σt and ‖t‖ as `key`_sum, `key`_norm; on a CPU chunk by chunk (each read once from memory, the second
        reduction and `also(start, stop)` finding it in cache), whole where t fits one chunk or is on a device
        (no host sync)."""
        torch = self.torch
        if t.device.type != "cpu" or not t.is_contiguous() or t.numel() <= CHUNK:
            self.put(row, f"{key}_sum", t.sum())
            self.put(row, f"{key}_norm", torch.linalg.vector_norm(t))
            if also is not None:
                also(0, t.numel())
            return
        total, norm = 0.0, 0.0
        for start in range(0, t.numel(), CHUNK):
            part = t.reshape(-1)[start:start + CHUNK]
            total += float(part.sum())
            norm = math.hypot(norm, float(torch.linalg.vector_norm(part)))
            if also is not None:
                also(start, start + part.numel())
        self.put(row, f"{key}_sum", total)
        self.put(row, f"{key}_norm", norm)

    def install(self) -> None:
        modules = self.plan.modules if self.plan is not None else [
            (name or class_name(m), m, activation_of(self.torch, m)) for name, m in self.model.named_modules()]
        for name, m, act in modules:
            self.handles.append(m.register_forward_pre_hook(self._pre(name, m, act)))
            self.handles.append(m.register_forward_hook(self._post(m, act)))

    def failed_module(self) -> tuple[str, str, str] | None:
        """(name, type, input shapes) of the innermost module running when the forward pass failed."""
        if not self.stack:
            return None
        name, kind, args = self.stack[-1]
        torch = self.torch
        return name, kind, ", ".join(str(tuple(a.shape)) for a in args if isinstance(a, torch.Tensor)) or "no tensor"

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def release(self) -> None:
        """Drops the autograd nodes and tensors this pass still holds, once read: each output's node holds this
        pass through the gradient hook on it, a cycle through torch's C++ that Python's collector never frees
        (with every tensor the graph saved). A watch, which makes a pass per sample, calls it."""
        self.first_nodes = [None] * len(self.rows)
        for held in (self.pending, self.outputs, self.after, self.act_inputs, self.versions):
            held.clear()
        self.stack.clear()
        self.alive.clear()

    def _pre(self, name: str, m: Any, act: tuple[str, dict[str, float]] | None) -> Callable[..., None]:
        row = self.index.get(id(m))
        kind = class_name(m)

        def hook(module: Any, args: tuple[Any, ...]) -> None:
            if self.grad_only and not self.torch.is_grad_enabled():
                return
            self.stack.append((name, kind, args))  # the shapes are formatted only if the module fails
            inp = first_tensor(args)
            if inp is None:
                return
            if act is not None and id(inp) in self.pending:
                src, z = self.pending.pop(id(inp))
                if z is inp and self.act[src] is None and self.versions.get(id(z)) == z._version:
                    if getattr(m, "inplace", False) or z.grad_fn is None:
                        self._activation(src, z, act)  # now, before the module overwrites z
                    else:
                        self.after[id(z)] = src  # from the module's own output, in the forward hook
            if row is not None and self.calls[row] == 0 and inp.numel():
                prev = self.outputs.get(inp.data_ptr())
                if prev is not None and prev[1].numel() == inp.numel():
                    self.chain[row] = prev[0]

        return hook

    def _post(self, m: Any, act: tuple[str, dict[str, float]] | None) -> Callable[..., None]:
        torch = self.torch
        row = self.index.get(id(m))
        is_act = act is not None

        def hook(module: Any, args: tuple[Any, ...], output: Any) -> None:
            if self.grad_only and not torch.is_grad_enabled():
                return
            if self.stack:
                self.stack.pop()
            if is_act:
                out, inp = first_tensor(output), first_tensor(args)
                waiting = self.after.pop(id(inp), None)
                if waiting is not None and act is not None:
                    self._activation(waiting, inp, act, out)
                src = self.act_inputs.pop(id(inp), None)
                if src is not None and out is not None and out.numel():
                    self.outputs[out.data_ptr()] = (src, out)  # the next layer may take it (or a view of it)
            if row is None:
                return
            self.calls[row] += 1
            node = getattr(first_tensor(output), "grad_fn", None)
            if node is not None:
                self.node_rows.setdefault(id(node), row)
                if self.first_nodes[row] is None:
                    self.first_nodes[row] = node
            if self.calls[row] > 1:
                return
            self.order.append(row)
            self.weight_stats(row, m)  # now, while the forward pass has just read the weight
            z = first_tensor(output)
            if z is None:
                return
            self.sums(row, "out", self.wide(z))
            if self.absmax:
                self.put(row, "out_absmax", self.wide(z).abs().amax() if z.numel() else 0.0)
            self.slots[row]["_width"] = int(z.shape[unit_axis(torch, m)]) if z.dim() > 1 else 1
            self.slots[row]["_numel"] = int(z.numel())
            self.pending[id(z)] = (row, z)
            self.versions[id(z)] = z._version  # changed by an in-place op (x += shortcut): no longer this row's
            self.outputs[z.data_ptr()] = (row, z)
            if z.requires_grad:
                z.register_hook(self._grad_hook(row))
            if self.progress:
                self.progress("forward", len(self.order), len(self.rows))

        return hook

    def _activation(self, row: int, z: Any, act: tuple[str, dict[str, float]], out: Any = None) -> None:
        """a = φ(z) and φ'(z): from the module's output `out` and its backward node where it is one op on z,
        else from the registry's torch function on z (before any in-place op changes z)."""
        torch = self.torch
        name, given = act
        spec = activations.get(name)
        params = spec.resolve(given)
        node = None if out is None else out.grad_fn
        if node is not None and out.shape == z.shape and len(node.next_functions) == 1 \
                and node.next_functions[0][0] is z.grad_fn:
            a = out
            if name == "relu" and a.device.type == "cpu" and a.dtype in (torch.float32, torch.float64):
                self._relu_row(row, a)
                self.act_inputs[id(z)] = row
                return
        else:
            zz = z.detach().requires_grad_(True)  # shares z's memory: no copy
            with torch.enable_grad():
                a = spec.torch_ref(torch, zz, params)
            node = a.grad_fn
            if node is not None and (len(node.next_functions) != 1 or node.next_functions[0][0] is None
                                     or type(node.next_functions[0][0]).__name__ != "AccumulateGrad"):
                node = None
        ones = torch.ones((), dtype=z.dtype, device=z.device).expand(z.shape)
        if node is not None:
            with torch.no_grad():
                slope = node(ones)  # one backward kernel: the op's own derivative
        elif a.requires_grad:
            (slope,) = torch.autograd.grad(a, zz, ones, allow_unused=True)
            slope = torch.zeros_like(z) if slope is None else slope
        else:
            slope = torch.zeros_like(z)
        self._slope_row(row, name, params, a, slope)
        self.act_inputs[id(z)] = row

    def _slope_row(self, row: int, name: str, params: dict[str, float], a: Any, slope: Any) -> None:
        """The activation statistics of a row from a = φ(z) and φ'(z)."""
        torch = self.torch
        z = slope
        af = self.wide(a)
        self.put(row, "act_sum", af.sum())
        self.put(row, "act_norm", torch.linalg.vector_norm(af))
        if self.absmax:
            self.put(row, "act_absmax", af.abs().amax() if af.numel() else 0.0)
        axis = unit_axis(torch, self.rows[row][1]) % max(z.dim(), 1)
        dims = tuple(d for d in range(z.dim()) if d != axis) or None
        if name in ZERO_ONE_SLOPES:  # φ' is 0 or 1: φ'² = φ', saturated means φ' = 0, and a sum counts the 1s
            sq = self.wide(slope)
            # exact below 2^24 ones in float32 (count_nonzero of a float tensor costs ~10 passes here)
            ones_count = sq.sum() if z.numel() < 2**24 or sq.dtype == torch.float64 else torch.count_nonzero(sq != 0)
            self.put(row, "saturated", z.numel() - ones_count)
            self.put(row, "e_dphi2", ones_count)
        else:
            sq = self.wide(slope)
            sq = sq * sq
            threshold = SATURATION_LEVEL * _max_abs_grad(name, tuple(sorted(params.items())))
            self.put(row, "saturated", torch.count_nonzero(sq < threshold * threshold))
            self.put(row, "e_dphi2", sq.sum())
        self.put(row, "dead", torch.count_nonzero(unit_max(sq, axis) == 0) if dims else (sq.max() == 0).sum())
        if self.units:
            self.alive[row] = unit_max(sq, axis) != 0 if dims else (sq.max() != 0).reshape(1)
        self.act[row] = (name, params)

    def functional(self, row: int, kind: str, node: Any) -> None:
        """A functional activation (F.relu, torch.tanh, F.gelu, ...) the autograd graph shows taking this row's
        output: its statistics from the tensor the op saved (its input, or its output where it keeps that)."""
        torch = self.torch
        name, saved_output = FUNCTIONAL_ACTIVATIONS[kind]
        params: dict[str, float] = {}
        try:
            if name == "gelu" and getattr(node, "_saved_approximate", "none") == "tanh":
                name = "gelu_tanh"
            elif name == "leaky_relu":
                params = {"alpha": float(node._saved_negative_slope)}
            elif name == "elu":
                params = {"alpha": float(node._saved_alpha)}
            elif name == "softplus":
                params = {"beta": float(node._saved_beta)}
            saved = node._saved_result if saved_output else node._saved_self
        except (AttributeError, RuntimeError):  # a saved tensor already freed, or another torch's node
            return
        if not isinstance(saved, torch.Tensor) or not saved.is_floating_point():
            return
        if not saved_output:
            self._activation(row, saved, (name, params))
            return
        a = saved.detach()
        if name == "relu" and a.device.type == "cpu" and a.dtype in (torch.float32, torch.float64):
            self._relu_row(row, a)
            return
        slope = (a > 0).to(a.dtype) if name == "relu" else a * (1 - a) if name == "sigmoid" else 1 - a * a
        self._slope_row(row, name, activations.get(name).resolve({}), a, slope)

    def _relu_row(self, row: int, a: Any) -> None:
        """relu's row on a CPU: φ'(z) = 0 exactly where a = relu(z) <= 0 (NaN has slope 1, as relu's backward
        gives), counted in numpy over a reused bool buffer, chunk by chunk beside the sums."""
        torch = self.torch
        a = a.detach()
        flat = a.numpy().reshape(-1)
        if self.flags.size < min(flat.size, CHUNK):
            self.flags = np.empty(min(flat.size, CHUNK), dtype=bool)
        zeros = 0

        def count(start: int, stop: int) -> None:
            nonlocal zeros
            zeros += int(np.count_nonzero(np.less_equal(flat[start:stop], 0, out=self.flags[:stop - start])))

        self.sums(row, "act", a, count)
        if self.absmax:
            self.put(row, "act_absmax", a.amax() if a.numel() else 0.0)  # relu's output: never negative
        self.put(row, "saturated", float(zeros))
        self.put(row, "e_dphi2", float(flat.size - zeros))
        axis = unit_axis(torch, self.rows[row][1]) % max(a.dim(), 1)
        self.put(row, "dead", dead_units(torch, a, axis) if a.dim() > 1 else (a.max() <= 0).sum())
        if self.units:
            self.alive[row] = unit_max(a, axis) != 0 if a.dim() > 1 else (a.max() > 0).reshape(1)
        self.act[row] = ("relu", {})

    def wide(self, t: Any) -> Any:
        """t detached (a DTensor's local shard), half precisions as float32 for the reductions (float32 and float64
        reduce as they are)."""
        t = local(t.detach())
        return t.float() if t.dtype in (self.torch.bfloat16, self.torch.float16) else t

    def _grad_hook(self, row: int) -> Callable[[Any], None]:
        def hook(g: Any) -> None:
            self.put(row, "grad_norm", self.torch.linalg.vector_norm(self.wide(g)))
            self.grads_seen += 1
            if self.progress:
                self.progress("backward", self.grads_seen, len(self.order))
        return hook


def _user_frame_error(exc: BaseException, what: str, failed: tuple[str, str, str] | None) -> Exception:
    """InputError naming the user's line where their model failed; RunError (exit 1) where memory ran out."""
    from dlcli.memory import is_out_of_memory, out_of_memory
    from dlcli.probe.loader import user_error

    if is_out_of_memory(exc):
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return RunError(out_of_memory(f"{what} ({detail})", "lower --batch"))
    where = f"{what}" + (f": {failed[0]} ({failed[1]}) got {failed[2]}" if failed else "")
    return user_error(exc, where)


@dataclass
class Measured:
    """One hooked pass: the hooks' record, every statistic on the host, the output the loss was taken of, the
    gradient of every distinct trainable parameter (None where it gets none) and the graph below the loss."""

    run: Pass
    host: np.ndarray
    where: str
    params: list[tuple[str, Any]]          # (first qualified name, parameter), model.named_parameters() order
    grads: dict[int, Any]                  # id(parameter) -> its gradient or None
    graph: Graph
    output_finite: bool = True             # the output the loss was taken of holds no NaN/inf
    loss_finite: bool = True
    examples: int | None = None            # the batch's examples (None: not known, as in dlcli.watch)


def measure(model: Any, batch: Batch, loss: str, seed: int, output: str | None,
            progress: Progress | None) -> Measured:
    """One forward and backward pass under hooks; the host copy of every statistic."""
    import torch

    run = Pass(torch, model, progress)
    run.install()
    params = [(n, p) for n, p in model.named_parameters()]
    try:
        try:
            with torch.enable_grad():
                out = batch.call(model)
        except InputError:
            raise
        except Exception as exc:
            raise _user_frame_error(exc, f"the model failed on input {batch.shapes()}", run.failed_module()) from None
        run.pending.clear()
        run.outputs.clear()
        top, where = select_output(out, output) if loss != "model" else (out, "the model's own loss")
        value = loss_value(torch, loss, top, batch.y, seed)
        finite = (loss == "model" or not isinstance(top, torch.Tensor) or bool(torch.isfinite(top).all()),
                  bool(torch.isfinite(value.detach()).all()))
        graph = read_graph(value.grad_fn, run.node_rows)
        for row, kind, node in graph.activations:
            if run.act[row] is None:
                run.functional(row, kind, node)
        wanted = [p for _, p in params if p.requires_grad]
        grads: dict[int, Any] = {id(p): None for _, p in params}
        if wanted and value.requires_grad:
            try:
                got = torch.autograd.grad(value, wanted, allow_unused=True)
            except Exception as exc:
                raise _user_frame_error(exc, "the backward pass failed", None) from None
            for p, g in zip(wanted, got, strict=True):
                grads[id(p)] = g
        del out, top, value
    finally:
        run.remove()
    measured = collect(run, params, grads, graph, where, *finite)
    measured.examples = batch.size
    return measured


def collect(run: Pass, params: list[tuple[str, Any]], grads: dict[int, Any], graph: Graph, where: str,
            output_finite: bool = True, loss_finite: bool = True) -> Measured:
    """After the backward pass: the weight and gradient norms of every row and parameter (every gradient's norm
    in one fused call), then every statistic to the host at once."""
    import torch

    for i, (_, m) in enumerate(run.rows):
        if run.calls[i] == 0:
            run.weight_stats(i, m)
    # every gradient's norm in one fused call, then each row's from its tensors' (a weight's norm read once)
    with_grad = [(j, grads[id(p)]) for j, (_, p) in enumerate(params) if grads[id(p)] is not None]
    grad_norms = torch._foreach_norm([run.wide(g) for _, g in with_grad]) if with_grad else []
    norm_of_grad = {id(params[j][1]): n for (j, _), n in zip(with_grad, grad_norms, strict=True)}
    for (j, _), n in zip(with_grad, grad_norms, strict=True):
        run.put_param(j, "grad_norm", n)
    unread = [(j, p) for j, (_, p) in enumerate(params) if id(p) not in run.weight_norm_slot]
    for (j, _), n in zip(unread, torch._foreach_norm([run.wide(p) for _, p in unread]) if unread else [],
                         strict=True):
        run.put_param(j, "norm", n)
    for j, (_, p) in enumerate(params):
        if id(p) in run.weight_norm_slot:
            run.param_slot(j, "norm", run.weight_norm_slot[id(p)])
    for i, (_, m) in enumerate(run.rows):
        found = [norm_of_grad.get(id(w)) for w in row_weights(m)]
        norms = [n for n in found if n is not None]
        if norms and len(norms) == len(found):
            whole = norms[0] if len(norms) == 1 else torch.linalg.vector_norm(torch.stack(norms))
            run.put(i, "weight_grad_norm", whole)
    host = run.host()
    return Measured(run, host, where, params, grads, graph, output_finite, loss_finite)


def value(run: Pass, host: np.ndarray, row: int, key: str) -> float | None:
    slot = run.slots[row].get(key)
    return None if slot is None else float(host[slot])


def moments(total: float | None, norm: float | None, n: int | None) -> tuple[float | None, float | None]:
    """(mean, std) from a sum and a Euclidean norm of n entries."""
    if total is None or norm is None or not n:
        return None, None
    mean = total / n
    return mean, math.sqrt(max(norm * norm / n - mean * mean, 0.0))
