"""Time `perceptron census`: N = 4 against its 1-second budget, and the three exact methods side by side.

Run: python benchmarks/census.py   (prints seconds and ratios; asserts nothing)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dlcli.census import OEIS_A000609, census  # noqa: E402


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
    for method, sizes, repeats in (("lp", (3,), 1), ("direct", (3, 4, 5), 3), ("orbits", (3, 4, 5), 3)):
        for n in sizes:
            count = census(n, method).separable
            timings[method, n] = best_of(repeats, lambda m=method, k=n: census(k, m))
            print(f"{method:<8} {n}  {count:<9} {OEIS_A000609[n]:<9} {timings[method, n]:.4f}")
    print()
    print(f"N=3: lp / direct          = {timings['lp', 3] / timings['direct', 3]:9.1f}x")
    print(f"N=5: direct / orbits      = {timings['direct', 5] / timings['orbits', 5]:9.1f}x")
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "dlcli", "perceptron", "census", "--inputs", "4", "--format", "json"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    whole = time.perf_counter() - start
    status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[:80]}"
    print(f"N=4 core time / 1 s budget          = {timings['direct', 4]:.4f}")
    print(f"N=4 whole CLI process / 1 s budget  = {whole:.4f}  ({status})")
    print(f"N=5 (orbits) core time              = {timings['orbits', 5]:.4f} s")


if __name__ == "__main__":
    main()
