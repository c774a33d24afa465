"""End-to-end budget for `dlcli vanish --depth 20 --act sigmoid` (issue 4).

Budgets: at most 3x the framework floor (`python -c "import typer, rich, numpy, pydantic"`), and at least
3x faster than benchmarks/vanish_torch_reference.py, a minimal PyTorch script doing the same experiment.
Measured side by side in one run: interleaved repeats, medians.
Run: python benchmarks/vanish_startup.py [repeats] [--wall]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import FLOOR, PY, command_line, dlcli, medians  # noqa: E402

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vanish_torch_reference.py")
COMMANDS = {
    "floor": {"cmd": FLOOR},
    "dlcli vanish --depth 20 --act sigmoid": {"cmd": dlcli("vanish", "--depth", "20", "--act", "sigmoid")},
    "torch reference script": {"cmd": [PY, REFERENCE]},
}

if __name__ == "__main__":
    repeats, CLOCK = command_line(7)  # CPU time by default, as benchmarks/startup.py
    t = medians(COMMANDS, repeats, CLOCK)
    ours, floor, ref = t["dlcli vanish --depth 20 --act sigmoid"], t["floor"], t["torch reference script"]
    over_floor, speedup = ours / floor, ref / ours
    print(f"vanish end to end, {CLOCK} time, median of {repeats} interleaved runs")
    print(f"  floor (import typer, rich, numpy, pydantic) {floor:.3f} s")
    print(f"  dlcli vanish --depth 20 --act sigmoid       {ours:.3f} s  = {over_floor:.2f}x floor  "
          f"(budget <= 3x: {'ok' if over_floor <= 3 else 'OVER'})")
    print(f"  torch reference script                      {ref:.3f} s  = {speedup:.2f}x ours  "
          f"(budget >= 3x: {'ok' if speedup >= 3 else 'UNDER'})")
    sys.exit(0 if over_floor <= 3 and speedup >= 3 else 1)
