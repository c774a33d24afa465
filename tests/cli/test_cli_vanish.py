"""`dlcli vanish` on the command line: the JSON contract, formats, errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from conftest import run_cli

LAYER_KEYS = {"layer", "width", "weight_grad_norm", "grad_rms", "act_mean", "act_std", "saturated_frac", "dead_frac"}
THEORY_KEYS = {"q_star", "chi1", "per_layer_factor", "predicted_ratio", "naive_bound"}
CONFIG_KEYS = {"activation", "params", "depth", "widths", "batch", "init", "gain", "bias_std", "loss", "seed",
               "dtype", "engine", "device"}


def test_json_contract_for_the_notes_example(cli) -> None:
    result = cli("vanish", "--depth", "20", "--act", "sigmoid", "--width", "64", "--seed", "3", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert CONFIG_KEYS <= set(doc["config"])
    assert doc["config"]["seed"] == 3 and doc["config"]["init"] == "default" and doc["config"]["loss"] == "projection"
    assert [layer["layer"] for layer in doc["layers"]] == list(range(1, 21))
    assert all(LAYER_KEYS <= set(layer) for layer in doc["layers"])
    assert THEORY_KEYS <= set(doc["theory"])
    assert doc["verdict"] == "vanishing"
    ratio = doc["layers"][0]["weight_grad_norm"] / doc["layers"][-1]["weight_grad_norm"]
    assert doc["gradient_ratio"] == pytest.approx(ratio, rel=1e-15)
    assert doc["theory"]["naive_bound"] == pytest.approx(0.25**19)


def test_several_activations_give_a_list_on_the_same_weights(cli) -> None:
    result = cli("vanish", "-a", "sigmoid,tanh,relu", "-d", "5", "-w", "16", "-b", "4", "--seed", "1", "-f", "json")
    assert result.exit_code == 0, result.output
    docs = json.loads(result.stdout)
    assert [d["config"]["activation"] for d in docs] == ["sigmoid", "tanh", "relu"]
    assert len({d["config"]["seed"] for d in docs}) == 1


def test_same_seed_same_output_and_the_seed_is_shown(cli) -> None:
    args = ("vanish", "-d", "4", "-w", "16", "-b", "4", "-f", "json")
    first = json.loads(cli(*args).stdout)
    again = cli(*args, "--seed", str(first["config"]["seed"]))
    assert json.loads(again.stdout) == first
    csv_run = cli("vanish", "-d", "3", "-w", "8", "-f", "csv")
    assert "seed: " in csv_run.stderr


def test_critical_gain_run_is_healthy(cli) -> None:
    doc = json.loads(cli("vanish", "-a", "tanh", "--init", "normal", "--gain", "1", "-d", "10", "-w", "256",
                         "--seed", "2", "-f", "json").stdout)
    assert doc["theory"]["chi1"] == pytest.approx(1.0, abs=1e-5)
    assert doc["theory"]["critical_gain"] == pytest.approx(1.0, rel=1e-3)
    assert doc["verdict"] == "healthy"


def test_csv_has_every_layer_with_round_trip_floats(cli) -> None:
    result = cli("vanish", "-a", "tanh,relu", "-d", "3", "-w", "8", "-b", "4", "--seed", "5", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["activation"], r["layer"]) for r in rows] == [(a, str(i)) for a in ("tanh", "relu") for i in (1, 2, 3)]
    doc = json.loads(cli("vanish", "-a", "tanh,relu", "-d", "3", "-w", "8", "-b", "4", "--seed", "5",
                         "-f", "json").stdout)
    assert float(rows[0]["grad_rms"]) == doc[0]["layers"][0]["grad_rms"]   # shortest round-trip text


def test_plain_output_has_a_header_rows_and_comment_summaries(cli) -> None:
    lines = cli("vanish", "-d", "3", "-w", "8", "--seed", "1", "-f", "plain").stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["activation", "layer", "width"]
    assert len(lines) == 1 + 3 + 1 and lines[-1].startswith("# sigmoid: verdict ")


def test_layers_option_follows_the_notes_network(cli) -> None:
    doc = json.loads(cli("vanish", "--layers", "784,128,10", "-a", "relu", "--seed", "1", "-f", "json").stdout)
    assert doc["config"]["widths"] == [784, 128, 10]
    assert [layer["width"] for layer in doc["layers"]] == [128, 10]


def test_scoped_parameters(cli) -> None:
    docs = json.loads(cli("vanish", "-a", "elu,leaky_relu", "-p", "elu:alpha=0.5", "-p", "leaky_relu:alpha=0.2",
                          "-d", "2", "-w", "8", "--seed", "1", "-f", "json").stdout)
    assert [d["config"]["params"]["alpha"] for d in docs] == [0.5, 0.2]


@pytest.mark.parametrize(("args", "message"), [
    (["--depth", "0"], "--depth must be at least 1"),
    (["--width", "0"], "--width must be at least 1"),
    (["--layers", "784,x,10"], "--layers expects comma-separated integers"),
    (["--layers", "784"], "--layers needs at least two widths"),
    (["--init", "glorot"], "unknown --init 'glorot'"),
    (["--act", "sigmoid,nope"], "unknown activation 'nope'"),
    (["--act", "softmax"], "acts on a whole vector"),
    (["-p", "alpha"], "--param expects key=value"),
    (["--engine", "numpy", "--dtype", "bfloat16"], "numpy has no bfloat16"),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, message) -> None:
    result = cli("vanish", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cuda_without_a_gpu_is_exit_2(cli) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = cli("vanish", "--device", "cuda", "-d", "2", "-w", "8")
    assert result.exit_code == 2
    assert "no CUDA GPU" in result.stderr


def test_too_big_is_refused_before_allocating_with_the_estimate() -> None:
    proc = run_cli("vanish", "--width", "300000", "--depth", "1000")
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "needs about" in err and "TiB" in err and "shrink --width" in err
    assert len(err.strip().splitlines()) == 1


def test_piped_table_has_no_ansi_and_shows_theory_and_chart() -> None:
    proc = run_cli("vanish", "-d", "20", "-w", "64", "-b", "8", "--seed", "4", "-f", "table")
    out = proc.stdout.decode()
    assert proc.returncode == 0 and "\x1b[" not in out
    assert "VANISHING" in out and "√χ1" in out and "grad_rms per layer" in out
    assert "--init normal --gain" in out  # the advice names the gain that reaches χ1 = 1


def test_piped_default_is_plain() -> None:
    proc = run_cli("vanish", "-d", "2", "-w", "8", "--seed", "1")
    assert proc.stdout.decode().startswith("activation\tlayer\t")


def test_torch_engine_from_the_cli_matches_numpy(cli) -> None:
    base = ("vanish", "-a", "tanh", "-d", "4", "-w", "16", "-b", "4", "--seed", "8", "-f", "json")
    a, b = (json.loads(cli(*base, "--engine", e).stdout) for e in ("numpy", "torch"))
    for x, y in zip(a["layers"], b["layers"], strict=True):
        assert math.isclose(x["grad_rms"], y["grad_rms"], rel_tol=1e-12)
    assert b["config"]["engine"] == "torch"


def test_numpy_engine_never_imports_torch() -> None:
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys; from typer.testing import CliRunner; from dlcli.cli import app; "
            "r = CliRunner().invoke(app, ['vanish', '-d', '3', '-w', '8', '-f', 'json']); "
            "assert r.exit_code == 0, r.output; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.stdout.strip() == "False", out.stderr
