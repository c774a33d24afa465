"""The activation library: one registry of activation functions with exact derivatives.

    >>> from dlcli import activations
    >>> act = activations.get("sigmoid")
    >>> float(act(0.0)), float(act.derivative(0.0))
    (0.5, 0.25)
"""

from dlcli.activations import catalog as _catalog  # noqa: F401  (fills the registry)
from dlcli.activations.base import Activation, Param, all_activations, get, names
from dlcli.activations.properties import Properties, properties

__all__ = ["Activation", "Param", "Properties", "all_activations", "get", "names", "properties"]
