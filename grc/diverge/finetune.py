"""Divergent fine-tuning with rollback: the decoder is trained *away* from the templates (a novelty
objective) while coherence terms hold the surface together, with a checkpoint every few steps, so
an artist can scrub back to where novelty is high and coherence has not yet collapsed (the Wundt
curve of computational creativity; Broad et al.'s divergent fine-tuning, survey 003).

Per step, shapes at random times and blends in [0, 1] (the model's own space) are decoded and
    loss = - novelty + w_stretch · stretch + w_fold · fold
- novelty: RMS distance per point to the original model's shape there, after removing the mean
  (moving the whole shape is no novelty), capped so it cannot run away;
- stretch: squared log ratio of each grid edge's length to the original shape's;
- fold: neighbouring quads whose normals turn past 90 degrees (a hinge on their cosine).
The encoder, template models and traces are kept, and the decoder's last layer: the checkpoints are the same
model with new hidden layers in its decoder, and checkpoint 0 is the original model. PyTorch is needed (as for training).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GRCError
from ..io import atomic_write
from ..limits import MAX_STEPS, number
from ..model import FOURIER, GRCModel
from .blend import lineage

NOVELTY_CAP = 0.5  # in units of the templates' size: beyond this a shape counts as no newer
W_STRETCH = 4.0
W_FOLD = 4.0
BATCH_SHAPES = 16
# A step moves the batch's shapes (RMS per point) about this share of the templates' size at most (the step is
# scaled down linearly when it would move them more): Adam moves every weight
# by about lr whatever the gradient's size, and how far that moves the shapes depends on the model (the petal trained
# with extrapolated shapes moved 25 times as far as the one these weights were chosen on, and broke at once).
STEP_CHANGE = 0.001


@dataclass
class Checkpoint:
    step: int
    model: GRCModel
    novelty: float = 0.0  # mean RMS per point to the templates, over the measured shapes
    broken: float = 0.0  # share of the measured shapes that are broken
    strained: float = 0.0


def _torch_decoder(model: GRCModel):
    import torch

    layers = model._layers["decoder"]
    params = []
    for w, b in layers:
        params += [torch.tensor(w, dtype=torch.float64, requires_grad=True),
                   torch.tensor(np.asarray(b).reshape(-1), dtype=torch.float64, requires_grad=True)]
    return params


def _decode(model: GRCModel, params, u, context):
    """grc.model's decoder in torch: u (S, 2) normalised (time, morph), context (S, C) -> (S, 3N)."""
    import torch
    import torch.nn.functional as F

    if model.config.decoder_features == "raw":
        x = torch.cat([u, context], dim=-1)
    else:
        z = u @ torch.as_tensor(FOURIER, dtype=u.dtype)
        f = torch.cat([u, torch.sin(z), torch.cos(z)], dim=-1)
        x = torch.cat([f, context, (context[:, :, None] * f[:, None, :]).flatten(1)], dim=-1)
    count = len(params) // 2
    for i in range(count):
        x = x @ params[2 * i] + params[2 * i + 1]
        if i < count - 1 or model.config.final_activation:
            x = F.elu(x)
    return x


def _with_decoder(model: GRCModel, params) -> GRCModel:
    weights = {k: v.copy() for k, v in model.weights.items()}
    for i in range(len(params) // 2):
        weights[f"decoder.{i}.weight"] = params[2 * i].detach().numpy().copy()
        weights[f"decoder.{i}.bias"] = params[2 * i + 1].detach().numpy().copy()
    return GRCModel(model.config, model.templates, weights, model.info)


def diverge(model: GRCModel, steps: int = 300, *, every: int = 20, lr: float = 1e-3, seed: int = 0,
            callback=None, measure=True) -> list[Checkpoint]:
    """Fine-tune the decoder away from the templates for `steps` Adam steps; a checkpoint every
    `every` steps (checkpoint 0: the model itself). `callback(step, steps, checkpoint or None)` may
    raise grc.Cancelled, keeping the checkpoints so far (they are returned through the exception's
    `checkpoints` attribute)."""
    import torch

    steps = number(steps, "steps", low=1, high=MAX_STEPS, integer=True)
    every = number(every, "every", low=1, high=MAX_STEPS, integer=True)
    lr = number(lr, "lr", low=1e-8, high=1.0)
    seed = number(seed, "seed", low=0, high=2**32 - 1, integer=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these networks are small: one thread is fastest (as in training)
    try:
        return _diverge(model, steps, every, lr, seed, callback, measure)
    finally:
        torch.set_num_threads(threads)


def _diverge(model, steps, every, lr, seed, callback, measure):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    from ..optim import Adam  # torch.optim would import PyTorch's compiler (seconds)

    params = _torch_decoder(model)
    # the hidden layers move, the last layer stays (editing it is rewriting, grc.diverge.rewrite): Adam moves every
    # weight by about the learning rate, and a last layer of small weights (Config.refine_unit_ridge) then changed
    # each point on its own, a rough change that crossed the petal's bud at time 0.1 within 20 steps
    for p in params[-2:]:
        p.requires_grad_(False)
    optimiser = Adam(params[:-2])
    templates = model.templates
    K, (_, M, N) = len(templates), templates.grid_shape
    points = templates.points.reshape(-1, 3)
    size = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    row_scale, row_mean = float(model._row_scale), torch.as_tensor(model._row_mean)
    measure_set = _measure_set(model, rng)
    checkpoints = [_checkpoint(0, model, measure_set) if measure else Checkpoint(0, model)]
    if callback:
        callback(0, steps, checkpoints[-1])
    t0, t1 = float(templates.time[0]), float(templates.time[-1])
    for step in range(1, steps + 1):
        time = rng.uniform(t0, t1, BATCH_SHAPES)
        weights = rng.dirichlet(np.ones(K), BATCH_SHAPES)  # blends inside the templates' hull
        traces = model.traces(time)  # (K, B, M, C)
        mean = traces.mean(axis=0)
        contexts = mean + np.einsum("bk,kbmc->bmc", weights, traces - mean)  # (B, M, C), as model.context
        tt = np.repeat(time, M)
        mm = np.tile(templates.morph, BATCH_SHAPES)
        u = torch.as_tensor(model._normalize(tt, mm))
        c = torch.as_tensor(contexts.reshape(len(tt), model.context_dims))
        with torch.no_grad():
            original = torch.as_tensor(model.decode(tt, mm, contexts.reshape(len(tt), model.context_dims))).reshape(
                BATCH_SHAPES, M, N, 3)
        rows = _decode(model, params, u, c) * row_scale + row_mean
        shapes = rows.reshape(BATCH_SHAPES, M, N, 3)
        loss = _loss(shapes, original, size)
        optimiser.zero_grad()
        loss.backward()
        before = [p.detach().clone() for p in params]
        optimiser.step(lr)
        with torch.no_grad():  # a trust region: a step moves the batch's shapes at most STEP_CHANGE of the size
            moved = _decode(model, params, u, c) * row_scale + row_mean - rows
            change = float(torch.sqrt((moved.reshape(BATCH_SHAPES, M, N, 3) ** 2).sum(-1).mean())) / size
            if not math.isfinite(change):  # a step that made the shapes not finite is not taken
                for p, b in zip(params, before):
                    p.copy_(b)
            elif change > STEP_CHANGE:  # (scaled linearly: the change is about STEP_CHANGE, not exactly)
                for p, b in zip(params, before):
                    p.copy_(b + (p - b) * (STEP_CHANGE / change))
        if step % every == 0 or step == steps:
            current = _with_decoder(model, params)
            checkpoints.append(_checkpoint(step, current, measure_set) if measure else Checkpoint(step, current))
            if callback:
                callback(step, steps, checkpoints[-1])
        elif callback and step % 5 == 0:
            callback(step, steps, None)
    for i, c in enumerate(checkpoints):
        if i:
            c.model.info = {k: v for k, v in model.info.items() if k != "lineage"}
            c.model.info["lineage"] = lineage("diverge", [model], step=c.step, lr=lr, seed=seed)
    return checkpoints


def _loss(shapes, original, size):
    import torch

    centred = shapes - shapes.mean(dim=(1, 2), keepdim=True)
    centred_original = original - original.mean(dim=(1, 2), keepdim=True)
    novelty = torch.sqrt(((centred - centred_original) ** 2).sum(-1).mean(dim=(1, 2)) + 1e-12) / size
    novelty = torch.clamp(novelty, max=NOVELTY_CAP).mean()

    def edges(g):
        return torch.cat([(g[:, 1:] - g[:, :-1]).norm(dim=-1).flatten(1), (g[:, :, 1:] - g[:, :, :-1]).norm(dim=-1).flatten(1)], 1)

    stretch = (torch.log((edges(shapes) + 1e-9) / (edges(original) + 1e-9)) ** 2).mean()
    a, b = shapes[:, 1:, 1:] - shapes[:, :-1, :-1], shapes[:, 1:, :-1] - shapes[:, :-1, 1:]
    normal = torch.cross(a, b, dim=-1)
    normal = normal / (normal.norm(dim=-1, keepdim=True) + 1e-12)
    turn = torch.cat([(normal[:, 1:] * normal[:, :-1]).sum(-1).flatten(1), (normal[:, :, 1:] * normal[:, :, :-1]).sum(-1).flatten(1)], 1)
    fold = torch.relu(-turn).mean()
    return -novelty + W_STRETCH * stretch + W_FOLD * fold


class _MeasureSet(list):
    """Fixed shapes (time, blend) to judge every checkpoint by, and the coherence that judges them."""

    coherence = None


def _measure_set(model: GRCModel, rng) -> _MeasureSet:
    """Each inner time step at each template, their mean and three seeded blends between them."""
    from ..coherence import Coherence

    K = len(model.templates)
    times = model.templates.time[1:-1] if len(model.templates.time) > 2 else model.templates.time
    blends = [np.eye(K)[k] for k in range(K)] + [np.full(K, 1 / K)] + list(rng.dirichlet(np.ones(K), 3))
    out = _MeasureSet((float(t), b) for t in times for b in blends)
    out.coherence = Coherence.for_model(model, subdivide=1)  # templates only: the same for every checkpoint
    return out


def _checkpoint(step: int, model: GRCModel, measure_set) -> Checkpoint:
    coherence = measure_set.coherence
    checks = [coherence.check(model.shape(t, b), t) for t, b in measure_set]
    return Checkpoint(step, model, float(np.mean([c.novelty for c in checks])),
                      float(np.mean([c.verdict == "broken" for c in checks])),
                      float(np.mean([c.verdict == "strained" for c in checks])))


def save_checkpoints(checkpoints: list[Checkpoint], folder) -> Path:
    """Each checkpoint as `checkpoint-NNNN.grc`, `diverge.json` (novelty and coherence per checkpoint)
    and `diverge.png` (the Wundt curve)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise GRCError("expected a folder", path=folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in checkpoints:
        name = f"checkpoint-{c.step:04d}.grc"
        c.model.save(folder / name)
        rows.append({"step": c.step, "file": name, "novelty": c.novelty, "broken": c.broken, "strained": c.strained})
    atomic_write(folder / "diverge.json", json.dumps({"format": "grc-diverge/1", "checkpoints": rows}, indent=1) + "\n")
    plot_checkpoints(rows, folder / "diverge.png")
    kept = {row["file"] for row in rows}
    for stale in folder.glob("checkpoint-[0-9][0-9][0-9][0-9].grc"):  # an earlier run's, not in diverge.json
        if stale.name not in kept:
            stale.unlink(missing_ok=True)
    return folder / "diverge.json"


def plot_checkpoints(rows: list[dict], path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io import atomic_path

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(steps, [r["novelty"] for r in rows], "o-", color="#2a7ab0", label="novelty (RMS to the templates)")
    ax.set_xlabel("fine-tuning step (checkpoint)")
    ax.set_ylabel("novelty")
    other = ax.twinx()
    other.plot(steps, [1 - r["broken"] - r["strained"] for r in rows], "s-", color="#3a9a4a", label="coherent share")
    other.plot(steps, [r["broken"] for r in rows], "x-", color="#c0392b", label="broken share")
    other.set_ylim(-0.02, 1.02)
    other.set_ylabel("share of shapes")
    lines = ax.get_lines() + other.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="center right", fontsize=8)
    ax.set_title("Divergent fine-tuning: novelty against coherence")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
