"""Cost of `vanish --model` (issue 13): hooks + statistics against a bare forward and backward of the same model,
and the whole command against a plain torch script doing the same work, imports included.

Budgets: statistics at most 10% over bare (CPU float32: a 20-layer MLP of width 1024 at batch 256, and a small
CNN), whole command at most 1.3x the script. Bare and instrumented steps alternate in one process; the headline
is the median of the paired ratios of this process's CPU time (one thread: steadier than wall-clock on a shared
machine). Run: python benchmarks/vanish_model_overhead.py [repeats] [--wall] [--threads N] [--skip-processes]
This file is also the model file the command loads (`--model benchmarks/vanish_model_overhead.py:mlp`).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from torch import nn  # noqa: E402


def mlp(depth: int = 20, width: int = 1024, init: str = "torch") -> nn.Module:
    """depth Linear(width, width) + ReLU, then Linear(width, 10); init 'kaiming' for N(0, 2/fan_in) weights."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(width, 10))
    if init == "kaiming":
        for m in model:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return model


def cnn(channels: int = 32) -> nn.Module:
    """Four 3x3 convolutions with batch norm and ReLU on 1x28x28, two poolings, a Linear head."""
    c = channels
    return nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
        nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(),
        nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * c * 7 * 7, 10),
    )


def in_process(name: str, model: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median of paired ratios: analyse_module (no advice re-runs) over a bare forward + backward."""
    from dlcli.probe import analyse_module

    params = [p for p in model.parameters() if p.requires_grad]  # the analysis takes every parameter's gradient

    def first(out):  # a Hugging Face output: its logits
        return out if isinstance(out, torch.Tensor) else out[0]

    v = torch.randn(first(model(x)).shape[1:])

    def bare() -> None:
        out = first(model(x))
        torch.autograd.grad((out * v).sum(), params)

    def instrumented() -> None:
        analyse_module(model, x, seed=0, check_advice=False)

    bare()
    instrumented()
    ratios, bare_times = [], []
    for _ in range(repeats):
        t0 = time.process_time()
        bare()
        t1 = time.process_time()
        instrumented()
        t2 = time.process_time()
        ratios.append((t2 - t1) / (t1 - t0))
        bare_times.append(t1 - t0)
    ratio = statistics.median(ratios)
    print(f"  {name:<44} bare {statistics.median(bare_times) * 1e3:8.1f} ms   hooks+statistics "
          f"{ratio:5.3f}x (min {min(ratios):5.3f}x)   budget <= 1.10x: {'ok' if ratio <= 1.10 else 'OVER'}")
    return ratio


SCRIPT = """
import importlib.util, json, sys
import numpy as np
import torch
spec = importlib.util.spec_from_file_location('m', {path!r})
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
torch.manual_seed(0)
model = mod.mlp(init={init!r})
x = torch.from_numpy(np.random.default_rng(0).standard_normal((256, 1024))).float()
weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
for p in range({passes}):
    acts = []
    hooks = [m.register_forward_hook(lambda m, i, o: acts.append(o)) for m in model if isinstance(m, torch.nn.Linear)]
    out = model(x)
    for h in hooks: h.remove()
    loss = (out * torch.randn(10)).sum()
    grads = torch.autograd.grad(loss, weights + acts)
    print(json.dumps([float(g.norm()) for g in grads]))
"""


def whole_command(repeats: int, clock: str) -> None:
    """The command (which re-runs the model once per re-initialisation it checks) against a script making as
    many forward and backward passes with hooks, printing the same norms."""
    import json
    import subprocess

    from _timing import dlcli, medians

    here = os.path.abspath(__file__)
    for init in ("kaiming", "torch"):
        command = dlcli("vanish", "--model", f"{here}:mlp", "--model-arg", f"init={init}", "--batch", "256",
                        "--seed", "0", "--format", "json")
        doc = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        passes = 1 + len(doc["checks"])
        commands = {
            "plain torch script": {"cmd": [sys.executable, "-c", SCRIPT.format(path=here, init=init, passes=passes)]},
            "dlcli vanish --model": {"cmd": command},
        }
        t = medians(commands, repeats, clock)
        ratio = t["dlcli vanish --model"] / t["plain torch script"]
        what = f"init {init} ({doc['verdict']}, {passes} pass{'es' if passes > 1 else ''})"
        print(f"  20x1024 MLP, batch 256, {what:<32} script {t['plain torch script']:6.2f} s  command "
              f"{t['dlcli vanish --model']:6.2f} s  {ratio:5.2f}x   budget <= 1.3x: {'ok' if ratio <= 1.3 else 'OVER'}")


def main() -> int:
    from _timing import command_line, steady_allocator

    repeats, clock = command_line(7)
    # One thread by default: on a shared 2-core machine torch's threads wait on each other, and element-wise
    # kernels then cost 10-40x their one-thread time (measured here); --threads N to override.
    threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the commands timed below
    steady_allocator()
    torch.manual_seed(0)
    print(f"hooks + statistics vs bare forward+backward (CPU float32, {torch.get_num_threads()} threads)")
    in_process("MLP 20 x 1024, batch 256", mlp(), torch.randn(256, 1024), repeats)
    in_process("CNN 4 conv (32/64 ch) + BN, 1x28x28, batch 64", cnn(), torch.randn(64, 1, 28, 28), repeats)
    try:
        from examples.real_models import gpt2
        model = gpt2(layers=4, width=256, heads=4, vocab=4096, context=128)
    except ImportError:
        print("  GPT-2: transformers is not installed (pip install -e '.[test]'); skipped")
    else:
        in_process("GPT-2 4 x 256, vocab 4096, batch 8 x 128 tokens", model, torch.randint(0, 4096, (8, 128)),
                   repeats)
    if "--skip-processes" not in sys.argv:
        print(f"whole command vs plain torch script, imports included ({clock} time, median of {repeats})")
        whole_command(max(repeats // 2, 3), clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
