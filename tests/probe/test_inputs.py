"""Inputs of `vanish --model`: npz arrays as keywords, the model's own loss, token-level cross-entropy, random
token ids, each against a plain torch computation written here."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from dlcli.errors import InputError  # noqa: E402
from dlcli.probe.inputs import arrays_batch, as_batch, cross_entropy, input_embedding, loss_value, model_batch  # noqa: E402


class Tagger(nn.Module):
    """Token ids (B, T) and a mask in, per-token logits (B, T, 7) out."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.head = nn.Linear(6, 7)

    def forward(self, input_ids, attention_mask=None, labels=None):
        h = self.emb(input_ids)
        if attention_mask is not None:
            h = h * attention_mask.unsqueeze(-1).to(h.dtype)
        logits = self.head(h)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.reshape(-1, 7), labels.reshape(-1))
        return {"loss": loss, "logits": logits} if loss is not None else {"logits": logits}


def test_token_level_cross_entropy_matches_torch_with_ignored_positions():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 11, (3, 5), generator=g)
    labels[0, :2] = -100
    want = nn.functional.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1), ignore_index=-100)
    assert float(cross_entropy(torch, logits, labels)) == pytest.approx(float(want), rel=1e-14)
    images = torch.randn(2, 4, 3, 3, generator=g, dtype=torch.float64)  # (B, C, H, W) with (B, H, W): axis 1
    pixels = torch.randint(0, 4, (2, 3, 3), generator=g)
    assert float(cross_entropy(torch, images, pixels)) == pytest.approx(
        float(nn.functional.cross_entropy(images, pixels)), rel=1e-14)
    with pytest.raises(InputError, match="labels run from 11 to 11, the output has 11 classes"):
        cross_entropy(torch, logits, torch.full((3, 5), 11))
    with pytest.raises(InputError, match="fit no class axis"):
        cross_entropy(torch, logits, torch.zeros(3, 4, dtype=torch.int64))


def test_arrays_become_keywords_of_forward_with_their_kinds():
    model = Tagger().double()
    arrays = {"input_ids": np.arange(12, dtype=np.int32).reshape(2, 6), "attention_mask": np.ones((2, 6), bool),
              "labels": np.zeros((2, 6), np.int64)}
    batch, loss = model_batch(torch, model, arrays_batch(model, arrays, "f.npz"), None, None, "cpu", torch.float64)
    assert loss == "model"  # forward takes labels and the data has them
    assert batch.args == () and batch.kwargs["input_ids"].dtype == torch.int64
    assert batch.kwargs["attention_mask"].dtype == torch.bool and batch.kwargs["labels"].dtype == torch.int64
    assert batch.shapes() == "input_ids (2, 6), attention_mask (2, 6), labels (2, 6)"
    floats = as_batch(torch, {"input_ids": np.zeros((2, 3), np.float64)}, None, "cpu", torch.float32)
    assert floats.kwargs["input_ids"].dtype == torch.float32
    positional = arrays_batch(model, {"x0": np.zeros((2, 3), np.int64), "x1": np.ones((2, 3))}, "f.npz")
    assert [a.dtype for a in positional.args] == [np.int64, np.float64]
    assert positional.head(1).args[0].shape == (1, 3)


@pytest.mark.parametrize("arrays, message", [
    ({"input_ids": np.zeros((2, 3), int), "pixels": np.zeros((2, 3))}, "array 'pixels' names no parameter of "
                                                                      "Tagger.forward"),
    ({"input_ids": np.zeros((2, 3), int), "attention_mask": np.ones((3, 3))}, "'attention_mask' has 3 examples"),
    ({"x": np.zeros((2, 3)), "input_ids": np.zeros((2, 3), int)}, "'x' is the one positional input"),
    ({"input_ids": np.zeros((2, 3), int), "y": np.zeros(2, int), "labels": np.zeros(2, int)}, "targets once"),
])
def test_bad_arrays_are_refused_in_one_line(arrays, message):
    with pytest.raises(InputError, match=message):
        arrays_batch(Tagger(), arrays, "f.npz")


def test_model_loss_is_the_outputs_loss_or_its_scalar_and_refused_without_one():
    model = Tagger().double()
    ids = torch.randint(0, 20, (2, 4))
    labels = torch.randint(0, 7, (2, 4))
    out = model(ids, labels=labels)
    assert float(loss_value(torch, "model", out, labels, 0).detach()) == float(out["loss"].detach())
    assert float(loss_value(torch, "model", out["loss"], labels, 0)) == float(out["loss"])
    with pytest.raises(InputError, match="holds no loss"):
        loss_value(torch, "model", model(ids)["logits"], None, 0)
    with pytest.raises(InputError, match="takes no labels"):
        model_batch(torch, nn.Linear(3, 2), np.zeros((2, 3)), np.zeros(2, np.int64), "model", "cpu", torch.float64)


def test_the_first_embedding_is_found():
    assert input_embedding(torch, Tagger()) is not None
    assert input_embedding(torch, nn.Sequential(nn.Linear(3, 2), nn.Embedding(4, 2))) is None


def test_memory_estimate_takes_a_batch_of_keywords():
    from dlcli.vanish.memory import estimate_module_bytes

    model = Tagger()
    batch, _ = model_batch(torch, model, {"input_ids": np.zeros((4, 5), np.int64)}, None, None, "cpu", torch.float32)
    params = sum(p.numel() * 4 for p in model.parameters())
    need = estimate_module_bytes(torch, model, batch.head(2), 4)
    assert need > 2 * params  # the outputs the pass keeps are counted, not an error swallowed as 0
