"""Tiny models whose gradient flow is known by construction, for the probe's tests and the docs' table.

timm-style blocks are written out here (timm is not a dependency): ResNet basic/bottleneck blocks with the last
BatchNorm's γ zero-initialised and the shortcut added in place, a ConvNeXt block with layer scale 1e-6, a
MobileNetV3-style block with squeeze-excitation; beside them an encoder-only transformer, an LSTM, tiny Hugging Face
models built from configs (random init, nothing downloaded) and deliberately broken networks.

ZOO maps a name to a Case: a one-line description, the model builder, the inputs builder (the keyword arguments
of analyse_module besides the model), the alarm kind expected (None: healthy) and the modules it should name.
Everything is float64 and seeded, so each pass is the same on every run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 100


class Case(NamedTuple):
    description: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], dict[str, Any]]   # x, y, loss (and output) for analyse_module
    kind: str | None                       # the alarm kind expected; None: healthy, no alarm
    modules: tuple[str, ...] = ()          # the modules the alarm should name
    match: str = "any"                     # "any": one of `modules` named; "all": every one; "first": modules[0]


# --- inputs --------------------------------------------------------------------------------------------

def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def vectors(batch: int = 32, width: int = 32, seed: int = 0) -> dict[str, Any]:
    return {"x": torch.randn(batch, width, generator=_gen(seed), dtype=torch.float64)}


def images(batch: int = 8, size: int = 16, seed: int = 0) -> dict[str, Any]:
    return {"x": torch.randn(batch, 3, size, size, generator=_gen(seed), dtype=torch.float64)}


def tokens(batch: int = 4, length: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=_gen(seed))


def token_classes(batch: int = 4, length: int = 8, seed: int = 0) -> dict[str, Any]:
    """(B, T) tokens and (B, T) next-token labels, a few of them ignored (-100): loss cross_entropy on (B, T, V)."""
    ids = tokens(batch, length, seed)
    labels = torch.randint(0, VOCAB, (batch, length), generator=_gen(seed + 1))
    labels[0, :2] = -100
    return {"x": ids, "y": labels, "loss": "cross_entropy"}


def lm_inputs(seed: int = 0) -> dict[str, Any]:
    """A causal LM's own loss: input_ids as keyword, labels = the input ids (the model shifts them)."""
    ids = tokens(seed=seed)
    labels = ids.clone()
    labels[0, -2:] = -100
    return {"x": {"input_ids": ids}, "y": labels, "loss": "model"}


def bert_inputs(seed: int = 0) -> dict[str, Any]:
    ids = tokens(seed=seed)
    mask = torch.ones_like(ids)
    mask[1, -3:] = 0  # padding in the second sequence
    mask[3, -1:] = 0
    return {"x": {"input_ids": ids, "attention_mask": mask}, "y": torch.tensor([0, 2, 1, 2]), "loss": "model"}


# --- healthy building blocks ---------------------------------------------------------------------------

def relu_mlp(depth: int = 6, width: int = 64, d_in: int = 32, d_out: int = 10) -> nn.Sequential:
    """Linear + nn.ReLU, weights N(0, 2/fan_in) (kaiming), zero biases."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(depth):
        lin = nn.Linear(d_in if i == 0 else width, width)
        nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.ReLU()]
    layers.append(nn.Linear(width, d_out))
    return nn.Sequential(*layers).double()


class BasicBlock(nn.Module):
    """timm's ResNet BasicBlock: conv-bn-act, conv-bn (γ zero-initialised), `x += shortcut`, act."""

    def __init__(self, cin: int, cout: int, stride: int = 1, functional: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        nn.init.zeros_(self.bn2.weight)  # zero_init_last
        self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act2 = nn.ReLU(inplace=True)
        self.functional = functional

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        x += shortcut
        return F.relu(x) if self.functional else self.act2(x)


class Bottleneck(nn.Module):
    """timm's ResNet Bottleneck: 1x1, 3x3, 1x1 (last bn γ zero-initialised), `x += shortcut`, act."""

    def __init__(self, cin: int, width: int, stride: int = 1, functional: bool = False):
        super().__init__()
        cout = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        nn.init.zeros_(self.bn3.weight)  # zero_init_last
        self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act3 = nn.ReLU(inplace=True)
        self.functional = functional

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        x += shortcut
        return F.relu(x) if self.functional else self.act3(x)


class ResNet(nn.Module):
    """Stem conv-bn-relu + maxpool, residual stages, global average pooling, fc (timm's layout, tiny)."""

    def __init__(self, block: str = "basic", functional: bool = False, classes: int = 10):
        super().__init__()
        torch.manual_seed(1)
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        if block == "basic":
            self.layer1 = nn.Sequential(BasicBlock(8, 8, functional=functional),
                                        BasicBlock(8, 8, functional=functional))
            self.layer2 = nn.Sequential(BasicBlock(8, 16, 2, functional), BasicBlock(16, 16, functional=functional))
            features = 16
        else:
            self.layer1 = nn.Sequential(Bottleneck(8, 4, functional=functional),
                                        Bottleneck(16, 4, functional=functional))
            self.layer2 = nn.Sequential(Bottleneck(16, 8, 2, functional), Bottleneck(32, 8, functional=functional))
            features = 32
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(features, classes)
        self.double()

    def forward(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(self.global_pool(x).flatten(1))


class LayerNorm2d(nn.LayerNorm):
    """timm's LayerNorm2d: LayerNorm over the channels of (B, C, H, W)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, LayerNorm over channels (channels last), Linear 4C, GELU, Linear C, γ = 1e-6 layer scale."""

    def __init__(self, dim: int, ls_init: float = 1e-6):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(ls_init * torch.ones(dim))

    def forward(self, x):
        shortcut = x
        x = self.conv_dw(x).permute(0, 2, 3, 1)
        x = self.fc2(self.act(self.fc1(self.norm(x))))
        x = (x * self.gamma).permute(0, 3, 1, 2)
        return x + shortcut


class ConvNeXt(nn.Module):
    def __init__(self, dim: int = 16, depth: int = 2, classes: int = 10):
        super().__init__()
        torch.manual_seed(2)
        self.stem = nn.Sequential(nn.Conv2d(3, dim, 4, stride=4), LayerNorm2d(dim, eps=1e-6))
        self.stages = nn.Sequential(*[ConvNeXtBlock(dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.double()

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.head(self.norm(x.mean((2, 3))))


class SqueezeExcite(nn.Module):
    """avgpool → 1x1 conv → relu → 1x1 conv → hardsigmoid → multiply."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced, 1)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.conv_expand(self.act1(self.conv_reduce(s))))


class InvertedResidual(nn.Module):
    """MobileNetV3: 1x1 expand, depthwise 3x3, squeeze-excitation, 1x1 project (linear), skip when shapes match."""

    def __init__(self, cin: int, mid: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv_pw = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act1 = nn.Hardswish()
        self.conv_dw = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.act2 = nn.Hardswish()
        self.se = SqueezeExcite(mid, max(mid // 4, 4))
        self.conv_pwl = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv_pw(x)))
        x = self.se(self.act2(self.bn2(self.conv_dw(x))))
        x = self.bn3(self.conv_pwl(x))
        return x + shortcut if self.has_skip else x


class MobileNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        torch.manual_seed(3)
        self.conv_stem = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = nn.Hardswish()
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 16), InvertedResidual(16, 64, 24, 2),
                                    InvertedResidual(24, 72, 24))
        self.conv_head = nn.Conv2d(24, 64, 1)
        self.act2 = nn.Hardswish()
        self.classifier = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
        self.double()

    def forward(self, x):
        x = self.blocks(self.act1(self.bn1(self.conv_stem(x))))
        x = self.act2(self.conv_head(x.mean((2, 3), keepdim=True)))
        return self.classifier(x.flatten(1))


class Encoder(nn.Module):
    """Embedding + learned positions, two nn.TransformerEncoderLayer(batch_first=True), a (B, T, V) head."""

    def __init__(self, dim: int = 32, length: int = 8):
        super().__init__()
        torch.manual_seed(4)
        self.embed = nn.Embedding(VOCAB, dim)
        self.pos = nn.Parameter(0.02 * torch.randn(1, length, dim))
        self.layers = nn.ModuleList([nn.TransformerEncoderLayer(dim, 2, 64, dropout=0.0, batch_first=True)
                                     for _ in range(2)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, VOCAB)
        self.double()

    def forward(self, ids):
        x = self.embed(ids) + self.pos[:, :ids.shape[1]]
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x))


class LSTMNet(nn.Module):
    """Embedding → nn.LSTM(num_layers=2, batch_first) → Linear on the last step."""

    def __init__(self, dim: int = 16, hidden: int = 32, classes: int = 10):
        super().__init__()
        torch.manual_seed(5)
        self.embed = nn.Embedding(VOCAB, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)
        self.double()

    def forward(self, ids):
        out, _ = self.lstm(self.embed(ids))
        return self.fc(out[:, -1])


# --- tiny Hugging Face models (random init from configs, dropout 0) -------------------------------------

def gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(6)
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=16, n_embd=32, n_layer=2, n_head=2, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg).double()


def bert() -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(7)
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=16, num_labels=3, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(cfg).double()


def llama() -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(8)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16, bos_token_id=0,
                      eos_token_id=0, pad_token_id=0)
    return LlamaForCausalLM(cfg).double()


def t5() -> nn.Module:
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(9)
    cfg = T5Config(vocab_size=VOCAB, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=2,
                   dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    return T5ForConditionalGeneration(cfg).double()


# --- broken by construction ----------------------------------------------------------------------------

class DeadFunctional(nn.Module):
    """F.relu(fc1(x) - 100): every unit of fc1 is off for every input, so fc1 gets no gradient."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(10)
        self.fc1, self.fc2, self.fc3 = nn.Linear(32, 64), nn.Linear(64, 64), nn.Linear(64, 10)
        self.double()

    def forward(self, x):
        h = F.relu(self.fc1(x) - 100)
        return self.fc3(F.relu(self.fc2(h)))


class DeadBias(nn.Module):
    """fc1's bias −10 (pre-activations ~ N(−10, 0.6²)) before an nn.ReLU module: every unit dead."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(11)
        self.fc1, self.act1 = nn.Linear(32, 64), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(64, 64), nn.ReLU()
        self.fc3 = nn.Linear(64, 10)
        nn.init.constant_(self.fc1.bias, -10.0)
        self.double()

    def forward(self, x):
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))))


class DetachedBranch(nn.Module):
    """trunk(x) + branch(x).detach(): the branch runs but none of its layers gets a gradient."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(12)
        self.trunk = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64))
        self.branch = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64))
        self.act = nn.ReLU()
        self.head = nn.Linear(64, 10)
        self.double()

    def forward(self, x):
        return self.head(self.act(self.trunk(x) + self.branch(x).detach()))


class ZeroNorm(nn.Module):
    """LayerNorm γ = 0 on the main path, no skip around it (β kept): nothing below it gets a gradient."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(13)
        self.fc1, self.act1 = nn.Linear(32, 64), nn.ReLU()
        self.fc2 = nn.Linear(64, 64)
        self.norm = nn.LayerNorm(64)
        self.fc3, self.act3 = nn.Linear(64, 64), nn.ReLU()
        self.head = nn.Linear(64, 10)
        nn.init.zeros_(self.norm.weight)
        nn.init.normal_(self.norm.bias)
        self.double()

    def forward(self, x):
        x = self.norm(self.fc2(self.act1(self.fc1(x))))
        return self.head(self.act3(self.fc3(x)))


def sigmoid_stack(depth: int = 12, width: int = 64) -> nn.Sequential:
    """12 × (Linear + Sigmoid), PyTorch's default init: φ' ≤ 1/4 shrinks the gradient about ×0.14 a layer."""
    torch.manual_seed(14)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(32 if i == 0 else width, width), nn.Sigmoid()]
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers).double()


def exploding_mlp(depth: int = 12, width: int = 64, scale: float = 3.0) -> nn.Sequential:
    """12 × (Linear + ReLU), weights 3× kaiming's std: the gradient grows about ×3 a layer."""
    model = relu_mlp(depth, width)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear) and m.out_features == width:
                m.weight.mul_(scale)
    return model


def nan_weight() -> nn.Sequential:
    """5 × (Linear + ReLU); one weight of the middle Linear ("4") is NaN: "4" is the first non-finite output."""
    model = relu_mlp(5, 64)
    with torch.no_grad():
        model[4].weight[3, 5] = math.nan
    return model


class LogNegative(nn.Module):
    """torch.log(fc1(x)) (functional) on negative values: NaN first comes out of fc2, the next module."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(15)
        self.fc1, self.fc2, self.act2, self.fc3 = nn.Linear(32, 64), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)
        self.double()

    def forward(self, x):
        return self.fc3(self.act2(self.fc2(torch.log(self.fc1(x)))))


# --- the zoo ---------------------------------------------------------------------------------------------

def _classes(n: int = 10, batch: int = 32, seed: int = 100) -> torch.Tensor:
    return torch.randint(0, n, (batch,), generator=_gen(seed))


def _mlp_inputs() -> dict[str, Any]:
    return {**vectors(), "y": _classes(), "loss": "cross_entropy"}


def _image_inputs() -> dict[str, Any]:
    return {**images(), "y": _classes(batch=8), "loss": "cross_entropy"}


ZOO: dict[str, Case] = {
    # healthy
    "relu_mlp": Case("6 × (Linear + ReLU), kaiming init", relu_mlp, _mlp_inputs, None),
    "resnet_basic": Case("timm-style ResNet, BasicBlocks: zero-init last BN γ, x += shortcut, nn.ReLU(inplace)",
                         ResNet, _image_inputs, None),
    "resnet_bottleneck_frelu": Case("timm-style ResNet, Bottlenecks, F.relu after the in-place add",
                                    lambda: ResNet("bottleneck", functional=True), _image_inputs, None),
    "convnext": Case("ConvNeXt blocks: depthwise 7x7, channels-last LayerNorm, MLP, layer scale γ = 1e-6",
                     ConvNeXt, _image_inputs, None),
    "mobilenet_se": Case("MobileNetV3-style inverted residuals, Hardswish, squeeze-excitation", MobileNet,
                         _image_inputs, None),
    "transformer_encoder": Case("Embedding + 2 × nn.TransformerEncoderLayer + (B, T, V) head, token cross-entropy",
                                Encoder, token_classes, None),
    "lstm": Case("Embedding → 2-layer nn.LSTM → Linear on the last step", LSTMNet,
                 lambda: {"x": tokens(8), "y": _classes(batch=8), "loss": "cross_entropy"}, None),
    "gpt2": Case("GPT-2 LM (2 layers, tied wte/lm_head), its own loss", gpt2, lm_inputs, None),
    "bert": Case("BERT sequence classifier (2 layers), attention_mask with padding, its own loss", bert,
                 bert_inputs, None),
    "llama": Case("LLaMA causal LM (2 layers, RMSNorm, rotary), its own loss", llama, lm_inputs, None),
    # broken
    "dead_functional_relu": Case("F.relu(fc1(x) − 100): fc1's units all dead", DeadFunctional, _mlp_inputs,
                                 "dead", ("fc1",)),
    "dead_bias": Case("fc1 bias −10 before nn.ReLU: fc1's units all dead", DeadBias, _mlp_inputs, "dead", ("fc1",)),
    "detached_branch": Case("trunk(x) + branch(x).detach(): the branch gets no gradient", DetachedBranch,
                            _mlp_inputs, "no_gradient", ("branch.0", "branch.2"), "all"),
    "zero_norm": Case("LayerNorm γ = 0 on the main path, no skip: no gradient below it", ZeroNorm, _mlp_inputs,
                      "no_gradient", ("fc1", "fc2", "norm")),
    "sigmoid_stack": Case("12 × (Linear + Sigmoid), default init", sigmoid_stack, _mlp_inputs, "vanishing",
                          ("0",)),
    "exploding_init": Case("12 × (Linear + ReLU), weights 3× kaiming's std", exploding_mlp, _mlp_inputs,
                           "exploding", ("0",)),
    "nan_weight": Case("a NaN weight in the middle Linear of 5", nan_weight, _mlp_inputs, "non_finite", ("4",),
                       "first"),
    "log_negative": Case("torch.log of fc1's (partly negative) output", LogNegative, _mlp_inputs, "non_finite",
                         ("fc2",), "first"),
}


# --- the plain-torch reference ---------------------------------------------------------------------------

def projection(out: torch.Tensor, seed: int) -> torch.Tensor:
    """The documented projection loss: Σ v·out, v ~ N(0, 1) from SeedSequence(seed, spawn_key=(1, 0))."""
    v = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, 0))).standard_normal(tuple(out.shape[1:]))
    return (out * torch.from_numpy(v).to(out.dtype)).sum()


def plain_loss(model: nn.Module, x: Any, y: Any = None, loss: str | None = None, output: str | None = None,
               seed: int = 0) -> torch.Tensor:
    """The loss analyse_module takes, written out: model(x) / model(*x) / model(**x), labels= for 'model'."""
    kwargs = dict(x) if isinstance(x, dict) else {}
    args = () if isinstance(x, dict) else tuple(x) if isinstance(x, (tuple, list)) else (x,)
    if loss == "model":
        kwargs["labels"] = y
    out = model(*args, **kwargs)
    if loss == "model":
        return out["loss"]
    if not isinstance(out, torch.Tensor):
        out = out[output] if output is not None else out[0]
    loss = loss or ("projection" if y is None else "cross_entropy")
    if loss == "projection":
        return projection(out, seed)
    if loss == "cross_entropy":
        if out.dim() == 3:
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1), ignore_index=-100)
        return F.cross_entropy(out, y)
    raise ValueError(loss)


def plain_grads(model: nn.Module, inputs: dict[str, Any], seed: int = 0, train: bool = True
                ) -> dict[str, torch.Tensor | None]:
    """p.grad for every named parameter after one plain loss.backward() (grads cleared first)."""
    model.train(train)
    model.zero_grad(set_to_none=True)
    plain_loss(model, seed=seed, **inputs).backward()
    return {n: p.grad for n, p in model.named_parameters()}
