"""The CLI with activations written as formulas, and user activations kept in a temporary XDG_CONFIG_HOME."""

from __future__ import annotations

import json
import os
import stat

import pytest

from conftest import run_cli


@pytest.fixture
def config(tmp_path):
    """A fresh config directory; the env for run_cli and the file it would hold."""
    return {"XDG_CONFIG_HOME": str(tmp_path)}, tmp_path / "dlcli" / "activations.json"


@pytest.fixture
def local_config(tmp_path, monkeypatch):
    """The same for the in-process CLI: XDG_CONFIG_HOME set here, and no activation cached from another test."""
    from dlcli.activations import formula

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(formula, "_CACHE", {})
    return tmp_path / "dlcli" / "activations.json"


def test_plot_draws_a_formula_beside_a_name_with_its_derivative():
    out = run_cli("activations", "plot", "x*sigmoid(1.702*x)", "gelu", "--both", "--width", "60", "--height", "10")
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert "x*sigmoid(1.702*x)" in text and "(x*sigmoid(1.702*x))'" in text and "gelu'(x)" in text


def test_show_prints_the_derivative_as_a_formula_and_measured_facts():
    out = run_cli("activations", "show", "x*sigmoid(b*x)", "-p", "b=1.702", "-f", "json")
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    assert facts["derivative"] == "f'(x) = sigmoid(b*x) + b*x*sigmoid'(b*x)"
    assert facts["params"] == {"b": 1.702} and facts["saturates"] == "left" and not facts["monotonic"]
    assert facts["grad_at_zero"] == 0.5


def test_errors_are_one_line_with_exit_2():
    for args in (["activations", "eval", "x*sigmoid(b*x)", "1"], ["activations", "eval", "x*sigmod(x)", "1"],
                 ["activations", "eval", "__import__('os')", "1"], ["vanish", "--act", "y+1", "--depth", "2"]):
        out = run_cli(*args)
        err = out.stderr.decode()
        assert out.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err, (args, err)
    assert "give it with -p b=VALUE" in run_cli("activations", "eval", "x*sigmoid(b*x)", "1").stderr.decode()


def test_check_proves_a_formula():
    out = run_cli("activations", "check", "x*tanh(softplus(x))", "-f", "csv")
    assert out.returncode == 0, out.stderr
    assert "autograd of the formula in torch + finite differences" in out.stdout.decode()


def test_vanish_splits_act_on_top_level_commas_and_targets_params_by_formula():
    out = run_cli("vanish", "--act", "where(x > 0, x, a*x),max(x, 0),relu", "-p", "where(x > 0, x, a*x):a=0.1",
                  "--depth", "3", "--width", "8", "--seed", "1", "-f", "json")
    assert out.returncode == 0, out.stderr
    configs = [r["config"] for r in json.loads(out.stdout)]
    assert [c["activation"] for c in configs] == ["where(x > 0, x, a*x)", "max(x, 0)", "relu"]
    assert configs[0]["params"] == {"a": 0.1}


def test_define_list_use_and_undefine(config):
    env, path = config
    out = run_cli("activations", "define", "gelu_s", "x*sigmoid(b*x)", "-p", "b=1.702", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(path.read_text()) == {"activations": {"gelu_s": {"formula": "x*sigmoid(b*x)",
                                                                       "params": {"b": 1.702}}}}
    rows = json.loads(run_cli("activations", "list", "-f", "json", env=env).stdout)
    assert [r["name"] for r in rows if r["user"]] == ["gelu_s"]
    value = run_cli("activations", "eval", "gelu_s", "1", env=env).stdout.decode()
    assert float(value) == pytest.approx(1 / (1 + 2.718281828459045 ** -1.702))
    other = run_cli("activations", "eval", "gelu_s", "1", "-p", "b=1", env=env).stdout.decode()
    assert float(other) == pytest.approx(1 / (1 + 2.718281828459045 ** -1))
    assert run_cli("vanish", "--act", "gelu_s,gelu", "--depth", "2", "--width", "4", "--seed", "0", "-f", "json",
                   env=env).returncode == 0
    assert run_cli("activations", "undefine", "gelu_s", env=env).returncode == 0
    assert json.loads(path.read_text()) == {"activations": {}}
    gone = run_cli("activations", "eval", "gelu_s", "1", env=env)
    assert gone.returncode == 2 and "unknown activation 'gelu_s'" in gone.stderr.decode()


def test_bad_definitions_change_nothing_and_permissions_are_kept(cli, local_config):
    path = local_config
    assert cli("activations", "define", "mine", "x*tanh(x)").exit_code == 0
    os.chmod(path, 0o600)
    before = path.read_bytes()
    for args, message in ((["relu", "x"], "is a built-in activation"), (["2x", "x"], "not a valid name"),
                          (["bad", "x*sigmod(x)"], "unknown function 'sigmod'"), (["bad", "y"], "not a function of x"),
                          (["bad", "x*b"], "parameter b of bad is not set"), (["bad", "x", "-p", "b=1"], "takes no")):
        out = cli("activations", "define", *args)
        assert out.exit_code == 2 and message in out.stderr and out.stderr.count("\n") == 1, (args, out.stderr)
        assert path.read_bytes() == before
    assert cli("activations", "define", "mine2", "x*sigmoid(x)").exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_a_corrupt_config_is_one_line_and_left_untouched(cli, local_config):
    path = local_config
    path.parent.mkdir(parents=True)
    for junk in ("{not json", '{"activations": {"a": {"formula": 3}}}', "[]"):
        path.write_text(junk)
        for args in (["define", "a", "x"], ["list"], ["eval", "a", "1"], ["undefine", "a"]):
            out = cli("activations", *args)
            assert out.exit_code == 2 and str(path) in out.stderr and out.stderr.count("\n") == 1, (args, out.stderr)
            assert path.read_text() == junk
    # built-in names and formulas never need the file
    assert cli("activations", "eval", "relu", "1").exit_code == 0
    assert cli("activations", "eval", "x*2", "1").exit_code == 0


def test_show_on_a_large_formula_reports_progress_as_it_goes(cli, monkeypatch):
    """Progress on a terminal from the first second: every stage reports, the grid search a piece at a time."""
    from dlcli.cli import render

    told: list[str] = []
    update = render.Progress.update
    monkeypatch.setattr(render.Progress, "update", lambda self, text: (told.append(text), update(self, text)))
    monkeypatch.setattr(render, "is_terminal", lambda stream: True)
    monkeypatch.setattr(render.Progress, "DELAY", 0.0)
    text = " + ".join(f"tanh({k}*x)*sigmoid(x)" for k in range(1, 80))[:1990].rsplit(" + ", 1)[0]
    result = cli("activations", "show", text, "-f", "json")
    assert result.exit_code == 0, result.stderr
    stages = ["reading the formula", "deciding its facts", "sampling it", *(f"[−20, 20] {k}/8" for k in range(1, 9))]
    for stage in stages:
        assert any(stage in line for line in told), stage
    assert "\ractivations show: reading the formula" in result.stderr  # shown on the terminal, then cleared
    assert json.loads(result.stdout)["name"] == text  # stdout holds the data only
