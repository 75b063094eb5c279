"""The template fit in numpy, and the optimisers' schedules and L-BFGS loop (no PyTorch here).

The K template models are tiny (a few thousand weights each, the grid's few dozen rows), and their fit is
1400 iterations: Adam, then L-BFGS with a memory of 50 steps. In PyTorch each of an iteration's ~60
operations cost 5-25 µs of dispatch on these sizes, most of the phase; numpy's cost about 1 µs
(docs/benchmarks.md, session 9). And because nothing here needs PyTorch, `grc train` fits the template
models in a second process (`start_prefit`) while the first imports PyTorch (1.5-2 s): on a machine
with two cores the template phase then costs no wall time. A template model that breaks between its time
steps, where the templates' linear interpolation does not, is mended there too (`mend_between`).

grc.optim (PyTorch) uses `minimize` and the schedules from here.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os

import numpy as np

from .config import Config
from .model import fourier
from .templates import Template, TemplateSet

TEMPLATE_HISTORY = 50  # L-BFGS memory of the template fit
POLISH_STEPS = 200  # L-BFGS steps of a polish (fit_template_models(..., polish=True)), at most


# -- schedules ------------------------------------------------------------------------------------


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


# -- optimisers on numpy vectors ------------------------------------------------------------------


class ArrayAdam:
    """Adam (Kingma & Ba 2015) on one flat numpy vector (changed in place); the learning rate is given per step."""

    def __init__(self, theta: np.ndarray, betas=(0.9, 0.999), eps=1e-8):
        self.theta, self.betas, self.eps, self.t = theta, betas, eps, 0
        self.m, self.v = np.zeros_like(theta), np.zeros_like(theta)
        self.denom = np.empty_like(theta)

    def step(self, grad: np.ndarray, lr: float):
        b1, b2 = self.betas
        self.t += 1
        self.m += (1 - b1) * (grad - self.m)
        self.v *= b2
        self.v += (1 - b2) * grad * grad
        np.sqrt(self.v, out=self.denom)
        self.denom /= math.sqrt(1 - b2 ** self.t)
        self.denom += self.eps
        self.theta -= (lr / (1 - b1 ** self.t)) * self.m / self.denom


class MemorySlots:
    """The ring of an L-BFGS memory's `size` slots (grc.optim.Memory on PyTorch tensors, ArrayMemory on numpy
    arrays): how many hold a pair, and which holds the oldest."""

    def __init__(self, size: int):
        self.size = size
        self.count, self.oldest = 0, 0

    def __bool__(self):
        return self.count > 0

    def next_slot(self) -> int:
        """The slot for a new pair: the next free one, or the oldest pair's when all are in use."""
        if self.count == self.size:
            k, self.oldest = self.oldest, (self.oldest + 1) % self.size
        else:
            k, self.count = self.count, self.count + 1
        return k


class ArrayMemory(MemorySlots):
    """L-BFGS's last `size` steps s and gradient changes y on numpy vectors: grc.optim.Memory's algebra (the
    compact form of Byrd, Nocedal & Schnabel 1994; add() also reads the next gradient in the same pass)."""

    def __init__(self, like: np.ndarray, size: int):
        super().__init__(size)
        self.SY_rows = np.zeros((2 * size, len(like)), dtype=like.dtype)  # s in slots, then y
        self.SY = np.zeros((size, size))  # SY[i, j] = sᵢ·yⱼ (slots)
        self.YY = np.zeros_like(self.SY)  # YY[i, j] = yᵢ·yⱼ
        self._known = None  # (a gradient, the memory's products with it), from add()

    def clear(self):
        self.count, self.oldest = 0, 0
        self.SY_rows[:] = 0
        self._known = None

    def add(self, s: np.ndarray, y: np.ndarray, g: np.ndarray | None = None):
        m, k = self.size, self.next_slot()
        self.SY_rows[k], self.SY_rows[m + k] = s, y
        P = np.stack([s, y] if g is None else [s, y, g]) @ self.SY_rows.T  # (2 or 3, 2m)
        self.SY[:, k], self.SY[k] = P[1, :m], P[0, m:]
        self.YY[k] = self.YY[:, k] = P[1, m:]
        self._known = None if g is None else (g, P[2])

    def inverse_hessian_times(self, g: np.ndarray) -> np.ndarray:
        if not self.count:
            return g * min(1.0, 1.0 / max(float(np.abs(g).sum()), 1e-12))
        m, c, shift = self.size, self.count, -self.oldest
        known = self._known
        ab = (known[1] if known is not None and known[0] is g else self.SY_rows @ g).reshape(2, m)
        if c < m:  # filling: slots 0..c-1, oldest first
            SY, YY, ab = self.SY[:c, :c], self.YY[:c, :c], ab[:, :c]
        else:  # full: the ring turned so that the oldest comes first
            SY, YY = np.roll(self.SY, (shift, shift), (0, 1)), np.roll(self.YY, (shift, shift), (0, 1))
            ab = np.roll(ab, shift, 1)
        gamma = SY[-1, -1] / YY[-1, -1]
        a, b = ab[0, :, None], ab[1, :, None]  # Sᵀg, Yᵀg
        R = np.triu(SY)
        q = np.linalg.solve(R, a)  # R⁻¹ Sᵀg (R is triangular; a general solve of c x c is microseconds)
        middle = gamma * YY
        middle[np.diag_indices(c)] += np.diagonal(SY)
        p = np.linalg.solve(R.T, middle @ q - gamma * b)
        coefficients = np.concatenate([p.T, -gamma * q.T])  # (2, c): oldest first
        if c < m:
            coefficients = np.pad(coefficients, ((0, 0), (0, m - c)))  # unused slots: 0
        else:
            coefficients = np.roll(coefficients, -shift, 1)  # back to the slots
        return gamma * g + self.SY_rows.T @ coefficients.reshape(-1)


def minimize(evaluate, move, steps: int, history: int = 20, callback=None, memory=ArrayMemory) -> float:
    """L-BFGS (Nocedal & Wright, Algorithm 7.4) with a backtracking line search, for up to `steps`
    iterations: evaluate() -> (loss, gradient vector); move(direction, t) adds t * direction to the
    weights; `callback(iteration, loss)` after each; `memory`: the class that keeps the steps (ArrayMemory
    for numpy vectors, grc.optim.Memory for tensors). Returns the final loss."""
    loss, grad = evaluate()
    memory = memory(grad, history)
    for iteration in range(1, steps + 1):
        direction = -memory.inverse_hessian_times(grad)
        slope = float(grad.dot(direction))
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
        if float(s.dot(y)) > 1e-12:
            memory.add(s, y, new_grad)  # new_grad: the next iteration's
        converged = abs(loss - new_loss) <= 1e-15 * max(1.0, abs(loss))
        loss, grad = new_loss, new_grad
        if callback:
            callback(iteration, loss)
        if converged:
            break
    return loss


# -- the template models --------------------------------------------------------------------------


def normalization(templates: TemplateSet, config: Config) -> dict[str, np.ndarray]:
    """What the networks work in: relational coordinates in [-1, 1] (center, scale) and standardized rows
    (row_mean, row_scale), and the grid in them: grid_u (T*M, 2), grid_rows (K, T*M, 3N), float64."""
    K, (T, M, N) = len(templates), templates.grid_shape
    time, morph = templates.time, templates.morph
    t, m = np.meshgrid(time, morph, indexing="ij")
    coords = np.stack([t, m], axis=-1).reshape(-1, 2)  # (T*M, 2)
    rows = templates.points.reshape(K, T * M, 3 * N)  # (K, T*M, 3N)
    lo, hi = np.array([time[0], morph[0]]), np.array([time[-1], morph[-1]])
    if config.normalize:
        center, scale = (lo + hi) / 2, (hi - lo) / 2
        row_mean, row_scale = rows.mean(axis=(0, 1)), float(rows.std()) or 1.0
    else:
        center, scale = np.zeros(2), np.ones(2)
        row_mean, row_scale = np.zeros(3 * N), 1.0
    return {"lo": lo, "hi": hi, "center": center, "scale": scale, "row_mean": row_mean, "row_scale": row_scale,
            "grid_u": (coords - center) / scale, "grid_rows": (rows - row_mean) / row_scale}


def template_inputs(u: np.ndarray, config: Config) -> np.ndarray:
    return fourier(u) if config.template_features == "fourier" else u


def initial_weights(sizes, copies: int, seed: int) -> list[np.ndarray]:
    """K networks' first weights as PyTorch draws them for grc.training.MLP(sizes, copies=K) right after
    torch.manual_seed(seed) (as grc.training.train and grc.population do): its default Linear initialisation,
    uniform in ±1/√fan-in, layer by layer weight then bias, in float32 -> [weight (K, in, out), ..., bias
    (K, 1, out), ...] in float64. PyTorch's CPU generator is the 32-bit Mersenne Twister seeded as numpy's
    legacy RandomState seeds it, and uniform_ takes each float from the low 24 bits of one draw; so the
    template models start where they did when PyTorch drew them (tests/test_training.py checks it)."""
    stream = np.random.RandomState(seed & 0xFFFFFFFF)._bit_generator  # MT19937, init_genrand(seed)
    weights, biases = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = 1 / a ** 0.5
        for shape, out in (((copies, a, b), weights), ((copies, 1, b), biases)):
            low, high = np.float64(np.float32(-bound)), np.float64(np.float32(bound))
            bits = stream.random_raw(int(np.prod(shape))) & 0xFFFFFF
            out.append((bits * 2.0 ** -24 * (high - low) + low).astype(np.float32).astype(np.float64).reshape(shape))
    return weights + biases


class ArrayFlat:
    """K MLPs (ELU between layers) on one flat float64 vector, forward and backward written out: the
    numpy twin of grc.training.Flat. `params`: [weight (K, in, out), ..., bias (K, 1, out), ...]."""

    def __init__(self, params: list[np.ndarray], final_activation: bool):
        self.final_activation = final_activation
        self.theta = np.concatenate([np.asarray(p, np.float64).reshape(-1) for p in params])
        self.grad = np.zeros_like(self.theta)
        ends = np.cumsum([p.size for p in params])[:-1]
        views = [v.reshape(p.shape) for v, p in zip(np.split(self.theta, ends), params)]
        grads = [v.reshape(p.shape) for v, p in zip(np.split(self.grad, ends), params)]
        n = len(params) // 2
        self.weights, self.biases = views[:n], views[n:]
        self.weight_grads, self.bias_grads = grads[:n], grads[n:]
        self.inputs: list[np.ndarray] = []

    def params(self) -> list[np.ndarray]:
        return [*self.weights, *self.biases]

    def activated(self, i: int) -> bool:
        return i < len(self.weights) - 1 or self.final_activation

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.inputs = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            self.inputs.append(x)
            x = x @ w
            x += b
            if self.activated(i):  # ELU: x where x > 0, else exp(x) - 1
                negative = np.minimum(x, 0)
                np.expm1(negative, out=negative)
                np.maximum(x, 0, out=x)
                x += negative
        self.output = x
        return x

    def backward(self, g: np.ndarray):
        """Gradients of a loss whose gradient at the output is g, into self.grad (overwritten)."""
        outputs = self.inputs[1:] + [self.output]
        for i in reversed(range(len(self.weights))):
            if self.activated(i):  # ELU'(z) = 1 where z > 0, else elu(z) + 1
                g = g * (np.minimum(outputs[i], 0) + 1)
            np.matmul(self.inputs[i].transpose(0, 2, 1), g, out=self.weight_grads[i])
            np.sum(g, axis=1, keepdims=True, out=self.bias_grads[i])
            if i:
                g = g @ self.weights[i].transpose(0, 2, 1)


@contextlib.contextmanager
def one_blas_thread():
    """numpy's OpenBLAS on one thread for the duration (as PyTorch is, grc.training.train's `threads`): the
    fit's products are small, and OpenBLAS's second thread cost more CPU than it saved (measured: 1.27 s
    against 0.85 s of CPU per fit), changed the rounding, and on a busy machine waits for its core. Finds the
    library numpy's wheels ship (scipy-openblas); with any other BLAS it does nothing."""
    library = None
    with contextlib.suppress(Exception):
        import ctypes
        import glob

        folder = os.path.dirname(os.path.dirname(np.__file__))
        for path in sorted(glob.glob(os.path.join(folder, "numpy.libs", "*openblas*")) +
                           glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*"))):
            candidate = ctypes.CDLL(path)
            if hasattr(candidate, "scipy_openblas_set_num_threads64_"):
                library = candidate
                break
    if library is None:
        yield
        return
    before = library.scipy_openblas_get_num_threads64_()
    library.scipy_openblas_set_num_threads64_(1)
    try:
        yield
    finally:
        library.scipy_openblas_set_num_threads64_(before)


def fit_template_models(grid_u: np.ndarray, grid_rows: np.ndarray, sizes, config: Config, params=None, report=None,
                        between: float = 0.0, polish: bool = False, only=None) -> tuple[list[np.ndarray], float]:
    """Fit K template models, (time, morph) -> row, on the grid (grid_u (T*M, 2), grid_rows (K, T*M, 3N),
    normalized): Adam with a cosine schedule, then L-BFGS, in float64, from `params` (as initial_weights
    gives them) or initial_weights(config.seed). `report(step, total, loss)` now and then. `between` > 0: the
    rows midway between time steps (`between_rows`) join the fit, each weighing that much against a grid row.
    `polish`: L-BFGS only (from `params`, a fit already made). `only` (K,) bool: fit these template models, keep the
    others as they are.
    -> the fitted [weight, ..., bias, ...] and the mean squared error (at the grid's rows)."""
    with one_blas_thread():
        if only is None:
            return _fit(grid_u, grid_rows, sizes, config, params, report, between, polish)
        # these template models alone (the others' rows cost nothing), then all of them together again
        only = np.asarray(only, bool)
        params = [np.array(p) for p in (initial_weights(sizes, len(grid_rows), config.seed) if params is None else params)]
        if not only.any():
            return params, grid_error(params, grid_u, grid_rows, config)
        fitted, _ = _fit(grid_u, grid_rows[only], sizes, config, [p[only] for p in params], report, between, polish)
        for p, f in zip(params, fitted):
            p[only] = f
        return params, grid_error(params, grid_u, grid_rows, config)


def grid_error(params, grid_u: np.ndarray, grid_rows: np.ndarray, config: Config) -> float:
    """The template models' mean squared error at the grid's rows (normalized)."""
    flat = ArrayFlat(params, config.final_activation)
    e = flat.forward(np.broadcast_to(template_inputs(grid_u, config), (len(grid_rows), len(grid_u), params[0].shape[1])))
    e = e - grid_rows
    return float(np.vdot(e, e)) / e.size


BETWEEN_MORE = 4  # the second polish's midway rows weigh this many times the first's (`mend_between`)
BETWEEN_SAMPLES = 40  # `broken_between` checks times the time range / this apart (at least one between two steps)
BETWEEN_SURFACE = 32  # and judges them subdivided to at most this many quads a side (level 2 for a 9 x 9 grid)


def mend_between(grid_u: np.ndarray, grid_rows: np.ndarray, sizes, config: Config, params, loss: float,
                 templates: TemplateSet, report=None) -> tuple[list[np.ndarray], float]:
    """A fit's template models whose grids break at or between time steps where the templates' linear
    interpolation in time does not (`broken_between`: the leaf's near-point tip between time steps 0.5 and 1)
    are fitted on with the rows midway between time steps joining the fit (`between_rows`, weighing
    config.template_between, then BETWEEN_MORE times that if once is not enough). A polish that does not mend a
    template model is not kept: it only costs the model its fit at the grid. `report(step, total, loss)` now and
    then, as the fit's at its end (the second process's heartbeat: grc.fit.Prefit gives up on a silent one).
    -> (params, loss) as the fit's."""
    if not config.template_between:
        return params, loss
    done = config.template_steps + config.template_lbfgs_steps
    beat = (lambda *_: None) if report is None else (lambda *_: report(done, done, loss))
    broken = broken_between(params, templates, config)
    beat()
    if not broken.any():
        return params, loss
    fitted = params
    for between in (config.template_between, BETWEEN_MORE * config.template_between):
        params, loss = fit_template_models(grid_u, grid_rows, sizes, config, params, report=beat, between=between,
                                           polish=True, only=broken)
        broken = broken_between(params, templates, config, only=broken)
        beat()
        if not broken.any():
            return params, loss
    params = [np.where(broken.reshape(-1, *[1] * (p.ndim - 1)), f, p) for f, p in zip(fitted, params)]
    return params, grid_error(params, grid_u, grid_rows, config)


def broken_between(params, templates: TemplateSet, config: Config, only=None) -> np.ndarray:
    """Which template models' grids break (grc.coherence) at a time step or between time steps (evenly between
    each two, at most the time range / BETWEEN_SAMPLES apart), where the template (at a time step) or its linear
    interpolation in time (Blender's shape keys) does not: (K,) bool. `only` (K,) bool: look at these alone (the
    others are False). The leaf's near-point tip between time steps 0.5 and 1; a thin petal at time 0.1, whose
    fit is close but turns a row over."""
    from .coherence import Coherence, shape_keys

    K = len(templates)
    t = np.asarray(templates.time, float)
    out = np.zeros(K, bool)
    which = np.flatnonzero(np.ones(K, bool) if only is None else only)
    if len(t) < 2 or not len(which):
        return out
    parts = np.maximum(np.ceil((t[1:] - t[:-1]) * BETWEEN_SAMPLES / (t[-1] - t[0])), 2).astype(int)
    times = np.concatenate([t, *(a + (b - a) * np.arange(1, n) / n for a, b, n in zip(t[:-1], t[1:], parts))])
    M = len(templates.morph)
    d = normalization(templates, config)
    u = (np.stack([np.repeat(times, M), np.tile(templates.morph, len(times))], axis=1) - d["center"]) / d["scale"]
    rows = ArrayFlat([p[which] for p in params], config.final_activation).forward(
        np.broadcast_to(template_inputs(u, config), (len(which), len(u), params[0].shape[1])))
    grids = (rows * d["row_scale"] + d["row_mean"]).reshape(len(which) * len(times), M, -1, 3)
    # subdivided as the app judges a shape (level 2) where that keeps the surface within BETWEEN_SURFACE quads a
    # side, less for a bigger grid (its control grid is already fine): a 33 x 33 grid's checks took 5 s at level 2
    longest = max(M, grids.shape[2]) - 1
    level = next((n for n in (2, 1) if longest * 2 ** n <= BETWEEN_SURFACE), 0)
    coherence = Coherence(templates, subdivide=level)
    broken = np.flatnonzero(coherence.broken(grids))  # index j * len(times) + i, template which[j]
    if len(broken):
        keys = np.stack([shape_keys(templates, times[i % len(times)], np.eye(K)[which[i // len(times)]])
                         for i in broken])
        out[which[broken[~coherence.broken(keys)] // len(times)]] = True
    return out


def between_rows(grid_u: np.ndarray, grid_rows: np.ndarray):
    """The grid's rows midway between neighbouring time steps, as the linear interpolation in time (Blender's
    shape keys over time) gives them: (u ((T-1)*M, 2), rows (K, (T-1)*M, 3N)); none for one time step."""
    T = len(np.unique(grid_u[:, 0]))
    if T < 2:
        return grid_u[:0], grid_rows[:, :0]
    u, rows = grid_u.reshape(T, -1, 2), grid_rows.reshape(len(grid_rows), T, -1, grid_rows.shape[-1])
    mid = (rows[:, 1:] + rows[:, :-1]) / 2
    return ((u[1:] + u[:-1]) / 2).reshape(-1, 2), mid.reshape(len(rows), -1, rows.shape[-1])


def _fit(grid_u, grid_rows, sizes, config, params, report, between=0.0, polish=False):
    K, G = len(grid_rows), grid_u.shape[0]
    flat = ArrayFlat(initial_weights(sizes, K, config.seed) if params is None else params, config.final_activation)
    weight = np.ones((1, G, 1))
    if between:  # the rows midway between time steps, weighing that much
        mid_u, mid_rows = between_rows(grid_u, grid_rows)
        grid_u, grid_rows = np.concatenate([grid_u, mid_u]), np.concatenate([grid_rows, mid_rows], axis=1)
        weight = np.concatenate([weight, np.full((1, len(mid_u), 1), between)], axis=1)
    x = np.ascontiguousarray(np.broadcast_to(template_inputs(grid_u, config), (K, len(grid_u), sizes[0])))
    adam = 0 if polish else config.template_steps
    lbfgs = min(config.template_lbfgs_steps, POLISH_STEPS) if polish else config.template_lbfgs_steps
    total = adam + lbfgs
    report = report or (lambda step, total, loss: None)
    scale = 2 / (K * G * grid_rows.shape[-1]) * weight  # the gradient of the (weighted) mean squared error

    def error():  # forward and backward; -> the fit's errors (K, rows, 3N)
        error = flat.forward(x) - grid_rows
        flat.backward(error * scale)
        return error

    def loss(e):  # the (weighted) mean squared error
        return float(np.vdot(e if weight.shape[1] == G else e * weight, e)) / (K * G * grid_rows.shape[-1])

    optimiser = ArrayAdam(flat.theta)
    for step in range(adam):
        e = error()
        optimiser.step(flat.grad, cosine(step, adam, config.template_lr))
        if step % 50 == 0:
            report(step, total, loss(e))
    if lbfgs:
        def evaluate():
            e = error()
            return loss(e), flat.grad.copy()

        def move(direction, t):
            flat.theta += t * direction

        def progress(iteration, loss):
            if iteration % 50 == 0:
                report(adam + iteration, total, loss)

        minimize(evaluate, move, lbfgs, history=TEMPLATE_HISTORY, callback=progress)
    e = (flat.forward(x) - grid_rows)[:, :G]
    return flat.params(), float(np.vdot(e, e)) / e.size


# -- the fit in a second process, while the first imports PyTorch ----------------------------------


PREFIT_TIMEOUT = 600  # seconds result() waits for the second process's next word before fitting here instead
PARENT_POLL = 0.2  # seconds between the second process's looks at whether the first still runs


class Prefit:
    """A template fit running in a second process (start_prefit); result() waits for it."""

    def __init__(self, process, key, payload: str):
        self.process, self.key, self.payload = process, key, payload

    def result(self, key, report=None) -> tuple[list[np.ndarray], float] | None:
        """The fitted template models and their loss; None when the process failed (then the caller fits
        them itself) or fitted another grid or other settings than `key` describes. While it waits, the
        process's progress goes to `report(step, total, loss)`; a process silent for PREFIT_TIMEOUT s is
        given up (it makes progress as long as it reports: a big set's fit may take longer than that)."""
        import queue
        import threading

        try:
            out, lines = [], queue.Queue()
            reader = threading.Thread(target=lambda: out.append(self.process.stdout.read()), daemon=True)
            reader.start()
            threading.Thread(target=_lines, args=(self.process.stderr, lines), daemon=True).start()
            while (line := lines.get(timeout=PREFIT_TIMEOUT)) is not None:
                words = line.split()
                if report is not None and len(words) == 4 and words[0] == b"progress":
                    report(int(words[1]), int(words[2]), float(words[3]))
            reader.join()
            self.process.wait()
            return read_fit(out[0]) if self.process.returncode == 0 and key == self.key else None
        except Exception:  # a failure, or silent for PREFIT_TIMEOUT (queue.Empty): fit here
            return None
        finally:
            self.close()

    def close(self):
        """Stop the process if it still runs (the command failed or was interrupted before the result)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()
        with contextlib.suppress(OSError):
            os.remove(self.payload)


def _lines(stream, lines):
    """The second process's stderr, line by line, into the queue `lines`; None when it closes."""
    try:
        for line in stream or ():
            lines.put(line)
    except (OSError, ValueError):  # closed under us (close())
        pass
    finally:
        lines.put(None)


def prefit_key(templates: TemplateSet, config: Config):
    """What a template fit depends on: the normalized grid and every template setting."""
    d = normalization(templates, config)
    return (d["grid_u"].tobytes(), d["grid_rows"].tobytes(), d["grid_rows"].shape, config.template_hidden,
            config.template_features, config.template_steps, config.template_lr, config.template_lbfgs_steps,
            config.final_activation, config.seed, config.template_between)


# The second process's command: this grc package first on the path, and not the current folder, which `python -c`
# puts before the standard library: a json.py or copy.py in the folder `grc train` runs from must not run.
PREFIT_COMMAND = ("import sys; sys.path[:] = [sys.argv[1]] + [p for p in sys.path if p not in ('', '.')]; "
                  "from grc.fit import prefit_main; prefit_main(sys.argv[2])")


def start_prefit(templates: TemplateSet, config: Config, sizes) -> Prefit | None:
    """Start fitting the template models in a second Python process (numpy only, one BLAS thread), so
    that they train while this one goes on (importing PyTorch: 1.5-2 s). None when PyTorch is already
    imported (nothing left to overlap), in a frozen application (sys.executable is not Python), or when
    the process cannot start: then the caller fits them itself."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    if "torch" in sys.modules or getattr(sys, "frozen", False) or not sys.executable:
        return None
    d = normalization(templates, config)
    here = str(Path(__file__).resolve().parents[1])  # the folder that holds this grc package
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    payload = None
    try:
        with tempfile.NamedTemporaryFile("wb", prefix="grc-prefit-", suffix=".npz", delete=False) as file:
            payload = file.name  # plain arrays and JSON, as in a model file: no pickle crosses between the processes
            # the templates as arrays (their grids, once more in world units: the mend judges shapes there)
            np.savez(file, grid_u=d["grid_u"], grid_rows=d["grid_rows"], sizes=np.asarray(sizes, np.int64),
                     config=np.asarray(json.dumps(config.to_json())), points=templates.points,
                     time=templates.time, morph=templates.morph)
        process = subprocess.Popen([sys.executable, "-c", PREFIT_COMMAND, here, payload], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    except Exception:  # (no room on disk or in memory for the payload, no process): the caller fits the models itself
        if payload:
            with contextlib.suppress(OSError):
                os.remove(payload)
        return None
    return Prefit(process, prefit_key(templates, config), payload)


def prefit_main(payload: str) -> None:
    """The second process: the grid and settings from the file `payload` (start_prefit's, removed once read),
    its progress on stderr (`progress step total loss` lines), the fitted models on stdout. It ends as soon as
    the first process is gone (killed, even by SIGKILL): nothing is left running or on disk."""
    import sys
    import threading
    import time

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    try:
        with np.load(payload, allow_pickle=False) as data:
            grid_u, grid_rows, sizes = data["grid_u"], data["grid_rows"], [int(s) for s in data["sizes"]]
            config = Config.from_json(json.loads(str(data["config"])))
            points, time, morph = data["points"], data["time"], data["morph"]
            templates = TemplateSet([Template(f"template {k}", time, morph, p) for k, p in enumerate(points)])
    finally:
        with contextlib.suppress(OSError):
            os.remove(payload)

    def report(step, total, loss):
        sys.stderr.write(f"progress {step} {total} {loss!r}\n")
        sys.stderr.flush()

    params, loss = fit_template_models(grid_u, grid_rows, sizes, config, report=report)
    params, loss = mend_between(grid_u, grid_rows, sizes, config, params, loss, templates, report)  # as the first would
    out = io.BytesIO()
    np.savez(out, loss=np.float64(loss), **{f"p{i}": p for i, p in enumerate(params)})
    sys.stdout.buffer.write(out.getvalue())
    sys.stdout.buffer.flush()


def read_fit(data: bytes) -> tuple[list[np.ndarray], float]:
    """prefit_main's output: the fitted arrays and the loss (an .npz, read without pickle)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as fit:
        return [fit[f"p{i}"] for i in range(len(fit.files) - 1)], float(fit["loss"])
