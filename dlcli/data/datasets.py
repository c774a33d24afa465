"""Load a data set by name ("digits") or from a file (.npz with x, y, x_test, y_test; .npy with x only)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcli.errors import InputError, count
from dlcli.extras import missing

DATASETS = ("digits",)


@dataclass(frozen=True)
class Dataset:
    """Inputs `x` (n, ...) float64, targets `y` (n,) int64 labels or float targets, optional test split."""

    name: str
    x: np.ndarray
    y: np.ndarray | None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def classes(self) -> int | None:
        """The number of classes (max label + 1) for integer labels, else None."""
        labels = [a for a in (self.y, self.y_test) if a is not None and a.size]
        if not labels or not all(np.issubdtype(a.dtype, np.integer) for a in labels):
            return None
        return int(max(int(a.max()) for a in labels)) + 1


def load_dataset(spec: str) -> Dataset:
    """`digits` (scikit-learn's bundled 8x8 digits), `FILE.npz` or `FILE.npy`; any bad input raises InputError."""
    if spec.lower() == "digits":
        return _digits()
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy"):
        raise InputError(f"unknown data set '{spec}'; give 'digits', a FILE.npz (x, optional y) or a FILE.npy (x)")
    arrays = load_arrays(spec)
    if "x" not in arrays:
        names = ", ".join(sorted(arrays)) or "none"
        raise InputError(f"{spec}: no array named 'x' (found: {names})")
    x = _inputs(arrays["x"], spec, "x")
    y = _targets(arrays.get("y"), len(x), spec, "y", "x")
    x_test = _inputs(arrays["x_test"], spec, "x_test") if "x_test" in arrays else None
    y_test = _targets(arrays.get("y_test"), None if x_test is None else len(x_test), spec, "y_test", "x_test")
    if x_test is not None and x_test.shape[1:] != x.shape[1:]:
        raise InputError(f"{spec}: x_test examples have shape {x_test.shape[1:]}, x examples {x.shape[1:]}")
    if y is not None and y_test is not None and y.dtype != y_test.dtype:
        raise InputError(f"{spec}: y is {'labels' if y.dtype == np.int64 else 'targets'}, y_test is not")
    return Dataset(path.name, x, y, x_test, y_test)


def load_arrays(spec: str) -> dict[str, np.ndarray]:
    """Every array of a FILE.npz (a FILE.npy as `x`) with its own dtype, checked numeric, finite and non-empty."""
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy"):
        raise InputError(f"unknown data set '{spec}'; give 'digits', a FILE.npz (x, optional y) or a FILE.npy (x)")
    if not path.is_file():
        raise InputError(f"data file not found: {spec}")
    arrays = _read(path, suffix)
    for name, a in arrays.items():
        if a.ndim < 1 or len(a) == 0:
            raise InputError(f"{spec}: '{name}' must hold at least one example (shape {a.shape})")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
            kind = "integer labels or float targets" if name in ("y", "labels", "y_test") else "real numbers"
            raise InputError(f"{spec}: '{name}' must be {kind}, not {a.dtype}")
        if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            raise InputError(f"{spec}: '{name}' holds NaN or infinite values")
    return arrays


def _digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise missing("the 'digits' data set", "scikit-learn", "data") from None
    bunch = load_digits()
    return Dataset("digits", np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64))


def _read(path: Path, suffix: str) -> dict[str, np.ndarray]:
    with path.open("rb") as f:
        magic = f.read(6)
    if magic[:1] == b"\x80":
        raise InputError(f"{path}: a Python pickle, refused; only plain numeric .npy/.npz arrays are read")
    if magic != b"\x93NUMPY" and magic[:2] != b"PK":
        raise InputError(f"{path}: not a readable numpy file (neither .npy nor .npz data)")
    try:
        if suffix == ".npy":
            return {"x": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise InputError(f"{path}: holds Python objects (pickled); only plain numeric arrays are read") from None
        raise InputError(f"{path}: not a readable numpy file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable numpy file ({exc})") from None


def _inputs(a: np.ndarray, spec: str, name: str) -> np.ndarray:
    if a.ndim < 1 or len(a) == 0:
        raise InputError(f"{spec}: '{name}' must hold at least one example (shape {a.shape})")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.iscomplexobj(a):
        raise InputError(f"{spec}: '{name}' must be real numbers, not {a.dtype}")
    x = a.astype(np.float64)
    if not np.isfinite(x).all():
        raise InputError(f"{spec}: '{name}' holds NaN or infinite values")
    return x.reshape(len(x), 1) if x.ndim == 1 else x


def _targets(a: np.ndarray | None, n: int | None, spec: str, name: str, of: str) -> np.ndarray | None:
    if a is None:
        return None
    if n is None:
        raise InputError(f"{spec}: '{name}' given without '{of}'")
    if a.ndim < 1 or len(a) != n:
        raise InputError(f"{spec}: '{name}' has {count(len(a) if a.ndim else 0, 'row')}, '{of}' has {n}")
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        if a.ndim != 1:
            raise InputError(f"{spec}: integer labels '{name}' must be one per example, shape ({n},), not {a.shape}")
        if a.min() < 0:
            raise InputError(f"{spec}: labels '{name}' must be 0, 1, 2, ...; found {int(a.min())}")
        return a.astype(np.int64)
    if not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"{spec}: '{name}' must be integer labels or float targets, not {a.dtype}")
    y = a.astype(np.float64)
    if not np.isfinite(y).all():
        raise InputError(f"{spec}: '{name}' holds NaN or infinite values")
    return y
