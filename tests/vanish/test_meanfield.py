"""Mean-field theory against closed forms and an independent Monte-Carlo estimate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlcli import activations
from dlcli.vanish import meanfield
from dlcli.vanish.meanfield import LayerSpec

MC_SAMPLES = 1_000_000


def tables(name: str, **params: float) -> meanfield.ActivationTables:
    act = activations.get(name)
    return meanfield.tabulate(act, act.resolve(params))


@pytest.fixture(scope="module")
def normal_samples() -> np.ndarray:
    return np.random.default_rng(20240601).standard_normal(MC_SAMPLES)


# --- Gaussian expectations: closed forms ---------------------------------------------------------

@pytest.mark.parametrize("q", [1e-8, 0.01, 1.0, 50.0, 1e6, 1e30])
def test_relu_and_identity_expectations_match_closed_forms(q: float) -> None:
    relu, ident = tables("relu"), tables("identity")
    assert relu.phi_sq.expect(q) == pytest.approx(q / 2, rel=1e-12)     # E[max(0,u)²] = q/2
    assert relu.dphi_sq.expect(q) == pytest.approx(0.5, rel=1e-5)       # P(u > 0); the jump sits on a node
    assert ident.phi_sq.expect(q) == pytest.approx(q, rel=1e-12)
    assert ident.dphi_sq.expect(q) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("q", [0.04, 1.0, 25.0])
def test_hardtanh_derivative_expectation_matches_erf(q: float) -> None:
    # E[1(|u| < 1)] = erf(1/√(2q)): a jump away from u = 0, the quadrature's weakest case (documented ~1e-3).
    exact = math.erf(1.0 / math.sqrt(2.0 * q))
    assert tables("hardtanh").dphi_sq.expect(q) == pytest.approx(exact, rel=3e-3)


def test_tanh_second_moment_matches_series_for_small_q() -> None:
    # tanh²x = x² − (2/3)x⁴ + (17/45)x⁶ − (62/315)x⁸ + ..., E[x^2k] = (2k−1)!!·q^k
    q = 1e-3
    series = q - 2 * q**2 + 17 / 3 * q**3 - 62 / 3 * q**4
    assert tables("tanh").phi_sq.expect(q) == pytest.approx(series, rel=1e-9)


# --- fixed point and χ1 against Monte Carlo -----------------------------------------------------

def mc_fixed_point(name: str, sigma_w2: float, sigma_b2: float, z: np.ndarray, q0: float = 1.0,
                   ) -> tuple[float, float, float, float]:
    """Iterate the Monte-Carlo variance map (common random numbers) to its fixed point.

    Returns q*, χ1 and their standard errors: se(χ1) from the sample spread of σ_w²φ'², se(q*) from the
    spread of σ_w²φ² divided by 1 − V'(q*) (an error δ in the map moves its fixed point by δ/(1 − V')).
    """
    act = activations.get(name)
    params = act.resolve({})

    def v_map(q: float) -> float:
        return sigma_w2 * float(np.mean(act.fn(math.sqrt(q) * z, **params) ** 2)) + sigma_b2

    previous, q = q0, v_map(q0)  # one step of the map, then the secant method on V(q) − q
    g_prev, g = v_map(previous) - previous, v_map(q) - q
    for _ in range(100):
        if g == g_prev or abs(q - previous) <= 1e-13 * q:
            break
        previous, q = q, max(q - g * (q - previous) / (g - g_prev), 0.5 * q)
        g_prev, g = g, v_map(q) - q
    phi2 = sigma_w2 * act.fn(math.sqrt(q) * z, **params) ** 2
    dphi2 = sigma_w2 * act.grad(math.sqrt(q) * z, **params) ** 2
    h = 1e-4 * q
    slope = (v_map(q + h) - v_map(q - h)) / (2 * h)
    se_q = float(phi2.std()) / math.sqrt(z.size) / abs(1.0 - slope)
    return q, float(dphi2.mean()), se_q, float(dphi2.std()) / math.sqrt(z.size)


@pytest.mark.parametrize(("name", "sigma_w2", "sigma_b2"), [
    ("sigmoid", 1 / 3, 1 / 768),   # nn.Linear's default init at width 256
    ("tanh", 2.0, 0.05),           # a non-trivial fixed point in the chaotic phase
    ("relu", 1.5, 0.1),
    ("elu", 1.2, 0.02),
])
def test_fixed_point_and_chi1_agree_with_monte_carlo(normal_samples, name, sigma_w2, sigma_b2) -> None:
    t = tables(name)
    q_star = meanfield.fixed_point(t, sigma_w2, sigma_b2, q_start=sigma_w2 + sigma_b2)
    chi1 = meanfield.chi(t, q_star, sigma_w2)
    q_mc, chi_mc, se_q, se_chi = mc_fixed_point(name, sigma_w2, sigma_b2, normal_samples)
    # 5 standard errors: a false alarm about once in 3 million runs.
    assert abs(q_star - q_mc) < 5 * se_q + 1e-12
    assert abs(chi1 - chi_mc) < 5 * se_chi + 1e-12


def test_relu_fixed_point_closed_form() -> None:
    # V(q) = σ_w² q/2 + σ_b²  →  q* = σ_b²/(1 − σ_w²/2), χ1 = σ_w²/2
    t = tables("relu")
    q_star = meanfield.fixed_point(t, 1.5, 0.1, q_start=1.6)
    assert q_star == pytest.approx(0.1 / (1 - 0.75), rel=1e-10)
    assert meanfield.chi(t, q_star, 1.5) == pytest.approx(0.75, rel=1e-5)


def test_tanh_at_unit_gain_flows_to_zero_and_is_critical() -> None:
    # σ_w² = 1, σ_b² = 0: V(q) = q − 2q² + ... < q, so q* = 0 and χ1 = φ'(0)² = 1 (Poole et al. 2016).
    t = tables("tanh")
    q_star = meanfield.fixed_point(t, 1.0, 0.0, q_start=1.0)
    assert q_star == pytest.approx(0.0, abs=1e-6)
    assert meanfield.chi(t, q_star, 1.0) == pytest.approx(1.0, abs=1e-5)


def test_relu_above_two_diverges() -> None:
    t = tables("relu")
    assert math.isinf(meanfield.fixed_point(t, 4.0, 0.0, q_start=4.0))
    assert meanfield.chi_at_fixed_point(t, 4.0, math.inf) == pytest.approx(2.0, rel=1e-5)


# --- critical gain ----------------------------------------------------------------------------------

def test_critical_gains_match_known_values() -> None:
    assert meanfield.critical_gain(tables("relu"), 0.0) == pytest.approx(math.sqrt(2), rel=1e-4)
    assert meanfield.critical_gain(tables("tanh"), 0.0) == pytest.approx(1.0, rel=1e-3)
    assert meanfield.critical_gain(tables("step"), 0.0) is None  # φ' = 0: nothing reaches χ1 = 1


@pytest.mark.parametrize(("name", "sigma_b2"), [("sigmoid", 0.0), ("tanh", 0.05), ("elu", 0.1)])
def test_critical_gain_puts_monte_carlo_chi1_at_one(normal_samples, name, sigma_b2) -> None:
    gain = meanfield.critical_gain(tables(name), sigma_b2)
    assert gain is not None
    _, chi_mc, _, se_chi = mc_fixed_point(name, gain**2, sigma_b2, normal_samples, q0=gain**2 + sigma_b2)
    assert abs(chi_mc - 1.0) < 5 * se_chi


# --- the assembled prediction -----------------------------------------------------------------------

def test_predict_closed_forms_for_relu() -> None:
    act = activations.get("relu")
    specs = [LayerSpec(64, 64, 1.5, 0.1)] * 10
    t = meanfield.predict(act, {}, specs)
    assert t.chi1 == pytest.approx(0.75, rel=1e-5)
    assert t.per_layer_factor == pytest.approx(math.sqrt(0.75), rel=1e-5)
    assert t.predicted_ratio == pytest.approx(0.75**4.5, rel=1e-4)
    assert t.depth_scale == pytest.approx(1 / math.log(4 / 3), rel=1e-4)
    assert t.naive_bound == 1.0
    # Layer by layer: q_1 = σ_w²·1 + σ_b², then q ↦ 0.75 q + 0.1; the gradient factor is √0.75 throughout.
    q = 1.6
    for got in t.layer_q:
        assert got == pytest.approx(q, rel=1e-10)
        q = 0.75 * q + 0.1
    assert t.predicted_ratio_layerwise == pytest.approx(0.75**4.5, rel=1e-4)


def test_naive_bound_is_a_quarter_per_layer_for_sigmoid() -> None:
    t = meanfield.predict(activations.get("sigmoid"), {}, [LayerSpec(8, 8, 1 / 3, 0.0)] * 20)
    assert t.naive_bound == pytest.approx(0.25**19, rel=1e-9)


# --- q* = 0 for ReLU-like activations: χ1 is the limit q → 0⁺ ---------------------------------------

# The derivatives written out here (torch's convention f'(0) = 0 for relu, α at 0 for leaky/prelu is beside
# the point: the limit never sees the single point 0).
KINKED = {
    "relu": (lambda u: 1.0 if u > 0 else 0.0, {}),
    "leaky_relu": (lambda u: 1.0 if u > 0 else 0.01, {}),
    "leaky_relu_0.3": (lambda u: 1.0 if u > 0 else 0.3, {"alpha": 0.3}),
    "prelu": (lambda u: 1.0 if u > 0 else 0.25, {}),
    "prelu_negative": (lambda u: 1.0 if u > 0 else -0.5, {"a": -0.5}),
}


def quad_chi_limit(dphi, sigma_w2: float) -> float:
    """σ_w² E[φ'(√q Z)²] by scipy quadrature on each side of the kink, for q shrinking to 1e-30."""
    from scipy import integrate

    def integrand(z: float, s: float) -> float:
        return dphi(s * z) ** 2 * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    values = []
    for q in (1e-4, 1e-12, 1e-30):
        parts = [integrate.quad(integrand, a, b, args=(math.sqrt(q),), epsabs=1e-14)[0]
                 for a, b in ((-math.inf, 0.0), (0.0, math.inf))]
        values.append(sigma_w2 * sum(parts))
    assert values[-1] == pytest.approx(values[0], rel=1e-12)  # settled: this is the limit
    return values[-1]


@pytest.mark.parametrize("case", sorted(KINKED))
@pytest.mark.parametrize("sigma_w2", [1.0, 1 / 3, 2 / 3])  # --init normal --gain 1; default; xavier at equal widths
def test_chi1_at_q_star_zero_is_the_limit_from_above(case, sigma_w2) -> None:
    dphi, params = KINKED[case]
    name = case.split("_0")[0].removesuffix("_negative")
    act = activations.get(name)
    theory = meanfield.predict(act, act.resolve(params), [LayerSpec(64, 64, sigma_w2, 0.0)] * 20)
    expected = quad_chi_limit(dphi, sigma_w2)
    assert theory.q_star == 0.0  # V(q) = σ_w²(1 + α²)/2 · q < q: the variance flows to 0
    assert theory.chi1 == pytest.approx(expected, rel=1e-12)
    assert theory.per_layer_factor == pytest.approx(math.sqrt(expected), rel=1e-12)
    assert theory.predicted_ratio == pytest.approx(math.sqrt(expected) ** 19, rel=1e-10)
    # the layer-by-layer prediction (q_l > 0 all the way) agrees with the fixed point's
    assert theory.predicted_ratio_layerwise == pytest.approx(theory.predicted_ratio, rel=1e-4)


def test_relu_at_unit_gain_is_a_half_per_layer_not_zero() -> None:
    t = tables("relu")
    assert meanfield.chi(t, 0.0, 1.0) == 0.5 and meanfield.chi(t, 1e-20, 1.0) == 0.5
    assert meanfield.chi(tables("step"), 0.0, 1.0) == 0.0
    assert meanfield.variance_map(tables("relu"), 0.0, 1.0, 0.0) == 0.0
