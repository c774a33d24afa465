"""Models as people train them, for `dlcli vanish --model` without any wrapper.

`gpt2` is Hugging Face's GPT2LMHeadModel as it is (tiny config, random init, tied wte/lm_head; needs
transformers). `ResNet` is a timm-style residual network: basic blocks whose last BatchNorm γ starts at zero
(timm's zero_init_last), the shortcut added in place, functional ReLU in the stem, global average pooling.
"""

import torch.nn.functional as F
from torch import nn


def gpt2(layers: int = 4, width: int = 64, heads: int = 4, vocab: int = 512, context: int = 64):
    """A small GPT-2 language model with random weights (no download)."""
    import transformers

    config = transformers.GPT2Config(n_layer=layers, n_embd=width, n_head=heads, vocab_size=vocab,
                                     n_positions=context, bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config)


class BasicBlock(nn.Module):
    def __init__(self, channels_in: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.bn2.weight)  # zero_init_last: each block starts as the identity
        self.downsample = None
        if stride != 1 or channels_in != channels:
            self.downsample = nn.Sequential(nn.Conv2d(channels_in, channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(channels))
        self.act2 = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        x += shortcut
        return self.act2(x)


class ResNet(nn.Module):
    """ResNet-10 on small images: stem, four stages of one basic block each, pooled head."""

    def __init__(self, classes: int = 10, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.layer1 = nn.Sequential(BasicBlock(width, widths[0]))
        self.layer2 = nn.Sequential(BasicBlock(widths[0], widths[1], 2))
        self.layer3 = nn.Sequential(BasicBlock(widths[1], widths[2], 2))
        self.layer4 = nn.Sequential(BasicBlock(widths[2], widths[3], 2))
        self.fc = nn.Linear(widths[3], classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3)))
