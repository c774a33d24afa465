"""The default plot shows every curve's shape without colour, and no marker serves two curves."""

from __future__ import annotations

from conftest import run_cli


def test_default_plot_shows_each_curve_in_its_own_marker():
    out = run_cli("activations", "plot", "--width", "60", env={"NO_COLOR": "1"})
    lines = out.stdout.decode().splitlines()
    legend = lines[-1].split("   ")
    markers = [item.split(" ")[0] for item in legend]
    assert [item.split(" ")[1] for item in legend] == ["sigmoid(x)", "tanh(x)", "relu(x)"]
    assert len(set(markers)) == len(markers)
    body = lines[1:-4]
    for marker in markers:
        rows = {i for i, line in enumerate(body) if marker in line[3:]}
        assert len(rows) >= 3, (marker, rows)  # a curve, not a flat line hidden under another


def test_more_curves_than_markers_is_refused():
    names = ["relu", "tanh", "sigmoid", "gelu", "elu", "selu", "silu", "mish", "softplus"]
    out = run_cli("activations", "plot", *names)
    assert out.returncode == 2 and b"at most 8 curves" in out.stderr
    both = run_cli("activations", "plot", *names[:5], "--both")
    assert both.returncode == 2 and b"(got 10)" in both.stderr
