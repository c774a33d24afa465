"""--phase: the critical line against an independent quadrature, the JSON contract, and no torch on that path."""

from __future__ import annotations

import json
import math
import sys

import pytest
from scipy import integrate, optimize

from dlcli import activations
from dlcli.vanish.phase import phase_diagram


def _gauss(g, q: float) -> float:
    s = math.sqrt(q)
    return integrate.quad(lambda z: g(s * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -14, 14,
                          epsabs=1e-15, limit=200)[0]


def tanh_critical_sigma_w2(sigma_b2: float) -> float:
    """σ_w² with χ1 = σ_w² E[tanh'(√q* Z)²] = 1 at q* = σ_w² E[tanh(√q* Z)²] + σ_b² (scipy, independent)."""
    def chi_minus_one(q: float) -> float:
        w = (q - sigma_b2) / _gauss(lambda u: math.tanh(u) ** 2, q)
        return w * _gauss(lambda u: 1 / math.cosh(u) ** 4, q) - 1

    q = optimize.brentq(chi_minus_one, sigma_b2 * 1.0001, 10.0, xtol=1e-14)
    return (q - sigma_b2) / _gauss(lambda u: math.tanh(u) ** 2, q)


def test_critical_sigma_w2_of_tanh_at_sigma_b2_005_matches_quadrature() -> None:
    d = phase_diagram(activations.get("tanh"), {}, rows=21)
    row = [round(b, 10) for b in d.sigma_b2].index(0.05)
    assert d.critical[row] == pytest.approx(tanh_critical_sigma_w2(0.05), rel=1e-5)
    assert d.critical[0] == pytest.approx(1.0, rel=1e-6)  # σ_b = 0: the critical point is σ_w = 1
    # the grid's χ1 changes side at the critical line
    j = int((d.critical[row] - d.sigma_w2[0]) / (d.sigma_w2[1] - d.sigma_w2[0]))
    assert d.chi1[row, j] < 1 < d.chi1[row, j + 1]


def test_relu_critical_line_is_sigma_w2_two() -> None:
    d = phase_diagram(activations.get("relu"), {}, rows=6)
    assert all(c == pytest.approx(2.0, rel=1e-6) for c in d.critical)


def test_phase_json_contract_and_no_torch() -> None:
    probe = ("import sys, runpy; sys.argv = ['dlcli', 'vanish', '--phase', '--act', 'tanh', '--init', 'normal', "
             "'--gain', '1.2', '--bias-std', '0.3', '-f', 'json']\n"
             "try:\n    runpy.run_module('dlcli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    import subprocess

    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          cwd=str(__import__("conftest").ROOT))
    assert proc.returncode == 0, proc.stderr
    assert "NO-TORCH" in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["activation"] == "tanh"
    line = doc["critical_line"]
    assert line[0]["sigma_b2"] == 0.0 and line[-1]["sigma_b2"] >= 1.0
    assert {"sigma_b2", "sigma_w2"} <= set(line[0])
    assert doc["point"]["sigma_w2"] == pytest.approx(1.44) and doc["point"]["sigma_b2"] == pytest.approx(0.09)
    assert len(doc["grid"]["chi1"]) == len(doc["grid"]["sigma_b2"])


def test_phase_svg_and_errors(tmp_path, cli) -> None:
    out = tmp_path / "phase.svg"
    result = cli("vanish", "--phase", "--act", "relu", "--svg", str(out), "-f", "plain")
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<svg") and "polyline" in out.read_text()
    bad = cli("vanish", "--act", "relu", "--svg", str(out))
    assert bad.exit_code == 2 and "--svg goes with --phase" in bad.stderr
    two = cli("vanish", "--phase", "--act", "relu,tanh")
    assert two.exit_code == 2 and "one activation" in two.stderr
