"""The one preprocessing rule `train` and `vanish --model` share: the inputs x standardised per feature by the mean
and standard deviation of the examples `train` trains on (its seeded stratified split, or all of x where the data
brings x_test); features constant there are only centred. Named inputs (input_ids, ...) stay as given."""

from __future__ import annotations

import numpy as np

TEST_SPLIT = 0.2   # train's default --test-split
SPLIT_STREAM = 10  # the split's seed stream, beside vanish's (0: inputs, 1: loss head, 2: weights) and train's order


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: round(fraction × count) of each class to the test side, chosen by the seed.

    A class of one example stays on the training side; every other class keeps at least one example on each.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_STREAM,)))
    train, test = [], []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        members = members[rng.permutation(members.size)]
        k = 0 if members.size < 2 else min(max(round(test_fraction * members.size), 1), members.size - 1)
        test.append(members[:k])
        train.append(members[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def split_indices(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: stratified for one integer label per example, else a seeded share at random."""
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return stratified_split(y, test_fraction, seed)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_STREAM,)))
    order = rng.permutation(len(y))
    k = min(max(round(test_fraction * len(y)), 1), len(y) - 1)
    return np.sort(order[k:]), np.sort(order[:k])


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Both arrays centred and scaled per feature by the training split's mean and standard deviation.

    Features constant on the training split are only centred. Returns (x_train, x_test, constant features).
    """
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    constant = std == 0
    scale = np.where(constant, 1.0, std)
    return (x_train - mean) / scale, (x_test - mean) / scale, int(np.count_nonzero(constant))


def standardize_as_train(arrays: dict[str, np.ndarray], test_split: float, seed: int) -> dict[str, np.ndarray]:
    """`arrays` with x (float64) standardised as `train` does for the same seed and --test-split: by the
    statistics of its training examples (all of x where x_test is given). Without x, the arrays as they are."""
    if "x" not in arrays:
        return arrays
    x = np.asarray(arrays["x"], dtype=np.float64)
    y = arrays.get("y")
    if "x_test" in arrays or len(x) < 2:
        rows = np.arange(len(x))
    else:
        labels = np.asarray(y) if y is not None and len(y) == len(x) else np.zeros(0, dtype=np.float64)
        rows = split_indices(labels if labels.size else np.zeros(len(x)), test_split, seed)[0]
    _, x, _ = standardize(x[rows], x)
    return {**arrays, "x": x}
