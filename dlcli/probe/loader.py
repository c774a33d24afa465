"""Load the user's nn.Module (PATH.py:NAME, package.module:NAME, torchvision:NAME) and its weights, safely; run
the user's code in its place (`user_code`: their prints on stderr, their warnings once and marked)."""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError, count, kind_of

if TYPE_CHECKING:
    import torch

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
_SHOWN = 3  # how many missing/unexpected keys an error names


_PACKAGE = str(Path(__file__).resolve().parents[1])  # dlcli/: frames and warnings from here are not the user's
_inside = 0                               # user_code() blocks open (an inner one changes nothing)
_warned: set[tuple[Any, ...]] = set()     # the user's warnings already shown (each is shown once)


@contextlib.contextmanager
def user_code() -> Iterator[None]:
    """While the user's code runs (their file's import, their model's construction and passes): what it prints
    goes to stderr, not to stdout, which holds the data; each warning it raises is shown once, on stderr,
    marked 'your code:'. Warning filters stay the user's (and Python's), as without dlcli."""
    global _inside
    if _inside:
        yield
        return
    shown = warnings.showwarning

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        if str(Path(filename).resolve()).startswith(_PACKAGE + os.sep):  # dlcli's own warning: shown as it would be
            shown(message, category, filename, lineno, file, line)
            return
        text = str(message).strip().splitlines()[0] if str(message).strip() else ""
        key = (category, text, filename, lineno)
        if key in _warned:
            return
        _warned.add(key)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"your code: {filename}:{lineno}: {category.__name__}: {text}\n")
            sys.stderr.flush()

    _inside += 1
    warnings.showwarning = show
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        warnings.showwarning = shown
        _inside -= 1
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()


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
    outside = [f for f in frames if not str(Path(f.filename).resolve()).startswith(_PACKAGE)
               and "/torch/" not in f.filename and "importlib" not in f.filename]
    site = f" at {outside[-1].filename}" + ("" if outside[-1].lineno is None else f":{outside[-1].lineno}") \
        if outside else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return InputError(f"{where}: {type(exc).__name__}: {message}{site}".rstrip())


def load_model(spec: str, model_args: dict[str, object] | None = None) -> torch.nn.Module:
    """Build the module `spec` names (a Module subclass, a function of that file or module that builds one, or an
    instance), calling it with `model_args`; anything else is refused before it is called."""
    import torch

    source, sep, name = spec.rpartition(":")
    if not sep or not source or not name:
        raise InputError(f"--model '{spec}': expected PATH.py:NAME, package.module:NAME or torchvision:NAME")
    with user_code():
        if source == "torchvision":
            namespace, home = _torchvision(name), "torchvision.models"
        elif source.endswith(".py") or os.sep in source or "/" in source:
            namespace, home = _run_file(source)
        else:
            namespace, home = _import(source)
        if name not in namespace:
            found = sorted(k for k, v in namespace.items() if not k.startswith("_")
                           and _refusal(v, torch, home, source) is None)
            hint = f"; it defines: {', '.join(found)}" if found else \
                "; it defines no nn.Module, nn.Module class or function"
            raise InputError(f"--model '{spec}': no '{name}' in {source}{hint}")
        target = namespace[name]
        kwargs = dict(model_args or {})
        if isinstance(target, torch.nn.Module):
            if kwargs:
                raise InputError(f"--model '{spec}': '{name}' is a module instance; --model-arg needs a class or "
                                 "function")
            return target
        why = _refusal(target, torch, home, source)
        if why is not None:
            raise InputError(f"--model '{spec}': '{name}' is {why}")
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
        raise InputError(f"--model '{spec}': {name}() returned {kind_of(model)}, not an nn.Module")
    return model


CALLS = "--model calls only nn.Module classes and the model-building functions of the file or module it names"


def _refusal(value: Any, torch: Any, home: str, source: str) -> str | None:
    """Why `value` (found in the file or module `source`, whose module name is `home`) must not be called to
    build a model; None for an instance, an nn.Module subclass, or a function that may be called: one defined
    in the file named, or in the module named and either your own code (below the current folder) or saying
    it returns an nn.Module (`-> nn.Module`, as torchvision's builders do)."""
    if isinstance(value, torch.nn.Module):
        return None
    if inspect.isclass(value):
        return None if issubclass(value, torch.nn.Module) else "a class, not an nn.Module subclass"
    if not inspect.isfunction(value):
        if inspect.isbuiltin(value) or callable(value):
            return f"{'a built-in function' if inspect.isbuiltin(value) else kind_of(value)}: {CALLS}"
        return f"{kind_of(value)}, not an nn.Module, class or function"
    where = getattr(value, "__module__", None) or "?"
    if where != home and not (home == "torchvision.models" and where.startswith(home + ".")):
        return f"imported from {where}, not defined in {source}: {CALLS}"
    if home.startswith("_dlcli_user_model_") or _returns_module(value, torch):
        return None
    module = sys.modules.get(where)
    if home.split(".")[0] != "dlcli" and _below_current_folder(getattr(module, "__file__", None)):
        return None
    return (f"a function of {where} that does not say it returns an nn.Module (-> nn.Module): call it from a "
            "function in a file of your own")


def _returns_module(function: Any, torch: Any) -> bool:
    """Whether `function`'s return annotation names an nn.Module (sub)class (a string one is looked up by name
    in the function's globals, never evaluated)."""
    note = inspect.signature(function).return_annotation if _has_signature(function) else inspect.Signature.empty
    if isinstance(note, str):
        found: Any = function.__globals__
        for i, part in enumerate(note.strip().strip("'\"").split(".")):
            found = found.get(part) if i == 0 and isinstance(found, dict) else getattr(found, part, None)
            if found is None:
                return False
        note = found
    return inspect.isclass(note) and issubclass(note, torch.nn.Module)


def _has_signature(function: Any) -> bool:
    try:
        inspect.signature(function)
    except (TypeError, ValueError):
        return False
    return True


def _below_current_folder(file: str | None) -> bool:
    if not file:
        return False
    here = Path.cwd().resolve()
    return Path(file).resolve().is_relative_to(here)


def _bad_arguments(target: Any, kwargs: dict[str, object]) -> bool:
    try:
        inspect.signature(target).bind(**kwargs)
    except TypeError:
        return True
    except ValueError:
        return False
    return False


def _run_file(source: str) -> tuple[dict[str, Any], str]:
    """Run the model file as `python FILE` would import its neighbours: its folder first on the import path
    while it is imported. The namespace it defines, and its module name."""
    path = Path(source)
    if path.is_dir():
        raise InputError(f"--model {source}: is a directory, not a .py file")
    if not path.is_file():
        raise InputError(f"model file not found: {source}" if not path.exists() else
                         f"--model {source}: not a regular file")
    module_name = f"_dlcli_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot load {source} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up here
    try:
        with _first_on_path(str(path.resolve().parent)):
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        where = source if exc.lineno is None else f"{source}:{exc.lineno}"  # a NUL byte has no line
        raise InputError(f"{where}: SyntaxError: {exc.msg}") from None
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise user_error(exc, f"loading {source}") from None
    return vars(module), module_name


def _import(source: str) -> tuple[dict[str, Any], str]:
    """Import `source` as `python -m` finds modules: the current folder first on the import path meanwhile."""
    try:
        with _first_on_path(os.getcwd()):
            module = importlib.import_module(source)
    except ModuleNotFoundError as exc:
        if exc.name and source.startswith(exc.name):
            raise InputError(f"--model: no module named '{source}' (not a .py path, not importable)") from None
        raise user_error(exc, f"importing {source}") from None
    except Exception as exc:
        raise user_error(exc, f"importing {source}") from None
    return vars(module), module.__name__


@contextlib.contextmanager
def _first_on_path(folder: str) -> Iterator[None]:
    """`folder` first on sys.path while the block runs (then taken off again: dlcli's own later imports never
    find the user's files)."""
    sys.path.insert(0, folder)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        if sys.path[:1] == [folder]:
            del sys.path[0]
        else:  # the user's code moved it: take off the first copy
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)


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
    if file.is_dir():
        raise InputError(f"--weights {path}: is a directory, not a checkpoint file")
    if not file.is_file():
        raise InputError(f"checkpoint not found: {path}" if not file.exists() else
                         f"--weights {path}: not a regular file")
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
            parts.append(f"missing {count(len(missing), 'key')}: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {count(len(unexpected), 'key')}: {_few(unexpected)}")
        raise InputError(f"{path}: does not fit the model: {'; '.join(parts)}")
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise InputError(f"{path}: shapes differ (checkpoint vs model): {', '.join(wrong[:_SHOWN])}"
                         + (f" and {len(wrong) - _SHOWN} more" if len(wrong) > _SHOWN else ""))
    with user_code():  # a module's own _load_from_state_dict is the user's code
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
        raise InputError(f"{path}: holds {kind_of(loaded)}, not a state_dict")
    return loaded


def _is_state(d: dict[Any, Any], torch: Any) -> bool:
    return bool(d) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())
