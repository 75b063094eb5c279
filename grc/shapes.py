"""From a model to files: the shape at (time, blend) as a mesh, and sweeps as morph-target GLBs.

The CLI and the app both export through these two functions, so a file is the same whichever wrote it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import GRCError
from .formats import write_mesh, write_morph_glb
from .io import check_writable
from .limits import MAX_FPS, MIN_FPS, number
from .mesh import Flower, MeshBuilder, check_options
from .model import GRCModel
from .sweeps import sweep_names, sweep_values


def builder(model: GRCModel, morph=None, subdivide: int = 0, thickness: float = 0.0, petals: int = 1,
            frames: int = 1, flower: Flower | None = None) -> MeshBuilder:
    """A MeshBuilder for this model's grids (with `morph` samples per petal, as in model.shape), facing as
    the model says (model.flip_normals).

    Every option is checked against grc.limits first (subdivide, petals, thickness, morph samples, and
    the vertices of all `frames` together), so the CLI, the app and the add-on give the same errors.
    `flower` (a grc.mesh.Flower) replaces `petals` when given.
    """
    flower = Flower(petals=petals) if flower is None else flower
    rows, points = len(model.morph_samples(morph)), model.grid_shape[2]
    check_options(rows, points, subdivide, thickness, flower.count, frames)
    return MeshBuilder(rows, points, subdivide, thickness, flower=flower, flip=model.flip_normals)


def flower_grids(model: GRCModel, time: float, blend=None, flower: Flower | None = None, *, morph=None,
                 context=None, look=None) -> np.ndarray:
    """Each petal's grid of a flower, (flower.count, M', N, 3), or (1, M', N, 3) when no petal varies: the
    shape at (time, blend) through the look, each petal's time and blend varied as the flower says (a raw
    `context` cannot vary its blend). MeshBuilder.build takes either."""
    flower = Flower() if flower is None else flower
    if look is not None:  # the look's own blend or context, unless one is given
        own = blend is None and context is None
        blend, context = look.applies_to(blend, context)
        if own and blend is not None:
            try:
                model.blend_weights(blend)
            except GRCError as e:  # the look's own blend, for another number of templates: name its file
                raise GRCError(e.message, path=getattr(look, "path", None), field="blend") from None
    if context is not None and flower.vary_blend > 0:
        raise GRCError("a raw context has no blend to vary: leave out the blend variation", field="vary_blend")
    K = len(model.templates)
    if context is None and blend is None:
        blend = 0.0 if K == 2 else np.eye(K)[0]  # the first template
    blend = blend if np.ndim(blend) == 0 or K != 2 or np.size(blend) != 1 else float(np.ravel(blend)[0])
    return flower.grids(lambda t, b: shape_of(model, t, b, morph=morph, context=context, look=look), time, blend, K)


def export(model: GRCModel, path, time: float, blend=None, *, context=None, morph=None, subdivide: int = 0,
           thickness: float = 0.0, petals: int = 1, format: str | None = None, look=None, grid=None,
           flower: Flower | None = None) -> Path:
    """Write the shape at (time, blend) — or at a raw `context` — as OBJ/PLY/STL/GLB, atomically. Neither
    given: the look's own blend or context, else the first template.

    `look` (a grc.diverge.bend.Look) bends the decoder as the app and the add-on do; `grid` exports a
    given grid (an archive's elite) instead of computing one. `flower` (a grc.mesh.Flower: base radius,
    tilt, rings, per-petal variation) replaces `petals`. With subdivide 0, one petal and no thickness
    the vertices are the grid points in row-major order. The mesh carries UVs and faces as
    model.flip_normals says.
    """
    check_writable(path)
    flower = Flower(petals=petals) if flower is None else flower
    if grid is None:
        check_options(len(model.morph_samples(morph)), model.grid_shape[2], subdivide, thickness, flower.count, 1)
        grids = flower_grids(model, time, blend, flower, morph=morph, context=context, look=look)
    else:
        grids = np.asarray(grid, float)[None]
    check_options(grids.shape[1], grids.shape[2], subdivide, thickness, flower.count, 1)
    build = MeshBuilder(grids.shape[1], grids.shape[2], subdivide, thickness, flower=flower, flip=model.flip_normals)
    return write_mesh(path, build.build(grids), format)


def shape_of(model: GRCModel, time: float, blend=None, *, morph=None, context=None, look=None) -> np.ndarray:
    """The model's grid at (time, blend or context), through a look's bends when one is given."""
    if look is None:
        return model.shape(time, blend, morph=morph, context=context)
    grid = look.shape(model, time, blend, morph=morph, context=context)
    if not np.all(np.isfinite(grid)):
        raise GRCError(f"the look's shape at time {time:g} is not finite", field="look")
    return grid


def export_animation(model: GRCModel, path, *, sweep: str = "time", frames: int = 9, time: float = 0.8,
                     blend=None, start: float | None = None, stop: float | None = None, morph=None,
                     subdivide: int = 0, thickness: float = 0.0, petals: int = 1, fps: float = 24, look=None,
                     flower: Flower | None = None, context_offsets=None) -> Path:
    """Write a sweep over time (at `blend`) or over blend (at `time`) as a GLB with morph targets.

    For a blend sweep `start`/`stop` are blends (a number for two templates, else K weights).
    `context_offsets` ((M', C) at the morph samples: a drawn context path less its blend's own path, as
    the app keeps one) moves every frame's context path by that much, so a sweep follows a drawn path.

    Blender imports them as shape keys named by their value (`time 0.550`) after a `Basis` key of its own, a copy
    of the first frame (checked in Blender 4.2 and 5.0.1).
    """
    if Path(path).suffix.lower() != ".glb":
        raise GRCError("expected a .glb file (morph targets need glTF)", path=path, field="output")
    check_writable(path)
    fps = number(fps, "fps", low=MIN_FPS, high=MAX_FPS)
    values = sweep_values(model, sweep, frames, start, stop)
    build = builder(model, morph, subdivide, thickness, petals, frames=len(values), flower=flower)
    offsets = None
    if context_offsets is not None:
        offsets = np.asarray(context_offsets, dtype=float)
        rows = len(model.morph_samples(morph))
        if offsets.shape != (rows, model.context_dims) or not np.isfinite(offsets).all():
            raise GRCError(f"expected finite context offsets of shape ({rows}, {model.context_dims}), got "
                           f"{offsets.shape}", field="context_offsets")

    def grids_at(t, b):
        context = None if offsets is None else model.context(t, b, morph) + offsets
        return flower_grids(model, t, None if context is not None else b, build.flower, morph=morph,
                            context=context, look=look)

    grids = [grids_at(v, blend) if sweep == "time" else grids_at(time, v) for v in values]
    meshes = [build.build(g) for g in grids]
    frames_xyz = np.stack([m.vertices for m in meshes])
    return write_morph_glb(path, frames_xyz, build.faces, sweep_names(sweep, values), fps=fps,
                           uvs=build.uvs)


def keep_as_template(model: GRCModel, name: str, blend=0.0, *, context_offsets=None, look=None,
                     source: str = "explore", time=None, morph=None) -> "Template":
    """The shape at `blend` (plus a drawn path's `context_offsets` (M, C) from the blend's own path at the
    model's rows, and a look's bends) at every time step of the model's templates, as a new template whose
    lineage records what it came from (the model's fingerprint, the blend, the path, the look): "Keep as
    template". `time` and `morph` (a set's own relational map, after time steps or rows were added) make it
    at those times and rows instead, the model evaluated there."""
    from .diverge.blend import model_id
    from .templates import Template

    templates = model.templates
    times = templates.time if time is None else np.asarray(time, float)
    rows = model.morph_samples(None if morph is None else np.asarray(morph, float))
    offsets = None
    if context_offsets is not None:  # the path's offsets, from the model's rows to these
        given = np.asarray(context_offsets, float)
        offsets = np.empty((len(rows), given.shape[1]))
        for c in range(given.shape[1]):
            offsets[:, c] = np.interp(rows, templates.morph, given[:, c])
    grids = []
    for t in times:
        context = None if offsets is None else model.context(t, blend, rows) + offsets
        grids.append(shape_of(model, float(t), blend, morph=rows, context=context, look=look))
    lineage = {"operation": "keep", "source": source, "model": model_id(model),
               "blend": np.atleast_1d(np.asarray(blend, float)).tolist()}
    if context_offsets is not None:
        lineage["context_offsets"] = np.asarray(context_offsets, float).tolist()
    if look is not None:
        lineage["look"] = look.to_json()
    parent = (model.info.get("lineage") or {})
    if parent:
        lineage["model_lineage"] = {"operation": parent.get("operation"), "parents": parent.get("parents", [])}
    attribution = f"kept in GRC Studio from model {lineage['model']} at blend {lineage['blend']}"
    return Template(name, times, rows, np.stack(grids), attribution, lineage)
