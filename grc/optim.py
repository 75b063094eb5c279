"""The two optimisers training uses: Adam with a learning-rate schedule, and L-BFGS (SciPy's).

Why not torch.optim: creating any torch.optim optimizer imports PyTorch's compiler (torch._dynamo),
about 1.5 s — a fifth of a whole `grc train` on the petal. Adam is a few vector operations, and
SciPy's L-BFGS-B (Fortran, float64) is a well-tested minimiser that only needs loss and gradient.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize


class Adam:
    """Adam (Kingma & Ba 2015), as torch.optim.Adam computes it; the learning rate is given per step."""

    def __init__(self, params, betas=(0.9, 0.999), eps=1e-8):
        self.params = [p for p in params]
        self.betas, self.eps, self.t = betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float):
        b1, b2 = self.betas
        self.t += 1
        grads = [p.grad for p in self.params]
        torch._foreach_lerp_(self.m, grads, 1 - b1)  # m = b1 m + (1 - b1) g
        torch._foreach_mul_(self.v, b2)
        torch._foreach_addcmul_(self.v, grads, grads, 1 - b2)  # v = b2 v + (1 - b2) g²
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, math.sqrt(1 - b2 ** self.t))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, denom, -lr / (1 - b1 ** self.t))


def one_cycle(step: int, total: int, peak: float, warmup: float = 0.3) -> float:
    """The one-cycle schedule (as torch's OneCycleLR): from peak/25 up to peak over the first 30%,
    then down to peak/250000, both halves along a cosine."""
    start, end = peak / 25, peak / 25 / 1e4
    rise = max(1.0, warmup * total - 1)
    if step <= rise:
        return _cosine(start, peak, step / rise)
    return _cosine(peak, end, (step - rise) / max(1.0, total - 1 - rise))


def cosine(step: int, total: int, peak: float) -> float:
    """Cosine annealing from peak to 0 over `total` steps."""
    return _cosine(peak, 0.0, step / max(1, total))


def _cosine(a: float, b: float, fraction: float) -> float:
    return b + (a - b) * (1 + math.cos(math.pi * min(max(fraction, 0.0), 1.0))) / 2


def lbfgs(params, loss_fn, steps: int, history: int = 20, callback=None) -> float:
    """Minimise loss_fn() over `params` (tensors, changed in place) with L-BFGS for up to `steps`
    iterations; `callback(iteration, loss)` after each. Returns the final loss."""
    params = [p for p in params]
    sizes = [p.numel() for p in params]
    state = {"iteration": 0, "loss": float("nan")}

    def load(x):
        with torch.no_grad():
            for p, chunk in zip(params, torch.from_numpy(x).split(sizes)):
                p.copy_(chunk.view_as(p))

    def loss_and_grad(x):
        load(x)
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        state["loss"] = loss.item()
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        return state["loss"], grad.detach().cpu().double().numpy()

    def after_iteration(*_):
        state["iteration"] += 1
        if callback:
            callback(state["iteration"], state["loss"])

    x0 = torch.cat([p.detach().reshape(-1) for p in params]).cpu().double().numpy()
    result = minimize(loss_and_grad, x0, jac=True, method="L-BFGS-B", callback=after_iteration,
                      options=dict(maxiter=steps, maxfun=3 * steps, maxcor=history, ftol=0.0, gtol=0.0))
    load(np.asarray(result.x))
    return float(result.fun)
