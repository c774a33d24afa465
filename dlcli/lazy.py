"""Lazy package facades: a package names its public API, and each name's module is imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def facade(package: str, exports: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`: `exports` maps each public name to its submodule."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        namespace[name] = value  # found in the module's dict from now on
        return value

    return __getattr__
