"""Run small matrix products on one BLAS thread: OpenBLAS's busy-waiting workers beside other work cost far more
than they gain (docs/vanish.md, Measurement history). It calls OpenBLAS's own setter through ctypes, as
threadpoolctl does; where that library or symbol is not found (another BLAS, another OS) nothing changes.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager

_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")
_lib: tuple[object, object] | None | bool = False  # False: not looked up yet


def _openblas() -> tuple[object, object] | None:
    """(setter, getter) of the OpenBLAS numpy loaded, or None."""
    global _lib
    if _lib is not False:
        return _lib  # type: ignore[return-value]
    _lib = None
    import numpy

    base = os.path.dirname(os.path.dirname(numpy.__file__))
    for path in glob.glob(os.path.join(base, "numpy.libs", "*openblas*")) + glob.glob(
            os.path.join(base, "numpy", ".dylibs", "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, s) for s in _SETTERS if hasattr(lib, s)), None)
        getter = next((getattr(lib, g) for g in _GETTERS if hasattr(lib, g)), None)
        if setter is not None and getter is not None:
            getter.restype = ctypes.c_int
            _lib = (setter, getter)
            break
    return _lib


@contextmanager
def single_thread(when: bool = True) -> Iterator[None]:
    """Within the block, OpenBLAS uses one thread (if `when`, and if OpenBLAS is found)."""
    found = _openblas() if when else None
    if found is None:
        yield
        return
    setter, getter = found
    before = getter()  # type: ignore[operator]
    setter(1)  # type: ignore[operator]
    try:
        yield
    finally:
        setter(before)  # type: ignore[operator]
