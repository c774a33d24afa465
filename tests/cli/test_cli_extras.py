"""A missing optional dependency: one line, exit 2, and this project's extras from its checkout as the hint."""

from __future__ import annotations

import pytest

from conftest import ROOT, run_cli

TORCH_COMMANDS = [
    ["activations", "check", "relu"],
    ["vanish", "--engine", "torch", "--depth", "2", "--width", "4"],
    ["train", "--epochs", "1"],
    ["vanish", "--model", "model.py:Net"],
]


def hidden(tmp_path, module: str) -> dict[str, str]:
    """An environment in which `import module` fails as it does where the package is not installed."""
    package = tmp_path / module
    package.mkdir()
    text = f"raise ModuleNotFoundError(\"No module named '{module}'\", name='{module}')\n"
    (package / "__init__.py").write_text(text)
    return {"PYTHONPATH": f"{tmp_path}:{ROOT}"}


@pytest.mark.parametrize("args", TORCH_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_without_torch_says_the_same_and_exits_2(tmp_path, args):
    out = run_cli(*args, env=hidden(tmp_path, "torch"))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("needs PyTorch (pip install -e '.[torch]' in the dlcli checkout)"), \
        lines


def test_digits_without_scikit_learn_names_the_data_extra(tmp_path):
    out = run_cli("train", "--data", "digits", "--epochs", "1", env=hidden(tmp_path, "sklearn"))
    assert out.returncode == 2
    assert out.stderr.decode().strip() == ("dlcli: error: the 'digits' data set needs scikit-learn "
                                           "(pip install -e '.[data]' in the dlcli checkout)")


def test_no_hint_points_at_the_other_dlcli_on_the_package_index():
    """`pip install 'dlcli[...]'` installs another project: every hint is dlcli.extras.install_hint's."""
    for path in (ROOT / "dlcli").rglob("*.py"):
        text = path.read_text()
        assert "dlcli[" not in text and "pip install torch" not in text, path
