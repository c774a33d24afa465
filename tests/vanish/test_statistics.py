"""Gradient norms that survive underflow, overflow, zeros and NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlcli import vanish


def test_device_gradient_norms_survive_underflow_overflow_zeros_and_nan() -> None:
    # Fused float32 norms square entries: 1e-30 squares to 0 and 1e30 to inf; both are redone scaled.
    from dlcli.vanish.device_stats import gradient_norms

    rng = np.random.default_rng(0)
    values = [rng.standard_normal((8, 5)) * scale for scale in (1.0, 1e-30, 1e-41, 1e30, 0.0)]
    values.append(np.array([[1.0, np.nan]]))
    expected = [np.linalg.norm(v) for v in values[:-1]]
    for dtype, rtol in ((torch.float32, 1e-6), (torch.bfloat16, 0.01)):
        tensors = [torch.tensor(v, dtype=dtype) for v in values]
        exact = [np.linalg.norm(t.double().numpy()) for t in tensors[:-1]]  # of the rounded entries
        norms = gradient_norms(torch, tensors, exact=False)
        np.testing.assert_allclose(norms[:-1], exact, rtol=1e-6)
        np.testing.assert_allclose(norms[:2], expected[:2], rtol=rtol)  # 1e-41 is subnormal: digits lost
        assert math.isnan(norms[-1])
    f64 = [torch.tensor(v * 1e-160) for v in values[:-1]]
    np.testing.assert_allclose(gradient_norms(torch, f64, exact=True), [e * 1e-160 for e in expected], rtol=1e-12)


def test_host_norms_survive_underflow_overflow_zeros_and_nan() -> None:
    from dlcli.vanish.host_stats import gradient_norm

    rng = np.random.default_rng(1)
    for scale in (1.0, 1e-30, 1e-41, 1e25, 1e-160, 1e160, 0.0):
        w = rng.standard_normal((16, 9)) * scale
        for dtype in (torch.float64, torch.float32, torch.bfloat16):
            values = torch.tensor(w, dtype=dtype).double().numpy()  # the rounded entries, in float64
            if not np.isfinite(values).all():
                continue  # 1e160 is beyond float32
            exact = math.hypot(*values.ravel())  # hypot: no under- or overflow
            rel = 1e-14 if dtype == torch.float64 else 1e-5
            inverse = vanish.inverse_power_of_two(exact)  # a scale near 1/‖t‖, as the engine passes it
            transposed = torch.tensor(w.T, dtype=dtype).T  # ∂W's memory layout: not contiguous
            assert gradient_norm(torch, transposed, inverse) == pytest.approx(exact, rel=rel, abs=1e-300)
            assert gradient_norm(torch, torch.tensor(w, dtype=dtype)) == pytest.approx(exact, rel=rel, abs=1e-300)
    assert math.isnan(gradient_norm(torch, torch.tensor([1.0, math.nan])))
    for scale in (1e-200, 1e200):
        x = rng.standard_normal(50) * scale
        assert vanish.norm2(x) == pytest.approx(math.hypot(*x), rel=1e-14)  # hypot: no under- or overflow
