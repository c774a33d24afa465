"""The GPU checks of issue 4 in one prepared script, for a machine with a CUDA GPU:
1. the cuda tests (tests/vanish/test_cuda.py: engines against numpy and autograd, the CLI, the memory check);
2. `dlcli vanish --device cuda` end to end;
3. the torch engine's statistics overhead over a bare forward+backward at depth 1000, width 1024, batch 1024
   (budget <= 10%), in bfloat16 and float32, with a split into its forward and gradient parts, and the
   forward rows taken layer by layer instead of on stacks (which of the two costs less depends on whether
   the step is bound by the GPU's memory or by the host's launches).
Skips cleanly (exit 0, with a message) where torch sees no CUDA device.
Run: python benchmarks/vanish_gpu.py [repeats]
"""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(args: list[str], env: dict[str, str]) -> int:
    print("$ " + " ".join(args), flush=True)
    return subprocess.run(args, env=env, cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    import torch

    if not torch.cuda.is_available():
        print("vanish GPU benchmark: skipped, no CUDA device (torch.cuda.is_available() is False)")
        return 0
    repeats = argv[0] if argv else "7"
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}",
          flush=True)
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
    py = sys.executable
    failed = []
    if run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/vanish/test_cuda.py"], env):
        failed.append("cuda tests")
    if run([py, "-m", "dlcli", "vanish", "--device", "cuda", "--dtype", "bfloat16", "--depth", "50", "--act",
            "sigmoid,tanh", "--seed", "1", "-f", "plain"], env):
        failed.append("cli")
    overhead = os.path.join(HERE, "vanish_torch_overhead.py")
    for dtype in ("bfloat16", "float32"):
        size = ["--device", "cuda", "--dtype", dtype, "--depth", "1000", "--width", "1024", "--batch", "1024"]
        if run([py, overhead, repeats, *size], env):
            failed.append(f"overhead {dtype}")
        for part in ("forward", "gradients"):
            run([py, overhead, repeats, *size, "--skip", part, "--budget", "1"], env)
        # each layer's forward rows alone (views, no stack copies: fewer bytes, more launches)
        run([py, overhead, repeats, *size, "--stack-bytes", "0", "--budget", "1"], env)
    print("GPU checks:", "all passed" if not failed else "failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
