"""The diagnosis against ground truth by construction: healthy real architectures get no alarm, each broken
network gets the alarm of its kind naming the module that is broken (the zoo in model_zoo.py).

test_construction checks, with a plain torch script and no dlcli, that each zoo entry is what it claims to be;
test_diagnosis checks analyse_module's verdict and alarms against it.
`pytest tests/probe/test_ground_truth.py -v` reads as the table: one id per model.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from dlcli.probe import analyse_module  # noqa: E402
from model_zoo import ZOO, plain_grads, plain_loss  # noqa: E402

VERDICT = {"vanishing": "vanishing", "exploding": "exploding", "non_finite": "non-finite"}
HEALTHY = [n for n, c in ZOO.items() if c.kind is None]
BROKEN = [n for n, c in ZOO.items() if c.kind is not None]


def zero_or_none(g) -> bool:
    return g is None or float(g.norm()) == 0.0


def output_grads(model, inputs):
    """(name, output, output.grad) of each module with a weight, in the order the forward pass called them."""
    outs = []
    handles = []
    for name, m in model.named_modules():
        if isinstance(getattr(m, "weight", None), torch.Tensor):
            def hook(mod, args, out, name=name):
                if isinstance(out, torch.Tensor):
                    if out.requires_grad:
                        out.retain_grad()
                    outs.append((name, out))
            handles.append(m.register_forward_hook(hook))
    model.zero_grad(set_to_none=True)
    plain_loss(model, **inputs).backward()
    for h in handles:
        h.remove()
    return outs


def rms(t) -> float:
    return float(t.pow(2).mean().sqrt())


@pytest.mark.parametrize("name", list(ZOO))
def test_construction(name):
    """The ground truth itself, by a plain loss.backward(): what each entry is built to be holds."""
    case = ZOO[name]
    model = case.build()
    inputs = case.inputs()
    grads = plain_grads(model, inputs)
    weight = {n.removesuffix(".weight"): g for n, g in grads.items() if n.endswith(".weight")}
    if case.kind is None:
        assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads.values())
        matrices = [n for n, p in model.named_parameters() if n.endswith("weight") and p.dim() >= 2]
        ratio = float(grads[matrices[0]].norm() / grads[matrices[-1]].norm())
        assert 1e-2 < ratio < 1e2, ratio
    elif case.kind == "dead":
        (m,) = case.modules
        assert grads[f"{m}.weight"] is not None and zero_or_none(weight[m]) and zero_or_none(grads[f"{m}.bias"])
        assert any(not zero_or_none(g) for g in grads.values())
    elif case.kind == "no_gradient":
        cut = [m for m in case.modules if zero_or_none(weight[m])]
        assert cut == list(case.modules) if case.match == "all" else cut
        if name == "zero_norm":
            assert cut == ["fc1", "fc2"] and not zero_or_none(weight["norm"])
    elif case.kind in ("vanishing", "exploding"):
        outs = output_grads(model, inputs)
        assert outs[0][0] == case.modules[0]
        factor = rms(outs[0][1].grad) / rms(outs[-1][1].grad)
        assert factor < 1e-4 if case.kind == "vanishing" else factor > 1e3, factor
    elif case.kind == "non_finite":
        outs = output_grads(model, inputs)
        bad = [n for n, out in outs if not bool(torch.isfinite(out).all())]
        assert bad[0] == case.modules[0]
        assert all(bool(torch.isfinite(out).all()) for n, out in outs[:[n for n, _ in outs].index(bad[0])])
    else:
        raise AssertionError(case.kind)


def analyse(name, check_advice=False):
    case = ZOO[name]
    return analyse_module(case.build(), seed=0, check_advice=check_advice, **case.inputs())


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_architectures_get_no_alarm(name):
    r = analyse(name)
    assert r.alarms == (), [f"{a.kind} {a.modules}: {a.text}" for a in r.alarms]
    assert r.verdict == "healthy"
    assert r.as_dict()["alarms"] == []


@pytest.mark.parametrize("name", BROKEN)
def test_broken_networks_are_found_and_named(name):
    case = ZOO[name]
    r = analyse(name)
    assert r.verdict != "healthy"
    if case.kind in VERDICT:
        assert r.verdict == VERDICT[case.kind]
    ours = [a for a in r.alarms if a.kind == case.kind]
    assert ours, f"no {case.kind} alarm; got {[(a.kind, a.modules) for a in r.alarms]}"
    named = [set(a.modules) for a in ours]
    if case.match == "all":
        assert any(set(case.modules) <= s for s in named), named
    elif case.match == "first":
        assert any(a.modules and a.modules[0] == case.modules[0] for a in ours), [a.modules for a in ours]
    else:
        assert any(set(case.modules) & s for s in named), named
    for a in r.alarms:
        assert isinstance(a.modules, tuple) and all(isinstance(m, str) for m in a.modules)
        assert isinstance(a.text, str) and a.text
    layer_names = {row.name for row in r.layers}
    assert all(set(a.modules) <= layer_names for a in r.alarms), "alarms name modules that have rows"
    d = r.as_dict()["alarms"]
    assert [(x["kind"], list(x["modules"]), x["text"]) for x in d] == [(a.kind, list(a.modules), a.text)
                                                                      for a in r.alarms]


def test_advice_does_not_change_the_diagnosis():
    """check_advice=True tries re-initialisations on copies: the model's own alarms and verdict stay the same."""
    quick = analyse("sigmoid_stack")
    full = analyse("sigmoid_stack", check_advice=True)
    assert full.verdict == quick.verdict == "vanishing"
    assert [(a.kind, a.modules) for a in full.alarms] == [(a.kind, a.modules) for a in quick.alarms]
    assert any(a.kind == "vanishing" for a in full.alarms)


def test_zoo_is_big_enough_and_described():
    assert len(HEALTHY) >= 6 and len(BROKEN) >= 6
    assert {ZOO[n].kind for n in BROKEN} >= {"dead", "no_gradient", "vanishing", "exploding", "non_finite"}
    for case in ZOO.values():
        assert case.description and "\n" not in case.description
        assert case.match in ("any", "all", "first") and (case.kind is None) == (not case.modules)
