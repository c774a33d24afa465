"""Pipeline budget: `dlcli activations eval sigmoid` on numbers from stdin vs awk at full precision.

Budget (issue 2): at most 1.1x awk's time at 1,000,000 numbers and at most 0.5x at 10,000,000.
Also reports peak memory (max RSS) at both sizes, to show it stays flat while the input grows 10x.
Run: python benchmarks/pipeline.py [repeats] [--quick]   (--quick: 1e6 only)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import ROOT, command_line, dlcli, medians, report  # noqa: E402

AWK = ["awk", '{printf "%.17g\\n", 1/(1+exp(-$1))}']


def make_input(path: str, n: int) -> None:
    values = np.random.default_rng(0).normal(0.0, 5.0, n)
    with open(path, "wb") as f:
        for start in range(0, n, 1_000_000):
            f.write(("\n".join(map(repr, values[start:start + 1_000_000].tolist())) + "\n").encode())


def peak_rss_mb(cmd: list[str], stdin_path: str) -> float:
    with open(stdin_path, "rb") as f:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdin=f, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, cwd=ROOT, check=True)
    return int(proc.stderr.decode().strip().splitlines()[-1]) / 1024


if __name__ == "__main__":
    repeats, _ = command_line(3)  # wall time always: the pipeline runs in two processes
    sizes = [1_000_000] if "--quick" in sys.argv else [1_000_000, 10_000_000]
    budgets = {1_000_000: 1.1, 10_000_000: 0.5}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"{n}.txt")
            make_input(path, n)
            commands = {
                "awk": {"cmd": AWK, "stdin_path": path},
                "dlcli activations eval sigmoid": {"cmd": dlcli("activations", "eval", "sigmoid"), "stdin_path": path},
            }
            results = medians(commands, repeats)
            ok &= report(f"{n:,} numbers, wall time, median of {repeats} interleaved runs", results, "awk",
                         {"dlcli activations eval sigmoid": ("<=", budgets[n])})
            print(f"  peak memory: dlcli {peak_rss_mb(dlcli('activations', 'eval', 'sigmoid'), path):.0f} MB")
    sys.exit(0 if ok else 1)
