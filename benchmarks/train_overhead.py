"""What `dlcli train`'s recording costs over a plain torch training loop doing the same epochs (issue 14).

Budgets: the recording adds at most 10% to a plain loop (CPU, digits, depth 10, width 256, batch 64, one test
evaluation per epoch), and the whole command, imports included, takes at most 1.3× a plain script that runs on
torch's default threads, as a user's loop does (issue 24: relu, 10 epochs, sgd).
1. In one process, alternating: train_loop (every statistic, the per-step NaN check) and a plain loop on the
   same network, data and batch order (forward, loss, backward, step; after each epoch one test forward with
   loss and accuracy). Headline: the median of the paired ratios.
2. Whole processes, interleaved pairs in alternating order: `dlcli train ... -f json` against a plain script
   that imports torch and scikit-learn, loads digits, splits, standardizes, builds nn.Sequential and trains the
   same epochs; beside them `python -c "import torch, sklearn.datasets"`, the floor both share. Headline: the
   median of the paired wall-time ratios; the fixed cost is the same comparison at one epoch.
Run: python benchmarks/train_overhead.py [repeats] [--epochs N] [--threads N] [--clock wall|cpu] [--skip-processes]
(--threads 0, the default: torch's own thread count on both sides; --skip-loop: only the whole commands)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ACT_CLASSES = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh"}

PLAIN_SCRIPT = '''
import sys
import numpy as np
import torch
from sklearn.datasets import load_digits

{threads_line}
torch.manual_seed(0)
digits = load_digits()
x, y = digits.data.astype(np.float64), digits.target.astype(np.int64)
rng = np.random.default_rng(0)
test = rng.permutation(len(y))[: len(y) // 5]
mask = np.zeros(len(y), bool)
mask[test] = True
xtr, ytr, xte, yte = x[~mask], y[~mask], x[mask], y[mask]
mean, std = xtr.mean(0), xtr.std(0)
std[std == 0] = 1
xtr, xte = (torch.from_numpy((a - mean) / std) for a in (xtr, xte))
ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)
layers = []
width = {width}
for i in range({depth}):
    layers += [torch.nn.Linear(64 if i == 0 else width, width), torch.nn.{act_class}()]
model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10)).double()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range({epochs}):
    for idx in torch.randperm(len(ytr)).split({batch}):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
        opt.step()
    with torch.no_grad():
        out = model(xte)
        loss = torch.nn.functional.cross_entropy(out, yte).item()
        print(epoch + 1, loss, (out.argmax(1) == yte).double().mean().item())
'''


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("repeats", nargs="?", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--act", default="relu", choices=sorted(ACT_CLASSES))
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--skip-loop", action="store_true", help="only the whole commands")
    parser.add_argument("--skip-processes", action="store_true", help="only the in-process loop comparison")
    parser.add_argument("--processes", type=int, default=1,
                        help="repeat the loop comparison in N fresh processes (memory layout moves both sides "
                             "by ±10%% from one process to the next) and report their median")
    args = parser.parse_args(argv)
    if args.skip_loop:
        return 0 if whole_commands(args) else 1
    if args.processes > 1:
        return in_processes(argv, args)

    from _timing import steady_allocator

    steady = steady_allocator()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from dlcli.data.datasets import load_dataset
    from dlcli.train.config import make_train_config
    from dlcli.train.loop import loss_function, make_optimizer, train_loop
    from dlcli.train.run import build_network
    from dlcli.train.split import batch_order, prepare

    config = make_train_config(args.act, depth=args.depth, width=args.width, epochs=args.epochs, batch=args.batch,
                               seed=0)
    ds = load_dataset("digits")
    data = prepare(ds.x, ds.y, None, None, test_split=0.2, standardize_inputs=True, seed=0)
    config = config.with_data(64, data.classes)
    tensors = [torch.from_numpy(a) for a in (data.x_train, data.y_train, data.x_test, data.y_test)]
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    def ours() -> float:
        net = build_network(torch, config, data, torch.device("cpu"), torch.float64)
        start = clock()
        train_loop(torch, net, *tensors, data.classes, config)
        return clock() - start

    def plain() -> float:
        net = build_network(torch, config, data, torch.device("cpu"), torch.float64)
        model, (x, y, xt, yt) = net.model, tensors
        opt = make_optimizer(torch, model.parameters(), config)
        loss_fn = loss_function(torch, config, data.classes)
        start = clock()
        for epoch in range(1, config.epochs + 1):
            for idx in torch.from_numpy(batch_order(config.seed, epoch, len(y))).split(config.batch or len(y)):
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x[idx]), y[idx]).backward()
                opt.step()
            with torch.no_grad():
                out = model(xt)
                _ = (loss_fn(out, yt).item(), (out.argmax(1) == yt).double().mean().item())
        return clock() - start

    ours(), plain()  # warm-up
    pairs = []
    for i in range(args.repeats):  # each pair in alternating order, so that drifts in load cancel
        if i % 2:
            o, p = ours(), plain()
        else:
            p, o = plain(), ours()
        pairs.append((o, p))
    ratios = [o / p for o, p in pairs]
    med = statistics.median(ratios)
    print(f"train loop, {args.act} depth {args.depth} width {args.width} batch {args.batch}, {args.epochs} epochs "
          f"({args.clock} time, {args.threads} thread(s), {args.repeats} pairs, steady allocator: {steady}):")
    print(f"  plain loop     {statistics.median(p for _, p in pairs):8.3f} s")
    print(f"  dlcli (record) {statistics.median(o for o, _ in pairs):8.3f} s")
    print(f"  overhead: median paired ratio {med:.3f}x (min {min(ratios):.3f}x)   "
          f"(budget <= 1.10x: {'ok' if med <= 1.10 else 'OVER'})")
    print(f"RATIO {med}")
    ok = med <= 1.10
    if not args.skip_processes:
        ok &= whole_commands(args)
    return 0 if ok else 1


def in_processes(argv: list[str], args: argparse.Namespace) -> int:
    import subprocess

    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--processes":
            skip = True
            continue
        if not a.startswith("--processes="):
            rest.append(a)
    ratios = []
    for _ in range(args.processes):
        out = subprocess.run([sys.executable, __file__, *rest, "--skip-processes"], capture_output=True, text=True,
                             check=False).stdout
        ratios.append(float(out.split("RATIO ")[1].split()[0]))
        print(f"  process {len(ratios)}: median paired ratio {ratios[-1]:.3f}x")
    med = statistics.median(ratios)
    print(f"loop overhead over {args.processes} processes: median {med:.3f}x (budget <= 1.10x: "
          f"{'ok' if med <= 1.10 else 'OVER'})")
    ok = med <= 1.10
    if not args.skip_processes:
        ok &= whole_commands(args)
    return 0 if ok else 1


def whole_commands(args: argparse.Namespace) -> bool:
    """dlcli train against the plain script, whole processes, at args.epochs and at one epoch (the fixed cost)."""
    from _timing import compile_sources, dlcli, time_once

    compile_sources()
    threads_line = f"torch.set_num_threads({args.threads})" if args.threads else "# torch's default threads"
    env_prefix = f"OMP_NUM_THREADS={args.threads} " if args.threads else ""
    repeats = max(3, args.repeats)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for epochs in (args.epochs, 1):
            path = os.path.join(tmp, f"plain_train_{epochs}.py")
            with open(path, "w") as fh:
                fh.write(PLAIN_SCRIPT.format(threads_line=threads_line, depth=args.depth, width=args.width,
                                             batch=args.batch, epochs=epochs, act_class=ACT_CLASSES[args.act]))
            ours = env_prefix + " ".join(dlcli("train", "--data", "digits", "--act", args.act, "--depth",
                                               str(args.depth), "--width", str(args.width), "--batch",
                                               str(args.batch), "--epochs", str(epochs), "--optimizer", "sgd",
                                               "--seed", "0", "-f", "json"))
            sides = {"plain": f"{env_prefix}{sys.executable} {path}", "dlcli": ours,
                     "floor": f"{sys.executable} -c 'import torch, sklearn.datasets'"}
            for cmd in sides.values():  # warm-up: page cache, .pyc
                time_once(cmd, shell=True, clock=args.clock)
            times: dict[str, list[float]] = {k: [] for k in sides}
            for i in range(repeats):  # interleaved, the order alternating, so that load drifts hit all alike
                for name in (list(sides) if i % 2 == 0 else list(sides)[::-1]):
                    times[name].append(time_once(sides[name], shell=True, clock=args.clock))
            ratios = [d / p for d, p in zip(times["dlcli"], times["plain"], strict=True)]
            floor = [f / p for f, p in zip(times["floor"], times["plain"], strict=True)]
            med = statistics.median(ratios)
            print(f"whole commands, {args.act} depth {args.depth} width {args.width} batch {args.batch}, {epochs} "
                  f"epoch(s), {args.clock} time, threads {args.threads or 'torch default'}, {repeats} interleaved "
                  "triples:")
            print(f"  dlcli train -f json / plain script: median {med:.3f}x (min {min(ratios):.3f}x, "
                  f"max {max(ratios):.3f}x)")
            print(f"  imports alone (torch, sklearn) / plain script: median {statistics.median(floor):.3f}x")
            if epochs == args.epochs:
                passed = med <= 1.3
                ok &= passed
                print(f"  (budget <= 1.3x: {'ok' if passed else 'OVER'})")
    return ok


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
