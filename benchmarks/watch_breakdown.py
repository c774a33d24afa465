"""Where `dlcli.watch`'s time goes (docs/watch_overhead.md): a diagnostic beside benchmarks/watch_overhead.py.

1. Component timers: watch's methods and probe's hooks are wrapped (monkeypatched) with this thread's CPU clock;
   each line is inclusive (a part's time contains its callees'), in µs per call and µs per step averaged over
   the run; the writer thread's CPU is the process's CPU time less this thread's. The wrappers add ~1 µs a call.
2. A non-sampled step alone (--per-step): the plain loop, the loop with just the per-step gradient-norm ring
   write in an optimizer pre-hook, and the loop under a watch that never samples after step 1, in alternating
   blocks (median of the paired differences).
Run: python benchmarks/watch_breakdown.py [--model mlp|gpt2] [--every N] [--steps N] [--per-step]
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import os
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TOTAL: dict[str, float] = collections.defaultdict(float)
CALLS: collections.Counter[str] = collections.Counter()


def timed(name: str, f: Any) -> Any:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return f(*args, **kwargs)
        finally:
            TOTAL[name] += time.thread_time() - start
            CALLS[name] += 1
    return wrapper


def timed_maker(make: Any, name: str) -> Any:
    def maker(self: Any, *args: Any) -> Any:
        return timed(name, make(self, *args))
    return maker


def instrument() -> None:
    watch = importlib.import_module("dlcli.runs.watch")
    hooks = importlib.import_module("dlcli.probe.hooks")
    for attr in ("_before_step", "_after_step", "_forward_seen", "record", "_arm", "_measure", "_finish",
                 "_read_graph", "_fold", "_read_nonfinite", "_flush_scalars"):
        setattr(watch.Watch, attr, timed(f"watch.{attr}", getattr(watch.Watch, attr)))
    for attr in ("collect", "read_graph", "judge", "_rows", "_structure", "conclude"):  # as watch.py imports them
        if hasattr(watch, attr):
            setattr(watch, attr, timed(f"sample.{attr}", getattr(watch, attr)))
    report = importlib.import_module("dlcli.probe.report")
    if hasattr(watch, "judge"):  # judge's parts, where watch calls judge() whole
        for attr in ("_rows", "_theory", "_structure", "_parameters", "conclude"):
            setattr(report, attr, timed(f"judge.{attr}", getattr(report, attr)))
    for attr in ("__init__", "install", "remove", "host"):
        setattr(hooks.Pass, attr, timed(f"Pass.{attr}", getattr(hooks.Pass, attr)))
    for attr in ("_pre", "_post", "_grad_hook"):  # the hooks these make, each call
        setattr(hooks.Pass, attr, timed_maker(getattr(hooks.Pass, attr), f"hook{attr}"))
    store = importlib.import_module("dlcli.runs.store")
    store.RunWriter.put = timed("writer.put", store.RunWriter.put)


def components(torch: Any, name: str, every: int, steps: int) -> None:
    from watch_overhead import MODELS

    import dlcli

    instrument()
    torch.manual_seed(0)
    model, make_opt, batches, loss_of, what = MODELS[name](torch)
    opt = make_opt(model.parameters())
    position = [0]

    def loop(n: int, w: Any = None) -> None:
        for _ in range(n):
            batch = batches[position[0] % len(batches)]
            position[0] += 1
            opt.zero_grad()
            loss = loss_of(model, *batch)
            loss.backward()
            opt.step()
            if w is not None:
                w.record(loss=loss)
        if w is not None:
            w.writer.sync()

    with tempfile.TemporaryDirectory() as tmp:
        w = dlcli.watch(model, opt, every=every, log=os.path.join(tmp, "run.db"))
        w.start()
        loop(min(2 * every, 200), w)
        TOTAL.clear()
        CALLS.clear()
        main, process = time.thread_time(), time.process_time()
        loop(steps, w)
        main, process = time.thread_time() - main, time.process_time() - process
        w.close()
    plain = []
    for _ in range(3):
        start = time.thread_time()
        loop(steps)
        plain.append(time.thread_time() - start)
    base = statistics.median(plain)
    samples = max(1, -(-steps // every))
    print(f"{what}, every={every}, {steps} steps ({samples} sampled), {torch.get_num_threads()} torch thread(s)")
    print(f"  per step: plain {base / steps * 1e6:.0f} us, watched: main thread {main / steps * 1e6:.0f} us "
          f"(+{(main - base) / steps * 1e6:.0f}), writer thread {(process - main) / steps * 1e6:.0f} us")
    print(f"  {'part (inclusive)':<26} {'calls':>6} {'us/call':>9} {'us/step':>9}")
    for key in sorted(TOTAL, key=lambda k: -TOTAL[k]):
        print(f"  {key:<26} {CALLS[key]:6d} {TOTAL[key] / CALLS[key] * 1e6:9.1f} {TOTAL[key] / steps * 1e6:9.1f}")


def per_step(torch: Any, name: str, steps: int, repeats: int) -> None:
    """A non-sampled step: the plain loop against the ring write alone and a watch that samples step 1 only."""
    from watch_overhead import MODELS

    import dlcli

    torch.manual_seed(0)
    model, make_opt, batches, loss_of, what = MODELS[name](torch)
    opt = make_opt(model.parameters())
    params = [p for p in model.parameters() if p.requires_grad]
    ring = torch.zeros(50, len(params))
    rows = list(ring.unbind(0))
    count = [0]

    def ring_write(*_: Any) -> None:
        torch.stack(torch._foreach_norm([p.grad for p in params]), out=rows[count[0] % 50])
        count[0] += 1

    def block(record: Any = None) -> float:
        start = time.process_time()
        for i in range(steps):
            opt.zero_grad()
            loss = loss_of(model, *batches[i % len(batches)])
            loss.backward()
            opt.step()
            if record is not None:
                record(loss=loss)
        return time.process_time() - start

    def ring_only() -> float:
        handle = opt.register_step_pre_hook(ring_write)
        try:
            return block()
        finally:
            handle.remove()

    def unsampled() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            w = dlcli.watch(model, opt, every=10**9, log=os.path.join(tmp, "run.db"))
            w.start()
            block(w.record)  # step 1 is sampled: a block of its own, not timed
            try:
                return block(w.record)
            finally:
                w.close()

    cases = {"plain loop": block, "norm ring write only": ring_only, "watch, no sample": unsampled}
    times: dict[str, list[float]] = {k: [] for k in cases}
    for f in cases.values():
        f()
    for r in range(repeats):
        for k, f in (cases.items() if r % 2 else reversed(cases.items())):
            times[k].append(f())
    print(f"{what}: a non-sampled step ({repeats} alternating blocks of {steps} steps, CPU time)")
    for k, t in times.items():
        extra = statistics.median(a - b for a, b in zip(t, times["plain loop"], strict=True)) / steps
        ratio = statistics.median(a / b for a, b in zip(t, times["plain loop"], strict=True))
        print(f"  {k:<22} {statistics.median(t) / steps * 1e6:8.1f} us/step  {ratio:.3f}x  ({extra * 1e6:+.1f} us)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp", choices=("mlp", "gpt2"))
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 1000 MLP, 30 GPT-2 x every)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-step", action="store_true", help="time a non-sampled step instead (section 2)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)

    from _timing import steady_allocator

    steady_allocator()
    import torch

    torch.set_num_threads(args.threads)
    if args.per_step:
        per_step(torch, args.model, args.steps or 200, args.repeats)
    else:
        steps = args.steps or (1000 if args.model == "mlp" else min(30 * args.every, 300))
        components(torch, args.model, args.every, steps)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
