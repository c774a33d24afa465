"""Gradient flow through any nn.Module (`vanish --model`): a row per module that owns parameters, an entry per
distinct parameter, the structure read from the autograd graph, and the findings, alarms and checked advice."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace
from typing import Any

from dlcli.errors import InputError
from dlcli.probe.findings import Concluded, Structure, conclude, small_gradient_rows
from dlcli.probe.hooks import Measured, measure, moments, value
from dlcli.probe.inputs import model_batch, reinitialise
from dlcli.probe.kinds import class_name, local, owner_modules, row_weights
from dlcli.probe.result import BlockStats, Check, ModuleConfig, ModuleResult, ModuleStats, ParameterStats
from dlcli.probe.theory import layer_theory
from dlcli.vanish.config import DEFAULT_GAIN, Progress
from dlcli.vanish.statistics import MIN_DEAD_EXAMPLES, dead_units_note

SCALE_BELOW = 1e-3   # a per-channel parameter whose entries are all this small scales its branch to (near) zero
BLOCK_ROWS = 12      # a block with more rows than this is split at its next numbered level


def _rows(m: Measured) -> list[ModuleStats]:
    import torch

    EMBEDDINGS = (torch.nn.Embedding, torch.nn.EmbeddingBag)  # noqa: N806
    run, host = m.run, m.host
    enough = m.examples is None or m.examples >= MIN_DEAD_EXAMPLES  # fewer: a live unit can look dead by chance
    order = run.order + [i for i in range(len(run.rows)) if i not in run.order]
    owner = _first_owner(m)
    out = []
    for layer, i in enumerate(order, start=1):
        name, mod = run.rows[i]
        v = lambda key, i=i: value(run, host, i, key)  # noqa: E731
        numel = run.slots[i].get("_numel")
        width = run.slots[i].get("_width")
        grad_norm = v("grad_norm")
        act = run.act[i]
        weights = row_weights(mod)
        shared = tuple(sorted({owner[id(w)] for w in weights if owner[id(w)] != name}))
        weight_grad = v("weight_grad_norm")
        if shared and len(shared) == 1 and all(owner[id(w)] != name for w in weights):
            status = "tied"
        elif not any(w.requires_grad for w in weights):
            status = "frozen"
        elif weight_grad is None:
            status = "unused" if run.calls[i] == 0 else "detached"
        else:
            status = "ok" if run.calls[i] else "indirect"
        sat, dead = v("saturated"), v("dead")
        out_sum, out_norm = v("out_sum"), v("out_norm")
        mean, std = moments(v("act_sum"), v("act_norm"), numel) if act else moments(out_sum, out_norm, numel)
        finite_out = out_sum is None or (math.isfinite(out_sum) and math.isfinite(out_norm or 0.0))
        weight_norm = v("weight_norm") or 0.0
        out.append(ModuleStats(
            layer=layer, name=name, type=class_name(mod), width=width,
            weight_grad_norm=weight_grad, weight_norm=weight_norm,
            grad_rms=grad_norm / math.sqrt(numel) if grad_norm is not None and numel else None,
            act_mean=mean, act_std=std,
            saturated_frac=sat / numel if sat is not None and numel else None,
            dead_frac=dead / width if dead is not None and width and enough else None,
            activation=act[0] if act else None, gradient=status, calls=run.calls[i],
            nonfinite_output=not finite_out,
            nonfinite_grad=(grad_norm is not None and not math.isfinite(grad_norm)) or (
                weight_grad is not None and not math.isfinite(weight_grad)),
            grad_norm=grad_norm,
            grad_to_weight=weight_grad / weight_norm if weight_grad is not None and weight_norm > 0 else None,
            shared_with=shared, block=block_of(name),
            matrix=all(w.dim() >= 2 for w in weights) and not isinstance(mod, EMBEDDINGS),
        ))
    return _split_large_blocks(out)


def _first_owner(m: Measured) -> dict[int, str]:
    """id(parameter) -> the module of its first qualified name (named_parameters() names a tied tensor once)."""
    return {id(p): name.rpartition(".")[0] or type(m.run.model).__name__ for name, p in m.params}


def _parameters(m: Measured) -> list[ParameterStats]:
    """One entry per distinct trainable tensor, its other names (tied) listed with it."""
    names: dict[int, list[str]] = {}
    for mod_name, mod in m.run.model.named_modules(remove_duplicate=False):
        for key, p in mod._parameters.items():
            if p is not None:
                full = f"{mod_name}.{key}" if mod_name else key
                if full not in names.setdefault(id(p), []):
                    names[id(p)].append(full)
    out = []
    for j, (name, p) in enumerate(m.params):
        if not p.requires_grad:
            continue
        slots = m.run.param_slots[j]
        norm = float(m.host[slots["norm"]])
        grad = float(m.host[slots["grad_norm"]]) if "grad_norm" in slots else None
        out.append(ParameterStats(name, [n for n in names.get(id(p), []) if n != name],
                                  name.rpartition(".")[0], [int(s) for s in p.shape], grad, norm,
                                  grad / norm if grad is not None and norm > 0 else None))
    return out


def block_of(name: str, levels: int = 1) -> str:
    """The residual block or transformer layer of a qualified name: up to its `levels`-th numbered part
    (layer1.0, transformer.h.3, encoder.layer.2); a name without one is its own block."""
    parts = name.split(".")
    numbered = [k for k, part in enumerate(parts) if part.isdigit()]
    if not numbered:
        return name
    end = numbered[min(levels, len(numbered)) - 1]
    return ".".join(parts[:end + 1])


def _split_large_blocks(rows: list[ModuleStats]) -> list[ModuleStats]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.block] = counts.get(r.block, 0) + 1
    return [replace(r, block=block_of(r.name, 2)) if counts[r.block] > BLOCK_ROWS and block_of(r.name, 2) != r.block
            else r for r in rows]


def _blocks(rows: list[ModuleStats]) -> list[BlockStats]:
    grouped: dict[str, list[ModuleStats]] = {}
    for r in rows:
        grouped.setdefault(r.block, []).append(r)
    out = []
    for name, members in grouped.items():
        own = [r for r in members if r.gradient != "tied"]
        grads = [r.weight_grad_norm for r in own if r.weight_grad_norm is not None]
        g = math.sqrt(sum(x * x for x in grads)) if grads else None
        w = math.sqrt(sum(r.weight_norm ** 2 for r in own))
        dead = [r.dead_frac for r in members if r.dead_frac is not None]
        sat = [r.saturated_frac for r in members if r.saturated_frac is not None]
        out.append(BlockStats(name, tuple(r.name for r in members), g, w, g / w if g is not None and w > 0 else None,
                              max(dead) if dead else None, max(sat) if sat else None))
    return out


def _theory(m: Measured, rows: list[ModuleStats]) -> list[ModuleStats]:
    """Each row's LayerTheory: mean-field's local factor where a dense layer → activation → dense layer chain runs."""
    import torch

    run = m.run
    row_of = {name: i for i, (name, _) in enumerate(run.rows)}
    grad_rms: list[float | None] = [None] * len(run.rows)
    for r in rows:
        grad_rms[row_of[r.name]] = r.grad_rms
    nxt = {src: dst for dst, src in run.chain.items()}
    return [replace(r, theory=layer_theory(torch, run, m.host, row_of[r.name], grad_rms, nxt)) for r in rows]


def _structure(m: Measured, rows: list[ModuleStats]) -> Structure:
    """The graph read in names: edges, and for each row with a zero or near-zero gradient the small scales every
    path from it to the loss meets (BN γ = 0, layer scale 1e-6) and whether they gate a branch or cut the model."""
    run, graph = m.run, m.graph
    name_of = [n for n, _ in run.rows]
    edges = {(name_of[a], name_of[b]) for a, b in graph.edges}
    params = {id(p): (n, p) for n, p in m.params}

    def is_scale(p: Any) -> bool:  # multiplies its branch: a norm's weight or a layer scale, never a bias
        name = params.get(id(p), ("",))[0].rpartition(".")[2]
        return p.dim() == 1 and p.numel() > 0 and not any(k in name for k in ("bias", "beta", "shift")) \
            and bool(local(p.detach()).abs().max() < SCALE_BELOW)  # a shard's own entries: no collective

    by_name = {r.name: r for r in rows}
    module_of_param = _first_owner(m)
    row_index = {n: i for i, n in enumerate(name_of)}
    order = {id(p): k for k, (_, p) in enumerate(m.params)}
    scaled: dict[str, tuple[str, bool, bool]] = {}
    judged: dict[frozenset[int], tuple[bool, bool]] = {}  # the rows of one branch share their scales' verdict
    for r in small_gradient_rows(rows):
        node = run.first_nodes[row_index[r.name]]
        if node is None:
            continue
        found, open_path = graph.scales_above([node], is_scale)
        known = sorted((i for i in found if i in params), key=order.__getitem__)
        if open_path or not known:
            continue
        key = frozenset(found)
        if key not in judged:
            scale_row = row_index.get(module_of_param[known[0]])
            judged[key] = _judge(m, graph, by_name, scale_row, params[known[0]][1], found)
        learns, around = judged[key]
        scaled[r.name] = (", ".join(sorted(params[i][0] for i in known)), learns, around)
    logits = {name_of[i] for i, node in enumerate(run.first_nodes)
              if node is not None and run.calls[i] and _is_projection(run.rows[i][1])
              and graph.through_softmax(node, run.node_rows)}
    return Structure(edges=edges, scaled=scaled, logits=logits)


def _is_projection(m: Any) -> bool:
    return class_name(m) in ("Linear", "Conv1D", "NonDynamicallyQuantizableLinear")


def _judge(m: Measured, graph: Any, by_name: dict[str, ModuleStats], scale_row: int | None, scale: Any,
           found: set[int]) -> tuple[bool, bool]:
    """Whether a small scale learns (gets a gradient itself) and whether something feeding its module gets a
    gradient around it (a residual branch: deliberate), rather than through it only (the model is cut)."""
    grad = m.grads.get(id(scale))
    learns = grad is not None and bool(local(grad.detach()).abs().sum() > 0)
    if scale_row is None:
        return learns, False
    name_of = [n for n, _ in m.run.rows]
    around = any((by_name[name_of[u]].grad_to_weight or 0.0) > 0 and not _below_scale(graph, m.run, u, found)
                 for u in sorted(graph.upstream(scale_row)) if name_of[u] in by_name)
    return learns, around


def _below_scale(graph: Any, run: Any, row: int, found: set[int]) -> bool:
    """Whether every path from `row` to the loss passes one of the scales `found`."""
    node = run.first_nodes[row]
    if node is None:
        return False
    met, open_path = graph.scales_above([node], lambda p: id(p) in found)
    return bool(met) and not open_path


# --- the entry points ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Judged:
    """One measured pass read: its rows (with local theory), its parameters, the structure and the conclusion."""

    rows: list[ModuleStats]
    parameters: list[ParameterStats]
    structure: Structure
    concluded: Concluded


def judge(measured: Measured, full: bool = True) -> Judged:
    """The rows, structure and findings of one measured pass: the same reading for `vanish --model`, `train
    --model` and `dlcli.watch`'s sampled steps (`full=False`: without each row's mean-field theory and the
    per-parameter list, which watch does not store)."""
    rows = _theory(measured, _rows(measured)) if full else _rows(measured)
    structure = _structure(measured, rows)
    concluded = conclude(rows, structure, measured.output_finite, measured.loss_finite)
    if measured.examples is not None and measured.examples < MIN_DEAD_EXAMPLES and any(r.activation for r in rows):
        concluded.findings.append(dead_units_note(measured.examples))
    return Judged(rows, _parameters(measured) if full else [], structure, concluded)



def analyse_module(model: Any, x: Any, y: Any = None, loss: str | None = None, *, seed: int = 0, init: str = "keep",
                   gain: float | None = None, eval_mode: bool = False, output: str | None = None,
                   check_advice: bool = True, progress: Progress | None = None, label: str | None = None,
                   data: str = "given") -> ModuleResult:
    """One forward and backward pass of `model` on `x` (a tensor, a tuple of them or a dict of keyword inputs;
    targets `y`) under hooks: a row per module that owns parameters, what is wrong and where, and advice checked
    by re-running. `init` other than keep re-initialises a copy of the model."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise InputError(f"analyse_module needs an nn.Module, got {type(model).__name__}")
    first = next(iter(model.parameters()), None)
    dtype = first.dtype if first is not None else torch.float32
    device = first.device if first is not None else torch.device("cpu")
    batch, loss = model_batch(torch, model, x, y, loss, device, dtype)
    if not owner_modules(model):
        raise InputError("the model has no parameters: nothing to report")
    original = model
    if init != "keep":
        model = copy.deepcopy(model)
        reinitialise(model, init, gain, seed)
    model.train(not eval_mode)
    measured = measure(model, batch, loss, seed, output, progress)
    judged = judge(measured)
    rows, parameters, structure, concluded = judged.rows, judged.parameters, judged.structure, judged.concluded

    def check(cand_init: str, cand_gain: float) -> Check:
        start = time.perf_counter()
        other = analyse_module(original, batch, None, loss, seed=seed, init=cand_init, gain=cand_gain,
                               eval_mode=eval_mode, output=output, check_advice=False)
        dead_other = max((r.dead_frac for r in other.layers if r.dead_frac is not None), default=0.0)
        return Check(cand_init, cand_gain, other.gradient_ratio, other.grad_rms_ratio, other.verdict, dead_other,
                     seconds=time.perf_counter() - start)

    advice, checks = concluded.advise(rows, init, gain, check if check_advice else None)
    notes = ["Activations are seen as modules (torch.nn, transformers and timm classes, any parameter-free module "
             "that computes one) and as functional calls taking a module's output (F.relu, torch.tanh, F.gelu, "
             "read from the autograd graph); a functional activation after a residual add belongs to no module."]
    config = ModuleConfig(
        model=label or type(original).__name__, input_shape=batch.example_shape, batch=batch.size,
        data=data, loss=loss, output=measured.where, dtype=str(dtype).removeprefix("torch."), device=str(device),
        seed=seed, init=init, gain=None if init == "keep" else (DEFAULT_GAIN[init] if gain is None else gain),
        mode="eval" if eval_mode else "train")
    edges = tuple(sorted(structure.edges))
    return ModuleResult(config, tuple(rows), concluded.gradient_ratio, concluded.grad_rms_ratio,
                        concluded.between, concluded.verdict, tuple(concluded.findings), tuple(advice),
                        tuple(checks), tuple(notes), tuple(parameters), tuple(concluded.alarms),
                        tuple(_blocks(rows)), edges)
