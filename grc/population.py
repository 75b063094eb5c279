"""Population training (Mustangs for GRC): a toroidal grid of encoder/decoder pairs trained at once.

The template models are fitted once (grc.training.fit_templates). Then every cell of a rows x cols
torus trains its own encoder and decoder on the same mixed rows, with its own seed (initial weights),
learning rates, context mask and loss on the rows (MSE, L1 or Huber). The cells are a batch dimension
of one set of networks (as the K template models are), so a step is one batched pass for all cells.
Every `exchange_every` steps each cell is scored on fixed validation rows and takes the best of itself
and its four neighbours (weights and Adam state copied), then mutates its learning rates (x exp(0.2 N)).
At the end the best cell is refined (as grc.training does) and returned; the report lists every cell.

Not yet here (issue 14, section 2): a context dimension per cell (all cells share config.context_dims),
and the coherence measure in the score.
"""

from __future__ import annotations

import math
import time as clock

import numpy as np
import torch

from .config import Config
from .errors import GRCError
from .model import VERSION, GRCModel, layer_sizes
from .optim import FlatAdam, one_cycle
from .templates import TemplateSet
from .training import (FEATURES, MLP, Data, Flat, Progress, Sampler, fit_templates, fourier, refine_decoder,
                       resolve_device)

LOSSES = ("mse", "l1", "huber")
HUBER = 0.05  # where the Huber loss turns from square to linear (normalized row units)
MUTATION = 0.2  # learning rates are multiplied by exp(MUTATION * N(0, 1)) at each exchange


def neighbours(cell: int, grid: tuple[int, int]) -> list[int]:
    """The four neighbours of a cell on the torus: up, down, left, right."""
    rows, cols = grid
    r, c = divmod(cell, cols)
    return [((r - 1) % rows) * cols + c, ((r + 1) % rows) * cols + c, r * cols + (c - 1) % cols, r * cols + (c + 1) % cols]


def select(scores, grid: tuple[int, int]) -> list[int]:
    """For each cell, the cell it takes: the best (lowest) score of itself and its neighbours; a tie
    keeps itself."""
    chosen = []
    for cell in range(grid[0] * grid[1]):
        best = cell
        for other in neighbours(cell, grid):
            if scores[other] < scores[best]:
                best = other
        chosen.append(best)
    return chosen


def cell_settings(config: Config, cells: int) -> list[dict]:
    """Each cell's own seed, learning rates (around the config's, log-uniform in x[1/2, 2]), context mask
    and loss; drawn from config.seed."""
    rng = np.random.default_rng(config.seed)
    return [{"seed": config.seed * 1000 + i,
             "lr_encoder": config.lr_encoder * float(2 ** rng.uniform(-1, 1)),
             "lr_decoder": config.lr_decoder * float(2 ** rng.uniform(-1, 1)),
             "context_mask": config.context_mask * float(2 ** rng.uniform(-1, 1)),
             "loss": LOSSES[i % len(LOSSES)]} for i in range(cells)]


class Cells:
    """P encoder/decoder pairs as one batched pair (weights (P, in, out)), with per-cell Adam rates."""

    def __init__(self, sizes, config: Config, settings: list[dict], device):
        self.P, self.config, self.settings = len(settings), config, settings
        encoder = MLP(sizes["encoder"], config.final_activation, copies=self.P).to(device)
        decoder = MLP(sizes["decoder"], config.final_activation, copies=self.P).to(device)
        with torch.no_grad():
            for i, s in enumerate(settings):  # each cell's own initial weights, from its own seed
                torch.manual_seed(s["seed"])
                for net, batched in ((MLP(sizes["encoder"]), encoder), (MLP(sizes["decoder"]), decoder)):
                    for p, q in zip([*net.weights, *net.biases], [*batched.weights, *batched.biases]):
                        q[i] = p.to(device)
        self.encoder, self.decoder = Flat(encoder), Flat(decoder)
        self.opt_e, self.opt_d = FlatAdam(self.encoder.theta), FlatAdam(self.decoder.theta)
        self.owner_e, self.owner_d = (self.owner(f) for f in (self.encoder, self.decoder))
        C = config.context_dims
        self.mask = torch.tensor([[[1.0, 1.0] + [s["context_mask"]] * C] for s in settings], device=device)
        self.loss = {name: torch.tensor([float(s["loss"] == name) for s in settings], device=device)[:, None, None]
                     for name in LOSSES}

    def owner(self, flat: Flat) -> torch.Tensor:
        """Which cell each entry of flat.theta belongs to."""
        return torch.cat([torch.arange(self.P, device=flat.theta.device)[:, None, None].expand(p.shape).reshape(-1)
                          for p in [*flat.weights, *flat.biases]])

    def rates(self, name: str) -> torch.Tensor:
        return torch.tensor([s[name] for s in self.settings], device=self.encoder.theta.device)

    def run(self, rows, u):
        """Forward: rows (batch, 3N), u (batch, 2) -> encoder output (P, batch, 2 + C), decoded rows."""
        z = self.encoder.forward(rows.expand(self.P, -1, -1))
        return z, self.decoder.forward(features(u, z[..., 2:]))

    def step(self, rows, u, rate: float):
        """One training step of every cell; -> the decoder's squared error per cell (P,)."""
        B = len(rows)
        z, out = self.run(rows, u)
        error = out - rows
        g = (self.loss["mse"] * 2 * error + self.loss["l1"] * error.sign()
             + self.loss["huber"] * 2 * error.clamp(-HUBER, HUBER)) / B
        g_features = self.decoder.backward(g, input_grad=True)
        F, C = FEATURES, z.shape[-1] - 2
        products = g_features[..., F + C:].reshape(self.P, B, C, F)
        g_context = g_features[..., F:F + C] + (products @ fourier(u)[None, :, :, None])[..., 0]
        error_r = torch.cat([z[..., :2] - u, z[..., 2:]], dim=-1) * self.mask
        self.encoder.backward(torch.cat([torch.zeros_like(z[..., :2]), g_context], dim=-1) + error_r * self.mask * (2 / B))
        self.opt_e.step_rates(self.encoder.grad, self.rates("lr_encoder")[self.owner_e] * rate)
        self.opt_d.step_rates(self.decoder.grad, self.rates("lr_decoder")[self.owner_d] * rate)
        return error.square().sum(dim=-1).mean(dim=-1)

    @torch.no_grad()
    def scores(self, rows, u, weights) -> list[float]:
        """Validation score per cell: the weighted mean squared error of rebuilding `rows`."""
        _, out = self.run(rows, u)
        return (((out - rows) ** 2).sum(dim=-1) * weights).mean(dim=-1).tolist()

    @torch.no_grad()
    def take(self, chosen: list[int]):
        """Each cell i becomes a copy of cell chosen[i]: weights and Adam state."""
        index = torch.tensor(chosen, device=self.encoder.theta.device)
        for flat, opt in ((self.encoder, self.opt_e), (self.decoder, self.opt_d)):
            sizes = [p.numel() for p in [*flat.weights, *flat.biases]]
            for vector in (flat.theta, opt.m, opt.v):
                for chunk in vector.split(sizes):
                    cells = chunk.view(self.P, -1)
                    cells.copy_(cells[index])
        # a cell keeps its own loss and context mask (its niche) and takes the learning rates with the weights
        self.settings = [dict(s, lr_encoder=self.settings[j]["lr_encoder"], lr_decoder=self.settings[j]["lr_decoder"],
                              parent=j) for s, j in zip(self.settings, chosen)]

    def mutate(self, generator: np.random.Generator):
        for s in self.settings:
            for name in ("lr_encoder", "lr_decoder"):
                s[name] = min(0.5, s[name] * math.exp(MUTATION * generator.standard_normal()))

    def export(self, cell: int, sizes) -> tuple[MLP, MLP]:
        """One cell's encoder and decoder as plain MLPs."""
        nets = []
        for flat, name in ((self.encoder, "encoder"), (self.decoder, "decoder")):
            net = MLP(sizes[name], self.config.final_activation).to(flat.theta.device)
            with torch.no_grad():
                for p, q in zip([*net.weights, *net.biases], [*flat.weights, *flat.biases]):
                    p.copy_(q[cell])
            nets.append(net)
        return tuple(nets)


def features(u: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """grc.training.decoder_features ("fourier-product") with the cells in front: (P, batch, width)."""
    f = fourier(u).expand(*context.shape[:-1], -1)
    return torch.cat([f, context, (context[..., :, None] * f[..., None, :]).flatten(-2)], dim=-1)


def train_population(templates: TemplateSet, config: Config | None = None, grid=(3, 3), *, device: str = "cpu",
                     callback=None, exchange_every: int = 200, threads: int | None = 1):
    """Train a rows x cols population on a template set -> (the best cell's GRCModel, report).

    The report: {"grid", "cells": [{"seed", "lr_encoder", "lr_decoder", "context_mask", "loss", "score"}],
    "best", "exchanges": [the cells each cell took, per exchange]}. Progress goes to `callback` as in
    grc.training.train (phases "templates", "relational" (loss: the best cell's), "refine"), with
    Progress.cells holding every cell's validation score at each exchange.
    """
    config = config or Config()
    if config.decoder_features != "fourier-product" or config.decoder_input != "relational-map":
        raise GRCError("population training needs the default decoder (fourier-product, relational-map)",
                       field="decoder_features")
    rows_, cols = grid
    if not (isinstance(rows_, int) and isinstance(cols, int) and rows_ >= 1 and cols >= 1):
        raise GRCError(f"expected a grid of at least 1 x 1 cells, got {grid!r}", field="population")
    dev = resolve_device(device)
    before = torch.get_num_threads()
    if threads is not None and dev.type == "cpu":
        torch.set_num_threads(threads)
    try:
        return _train(templates, config, (rows_, cols), dev, callback or (lambda p: None), exchange_every)
    finally:
        torch.set_num_threads(before)


def _train(templates, config, grid, dev, report, exchange_every):
    torch.manual_seed(config.seed)
    started = clock.perf_counter()
    _, M, N = templates.grid_shape
    sizes = layer_sizes(config, M, 3 * N)
    data = Data(templates, config, dev)
    template_models, template_loss = fit_templates(data, sizes["template"], config, report)
    sampler = Sampler(data, template_models)
    settings = cell_settings(config, grid[0] * grid[1])
    cells = Cells(sizes, config, settings, dev)
    generator = np.random.default_rng(config.seed + 1)

    torch.manual_seed(config.seed + 2)  # fixed validation rows: random mixes, then the templates' own
    with torch.no_grad():
        mixes, mix_u = sampler(512)
        valid_rows = torch.cat([mixes, data.grid_rows.flatten(0, 1).float()])
        valid_u = torch.cat([mix_u, data.grid_u.float().repeat(data.K, 1)])
        weights = torch.ones(len(valid_rows), device=dev)
        weights[len(mixes):] = config.refine_template_weight
        weights /= weights.mean()

    exchanges, scores = [], cells.scores(valid_rows, valid_u, weights)
    every = max(1, config.steps // 200)
    for step in range(config.steps):
        if step % 64 == 0:
            n = min(64, config.steps - step)
            all_rows, all_u = (v.split(config.batch_size) for v in sampler(config.batch_size * n))
        rate = one_cycle(step, config.steps, 1.0) if config.schedule == "onecycle" else 1.0
        errors = cells.step(all_rows[step % 64], all_u[step % 64], rate)
        if (step + 1) % exchange_every == 0 and step + 1 < config.steps:
            scores = cells.scores(valid_rows, valid_u, weights)
            chosen = select(scores, grid)
            cells.take(chosen)
            cells.mutate(generator)
            exchanges.append(chosen)
            report(Progress("relational", step + 1, config.steps, min(scores), cells=tuple(scores)))
        elif step % every == 0 or step == config.steps - 1:
            report(Progress("relational", step + 1, config.steps, float(errors.min())))
    scores = cells.scores(valid_rows, valid_u, weights)
    best = int(np.argmin(scores))
    report(Progress("relational", config.steps, config.steps, scores[best], cells=tuple(scores)))

    encoder, decoder = cells.export(best, sizes)
    losses = {"decoder": scores[best]}
    if config.refine_steps:
        losses["refine"] = refine_decoder(sampler, encoder, decoder, config, report)
    cell_report = [dict(s, score=score) for s, score in zip(cells.settings, scores)]
    population = {"grid": list(grid), "best": best, "cells": cell_report, "exchanges": exchanges}
    weights_ = {**data.normalization(), **template_models.export("template"),
                **encoder.export("encoder"), **decoder.export("decoder")}
    info = {"grc_version": VERSION, "torch_version": torch.__version__, "device": str(dev),
            "seconds": round(clock.perf_counter() - started, 3), "template_loss": template_loss, "losses": losses,
            "population": population, "trained_at": clock.strftime("%Y-%m-%dT%H:%M:%S")}
    best_settings = cells.settings[best]
    model_config = config.replace(seed=best_settings["seed"], context_mask=best_settings["context_mask"])
    return GRCModel(model_config, templates, weights_, info), population
