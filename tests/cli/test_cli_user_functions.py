"""An activation kept with `activations define` works everywhere: inside formulas and in `dlcli graph`, end to end
in a temporary config (HOME and XDG_CONFIG_HOME both point into tmp_path: the user's own files are never read)."""

from __future__ import annotations

import json
import math

import pytest

from conftest import run_cli


@pytest.fixture
def env(tmp_path):
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path / "home")}


def swish(u: float, b: float = 1.5) -> float:
    return u / (1 + math.exp(-b * u))


def define(env, *args: str):
    out = run_cli("activations", "define", *args, env=env)
    assert out.returncode == 0, out.stderr
    return out


def test_a_user_activation_works_inside_a_formula(env):
    define(env, "swishb", "x*sigmoid(b*x)", "-p", "b=1.5")
    out = run_cli("activations", "eval", "2*swishb(x) + 1", "0.5", "-1", "-f", "json", env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["value"] == pytest.approx([2 * swish(0.5) + 1, 2 * swish(-1.0) + 1], rel=1e-13)
    h = 1e-6  # the derivative against a central difference of the same function written here
    assert result["derivative"][0] == pytest.approx(2 * (swish(0.5 + h) - swish(0.5 - h)) / (2 * h), rel=1e-7)


def test_a_user_activation_works_in_graph_with_its_parameter(env):
    define(env, "swishb", "x*sigmoid(b*x)", "-p", "b=1.5")
    out = run_cli("graph", "swishb(w*x) + swishb(x, b=3)", "w=2", "x=0.5", "-f", "json", env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["value"] == pytest.approx(swish(1.0) + swish(0.5, b=3.0), rel=1e-13)
    h = 1e-6
    dw = (swish((2 + h) * 0.5) - swish((2 - h) * 0.5)) / (2 * h)
    assert result["gradients"]["w"] == pytest.approx(dw, rel=1e-7)


def test_a_user_activation_may_call_another_but_never_itself(env):
    define(env, "swishb", "x*sigmoid(b*x)", "-p", "b=1.5")
    define(env, "twice", "2*swishb(x)")
    out = run_cli("activations", "eval", "twice", "1", env=env)
    assert float(out.stdout) == pytest.approx(2 * swish(1.0), rel=1e-13)
    refused = run_cli("activations", "define", "swishb", "twice(x)", env=env)
    assert refused.returncode == 2 and "calls itself" in refused.stderr.decode()
    kept = run_cli("activations", "undefine", "swishb", env=env)  # twice needs it
    assert kept.returncode == 2 and "twice calls swishb" in kept.stderr.decode()
    assert float(run_cli("activations", "eval", "twice", "1", env=env).stdout) == pytest.approx(2 * swish(1.0))


def test_a_name_another_activation_uses_as_a_parameter_is_refused(env):
    define(env, "swishb", "x*sigmoid(b*x)", "-p", "b=1.5")
    out = run_cli("activations", "define", "b", "x", env=env)
    assert out.returncode == 2 and "parameter of your activation swishb" in out.stderr.decode()
