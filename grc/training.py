"""Training: template models, then the relational encoder and generative decoder (PyTorch).

1. One MLP per template learns (time, morph) -> row from the artist's grid (all K at once).
2. Each step draws rows from the template models at random (time, morph), mixes them with
   random template weights w = r / sum(r), and trains encoder and decoder together: the
   decoder must rebuild the row, the encoder must name its (time, morph) and a context whose
   target, masked to `context_mask`, is 0 — so the context's value emerges from what the
   decoder needs to tell the templates apart. Separate Adam optimisers, as in the article.
3. (default preset) L-BFGS polishes the decoder on a fixed sample, the encoder frozen.

Progress goes to `callback(Progress)`; raising `Cancelled` in the callback stops training.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import Config
from .errors import GRCError
from .model import FOURIER, GRCModel, VERSION, layer_sizes
from .optim import Adam, cosine, lbfgs, one_cycle
from .templates import TemplateSet


@dataclass(frozen=True)
class Progress:
    """One training report: `phase` is "templates", "relational" or "refine"."""

    phase: str
    step: int
    total: int
    loss: float


class Cancelled(Exception):
    """Raise from a progress callback to stop training; the caller keeps its old model."""


PHASES = ("templates", "relational", "refine")


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" picks CUDA when present, else the CPU."""
    if device not in ("auto", "cpu", "cuda"):
        raise GRCError(f"expected auto, cpu or cuda, got {device!r}", field="device")
    if device == "cuda" and not torch.cuda.is_available():
        raise GRCError("CUDA was asked for but no CUDA GPU is available (use --device cpu or auto)", field="device")
    return torch.device("cuda" if device == "auto" and torch.cuda.is_available() else device if device != "auto" else "cpu")


# -- networks (torch mirrors of grc.model's numpy forward) ---------------------------------------


def fourier(u: torch.Tensor) -> torch.Tensor:
    z = u @ torch.as_tensor(FOURIER, dtype=u.dtype, device=u.device)
    return torch.cat([u, torch.sin(z), torch.cos(z)], dim=-1)


def decoder_features(u: torch.Tensor, context: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "raw":
        return torch.cat([u, context], dim=-1)
    f = fourier(u)
    return torch.cat([f, context, (context[:, :, None] * f[:, None, :]).flatten(1)], dim=-1)


class MLP(nn.Module):
    """Linear layers with ELU between them (and after the last one if `final_activation`)."""

    def __init__(self, sizes, final_activation=False, copies: int | None = None):
        super().__init__()
        self.final_activation, self.copies = final_activation, copies
        batch = () if copies is None else (copies,)
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):  # PyTorch's default Linear initialisation
            bound = 1 / a ** 0.5
            self.weights.append(nn.Parameter(torch.empty(*batch, a, b).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(*batch, 1, b).uniform_(-bound, bound)))

    def forward(self, x):  # (batch, in) or, with copies, (copies, batch, in)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w) if self.copies else torch.addmm(b[0], x, w)
            if i < last or self.final_activation:
                x = nn.functional.elu(x)
        return x

    def export(self, name: str) -> dict[str, np.ndarray]:
        out = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"{name}.{i}.weight"] = w.detach().double().cpu().numpy()
            out[f"{name}.{i}.bias"] = (b[:, 0] if self.copies else b[0]).detach().double().cpu().numpy()
        return out


# -- training --------------------------------------------------------------------------------------


def train(templates: TemplateSet, config: Config | None = None, *, device: str = "auto",
          callback=None, threads: int | None = 1) -> GRCModel:
    """Train template models and the encoder/decoder on a template set; returns a GRCModel.

    On the CPU it uses `threads` threads (None: PyTorch's default). One is the default because
    these networks are small: more threads barely help them, and on a busy machine they wait on each
    other (measured: a 7 s training took 80 s with two threads beside another busy process).
    """
    config = config or Config()
    dev = resolve_device(device)
    if threads is not None and dev.type == "cpu":
        if not isinstance(threads, int) or threads < 1:
            raise GRCError(f"expected a positive number of threads, got {threads!r}", field="threads")
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return train(templates, config, device=device, callback=callback, threads=None)
        finally:
            torch.set_num_threads(before)
    report = callback or (lambda progress: None)
    torch.manual_seed(config.seed)
    started = clock.perf_counter()

    _, M, N = templates.grid_shape
    sizes = layer_sizes(config, M, 3 * N)
    data = Data(templates, config, dev)

    seconds = {}
    template_models, template_loss = fit_templates(data, sizes["template"], config, report)
    seconds["templates"] = clock.perf_counter() - started
    sampler = Sampler(data, template_models)
    encoder = MLP(sizes["encoder"], config.final_activation).to(dev)
    decoder = MLP(sizes["decoder"], config.final_activation).to(dev)
    losses = train_relational(sampler, encoder, decoder, config, report)
    seconds["relational"] = clock.perf_counter() - started - sum(seconds.values())
    if config.refine_steps:
        losses["refine"] = refine_decoder(sampler, encoder, decoder, config, report)
        seconds["refine"] = clock.perf_counter() - started - sum(seconds.values())

    weights = {**data.normalization(), **template_models.export("template"),
               **encoder.export("encoder"), **decoder.export("decoder")}
    info = {"grc_version": VERSION, "torch_version": torch.__version__, "device": str(dev),
            "seconds": round(clock.perf_counter() - started, 3),
            "phase_seconds": {k: round(v, 3) for k, v in seconds.items()}, "template_loss": template_loss,
            "losses": losses, "trained_at": clock.strftime("%Y-%m-%dT%H:%M:%S")}
    return GRCModel(config, templates, weights, info)


class Data:
    """The template set as tensors, with the normalization the networks work in."""

    def __init__(self, templates: TemplateSet, config: Config, device):
        K, (T, M, N) = len(templates), templates.grid_shape
        self.config, self.device, self.K = config, device, K
        time, morph = templates.time, templates.morph
        t, m = np.meshgrid(time, morph, indexing="ij")
        coords = np.stack([t, m], axis=-1).reshape(-1, 2)  # (T*M, 2)
        rows = templates.points.reshape(K, T * M, 3 * N)  # (K, T*M, 3N)
        lo, hi = np.array([time[0], morph[0]]), np.array([time[-1], morph[-1]])
        if config.normalize:
            self.center, self.scale = (lo + hi) / 2, (hi - lo) / 2
            self.row_mean, self.row_scale = rows.mean(axis=(0, 1)), float(rows.std()) or 1.0
        else:
            self.center, self.scale = np.zeros(2), np.ones(2)
            self.row_mean, self.row_scale = np.zeros(3 * N), 1.0
        self.lo, self.hi = (torch.tensor(v, dtype=torch.float32, device=device) for v in (lo, hi))
        self.grid_u = torch.tensor((coords - self.center) / self.scale, device=device)  # float64
        self.grid_rows = torch.tensor((rows - self.row_mean) / self.row_scale, device=device)

    def normalize(self, coords: torch.Tensor) -> torch.Tensor:
        center, scale = (torch.as_tensor(v, dtype=coords.dtype, device=coords.device) for v in (self.center, self.scale))
        return (coords - center) / scale

    def normalization(self) -> dict[str, np.ndarray]:
        return {"relational_center": self.center, "relational_scale": self.scale,
                "row_mean": self.row_mean, "row_scale": np.array([self.row_scale])}


def template_inputs(u: torch.Tensor, config: Config) -> torch.Tensor:
    return fourier(u) if config.template_features == "fourier" else u


def fit_templates(data: Data, sizes, config: Config, report) -> tuple[MLP, float]:
    """Fit all K template models at once on the grid, in float64: Adam, then L-BFGS."""
    net = MLP(sizes, config.final_activation, copies=data.K).to(data.device, torch.float64)
    x = template_inputs(data.grid_u, config).expand(data.K, -1, -1)
    total = config.template_steps + config.template_lbfgs_steps

    def loss_fn():
        return ((net(x) - data.grid_rows) ** 2).mean()

    optimiser = Adam(net.parameters())
    for step in range(config.template_steps):
        optimiser.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimiser.step(cosine(step, config.template_steps, config.template_lr))
        if step % 50 == 0:
            report(Progress("templates", step, total, loss.item()))
    if config.template_lbfgs_steps:
        def progress(iteration, loss):
            if iteration % 50 == 0:
                report(Progress("templates", config.template_steps + iteration, total, loss))

        lbfgs(net.parameters(), loss_fn, config.template_lbfgs_steps, history=50, callback=progress)
    loss = loss_fn().item()
    report(Progress("templates", total, total, loss))
    return net.float(), loss


class Sampler:
    """Random training rows: template models at random (time, morph), mixed by random weights."""

    def __init__(self, data: Data, template_models: MLP):
        self.data, self.models = data, template_models

    @torch.no_grad()
    def __call__(self, batch: int):
        """-> mixed rows (batch, 3N) and their normalized relational coordinates u (batch, 2)."""
        d = self.data
        coords = d.lo + torch.rand(batch, 2, device=d.device) * (d.hi - d.lo)
        u = d.normalize(coords)
        rows = self.models(template_inputs(u, d.config).expand(d.K, -1, -1))  # (K, batch, 3N)
        r = torch.rand(d.K, batch, 1, device=d.device)
        weights = r / r.sum(dim=0).clamp_min(1e-12)
        return (weights * rows).sum(dim=0), u


def relational_step(encoder, decoder, rows, u, config: Config):
    """Encoder and decoder losses for one batch (the article's lossG and masked lossR)."""
    C = config.context_dims
    z = encoder(rows)  # (batch, 2 + C): time, morph, context
    target = torch.cat([u, torch.zeros(len(u), C, device=u.device)], dim=1)
    mask = torch.tensor([1.0, 1.0] + [config.context_mask] * C, device=u.device)
    relational = z[:, :2] if config.decoder_input == "encoder" else u
    out = decoder(decoder_features(relational, z[:, 2:], config.decoder_features))
    loss_g = ((out - rows) ** 2).sum(dim=1).mean()
    loss_r = (((z - target) * mask) ** 2).sum(dim=1).mean()
    return loss_g, loss_r


def train_relational(sampler: Sampler, encoder: MLP, decoder: MLP, config: Config, report) -> dict:
    """Joint encoder/decoder training with separate Adam optimisers; returns the final losses."""
    opt_e, opt_d = Adam(encoder.parameters()), Adam(decoder.parameters())
    rate = (lambda step, peak: one_cycle(step, config.steps, peak)) if config.schedule == "onecycle" else \
        (lambda step, peak: peak)
    every = max(1, config.steps // 200)
    running_g = running_r = 0.0
    chunk = 64  # draw the rows of 64 steps at once: fewer small calls per step
    for step in range(config.steps):
        if step % chunk == 0:
            n = min(chunk, config.steps - step)
            all_rows, all_u = (v.split(config.batch_size) for v in sampler(config.batch_size * n))
        rows, u = all_rows[step % chunk], all_u[step % chunk]
        loss_g, loss_r = relational_step(encoder, decoder, rows, u, config)
        opt_e.zero_grad()
        opt_d.zero_grad()
        (loss_g + loss_r).backward()  # the encoder learns from both losses, the decoder from loss_g
        opt_e.step(rate(step, config.lr_encoder))
        opt_d.step(rate(step, config.lr_decoder))
        if step % every == 0 or step == config.steps - 1:
            running_g, running_r = loss_g.item(), loss_r.item()
            report(Progress("relational", step + 1, config.steps, running_g))
    return {"decoder": running_g, "encoder": running_r}


def refine_decoder(sampler: Sampler, encoder: MLP, decoder: MLP, config: Config, report) -> float:
    """Polish the decoder with L-BFGS, the encoder frozen, on fixed rows: random mixes, plus each
    template's grid rows (weighted) decoded from the context its trace gives them."""
    d = sampler.data
    with torch.no_grad():
        rows, u = sampler(config.refine_samples)
        template_rows = sampler.models(template_inputs(d.grid_u.float(), d.config).expand(d.K, -1, -1))
        context = encoder(torch.cat([rows, template_rows.flatten(0, 1)]))[:, 2:]  # traces, as GRCModel.traces
        u = torch.cat([u, d.grid_u.float().repeat(d.K, 1)])
        inputs = decoder_features(u, context, config.decoder_features)
        targets = torch.cat([rows, d.grid_rows.flatten(0, 1).float()])  # the artist's grid points themselves
        weights = torch.ones(len(targets), device=d.device)
        weights[len(rows):] = config.refine_template_weight
        weights /= weights.mean()

    def loss_fn():
        return (weights * ((decoder(inputs) - targets) ** 2).sum(dim=1)).mean()

    def progress(iteration, loss):
        if iteration % 20 == 0:
            report(Progress("refine", iteration, config.refine_steps, loss))

    loss = lbfgs(decoder.parameters(), loss_fn, config.refine_steps, history=10, callback=progress)
    report(Progress("refine", config.refine_steps, config.refine_steps, loss))
    return loss
