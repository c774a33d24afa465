"""The GPU checks of issue 4 in one prepared script: the cuda path end to end, then the torch engine's
statistics overhead over a bare forward+backward at depth 1000, width 1024, batch 1024 (budget <= 10%),
in bfloat16 and float32. Skips cleanly (exit 0, with a message) where torch sees no CUDA device.
Run: python benchmarks/vanish_gpu.py [repeats]
"""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main(argv: list[str]) -> int:
    import torch

    if not torch.cuda.is_available():
        print("vanish GPU benchmark: skipped, no CUDA device (torch.cuda.is_available() is False)")
        return 0
    repeats = argv[0] if argv else "5"
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    env = {**os.environ, "PYTHONPATH": ROOT}
    ok = True
    cuda_run = [sys.executable, "-m", "dlcli", "vanish", "--device", "cuda", "--dtype", "bfloat16", "--depth", "50",
                "--act", "sigmoid", "--seed", "1", "-f", "plain"]
    proc = subprocess.run(cuda_run, capture_output=True, text=True, env=env, cwd=ROOT)
    print("$ dlcli " + " ".join(cuda_run[3:]))
    print("\n".join(proc.stdout.splitlines()[-2:]) or proc.stderr)
    ok &= proc.returncode == 0
    for dtype in ("bfloat16", "float32"):
        args = [repeats, "--device", "cuda", "--dtype", dtype, "--depth", "1000", "--width", "1024", "--batch", "1024"]
        proc = subprocess.run([sys.executable, os.path.join(HERE, "vanish_torch_overhead.py"), *args], env=env,
                              cwd=ROOT)
        ok &= proc.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
