"""Memory estimates against the peak the OS measures, and the refusal of runs that do not fit."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import pytest

from dlcli import vanish
from dlcli.errors import InputError
from dlcli.vanish.config import make_config


def test_memory_estimate_covers_the_measured_peak() -> None:
    config = make_config("tanh", depth=10, width=200, batch=100, seed=1)
    vanish.run_numpy(make_config("tanh", depth=2, width=8, batch=2, seed=1))  # imports done once, not counted
    tracemalloc.start()
    vanish.run_numpy(config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = vanish.estimate_bytes(config)
    assert peak <= estimate <= 2.5 * peak


TORCH_PEAK_SCRIPT = """
import sys
from dlcli.vanish import make_config
from dlcli.vanish.memory import estimate_device_bytes
from dlcli.vanish.torch_engine import run_torch

def status(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field + ":"))

# one layer first: torch's and its BLAS's one-off buffers (~40 MB at this size) are not the run's data
run_torch(make_config("tanh", depth=1, width=1024, batch=256, seed=1, engine="torch", dtype=sys.argv[1]))
config = make_config("tanh", depth=12, width=1024, batch=256, seed=1, engine="torch", dtype=sys.argv[1])
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # the peak resident memory (VmHWM) starts again from now
except OSError:
    sys.exit(print("no clear_refs"))
before = status("VmRSS")
run_torch(config)
weights_in_float64 = 2 * 1024 * 1024 * 8  # generated, then copied in (run_torch counts it beside the estimate)
print(status("VmHWM") - before, estimate_device_bytes(config, on_host=True) + weights_in_float64)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_cpu_memory_estimate_covers_the_measured_peak(dtype) -> None:
    # The OS's high-water mark of resident memory in a fresh process: torch's allocations are not Python's.
    out = subprocess.run([sys.executable, "-c", TORCH_PEAK_SCRIPT, dtype], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith("no clear_refs"):
        pytest.skip("this kernel cannot reset the peak resident memory (/proc/self/clear_refs)")
    grown, estimate = map(int, out.stdout.split())
    assert grown <= estimate <= 1.5 * grown  # counting all of autograd's ∂W_l, as the GPU path must, gave 1.8×


def test_a_run_too_big_for_memory_is_refused_with_the_estimate_and_the_margin() -> None:
    """The rule: a run may plan on 80% of the free memory; the refusal says so and names what to change."""
    config = make_config("tanh", depth=10, width=200, batch=100, seed=1)
    need = vanish.estimate_bytes(config)
    with pytest.raises(InputError, match=r"needs about .* MiB .*20% of it is kept in reserve\); shrink --width"):
        vanish.check_memory(config, have=int(need / 0.9))  # it would fit, but not with the reserve kept
    vanish.check_memory(config, have=int(need / 0.75))  # fits with the reserve kept: no refusal
