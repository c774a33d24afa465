"""The torch engine on a CUDA GPU, against the numpy engine and autograd on the CPU (skipped without a GPU).

CI has no GPU: these run in the prepared device check (benchmarks/vanish_gpu.py), on a machine that has one.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU here", allow_module_level=True)

from engines_reference import assert_same_stats, reference_torch_grads  # noqa: E402

from conftest import run_cli  # noqa: E402
from dlcli import vanish  # noqa: E402
from dlcli.vanish.config import make_config  # noqa: E402
from dlcli.vanish.torch_engine import run_torch  # noqa: E402


def on_gpu(config: vanish.VanishConfig, **changes) -> vanish.VanishConfig:
    return dataclasses.replace(config, engine="torch", device="cuda", **changes)


@pytest.mark.parametrize("kwargs", [
    {"activation": "sigmoid", "depth": 12, "width": 48},
    {"activation": "relu", "layers": [30, 40, 20, 10], "init": "kaiming", "loss": "mse"},
    {"activation": "softsign", "depth": 6, "width": 24},
])
def test_cuda_float64_agrees_with_the_numpy_engine(kwargs) -> None:
    # Different summation orders on the GPU: agreement to ~1e-14 per op, a few ops per layer.
    config = make_config(batch=16, seed=3, **kwargs)
    assert_same_stats(vanish.run_numpy(config), run_torch(on_gpu(config)), rtol=1e-10)


def test_cuda_float32_agrees_with_the_numpy_engine_to_float32_rounding() -> None:
    config = make_config("tanh", depth=6, width=64, batch=16, seed=5, dtype="float32", init="xavier")
    assert_same_stats(vanish.run_numpy(config), run_torch(on_gpu(config)), rtol=1e-4)


def test_cuda_float32_deep_sigmoid_gradient_norms_do_not_underflow() -> None:
    deep = make_config("sigmoid", depth=50, width=64, batch=8, seed=2, dtype="float32")
    ref_dz, ref_dw = reference_torch_grads(dataclasses.replace(deep, dtype="float64"))
    stats = run_torch(on_gpu(deep))
    assert 0 < stats[0].weight_grad_norm < 1e-35
    assert stats[0].weight_grad_norm == pytest.approx(np.linalg.norm(ref_dw[0]), rel=0.05)
    assert stats[0].grad_rms == pytest.approx(np.sqrt(np.mean(ref_dz[0] ** 2)), rel=0.05)


def test_cuda_bfloat16_follows_float64_loosely() -> None:
    config = make_config("tanh", depth=4, width=64, batch=16, seed=5, init="xavier")
    exact = vanish.run_numpy(config)
    rough = run_torch(on_gpu(config, dtype="bfloat16"))
    for x, y in zip(exact, rough, strict=True):  # bf16 keeps 8 significant bits: ~0.4% per rounding
        assert y.grad_rms == pytest.approx(x.grad_rms, rel=0.1)
        assert y.weight_grad_norm == pytest.approx(x.weight_grad_norm, rel=0.1)


def test_cli_vanish_on_cuda_end_to_end() -> None:
    proc = run_cli("vanish", "--device", "cuda", "--dtype", "bfloat16", "-d", "20", "--act", "sigmoid",
                   "--seed", "1", "-f", "json", timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert out["config"]["device"] == "cuda" and out["config"]["engine"] == "torch"
    assert out["verdict"] == "vanishing"


def test_cli_refuses_a_run_bigger_than_the_gpu_with_exit_2() -> None:
    proc = run_cli("vanish", "--device", "cuda", "-d", "100", "-w", "200000", "-b", "200000", timeout=300)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2, stderr
    assert "GPU memory" in stderr and len(stderr.strip().splitlines()) == 1
