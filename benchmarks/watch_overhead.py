"""What `dlcli.watch` adds to a user's own training loop (CPU): the same loop with and without it, side by side.

Budgets: at most 2% at every=50 and at most 15% at every=1, on
  (a) digits MLP: sklearn's load_digits standardised, float32 Linear 64→256→256→10 with ReLU, batch 64, Adam
      (lr 1e-3), cross-entropy;
  (b) small GPT-2: transformers' GPT2LMHeadModel (GPT2Config n_layer=2, n_embd=128, n_head=4, vocab 2048,
      64 positions), random tokens, batch 8 x 64, AdamW (lr 3e-4), the model's own LM loss.
Two copies of the model start from the same weights; one is watched (`dlcli.watch(model, opt, every=N, log=...)`
into a store in a temporary directory, its writer thread included, and `w.record(loss=loss)` each step, as the
docs show), the other is not. Blocks of steps (a multiple of `every`, so that every block holds as many sampled
steps) alternate between them, the order flipped each repetition; the headline is the median of the paired
ratios watch/plain. Each watched block ends with `writer.sync()`, so that the writer thread's work is charged to
the watch side. Default clock: this process's CPU time (all its threads, the writer's too; far steadier than
wall-clock on a shared machine); one torch thread unless --threads. Opening and closing a watch (the store, the
writer thread) is a one-time cost, timed apart and printed as milliseconds and as steps of the plain loop.
Where the time goes, and what was done about it: docs/watch_overhead.md.
Run: python benchmarks/watch_overhead.py [repeats] [--models mlp,gpt2] [--every 50,1] [--threads N] [--clock wall]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BUDGETS = {50: 1.02, 1: 1.15}
# Steps per timed block, by model and every (a multiple of every; GPT-2's steps are ~45x the MLP's).
BLOCKS = {("mlp", 50): 200, ("mlp", 1): 50, ("gpt2", 50): 50, ("gpt2", 1): 10}


def digits_mlp(torch: Any) -> tuple[Any, Callable[..., Any], list[tuple[Any, ...]], Callable[..., Any], str]:
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data.astype(np.float32)
    std = x.std(0)
    std[std == 0] = 1
    x = torch.from_numpy((x - x.mean(0)) / std)
    y = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    batches = [(x[i], y[i]) for i in order.split(64) if len(i) == 64]
    nn = torch.nn
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))

    def make_opt(params: Any) -> Any:
        return torch.optim.Adam(params, lr=1e-3)

    def loss_of(m: Any, xb: Any, yb: Any) -> Any:
        return torch.nn.functional.cross_entropy(m(xb), yb)

    return model, make_opt, batches, loss_of, "digits MLP 64-256-256-10 ReLU, float32, batch 64, Adam"


def small_gpt2(torch: Any) -> tuple[Any, Callable[..., Any], list[tuple[Any, ...]], Callable[..., Any], str]:
    import transformers

    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=2048, n_positions=64,
                                     bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randint(0, 2048, (8, 64), generator=g),) for _ in range(8)]

    def make_opt(params: Any) -> Any:
        return torch.optim.AdamW(params, lr=3e-4)

    def loss_of(m: Any, xb: Any) -> Any:
        return m(input_ids=xb, labels=xb).loss

    return model, make_opt, batches, loss_of, "GPT-2 2 x 128, 4 heads, vocab 2048, batch 8 x 64 tokens, AdamW"


MODELS = {"mlp": digits_mlp, "gpt2": small_gpt2}


def compare(torch: Any, name: str, every: int, steps: int, repeats: int, clock: Callable[[], float]) -> float:
    """Median paired ratio watch/plain over `repeats` alternating blocks of `steps` optimizer steps."""
    import dlcli
    from dlcli.runs.run import load_run

    torch.manual_seed(0)
    model, make_opt, batches, loss_of, _ = MODELS[name](torch)
    plain_model, watched_model = model, copy.deepcopy(model)
    plain_opt, watched_opt = make_opt(plain_model.parameters()), make_opt(watched_model.parameters())
    position = {"plain": 0, "watch": 0}

    def plain() -> float:
        start = clock()
        for _ in range(steps):
            batch = batches[position["plain"] % len(batches)]
            position["plain"] += 1
            plain_opt.zero_grad()
            loss = loss_of(plain_model, *batch)
            loss.backward()
            plain_opt.step()
        return clock() - start

    with tempfile.TemporaryDirectory() as tmp:
        start = clock()
        w = dlcli.watch(watched_model, watched_opt, every=every, log=os.path.join(tmp, "run.db"))
        w.start()
        opened = clock() - start

        def watched() -> float:
            start = clock()
            for _ in range(steps):
                batch = batches[position["watch"] % len(batches)]
                position["watch"] += 1
                watched_opt.zero_grad()
                loss = loss_of(watched_model, *batch)
                loss.backward()
                watched_opt.step()
                w.record(loss=loss)
            w.writer.sync()  # the writer thread's work so far, inside this block's time
            return clock() - start

        plain(), watched()  # warm-up (the first sample also stores the activations)
        pairs = []
        for i in range(repeats):
            if i % 2:
                o, p = watched(), plain()
            else:
                p, o = plain(), watched()
            pairs.append((o, p))
        start = clock()
        w.close()
        closed = clock() - start
        stored = load_run(w.path)
    ratios = [o / p for o, p in pairs]
    ratio = statistics.median(ratios)
    per_step = statistics.median(p for _, p in pairs) / steps
    extra = statistics.median(o - p for o, p in pairs) / steps
    budget = BUDGETS.get(every)
    verdict = "" if budget is None else f"   budget <= {budget:.2f}x: {'PASS' if ratio <= budget else 'MISS'}"
    print(f"  every={every:<3} watch/plain {ratio:6.3f}x (min {min(ratios):.3f}x, max {max(ratios):.3f}x; "
          f"{extra * 1e6:+7.0f} us per step on a {per_step * 1e3:.2f} ms plain step){verdict}")
    once = opened + closed
    print(f"             open + close {once * 1e3:.1f} ms once per run (= {once / per_step:.1f} plain steps); "
          f"stored: {len(stored.steps)} samples x {len(stored.modules)} modules, {stored.status}")
    return ratio


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("repeats", nargs="?", type=int, default=11, help="paired blocks per case (more: steadier)")
    parser.add_argument("--models", default="mlp,gpt2")
    parser.add_argument("--every", default="50,1")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steady on a shared CPU)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
    args = parser.parse_args(argv)

    from _timing import steady_allocator

    steady = steady_allocator()
    import torch

    import dlcli.runs.watch  # noqa: F401  (imported here, not inside the first watch's opening time)

    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"dlcli.watch vs the same loop without it (CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
          f"thread(s), {args.clock} time, median of {args.repeats} paired blocks, steady allocator: {steady})")
    ok = True
    for name in args.models.split(","):
        print(MODELS[name](torch)[4])
        for every in (int(e) for e in args.every.split(",")):
            block = BLOCKS.get((name, every), 50)
            steps = -(-block // every) * every
            ratio = compare(torch, name, every, steps, args.repeats, clock)
            ok &= ratio <= BUDGETS.get(every, float("inf"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
