"""The data as training needs it: a seeded stratified split, standardisation on the training split, batch order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.data.preprocess import split_indices, standardize, stratified_split
from dlcli.errors import InputError, count

__all__ = ["Prepared", "PreparedInputs", "batch_order", "prepare", "split_indices", "standardize",
           "stratified_split"]

_ORDER_STREAM = 11  # the batch order's seed stream, beside the split's (dlcli.data.preprocess) and vanish's


@dataclass(frozen=True)
class Prepared:
    """Training and test arrays (x float64, y int64 labels 0..classes−1) and what was done to get them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    split: str            # "given" (the file's x_test/y_test) or "stratified 0.2"
    standardized: bool
    constant_features: int  # features with no spread on the training split (left centred, not scaled)

    def as_dict(self) -> dict[str, object]:
        return {"train": int(len(self.y_train)), "test": int(len(self.y_test)),
                "features": int(np.prod(self.x_train.shape[1:])), "classes": self.classes, "split": self.split,
                "standardized": self.standardized, "constant_features": self.constant_features}


def batch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order epoch `epoch` (1-based) visits the n training examples in."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_ORDER_STREAM, epoch))).permutation(n)


def _labels(y: np.ndarray | None, name: str, loss: str) -> np.ndarray:
    if y is None:
        raise InputError(f"training needs labels: the data has no '{name}'")
    if not np.issubdtype(y.dtype, np.integer):
        if y.ndim == 1 and np.isfinite(y).all() and np.array_equal(y, np.round(y)):
            y = y.astype(np.int64)
        else:
            raise InputError(f"--loss {loss} needs integer class labels 0, 1, 2, ...; '{name}' holds non-integers")
    if y.ndim != 1:
        raise InputError(f"'{name}' must hold one label per example, shape (n,), not {y.shape}")
    if y.size and int(y.min()) < 0:
        raise InputError(f"labels '{name}' must be 0, 1, 2, ...; found {int(y.min())}")
    return y.astype(np.int64)


def prepare(x: np.ndarray, y: np.ndarray | None, x_test: np.ndarray | None, y_test: np.ndarray | None, *,
            test_split: float, standardize_inputs: bool, seed: int, loss: str = "cross_entropy") -> Prepared:
    """Validate labels, split (unless the data brings its test arrays) and standardise."""
    y = _labels(y, "y", loss)
    if len(x) != len(y):
        raise InputError(f"x has {count(len(x), 'example')} but y has {len(y)}")
    if x_test is not None:
        y_test = _labels(y_test, "y_test", loss)
        if len(x_test) != len(y_test):
            raise InputError(f"x_test has {count(len(x_test), 'example')} but y_test has {len(y_test)}")
        x_tr, y_tr, x_te, y_te, split = x, y, x_test, y_test, "given"
    else:
        train_idx, test_idx = stratified_split(y, test_split, seed)
        if test_idx.size == 0:
            raise InputError(f"--test-split {test_split:g} leaves no test examples out of {len(y)}")
        x_tr, y_tr, x_te, y_te = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
        split = f"stratified {test_split:g}"
    classes = int(max(y_tr.max(), y_te.max())) + 1
    x_tr = np.asarray(x_tr, dtype=np.float64)
    x_te = np.asarray(x_te, dtype=np.float64)
    constant = 0
    if standardize_inputs:
        x_tr, x_te, constant = standardize(x_tr, x_te)
    return Prepared(x_tr, y_tr, x_te, y_te, classes, split, standardize_inputs, constant)


@dataclass(frozen=True)
class PreparedInputs:
    """A --model run's arrays as batches (numpy, every input and the targets): training and test examples."""

    train: Any
    test: Any
    classes: int | None   # one integer label per example: how many classes; else None (no accuracy)
    split: str

    def as_dict(self) -> dict[str, object]:
        return {"train": len(self.train), "test": len(self.test), "features": self.train.shapes(),
                "classes": self.classes, "split": self.split, "standardized": False, "constant_features": 0}
