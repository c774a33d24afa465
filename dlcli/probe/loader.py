"""Load the user's nn.Module (PATH.py:NAME, package.module:NAME, torchvision:NAME) and its weights, safely."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError

if TYPE_CHECKING:
    import torch

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
_SHOWN = 3  # how many missing/unexpected keys an error names


def parse_model_args(pairs: list[str] | None) -> dict[str, object]:
    """`["depth=4", "act='tanh'", "name=relu"]` -> keyword arguments; values by ast.literal_eval, bare words as str."""
    args: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InputError(f"--model-arg '{pair}': expected key=value with a Python name as key")
        text = text.strip()
        try:
            value: object = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            if not text.replace("_", "").replace("-", "").replace(".", "").isalnum():
                raise InputError(f"--model-arg '{pair}': the value is not a Python literal "
                                 "(number, string, tuple, list, dict, True/False/None)") from None
            value = text
        args[key] = value
    return args


def user_error(exc: BaseException, where: str) -> InputError:
    """One line for an exception raised by the user's code: type, message and the innermost frame outside dlcli."""
    frames = traceback.extract_tb(exc.__traceback__)
    package = str(Path(__file__).resolve().parents[1])
    outside = [f for f in frames if not str(Path(f.filename).resolve()).startswith(package)
               and "/torch/" not in f.filename and "importlib" not in f.filename]
    site = f" at {outside[-1].filename}:{outside[-1].lineno}" if outside else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return InputError(f"{where}: {type(exc).__name__}: {message}{site}".rstrip())


def load_model(spec: str, model_args: dict[str, object] | None = None) -> torch.nn.Module:
    """Build the module `spec` names (a Module subclass, a factory or an instance), calling it with `model_args`."""
    import torch

    source, sep, name = spec.rpartition(":")
    if not sep or not source or not name:
        raise InputError(f"--model '{spec}': expected PATH.py:NAME, package.module:NAME or torchvision:NAME")
    if source == "torchvision":
        namespace = _torchvision(name)
    elif source.endswith(".py"):
        namespace = _run_file(source)
    else:
        namespace = _import(source)
    if name not in namespace:
        found = sorted(k for k, v in namespace.items() if not k.startswith("_") and _candidate(v, torch))
        hint = f"; it defines: {', '.join(found)}" if found else "; it defines no module, class or function"
        raise InputError(f"--model '{spec}': no '{name}' in {source}{hint}")
    target = namespace[name]
    kwargs = dict(model_args or {})
    if isinstance(target, torch.nn.Module):
        if kwargs:
            raise InputError(f"--model '{spec}': '{name}' is a module instance; --model-arg needs a class or function")
        return target
    if not callable(target):
        kind = type(target).__name__
        raise InputError(f"--model '{spec}': '{name}' is a {kind}, not an nn.Module, class or function")
    if source == "torchvision":
        kwargs.setdefault("weights", None)
    try:
        model = target(**kwargs)
    except TypeError as exc:
        if _bad_arguments(target, kwargs):
            raise InputError(f"--model '{spec}': {name}() does not take these arguments: {exc}") from None
        raise user_error(exc, f"--model '{spec}'") from None
    except Exception as exc:
        raise user_error(exc, f"--model '{spec}'") from None
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"--model '{spec}': {name}() returned a {type(model).__name__}, not an nn.Module")
    return model


def _candidate(value: Any, torch: Any) -> bool:
    return isinstance(value, torch.nn.Module) or (inspect.isclass(value) and issubclass(value, torch.nn.Module)) \
        or inspect.isfunction(value)


def _bad_arguments(target: Any, kwargs: dict[str, object]) -> bool:
    try:
        inspect.signature(target).bind(**kwargs)
    except TypeError:
        return True
    except ValueError:
        return False
    return False


def _run_file(source: str) -> dict[str, Any]:
    path = Path(source)
    if not path.is_file():
        raise InputError(f"model file not found: {source}")
    module_name = f"_dlcli_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot load {source} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise InputError(f"{source}:{exc.lineno}: SyntaxError: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise user_error(exc, f"loading {source}") from None
    return vars(module)


def _import(source: str) -> dict[str, Any]:
    try:
        module = importlib.import_module(source)
    except ModuleNotFoundError as exc:
        if exc.name and source.startswith(exc.name):
            raise InputError(f"--model: no module named '{source}' (not a .py path, not importable)") from None
        raise user_error(exc, f"importing {source}") from None
    except Exception as exc:
        raise user_error(exc, f"importing {source}") from None
    return vars(module)


def _torchvision(name: str) -> dict[str, Any]:
    try:
        import torchvision.models
    except Exception as exc:  # not installed, or a wheel that does not load beside this torch
        raise InputError(f"--model torchvision:{name}: torchvision does not import here "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    return {k: v for k, v in vars(torchvision.models).items() if not k.startswith("_")}


def load_weights(model: torch.nn.Module, path: str) -> None:
    """Load a state_dict (or one under state_dict/model_state_dict/model) into `model`; never unpickles code."""
    import pickle

    import torch

    file = Path(path)
    if not file.is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{path}: refused: the checkpoint holds more than tensors and would run code when "
                         f"unpickled (weights_only load: {first[:120]}); save model.state_dict() instead") from None
    except Exception as exc:
        raise InputError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ''})") from None
    state = _state_dict(loaded, path, torch)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s): {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s): {_few(unexpected)}")
        raise InputError(f"{path}: does not fit the model: {'; '.join(parts)}")
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise InputError(f"{path}: shapes differ (checkpoint vs model): {', '.join(wrong[:_SHOWN])}"
                         + (f" and {len(wrong) - _SHOWN} more" if len(wrong) > _SHOWN else ""))
    model.load_state_dict(state, strict=True)


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:_SHOWN]) + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def _state_dict(loaded: Any, path: str, torch: Any) -> dict[str, Any]:
    if isinstance(loaded, dict) and not _is_state(loaded, torch):
        for key in CHECKPOINT_KEYS:
            if key in loaded and isinstance(loaded[key], dict) and _is_state(loaded[key], torch):
                return loaded[key]
        raise InputError(f"{path}: no state_dict in the checkpoint (keys: {_few([str(k) for k in loaded])}); "
                         f"expected one at the top or under {', '.join(CHECKPOINT_KEYS)}")
    if not isinstance(loaded, dict):
        raise InputError(f"{path}: holds a {type(loaded).__name__}, not a state_dict")
    return loaded


def _is_state(d: dict[Any, Any], torch: Any) -> bool:
    return bool(d) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())
