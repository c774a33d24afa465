"""How much memory a run may take, and the one rule and wording every refusal uses: a run estimated to need more
than MEMORY_SHARE of the memory this process can still get is refused before anything is allocated, with the
estimate, the margin kept and the option to change."""

from __future__ import annotations

import os

from dlcli.errors import InputError

MEMORY_SHARE = 0.8  # a run may plan on this share of the free memory; the rest is kept in reserve for the system


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


def refusal(need: float, have: float, advice: str, where: str = "memory") -> InputError:
    """The one line of every refusal: the estimate, what is free, the margin kept, and what to change."""
    reserve = 1 - MEMORY_SHARE
    return InputError(f"this run needs about {human_bytes(need)} of {where}, more than the "
                      f"{human_bytes(MEMORY_SHARE * have)} dlcli lets a run take ({human_bytes(have)} is free and "
                      f"{reserve:.0%} of it is kept in reserve); {advice}")


def check_fits(need: float, advice: str, where: str = "memory", have: float | None = None) -> None:
    """Refuse (InputError) a run estimated to need `need` bytes of `where` when that is more than MEMORY_SHARE of
    `have` (default: what this process can still get); `advice` names the option to change."""
    have = available_bytes() if have is None else have
    if have is not None and need > MEMORY_SHARE * have:
        raise refusal(need, have, advice, where)


def out_of_memory(what: str, advice: str) -> str:
    """The one line of a run that ran out of memory all the same (exit 1): where, and what to change."""
    return f"out of memory: {what}; {advice}"


OUT_OF_MEMORY_WORDS = ("can't allocate memory", "not enough memory", "out of memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` says memory ran out: MemoryError, torch's OutOfMemoryError, or an allocator's RuntimeError."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(w in text for w in OUT_OF_MEMORY_WORDS)
