"""The one wording for a missing optional dependency: bad input (exit 2), and the install hint for this project's
extras from its checkout (the `dlcli` on the package index is another project)."""

from __future__ import annotations

from dlcli.errors import InputError


def install_hint(extra: str) -> str:
    """How to install the extra `extra` (torch, data, test) of this project."""
    return f"pip install -e '.[{extra}]' in the dlcli checkout"


def missing(what: str, dependency: str, extra: str) -> InputError:
    """`what` needs `dependency`, which is not installed: one line that says how to install it."""
    return InputError(f"{what} needs {dependency} ({install_hint(extra)})")
