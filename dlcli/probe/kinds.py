"""Which modules of an nn.Module are what (dense, normalisation, an element-wise activation), and which tensor
of its output the loss is taken of."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from dlcli.errors import InputError, kind_of, with_article

# Activation classes of transformers and timm, by class name (neither is imported): the registry name.
NAMED_ACTIVATIONS = {
    "GELUActivation": "gelu", "NewGELUActivation": "gelu_tanh", "GELUTanh": "gelu_tanh",
    "FastGELUActivation": "gelu_tanh", "GELUTanhActivation": "gelu_tanh", "PytorchGELUTanh": "gelu_tanh",
    "SiLUActivation": "silu", "Swish": "silu", "SwishActivation": "silu", "MishActivation": "mish",
    "HardSwish": "hardswish", "HardSigmoid": "hardsigmoid", "HardMish": "mish", "LinearActivation": "identity",
}
# Functional ops seen in the autograd graph: backward node name -> (registry name, the saved tensor is the output)
FUNCTIONAL_ACTIVATIONS = {
    "ReluBackward0": ("relu", True), "ReluBackward1": ("relu", True), "SigmoidBackward0": ("sigmoid", True),
    "SigmoidBackward1": ("sigmoid", True), "TanhBackward0": ("tanh", True), "TanhBackward1": ("tanh", True),
    "GeluBackward0": ("gelu", False), "SiluBackward0": ("silu", False), "HardswishBackward0": ("hardswish", False),
    "HardsigmoidBackward0": ("hardsigmoid", False), "MishBackward0": ("mish", False),
    "LeakyReluBackward0": ("leaky_relu", False), "EluBackward0": ("elu", False),
    "SoftplusBackward0": ("softplus", False),
}


def activation_of(torch: Any, m: Any) -> tuple[str, dict[str, float]] | None:
    """The registry activation (name, params) an activation module computes, or None: torch.nn's classes,
    the usual classes of transformers and timm, and any parameter-free module found to behave like one."""
    table = _activation_table(torch)
    read = table.get(type(m))
    if read is not None:
        return read(m)
    for cls, read in table.items():  # a subclass of one of them; ReLU6 comes before its base class Hardtanh
        if isinstance(m, cls):
            return read(m)
    named = NAMED_ACTIVATIONS.get(class_name(m))
    if named == "identity":
        return None
    if named is not None:
        return named, {}
    if type(m).__name__ == "GELU" and getattr(m, "approximate", "none") in ("none", "tanh"):  # timm's GELU
        return ("gelu_tanh" if getattr(m, "approximate", "none") == "tanh" else "gelu"), {}
    return behaves_like(torch, m)


def behaves_like(torch: Any, m: Any) -> tuple[str, dict[str, float]] | None:
    """The registry activation a parameter-free, childless module outside torch.nn computes on a probe, else None
    (run once per class, without gradients, the random state kept; modules that hold state are not called)."""
    cls = type(m)
    if cls.__module__.startswith("torch.") or list(m.children()) or next(m.parameters(), None) is not None \
            or next(m.buffers(), None) is not None or "dropout" in cls.__name__.lower():
        return None
    if cls not in _BEHAVIOUR:
        _BEHAVIOUR[cls] = _probe_behaviour(torch, m)
    return _BEHAVIOUR[cls]


_BEHAVIOUR: dict[type, tuple[str, dict[str, float]] | None] = {}
_PROBE_NAMES = ("relu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "mish", "hardswish", "hardsigmoid",
                "elu", "selu", "softplus", "leaky_relu", "relu6", "softsign")


def _probe_behaviour(torch: Any, m: Any) -> tuple[str, dict[str, float]] | None:
    from dlcli import activations

    x = torch.linspace(-6.0, 6.0, 241, dtype=torch.float64).reshape(1, 241)
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            y = m(x.clone())
    except Exception:
        return None
    if not isinstance(y, torch.Tensor) or y.shape != x.shape:
        return None
    y = y.to(torch.float64)
    for name in _PROBE_NAMES:
        spec = activations.get(name)
        ref = spec.torch_ref(torch, x, spec.resolve({}))
        if bool(torch.allclose(y, ref, rtol=1e-5, atol=1e-6)):
            return name, {}
    return None


@functools.lru_cache(maxsize=2)
def _activation_table(torch: Any) -> dict[Any, Callable[[Any], tuple[str, dict[str, float]]]]:
    nn = torch.nn
    return {
        nn.ReLU: lambda m: ("relu", {}),
        nn.ReLU6: lambda m: ("relu6", {}),
        nn.Hardtanh: lambda m: ("hardtanh", {"min_val": float(m.min_val), "max_val": float(m.max_val)}),
        nn.Sigmoid: lambda m: ("sigmoid", {}),
        nn.Tanh: lambda m: ("tanh", {}),
        nn.LeakyReLU: lambda m: ("leaky_relu", {"alpha": float(m.negative_slope)}),
        nn.ELU: lambda m: ("elu", {"alpha": float(m.alpha)}),
        nn.CELU: lambda m: ("celu", {"alpha": float(m.alpha)}),
        nn.SELU: lambda m: ("selu", {}),
        nn.GELU: lambda m: ("gelu_tanh" if m.approximate == "tanh" else "gelu", {}),
        nn.SiLU: lambda m: ("silu", {}),
        nn.Mish: lambda m: ("mish", {}),
        nn.Softplus: lambda m: ("softplus", {"beta": float(m.beta)}),
        nn.Softsign: lambda m: ("softsign", {}),
        nn.Hardsigmoid: lambda m: ("hardsigmoid", {}),
        nn.Hardswish: lambda m: ("hardswish", {}),
        nn.LogSigmoid: lambda m: ("logsigmoid", {}),
        nn.Tanhshrink: lambda m: ("tanhshrink", {}),
        nn.Softshrink: lambda m: ("softshrink", {"lambd": float(m.lambd)}),
        nn.Hardshrink: lambda m: ("hardshrink", {"lambd": float(m.lambd)}),
        nn.Threshold: lambda m: ("threshold", {"threshold": float(m.threshold), "value": float(m.value)}),
    }


def is_dense(torch: Any, m: Any) -> bool:
    return isinstance(m, (torch.nn.Linear, torch.nn.modules.conv._ConvNd))


def is_norm(torch: Any, m: Any) -> bool:
    nn = torch.nn
    return isinstance(m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)) or \
        type(m).__name__.endswith("Norm")


def unit_axis(torch: Any, m: Any) -> int:
    nn = torch.nn
    channels = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm)
    return 1 if isinstance(m, channels) else -1


def unit_max(t: Any, axis: int) -> Any:
    """max over every axis but `axis`: the trailing axes first (contiguous), then the leading ones."""
    if axis + 1 < t.dim():
        t = t.flatten(axis + 1).amax(dim=-1)
    return t.flatten(0, axis - 1).amax(dim=0) if axis > 0 else t


def class_name(m: Any) -> str:
    """A module's class name; FSDP2's `fully_shard` subclass FSDP<Name> named as the user's <Name>."""
    name = type(m).__name__
    if name.startswith("FSDP") and any(c.__name__ == "FSDPModule" for c in type(m).__mro__):
        return name.removeprefix("FSDP")
    return name


def local(t: Any) -> Any:
    """A DTensor's local shard (FSDP2, tensor parallel), any other tensor itself: reading it starts no collective."""
    return t.to_local() if type(t).__name__ == "DTensor" else t


def owner_modules(model: Any) -> list[tuple[str, Any]]:
    """(qualified name, module) for every module that owns a parameter itself, in named_modules() order."""
    return [(n or class_name(m), m) for n, m in model.named_modules()
            if any(p is not None for p in m._parameters.values())]


def row_weights(m: Any) -> list[Any]:
    """A row's weight tensors: its own parameters named like a weight (weight, weight_ih_l0, in_proj_weight),
    or all its own parameters where none is (a layer-scale gamma)."""
    own = [(k, p) for k, p in m._parameters.items() if p is not None]
    weights = [p for k, p in own if "weight" in k]
    return weights or [p for _, p in own]


def weighted_modules(model: Any) -> list[tuple[str, Any]]:
    """(qualified name, module) for every module with a tensor `weight`, in named_modules() order."""
    import torch

    return [(n or class_name(m), m) for n, m in model.named_modules()
            if isinstance(getattr(m, "weight", None), torch.Tensor)]


def first_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            if isinstance(v, torch.Tensor):
                return v
    if isinstance(value, dict):
        for v in value.values():
            if isinstance(v, torch.Tensor):
                return v
    return None


def select_output(out: Any, key: str | None) -> tuple[Any, str]:
    """The tensor the loss is taken of: the output itself, `key` of a dict/tuple, or else its first tensor."""
    import torch

    if isinstance(out, torch.Tensor):
        if key is not None:
            raise InputError(f"--output {key}: the model returns a single tensor; leave --output out")
        return out, "the model's output"
    kind = type(out).__name__
    if isinstance(out, dict) or hasattr(out, "keys"):
        keys = [str(k) for k in out.keys()]
        if key is not None:
            if key not in out:
                raise InputError(f"--output {key}: the model's {kind} has keys: {', '.join(keys)}")
            chosen, where = out[key], f"'{key}' of the model's {kind}"
        else:
            found = [k for k in out.keys() if isinstance(out[k], torch.Tensor)]
            if not found:
                raise InputError(f"the model returned {with_article(kind)} without tensors (keys: {', '.join(keys)})")
            chosen, where = out[found[0]], f"'{found[0]}', the first tensor of the model's {kind} (--output KEY)"
    elif isinstance(out, (tuple, list)):
        if key is not None:
            if not key.lstrip("-").isdigit() or not -len(out) <= int(key) < len(out):
                raise InputError(f"--output {key}: the model returns {with_article(kind)} of {len(out)}; give an "
                                 "index 0..")
            chosen, where = out[int(key)], f"item {int(key)} of the model's {kind}"
        else:
            idx = next((i for i, v in enumerate(out) if isinstance(v, torch.Tensor)), None)
            if idx is None:
                raise InputError(f"the model returned {with_article(kind)} without tensors")
            chosen, where = out[idx], f"item {idx}, the first tensor of the model's {kind} of {len(out)} (--output N)"
    else:
        raise InputError(f"the model returned {kind_of(out)}, not a tensor, tuple or dict")
    if not isinstance(chosen, torch.Tensor):
        raise InputError(f"{where} is {kind_of(chosen)}, not a tensor")
    return chosen, where
