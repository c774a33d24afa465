"""`vanish --model` on tiny Hugging Face models and token inputs: npz keyword arrays, the model's own loss,
token-level cross-entropy and random token ids, against plain torch scripts written here."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import one_line_error  # noqa: E402

pytest.importorskip("transformers")

MODELS = '''
import torch
import transformers
from torch import nn

transformers.logging.set_verbosity_error()

def gpt2():
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=32, resid_pdrop=0.0,
                                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config)

def bert():
    config = transformers.BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                                     vocab_size=100, max_position_embeddings=32, num_labels=3, hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0)
    return transformers.BertForSequenceClassification(config)

class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.head = nn.Linear(6, 7)
    def forward(self, input_ids, attention_mask=None):
        return {"logits": self.head(self.emb(input_ids))}
'''
SEED = 3


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf")
    (d / "hf.py").write_text(textwrap.dedent(MODELS))
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 100, (4, 10))
    mask = np.ones((4, 10), dtype=np.int64)
    mask[1, 7:] = 0
    np.savez(d / "lm.npz", input_ids=ids, attention_mask=mask, labels=rng.integers(0, 100, (4, 10)))
    np.savez(d / "cls.npz", input_ids=ids.astype(np.int32), attention_mask=mask, labels=rng.integers(0, 3, 4))
    np.savez(d / "tags.npz", input_ids=rng.integers(0, 20, (3, 5)), labels=rng.integers(0, 7, (3, 5)))
    return d


def reference(models, name, data, loss_of):
    """The plain script: the same seeded model in float64, one forward and backward, every p.grad."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hf_reference", models / "hf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(SEED)
    model = getattr(module, name)().double().train()
    arrays = dict(np.load(models / data))
    labels = torch.from_numpy(arrays.pop("labels"))
    inputs = {k: torch.from_numpy(v.astype(np.int64)) for k, v in arrays.items()}
    loss_of(model, inputs, labels).backward()
    weights = {n: getattr(m, "weight", None) for n, m in model.named_modules()}  # lm_head's weight is wte's
    return {f"{n}.weight": float(w.grad.norm()) for n, w in weights.items() if w is not None and w.grad is not None}


def run_json(cli, *args):
    out = cli("vanish", *args, "--dtype", "float64", "--seed", str(SEED), "--format", "json")
    assert out.exit_code == 0, out.stderr
    return json.loads(out.stdout)


def test_gpt2_with_its_own_loss_matches_the_plain_script(cli, models):
    doc = run_json(cli, "--model", f"{models}/hf.py:gpt2", "--data", f"{models}/lm.npz")
    assert doc["config"]["loss"] == "model" and doc["config"]["batch"] == 4 and doc["config"]["input_shape"] == [10]
    grads = reference(models, "gpt2", "lm.npz", lambda m, inputs, labels: m(**inputs, labels=labels).loss)
    rows = {r["name"]: r for r in doc["layers"]}
    for name in ("transformer.h.0.mlp.c_fc", "transformer.h.1.attn.c_attn", "lm_head"):
        assert rows[name]["weight_grad_norm"] == pytest.approx(grads[f"{name}.weight"], rel=1e-10), name


def test_token_level_cross_entropy_on_gpt2_logits_matches_torch(cli, models):
    doc = run_json(cli, "--model", f"{models}/hf.py:gpt2", "--data", f"{models}/lm.npz", "--loss", "cross_entropy")
    assert doc["config"]["loss"] == "cross_entropy"

    def plain(model, inputs, labels):
        logits = model(**inputs).logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 100), labels.reshape(-1), ignore_index=-100)

    grads = reference(models, "gpt2", "lm.npz", plain)
    rows = {r["name"]: r for r in doc["layers"]}
    for name in ("transformer.h.0.attn.c_proj", "lm_head"):
        assert rows[name]["weight_grad_norm"] == pytest.approx(grads[f"{name}.weight"], rel=1e-10), name


def test_bert_classifier_with_int32_ids_and_its_own_loss(cli, models):
    doc = run_json(cli, "--model", f"{models}/hf.py:bert", "--data", f"{models}/cls.npz")
    assert doc["config"]["loss"] == "model"
    grads = reference(models, "bert", "cls.npz", lambda m, inputs, labels: m(**inputs, labels=labels).loss)
    rows = {r["name"]: r for r in doc["layers"]}
    for name in ("bert.encoder.layer.0.attention.self.query", "classifier"):
        assert rows[name]["weight_grad_norm"] == pytest.approx(grads[f"{name}.weight"], rel=1e-10), name


def test_random_token_ids_for_an_embedding_input(cli, models):
    from dlcli.probe.run import ModelOptions, model_inputs

    args = ("--model", f"{models}/hf.py:Tagger", "--input-shape", "5", "--batch", "3")
    doc = run_json(cli, *args)
    assert doc["config"]["data"] == "random token ids below 20" and doc["config"]["input_shape"] == [5]
    assert run_json(cli, *args)["layers"] == doc["layers"]
    opts = ModelOptions("m", None, None, None, 3, "5", None, None, "cpu", SEED, None, None, False, None)
    from torch import nn

    model = nn.Sequential(nn.Embedding(20, 4), nn.Linear(4, 2))
    batch, data = model_inputs(torch, model, opts, None, (5,), SEED, None)
    ids = batch.args[0]
    assert ids.dtype == np.int64 and ids.shape == (3, 5) and 0 <= ids.min() and ids.max() < 20
    again, _ = model_inputs(torch, model, opts, None, (5,), SEED, None)
    other, _ = model_inputs(torch, model, opts, None, (5,), SEED + 1, None)
    assert np.array_equal(again.args[0], ids) and not np.array_equal(other.args[0], ids)
    out = cli("vanish", "--model", f"{models}/hf.py:Tagger", "--batch", "3")
    assert out.exit_code == 2 and "give --input-shape T" in out.stderr


def test_bad_inputs_get_one_line(cli, models, tmp_path):
    tagger = f"{models}/hf.py:Tagger"
    np.savez(tmp_path / "odd.npz", input_ids=np.zeros((3, 5), int), pixels=np.zeros((3, 2)))
    one_line_error(cli("vanish", "--model", tagger, "--data", f"{tmp_path}/odd.npz"), "array 'pixels' names no "
                   "parameter of Tagger.forward (it takes: input_ids, attention_mask)")
    np.savez(tmp_path / "sizes.npz", input_ids=np.zeros((3, 5), int), attention_mask=np.ones((2, 5), int))
    one_line_error(cli("vanish", "--model", tagger, "--data", f"{tmp_path}/sizes.npz"), "'attention_mask' has 2")
    np.savez(tmp_path / "both.npz", x=np.zeros((3, 5), int), input_ids=np.zeros((3, 5), int))
    one_line_error(cli("vanish", "--model", tagger, "--data", f"{tmp_path}/both.npz"), "'x' is the one positional")
    np.savez(tmp_path / "ids.npz", input_ids=np.zeros((3, 5), int))
    one_line_error(cli("vanish", "--model", tagger, "--data", f"{tmp_path}/ids.npz", "--loss", "model",
                       "--batch", "3"),
                   "--loss model", "holds no loss")
    np.savez(tmp_path / "big.npz", input_ids=np.zeros((3, 5), int), y=np.full((3, 5), 7))
    one_line_error(cli("vanish", "--model", tagger, "--data", f"{tmp_path}/big.npz", "--batch", "3"),
                   "labels run from 7 to 7", "7 classes")
    one_line_error(cli("vanish", "--model", tagger, "--data", f"{models}/tags.npz", "--loss", "model",
                       "--batch", "3"),
                   "Tagger.forward takes no labels=")


def test_train_model_on_keyword_arrays_learns(cli, models, tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 40)
    ids = rng.integers(3, 100, (40, 6))
    ids[:, 0] = y  # the first token gives the class away
    np.savez(tmp_path / "train.npz", input_ids=ids, attention_mask=np.ones((40, 6), np.int64), labels=y)
    common = ("--data", f"{tmp_path}/train.npz", "--epochs", "4", "--batch", "16", "--optimizer", "adam", "--lr",
              "0.003", "--dtype", "float32", "--seed", "0", "--format", "json", "--no-chart")
    out = cli("train", "--model", f"{models}/hf.py:bert", *common)
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    doc = doc[0] if isinstance(doc, list) else doc
    losses = [e["train_loss"] for e in doc["epochs"]]
    assert doc["config"]["loss"] == "model" and losses[-1] < losses[0]
    assert doc["data"]["classes"] == 3 and 0 <= doc["epochs"][-1]["test_accuracy"] <= 1
    np.savez(tmp_path / "lm.npz", input_ids=ids, labels=ids)
    lm = cli("train", "--model", f"{models}/hf.py:gpt2", "--loss", "cross_entropy", "--data", f"{tmp_path}/lm.npz",
             *common[2:])
    assert lm.exit_code == 0, lm.stderr
    doc = json.loads(lm.stdout)
    doc = doc[0] if isinstance(doc, list) else doc
    losses = [e["train_loss"] for e in doc["epochs"]]
    assert doc["config"]["loss"] == "cross_entropy" and losses[-1] < losses[0]
    accuracy = doc["epochs"][-1]["test_accuracy"]
    assert doc["data"]["classes"] is None and (accuracy is None or np.isnan(accuracy))  # no accuracy per token
