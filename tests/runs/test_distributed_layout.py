"""The flat buffer of a distributed sample without a process group: two ranks' buffers packed, summed as the
all-reduce sums them, and read back: sums add, maxima are the ranks' max, a unit is dead only where no rank saw
it active, the first non-finite step is the earliest."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from dlcli.runs import distributed as ranks  # noqa: E402


def test_two_ranks_summed_read_back_as_the_global_figures():
    layout = ranks.Layout(rows=2, units=[(0, 3)], params=4, world_size=2)
    a_added = np.arange(24, dtype=float).reshape(2, 12)
    b_added = np.ones((2, 12))
    a = ranks.pack(torch, layout, 0, a_added, [torch.tensor([True, False, False])], torch.tensor([0, 1, 0, 0]),
                   np.array([[1.0, 5.0], [2.0, 0.5]]), -1)
    b = ranks.pack(torch, layout, 1, b_added, [torch.tensor([False, False, True])], torch.tensor([0, 0, 0, 1]),
                   np.array([[3.0, 4.0], [1.0, 7.0]]), 9)
    assert layout.bytes == 8 * (24 + 3 + 4 + 2 * 5) == a.numel() * 8
    got = ranks.unpack(layout, (a + b).numpy())
    np.testing.assert_array_equal(got.added, a_added + b_added)
    assert got.dead == {0: 1}                       # only the middle unit: inactive on both ranks
    assert got.bad.tolist() == [False, True, False, True]
    np.testing.assert_array_equal(got.maxed, [[3.0, 5.0], [2.0, 7.0]])
    assert got.first_step == 9


def test_no_rank_non_finite_reads_as_none():
    layout = ranks.Layout(rows=1, units=[], params=1, world_size=3)
    bufs = [ranks.pack(torch, layout, r, np.zeros((1, 12)), [], torch.zeros(1), np.zeros((1, 2)), -1)
            for r in range(3)]
    assert ranks.unpack(layout, sum(bufs).numpy()).first_step == -1


def test_a_replicated_tensor_counts_once_over_the_ranks():
    t = torch.tensor([3.0, 4.0], dtype=torch.float64)
    total, squares = ranks.shares(torch, [t], world_size=4)
    assert 4 * float(squares) == pytest.approx(25.0) and 4 * float(total) == pytest.approx(7.0)
    assert ranks.replication(t, 4) == 4


def test_fsdp1_is_refused_in_one_line():
    """FSDP1 needs an accelerator here, so its two marks are made by hand: the wrapper's class name, and the flag
    it sets on each parameter it flattened (Lightning's strategy="fsdp" hands the callback the module inside)."""
    import dlcli
    from dlcli.errors import InputError

    class FullyShardedDataParallel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = torch.nn.Linear(2, 2)

    with pytest.raises(InputError, match="FSDP1"):
        dlcli.watch(FullyShardedDataParallel())
    flat = torch.nn.Linear(2, 2)
    flat.weight._fsdp_flattened = True
    with pytest.raises(InputError, match="FSDP1"):
        dlcli.watch(flat)
