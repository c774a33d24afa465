"""Memory estimates for both engines, checked against what the machine can give before anything is allocated."""

from __future__ import annotations

from typing import Any

from dlcli.memory import MEMORY_SHARE, available_bytes, check_fits, human_bytes
from dlcli.vanish.config import VanishConfig

__all__ = ["MEMORY_SHARE", "available_bytes", "check_fits", "check_memory", "estimate_bytes", "human_bytes"]

PER_LAYER_BYTES = 800    # Python objects kept per layer: its statistics row, list slots, small arrays' headers


def _layer_sums(widths: tuple[int, ...] | list[int]) -> tuple[int, int, int, int, int]:
    """(Σ n_in·n_out, Σ n_out, Σ n, max n, max n_in·n_out) in O(1) memory (closed form for uniform widths)."""
    depth = len(widths) - 1
    if widths.count(widths[0]) == len(widths):  # one C-speed pass, no list built
        w = widths[0]
        return depth * w * w, depth * w, (depth + 1) * w, w, w * w
    weights = biases = units = widest = biggest = 0
    previous = None
    for n in widths:
        units += n
        widest = max(widest, n)
        if previous is not None:
            weights += previous * n
            biases += n
            biggest = max(biggest, previous * n)
        previous = n
    return weights, biases, units, widest, biggest


def uniform_bytes(depth: int, width: int, batch: int, dtype: str = "float64") -> int:
    """estimate_bytes for `depth` layers of `width` units, without building the configuration at all."""
    return _numpy_bytes((depth * width * width, depth * width, (depth + 1) * width, width, width * width),
                        depth, batch, dtype)


def estimate_bytes(config: VanishConfig) -> int:
    """Bytes the numpy engine holds at its peak: weights, activations kept for backward, per-layer scratch."""
    return _numpy_bytes(_layer_sums(config.widths), config.depth, config.batch, config.dtype)


def _numpy_bytes(sums: tuple[int, int, int, int, int], depth: int, batch: int, dtype: str) -> int:
    item = 8 if dtype == "float64" else 4
    weights, _, units, widest, biggest = sums
    total = weights * 8 + (0 if item == 8 else weights * item)        # generated in float64, then cast
    total += 2 * batch * units * item                                 # z_l and a_l for the backward pass
    total += 6 * batch * widest * 8 + 2 * biggest * 8                 # δ, φ', float64 copies, ∂W
    return int(total + depth * PER_LAYER_BYTES)


def check_memory(config: VanishConfig | None, need: int | None = None, have: int | None = None,
                 where: str = "memory", advice: str = "shrink --width (memory grows with width²), --depth or --batch",
                 ) -> None:
    """InputError with the estimate and what to shrink (`advice`) when a run will not fit (dlcli.memory's rule)."""
    if need is None:
        assert config is not None
        need = estimate_bytes(config)
    check_fits(need, advice, where, have)


def estimate_device_bytes(config: VanishConfig, on_host: bool) -> int:
    """Peak bytes where the model runs: weights, tensors autograd keeps, and what the statistics add
    (`on_host`: one ∂W_l at a time; else autograd's ∂W_l all at once, and stacks of layers)."""
    item = {"float64": 8, "float32": 4, "bfloat16": 2}[config.dtype]
    weights, biases, units, widest, biggest = _layer_sums(config.widths)
    params = weights + biases
    total = params * item                                      # weights
    total += 4 * config.batch * units * item                   # z_l, a_l, φ'(z_l), ∂loss/∂z_l
    if on_host:
        return int(total + biggest * item + 4 * config.batch * widest * 8)  # ∂W_l buffer, float64 copies
    from dlcli.vanish.device_stats import STACK_BYTES

    stack = min(STACK_BYTES["cuda"], config.batch * units * 8)
    total += params * item                                     # weight gradients
    total += 3 * stack + 4 * config.batch * widest * 8 + biggest * 8  # stacks and copies in the statistics
    return int(total)


def estimate_module_bytes(torch: Any, model: Any, probe: Any, batch: int, copies: int = 1) -> int:
    """Peak bytes of one hooked forward and backward of `model` on `batch` examples, measured on the few in
    `probe` (a tensor, or a batch with .call(model), .head(n), .args, .kwargs, .size: every input cut alike).
    A pass on the first example and one on all of the probe's give, per example and fixed, the distinct tensors
    a pass keeps: what autograd saves for the backward pass (saved_tensors_hooks) and what each module returns.
    The peak counts them 2.5 times (their gradients in the backward pass, the statistics' float64 scratch;
    measured peaks were 0.6 to 1.1 of that), the largest tensor twice more (transient workspace), and the
    parameters and their gradients of `copies` models."""
    examples = len(probe) if isinstance(probe, torch.Tensor) else probe.size
    whole = _kept_bytes(torch, model, probe)
    if whole is None:  # the real pass reports the user's error in its own words
        return 0
    one = _kept_bytes(torch, model, probe[:1] if isinstance(probe, torch.Tensor) else probe.head(1)) \
        if examples > 1 else None
    if one is not None:
        per_example = max(whole[0] - one[0], 0) / (examples - 1)
        fixed = max(one[0] - per_example, 0)
    else:
        per_example, fixed = whole[0] / max(examples, 1), 0
    largest = whole[1] / max(examples, 1)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return int(2.5 * (fixed + per_example * batch) + 2 * largest * batch + 2 * copies * params)


def _kept_bytes(torch: Any, model: Any, probe: Any) -> tuple[int, int] | None:
    """(total, largest) bytes of the distinct tensors that one forward pass of `model` (in eval mode: batch norm
    on one example works) on `probe` keeps or returns, its inputs counted, parameters and buffers not; None where
    the pass fails."""
    sizes: dict[int, int] = {}
    held: list[Any] = []  # each tensor is kept until the end, so no freed block's address is counted twice
    own = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}

    def note(t: Any) -> None:
        if isinstance(t, torch.Tensor) and t.layout == torch.strided:
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr not in own:  # a block once, at the most any view of it spans (a probe's rows: not the batch's)
                sizes[ptr] = max(sizes.get(ptr, 0), min(storage.nbytes(), t.numel() * t.element_size()))
                held.append(t)

    def pack(t: Any) -> Any:
        note(t)
        return t

    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        for t in output if isinstance(output, tuple | list) else (output,):
            note(t)

    if isinstance(probe, torch.Tensor):
        inputs, call = [probe], lambda m: m(probe)
    else:
        inputs, call = [*probe.args, *probe.kwargs.values()], probe.call
    for t in inputs:
        note(t)
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    training = model.training
    try:
        model.eval()
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            call(model)
    except Exception:
        return None
    finally:
        model.train(training)
        for h in handles:
            h.remove()
        held.clear()
    return sum(sizes.values()), max(sizes.values(), default=0)
