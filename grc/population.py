"""Population training (Mustangs for GRC): a toroidal grid of encoder/decoder pairs trained at once.

The template models are fitted once (grc.training.fit_templates). Then every cell of a rows x cols
torus trains its own encoder and decoder on the same mixed rows, with its own seed (initial weights),
learning rates, context dimension, context mask and loss on the rows (MSE, L1 or Huber). The cells are
a batch dimension of one set of networks (as the K template models are), so a step is one batched pass
for all cells. Cells of different context dimensions share the batch by padding: every cell's networks
have the largest context dimension, and a cell's unused context values are held at zero (measured
against one batch per context dimension: docs/benchmarks.md).

Every `exchange_every` steps each cell is scored on fixed validation rows (`Validation`: reconstruction,
interpolation and extrapolation between the templates, and shapes broken by grc.coherence, each as a share
of its quality target) and takes the best of its four neighbours if that one scores under half its own
score (EXCHANGE_MARGIN): weights, Adam state, learning rates and context dimension (its loss and context
mask stay: they are the cell's niche). Then it mutates its learning rates (x exp(0.2 N)). At the end every
cell's decoder is refined (as grc.training does, batched) for a quarter of the iterations, the best
REFINE_CELLS go on to the end, the best cell after its refine is kept (of those whose reconstruction is within
RECONSTRUCTION_SPREAD of the best reconstruction: kept_cell), and its refine goes on as long again (POLISH) if
that scores better; the report lists every cell.
"""

from __future__ import annotations

import math
import time as clock
from itertools import combinations

import numpy as np
import torch

from .config import Config
from .errors import GRCError
from .limits import MAX_CONTEXT_DIMS
from .model import VERSION, GRCModel, layer_sizes
from .optim import FlatAdam, lbfgs_flat, one_cycle
from .templates import TemplateSet
from .training import (FEATURES, MLP, Data, Flat, Progress, Sampler, decided_targets, fit_templates, fourier,
                       refine_decoder, resolve_device, template_inputs, unit_ridge_terms)

LOSSES = ("mse", "l1", "huber")
HUBER = 0.05  # where the Huber loss turns from square to linear (normalized row units)
MUTATION = 0.2  # learning rates are multiplied by exp(MUTATION * N(0, 1)) at each exchange
# The score: each measure as a share of the engine's quality target (issue 2), summed.
RECONSTRUCTION_TARGET = 0.01  # point RMSE
INTERPOLATION_TARGET = 0.05  # |where the blend lands - alpha|
INTERPOLATION_ALPHAS = (0.25, 0.5, 0.75)  # as grc.metrics
EXTRAPOLATION_ALPHAS = (-0.5, 1.5)  # as grc.metrics
EXTRAPOLATION_TARGETS = (-0.3, 1.3)  # the blend at -0.5 should land at or below -0.3, at 1.5 at or above 1.3
EXTRAPOLATION_SHORTFALL = 0.1  # a blend landing this far short of its extrapolation target counts as one target
COHERENCE_ALPHAS = (0.5,)  # blends checked for broken shapes (subdivision 0: cheap)
# The broken share's weight: on the unsubdivided grids of a nearly flat sheet (the leaf) millimetres of error make
# triangles cross, so most refined cells break some blends there; at full weight that noise outweighed the
# interpolation error in the choice of the kept cell (measured: docs/benchmarks.md).
BROKEN_WEIGHT = 0.25
# A cell takes a neighbour only when the neighbour scores under half its own score: measured (docs/benchmarks.md),
# taking any better neighbour made one lineage of the whole torus within two exchanges, and the refine, which
# sets the final interpolation, then had nine near-copies to choose from; with the margin the exchange rescues
# failing cells and the torus keeps its variety for the selection after the refine.
EXCHANGE_MARGIN = 2.0
REFINE_CELLS = 3  # the cells whose refine goes on after its first part: the best then (kept: the best at the end)
DIVERGED = 1e9  # the score of a cell whose measures are not finite (JSON-safe, unlike inf)
POLISH = 1  # the kept cell is then refined this many times the refine's iterations more (kept if it scores better)
# The kept cell reconstructs within this factor of the population's best reconstruction: the score's sum of target
# shares weighs reconstruction little (its target is 10-30x what cells reach), and a one-context cell on three
# templates once won on interpolation with 3x the others' reconstruction, worse than a single training's median
# (leaf seed 2, measured: docs/benchmarks.md).
RECONSTRUCTION_SPREAD = 2.0
REFINE_FIRST = 4  # every cell is refined for the first 1 / REFINE_FIRST of the refine's iterations


def neighbours(cell: int, grid: tuple[int, int]) -> list[int]:
    """The four neighbours of a cell on the torus: up, down, left, right."""
    rows, cols = grid
    r, c = divmod(cell, cols)
    return [((r - 1) % rows) * cols + c, ((r + 1) % rows) * cols + c, r * cols + (c - 1) % cols, r * cols + (c + 1) % cols]


def select(scores, grid: tuple[int, int], margin: float = 1.0) -> list[int]:
    """For each cell, the cell it takes: the best (lowest) score of itself and its neighbours, where a
    neighbour must score under the cell's own score / `margin` to be taken; a tie keeps itself."""
    chosen = []
    for cell in range(grid[0] * grid[1]):
        best = cell
        for other in neighbours(cell, grid):
            if scores[other] < scores[best] and scores[other] * margin < scores[cell]:
                best = other
        chosen.append(best)
    return chosen


def context_choices(config: Config, templates: int) -> list[int]:
    """The context dimensions a population tries: the config's (by default K - 1), and one more (at least
    K - 1, which separates K templates without forcing them onto one line of context); with three templates
    or more and a config of fewer than K - 1, also K (measured on the leaf: docs/benchmarks.md)."""
    C = config.for_templates(templates).context_dims
    more = max(C + 1, templates - 1)
    return sorted({min(MAX_CONTEXT_DIMS, c) for c in (C, more, *((more + 1,) if C < templates - 1 else ()))})


def cell_settings(config: Config, cells: int, templates: int = 2) -> list[dict]:
    """Each cell's own seed, learning rates (around the config's, log-uniform in x[1/2, 2]), context
    dimension, context mask and loss; drawn from config.seed. Losses cycle cell by cell, context
    dimensions row of three by row of three, so that every pairing occurs in a 3 x 3 grid."""
    rng = np.random.default_rng(config.seed)
    dims = context_choices(config, templates)
    return [{"seed": config.seed * 1000 + i,
             "lr_encoder": config.lr_encoder * float(2 ** rng.uniform(-1, 1)),
             "lr_decoder": config.lr_decoder * float(2 ** rng.uniform(-1, 1)),
             "context_mask": config.context_mask * float(2 ** rng.uniform(-1, 1)),
             "context_dims": dims[(i // len(LOSSES)) % len(dims)],
             "loss": LOSSES[i % len(LOSSES)]} for i in range(cells)]


def decoder_input_rows(C: int, width: int) -> list[int]:
    """Which inputs of a decoder padded to `width` context values a decoder of C values reads:
    fourier(u), context[:C], then context[c] * fourier(u) for c < C (grc.model.decoder_features)."""
    F = FEATURES
    return [*range(F + C), *(F + width + c * F + j for c in range(C) for j in range(F))]


class Cells:
    """P encoder/decoder pairs as one batched pair (weights (P, in, out)), with per-cell Adam rates,
    padded to the largest context dimension."""

    def __init__(self, sizes, config: Config, settings: list[dict], device):
        self.P, self.config, self.settings = len(settings), config, settings
        self.width = max(s.get("context_dims", config.context_dims) for s in settings)
        self.row_width = sizes["encoder"][0]
        padded = self.sizes(self.width)
        encoder = MLP(padded["encoder"], config.final_activation, copies=self.P).to(device)
        decoder = MLP(padded["decoder"], config.final_activation, copies=self.P).to(device)
        with torch.no_grad():
            for net in (encoder, decoder):
                for p in [*net.weights, *net.biases]:
                    p.zero_()
            for i, s in enumerate(settings):  # each cell's own initial weights, from its own seed, at its own size
                own = self.sizes(self.dims(i))
                torch.manual_seed(s["seed"])
                e = MLP(own["encoder"]).to(device)  # drawn on the CPU (the same on any device), then moved
                d = MLP(own["decoder"]).to(device)
                for j, (w, b) in enumerate(zip(e.weights, e.biases)):
                    encoder.weights[j][i, :, :w.shape[1]] = w
                    encoder.biases[j][i, :, :b.shape[1]] = b
                rows = decoder_input_rows(self.dims(i), self.width)
                decoder.weights[0][i, rows] = d.weights[0]
                decoder.biases[0][i] = d.biases[0]
                for j in range(1, len(d.weights)):
                    decoder.weights[j][i] = d.weights[j]
                    decoder.biases[j][i] = d.biases[j]
        self.encoder, self.decoder = Flat(encoder), Flat(decoder)
        self.opt_e, self.opt_d = FlatAdam(self.encoder.theta), FlatAdam(self.decoder.theta)
        self.owner_e, self.owner_d = (self.owner(f) for f in (self.encoder, self.decoder))
        self.device = device
        self.loss = {name: torch.tensor([float(s["loss"] == name) for s in settings], device=device)[:, None, None]
                     for name in LOSSES}
        self._masks()

    def dims(self, cell: int) -> int:
        return self.settings[cell].get("context_dims", self.config.context_dims)

    def sizes(self, C: int) -> dict:
        """Layer sizes of one cell of C context values."""
        return layer_sizes(self.config.replace(context_dims=C), 1, self.row_width)

    def _masks(self):
        """`on` (P, 1, width): which context values each cell uses; `mask`: the encoder's target mask."""
        W = self.width
        self.on = torch.tensor([[[float(c < self.dims(i)) for c in range(W)]] for i in range(self.P)],
                               device=self.device)
        self.mask = torch.tensor([[[1.0, 1.0] + [s["context_mask"]] * W] for s in self.settings], device=self.device)

    def owner(self, flat: Flat) -> torch.Tensor:
        """Which cell each entry of flat.theta belongs to."""
        return torch.cat([torch.arange(self.P, device=flat.theta.device)[:, None, None].expand(p.shape).reshape(-1)
                          for p in [*flat.weights, *flat.biases]])

    def rates(self, name: str) -> torch.Tensor:
        return torch.tensor([s[name] for s in self.settings], device=self.encoder.theta.device)

    def weight_rates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each weight's learning rate (encoder, decoder), made again only when the cells' rates change."""
        key = tuple((s["lr_encoder"], s["lr_decoder"]) for s in self.settings)
        if getattr(self, "_rates_key", None) != key:
            self._rates_key = key
            self._rates = (self.rates("lr_encoder")[self.owner_e], self.rates("lr_decoder")[self.owner_d])
        return self._rates

    def encode(self, rows) -> torch.Tensor:
        """rows (batch, 3N) or (P, batch, 3N) -> (P, batch, 2 + width), unused context values zero."""
        z = self.encoder.forward(rows.expand(self.P, *rows.shape[-2:]))
        return torch.cat([z[..., :2], z[..., 2:] * self.on], dim=-1)

    def decode(self, u, context):
        return self.decoder.forward(features(u, context))

    def run(self, rows, u):
        """Forward: rows (batch, 3N), u (batch, 2) -> encoder output (P, batch, 2 + C), decoded rows."""
        z = self.encode(rows)
        return z, self.decode(u, z[..., 2:])

    def step(self, rows, u, rate: float):
        """One training step of every cell; -> the decoder's squared error per cell (P,)."""
        B = len(rows)
        z, out = self.run(rows, u)
        error = out - rows
        g = (self.loss["mse"] * 2 * error + self.loss["l1"] * error.sign()
             + self.loss["huber"] * 2 * error.clamp(-HUBER, HUBER)) / B
        g_features = self.decoder.backward(g, input_grad=True)
        F, C = FEATURES, self.width
        products = g_features[..., F + C:].reshape(self.P, B, C, F)
        g_context = (g_features[..., F:F + C] + (products @ fourier(u)[None, :, :, None])[..., 0]) * self.on
        error_r = torch.cat([z[..., :2] - u, self.encoder.output[..., 2:]], dim=-1) * self.mask
        self.encoder.backward(torch.cat([torch.zeros_like(z[..., :2]), g_context], dim=-1) + error_r * self.mask * (2 / B))
        rates_e, rates_d = self.weight_rates()
        self.opt_e.step_rates(self.encoder.grad, rates_e * rate)
        self.opt_d.step_rates(self.decoder.grad, rates_d * rate)
        return error.square().sum(dim=-1).mean(dim=-1)

    @torch.no_grad()
    def take(self, chosen: list[int]):
        """Each cell i becomes a copy of cell chosen[i]: weights, Adam state, learning rates, context
        dimension."""
        index = torch.tensor(chosen, device=self.encoder.theta.device)
        for flat, opt in ((self.encoder, self.opt_e), (self.decoder, self.opt_d)):
            sizes = [p.numel() for p in [*flat.weights, *flat.biases]]
            for vector in (flat.theta, opt.m, opt.v):
                for chunk in vector.split(sizes):
                    cells = chunk.view(self.P, -1)
                    cells.copy_(cells[index])
        # a cell keeps its own loss and context mask (its niche) and takes the rest with the weights
        taken = ("lr_encoder", "lr_decoder", "context_dims")
        self.settings = [dict(s, **{k: self.settings[j][k] for k in taken if k in self.settings[j]}, parent=j)
                         for s, j in zip(self.settings, chosen)]
        self._masks()

    def mutate(self, generator: np.random.Generator):
        for s in self.settings:
            for name in ("lr_encoder", "lr_decoder"):
                s[name] = min(0.5, s[name] * math.exp(MUTATION * generator.standard_normal()))

    @torch.no_grad()
    def load_decoder(self, cell: int, decoder: MLP):
        """Put a decoder of the cell's own size (one export() gave, since changed) back into its slot."""
        rows = decoder_input_rows(self.dims(cell), self.width)
        self.decoder.weights[0][cell, rows] = decoder.weights[0].to(self.decoder.theta.dtype)
        self.decoder.biases[0][cell] = decoder.biases[0]
        for j in range(1, len(decoder.weights)):
            self.decoder.weights[j][cell] = decoder.weights[j]
            self.decoder.biases[j][cell] = decoder.biases[j]

    def export(self, cell: int, sizes=None) -> tuple[MLP, MLP]:
        """One cell's encoder and decoder as plain MLPs of its own context dimension."""
        C = self.dims(cell)
        own = self.sizes(C)
        encoder = MLP(own["encoder"], self.config.final_activation).to(self.encoder.theta.device)
        decoder = MLP(own["decoder"], self.config.final_activation).to(self.encoder.theta.device)
        rows = decoder_input_rows(C, self.width)
        with torch.no_grad():
            for j, (w, b) in enumerate(zip(encoder.weights, encoder.biases)):
                w.copy_(self.encoder.weights[j][cell, :, :w.shape[1]])
                b.copy_(self.encoder.biases[j][cell, :, :b.shape[1]])
            decoder.weights[0].copy_(self.decoder.weights[0][cell, rows])
            decoder.biases[0].copy_(self.decoder.biases[0][cell])
            for j in range(1, len(decoder.weights)):
                decoder.weights[j].copy_(self.decoder.weights[j][cell])
                decoder.biases[j].copy_(self.decoder.biases[j][cell])
        return encoder, decoder


def features(u: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """grc.training.decoder_features ("fourier-product") with the cells in front: (P, batch, width)."""
    f = fourier(u).expand(*context.shape[:-1], -1)
    return torch.cat([f, context, (context[..., :, None] * f[..., None, :]).flatten(-2)], dim=-1)


class Validation:
    """The score a cell is selected by, on fixed rows; lower is better (`score`). Four measures, each as a
    share of its quality target, summed:

    - reconstruction: the point RMSE of rebuilding random mixes and (weighted as the refine weights
      them) the templates' own grid rows, over RECONSTRUCTION_TARGET;
    - interpolation: as grc.metrics, where the blend alpha = .25, .5, .75 of two templates lands along
      their difference at each time step where they differ (the worst), over INTERPOLATION_TARGET;
    - extrapolation: as grc.metrics, where the blends at -0.5 and 1.5 land (the worst over pairs and time
      steps), by how much they fall short of -0.3 and 1.3, over EXTRAPOLATION_SHORTFALL (0 when met);
    - coherence: the share of blends at alpha = 0.5 whose shape is broken (crosses itself or folds;
      grc.coherence on the unsubdivided grids, the cheap check, at the time steps where neither
      template nor their plain blend is broken that way), weighted BROKEN_WEIGHT.
    """

    def __init__(self, templates: TemplateSet, data: Data, sampler: Sampler, config: Config, coherence: bool = True):
        self.data, self.config, self.templates = data, config, templates
        torch.manual_seed(config.seed + 2)  # fixed validation rows: random mixes, then the templates' own
        with torch.no_grad():
            mixes, mix_u = sampler(512)
            self.rows = torch.cat([mixes, data.grid_rows.flatten(0, 1).float()])
            self.u = torch.cat([mix_u, data.grid_u.float().repeat(data.K, 1)])
            self.weights = torch.ones(len(self.rows), device=data.device)
            self.weights[len(mixes):] = config.refine_template_weight
            self.weights /= self.weights.mean()
            # each template's trace comes from its template model's rows, as GRCModel.traces
            self.grid_u = data.grid_u.float()
            self.template_rows = sampler.models(template_inputs(self.grid_u, config).expand(data.K, -1, -1))
        self.N = self.rows.shape[1] // 3
        self.pairs = list(combinations(range(data.K), 2))
        self.steps = {pair: diverging_steps(templates.points, *pair) for pair in self.pairs}
        self.coherence, self.checked_steps = None, {}
        if coherence:
            from .coherence import Coherence
            self.coherence = Coherence(templates, subdivide=0)
            # unsubdivided, a template's own grid or its plain blend (shape key) can fold (the leaf's base,
            # the petal beyond 1): judge a pair only at the time steps where none of those is broken
            P = np.asarray(templates.points, float)
            self.checked_steps = {}
            for (a, b), steps in self.steps.items():
                keys = np.stack([P[a, steps], P[b, steps], *((1 - x) * P[a, steps] + x * P[b, steps]
                                                             for x in COHERENCE_ALPHAS)])
                fine = ~self.coherence.broken(keys.reshape(-1, *P.shape[2:])).reshape(len(keys), -1).any(axis=0)
                self.checked_steps[(a, b)] = [j for j in range(len(steps)) if fine[j]]

    @torch.no_grad()
    def __call__(self, cells: Cells) -> list[dict]:
        d = self.data
        _, out = cells.run(self.rows, self.u)
        mse = (((out - self.rows) ** 2).sum(dim=-1) * self.weights).mean(dim=-1)  # (P,)
        reconstruction = (mse / self.N).sqrt() * d.row_scale
        T_M = len(self.grid_u)
        M = len(self.templates.morph)
        traces = cells.encode(self.template_rows.flatten(0, 1)).view(cells.P, d.K, T_M, -1)[..., 2:]
        interpolation = torch.zeros(cells.P, device=d.device)
        low = torch.full((cells.P,), -math.inf, device=d.device)  # the worst landing of the blend at -0.5
        high = torch.full((cells.P,), math.inf, device=d.device)  # and at 1.5
        broken = np.zeros(cells.P)
        checked = 0
        for a, b in self.pairs:
            steps = self.steps[(a, b)]
            if not steps:
                continue
            alphas = sorted(set(INTERPOLATION_ALPHAS + EXTRAPOLATION_ALPHAS
                                + (COHERENCE_ALPHAS if self.coherence else ())))
            context = torch.cat([(1 - x) * traces[:, a] + x * traces[:, b] for x in alphas], dim=1)  # (P, A*TM, W)
            rows = cells.decode(self.grid_u.repeat(len(alphas), 1), context).view(cells.P, len(alphas), -1, M, 3 * self.N)
            A = d.grid_rows[a].float().view(-1, M, 3 * self.N)
            B = d.grid_rows[b].float().view(-1, M, 3 * self.N)
            rows, A, B = rows[:, :, steps], A[steps], B[steps]
            diff = (B - A).flatten(-2)
            where = ((rows - A).flatten(-2) * diff).sum(-1) / (diff * diff).sum(-1)  # (P, alphas, steps)
            for i, x in enumerate(alphas):
                if x in INTERPOLATION_ALPHAS:
                    interpolation = torch.maximum(interpolation, (where[:, i] - x).abs().amax(dim=-1))
                elif x == EXTRAPOLATION_ALPHAS[0]:
                    low = torch.maximum(low, where[:, i].amax(dim=-1))
                elif x == EXTRAPOLATION_ALPHAS[1]:
                    high = torch.minimum(high, where[:, i].amin(dim=-1))
            if self.coherence is not None:
                points = rows.double().cpu().numpy() * d.row_scale + d.row_mean  # (P, alphas, steps, M, 3N)
                chosen = [i for i, x in enumerate(alphas) if x in COHERENCE_ALPHAS]
                judged = self.checked_steps[(a, b)]
                grids = points[:, chosen][:, :, judged].reshape(-1, M, self.N, 3)
                if len(grids):
                    broken += self.coherence.broken(grids).reshape(cells.P, -1).sum(axis=1)
                checked += len(chosen) * len(judged)
        broken_share = broken / max(checked, 1)
        shortfall = ((low - EXTRAPOLATION_TARGETS[0]).clamp_min(0) + (EXTRAPOLATION_TARGETS[1] - high).clamp_min(0))
        shortfall = torch.where(torch.isfinite(shortfall), shortfall, torch.zeros_like(shortfall))  # no pair differs
        scores = []
        for i in range(cells.P):
            r, s, e, b = float(reconstruction[i]), float(interpolation[i]), float(shortfall[i]), float(broken_share[i])
            scores.append({"reconstruction": r, "interpolation": s, "extrapolation": e, "broken": b,
                           "score": score(r, s, e, b)})
        return scores


class RefineRows:
    """The refine's fixed rows for every cell, as grc.training.refine_decoder makes them for one: random
    mixes plus the templates' own grid rows (weighted), each decoded from the context the cell's encoder
    gives it. Drawn once, so that both stages of the refine see the same rows."""

    def __init__(self, cells: Cells, sampler: Sampler, config: Config):
        d = sampler.data
        with torch.no_grad():
            rows, u = sampler(config.refine_samples)
            template_rows = sampler.models(template_inputs(d.grid_u.float(), d.config).expand(d.K, -1, -1))
            z = cells.encode(torch.cat([rows, template_rows.flatten(0, 1)]))  # (P, rows, 2 + width)
            u = torch.cat([u, d.grid_u.float().repeat(d.K, 1)])
            self.inputs = features(u, z[..., 2:])
            self.targets = torch.cat([rows, d.grid_rows.flatten(0, 1).float()])
            weights = torch.ones(len(self.targets), device=d.device)
            weights[len(rows):] = config.refine_template_weight
            self.weights = (weights / weights.mean() * (2 / len(self.targets)))[:, None]


def refine_batched(cells: Cells, chosen: list[int], rows: RefineRows, steps: int, report, done: int = 0,
                   total: int | None = None) -> list[float]:
    """Refine the decoders of the `chosen` cells for `steps` L-BFGS iterations at once, as
    grc.training.refine_decoder refines one (L-BFGS on the hidden layers, the last layer by weighted least
    squares), the cells a batch dimension: one L-BFGS on the sum of their losses, each divided by its loss
    at the start (so that no cell's scale decides the steps). The refined decoders go back into their
    cells. Progress counts from `done` of `total` iterations. -> each chosen cell's final loss."""
    index = torch.tensor(chosen, device=cells.decoder.theta.device)
    inputs, targets, weights = rows.inputs[index], rows.targets, rows.weights
    total = total or steps
    with torch.no_grad():  # the chosen cells' decoders, copied out of the batch
        sizes = cells.sizes(cells.width)["decoder"]
        net = MLP(sizes, cells.config.final_activation, copies=len(chosen)).to(index.device)
        for mine, theirs in ((net.weights, cells.decoder.weights), (net.biases, cells.decoder.biases)):
            for w, source in zip(mine, theirs):
                w.data.copy_(source[index])
    flat = Flat(net)
    scale = None
    last = []

    solve = not cells.config.final_activation  # variable projection, as refine_decoder: only for a linear output
    ridge = cells.config.refine_unit_ridge

    def evaluate():
        nonlocal scale
        out = flat.forward(inputs)
        error = (flat.solve_last_layer(targets, weights, unit_ridge=ridge) if solve else out) - targets
        per_cell = (error.square() * weights).sum(dim=(1, 2)) / 2  # (chosen,)
        penalty, hidden = unit_ridge_terms(flat, weights, ridge) if solve and ridge else (0.0, None)
        objective = per_cell + penalty
        if scale is None:
            scale = 1 / objective.clamp_min(1e-30)
        flat.backward(error * weights * scale[:, None, None], hidden=None if hidden is None else hidden * scale[:, None, None])
        if solve:
            flat.weight_grads[-1].zero_()
            flat.bias_grads[-1].zero_()
        last[:] = [per_cell]
        return float((objective * scale).sum()), flat.grad.clone()

    def progress(iteration, loss):
        if iteration % 20 == 0:
            report(Progress("refine", done + iteration, total, loss))

    with torch.no_grad():
        lbfgs_flat(flat.theta, evaluate, steps, history=10, callback=progress)
        evaluate()  # (with variable projection: the last layer solved for the hidden layers L-BFGS ended at)
        for mine, theirs in ((flat.weights, cells.decoder.weights), (flat.biases, cells.decoder.biases)):
            for w, into in zip(mine, theirs):
                into[index] = w
    report(Progress("refine", done + steps, total, float(last[0].min())))
    return last[0].tolist()


def score(reconstruction: float, interpolation: float, extrapolation: float, broken: float) -> float:
    """The validation score (lower is better): each measure as a share of its quality target, summed;
    `extrapolation` is how far the blends at -0.5 and 1.5 land short of -0.3 and 1.3 (0 when they reach them).
    A cell whose measures are not finite (it diverged) scores DIVERGED: the worst, never kept, and replaced
    by any neighbour at the next exchange (a NaN would win np.argmin and lose every comparison)."""
    value = (reconstruction / RECONSTRUCTION_TARGET + interpolation / INTERPOLATION_TARGET
             + extrapolation / EXTRAPOLATION_SHORTFALL + BROKEN_WEIGHT * broken)
    return value if math.isfinite(value) else DIVERGED


def kept_cell(measures) -> int:
    """The cell kept at the end: the best score among the cells whose reconstruction is within
    RECONSTRUCTION_SPREAD of the best cell's reconstruction (the best score of all when none is finite)."""
    finite = [m["reconstruction"] for m in measures if math.isfinite(m["reconstruction"])]
    eligible = [i for i, m in enumerate(measures) if finite and m["reconstruction"] <= RECONSTRUCTION_SPREAD * min(finite)]
    return min(eligible or range(len(measures)), key=lambda i: measures[i]["score"])


def finalists(scores, settings, n: int) -> list[int]:
    """The cells refined at the end: the best `n` by score, taking first the best cell of each lineage
    (the cell it descends from at the last exchange, its "parent"), then the next best of any."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    chosen, lineages = [], set()
    for i in order:
        lineage = settings[i].get("parent", i)
        if lineage not in lineages and len(chosen) < n:
            chosen.append(i)
            lineages.add(lineage)
    chosen += [i for i in order if i not in chosen][:max(0, n - len(chosen))]
    return chosen


def diverging_steps(points, a: int, b: int, share: float = 0.02) -> list[int]:
    """grc.metrics.diverging_time_steps on the template points (K, T, M, N, 3) alone."""
    T = points.shape[1]
    inner = list(range(1, T - 1)) if T >= 3 else list(range(T))
    size = np.linalg.norm(points.reshape(-1, 3).max(axis=0) - points.reshape(-1, 3).min(axis=0))
    gap = np.linalg.norm(points[a] - points[b], axis=-1).max(axis=(1, 2))
    return [i for i in inner if gap[i] > share * size]


def train_population(templates: TemplateSet, config: Config | None = None, grid=(3, 3), *, device: str = "cpu",
                     callback=None, exchange_every: int = 200, threads: int | None = 1, coherence: bool = True,
                     refine_cells: int = REFINE_CELLS, prefit=None):
    """Train a rows x cols population on a template set -> (the best cell's GRCModel, report).

    The report: {"grid", "cells": [{"seed", "lr_encoder", "lr_decoder", "context_dims", "context_mask",
    "loss", "parent", "reconstruction", "interpolation", "extrapolation", "broken", "score" (after the
    cell's refine), "score_before_refine", "refined" (its refine iterations)}], "best", "exchanges": [the
    cells each cell took, per exchange]}. Progress goes to `callback` as in grc.training.train (phases
    "templates", "relational" (loss: the best cell's score), "refine"), with Progress.cells holding
    every cell's score at each exchange, at the end of the relational phase and after the refine.
    `coherence=False` leaves the broken-shape check out of the score; `refine_cells`: how many cells
    are refined to the end. `prefit`: a template fit under way, as grc.training.train takes.
    """
    config = decided_targets(templates, (config or Config()).for_templates(len(templates)))
    if config.decoder_features != "fourier-product" or config.decoder_input != "relational-map":
        raise GRCError("population training needs the default decoder (fourier-product, relational-map)",
                       field="decoder_features")
    rows_, cols = grid
    if not (isinstance(rows_, int) and isinstance(cols, int) and rows_ >= 1 and cols >= 1):
        raise GRCError(f"expected a grid of at least 1 x 1 cells, got {grid!r}", field="population")
    dev = resolve_device(device, grid[0] * grid[1])
    before = torch.get_num_threads()
    if threads is not None and dev.type == "cpu":
        torch.set_num_threads(threads)
    try:
        return _train(templates, config, (rows_, cols), dev, callback or (lambda p: None), exchange_every, coherence,
                      refine_cells, prefit)
    finally:
        torch.set_num_threads(before)


def _train(templates, config, grid, dev, report, exchange_every, coherence, refine_cells, prefit=None):
    torch.manual_seed(config.seed)
    started = clock.perf_counter()
    _, M, N = templates.grid_shape
    sizes = layer_sizes(config, M, 3 * N)
    data = Data(templates, config, dev)
    template_models, template_loss = fit_templates(data, sizes["template"], config, report, prefit=prefit)
    sampler = Sampler(data, template_models)
    settings = cell_settings(config, grid[0] * grid[1], len(templates))
    cells = Cells(sizes, config, settings, dev)
    generator = np.random.default_rng(config.seed + 1)
    validate = Validation(templates, data, sampler, config, coherence)

    exchanges = []
    every = max(1, config.steps // 200)
    for step in range(config.steps):
        if step % 64 == 0:
            n = min(64, config.steps - step)
            all_rows, all_u = (v.split(config.batch_size) for v in sampler(config.batch_size * n))
        rate = one_cycle(step, config.steps, 1.0) if config.schedule == "onecycle" else 1.0
        errors = cells.step(all_rows[step % 64], all_u[step % 64], rate)
        if (step + 1) % exchange_every == 0 and step + 1 < config.steps:
            scores = [s["score"] for s in validate(cells)]
            chosen = select(scores, grid, EXCHANGE_MARGIN)
            cells.take(chosen)
            cells.mutate(generator)
            exchanges.append(chosen)
            report(Progress("relational", step + 1, config.steps, min(scores), cells=tuple(scores)))
        elif step % every == 0 or step == config.steps - 1:
            report(Progress("relational", step + 1, config.steps, float(errors.min())))
    measures = validate(cells)
    scores = [s["score"] for s in measures]
    report(Progress("relational", config.steps, config.steps, min(scores), cells=tuple(scores)))

    # The refine sets the final reconstruction and interpolation, and the score before it barely ranks the
    # cells by them (measured: docs/benchmarks.md). So every cell is refined for the first quarter of the
    # iterations (batched), scored again, and the best `refine_cells` (a quarter in, the ranking already holds)
    # go on for the rest; the kept cell is the best after its whole refine. With extrapolated rows in the
    # refine (config.extrapolations: by default every set) the best `refine_cells` by the score before it are
    # refined one at a time, as grc.training does.
    losses, refined_steps = {}, [0] * cells.P
    steps = config.refine_steps
    if steps and not config.extrapolations(len(templates)):
        rows = RefineRows(cells, sampler, config)
        total = (1 + POLISH) * steps
        first = max(1, steps // REFINE_FIRST)
        everyone = list(range(cells.P))
        losses = dict(zip(everyone, refine_batched(cells, everyone, rows, first, report, 0, total)))
        refined_steps = [first] * cells.P
        refined = everyone
        if steps > first:
            early = [m["score"] for m in validate(cells)]
            refined = sorted(everyone, key=lambda i: early[i])[:refine_cells]
            losses.update(zip(refined, refine_batched(cells, refined, rows, steps - first, report, first, total)))
            for cell in refined:
                refined_steps[cell] = steps
        measures = validate(cells)
        best = kept_cell(measures)
        if POLISH:  # the kept cell's refine goes on (its reconstruction is still falling), if that scores better
            kept = cells.export(best)[1]
            loss = refine_batched(cells, [best], rows, POLISH * steps, report, steps, total)[0]
            again = validate(cells)[best]
            if again["score"] < measures[best]["score"]:
                measures[best], losses[best] = again, loss
                refined_steps[best] += POLISH * steps
            else:
                cells.load_decoder(best, kept)
    elif steps:
        refined = finalists(scores, cells.settings, refine_cells)
        for k, cell in enumerate(refined):
            own = config.replace(seed=cells.settings[cell]["seed"], context_mask=cells.settings[cell]["context_mask"],
                                 context_dims=cells.dims(cell))
            encoder, decoder = cells.export(cell)
            part = (lambda p, k=k: report(Progress(p.phase, k * p.total + p.step, len(refined) * p.total, p.loss)))
            losses[cell] = refine_decoder(sampler, encoder, decoder, own, part)
            cells.load_decoder(cell, decoder)
            refined_steps[cell] = steps
        total = len(refined) * steps
        measures = validate(cells)
        best = kept_cell(measures)  # the refined cells, unless the refine made them worse
    else:
        best = kept_cell(measures)
    if steps:
        report(Progress("refine", total, total, measures[best]["score"], cells=tuple(m["score"] for m in measures)))

    best_settings = cells.settings[best]
    model_config = config.replace(seed=best_settings["seed"], context_mask=best_settings["context_mask"],
                                  context_dims=cells.dims(best))
    encoder, decoder = cells.export(best)
    losses = {"decoder": scores[best], **({"refine": losses[best]} if best in losses else {})}
    cell_report = [dict(s, **m, refined=refined_steps[i], score_before_refine=scores[i])
                   for i, (s, m) in enumerate(zip(cells.settings, measures))]
    population = {"grid": list(grid), "best": best, "cells": cell_report, "exchanges": exchanges}
    weights_ = {**data.normalization(), **template_models.export("template"),
                **encoder.export("encoder"), **decoder.export("decoder")}
    info = {"grc_version": VERSION, "torch_version": torch.__version__, "device": str(dev),
            "seconds": round(clock.perf_counter() - started, 3), "template_loss": template_loss, "losses": losses,
            "population": population, "trained_at": clock.strftime("%Y-%m-%dT%H:%M:%S")}
    return GRCModel(model_config, templates, weights_, info), population
