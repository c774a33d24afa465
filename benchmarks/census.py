"""Time `perceptron census`: N = 4 against its 1-second budget, and the exact methods side by side.

Run: python benchmarks/census.py   (prints seconds and ratios; asserts nothing)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dlcli.perceptron.census import OEIS_A000609, census  # noqa: E402


def best_of(repeats: int, func) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    print("method   N  count     OEIS      seconds")
    timings: dict[tuple[str, int], float] = {}
    for method, sizes, repeats in (("lp", (3,), 1), ("direct", (3, 4, 5), 3), ("orbits", (3, 4, 5, 6), 1)):
        for n in sizes:
            count = census(n, method).separable
            timings[method, n] = best_of(repeats, lambda m=method, k=n: census(k, m))
            print(f"{method:<8} {n}  {count:<9} {OEIS_A000609[n]:<9} {timings[method, n]:.4f}")
    print()
    print(f"N=3: lp / direct          = {timings['lp', 3] / timings['direct', 3]:9.1f}x")
    print(f"N=5: direct / orbits      = {timings['direct', 5] / timings['orbits', 5]:9.1f}x")
    print(f"N=4 core time / 1 s budget  = {timings['direct', 4]:.4f}")
    print(f"N=5 (orbits) core time      = {timings['orbits', 5]:.4f} s")
    print(f"N=6 (orbits) core time      = {timings['orbits', 6]:.4f} s")
    print()
    whole_commands()


def whole_commands(repeats: int = 5) -> None:
    """Whole processes (CPU time, median of interleaved runs) against the framework's import floor."""
    from _timing import FLOOR, dlcli, medians

    commands = {
        "floor: import typer, rich, numpy, pydantic": {"cmd": FLOOR},
        "dlcli perceptron census --inputs 4": {"cmd": dlcli("perceptron", "census", "--inputs", "4", "-f", "json")},
        "dlcli perceptron census --inputs 5": {"cmd": dlcli("perceptron", "census", "--inputs", "5", "-f", "json")},
        "dlcli perceptron census --inputs 6": {"cmd": dlcli("perceptron", "census", "--inputs", "6", "-f", "json")},
    }
    for spec in commands.values():
        spec["clock"] = "cpu"
    results = medians(commands, repeats)
    floor = results[next(iter(commands))]
    print(f"whole commands, CPU seconds (user + sys), median of {repeats} interleaved runs:")
    for name, seconds in results.items():
        budget = "   (budget 1 s: " + ("ok)" if seconds < 1.0 else "OVER)") if "--inputs 4" in name else ""
        print(f"  {name:<40} {seconds:7.3f} s  {seconds / floor:5.2f}x floor{budget}")

if __name__ == "__main__":
    main()
