"""The user's code stays in its place: prints never reach stdout, warnings shown once and marked, imports as
`python FILE` / `python -m` make them, and nothing but a model builder is ever called."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, one_line_error

pytest.importorskip("torch")

NOISY = '''
import warnings
import torch
from torch import nn

print("NOISE at import")

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        print("NOISE in __init__")
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        print("NOISE in forward")
        warnings.warn("MY WARNING from forward")
        return self.fc(torch.tanh(x))
'''


def run_in(folder, *args, isolated=False, timeout=120):
    """`python -m dlcli ARGS` from `folder`; `isolated`: as the installed `dlcli` script runs (python -P: the
    current folder is not on the import path)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    flags = ["-P"] if isolated else []
    return subprocess.run([sys.executable, *flags, "-m", "dlcli", *args], capture_output=True, text=True, env=env,
                          cwd=folder, timeout=timeout)


@pytest.fixture
def noisy(tmp_path):
    (tmp_path / "noisy.py").write_text(textwrap.dedent(NOISY))
    return tmp_path / "noisy.py"


def test_vanish_model_prints_go_to_stderr_and_json_stays_valid(noisy, tmp_path):
    out = run_in(tmp_path, "vanish", "--model", f"{noisy}:Net", "--format", "json", "--seed", "0")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["config"]["seed"] == 0
    assert "NOISE" not in out.stdout
    for where in ("at import", "in __init__", "in forward"):
        assert f"NOISE {where}" in out.stderr
    warned = [line for line in out.stderr.splitlines() if "MY WARNING" in line]
    assert len(warned) == 1 and warned[0].startswith("your code: ") and "noisy.py:" in warned[0], out.stderr


def test_train_model_prints_go_to_stderr_and_json_stays_valid(noisy, tmp_path):
    rng = __import__("numpy").random.default_rng(0)
    data = tmp_path / "d.npz"
    __import__("numpy").savez(data, x=rng.standard_normal((40, 4)), y=rng.integers(0, 3, 40))
    out = run_in(tmp_path, "train", "--model", f"{noisy}:Net", "--data", str(data), "--epochs", "2", "--batch", "8",
                 "--format", "json", "--seed", "0")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["epochs"]) == 2 and "NOISE" not in out.stdout
    assert out.stderr.count("NOISE in forward") > 2  # every step's forward pass printed, on stderr
    assert sum("MY WARNING" in line for line in out.stderr.splitlines()) == 1
    assert "your code: " in out.stderr


def test_a_model_file_imports_its_neighbours_as_python_file_does(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "blocks.py").write_text("from torch import nn\n\ndef block():\n    return nn.Linear(3, 2)\n")
    (proj / "model.py").write_text("from torch import nn\nfrom blocks import block\n\n\nclass Net(nn.Module):\n"
                                   "    def __init__(self):\n        super().__init__()\n        self.b = block()\n\n"
                                   "    def forward(self, x):\n        return self.b(x)\n")
    out = run_in(tmp_path, "vanish", "--model", "proj/model.py:Net", "--format", "json", "--seed", "0",
                 isolated=True)
    assert out.returncode == 0, out.stderr
    assert [row["name"] for row in json.loads(out.stdout)["layers"]] == ["b"]


def test_a_module_of_the_current_folder_imports_as_python_m_does(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "net.py").write_text("from torch import nn\n\n\ndef make(width=2):\n    return nn.Sequential("
                                "nn.Linear(3, width), nn.Tanh(), nn.Linear(width, 2))\n")
    out = run_in(tmp_path, "vanish", "--model", "pkg.net:make", "--model-arg", "width=5", "--format", "json",
                 "--seed", "0", isolated=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["layers"][0]["width"] == 5


@pytest.mark.parametrize(("spec", "args", "why"), [
    ("os:system", ["command='touch {marker}'"], "built-in function"),
    ("os:popen", ["cmd='touch {marker}'"], "does not say it returns an nn.Module"),
    ("subprocess:run", ["args='touch {marker}'", "shell=True"], "does not say it returns an nn.Module"),
    ("torch:load", ["f='{marker}'", "weights_only=False"], "imported from torch.serialization"),
    ("collections:OrderedDict", [], "a class, not an nn.Module subclass"),
])
def test_only_model_builders_are_called(cli, tmp_path, spec, args, why):
    marker = tmp_path / "ran"
    given = [a.format(marker=marker) for a in args]
    out = cli("vanish", "--model", spec, *[w for a in given for w in ("--model-arg", a)], "--input-shape", "3")
    one_line_error(out, why, f"'{spec}'")
    assert not marker.exists()


def test_a_function_imported_into_the_model_file_is_refused(cli, tmp_path):
    (tmp_path / "m.py").write_text("from os import makedirs\nfrom shutil import rmtree\n")
    keep = tmp_path / "keep"
    keep.mkdir()
    one_line_error(cli("vanish", "--model", f"{tmp_path}/m.py:rmtree", "--model-arg", f"path='{keep}'"),
                   "imported from shutil")
    one_line_error(cli("vanish", "--model", f"{tmp_path}/m.py:makedirs", "--model-arg", f"name='{tmp_path}/new'"),
                   "imported from os")
    assert keep.is_dir() and not (tmp_path / "new").exists()


def test_a_directory_is_called_a_directory(cli, tmp_path):
    (tmp_path / "dir.py").mkdir()
    one_line_error(cli("vanish", "--model", f"{tmp_path}/dir.py:Net"), "is a directory")
    (tmp_path / "ckpt").mkdir()
    one_line_error(cli("vanish", "--model", f"{ROOT}/examples/notes_models.py:ANN", "--weights",
                       str(tmp_path / "ckpt")), "is a directory")
    one_line_error(cli("train", "--model", f"{ROOT}/examples/notes_models.py:ANN", "--weights",
                       str(tmp_path / "ckpt")), "is a directory")


BATCHNORM = '''
from torch import nn

class Normed(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 16)
        self.bn = nn.BatchNorm1d(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.bn(self.fc(x)).relu())
'''


def test_batch_norm_with_a_last_minibatch_of_one_is_refused_up_front(cli, tmp_path):
    (tmp_path / "bn.py").write_text(textwrap.dedent(BATCHNORM))
    # digits' seeded 0.2 split leaves 1438 training examples: --batch 3 leaves 1 in the last minibatch
    out = cli("train", "--model", f"{tmp_path}/bn.py:Normed", "--batch", "3", "--epochs", "1", "--seed", "0")
    one_line_error(out, "--batch 3 leaves one example in the last minibatch (1438 training examples)", "(bn)",
                   "give another --batch, e.g. 2")
    ok = cli("train", "--model", f"{tmp_path}/bn.py:Normed", "--batch", "4", "--epochs", "1", "--seed", "0",
             "--format", "json")
    assert ok.exit_code == 0, ok.stderr


def test_a_model_failing_on_a_later_minibatch_is_one_line(cli, tmp_path):
    (tmp_path / "odd.py").write_text("from torch import nn\n\n\nclass Odd(nn.Module):\n    def __init__(self):\n"
                                     "        super().__init__()\n        self.fc = nn.Linear(64, 10)\n\n"
                                     "    def forward(self, x):\n        if len(x) == 30:\n"
                                     "            raise ValueError('cannot take 30')\n        return self.fc(x)\n")
    out = cli("train", "--model", f"{tmp_path}/odd.py:Odd", "--batch", "64", "--epochs", "1", "--seed", "0")
    one_line_error(out, "ValueError: cannot take 30", "odd.py:11", "epoch 1")


DICT_OUT = '''
from torch import nn

class Tagged(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        logits = self.fc(x)
        return {"logits": logits, "hidden": x}
'''


def test_train_a_model_returning_a_dict(cli, tmp_path):
    (tmp_path / "hf.py").write_text(textwrap.dedent(DICT_OUT))
    out = cli("train", "--model", f"{tmp_path}/hf.py:Tagged", "--epochs", "2", "--seed", "0", "--format", "json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["epochs"][-1]["test_accuracy"] > 0.5
    one_line_error(cli("train", "--model", f"{tmp_path}/hf.py:Tagged", "--output", "hidden", "--epochs", "1"),
                   "'hidden' of the model's dict has shape (2, 64)", "10 classes")
