"""Overhead of the torch engine's statistics over a bare forward+backward of the same nn.Sequential (issue 4).

Budget: at most 10% at depth 100, width 512 on CPU (batch 64, the tool's default, and float64 unless --dtype
says otherwise), and at depth 1000, width 1024, batch 1024 on a GPU (benchmarks/vanish_gpu.py).
Bare and instrumented steps alternate in one process, so that load drifts hit both alike; the headline is
the median of the paired ratios (each instrumented step over the bare step just before it), the minimum
ratio beside it. Memory layout differs from one process to the next and moves both sides by ±10% here, so
--processes N repeats the whole measurement in N fresh processes and reports each and their median.
Run: python benchmarks/vanish_torch_overhead.py [repeats] [--processes N] [--dtype float32] [--depth N] ...
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("repeats", nargs="?", type=int, default=15)
    parser.add_argument("--processes", type=int, default=1, help="fresh processes, each measuring on its own")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--act", default="sigmoid")
    parser.add_argument("--budget", type=float, default=0.10)
    parser.add_argument("--skip", choices=("forward", "gradients"), default=None,
                        help="diagnostic: leave out the forward-pass statistics or the gradient norms")
    parser.add_argument("--slope-on-stacks", action="store_true",
                        help="diagnostic: device statistics take φ' by forward-mode AD on stacks of z, not with "
                             "one backward-node launch per layer")
    parser.add_argument("--stack-bytes", type=int, default=None,
                        help="device statistics: the largest stack of layers (dlcli.vanish_stats_device.STACK_BYTES); "
                             "0 takes each layer's rows alone, on views, with no copies into stacks")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads [default: torch's]")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time (steadier on a shared machine; use with --threads 1)")
    args = parser.parse_args(argv)
    if args.processes > 1:
        return in_processes(argv, args)

    from _timing import steady_allocator

    steady = steady_allocator()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from dlcli.vanish.config import make_config
    from dlcli.vanish.torch_engine import build_model, resolve_device, torch_dtype
    from dlcli.vanish.torch_engine import statistics as instrumented
    from dlcli.vanish.weights import inputs, loss_head

    if args.skip:
        skip_part(args.skip)
    if args.stack_bytes is not None:
        from dlcli.vanish import device_stats as vanish_stats_device

        vanish_stats_device.STACK_BYTES[args.device.split(":")[0]] = args.stack_bytes
    if args.slope_on_stacks:  # no φ' with each layer: the device statistics take it from stacks of z
        from dlcli.vanish.torch_engine import _AutogradSlope

        _AutogradSlope.slope = lambda self, z, a: None  # type: ignore[method-assign]
    config = make_config(args.act, depth=args.depth, width=args.width, batch=args.batch, dtype=args.dtype,
                         engine="torch", device=args.device, seed=0)
    device = resolve_device(torch, config.device)
    model = build_model(config, torch, device)
    dtype = torch_dtype(torch, config.dtype)
    x = torch.from_numpy(inputs(config)).to(device=device, dtype=dtype)
    v = torch.from_numpy(loss_head(config)).to(device=device, dtype=dtype)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def bare() -> None:
        model.zero_grad(set_to_none=True)
        loss = (model(x) @ v).sum()
        loss.backward()
        sync()

    def with_stats() -> None:
        instrumented(config, model, x, v, torch)  # ends with one copy of the statistics table to the host

    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    def timed(step) -> float:
        sync()
        start = clock()
        step()
        return clock() - start

    bare(), with_stats()  # warm-up
    times: dict[str, list[float]] = {"bare": [], "stats": []}
    for _ in range(args.repeats):
        times["bare"].append(timed(bare))
        times["stats"].append(timed(with_stats))
    paired = statistics.median(s / b for s, b in zip(times["stats"], times["bare"], strict=True)) - 1
    least = min(times["stats"]) / min(times["bare"]) - 1  # the runs least disturbed by other work
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    skipped = f", without the {args.skip} statistics" if args.skip else ""
    skipped += ", φ' on stacks" if args.slope_on_stacks else ""
    skipped += f", stacks of at most {args.stack_bytes} bytes" if args.stack_bytes is not None else ""
    print(f"torch engine statistics{skipped} vs bare forward+backward: depth {args.depth}, width {args.width}, "
          f"batch {args.batch}, {args.dtype}, {args.act}, {where}; {args.clock} time, {args.repeats} alternating runs"
          f"{', freed memory kept (no page-fault noise)' if steady else ''}")
    for name, label in (("bare", "bare forward+backward"), ("stats", "with statistics")):
        low, middle = min(times[name]), statistics.median(times[name])
        print(f"  {label:22} min {low * 1e3:9.1f} ms   median {middle * 1e3:9.1f} ms")
    print(f"  overhead: median of paired ratios {paired:+.1%}, ratio of minima {least:+.1%}   "
          f"(budget <= {args.budget:.0%}: {'ok' if paired <= args.budget else 'OVER'})")
    print(f"RESULT {paired} {least}")
    return 0 if paired <= args.budget else 1


def in_processes(argv: list[str], args: argparse.Namespace) -> int:
    """The measurement in args.processes fresh processes, one after another; their results and median."""
    import subprocess

    child, skip_next = [], False
    for arg in argv:  # argv less "--processes N" or "--processes=N"
        if not skip_next and not arg.startswith("--processes"):
            child.append(arg)
        skip_next = arg == "--processes"
    results = []
    for n in range(args.processes):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), *child], capture_output=True, text=True)
        lines = out.stdout.splitlines()
        if n == 0:
            print("\n".join(lines[:1]))
        result = [line for line in lines if line.startswith("RESULT ")]
        if not result:
            print(out.stdout + out.stderr)
            return 2
        paired, least = map(float, result[0].split()[1:])
        results.append(paired)
        print(f"  process {n + 1}: median of paired ratios {paired:+.1%}, ratio of minima {least:+.1%}")
    middle = statistics.median(results)
    print(f"  median over {args.processes} processes: {middle:+.1%}   "
          f"(budget <= {args.budget:.0%}: {'ok' if middle <= args.budget else 'OVER'})")
    return 0 if middle <= args.budget else 1


def skip_part(part: str) -> None:
    """Replace one part of both statistics paths by a no-op that fills zeros (a diagnostic split)."""
    import numpy as np

    from dlcli.vanish import device_stats as vanish_stats_device
    from dlcli.vanish import host_stats as vanish_stats_host

    if part == "forward":
        vanish_stats_host.HostStatistics.on_layer = lambda self, i, z, slope, a: None
        vanish_stats_device.DeviceStatistics.on_layer = lambda self, i, z, slope, a: None

        def finish(self, grads, layer_inputs):  # zero forward rows beside the real gradient norms
            depth = len(grads) // 2
            weight = vanish_stats_device.gradient_norms(self.torch, list(grads[depth:]), False)
            delta = vanish_stats_device.gradient_norms(self.torch, list(grads[:depth]), False)
            return np.column_stack([weight, delta, np.zeros((depth, 5))])

        vanish_stats_device.DeviceStatistics.finish = finish
    else:
        vanish_stats_host.gradient_norm = lambda torch, t, inverse=1.0: 1.0  # not 0: ∂W_l is still made
        vanish_stats_device.gradient_norms = lambda torch, tensors, exact: np.zeros(len(tensors))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
