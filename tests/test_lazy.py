"""The packages' lazy facades (dlcli/lazy.py): a name's module is imported on first use, and only then."""

import subprocess
import sys

import pytest

PROBE = """
import sys
import dlcli.{package} as package
assert "dlcli.{package}.{module}" not in sys.modules, "imported before use"
value = getattr(package, "{name}")
assert "dlcli.{package}.{module}" in sys.modules
assert package.__dict__["{name}"] is value  # found directly from then on
try:
    package.no_such_name
except AttributeError as exc:
    assert "no_such_name" in str(exc)
else:
    raise AssertionError("unknown names must raise AttributeError")
"""


@pytest.mark.parametrize(("package", "module", "name"), [
    ("graph", "computation", "backprop"), ("charts", "svg", "to_svg"), ("perceptron", "census", "Census"),
    ("vanish", "meanfield", "predict"),
])
def test_a_facade_imports_the_module_on_first_use(package: str, module: str, name: str) -> None:
    code = PROBE.format(package=package, module=module, name=name)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
