"""load_model / load_weights / parse_model_args: every spec form, and one InputError line for every bad input."""

from __future__ import annotations

import sys
import textwrap
import warnings

import pytest

torch = pytest.importorskip("torch")

from dlcli.errors import InputError  # noqa: E402
from dlcli.probe.loader import load_model, load_weights, parse_model_args  # noqa: E402

MODELS = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, width=4, act="relu"):
        super().__init__()
        self.fc = nn.Linear(3, width)
        self.act = act
    def forward(self, x):
        return self.fc(x)

def make(depth, width=2):
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])

def broken(n=1):
    return helper(n)

def helper(n):
    raise ValueError("no such size " + str(n))

instance = nn.Linear(2, 2)
NUMBER = 7
'''


@pytest.fixture
def models(tmp_path):
    f = tmp_path / "models.py"
    f.write_text(textwrap.dedent(MODELS))
    return str(f)


def test_parse_model_args_literals_and_bare_words():
    assert parse_model_args(None) == {}
    got = parse_model_args(["depth=4", "gain=1.5", "act='tanh'", "name=relu", "dims=(2, 3)", "bias=False"])
    assert got == {"depth": 4, "gain": 1.5, "act": "tanh", "name": "relu", "dims": (2, 3), "bias": False}
    for bad in ["depth", "=3", "2x=1", "x=__import__('os').system('true')"]:
        with pytest.raises(InputError):
            parse_model_args([bad])


def test_class_factory_instance_from_file(models):
    net = load_model(f"{models}:Net", {"width": 5})
    assert net.fc.out_features == 5 and net.act == "relu"
    seq = load_model(f"{models}:make", {"depth": 3})
    assert len(seq) == 3
    assert isinstance(load_model(f"{models}:instance"), torch.nn.Linear)


def test_importable_module():
    m = load_model("torch.nn:Linear", {"in_features": 2, "out_features": 3})
    assert m.weight.shape == (3, 2)


@pytest.mark.parametrize("name, args, message", [
    ("Missing", {}, "no 'Missing' in .*it defines: Net, broken, helper, instance, make"),
    ("NUMBER", {}, "is an int, not an nn.Module"),
    ("make", {"nope": 1}, r"make\(\) does not take these arguments"),
    ("helper", {"n": 2}, r"ValueError: no such size 2 at .*models.py:\d+"),
    ("broken", {}, r"ValueError: no such size 1 at .*models.py:\d+"),
    ("instance", {"x": 1}, "instance"),
])
def test_bad_names_and_raising_factories(models, name, args, message):
    with pytest.raises(InputError, match=message) as info:
        load_model(f"{models}:{name}", args)
    assert "\n" not in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_model(f"{tmp_path}/none.py:Net")
    with pytest.raises(InputError, match="expected PATH.py:NAME"):
        load_model("model.py")
    (tmp_path / "syn.py").write_text("def f(:\n")
    with pytest.raises(InputError, match=r"syn.py:1: SyntaxError"):
        load_model(f"{tmp_path}/syn.py:f")
    (tmp_path / "nul.py").write_bytes(b"x = 1\x00\n")
    with pytest.raises(InputError, match=r"nul.py: SyntaxError: .*null bytes") as info:
        load_model(f"{tmp_path}/nul.py:x")
    assert "None" not in str(info.value)
    (tmp_path / "boom.py").write_text("x = 1\nraise RuntimeError('at import')\n")
    with pytest.raises(InputError, match=r"RuntimeError: at import at .*boom.py:2"):
        load_model(f"{tmp_path}/boom.py:x")
    with pytest.raises(InputError, match="no module named"):
        load_model("no_such_pkg_dlcli.sub:Net")


def test_torchvision_builds_without_weights_or_says_it_cannot():
    try:
        import torchvision  # noqa: F401
    except Exception:
        with pytest.raises(InputError, match="torchvision does not import here"):
            load_model("torchvision:resnet18")
        return
    m = load_model("torchvision:resnet18", {"num_classes": 3})
    assert m.fc.out_features == 3


def test_weights_plain_and_wrapped(tmp_path):
    torch.manual_seed(0)
    src = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    for i, wrap in enumerate([lambda s: s, lambda s: {"state_dict": s, "epoch": 3},
                              lambda s: {"model_state_dict": s, "optimizer": {"lr": 0.1}}, lambda s: {"model": s}]):
        f = tmp_path / f"w{i}.pt"
        torch.save(wrap(src.state_dict()), f)
        dst = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
        load_weights(dst, str(f))
        assert torch.equal(dst[0].weight, src[0].weight) and torch.equal(dst[1].bias, src[1].bias)


def test_weights_that_do_not_fit(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    torch.save({"0.weight": torch.zeros(2, 3), "0.bias": torch.zeros(2), "9.weight": torch.zeros(1)}, tmp_path / "k.pt")
    with pytest.raises(InputError, match=r"missing 2 keys: 1.weight, 1.bias; unexpected 1 key: 9.weight"):
        load_weights(model, str(tmp_path / "k.pt"))
    wrong = {k: v.clone() for k, v in model.state_dict().items()}
    wrong["1.weight"] = torch.zeros(1, 5)
    torch.save(wrong, tmp_path / "s.pt")
    with pytest.raises(InputError, match=r"1.weight \(1, 5\) vs \(1, 2\)"):
        load_weights(model, str(tmp_path / "s.pt"))
    torch.save({"epoch": 3}, tmp_path / "none.pt")
    with pytest.raises(InputError, match="no state_dict"):
        load_weights(model, str(tmp_path / "none.pt"))
    with pytest.raises(InputError, match="not found"):
        load_weights(model, str(tmp_path / "missing.pt"))


class _Evil:
    def __reduce__(self):
        import os
        return (os.makedirs, (self.target,))


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    evil = _Evil()
    evil.target = str(tmp_path / "pwned")
    torch.save({"weight": evil}, tmp_path / "evil.pt")
    model = torch.nn.Linear(1, 1)
    with pytest.raises(InputError, match="refused") as info:
        load_weights(model, str(tmp_path / "evil.pt"))
    assert not (tmp_path / "pwned").exists() and "\n" not in str(info.value)


def test_the_model_file_imports_its_neighbours_and_the_import_path_is_left_as_it_was(tmp_path):
    (tmp_path / "blocks_dlcli_test.py").write_text("from torch import nn\n\ndef block():\n    return nn.Linear(2, 3)\n")
    (tmp_path / "net.py").write_text("from blocks_dlcli_test import block\n\ndef make():\n    return block()\n")
    before = list(sys.path)
    assert load_model(f"{tmp_path}/net.py:make").out_features == 3
    assert sys.path == before


LIBRARY = '''
{future}
from torch import nn

def annotated(width: int = 2) -> nn.Module:
    return nn.Linear(width, 1)

def plain(width=2):
    return nn.Linear(width, 1)
'''


@pytest.mark.parametrize("future", ["", "from __future__ import annotations"])
def test_a_function_of_an_installed_module_is_called_only_when_it_says_it_builds_a_module(tmp_path, monkeypatch,
                                                                                           future):
    """A module outside the current folder (here: on the import path, as an installed one is) offers only the
    functions annotated `-> nn.Module`; the annotation is read, never evaluated."""
    lib = tmp_path / "lib"
    lib.mkdir()
    name = f"dlcli_test_library_{'future' if future else 'plain'}"
    (lib / f"{name}.py").write_text(LIBRARY.format(future=future))
    monkeypatch.syspath_prepend(str(lib))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the module is not below the current folder
    assert load_model(f"{name}:annotated", {"width": 4}).in_features == 4
    with pytest.raises(InputError, match="does not say it returns an nn.Module") as info:
        load_model(f"{name}:plain")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("spec", "why"), [
    ("os:system", "built-in function"), ("builtins:exec", "built-in function"), ("shutil:rmtree", "does not say"),
    ("torch:load", "imported from torch.serialization"), ("collections:Counter", "not an nn.Module subclass"),
])
def test_anything_but_a_model_builder_is_refused_before_it_is_called(spec, why):
    with pytest.raises(InputError, match=why) as info:
        load_model(spec, {"x": 1})
    assert "\n" not in str(info.value)


def test_directories_are_named_as_directories(tmp_path):
    (tmp_path / "d.py").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        load_model(f"{tmp_path}/d.py:Net")
    with pytest.raises(InputError, match="is a directory"):
        load_weights(torch.nn.Linear(1, 1), str(tmp_path))


NOISY = '''
import warnings
from torch import nn
print("hello from import")

def make():
    for _ in range(3):
        warnings.warn("careful")
    print("hello from make")
    return nn.Linear(1, 1)
'''


def test_the_users_prints_go_to_stderr_and_each_warning_shows_once_marked(tmp_path, capsys):
    from dlcli.probe.loader import user_code

    (tmp_path / "noisy_loader.py").write_text(NOISY)
    shown = warnings.showwarning
    for _ in range(2):
        with user_code():
            load_model(f"{tmp_path}/noisy_loader.py:make")
    out, err = capsys.readouterr()
    assert out == "" and err.count("hello from make") == 2 and "hello from import" in err
    marked = [line for line in err.splitlines() if "careful" in line]
    assert marked == [f"your code: {tmp_path}/noisy_loader.py:8: UserWarning: careful"]
    assert warnings.showwarning is shown
