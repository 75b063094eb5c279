"""The two optimisers training uses: Adam with a learning-rate schedule, and L-BFGS.

Why not torch.optim: creating any torch.optim optimizer imports PyTorch's compiler (torch._dynamo),
about 1.5 s — a fifth of a whole `grc train` on the petal. Both are a few vector operations per step.
(SciPy's L-BFGS-B was tried: its import costs 0.5 s and each iteration 0.9 ms more here.)
The L-BFGS loop and the schedules are grc.fit's (numpy, shared with the template fit).
"""

from __future__ import annotations

import math

import torch

from .fit import cosine, one_cycle  # noqa: F401  (the schedules live with the template fit, free of PyTorch)
from .fit import MemorySlots, minimize as _minimize


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


class FlatAdam:
    """Adam on one flat vector of weights (changed in place); the learning rate is given per step."""

    def __init__(self, theta: torch.Tensor, betas=(0.9, 0.999), eps=1e-8):
        self.theta, self.betas, self.eps, self.t = theta, betas, eps, 0
        self.m, self.v = torch.zeros_like(theta), torch.zeros_like(theta)

    @torch.no_grad()
    def step(self, grad: torch.Tensor, lr: float):
        b1, b2 = self.betas
        self.t += 1
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = self.v.sqrt().div_(math.sqrt(1 - b2 ** self.t)).add_(self.eps)
        self.theta.addcdiv_(self.m, denom, value=-lr / (1 - b1 ** self.t))

    @torch.no_grad()
    def step_rates(self, grad: torch.Tensor, rates: torch.Tensor):
        """A step with one learning rate per weight (`rates`, shaped like the weights)."""
        b1, b2 = self.betas
        self.t += 1
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = self.v.sqrt().div_(math.sqrt(1 - b2 ** self.t)).add_(self.eps)
        self.theta.addcdiv_(self.m * rates, denom, value=-1 / (1 - b1 ** self.t))

    def state(self) -> dict:
        return {"m": self.m.clone(), "v": self.v.clone(), "t": self.t}

    def load(self, state: dict):
        self.m.copy_(state["m"])
        self.v.copy_(state["v"])
        self.t = state["t"]


def lbfgs(params, loss_fn, steps: int, history: int = 20, callback=None) -> float:
    """Minimise loss_fn() over `params` (tensors, changed in place) with L-BFGS; see minimize()."""
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

    return minimize(evaluate, move, steps, history, callback)


def lbfgs_flat(theta: torch.Tensor, evaluate, steps: int, history: int = 20, callback=None) -> float:
    """L-BFGS on one flat vector `theta` (changed in place); evaluate() -> (loss, its gradient, a
    tensor the caller does not reuse)."""
    return minimize(evaluate, lambda direction, t: theta.add_(direction, alpha=t), steps, history, callback)


class Memory(MemorySlots):
    """L-BFGS's last `size` steps s and gradient changes y, and the inverse Hessian estimate they make.

    H·g comes from the compact form of Byrd, Nocedal & Schnabel (1994; Nocedal & Wright eq. 7.24),
    equal to the two-loop recursion but two passes over the memory per iteration instead of 4 vector
    operations per remembered step (with 50 steps the two-loop recursion was most of an iteration's
    time). The products sᵢ·yⱼ and yᵢ·yⱼ are updated as pairs arrive; the small algebra is float64.
    The passes over the memory are what an iteration costs (it is megabytes, read at memory speed), so
    add() also takes the next gradient and reads the memory once for s, y and that gradient together;
    inverse_hessian_times(that gradient) then reads it once more.
    """

    def __init__(self, like: torch.Tensor, size: int):
        super().__init__(size)
        self.SY_rows = torch.zeros(2 * size, len(like), dtype=like.dtype, device=like.device)  # s in slots, then y
        self.SY = torch.zeros(size, size, dtype=torch.float64, device=like.device)  # SY[i, j] = sᵢ·yⱼ (slots)
        self.YY = torch.zeros_like(self.SY)  # YY[i, j] = yᵢ·yⱼ
        self._known = None  # (a gradient, the memory's products with it), from add()

    def clear(self):
        self.count, self.oldest = 0, 0
        self.SY_rows.zero_()
        self._known = None

    def add(self, s: torch.Tensor, y: torch.Tensor, g: torch.Tensor | None = None):
        """Remember the pair (s, y), in place of the oldest when full; `g`, the gradient the next
        inverse_hessian_times will take, is read in the same pass over the memory."""
        m, k = self.size, self.next_slot()
        self.SY_rows[k], self.SY_rows[m + k] = s, y
        P = torch.stack([s, y] if g is None else [s, y, g]) @ self.SY_rows.T  # (2 or 3, 2m): s, y (, g) against all
        P64 = P.double()
        self.SY[:, k], self.SY[k] = P64[1, :m], P64[0, m:]
        self.YY[k] = self.YY[:, k] = P64[1, m:]
        self._known = None if g is None else (g, P[2])

    def inverse_hessian_times(self, g: torch.Tensor) -> torch.Tensor:
        if not self.count:
            return g * min(1.0, 1.0 / max(g.abs().sum().item(), 1e-12))
        m, c, shift = self.size, self.count, -self.oldest
        known = self._known
        ab = (known[1] if known is not None and known[0] is g else self.SY_rows @ g).double().view(2, m)
        if c < m:  # filling: slots 0..c-1, oldest first
            SY, YY, ab = self.SY[:c, :c], self.YY[:c, :c], ab[:, :c]
        else:  # full: the ring turned so that the oldest comes first
            SY, YY, ab = self.SY.roll((shift, shift), (0, 1)), self.YY.roll((shift, shift), (0, 1)), ab.roll(shift, 1)
        gamma = SY[-1, -1] / YY[-1, -1]
        a, b = ab[0, :, None], ab[1, :, None]  # Sᵀg, Yᵀg
        R = SY.triu()
        q = torch.linalg.solve_triangular(R, a, upper=True)  # R⁻¹ Sᵀg
        middle = gamma * YY
        middle.diagonal().add_(SY.diagonal())
        p = torch.linalg.solve_triangular(R.T, middle @ q - gamma * b, upper=False)
        coefficients = torch.cat([p.T, -gamma * q.T])  # (2, c): oldest first
        if c < m:
            coefficients = torch.nn.functional.pad(coefficients, (0, m - c))  # unused slots: 0
        else:
            coefficients = coefficients.roll(-shift, 1)  # back to the slots
        return gamma.to(g.dtype) * g + self.SY_rows.T @ coefficients.view(-1).to(g.dtype)


def minimize(evaluate, move, steps: int, history: int = 20, callback=None) -> float:
    """L-BFGS on tensors: grc.fit.minimize with this module's Memory."""
    return _minimize(evaluate, move, steps, history, callback, memory=Memory)
