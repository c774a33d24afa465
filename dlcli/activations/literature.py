"""The literature's best-known activations that torch.nn lacks, each citing its paper in the notes; accurate and
warning-free over the float64 line, with torch_ref a transcription of the paper's formula for autograd to check.
Choices and sources: docs/activations.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dlcli.activations import kernels as k
from dlcli.activations.base import Activation, Param, register

INF = math.inf
NAMES: list[str] = []
# f or f' has no limit at ±∞ (periodic): NaN there is the honest value
NO_LIMIT_AT_INFINITY = {"snake", "sine"}
# f grows faster than x: it overflows to ±inf near the ends of the float64 line, and f' is unbounded
SUPERLINEAR = {"relu_squared", "star_relu"}
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)


def F(torch):  # noqa: N802 - the conventional name of torch.nn.functional
    return torch.nn.functional


def erf(x):
    return np.asarray(_erf(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def _quiet(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """fn with numpy's floating-point warnings off: overflow to ±inf and NaN where undefined are the answers."""
    def wrapped(x, **params):
        with np.errstate(all="ignore"):
            return fn(x, **params)
    return wrapped


def _add(act: Activation) -> None:
    register(act._replace(fn=_quiet(act.fn), grad=_quiet(act.grad)))
    NAMES.append(act.name)


def _neg(x):
    return np.minimum(x, 0.0)


def _pos(x):
    return np.maximum(x, 0.0)


# --- the SiLU family ----------------------------------------------------------------------------

_SILU_MIN = -0.2784645427610738

_add(Activation(
    name="swish_beta",
    formula="f(x) = x·σ(βx)",
    params=(Param("beta", 1.0, 0.0, low_open=True, help="sharpness β (β = 1: SiLU; β → ∞: ReLU)"),),
    fn=lambda x, beta: k.scale(x, k.sigmoid(beta * x)),
    grad=lambda x, beta: k.sigmoid(beta * x) + k.scale(beta * x, k.sigmoid_grad(beta * x)),
    torch_ref=lambda t, x, p: x * t.sigmoid(p["beta"] * x),
    torch_native=False,
    output_range="[−0.278/β, ∞)", bounds=lambda p: (_SILU_MIN / p["beta"], INF),
    zero_centred=False, monotonic=False, saturates="left",
    notes="Swish with its β (Ramachandran, Zoph & Le 2017, Searching for Activation Functions, arXiv 1710.05941).",
))

_add(Activation(
    name="quick_gelu",
    formula="f(x) = x·σ(1.702x)",
    fn=lambda x: k.scale(x, k.sigmoid(1.702 * x)),
    grad=lambda x: k.sigmoid(1.702 * x) + k.scale(1.702 * x, k.sigmoid_grad(1.702 * x)),
    torch_ref=lambda t, x, p: x * t.sigmoid(1.702 * x),
    torch_native=False,
    output_range="[−0.164, ∞)", bounds=lambda p: (_SILU_MIN / 1.702, INF),
    zero_centred=False, monotonic=False, saturates="left",
    notes="GELU's sigmoid approximation (Hendrycks & Gimpel 2016, arXiv 1606.08415); CLIP's activation "
          "(Radford et al. 2021).",
))

_add(Activation(
    name="dsilu",
    formula="f(x) = σ(x)·(1 + x·(1 − σ(x)))",
    fn=lambda x: k.sigmoid(x) + k.scale(x, k.sigmoid_grad(x)),
    grad=lambda x: 2.0 * k.sigmoid_grad(x) + k.scale(x, k.sigmoid_grad(x) * -np.tanh(x / 2.0)),
    torch_ref=lambda t, x, p: t.sigmoid(x) * (1 + x * (1 - t.sigmoid(x))),
    torch_native=False,
    output_range="[−0.0998, 1.0998]", bounds=lambda p: (-0.09983932012886692, 1.099839320128867),
    zero_centred=False, monotonic=False, saturates="both",
    notes="SiLU's derivative as an activation (Elfwing, Uchibe & Doya 2018, Neural Networks 107, arXiv 1702.03118).",
))

_add(Activation(
    name="elish",
    formula="f(x) = x·σ(x) if x ≥ 0 else (e^x − 1)·σ(x)",
    fn=lambda x: np.where(x >= 0, k.scale(_pos(x), k.sigmoid(_pos(x))), np.expm1(_neg(x)) * k.sigmoid(_neg(x))),
    grad=lambda x: np.where(
        x >= 0, k.sigmoid(_pos(x)) + k.scale(_pos(x), k.sigmoid_grad(_pos(x))),
        np.exp(_neg(x)) * k.sigmoid(_neg(x)) + np.expm1(_neg(x)) * k.sigmoid_grad(_neg(x))),
    torch_ref=lambda t, x, p: t.where(x >= 0, x.clamp(min=0) * t.sigmoid(x.clamp(min=0)),
                                      t.expm1(x.clamp(max=0)) * t.sigmoid(x.clamp(max=0))),
    torch_native=False,
    output_range="[−0.172, ∞)", bounds=lambda p: (-0.1715728752538099, INF),
    zero_centred=False, monotonic=False, saturates="left", kinks="f'' jumps at 0 (f is C¹)",
    notes="Exponential linear squashing (Basirat & Roth 2018, The Quest for the Golden Activation Function, "
          "arXiv 1808.00783).",
))

# --- self-gated by tanh --------------------------------------------------------------------------

_add(Activation(
    name="lisht",
    formula="f(x) = x·tanh(x)",
    fn=lambda x: x * np.tanh(x),
    grad=lambda x: np.tanh(x) + k.scale(x, k.sech2(x)),
    torch_ref=lambda t, x, p: x * t.tanh(x),
    torch_native=False,
    output_range="[0, ∞)", bounds=lambda p: (0.0, INF),
    zero_centred=False, monotonic=False, saturates="no",
    notes="Linearly scaled tanh, even: f(−x) = f(x) (Roy et al. 2019, LiSHT, arXiv 1901.05894).",
))


def _tanhexp_grad(x):
    e = np.exp(np.minimum(x, 700.0))
    return np.tanh(e) + k.scale(x, e * k.sech2(e))


_add(Activation(
    name="tanhexp",
    formula="f(x) = x·tanh(e^x)",
    fn=lambda x: k.scale(x, np.tanh(np.exp(np.minimum(x, 700.0)))),
    grad=_tanhexp_grad,
    torch_ref=lambda t, x, p: x * t.tanh(t.exp(x)),
    torch_native=False,
    output_range="[−0.353, ∞)", bounds=lambda p: (-0.35328577784821127, INF),
    zero_centred=False, monotonic=False, saturates="left",
    notes="Liu & Di 2020, TanhExp, for lightweight networks (IET Computer Vision 2021, arXiv 2003.09855).",
))


def _smish_grad(x):
    s = k.sigmoid(x)
    inner = np.log1p(s)
    return np.tanh(inner) + k.scale(x, k.sech2(inner) * k.sigmoid_grad(x) / (1.0 + s))


_add(Activation(
    name="smish",
    formula="f(x) = x·tanh(log(1 + σ(x)))",
    fn=lambda x: k.scale(x, np.tanh(np.log1p(k.sigmoid(x)))),
    grad=_smish_grad,
    torch_ref=lambda t, x, p: x * t.tanh(t.log1p(t.sigmoid(x))),
    torch_native=False,
    output_range="[−0.25, ∞)", bounds=lambda p: (-0.2499936636601295, INF),
    zero_centred=False, monotonic=False, saturates="left",
    notes="Wang et al. 2022, Smish (Electronics 11(4), 540); f ≈ 0.6x for large x.",
))


def _serf_grad(x):
    sp = k.softplus(x)
    return erf(sp) + k.scale(x, _TWO_OVER_SQRT_PI * np.exp(-np.minimum(sp, 40.0) ** 2) * k.sigmoid(x))


_add(Activation(
    name="serf",
    formula="f(x) = x·erf(log(1 + e^x))",
    fn=lambda x: k.scale(x, erf(k.softplus(x))),
    grad=_serf_grad,
    torch_ref=lambda t, x, p: x * t.erf(F(t).softplus(x, threshold=700.0)),
    torch_native=False,
    output_range="[−0.348, ∞)", bounds=lambda p: (-0.3484374587596064, INF),
    zero_centred=False, monotonic=False, saturates="left",
    notes="Log-softplus error unit (Nag et al. 2023, Serf, WACV 2023, arXiv 2108.09598).",
))

# --- rectifiers --------------------------------------------------------------------------------

_add(Activation(
    name="relu_squared", aliases=("squared_relu",),
    formula="f(x) = max(0, x)²",
    fn=lambda x: _pos(x) ** 2, grad=lambda x: 2.0 * _pos(x),
    torch_ref=lambda t, x, p: F(t).relu(x) ** 2,
    torch_native=False,
    output_range="[0, ∞)", bounds=lambda p: (0.0, INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="f'' jumps at 0 (f is C¹)",
    notes="Primer's feed-forward activation (So et al. 2021, arXiv 2109.08668). Overflows beyond |x| ≈ 1.3e154.",
))

_STAR_S, _STAR_B = 0.8944271909999159, -0.4472135954999579

_add(Activation(
    name="star_relu",
    formula="f(x) = s·max(0, x)² + b",
    params=(Param("s", _STAR_S, 0.0, low_open=True, help="scale s (learned)"), Param("b", _STAR_B, help="bias b")),
    fn=lambda x, s, b: s * _pos(x) ** 2 + b, grad=lambda x, s, b: 2.0 * s * _pos(x),
    torch_ref=lambda t, x, p: p["s"] * F(t).relu(x) ** 2 + p["b"],
    torch_native=False,
    output_range="[b, ∞)", bounds=lambda p: (p["b"], INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="f'' jumps at 0 (f is C¹)",
    notes="Squared ReLU scaled to unit variance (Yu et al. 2022, MetaFormer Baselines for Vision, arXiv 2210.13452); "
          "s and b are learned.",
))


def _squareplus(x, b):
    xp, xn = _pos(x), _neg(x)
    hp, hn = np.hypot(xp, math.sqrt(b)), np.hypot(xn, math.sqrt(b))
    return np.where(x >= 0, xp / 2.0 + hp / 2.0, b / (2.0 * (hn - xn)))  # no cancellation for x < 0


def _squareplus_grad(x, b):
    xp, xn = _pos(x), _neg(x)
    hp, hn = np.hypot(xp, math.sqrt(b)), np.hypot(xn, math.sqrt(b))
    ratio = np.where(np.isinf(xp), 1.0, xp / hp)
    return np.where(x >= 0, 0.5 + 0.5 * ratio, (b / (2.0 * hn)) / (hn - xn))


_add(Activation(
    name="squareplus",
    formula="f(x) = (x + √(x² + b)) / 2",
    params=(Param("b", 4.0, 0.0, low_open=True, help="smoothness b (b → 0: ReLU)"),),
    fn=_squareplus, grad=_squareplus_grad,
    torch_ref=lambda t, x, p: t.where(
        x >= 0, (x.clamp(min=0) + t.hypot(x.clamp(min=0), t.tensor(math.sqrt(p["b"]), dtype=x.dtype))) / 2,
        p["b"] / (2 * (t.hypot(x.clamp(max=0), t.tensor(math.sqrt(p["b"]), dtype=x.dtype)) - x.clamp(max=0)))),
    torch_native=False,
    output_range="(0, ∞)", bounds=lambda p: (0.0, INF),
    zero_centred=False, monotonic=True, saturates="left",
    notes="An algebraic softplus, no exp or log (Barron 2021, Squareplus, arXiv 2112.11687); f(0) = √b/2.",
))


def _isru(x, alpha):
    h = np.hypot(1.0, math.sqrt(alpha) * x)
    return np.where(np.isinf(x), np.sign(x) / math.sqrt(alpha), x / h)


def _isru_grad(x, alpha):
    return (1.0 / np.hypot(1.0, math.sqrt(alpha) * x)) ** 3


def _isru_torch(t, x, alpha):
    return x / t.hypot(t.ones_like(x), math.sqrt(alpha) * x)


_add(Activation(
    name="isru",
    formula="f(x) = x / √(1 + αx²)",
    params=(Param("alpha", 1.0, 0.0, low_open=True, help="saturation ±1/√α"),),
    fn=_isru, grad=_isru_grad,
    torch_ref=lambda t, x, p: _isru_torch(t, x, p["alpha"]),
    torch_native=False,
    output_range="(−1/√α, 1/√α)", bounds=lambda p: (-1.0 / math.sqrt(p["alpha"]), 1.0 / math.sqrt(p["alpha"])),
    zero_centred=True, monotonic=True, saturates="both",
    notes="Inverse square root unit, an algebraic tanh (Carlile et al. 2017, ISRLUs, arXiv 1710.09967).",
))

_add(Activation(
    name="isrlu",
    formula="f(x) = x if x ≥ 0 else x / √(1 + αx²)",
    params=(Param("alpha", 1.0, 0.0, low_open=True, help="saturation −1/√α for x → −∞"),),
    fn=lambda x, alpha: np.where(x >= 0, x, _isru(_neg(x), alpha)),
    grad=lambda x, alpha: np.where(x >= 0, 1.0, _isru_grad(_neg(x), alpha)),
    torch_ref=lambda t, x, p: t.where(x >= 0, x, _isru_torch(t, x.clamp(max=0), p["alpha"])),
    torch_native=False,
    output_range="(−1/√α, ∞)", bounds=lambda p: (-1.0 / math.sqrt(p["alpha"]), INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="f''' jumps at 0 (f is C²)",
    notes="Inverse square root linear unit, an algebraic ELU (Carlile et al. 2017, arXiv 1710.09967).",
))

_add(Activation(
    name="pelu",
    formula="f(x) = (a/b)·x if x ≥ 0 else a·(e^(x/b) − 1)",
    params=(Param("a", 1.0, 0.0, low_open=True, help="saturation −a (learned)"),
            Param("b", 1.0, 0.0, low_open=True, help="scale b (learned)")),
    fn=lambda x, a, b: np.where(x >= 0, (a / b) * x, a * np.expm1(_neg(x) / b)),
    grad=lambda x, a, b: np.where(x >= 0, a / b, (a / b) * np.exp(_neg(x) / b)),
    torch_ref=lambda t, x, p: t.where(x >= 0, (p["a"] / p["b"]) * x, p["a"] * t.expm1(x.clamp(max=0) / p["b"])),
    torch_native=False,
    output_range="(−a, ∞)", bounds=lambda p: (-p["a"], INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="f'' jumps at 0 (f is C¹)",
    notes="Parametric ELU (Trottier, Giguère & Chaib-draa 2017, ICMLA, arXiv 1605.09332); a and b are learned.",
))

_add(Activation(
    name="shifted_softplus", aliases=("ssp",),
    formula="f(x) = log(1 + e^x) − log 2",
    fn=lambda x: k.softplus(x) - math.log(2.0), grad=lambda x: k.sigmoid(x),
    torch_ref=lambda t, x, p: F(t).softplus(x, threshold=700.0) - math.log(2.0),
    torch_native=False,
    output_range="(−log 2, ∞)", bounds=lambda p: (-math.log(2.0), INF),
    zero_centred=False, monotonic=True, saturates="left",
    notes="Softplus through the origin, SchNet's activation (Schütt et al. 2017, NeurIPS, arXiv 1706.08566).",
))

# --- sigmoid-like ------------------------------------------------------------------------------

_add(Activation(
    name="erf",
    formula="f(x) = erf(x) = (2/√π)·∫₀ˣ e^(−t²) dt",
    fn=erf, grad=lambda x: _TWO_OVER_SQRT_PI * np.exp(-np.clip(x, -40.0, 40.0) ** 2),
    torch_ref=lambda t, x, p: t.erf(x),
    output_range="(−1, 1)", bounds=lambda p: (-1.0, 1.0),
    zero_centred=True, monotonic=True, saturates="both",
    notes="The error function; its Gaussian kernel has a closed form, hence its use in infinite-width theory "
          "(Williams 1997, Computing with Infinite Networks, NeurIPS).",
))


def _arctan_grad(x):
    big = np.abs(x) > 1.0
    r = 1.0 / np.where(big, x, 1.0)  # 1/x where |x| > 1: no overflow of x²
    small = np.where(big, 0.0, x)
    return np.where(big, r * r / (1.0 + r * r), 1.0 / (1.0 + small * small))


_add(Activation(
    name="arctan", aliases=("atan",),
    formula="f(x) = arctan(x)",
    fn=lambda x: np.arctan(x), grad=_arctan_grad,
    torch_ref=lambda t, x, p: t.atan(x),
    output_range="(−π/2, π/2)", bounds=lambda p: (-math.pi / 2, math.pi / 2),
    zero_centred=True, monotonic=True, saturates="both",
    notes="A classic sigmoidal unit with polynomial tails (surveyed in Kunc & Kléma 2024, arXiv 2402.09092).",
))


def _sqnl(x):
    c = np.clip(x, -2.0, 2.0)
    return c - c * np.abs(c) / 4.0


_add(Activation(
    name="sqnl",
    formula="f(x) = x − x|x|/4 for |x| ≤ 2, else sign(x)",
    fn=_sqnl, grad=lambda x: np.where(np.abs(x) > 2.0, 0.0, 1.0 - np.abs(x) / 2.0),  # NaN stays NaN
    torch_ref=lambda t, x, p: x.clamp(-2, 2) - x.clamp(-2, 2) * x.clamp(-2, 2).abs() / 4,
    torch_native=False,
    output_range="[−1, 1]", bounds=lambda p: (-1.0, 1.0),
    zero_centred=True, monotonic=True, saturates="both", kinks="f'' jumps at 0 and ±2 (f is C¹)",
    notes="Square nonlinearity, a cheap tanh (Wuraola & Patel 2018, SQNL, IJCNN).",
))


def _bent(x):
    h = np.hypot(x, 1.0)
    small = np.where(np.abs(x) < 1.0, x, 0.0)
    half_rise = np.where(np.abs(x) < 1.0, small * small / (2.0 * (np.hypot(small, 1.0) + 1.0)), (h - 1.0) / 2.0)
    return np.where(np.isinf(x), x, half_rise + x)


_add(Activation(
    name="bent_identity",
    formula="f(x) = (√(x² + 1) − 1)/2 + x",
    fn=_bent, grad=lambda x: 1.0 + 0.5 * np.where(np.isinf(x), np.sign(x), x / np.hypot(x, 1.0)),
    torch_ref=lambda t, x, p: (t.hypot(x, t.ones_like(x)) - 1) / 2 + x,
    torch_native=False,
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF),
    zero_centred=False, monotonic=True, saturates="no",
    notes="Slopes 1/2 and 3/2 far out (surveyed in Kunc & Kléma 2024, arXiv 2402.09092).",
))

# --- bumps and periodic ------------------------------------------------------------------------

_add(Activation(
    name="gaussian",
    formula="f(x) = e^(−x²)",
    fn=lambda x: np.exp(-np.clip(x, -40.0, 40.0) ** 2),
    grad=lambda x: -2.0 * np.clip(x, -40.0, 40.0) * np.exp(-np.clip(x, -40.0, 40.0) ** 2),
    torch_ref=lambda t, x, p: t.exp(-x**2),
    torch_native=False,
    output_range="(0, 1]", bounds=lambda p: (0.0, 1.0),
    zero_centred=False, monotonic=False, saturates="both",
    notes="Radial basis unit (Broomhead & Lowe 1988, Multivariable Functional Interpolation and Adaptive "
          "Networks).",
))

_add(Activation(
    name="sine", aliases=("siren",),
    formula="f(x) = sin(ω₀x)",
    params=(Param("w0", 1.0, 0.0, low_open=True, help="frequency ω₀ (SIREN's first layer: 30)"),),
    fn=lambda x, w0: np.sin(w0 * x), grad=lambda x, w0: w0 * np.cos(w0 * x),
    torch_ref=lambda t, x, p: t.sin(p["w0"] * x),
    torch_native=False,
    output_range="[−1, 1]", bounds=lambda p: (-1.0, 1.0),
    zero_centred=True, monotonic=False, saturates="no",
    notes="SIREN's periodic unit (Sitzmann et al. 2020, Implicit Neural Representations with Periodic Activation "
          "Functions, NeurIPS, arXiv 2006.09661). No limit at ±∞ (NaN there).",
))

_add(Activation(
    name="snake",
    formula="f(x) = x + sin²(a·x)/a",
    params=(Param("a", 1.0, 0.0, low_open=True, help="frequency a"),),
    fn=lambda x, a: np.where(np.isinf(x), x, x + np.sin(a * x) ** 2 / a),
    grad=lambda x, a: 1.0 + np.sin(2.0 * a * x),
    torch_ref=lambda t, x, p: x + t.sin(p["a"] * x) ** 2 / p["a"],
    torch_native=False,
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF),
    zero_centred=False, monotonic=True, saturates="no",
    notes="Monotonic and periodic at once (Liu Ziyin, Hartwig & Ueda 2020, Neural Networks Fail to Learn Periodic "
          "Functions and How to Fix It, NeurIPS, arXiv 2006.08195). f' has no limit at ±∞ (NaN there).",
))
