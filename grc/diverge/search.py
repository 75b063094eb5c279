"""Discover forms: a quality-diversity search (MAP-Elites, with a novelty-search variant) over what a
model can make, that keeps an **archive** of the best shape found for each kind of shape.

- genome: blend weights (extrapolating too), a context path as a few control values over morph
  (added to the blend's path), and the strengths of a look's bends;
- behaviour descriptors, measured on the shape: **arch** (how far the midline turns from base to
  tip, degrees) and **cup** (how far the rows curl across, degrees); **length** and **twist** are
  recorded too. They separate the petal's variety: an open flat petal, a cupped bud, a droop;
- quality: coherence (grc.coherence). Broken shapes never enter the archive; in a cell a coherent shape
  beats a strained one, and a strained one counts half against another. Fitness is novelty to the
  templates (default) or, with `novelty="archive"`, the distance to the nearest elites in descriptor
  space (novelty search).

A small MAP-Elites of our own (numpy): pyribs imports in 7-11 s here with a numba compile on first
use, more than a whole 5000-shape search costs (docs/discover.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GRCError
from ..io import atomic_path, atomic_write
from ..limits import MAX_CONTEXT, MAX_MAP_VALUE, number
from ..model import GRCModel
from .bend import Bend, Look, bent_decode
from .blend import model_id

ARCHIVE_FORMAT = "grc-archive/1"
DESCRIPTORS = ("arch", "cup")
RECORDED = ("arch", "cup", "length", "twist")
CELLS = 12  # per descriptor axis
PATH_CONTROLS = 3  # context control values over morph
BLEND_RANGE = (-1.0, 2.0)  # each template's weight as drawn; three or more: the app's weight sliders (gui.state)
TWO_RANGE = (-1.5, 2.5)  # two templates: α as far as the app's blend slider reaches (gui.state.BLEND_RANGE)
MAX_BUDGET = 1_000_000
BATCH = 64


def _angle(a, b) -> np.ndarray:
    """Angle in degrees between vectors (..., 3)."""
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    cos = np.sum(a * b, axis=-1) / np.maximum(na * nb, 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def descriptors(grid) -> dict:
    """arch, cup, length and twist of a grid (rows base -> tip, points across)."""
    grid = np.asarray(grid, float)
    M, N = grid.shape[:2]
    mid = grid[:, N // 2] if N % 2 else grid[:, N // 2 - 1:N // 2 + 1].mean(axis=1)  # (M, 3)
    segments = np.diff(mid, axis=0)
    arch = float(_angle(segments[0], segments[-1]))
    rows = np.diff(grid, axis=1)  # (M, N-1, 3)
    cup = float(np.mean(_angle(rows[1:, 0], rows[1:, -1])))  # row 0 is often the offset base
    length = float(np.linalg.norm(segments, axis=-1).sum())
    axis = mid[-1] - mid[0]
    axis = axis / max(np.linalg.norm(axis), 1e-12)
    first, last = grid[1, -1] - grid[1, 0], grid[-1, -1] - grid[-1, 0]
    first, last = first - axis * (first @ axis), last - axis * (last @ axis)
    twist = float(_angle(first, last))
    return {"arch": arch, "cup": cup, "length": length, "twist": twist}


def reflect(values, lo: float, hi: float) -> np.ndarray:
    """`values` folded into [lo, hi] as a mirror folds them (a mutation past an end comes back in by as much):
    clipping alone left half of a search's elites exactly at an end, as the children of an elite there crossed it."""
    span = hi - lo
    x = np.mod(np.asarray(values, float) - lo, 2 * span)
    return lo + np.where(x > span, 2 * span - x, x)


def sum_to_one(weights, lo: float, hi: float) -> np.ndarray:
    """The nearest weights to `weights` (K,) that sum to 1 with each in [lo, hi]: clip(w - t, lo, hi) for the shift t
    that makes them sum to 1 (bisection; the sum falls as t grows). Moving all by one shift alone (bounded, unlike a
    ratio) took a weight of three templates as far as -5/3, past the app's weight sliders (-1 to 2)."""
    w = np.asarray(weights, float)
    a, b = float(w.min() - hi), float(w.max() - lo)  # sum at a: K hi >= 1; at b: K lo <= 1
    for _ in range(60):
        t = (a + b) / 2
        a, b = (t, b) if np.clip(w - t, lo, hi).sum() > 1 else (a, t)
    out = np.clip(w - (a + b) / 2, lo, hi)
    free = (out > lo) & (out < hi)  # the last rounding goes to the weights inside their range
    out[free] += (1 - out.sum()) / max(int(free.sum()), 1)
    return out


@dataclass
class Genome:
    """What a search varies: blend weights (K), path control values (PATH_CONTROLS), bend strengths."""

    weights: np.ndarray
    path: np.ndarray
    strengths: np.ndarray

    def vector(self) -> np.ndarray:
        return np.concatenate([self.weights, self.path, self.strengths])

    def to_json(self) -> dict:
        return {"blend": self.weights.tolist(), "path": self.path.tolist(), "strengths": self.strengths.tolist()}

    @classmethod
    def from_json(cls, data, path=None) -> "Genome":
        try:
            return cls(*(np.asarray([number(v, key, path=path) for v in data[key]], float)
                         for key in ("blend", "path", "strengths")))
        except (KeyError, TypeError):
            raise GRCError("expected blend, path and strengths lists", path=path, field="genome") from None


@dataclass
class Space:
    """How genomes become shapes for one model: its time, the look whose strengths vary, the path scale."""

    model: GRCModel
    time: float
    look: Look
    path_scale: float  # context units of a path control value of 1

    @classmethod
    def for_model(cls, model: GRCModel, time: float = 0.8, look: Look | None = None) -> "Space":
        traces = model.traces(time)[:, 0]  # (K, M, C)
        spread = float(np.abs(traces - traces.mean(axis=0)).max(initial=0.0)) or 1.0  # no context: 1
        if look is None:  # a default look: scale and oscillate each hidden layer, to be dialled in by strength
            layers = len(model._layers["decoder"]) - 1
            look = Look([Bend("scale", layers - 1, {"fraction": 0.5, "seed": 0}, amount=1.6, strength=0.0),
                         Bend("invert", 0, {"fraction": 0.15, "seed": 1}, strength=0.0),
                         Bend("warp", "morph", amount=0.08, frequency=1.0, strength=0.0)], name="search")
        return cls(model, float(time), look, spread)

    @property
    def dims(self) -> tuple[int, int, int]:
        return len(self.model.templates), PATH_CONTROLS, len(self.look.bends)

    def random(self, rng, count: int) -> np.ndarray:
        K, P, B = self.dims
        weights = rng.uniform(*BLEND_RANGE, size=(count, K))
        path = rng.normal(0, 0.3, size=(count, P))
        strengths = rng.uniform(0, 1, size=(count, B)) * (rng.random((count, B)) < 0.5)
        return np.concatenate([weights, path, strengths], axis=1)

    def genome(self, vector) -> Genome:
        K, P, B = self.dims
        v = np.asarray(vector, float)
        lo, hi = TWO_RANGE if K == 2 else BLEND_RANGE
        return Genome(sum_to_one(reflect(v[:K], lo, hi), lo, hi), v[K:K + P], np.clip(v[K + P:], 0, 1))

    def context(self, genome: Genome) -> np.ndarray:
        morph = self.model.templates.morph
        base = self.model.context(self.time, genome.weights, morph)  # (M, C)
        controls = np.interp(np.linspace(0, 1, len(morph)), np.linspace(0, 1, PATH_CONTROLS), genome.path)
        return base + self.path_scale * controls[:, None]

    def shape(self, genome: Genome) -> np.ndarray:
        morph = self.model.templates.morph
        bends = [Bend(**{**b.to_json(), "strength": float(s)}) for b, s in zip(self.look.bends, genome.strengths)]
        return bent_decode(self.model, np.full(len(morph), self.time), morph, self.context(genome), bends)


@dataclass
class Archive:
    """The elites: one per descriptor cell, with bounds fitted to the first shapes found."""

    bounds: np.ndarray  # (2 descriptors, 2): low, high
    elites: dict = field(default_factory=dict)  # (i, j) -> elite dict

    def cell(self, d: dict) -> tuple[int, int]:
        values = np.array([d[k] for k in DESCRIPTORS])
        frac = (values - self.bounds[:, 0]) / np.maximum(self.bounds[:, 1] - self.bounds[:, 0], 1e-12)
        return tuple(int(v) for v in np.clip(np.floor(frac * CELLS), 0, CELLS - 1))

    @property
    def coverage(self) -> float:
        return len(self.elites) / CELLS**2


def search(model: GRCModel, budget: int = 5000, seed: int = 0, *, time: float = 0.8, look: Look | None = None,
           novelty: str = "templates", subdivide: int = 1, callback=None, coherence=None,
           around=None) -> tuple[Archive, Space]:
    """MAP-Elites over `budget` shapes. `callback(done, budget, archive)` reports progress and may raise
    grc.Cancelled. The same seed gives the same archive. `around`: genome vectors ((D,) or (n, D), as an
    elite's "vector") whose children start the search instead of random genomes ("More like this")."""
    from ..coherence import Coherence

    budget = number(budget, "budget", low=BATCH, high=MAX_BUDGET, integer=True)
    seed = number(seed, "seed", low=0, high=2**32 - 1, integer=True)
    if novelty not in ("templates", "archive"):
        raise GRCError(f"expected templates or archive, got {novelty!r}", field="novelty")
    rng = np.random.default_rng(seed)
    space = Space.for_model(model, time, look)
    coherence = coherence or Coherence.for_model(model, subdivide=subdivide)
    vectors = space.random(rng, max(BATCH, budget // 10))
    if around is not None:  # children of the given genomes: each plus Gaussian noise (the first unchanged)
        around = np.atleast_2d(np.asarray(around, float))
        if around.ndim != 2 or around.shape[1] != vectors.shape[1] or not np.isfinite(around).all():
            raise GRCError(f"expected genome vectors of {vectors.shape[1]} finite numbers", field="around")
        vectors = around[rng.integers(len(around), size=len(vectors))] + rng.normal(size=vectors.shape) * 0.15
        vectors[:len(around)] = around[:len(vectors)]
    candidates = _evaluate(space, coherence, vectors)
    found = [c for c in candidates if c["verdict"] != "broken"] or candidates
    values = np.array([[c["descriptors"][k] for k in DESCRIPTORS] for c in found])
    low, high = np.percentile(values, 1, axis=0), np.percentile(values, 99, axis=0)
    pad = 0.25 * np.maximum(high - low, 1e-6)
    archive = Archive(np.stack([low - pad, high + pad], axis=1))
    done = len(vectors)
    _insert(archive, candidates, novelty)
    while done < budget:
        if callback:
            callback(done, budget, archive)
        count = min(BATCH, budget - done)
        keys = list(archive.elites)
        if not keys:
            children = space.random(rng, count)
        else:
            parents = np.array([archive.elites[keys[i]]["vector"] for i in rng.integers(len(keys), size=count)])
            mates = np.array([archive.elites[keys[i]]["vector"] for i in rng.integers(len(keys), size=count)])
            sigma = np.concatenate([np.full(space.dims[0], 0.15), np.full(space.dims[1], 0.15),
                                    np.full(space.dims[2], 0.15)])
            children = parents + rng.normal(size=parents.shape) * sigma  # iso + line (Vassiliades and Mouret)
            children += rng.normal(size=(count, 1)) * 0.2 * (mates - parents)
        _insert(archive, _evaluate(space, coherence, children), novelty)
        done += count
    if callback:
        callback(done, budget, archive)
    for i, key in enumerate(sorted(archive.elites)):
        archive.elites[key]["id"] = i
    return archive, space


def _evaluate(space: Space, coherence, vectors) -> list[dict]:
    out = []
    for v in vectors:
        genome = space.genome(v)
        grid = space.shape(genome)
        if not np.all(np.isfinite(grid)):
            continue
        check = coherence.check(grid, space.time)
        out.append({"vector": np.asarray(v, float), "genome": genome, "verdict": check.verdict,
                    "novelty": float(check.novelty), "descriptors": descriptors(grid)})
    return out


def _fitness(c: dict, archive: Archive, novelty: str) -> float:
    scale = 1.0 if c["verdict"] == "coherent" else 0.5
    if novelty == "templates" or not archive.elites:
        return scale * c["novelty"]
    d = np.array([c["descriptors"][k] for k in DESCRIPTORS])
    span = archive.bounds[:, 1] - archive.bounds[:, 0]
    others = np.array([[e["descriptors"][k] for k in DESCRIPTORS] for e in archive.elites.values()])
    nearest = np.sort(np.linalg.norm((others - d) / span, axis=1))[:5]
    return scale * float(nearest.mean())


def _insert(archive: Archive, candidates: list[dict], novelty: str) -> None:
    for c in candidates:
        if c["verdict"] == "broken":
            continue  # broken shapes never enter the archive
        c = dict(c, fitness=_fitness(c, archive, novelty))
        key = archive.cell(c["descriptors"])
        old = archive.elites.get(key)
        # a coherent shape beats a strained one whatever their novelty: strained far-out shapes (a bent petal's,
        # novelty 6) had taken half the petal's cells from coherent ones an artist could use
        if old is None or _rank(c) > _rank(old):
            archive.elites[key] = c


def _rank(elite: dict) -> tuple:
    return elite["verdict"] == "coherent", elite["fitness"]


# -- files ---------------------------------------------------------------------------------------------


def save_archive(archive: Archive, space: Space, folder, model_file=None, seed: int = 0, budget: int = 0) -> Path:
    """Write `archive.json` (each elite's genome, descriptors, novelty, verdict; the look) and the
    contact sheet `archive.png` into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "format": ARCHIVE_FORMAT, "model": None if model_file is None else str(model_file),
        "model_id": model_id(space.model), "time": space.time, "path_scale": space.path_scale,
        "look": space.look.to_json(),
        "descriptors": list(DESCRIPTORS), "bounds": archive.bounds.tolist(), "cells": CELLS,
        "seed": seed, "budget": budget, "coverage": archive.coverage,
        "elites": [{"id": e["id"], "cell": list(key), **e["genome"].to_json(), "verdict": e["verdict"],
                    "novelty": e["novelty"], "fitness": e["fitness"], "descriptors": e["descriptors"]}
                   for key, e in sorted(archive.elites.items())],
    }
    # both files are written in full before either replaces an earlier search's: all new or all old
    with atomic_path(folder / "archive.json") as json_tmp, atomic_path(folder / "archive.png") as png_tmp:
        contact_sheet(archive, space, png_tmp, atomic=False)  # (png_tmp is already the atomic write's)
        atomic_write(json_tmp, json.dumps(data, indent=1) + "\n")
    return folder / "archive.json"


def load_elite(folder, elite_id: int, model: GRCModel | None = None) -> tuple[GRCModel, float, np.ndarray, dict]:
    """The model, time and grid of one elite of a saved archive (the shape the gallery shows)."""
    from ..limits import MAX_TEMPLATE_BYTES, parse_json, read_text
    from ..model import load_model

    path = Path(folder) / "archive.json"
    data = parse_json(read_text(path, MAX_TEMPLATE_BYTES, "archive file"), path)
    if not isinstance(data, dict) or data.get("format") != ARCHIVE_FORMAT:
        raise GRCError(f"expected {ARCHIVE_FORMAT!r}", path=path, field="format")
    if not isinstance(data.get("elites"), list):
        raise GRCError("expected a list of elites", path=path, field="elites")
    elites = {e["id"]: e for e in data["elites"]
              if isinstance(e, dict) and isinstance(e.get("id"), int) and not isinstance(e.get("id"), bool)}
    if elite_id not in elites:
        have = f"{len(elites)}, numbered {min(elites)} to {max(elites)}" if elites else "none"
        raise GRCError(f"no elite {elite_id} (the archive has {have})", path=path, field="elite")
    for key in ("look", "time", "path_scale"):
        if key not in data:
            raise GRCError(f"expected the archive's {key}", path=path, field=key)
    if model is None:
        if not data.get("model") or not isinstance(data["model"], str):
            raise GRCError("the archive does not name its model", path=path, field="model")
        model_path = Path(data["model"])
        model = load_model(model_path if model_path.is_absolute() else Path(folder) / model_path)
    if data.get("model_id") not in (None, model_id(model)):  # (archives before the id: not checked)
        raise GRCError(f"this archive was searched with model {data['model_id']}, not this one ({model_id(model)}): "
                       f"its elites are that model's shapes", path=path, field="model")
    look = Look.from_json(data["look"], path)
    time = number(data["time"], "time", low=-MAX_MAP_VALUE, high=MAX_MAP_VALUE, path=path)
    space = Space(model, time, look, number(data["path_scale"], "path_scale", low=0.0, high=MAX_CONTEXT, path=path))
    elite = elites[elite_id]
    genome = Genome.from_json(elite, path)
    for got, want, key in zip((genome.weights, genome.path, genome.strengths), space.dims, ("blend", "path", "strengths")):
        if len(got) != want:
            raise GRCError(f"elite {elite_id}: expected {want} values, got {len(got)}", path=path, field=key)
    # what the archive holds is checked as the search made it: a blend, path or strength out of range, or a bend the
    # model lacks, names this file (not the export that would fail on it, nor no file at all)
    if np.abs(space.path_scale * genome.path).max(initial=0.0) > MAX_CONTEXT:
        raise GRCError(f"elite {elite_id}: expected path values that move the context by at most {MAX_CONTEXT:g}, got "
                       f"{np.abs(genome.path).max():g} x path_scale {space.path_scale:g}", path=path, field="path")
    try:
        grid = space.shape(genome)
    except GRCError as e:
        raise GRCError(f"elite {elite_id}: {e.message}", path=path, field=e.field) from None
    if not np.isfinite(grid).all():
        raise GRCError(f"elite {elite_id}: its shape is not finite", path=path, field="elites")
    return model, space.time, grid, elite


VIEW = np.array([[0.8, 0.6, 0.0], [-0.25, 0.33, 0.91]])  # screen x, y of a three-quarter view from the front
LIGHT = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])


def contact_sheet(archive: Archive, space: Space, path, *, atomic: bool = True) -> Path:
    """A PNG of the archive laid out by descriptor: each elite's shape drawn shaded in a three-quarter
    view, blue when coherent, orange when strained. Written atomically, unless `atomic` is False (`path` is
    then another atomic write's temporary file, whose errors name its target)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    from ..mesh import grid_faces

    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    (a0, a1), (c0, c1) = archive.bounds
    w, h = (a1 - a0) / CELLS, (c1 - c0) / CELLS
    colours = {"coherent": np.array([0.16, 0.48, 0.69]), "strained": np.array([0.82, 0.54, 0.11])}
    polygons, faces_colour = [], []
    depth_axis = np.cross(VIEW[0], VIEW[1])
    for (i, j), e in archive.elites.items():
        grid = space.shape(e["genome"])
        M, N = grid.shape[:2]
        points = grid.reshape(-1, 3) - grid.reshape(-1, 3).mean(axis=0)
        screen = points @ VIEW.T
        size = np.abs(screen).max() or 1.0
        screen = screen / size * 0.45 * np.array([w, h]) + [a0 + (i + 0.5) * w, c0 + (j + 0.5) * h]
        quads = grid_faces(M, N)
        corners = points[quads]  # (F, 4, 3)
        normal = np.cross(corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1])
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
        shade = 0.35 + 0.65 * np.abs(normal @ LIGHT)
        order = np.argsort(corners.mean(axis=1) @ depth_axis)[::-1]  # far quads first
        polygons += [screen[q] for q in quads[order]]
        faces_colour += [np.clip(colours[e["verdict"]] * s + 0.15 * s, 0, 1) for s in shade[order]]
    ax.add_collection(PolyCollection(polygons, facecolors=faces_colour, edgecolors="none"))
    ax.set_xlim(a0, a1)
    ax.set_ylim(c0, c1)
    ax.set_xlabel("arch: degrees the midline turns, base to tip")
    ax.set_ylabel("cup: degrees the rows curl across")
    ax.set_title(f"{len(archive.elites)} elites, coverage {archive.coverage:.0%} (blue coherent, orange strained)")
    ax.set_xticks(np.linspace(a0, a1, CELLS + 1), minor=True)
    ax.set_yticks(np.linspace(c0, c1, CELLS + 1), minor=True)
    ax.grid(which="minor", color="#e4e4e4", lw=0.5)
    ax.set_axisbelow(True)
    path = Path(path)
    try:
        if atomic:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png")
        else:
            fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
