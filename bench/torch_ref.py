#!/usr/bin/python3
"""torch_ref.py - the PyTorch side of bench/throughput.sh.

Measures samples/s of a full training step (forward, loss, backward, update)
in float32 on the CPU for the benchmark models, on synthetic data of the
same shapes exa trains on:

  a  784-128-10 ReLU, softmax cross-entropy, batch 100, SGD
  b  2-40, 6 residual tanh layers, -1: the Allen-Cahn PINN residual loss
     (first and second input derivatives), batch 1000, Adam
  c  the peaks ODE net: 2-8, 32 residual tanh steps of 1/32, -5, batch 5000, SGD
  d  784-2048-2048-10 ReLU, batch 256, SGD
  e  LeNet: conv 1-6 5x5, relu, maxpool 2, conv 6-16 5x5, relu, maxpool 2,
     120-84-10, batch 100, SGD
  f  GRU of 32 over 128 steps of 16 features (torch.nn.GRU, its fused
     stacked-gate kernel), dense 10, cross-entropy, batch 100, Adam
  g  the same with a GRU of 128 (also the reference of exa's stacked-gate h)
  i  the PINN with the Laplacian: (b)'s net, residual u_xx + u_yy + f,
     batch 1000, Adam

usage: torch_ref.py THREADS MODEL... ; prints "MODEL samples_per_s" lines.
EXA_BENCH_SECONDS (default 2) is how long each model's steps are timed.
EXA_TORCH_DEVICE=cuda runs them on the GPU instead (bench/gpu_check.sh),
waiting for the device before the clock is read.
The caller pins OMP_NUM_THREADS and OPENBLAS_NUM_THREADS as well:
torch.set_num_threads does not reach OpenBLAS.
"""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Mlp(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = F.relu(x)
        return x


class OdeNet(nn.Module):
    """in -> width (tanh), steps residual steps u + h tanh(W u + b), -> out."""

    def __init__(self, n_in, width, steps, n_out, h, act_first=True):
        super().__init__()
        self.first = nn.Linear(n_in, width)
        self.steps = nn.ModuleList(nn.Linear(width, width) for _ in range(steps))
        self.last = nn.Linear(width, n_out)
        self.h = h

    def forward(self, x):
        u = torch.tanh(self.first(x))
        for step in self.steps:
            u = u + self.h * torch.tanh(step(u))
        return self.last(u)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1 = nn.Linear(256, 120)
        self.f2 = nn.Linear(120, 84)
        self.f3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = torch.flatten(x, 1)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


def classification(model, x_shape, classes, batch, lr):
    x = torch.rand((batch,) + x_shape)
    y = torch.randint(0, classes, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=lr)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


def pinn(batch):
    net = OdeNet(2, 40, 5, 1, 1.0)  # tanh(dense) + 5 residual layers = 6 layers of 40
    p = torch.rand(batch, 2) * torch.tensor([1.0, 2.0]) - torch.tensor([0.0, 1.0])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def u_of(q):
        t, x = q[:, 0:1], q[:, 1:2]
        return x ** 2 * torch.cos(torch.pi * x) + net(q) * (x + 1) * (1 - x) * t

    def step():
        opt.zero_grad()
        q = p.clone().requires_grad_(True)
        u = u_of(q)
        du = torch.autograd.grad(u.sum(), q, create_graph=True)[0]
        u_t, u_x = du[:, 0:1], du[:, 1:2]
        u_xx = torch.autograd.grad(u_x.sum(), q, create_graph=True)[0][:, 1:2]
        loss = ((u_t - 0.001 * u_xx - 5 * (u - u ** 3)) ** 2).mean()
        loss.backward()
        opt.step()
    return step


class Gru(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.gru = nn.GRU(16, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.out(self.gru(x)[1][0])


def gru(hidden):
    model = Gru(hidden)
    x = torch.randn(100, 128, 16)
    y = torch.randint(0, 10, (100,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def poisson(batch):
    net = OdeNet(2, 40, 5, 1, 1.0)
    p = torch.rand(batch, 2) * torch.tensor([1.0, 2.0]) - torch.tensor([0.0, 1.0])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    pi = torch.pi

    def step():
        opt.zero_grad()
        q = p.clone().requires_grad_(True)
        u = net(q)
        du = torch.autograd.grad(u.sum(), q, create_graph=True)[0]
        u_xx = torch.autograd.grad(du[:, 0].sum(), q, create_graph=True)[0][:, 0]
        u_yy = torch.autograd.grad(du[:, 1].sum(), q, create_graph=True)[0][:, 1]
        f = 2 * pi ** 2 * torch.sin(pi * q[:, 0]) * torch.sin(pi * q[:, 1])
        loss = ((u_xx + u_yy + f) ** 2).mean()
        loss.backward()
        opt.step()
    return step


MODELS = {
    "a": (lambda: classification(Mlp([784, 128, 10]), (784,), 10, 100, 0.01), 100),
    "b": (lambda: pinn(1000), 1000),
    "c": (lambda: classification(OdeNet(2, 8, 32, 5, 1 / 32), (2,), 5, 5000, 0.01), 5000),
    "d": (lambda: classification(Mlp([784, 2048, 2048, 10]), (784,), 10, 256, 0.01), 256),
    "e": (lambda: classification(LeNet(), (1, 28, 28), 10, 100, 0.01), 100),
    "f": (lambda: gru(32), 100),
    "g": (lambda: gru(128), 100),
    "i": (lambda: poisson(1000), 1000),
}


DEVICE = os.environ.get("EXA_TORCH_DEVICE", "cpu")


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def measure(make, batch, seconds=2.0):
    step = make()
    for _ in range(3):
        step()
    sync()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or n < 5:
        step()
        n += 1
    sync()
    return n * batch / (time.perf_counter() - start)


def main():
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    if DEVICE != "cpu":
        torch.set_default_device(DEVICE)
    torch.manual_seed(0)
    seconds = float(os.environ.get("EXA_BENCH_SECONDS", "2"))
    for name in sys.argv[2:]:
        make, batch = MODELS[name]
        print(f"{name} {measure(make, batch, seconds):.1f}", flush=True)


if __name__ == "__main__":
    main()
