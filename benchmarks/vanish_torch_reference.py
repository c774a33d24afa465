"""The reference for `dlcli vanish --depth 20 --act sigmoid`: the same experiment as a minimal PyTorch script.

nn.Sequential of 20 Linear(256, 256) + Sigmoid layers at PyTorch's default initialisation, a batch of 64
standard-normal inputs, the loss Σ v·a_L for a fixed random v, one backward pass, and per layer the
weight-gradient norm and the RMS of ∂loss/∂z_l, then the layer-1/layer-20 ratio.
Run: python benchmarks/vanish_torch_reference.py
"""

import torch

torch.manual_seed(0)
depth, width, batch = 20, 256, 64
layers = []
for _ in range(depth):
    layers += [torch.nn.Linear(width, width, dtype=torch.float64), torch.nn.Sigmoid()]
model = torch.nn.Sequential(*layers)
x = torch.randn(batch, width, dtype=torch.float64)
v = torch.randn(width, dtype=torch.float64)

zs = []
a = x
for module in model:
    a = module(a)
    if isinstance(module, torch.nn.Linear):
        a.retain_grad()
        zs.append(a)
loss = (a @ v).sum()
loss.backward()

norms = [float(m.weight.grad.norm()) for m in model if isinstance(m, torch.nn.Linear)]
for i, (norm, z) in enumerate(zip(norms, zs, strict=True), start=1):
    print(f"{i}\t{norm:.4g}\t{float(z.grad.pow(2).mean().sqrt()):.4g}")
print(f"gradient ratio {norms[0] / norms[-1]:.3g}")
