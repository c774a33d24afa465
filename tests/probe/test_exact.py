"""Every parameter's gradient equals a plain torch script's, in float64, on real architectures: Hugging Face models
with their own loss and keyword inputs, an LSTM, nn.TransformerEncoderLayer; tied parameters counted once."""

from __future__ import annotations

import functools

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import model_zoo as zoo  # noqa: E402
from dlcli.probe import analyse_module  # noqa: E402

RTOL = 1e-9  # float64, the same operations (the HF losses upcast to float32 alike on both sides)
SEED = 3


def t5_projection():
    ids = zoo.tokens(seed=1)
    dec = zoo.tokens(length=5, seed=2)
    return {"x": {"input_ids": ids, "decoder_input_ids": dec}, "loss": "projection", "output": "logits"}


def t5_labels():
    ids = zoo.tokens(seed=1)
    mask = torch.ones_like(ids)
    mask[2, -2:] = 0
    return {"x": {"input_ids": ids, "attention_mask": mask}, "y": zoo.tokens(length=5, seed=2), "loss": "model"}


def lstm_projection():
    return {"x": zoo.tokens(batch=6, seed=4)}  # no y: the default loss, projection of (B, classes)


CASES = {
    "gpt2_own_loss": (zoo.gpt2, zoo.lm_inputs),
    "bert_mask_labels": (zoo.bert, zoo.bert_inputs),
    "llama_own_loss": (zoo.llama, zoo.lm_inputs),
    "t5_decoder_input_ids_projection": (zoo.t5, t5_projection),
    "t5_labels": (zoo.t5, t5_labels),
    "lstm_projection": (zoo.LSTMNet, lstm_projection),
    "transformer_encoder_token_cross_entropy": (zoo.Encoder, zoo.token_classes),
}


def reference(model, inputs):
    """p.grad of each named parameter after a plain loss.backward() (eval mode: the same as analyse_module's)."""
    return zoo.plain_grads(model, inputs, seed=SEED, train=False)


def tied_names(model):
    """name -> the other names of the same tensor (named_parameters(remove_duplicate=False)), in module order."""
    every = list(model.named_parameters(remove_duplicate=False))
    return {n: [m for m, q in every if q is p and m != n] for n, p in model.named_parameters()}


@functools.cache
def analysed(name):
    """(model, inputs, result), once per case for all the tests below (analysis errors fail each test)."""
    build, inputs = CASES[name]
    model = build()
    kwargs = inputs()
    return model, kwargs, analyse_module(model, seed=SEED, eval_mode=True, check_advice=False, **kwargs)


@pytest.fixture(params=list(CASES))
def case(request):
    return request.param


def test_every_gradient_equals_the_plain_script(case):
    model, inputs, r = analysed(case)
    grads = reference(model, inputs)
    params = dict(model.named_parameters())
    assert {p.name for p in r.parameters} == {n for n, p in params.items() if p.requires_grad}
    assert len(r.parameters) == len({id(p) for p in params.values() if p.requires_grad})
    for s in r.parameters:
        g = grads[s.name]
        if g is None:
            assert s.grad_norm is None, s.name
        else:
            assert s.grad_norm == pytest.approx(float(g.norm()), rel=RTOL, abs=1e-300), s.name
        p = params[s.name].detach()
        assert s.norm == pytest.approx(float(p.norm()), rel=RTOL), s.name
        if s.grad_norm is None or float(p.norm()) == 0:
            assert s.grad_to_weight is None, s.name
        else:
            assert s.grad_to_weight == pytest.approx(float(g.norm() / p.norm()), rel=RTOL), s.name
    assert any(s.grad_norm for s in r.parameters), "something gets a gradient"


def test_names_shapes_owners_and_tied_parameters(case):
    model, _, r = analysed(case)
    tied = tied_names(model)
    params = dict(model.named_parameters())
    for s in r.parameters:
        assert s.shape == list(params[s.name].shape)
        assert s.module == s.name.rpartition(".")[0]
        assert list(s.shared_with) == tied[s.name], s.name
    by_name = {s.name: s for s in r.parameters}
    if case.startswith("gpt2"):
        assert model.lm_head.weight is model.transformer.wte.weight
        assert by_name["transformer.wte.weight"].shared_with == ["lm_head.weight"]
        assert "lm_head.weight" not in by_name
    if case.startswith("t5"):
        assert by_name["shared.weight"].shared_with == tied["shared.weight"] != []
    dicts = r.as_dict()["parameters"]
    assert [d["name"] for d in dicts] == [s.name for s in r.parameters]
    for d, s in zip(dicts, r.parameters, strict=True):
        assert d["grad_norm"] == s.grad_norm and d["norm"] == s.norm and d["grad_to_weight"] == s.grad_to_weight
        assert d["module"] == s.module and list(d["shape"]) == s.shape and list(d["shared_with"]) == s.shared_with


def test_a_row_per_module_owning_parameters(case):
    model, _, r = analysed(case)
    owners = {n or type(m).__name__ for n, m in model.named_modules()  # the root module's row is named by its class
              if any(p.requires_grad for p in m.parameters(recurse=False))}
    assert {row.name for row in r.layers} == owners
    assert len(r.layers) == len(owners)


def test_a_healthy_model_raises_no_alarm(case):
    r = analysed(case)[2]
    assert r.alarms == () and r.verdict == "healthy", [(a.kind, a.modules, a.text) for a in r.alarms]


def test_frozen_parameters_are_left_out():
    """requires_grad=False: no entry for the tensor; the trainable ones still match the plain script."""
    model = zoo.Encoder()
    model.embed.weight.requires_grad_(False)
    inputs = zoo.token_classes()
    r = analyse_module(model, seed=SEED, eval_mode=True, check_advice=False, **inputs)
    grads = reference(model, inputs)
    assert "embed.weight" not in {s.name for s in r.parameters}
    assert {s.name for s in r.parameters} == {n for n, p in model.named_parameters() if p.requires_grad}
    for s in r.parameters:
        assert s.grad_norm == pytest.approx(float(grads[s.name].norm()), rel=RTOL)


def test_train_mode_gradient_matches_too():
    """eval_mode=False: analyse_module runs model.train(); BatchNorm takes batch statistics on both sides."""
    model = zoo.ResNet()
    inputs = zoo.ZOO["resnet_basic"].inputs()
    r = analyse_module(model, seed=SEED, check_advice=False, **inputs)
    grads = zoo.plain_grads(model, inputs, seed=SEED, train=True)
    assert {s.name for s in r.parameters} == set(grads)
    for s in r.parameters:
        assert s.grad_norm == pytest.approx(float(grads[s.name].norm()), rel=RTOL, abs=1e-300), s.name
