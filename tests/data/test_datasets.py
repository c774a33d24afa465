"""load_dataset: the bundled digits, .npz/.npy files, and one InputError line for every bad file."""

from __future__ import annotations

import numpy as np
import pytest

from dlcli.data import Dataset, load_dataset
from dlcli.errors import InputError


def test_digits_is_sklearns_bundled_set():
    sklearn = pytest.importorskip("sklearn.datasets")
    d = load_dataset("digits")
    ref = sklearn.load_digits()
    assert d.x.shape == (1797, 64) and d.x.dtype == np.float64
    assert d.y.dtype == np.int64 and np.array_equal(d.y, ref.target) and np.array_equal(d.x, ref.data)
    assert d.classes == 10 and d.name == "digits"


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(InputError, match=r"pip install -e '\.\[data\]'"):
        load_dataset("digits")


def test_npz_with_labels_and_test_split(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, x=np.arange(12, dtype=np.float32).reshape(3, 2, 2), y=np.array([0, 2, 1], dtype=np.int32),
             x_test=np.ones((2, 2, 2)), y_test=np.array([4, 0]))
    d = load_dataset(str(f))
    assert d.x.shape == (3, 2, 2) and d.x.dtype == np.float64 and d.x[2, 1, 1] == 11
    assert d.y.dtype == np.int64 and list(d.y) == [0, 2, 1] and d.classes == 5
    assert d.x_test.shape == (2, 2, 2) and list(d.y_test) == [4, 0]


def test_float_targets_have_no_classes_and_npy_is_x_only(tmp_path):
    np.savez(tmp_path / "r.npz", x=np.zeros((4, 3)), y=np.linspace(0, 1, 8).reshape(4, 2))
    d = load_dataset(str(tmp_path / "r.npz"))
    assert d.y.shape == (4, 2) and d.y.dtype == np.float64 and d.classes is None
    np.save(tmp_path / "x.npy", np.ones((5, 7)))
    d = load_dataset(str(tmp_path / "x.npy"))
    assert d.x.shape == (5, 7) and d.y is None and d.classes is None
    assert Dataset("n", np.zeros((1, 1)), None).classes is None


@pytest.mark.parametrize("arrays, message", [
    ({"y": np.zeros(3, dtype=np.int64)}, "no array named 'x'"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(4, dtype=np.int64)}, "'y' has 4 rows, 'x' has 3"),
    ({"x": np.zeros((3, 2)), "y": np.array(["a", "b", "c"])}, "integer labels or float targets"),
    ({"x": np.zeros((3, 2)), "y": np.array([0, -1, 1])}, "must be 0, 1, 2"),
    ({"x": np.array([[np.nan]])}, "NaN"),
    ({"x": np.zeros((0, 2))}, "at least one example"),
    ({"x": np.array(["a"])}, "real numbers"),
])
def test_bad_npz_is_one_line(tmp_path, arrays, message):
    f = tmp_path / "bad.npz"
    np.savez(f, **arrays)
    with pytest.raises(InputError, match=message) as info:
        load_dataset(str(f))
    assert "\n" not in str(info.value)


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    f = tmp_path / "obj.npy"
    np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled"):
        load_dataset(str(f))
    g = tmp_path / "obj.npz"
    np.savez(g, x=np.array([[1.0, None]], dtype=object))
    with pytest.raises(InputError, match="pickled"):
        load_dataset(str(g))


def test_missing_unknown_and_corrupt_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_dataset(str(tmp_path / "none.npz"))
    with pytest.raises(InputError, match="unknown data set"):
        load_dataset("mnist")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable numpy file"):
        load_dataset(str(tmp_path / "junk.npz"))
