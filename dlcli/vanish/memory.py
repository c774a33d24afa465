"""Memory estimates for both engines, checked against what the machine can give before anything is allocated."""

from __future__ import annotations

import os

from dlcli.errors import InputError
from dlcli.vanish.config import VanishConfig

MEMORY_SHARE = 0.8       # refuse runs estimated to need more than this share of the free memory


def estimate_bytes(config: VanishConfig) -> int:
    """Bytes the numpy engine holds at its peak: weights, activations kept for backward, per-layer scratch."""
    item = 8 if config.dtype == "float64" else 4
    pairs = list(zip(config.widths[:-1], config.widths[1:], strict=True))
    weights = sum(i * o for i, o in pairs)
    units = sum(config.widths)
    widest = max(config.widths)
    biggest = max(i * o for i, o in pairs)
    total = weights * 8 + (0 if item == 8 else weights * item)        # generated in float64, then cast
    total += 2 * config.batch * units * item                          # z_l and a_l for the backward pass
    total += 6 * config.batch * widest * 8 + 2 * biggest * 8          # δ, φ', float64 copies, ∂W
    return int(total)


def available_bytes() -> int | None:
    """Memory the OS can hand out now (MemAvailable), or None where that cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_memory(config: VanishConfig, need: int | None = None, have: int | None = None, where: str = "memory",
                 ) -> None:
    """InputError with the estimate and what to shrink when a run will not fit."""
    need = estimate_bytes(config) if need is None else need
    have = available_bytes() if have is None else have
    if have is not None and need > MEMORY_SHARE * have:
        raise InputError(
            f"this run needs about {human_bytes(need)} of {where} but {human_bytes(have)} is free; "
            f"shrink --width (memory grows with width²), --depth or --batch"
        )


def estimate_device_bytes(config: VanishConfig, on_host: bool) -> int:
    """Peak bytes where the model runs: weights, tensors autograd keeps, and what the statistics add
    (`on_host`: one ∂W_l at a time; else autograd's ∂W_l all at once, and stacks of layers)."""
    item = {"float64": 8, "float32": 4, "bfloat16": 2}[config.dtype]
    pairs = list(zip(config.widths[:-1], config.widths[1:], strict=True))
    params = sum(i * o + o for i, o in pairs)
    units = sum(config.widths)
    widest, biggest = max(config.widths), max(i * o for i, o in pairs)
    total = params * item                                      # weights
    total += 4 * config.batch * units * item                   # z_l, a_l, φ'(z_l), ∂loss/∂z_l
    if on_host:
        return int(total + biggest * item + 4 * config.batch * widest * 8)  # ∂W_l buffer, float64 copies
    from dlcli.vanish.device_stats import STACK_BYTES

    stack = min(STACK_BYTES["cuda"], config.batch * units * 8)
    total += params * item                                     # weight gradients
    total += 3 * stack + 4 * config.batch * widest * 8 + biggest * 8  # stacks and copies in the statistics
    return int(total)
