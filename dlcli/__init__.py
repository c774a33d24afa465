"""dlcli: activation-function and gradient analysis, in the terminal and as a library."""

__version__ = "0.1.0"
