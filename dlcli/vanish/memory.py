"""Memory estimates for both engines, checked against what the machine can give before anything is allocated."""

from __future__ import annotations

import os
from typing import Any

from dlcli.errors import InputError
from dlcli.vanish.config import VanishConfig

MEMORY_SHARE = 0.8       # refuse runs estimated to need more than this share of the free memory


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


def available_bytes() -> int | None:
    """Memory this process can still get: the least of the OS's MemAvailable, what the address-space limit
    (RLIMIT_AS, `ulimit -v`) leaves, and what the cgroup's memory limit leaves; None where none can be read."""
    limits = [v for v in (_mem_available(), _rlimit_room(), _cgroup_room()) if v is not None]
    return max(0, min(limits)) if limits else None


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _status_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _rlimit_room() -> int | None:
    """RLIMIT_AS minus the address space already mapped (VmSize)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    return soft - (_status_bytes("VmSize") or 0)


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (v2) means no limit


def _cgroup_room() -> int | None:
    """The memory cgroup's limit minus its usage (cgroup v2 memory.max, or v1 memory.limit_in_bytes)."""
    try:
        with open("/proc/self/cgroup") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:  # v2
            base = "/sys/fs/cgroup" + path.rstrip("/")
            limit, used = _read_int(base + "/memory.max"), _read_int(base + "/memory.current")
        elif "memory" in controllers.split(","):  # v1
            base = "/sys/fs/cgroup/memory" + path.rstrip("/")
            limit, used = _read_int(base + "/memory.limit_in_bytes"), _read_int(base + "/memory.usage_in_bytes")
            if limit is not None and limit >= 1 << 60:  # v1 writes "no limit" as a huge number
                limit = None
        else:
            continue
        if limit is not None:
            return limit - (used or 0)
    return None


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_memory(config: VanishConfig | None, need: int | None = None, have: int | None = None,
                 where: str = "memory", advice: str = "shrink --width (memory grows with width²), --depth or --batch",
                 ) -> None:
    """InputError with the estimate and what to shrink (`advice`) when a run will not fit."""
    if need is None:
        assert config is not None
        need = estimate_bytes(config)
    have = available_bytes() if have is None else have
    if have is not None and need > MEMORY_SHARE * have:
        raise InputError(f"this run needs about {human_bytes(need)} of {where} but {human_bytes(have)} is free; "
                         f"{advice}")


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
    """Peak bytes of one hooked forward and backward of `model` on `batch` examples, from a pass on the few in
    `probe` (a tensor, or a batch with .call(model), .args, .kwargs, .size: every input cut alike): every
    module's output four times over (the output autograd keeps, its gradient, the statistics' scratch, a spare)
    scaled to the batch, plus the parameters and their gradients of `copies` models."""
    sizes: list[int] = []

    def hook(_module: Any, _inputs: Any, output: Any) -> None:
        for t in output if isinstance(output, tuple | list) else (output,):
            if isinstance(t, torch.Tensor):
                sizes.append(t.numel() * t.element_size())

    if isinstance(probe, torch.Tensor):
        inputs, examples, call = [probe], len(probe), lambda m: m(probe)
    else:
        inputs, examples, call = [*probe.args, *probe.kwargs.values()], probe.size, probe.call
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    training = model.training
    try:
        model.eval()  # batch norm on a probe of one or two examples: running statistics, no error
        with torch.no_grad():
            call(model)
    except Exception:  # the real pass reports the user's error in its own words
        return 0
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    given = sum(t.numel() * t.element_size() for t in inputs if isinstance(t, torch.Tensor))
    per_example = (4 * sum(sizes) + given) / max(examples, 1)
    return int(per_example * batch + 2 * copies * params)
