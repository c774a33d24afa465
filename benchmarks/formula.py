"""A formula against the registry's hand-written kernel for the same function, side by side on 10⁶ values
(issue 16's budget: a formula at most 2× slower). Pairs: x*sigmoid(x) vs silu, x*tanh(softplus(x)) vs mish,
where(x > 0, x, 0.01*x) vs leaky_relu; f and f' each. Also the whole `eval` stream of 10⁶ numbers.
Run: python benchmarks/formula.py [repeats]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dlcli import activations  # noqa: E402

PAIRS = [("x*sigmoid(x)", "silu"), ("x*tanh(softplus(x))", "mish"), ("where(x > 0, x, 0.01*x)", "leaky_relu")]
N = 1_000_000


def best_of(fn, x, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stream(name: str, data: bytes) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dlcli", "activations", "eval", name, "-f", "plain"], input=data,
                   capture_output=True, check=True)
    return time.perf_counter() - start


def main(repeats: int = 15) -> None:
    x = __import__("numpy").random.default_rng(0).normal(0, 3, N)
    print(f"{'formula':<26}{'kernel':<12}{'':>4}{'formula ms':>12}{'kernel ms':>11}{'ratio':>8}")
    for text, name in PAIRS:
        mine, ref = activations.get(text), activations.get(name)
        for what, a, b in (("f", mine, ref), ("f'", mine, ref)):
            fa = a if what == "f" else a.derivative
            fb = b if what == "f" else b.derivative
            ta, tb = [], []
            for _ in range(repeats):  # interleaved: both sides see the same machine load
                ta.append(best_of(fa, x, 1))
                tb.append(best_of(fb, x, 1))
            ma, mb = statistics.median(ta), statistics.median(tb)
            print(f"{text:<26}{name:<12}{what:>4}{ma * 1e3:>12.1f}{mb * 1e3:>11.1f}{ma / mb:>8.2f}")
    data = "\n".join(f"{v:.17g}" for v in x).encode()
    sa, sb = [], []
    for _ in range(max(3, repeats // 5)):
        sa.append(stream("x*sigmoid(x)", data))
        sb.append(stream("silu", data))
    ma, mb = statistics.median(sa), statistics.median(sb)
    print(f"{'eval stream x*sigmoid(x)':<26}{'silu':<12}{'f':>4}{ma * 1e3:>12.1f}{mb * 1e3:>11.1f}{ma / mb:>8.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
