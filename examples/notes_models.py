"""Models for `dlcli vanish --model examples/notes_models.py:NAME` (loading this file runs it, as any --model .py).

`sequential` and `ANN` are the deep-learning notes' 784-128-10 network, as nn.Sequential and as a class;
`SigmoidCNN` is a deeper convolutional network with a problem: sigmoid after every convolution.
"""

import torch
from torch import nn
from torch.nn import Linear, ReLU

# The notes' nn.Sequential model.
sequential = nn.Sequential(
    Linear(784, 128),
    ReLU(),
    Linear(128, 10),
)


class ANN(nn.Module):
    """The notes' custom model: the same network as a class."""

    def __init__(self):
        super(ANN, self).__init__()  # noqa: UP008 - as the notes write it
        self.layer1 = Linear(784, 128)
        self.layer2 = ReLU()
        self.layer3 = Linear(128, 10)

    def forward(self, x):
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)

        return x


class SigmoidCNN(nn.Module):
    """Eight 3x3 convolutions with sigmoid after each, on 8x8 digits (1 channel): the first layers barely learn."""

    def __init__(self, depth: int = 8, channels: int = 16, classes: int = 10):
        super().__init__()
        layers = []
        for i in range(depth):
            layers += [nn.Conv2d(1 if i == 0 else channels, channels, 3, padding=1), nn.Sigmoid()]
            if i == depth // 2 - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels * 4 * 4, classes)

    def forward(self, x):
        x = self.features(x)
        return self.head(torch.flatten(x, 1))
