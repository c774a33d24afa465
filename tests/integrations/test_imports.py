"""dlcli.integrations stays light: the package imports no framework (each callback module imports its own), and a
callback's wrong option fails where it is written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


def test_the_package_imports_no_framework():
    code = ("import sys, dlcli, dlcli.integrations, dlcli.integrations.common; "
            "print(sorted(m for m in ('torch', 'lightning', 'transformers', 'accelerate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("framework", ["lightning", "transformers"])
def test_a_wrong_option_fails_when_the_callback_is_made(framework):
    pytest.importorskip(framework)
    module = __import__(f"dlcli.integrations.{framework}", fromlist=["WatchCallback"])
    with pytest.raises(TypeError, match="overwrit"):
        module.WatchCallback(every=5, overwrit=True)
    module.WatchCallback(every=5, overwrite=True, config={"seed": 1})
