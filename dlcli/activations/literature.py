"""The literature's best-known activations beyond torch.nn's (each cited in its notes)."""

from __future__ import annotations
