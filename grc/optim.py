"""The two optimisers training uses: Adam with a learning-rate schedule, and L-BFGS.

Why not torch.optim: creating any torch.optim optimizer imports PyTorch's compiler (torch._dynamo),
about 1.5 s — a fifth of a whole `grc train` on the petal. Both are a few vector operations per step.
(SciPy's L-BFGS-B was tried: its import costs 0.5 s and each iteration 0.9 ms more here.)
"""

from __future__ import annotations

import math

import torch


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
    """Minimise loss_fn() over `params` (tensors, changed in place) with L-BFGS (Nocedal & Wright,
    Algorithm 7.4) and a backtracking line search, for up to `steps` iterations; `callback(iteration,
    loss)` after each. Returns the final loss."""
    params = [p for p in params]

    def evaluate():
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        return loss.item(), torch.cat([p.grad.reshape(-1) for p in params])

    def move(direction, t):
        with torch.no_grad():
            for p, chunk in zip(params, direction.split([p.numel() for p in params])):
                p.add_(chunk.view_as(p), alpha=t)

    loss, grad = evaluate()
    memory = []  # (s, y, 1 / y·s) of the last `history` steps
    for iteration in range(1, steps + 1):
        direction = -grad  # the two-loop recursion: direction = -H grad
        alphas = []
        for s, y, rho in reversed(memory):
            alphas.append(rho * s.dot(direction))
            direction = direction - alphas[-1] * y
        if memory:
            s, y, _ = memory[-1]
            direction = direction * (s.dot(y) / y.dot(y))
        else:
            direction = direction * min(1.0, 1.0 / max(grad.abs().sum().item(), 1e-12))
        for (s, y, rho), alpha in zip(memory, reversed(alphas)):
            direction = direction + (alpha - rho * y.dot(direction)) * s
        slope = grad.dot(direction).item()
        if not slope < 0:  # not a descent direction: start the memory afresh
            if not memory:
                break
            memory.clear()
            continue
        t, moved = 1.0, 0.0
        for _ in range(30):  # backtrack until the loss falls enough (Armijo)
            move(direction, t - moved)
            moved = t
            new_loss, new_grad = evaluate()
            if new_loss <= loss + 1e-4 * t * slope:
                break
            t /= 2
        else:
            move(direction, -moved)
            break
        s, y = direction * t, new_grad - grad
        sy = s.dot(y).item()
        if sy > 1e-12:
            memory = memory[-(history - 1):] + [(s, y, 1.0 / sy)] if history > 1 else [(s, y, 1.0 / sy)]
        converged = abs(loss - new_loss) <= 1e-15 * max(1.0, abs(loss))
        loss, grad = new_loss, new_grad
        if callback:
            callback(iteration, loss)
        if converged:
            break
    return loss
