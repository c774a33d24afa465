"""Every activation dlcli knows. Adding one is one `register(Activation(...))` call here.

Derivative conventions at kinks follow PyTorch's autograd (relu'(0) = 0, leaky_relu'(0) = α, ...),
so `activations check` can compare with torch point for point.
"""

from __future__ import annotations

import math

import numpy as np

from dlcli.activations import kernels as k
from dlcli.activations.base import Activation, Param, register

INF = math.inf
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA_TEXT, SELU_SCALE_TEXT = "1.6732632423543772848170429916717", "1.0507009873554804934193349852946"
GELU_TANH_K = math.sqrt(2.0 / math.pi)
GELU_TANH_C = 0.044715
# GELU's f'(x) = Φ(x) + xφ(x) peaks where f'' = φ(x)(2 − x²) = 0, at x = √2: Φ(√2) = erfc(−1)/2
GELU_SUP = 0.5 * math.erfc(-1.0) + math.sqrt(2.0) * math.exp(-1.0) / math.sqrt(2.0 * math.pi)


def F(torch):  # noqa: N802 - the conventional name of torch.nn.functional
    return torch.nn.functional


def _neg(x):
    return np.minimum(x, 0.0)


def _mp_softmax(m, z):
    e = [m.exp(v - max(z)) for v in z]
    total = m.fsum(e)
    return [y / total for y in e]


# --- the notes' set ------------------------------------------------------------------------------

register(Activation(
    name="step", aliases=("heaviside", "threshold_unit"),
    formula="f(x) = 1 if x ≥ θ else 0",
    params=(Param("theta", 0.0, help="threshold θ"),),
    fn=lambda x, theta: (x >= theta).astype(np.float64),
    grad=lambda x, theta: np.zeros_like(x),
    torch_ref=lambda t, x, p: (x >= p["theta"]).to(x.dtype) + 0.0 * x,
    torch_native=False,
    undefined_grad_at=lambda p: (p["theta"],),
    output_range="{0, 1}", bounds=lambda p: (0.0, 1.0),
    zero_centred=False, monotonic=True, saturates="both", kinks="jump at x = θ",
    notes="The perceptron's activation. f' = 0 wherever it exists; undefined at θ.",
    mpmath_ref=lambda m, x, p: m.mpf(1 if x >= p["theta"] else 0),
    grad_sup=lambda p: (0.0, 0.0, True),
))

register(Activation(
    name="sigmoid", aliases=("logistic",),
    formula="f(x) = 1 / (1 + e^(−x))",
    fn=lambda x: k.sigmoid(x), grad=lambda x: k.sigmoid_grad(x),
    torch_ref=lambda t, x, p: t.sigmoid(x),
    output_range="(0, 1)", bounds=lambda p: (0.0, 1.0),
    zero_centred=False, monotonic=True, saturates="both",
    notes="f' ≤ 1/4: stacks of sigmoids make gradients vanish.",
    mpmath_ref=lambda m, x, p: 1 / (1 + m.exp(-x)),
    grad_sup=lambda p: (0.25, 0.0, True),
))

register(Activation(
    name="tanh",
    formula="f(x) = (e^(2x) − 1) / (e^(2x) + 1)",
    fn=lambda x: np.tanh(x), grad=lambda x: k.sech2(x),
    torch_ref=lambda t, x, p: t.tanh(x),
    output_range="(−1, 1)", bounds=lambda p: (-1.0, 1.0),
    zero_centred=True, monotonic=True, saturates="both",
    notes="A rescaled sigmoid: tanh(x) = 2σ(2x) − 1.",
    mpmath_ref=lambda m, x, p: m.tanh(x),
    grad_sup=lambda p: (1.0, 0.0, True),
))

register(Activation(
    name="relu",
    formula="f(x) = max(0, x)",
    fn=lambda x: np.maximum(x, 0.0), grad=lambda x: (x > 0).astype(np.float64),
    torch_ref=lambda t, x, p: F(t).relu(x),
    output_range="[0, ∞)", bounds=lambda p: (0.0, INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="kink at 0",
    notes="f' = 0 for x ≤ 0: units stuck there are dead.",
    mpmath_ref=lambda m, x, p: max(x, 0),
    grad_sup=lambda p: (1.0, 1.0, True),
    undefined_grad_at=lambda p: (0.0,),
))

register(Activation(
    name="leaky_relu", aliases=("lrelu",),
    formula="f(x) = x if x > 0 else α·x",
    params=(Param("alpha", 0.01, 0.0, 1.0, help="slope for x < 0"),),
    fn=lambda x, alpha: np.where(x > 0, x, alpha * x),
    grad=lambda x, alpha: np.where(x > 0, 1.0, alpha),
    torch_ref=lambda t, x, p: F(t).leaky_relu(x, p["alpha"]),
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF),
    zero_centred=False, monotonic=True, saturates="no", kinks="kink at 0",
    notes="A small slope keeps units from dying.",
    mpmath_ref=lambda m, x, p: x if x > 0 else p["alpha"] * x,
    grad_sup=lambda p: (max(1.0, p["alpha"]), 1.0, True),
    undefined_grad_at=lambda p: (0.0,) if p["alpha"] != 1 else (),
))

register(Activation(
    name="elu",
    formula="f(x) = x if x > 0 else α·(e^x − 1)",
    params=(Param("alpha", 1.0, 0.0, help="saturation value −α for x → −∞"),),
    fn=lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(_neg(x))),
    grad=lambda x, alpha: np.where(x > 0, 1.0, alpha * np.exp(_neg(x))),
    torch_ref=lambda t, x, p: F(t).elu(x, p["alpha"]),
    output_range="(−α, ∞)", bounds=lambda p: (-p["alpha"], INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="kink at 0 unless α = 1",
    notes="Negative outputs push mean activations toward zero.",
    mpmath_ref=lambda m, x, p: x if x > 0 else p["alpha"] * m.expm1(x),
    grad_sup=lambda p: (max(1.0, p["alpha"]), 1.0 if p["alpha"] <= 1 else 0.0, True),
    undefined_grad_at=lambda p: (0.0,) if p["alpha"] != 1 else (),
))

register(Activation(
    name="softplus",
    formula="f(x) = (1/β)·log(1 + e^(β·x))",
    params=(Param("beta", 1.0, 0.0, low_open=True, help="sharpness β"),),
    fn=lambda x, beta: k.softplus(beta * x) / beta,
    grad=lambda x, beta: k.sigmoid(beta * x),
    # torch switches to f(x) = x above `threshold` (default 20); 700/β keeps its exact formula
    # wherever the difference is representable in float64.
    torch_ref=lambda t, x, p: F(t).softplus(x, beta=p["beta"], threshold=700.0),
    output_range="(0, ∞)", bounds=lambda p: (0.0, INF),
    zero_centred=False, monotonic=True, saturates="left",
    notes="A smooth ReLU; f' is the sigmoid σ(βx).",
    mpmath_ref=lambda m, x, p: m.log1p(m.exp(p["beta"] * x)) / p["beta"],
    grad_sup=lambda p: (1.0, INF, False),
))

register(Activation(
    name="eru", aliases=("bru",),
    formula="f(z) = (r²z + 1)^(1/r) − 1/r if z ≥ 0 else e^(rz) − 1/r",
    params=(Param("r", 2.0, 1.0, help="root order r"),),
    fn=lambda x, r: np.where(x >= 0, k.root_growth(x, r) + 1.0 - 1.0 / r, np.exp(r * _neg(x)) - 1.0 / r),
    grad=lambda x, r: np.where(x >= 0, k.root_slope(x, r), r * np.exp(r * _neg(x))),
    torch_ref=lambda t, x, p: t.where(
        x >= 0,
        (p["r"] ** 2 * x.clamp(min=0) + 1) ** (1 / p["r"]) - 1 / p["r"],
        t.exp(p["r"] * x.clamp(max=0)) - 1 / p["r"],
    ),
    torch_native=False,
    output_range="(−1/r, ∞)", bounds=lambda p: (-1.0 / p["r"], INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="f'' jumps at 0 (f is C¹)",
    notes="Bionodal root unit, exponential form (arXiv 1804.11237); r = 1 gives ELU.",
    mpmath_ref=(
        lambda m, x, p: ((p["r"] ** 2 * x + 1) ** (1 / m.mpf(p["r"])) if x >= 0 else m.exp(p["r"] * x))
        - 1 / m.mpf(p["r"])
    ),
    grad_sup=lambda p: (p["r"], 0.0, True),
))

register(Activation(
    name="oru",
    formula="f(z) = sgn(z)·((r²|z| + 1)^(1/r) − 1)",
    params=(Param("r", 2.0, 1.0, help="root order r"),),
    fn=lambda x, r: np.sign(x) * k.root_growth(np.abs(x), r),
    grad=lambda x, r: k.root_slope(np.abs(x), r),
    torch_ref=lambda t, x, p: t.where(
        x >= 0,
        (p["r"] ** 2 * x.clamp(min=0) + 1) ** (1 / p["r"]) - 1,
        1 - (1 - p["r"] ** 2 * x.clamp(max=0)) ** (1 / p["r"]),
    ),
    torch_native=False,
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF),
    zero_centred=True, monotonic=True, saturates="no", kinks="f'' jumps at 0 (f is C¹)",
    notes="Bionodal root unit, odd form (arXiv 1804.11237); r = 1 gives the identity.",
    mpmath_ref=lambda m, x, p: m.sign(x) * ((p["r"] ** 2 * abs(x) + 1) ** (1 / m.mpf(p["r"])) - 1),
    grad_sup=lambda p: (p["r"], 0.0, True),
))

register(Activation(
    name="softmax",
    formula="f(z)_i = e^(z_i) / Σ_j e^(z_j)   (on a whole vector)",
    fn=lambda x: k.softmax(x), grad=lambda x: k.softmax_jacobian(x),
    torch_ref=lambda t, x, p: F(t).softmax(x, dim=-1),
    vector=True, vector_max_abs_grad=0.25,  # entries s_i(δij − s_j) peak at s = 1/2
    output_range="(0, 1), summing to 1", bounds=lambda p: (0.0, 1.0),
    zero_centred=False, monotonic=False, saturates="both",
    notes="For the output layer (class probabilities), not hidden layers. f' is the Jacobian diag(s) − s·sᵀ.",
    mpmath_ref=lambda m, z, p: _mp_softmax(m, z),
    grad_sup=lambda p: (0.25, 0.0, True),  # |Jacobian entries|
))

# --- the rest of torch.nn's element-wise activations ---------------------------------------------

register(Activation(
    name="identity", aliases=("linear",),
    formula="f(x) = x",
    fn=lambda x: x.copy(), grad=lambda x: np.ones_like(x),
    torch_ref=lambda t, x, p: x * 1.0,
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF),
    zero_centred=True, monotonic=True, saturates="no",
    notes="No non-linearity: a stack of linear layers is one linear layer.",
    mpmath_ref=lambda m, x, p: x,
    grad_sup=lambda p: (1.0, 0.0, True),
))

register(Activation(
    name="gelu",
    formula="f(x) = x·Φ(x),  Φ the standard normal CDF",
    fn=lambda x: k.scale(x, k.normal_cdf(x)),
    grad=lambda x: k.normal_cdf(x) + k.scale(x, k.normal_pdf(x)),
    torch_ref=lambda t, x, p: F(t).gelu(x),
    output_range="[−0.17, ∞)", bounds=lambda p: (-0.17000425396494035, INF),
    zero_centred=False, monotonic=False, saturates="left",
    notes="Transformers' default; dips to −0.17 at x ≈ −0.75.",
    mpmath_ref=lambda m, x, p: x * m.ncdf(x),
    grad_sup=lambda p: (GELU_SUP, math.sqrt(2.0), True),
))

register(Activation(
    name="gelu_tanh", aliases=("gelu_approx",),
    formula="f(x) = ½x·(1 + tanh(√(2/π)·(x + 0.044715x³)))",
    fn=lambda x: k.scale(x, k.sigmoid(_gelu_tanh_arg(x))),
    grad=lambda x: _gelu_tanh_grad(x),
    torch_ref=lambda t, x, p: F(t).gelu(x, approximate="tanh"),
    output_range="[−0.17, ∞)", bounds=lambda p: (-0.1701, INF),
    zero_centred=False, monotonic=False, saturates="left",
    notes="The tanh approximation of GELU (GPT-2).",
    mpmath_ref=lambda m, x, p: x / 2 * (1 + m.tanh(m.sqrt(2 / m.pi) * (x + m.mpf("0.044715") * x**3))),
))


def _gelu_tanh_arg(x):
    """2u with u = √(2/π)(x + 0.044715x³), so that ½(1 + tanh u) = σ(2u); |x| capped where σ is already 0 or 1."""
    xc = np.clip(x, -1e3, 1e3)
    return 2.0 * GELU_TANH_K * (xc + GELU_TANH_C * xc**3)


def _gelu_tanh_grad(x):
    xc = np.clip(x, -1e3, 1e3)
    two_u = _gelu_tanh_arg(x)
    two_du = 2.0 * GELU_TANH_K * (1.0 + 3.0 * GELU_TANH_C * xc**2)
    return k.sigmoid(two_u) + xc * k.sigmoid_grad(two_u) * two_du


register(Activation(
    name="silu", aliases=("swish",),
    formula="f(x) = x·σ(x)",
    fn=lambda x: k.scale(x, k.sigmoid(x)),
    grad=lambda x: k.sigmoid(x) + k.scale(x, k.sigmoid_grad(x)),
    torch_ref=lambda t, x, p: F(t).silu(x),
    output_range="[−0.278, ∞)", bounds=lambda p: (-0.2784645427610738, INF),
    zero_centred=False, monotonic=False, saturates="left",
    notes="Sigmoid-weighted linear unit; minimum −0.278 at x ≈ −1.278.",
    mpmath_ref=lambda m, x, p: x / (1 + m.exp(-x)),
))

register(Activation(
    name="mish",
    formula="f(x) = x·tanh(softplus(x))",
    fn=lambda x: k.scale(x, np.tanh(k.softplus(x))),
    grad=lambda x: np.tanh(k.softplus(x)) + k.scale(x, k.sech2(k.softplus(x)) * k.sigmoid(x)),
    torch_ref=lambda t, x, p: F(t).mish(x),
    output_range="[−0.309, ∞)", bounds=lambda p: (-0.30884, INF),
    zero_centred=False, monotonic=False, saturates="left",
    notes="Self-regularised non-monotonic activation (YOLOv4).",
    mpmath_ref=lambda m, x, p: x * m.tanh(m.log1p(m.exp(x))),
))

register(Activation(
    name="selu",
    formula="f(x) = λ·x if x > 0 else λ·α·(e^x − 1),  λ ≈ 1.0507, α ≈ 1.6733",
    fn=lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(_neg(x))),
    grad=lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(_neg(x))),
    torch_ref=lambda t, x, p: F(t).selu(x),
    output_range="(−λα, ∞)", bounds=lambda p: (-SELU_SCALE * SELU_ALPHA, INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="kink at 0",
    notes="Self-normalising: keeps mean 0, variance 1 through LeCun-initialised layers.",
    mpmath_ref=lambda m, x, p: m.mpf(SELU_SCALE_TEXT) * (x if x > 0 else m.mpf(SELU_ALPHA_TEXT) * m.expm1(x)),
    grad_sup=lambda p: (SELU_SCALE * SELU_ALPHA, 0.0, True),
    undefined_grad_at=lambda p: (0.0,),
))

register(Activation(
    name="celu",
    formula="f(x) = max(0, x) + min(0, α·(e^(x/α) − 1))",
    params=(Param("alpha", 1.0, 0.0, low_open=True, help="saturation value −α"),),
    fn=lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(_neg(x) / alpha)),
    grad=lambda x, alpha: np.where(x > 0, 1.0, np.exp(_neg(x) / alpha)),
    torch_ref=lambda t, x, p: F(t).celu(x, p["alpha"]),
    output_range="(−α, ∞)", bounds=lambda p: (-p["alpha"], INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="f'' jumps at 0 (f is C¹)",
    notes="ELU made continuously differentiable for every α.",
    mpmath_ref=lambda m, x, p: x if x > 0 else p["alpha"] * m.expm1(x / p["alpha"]),
    grad_sup=lambda p: (1.0, 0.0, True),
))

register(Activation(
    name="softsign",
    formula="f(x) = x / (1 + |x|)",
    fn=lambda x: np.divide(x, 1.0 + np.abs(x), out=np.array(np.sign(x), dtype=np.float64), where=np.isfinite(x)),
    grad=lambda x: (1.0 / (1.0 + np.abs(x))) ** 2,
    torch_ref=lambda t, x, p: F(t).softsign(x),
    output_range="(−1, 1)", bounds=lambda p: (-1.0, 1.0),
    zero_centred=True, monotonic=True, saturates="both", kinks="f'' jumps at 0 (f is C¹)",
    notes="Like tanh, but approaches ±1 polynomially, not exponentially.",
    mpmath_ref=lambda m, x, p: x / (1 + abs(x)),
    grad_sup=lambda p: (1.0, 0.0, True),
))

register(Activation(
    name="hardtanh",
    formula="f(x) = min(max(x, min_val), max_val)",
    params=(
        Param("min_val", -1.0, high=0.0, high_open=True, help="lower clip"),
        Param("max_val", 1.0, low=0.0, low_open=True, help="upper clip"),
    ),
    fn=lambda x, min_val, max_val: np.clip(x, min_val, max_val),
    grad=lambda x, min_val, max_val: ((x > min_val) & (x < max_val)).astype(np.float64),
    torch_ref=lambda t, x, p: F(t).hardtanh(x, p["min_val"], p["max_val"]),
    output_range="[min_val, max_val]", bounds=lambda p: (p["min_val"], p["max_val"]),
    zero_centred=True, monotonic=True, saturates="both", kinks="kinks at min_val and max_val",
    notes="A piecewise-linear tanh.",
    mpmath_ref=lambda m, x, p: min(max(x, p["min_val"]), p["max_val"]),
    grad_sup=lambda p: (1.0, 0.0, True),
    undefined_grad_at=lambda p: (p["min_val"], p["max_val"]),
))

register(Activation(
    name="relu6",
    formula="f(x) = min(max(0, x), 6)",
    fn=lambda x: np.clip(x, 0.0, 6.0),
    grad=lambda x: ((x > 0) & (x < 6)).astype(np.float64),
    torch_ref=lambda t, x, p: F(t).relu6(x),
    output_range="[0, 6]", bounds=lambda p: (0.0, 6.0),
    zero_centred=False, monotonic=True, saturates="both", kinks="kinks at 0 and 6",
    notes="ReLU capped at 6 (MobileNet), friendly to low-precision arithmetic.",
    mpmath_ref=lambda m, x, p: min(max(x, 0), 6),
    grad_sup=lambda p: (1.0, 1.0, True),
    undefined_grad_at=lambda p: (0.0, 6.0),
))

register(Activation(
    name="hardsigmoid",
    formula="f(x) = min(max(0, x/6 + 1/2), 1)",
    fn=lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    grad=lambda x: np.where((x > -3) & (x < 3), 1.0 / 6.0, 0.0),
    torch_ref=lambda t, x, p: F(t).hardsigmoid(x),
    # torch 2.x's float64 backward uses the float32 constant 1/6 = 0.16666667163: `check` settles it by mpmath
    output_range="[0, 1]", bounds=lambda p: (0.0, 1.0),
    zero_centred=False, monotonic=True, saturates="both", kinks="kinks at −3 and 3",
    notes="A piecewise-linear sigmoid.",
    mpmath_ref=lambda m, x, p: min(max(x / 6 + m.mpf(1) / 2, 0), 1),
    grad_sup=lambda p: (1.0 / 6.0, 0.0, True),
    undefined_grad_at=lambda p: (-3.0, 3.0),
))

register(Activation(
    name="hardswish",
    formula="f(x) = x·min(max(0, x + 3), 6) / 6",
    fn=lambda x: k.scale(x, np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    grad=lambda x: np.where(x <= -3, 0.0, np.where(x < 3, x / 3.0 + 0.5, 1.0)),
    torch_ref=lambda t, x, p: F(t).hardswish(x),
    output_range="[−0.375, ∞)", bounds=lambda p: (-0.375, INF),
    zero_centred=False, monotonic=False, saturates="left", kinks="f' jumps at −3 and 3",
    notes="A piecewise-polynomial SiLU (MobileNetV3).",
    mpmath_ref=lambda m, x, p: x * min(max(x + 3, 0), 6) / 6,
    grad_sup=lambda p: (1.5, 3.0, False),
    undefined_grad_at=lambda p: (-3.0, 3.0),
))

register(Activation(
    name="logsigmoid",
    formula="f(x) = log σ(x) = −softplus(−x)",
    fn=lambda x: -k.softplus(-x),
    grad=lambda x: k.sigmoid(-x),
    torch_ref=lambda t, x, p: F(t).logsigmoid(x),
    output_range="(−∞, 0)", bounds=lambda p: (-INF, 0.0),
    zero_centred=False, monotonic=True, saturates="right",
    notes="The log-probability of a sigmoid output.",
    mpmath_ref=lambda m, x, p: -m.log1p(m.exp(-x)),
    grad_sup=lambda p: (1.0, -INF, False),
))

register(Activation(
    name="tanhshrink",
    formula="f(x) = x − tanh(x)",
    fn=lambda x: k.tanhshrink(x),
    grad=lambda x: np.tanh(x) ** 2,
    torch_ref=lambda t, x, p: F(t).tanhshrink(x),
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF),
    zero_centred=True, monotonic=True, saturates="no",
    notes="Flat near 0 (f ≈ x³/3), linear far out.",
    mpmath_ref=lambda m, x, p: x - m.tanh(x),
    grad_sup=lambda p: (1.0, INF, False),
))

register(Activation(
    name="softshrink",
    formula="f(x) = x − λ if x > λ;  x + λ if x < −λ;  else 0",
    params=(Param("lambd", 0.5, 0.0, help="half-width λ of the dead zone"),),
    fn=lambda x, lambd: np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0.0)),
    grad=lambda x, lambd: (np.abs(x) > lambd).astype(np.float64),
    torch_ref=lambda t, x, p: F(t).softshrink(x, p["lambd"]),
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF),
    zero_centred=True, monotonic=True, saturates="no", kinks="kinks at ±λ",
    notes="Soft thresholding, the proximal map of the L1 norm.",
    mpmath_ref=lambda m, x, p: x - p["lambd"] if x > p["lambd"] else (x + p["lambd"] if x < -p["lambd"] else m.mpf(0)),
    grad_sup=lambda p: (1.0, p["lambd"] + 1.0, True),
    undefined_grad_at=lambda p: (-p["lambd"], p["lambd"]) if p["lambd"] > 0 else (),
))

register(Activation(
    name="hardshrink",
    formula="f(x) = x if |x| > λ else 0",
    params=(Param("lambd", 0.5, 0.0, help="half-width λ of the dead zone"),),
    fn=lambda x, lambd: np.where(np.abs(x) > lambd, x, 0.0),
    grad=lambda x, lambd: (np.abs(x) > lambd).astype(np.float64),
    torch_ref=lambda t, x, p: F(t).hardshrink(x, p["lambd"]),
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF),
    zero_centred=True, monotonic=True, saturates="no", kinks="jumps at ±λ (when λ > 0)",
    notes="Hard thresholding: zeroes small inputs.",
    mpmath_ref=lambda m, x, p: x if abs(x) > p["lambd"] else m.mpf(0),
    grad_sup=lambda p: (1.0, p["lambd"] + 1.0, True),
    undefined_grad_at=lambda p: (-p["lambd"], p["lambd"]) if p["lambd"] > 0 else (),
))

register(Activation(
    name="prelu",
    formula="f(x) = x if x > 0 else a·x  (a learned; here a parameter)",
    params=(Param("a", 0.25, help="slope for x < 0 (the learned weight)"),),
    fn=lambda x, a: np.where(x > 0, x, a * x),
    grad=lambda x, a: np.where(x > 0, 1.0, a),
    torch_ref=lambda t, x, p: F(t).prelu(x, t.tensor([p["a"]], dtype=x.dtype)),
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF) if p["a"] != 0 else (0.0, INF),
    zero_centred=False, monotonic=True, saturates="no", kinks="kink at 0",
    notes="Leaky ReLU whose slope is learned; monotonic only for a ≥ 0.",
    mpmath_ref=lambda m, x, p: x if x > 0 else p["a"] * x,
    grad_sup=lambda p: (max(1.0, abs(p["a"])), 1.0 if abs(p["a"]) <= 1 else -1.0, True),
    undefined_grad_at=lambda p: (0.0,) if p["a"] != 1 else (),
))

register(Activation(
    name="rrelu",
    formula="f(x) = x if x > 0 else ((lower + upper)/2)·x  (evaluation mode)",
    params=(
        Param("lower", 1.0 / 8.0, 0.0, 1.0, help="lower bound of the random slope"),
        Param("upper", 1.0 / 3.0, 0.0, 1.0, help="upper bound of the random slope"),
    ),
    fn=lambda x, lower, upper: np.where(x > 0, x, 0.5 * (lower + upper) * x),
    grad=lambda x, lower, upper: np.where(x > 0, 1.0, 0.5 * (lower + upper)),
    torch_ref=lambda t, x, p: F(t).rrelu(x, p["lower"], p["upper"], training=False),
    output_range="(−∞, ∞)", bounds=lambda p: (-INF, INF),
    zero_centred=False, monotonic=True, saturates="no", kinks="kink at 0",
    notes="Randomised leaky ReLU; in training the slope is drawn from U(lower, upper).",
    mpmath_ref=lambda m, x, p: x if x > 0 else (m.mpf(p["lower"]) + p["upper"]) / 2 * x,
    grad_sup=lambda p: (1.0, 1.0, True),
    undefined_grad_at=lambda p: (0.0,) if p["lower"] + p["upper"] != 2 else (),
))

register(Activation(
    name="threshold",
    formula="f(x) = x if x > threshold else value",
    params=(Param("threshold", 0.0, help="cut-off"), Param("value", 0.0, help="output at or below the cut-off")),
    fn=lambda x, threshold, value: np.where(x > threshold, x, np.float64(value)),
    grad=lambda x, threshold, value: (x > threshold).astype(np.float64),
    torch_ref=lambda t, x, p: F(t).threshold(x, p["threshold"], p["value"]),
    output_range="{value} ∪ (threshold, ∞)",
    bounds=lambda p: (min(p["value"], p["threshold"]), INF),
    zero_centred=False, monotonic=True, saturates="left", kinks="jump at threshold unless value = threshold",
    notes="torch.nn.Threshold; the defaults make it ReLU (monotonic only while value ≤ threshold).",
    mpmath_ref=lambda m, x, p: x if x > p["threshold"] else m.mpf(p["value"]),
    grad_sup=lambda p: (1.0, p["threshold"] + 1.0, True),
    undefined_grad_at=lambda p: (p["threshold"],),
))

register(Activation(
    name="log_softmax",
    formula="f(z)_i = z_i − log Σ_j e^(z_j)   (on a whole vector)",
    fn=lambda x: k.log_softmax(x),
    grad=lambda x: k.log_softmax_jacobian(x),
    torch_ref=lambda t, x, p: F(t).log_softmax(x, dim=-1),
    vector=True, vector_max_abs_grad=1.0,  # entries δij − s_j approach 1
    output_range="(−∞, 0)", bounds=lambda p: (-INF, 0.0),
    zero_centred=False, monotonic=False, saturates="no",
    notes="What nn.NLLLoss expects as input: log-probabilities, not probabilities.",
    mpmath_ref=lambda m, z, p: [v - max(z) - m.log(m.fsum(m.exp(u - max(z)) for u in z)) for v in z],
    grad_sup=lambda p: (1.0, 0.0, False),  # |Jacobian entries| approach 1 as s_j → 0
))

register(Activation(
    name="softmin",
    formula="f(z)_i = e^(−z_i) / Σ_j e^(−z_j)   (on a whole vector)",
    fn=lambda x: k.softmax(-x), grad=lambda x: -k.softmax_jacobian(-x),
    torch_ref=lambda t, x, p: F(t).softmin(x, dim=-1),
    vector=True, vector_max_abs_grad=0.25,
    output_range="(0, 1), summing to 1", bounds=lambda p: (0.0, 1.0),
    zero_centred=False, monotonic=False, saturates="both",
    notes="softmax(−z): the smallest input gets the largest weight.",
    mpmath_ref=lambda m, z, p: _mp_softmax(m, [-v for v in z]),
    grad_sup=lambda p: (0.25, 0.0, True),  # |Jacobian entries|
))
