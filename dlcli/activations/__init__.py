"""The activation library: one registry of activation functions with exact derivatives.

    >>> from dlcli import activations
    >>> act = activations.get("sigmoid")
    >>> float(act(0.0)), float(act.derivative(0.0))
    (0.5, 0.25)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlcli.activations import catalog as _catalog  # noqa: F401  (fills the registry)
from dlcli.activations import literature as _literature  # noqa: F401  (more of the registry)
from dlcli.activations.base import Activation, Param, all_activations, get, names, set_fallback
from dlcli.activations.properties import Properties, properties

if TYPE_CHECKING:
    from dlcli.expr.functions import Functions


def _user_or_formula(text: str) -> Activation | None:
    """A user activation or a formula in x (imported only when a string is no registered name)."""
    from dlcli.activations.formula import resolve

    return resolve(text)


def user_activations() -> list[Activation]:
    from dlcli.activations.formula import user_activations as found

    return found()


def functions() -> Functions:
    """What formulas and `dlcli graph` may call beyond the built-ins: the element-wise activations and the user's."""
    from dlcli.activations.formula import functions as library

    return library()


set_fallback(_user_or_formula)

__all__ = ["Activation", "Param", "Properties", "all_activations", "functions", "get", "names", "properties",
           "user_activations"]
