"""`dlcli graph` timings, side by side: whole commands against the framework floor, and the core's
forward + backward pass against torch autograd on the same 10,000-gate chain. Issue 5 sets no budget;
these ratios are for the record. Run: python benchmarks/graph.py [repeats]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _timing import FLOOR, dlcli, medians, report  # noqa: E402

DEPTH = 10000
DEEP = "sin(" * DEPTH + "x" + ")" * DEPTH
COMMANDS = {
    "floor: python -c 'import typer, rich, numpy, pydantic'": {"cmd": FLOOR},
    "dlcli graph (x+y)*z -f json": {"cmd": dlcli("graph", "(x+y)*z", "x=-2", "y=5", "z=-4", "-f", "json")},
    "dlcli graph --example sigmoid-neuron -f table": {
        "cmd": dlcli("graph", "--example", "sigmoid-neuron", "-f", "table")},
    f"dlcli graph sin(...{DEPTH}...) -f json": {"cmd": dlcli("graph", DEEP, "x=0.5", "-f", "json")},
}


def in_process(repeats: int) -> dict[str, float]:
    """Median seconds: our build + backprop of the deep chain, and torch building and differentiating it."""
    import torch

    from dlcli.graph.computation import backprop, build

    def ours() -> None:
        backprop(build(DEEP), {"x": 0.5})

    graph = build(DEEP)

    def ours_without_parse() -> None:
        backprop(graph, {"x": 0.5})

    def reference() -> None:
        x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        out = x
        for _ in range(DEPTH):
            out = torch.sin(out)
        out.backward()

    runs = {"torch autograd (build + backward)": reference, "dlcli: parse + build + forward + backward": ours,
            "dlcli: forward + backward only": ours_without_parse}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    repeats = int(numbers[0]) if numbers else 5
    report(f"dlcli graph, wall time, median of {repeats} interleaved runs (ratio to the framework floor)",
           medians(COMMANDS, repeats), next(iter(COMMANDS)), {})
    results = in_process(repeats)
    report(f"{DEPTH} nested sin gates in one process, median of {repeats} (ratio to torch autograd)",
           results, next(iter(results)), {})
