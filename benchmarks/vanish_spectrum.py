"""`vanish --spectrum` at width 1024, depth 50 beside a plain numpy computation of the same Jacobians and SVDs.

Budget (issue 15): within 2× of the plain computation. Both run in this process on the same float64
weights (built once, not timed) and the same examples; interleaved repeats, medians of wall and CPU time.
Run: python benchmarks/vanish_spectrum.py [repeats] [--width N] [--depth L] [--samples S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dlcli import activations  # noqa: E402
from dlcli.vanish.config import make_config  # noqa: E402
from dlcli.vanish.numpy_engine import build_numpy  # noqa: E402
from dlcli.vanish.spectrum import fixed_point_input, jacobian_spectrum, spectrum_inputs  # noqa: E402


def plain(config, net, x: np.ndarray) -> np.ndarray:
    """What one would write by hand: per example, J = D_L W_L ⋯ D_1 W_1, then its singular values."""
    act = activations.get(config.activation)
    out = []
    for example in x:
        a, jac = example, None
        for w, b in zip(net.weights, net.biases, strict=True):
            z = w @ a + b
            m = w if jac is None else w @ jac
            jac = act.grad(z)[:, None] * m
            a = act.fn(z)
        out.append(np.linalg.svd(jac, compute_uv=False))
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("repeats", nargs="?", type=int, default=3)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--samples", type=int, default=2)
    args = parser.parse_args()
    config = make_config("tanh", depth=args.depth, width=args.width, init="orthogonal", gain=1.0189, bias_std=0.003,
                         seed=0, spectrum_samples=args.samples)
    net = build_numpy(config)
    x = spectrum_inputs(config, fixed_point_input(config)[1])
    times: dict[str, list[tuple[float, float]]] = {"dlcli spectrum": [], "plain numpy": []}
    check = {}
    for _ in range(args.repeats):
        for name in times:
            wall, cpu = time.perf_counter(), time.process_time()
            if name == "plain numpy":
                s = plain(config, net, x)
                check[name] = float((s * s).mean())
            else:
                check[name] = jacobian_spectrum(config, net).mean_sq
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    print(f"vanish --spectrum, tanh, width {args.width}, depth {args.depth}, {args.samples} examples; "
          f"median of {args.repeats} interleaved runs")
    med = {name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
           for name, ts in times.items()}
    for name, (wall, cpu) in med.items():
        print(f"  {name:15} wall {wall:7.2f} s   cpu {cpu:7.2f} s   mean σ² {check[name]:.12g}")
    (ours_w, ours_c), (ref_w, ref_c) = med["dlcli spectrum"], med["plain numpy"]
    print(f"  ratio dlcli/plain: wall {ours_w / ref_w:.2f}×, cpu {ours_c / ref_c:.2f}× (budget 2×)")


if __name__ == "__main__":
    main()
