"""Side-by-side timing of whole commands: interleaved runs, medians, ratios (machines here are noisy)."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
FLOOR = [PY, "-c", "import typer, rich, numpy, pydantic"]


def compile_sources() -> None:
    """Write dlcli's .pyc files first, as `pip install` does: with PYTHONDONTWRITEBYTECODE set (as on
    these machines) an editable checkout would otherwise recompile every module at every start."""
    import compileall

    compileall.compile_dir(os.path.join(ROOT, "dlcli"), quiet=1)


def steady_allocator() -> bool:
    """Keep freed memory in this process (glibc): no page faults from memory handed back to the OS and
    faulted in again, which otherwise add ±30% of noise to steps that allocate ~100 MB each (measured: a
    depth-100 width-512 torch step took 40,000 page faults). Both sides of a comparison get the same
    allocator. Returns False where it cannot (not glibc)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_trim_threshold, 2**30)) and bool(mallopt(m_mmap_max, 0))


def dlcli(*args: str) -> list[str]:
    return [PY, "-m", "dlcli", *args]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(cmd: list[str] | str, stdin_path: str | None = None, shell: bool = False, clock: str = "wall") -> float:
    """Seconds one run takes: wall-clock, or CPU time (user + sys of the children: steadier on a busy machine)."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    try:
        start, cpu = time.perf_counter(), _cpu()
        subprocess.run(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       shell=shell, cwd=ROOT)
        return (_cpu() - cpu) if clock == "cpu" else (time.perf_counter() - start)
    finally:
        if stdin_path:
            stdin.close()


def medians(commands: dict[str, dict], repeats: int, clock: str | None = None) -> dict[str, float]:
    """Run every command `repeats` times, interleaved so load drifts hit all alike; return median seconds.
    `clock` ("wall" or "cpu"), when given, applies to every command."""
    if clock is not None:
        commands = {name: {**spec, "clock": clock} for name, spec in commands.items()}
    compile_sources()
    times: dict[str, list[float]] = {name: [] for name in commands}
    for spec in commands.values():  # warm-up (page cache, .pyc)
        time_once(**spec)
    for _ in range(repeats):
        for name, spec in commands.items():
            times[name].append(time_once(**spec))
    return {name: statistics.median(t) for name, t in times.items()}


def command_line(default_repeats: int) -> tuple[int, str]:
    """(repeats, clock) from argv: a bare number is the repeat count; --wall times wall-clock instead of CPU
    time (user + sys of the children, far steadier than wall-clock on a shared machine)."""
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    return (int(numbers[0]) if numbers else default_repeats), ("wall" if "--wall" in sys.argv else "cpu")


def report(title: str, results: dict[str, float], baseline: str, budgets: dict[str, tuple[str, float]]) -> bool:
    """Print each command's median as a ratio to `baseline`; budgets: name -> ('<=', max ratio)."""
    print(title)
    ok = True
    base = results[baseline]
    for name, seconds in results.items():
        ratio = seconds / base
        line = f"  {name:<48} {ratio:6.2f}x {baseline}"
        if name in budgets:
            _, limit = budgets[name]
            passed = ratio <= limit
            ok &= passed
            line += f"   (budget <= {limit}x: {'ok' if passed else 'OVER'})"
        print(line)
    return ok
