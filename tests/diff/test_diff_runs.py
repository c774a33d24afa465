"""`dlcli diff` between recorded runs: the score's rules against numbers worked out by hand, a run against itself
and against a rerun of itself (nothing differs), and against the same run with one layer's learning rate ×100
from step 21 (that layer first, from step 21, by log10(100) decades; nothing differs before)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlcli.diff import runs as drun
from dlcli.errors import InputError

pytest.importorskip("torch")

from diff_maker import LINEARS, record  # noqa: E402 - needs torch


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diff_runs")
    return {"a": record(folder / "a.db"), "again": record(folder / "again.db"),
            "lr100": record(folder / "lr100.db", group=1, scale=100.0, from_step=21)}


def test_the_score_of_one_cell_is_the_decades_between_the_runs():
    a = np.array([[1.0, 0.0, 2.0, np.nan, 3.0, 1e-9]])
    b = np.array([[10.0, 5.0, 2.0, np.nan, np.inf, 1e-12]])
    d = drun.differences("grad_norm", a, b)[0]
    floor = drun.FLOOR * 10.0                       # 1e-6 of the step's largest finite value, both runs
    assert d[0] == pytest.approx(1.0, abs=1e-15)    # ×10 is one decade
    assert d[1] == pytest.approx(math.log10(5.0 / floor), abs=1e-12)   # a zero counts as the floor
    assert d[2] == 0.0 and d[3] == 0.0              # equal; NaN in both
    assert d[4] == drun.NONFINITE                   # finite against inf
    assert d[5] == 0.0                              # both under the floor: the same
    shares = drun.differences("dead_frac", np.array([[0.0, 0.5, 1.0]]), np.array([[0.1, 0.5, 0.0]]))[0]
    assert shares[0] == pytest.approx(math.log10(0.2 / 0.1), abs=1e-15)
    assert shares[1] == 0.0 and shares[2] == pytest.approx(math.log10(1.1 / 0.1), abs=1e-15)


def test_a_run_against_itself_is_empty(stores):
    d = drun.load_diff(str(stores["a"]), str(stores["a"]), tolerance=0.0)
    assert [x.score for x in d.layers] == [0.0] * len(LINEARS) and d.differing == []
    assert all(x.metric is None for x in d.layers)
    assert all(np.all(np.nan_to_num(c) == 0.0) for c in d.cells.values())
    assert d.loss_step is None and d.scalars == [] and d.config == []
    assert d.modules == list(LINEARS) and d.steps.tolist() == list(range(1, 40, 5))


def test_a_rerun_with_the_same_seed_and_data_is_empty(stores):
    d = drun.load_diff(str(stores["a"]), str(stores["again"]), tolerance=0.0)
    assert d.differing == [] and d.loss_step is None


def test_one_layers_learning_rate_times_100_ranks_that_layer_first_from_that_step(stores):
    d = drun.load_diff(str(stores["a"]), str(stores["lr100"]))
    top = d.layers[0]
    assert (top.name, top.metric, top.top.step) == ("2", "update_ratio", 21)
    assert top.top.peak_step == 21 and top.score == pytest.approx(math.log10(100.0), abs=1e-5)
    assert top.score > 2 * d.layers[1].score
    before = d.steps < 21               # the runs are the same run until the change: no difference at all
    for metric, cells in d.cells.items():
        assert np.all(np.nan_to_num(cells[:, before]) == 0.0), metric
    for other in d.layers[1:]:          # the others change only once layer 2's larger step reached them
        assert all(m.step is None or m.step > 21 for m in other.metrics.values()), other
    assert d.loss_step == 22
    assert d.scalars == [{"name": "lr/1", "step": 21, "a": 0.01, "b": pytest.approx(1.0)}]


def test_the_tolerance_hides_what_is_smaller(stores):
    d = drun.load_diff(str(stores["a"]), str(stores["lr100"]), tolerance=2.5)
    assert d.differing == []


def test_runs_that_share_no_module_or_no_step_are_refused(stores, tmp_path):
    import torch

    import dlcli

    other = torch.nn.Sequential()
    other.add_module("fc", torch.nn.Linear(3, 2))
    path = str(tmp_path / "other.db")
    opt = torch.optim.SGD(other.parameters(), lr=0.1)
    with dlcli.watch(other, opt, every=5, log=path):
        other(torch.ones(1, 3)).sum().backward()
        opt.step()
    with pytest.raises(InputError, match="share no module"):
        drun.load_diff(str(stores["a"]), path)
    empty = tmp_path / "empty.db"
    with dlcli.watch(torch.nn.Sequential(torch.nn.Linear(10, 32)), None, log=str(empty)):
        pass
    with pytest.raises(InputError, match="share no sampled step"):
        drun.load_diff(str(stores["a"]), str(empty))


def synthetic(path: str, names: list[str], steps: list[int], grad: dict[str, list[float]]):
    """A Run built by hand: `grad[name]` is that module's grad_norm at each step; every other metric 1."""
    from dlcli.runs.report import report_run
    from dlcli.runs.run import Module, Run
    from dlcli.runs.store import METRICS

    values = {m: np.ones((len(steps), len(names))) for m in METRICS}
    values["dead_frac"][:] = 0.0
    for j, name in enumerate(names):
        values["grad_norm"][:, j] = grad[name]
    known = {m: np.ones((len(steps), len(names)), dtype=bool) for m in METRICS}
    run = Run(path, {}, "finished", [Module(n, "Linear", n, 10, None) for n in names], np.array(steps), values, known,
              {}, {}, [], [])
    return report_run(run)


def test_runs_align_by_module_name_and_sampled_step():
    a = synthetic("a.db", ["x", "y"], [1, 11, 21], {"x": [1.0, 1.0, 1.0], "y": [2.0, 4.0, 8.0]})
    b = synthetic("b.db", ["y", "z"], [1, 21, 41], {"y": [2.0, 80.0, 1.0], "z": [5.0, 5.0, 5.0]})
    d = drun.diff_runs(a, b)
    assert (d.modules, d.steps.tolist(), d.only_a, d.only_b) == (["y"], [1, 21], ["x"], ["z"])
    (y,) = d.layers
    assert (y.metric, y.top.step, y.top.a, y.top.b) == ("grad_norm", 21, 8.0, 80.0)
    assert y.score == pytest.approx(1.0, abs=1e-15)         # step 11 (4 against nothing) is not aligned
