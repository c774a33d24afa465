"""dlcli.runs.views: the figures the terminal and the page draw (samples sharing columns, the loss envelope)."""

from __future__ import annotations

import numpy as np
import pytest

from dlcli.errors import InputError
from dlcli.runs import views
from dlcli.runs.report import load_report

pytest.importorskip("torch")

from store_maker import make_store  # noqa: E402 - needs torch


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return load_report(str(make_store(tmp_path_factory.mktemp("views") / "run.db", steps=60, every=1)))


def test_samples_share_columns_by_their_mean_or_largest(report):
    whole = views.heat_map(report, "grad_norm")
    assert whole.values.shape == (3, 60) and whole.column_labels[:3] == ["1", "2", "3"]
    binned = views.heat_map(report, "grad_norm", columns=6)
    assert binned.values.shape == (3, 6) and binned.column_labels == ["1", "11", "21", "31", "41", "51"]
    np.testing.assert_allclose(binned.values[:, 0], whole.values[:, :10].mean(axis=1))
    assert "each column 10 samples: their mean" in binned.x_label
    dead = views.heat_map(report, "act_absmax", columns=6)
    np.testing.assert_allclose(dead.values[:, 1], views.heat_map(report, "act_absmax").values[:, 10:20].max(axis=1))


def test_signed_metrics_are_drawn_by_magnitude(report):
    hm = views.heat_map(report, "act_mean")
    assert hm.title.startswith("|act_mean|") and np.all(hm.values[np.isfinite(hm.values)] >= 0)


def test_the_loss_envelope_keeps_every_bins_extremes():
    class Fake:
        def loss_curve(self):
            y = np.ones(10_000)
            y[4321] = 50.0
            y[7000] = np.inf
            return np.arange(1, 10_001), y

    chart = views.loss_chart(Fake(), points=200)
    x, y = chart.series[0].x, chart.series[0].y
    assert len(x) <= 300 and 4322 in x and 50.0 in y and np.isinf(y).any() and np.all(np.diff(x) > 0)


def test_unknown_names_are_input_errors(report):
    with pytest.raises(InputError, match="did you mean 'dead_frac'"):
        views.heat_map(report, "deadfrac")
    with pytest.raises(InputError, match="by must be one of"):
        views.heat_map(report, "grad_norm", by="layer")
