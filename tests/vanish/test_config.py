"""Bad vanish configurations are input errors."""

from __future__ import annotations

import pytest

from dlcli.errors import InputError
from dlcli.vanish.config import make_config


@pytest.mark.parametrize("kwargs", [
    {"depth": 0}, {"width": 0}, {"layers": [5]}, {"layers": [5, 0, 3]}, {"layers": [3, 3], "depth": 2},
    {"init": "he"}, {"batch": 0}, {"gain": -1.0}, {"bias_std": -0.1}, {"dtype": "float16"},
    {"engine": "numpy", "dtype": "bfloat16"}, {"engine": "numpy", "device": "cuda"}, {"loss": "hinge"},
])
def test_bad_configurations_are_input_errors(kwargs) -> None:
    with pytest.raises(InputError):
        make_config("tanh", **kwargs)
