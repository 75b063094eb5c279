"""GRC Studio for Blender: GRC models as mesh objects whose time, blend, subdivision and petals animate.

A GRC object is a mesh object whose settings live in `obj.grc`. Changing a setting rebuilds its mesh
(property update callbacks); animated settings are read from the evaluated object after every frame change
and depsgraph update, so the viewport, scripts' frame_set and rendered animations all follow keyframes.
The model file is embedded in the object (base64), so a saved .blend needs no other file; models are
cached per content hash. Subdivision is a Subdivision Surface modifier at Blender's defaults, which
GRC Studio's own subdivision matches. The add-on never executes anything from a model file: it parses
JSON and copies arrays (grc.bundle).

This file is the add-on's __init__.py inside the zip that `grc blender-addon` writes; the `grc` folder
next to it is the library's numpy runtime.
"""

import base64
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import threading
import time as clock
from pathlib import Path

import bpy
import numpy as np
from bpy.app.handlers import persistent
from bpy.props import BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from .grc import limits
from .grc.errors import GRCError, printable
from .grc.model import GRCModel
from .grc.mesh import grid_faces
from .grc.sweeps import sweep_name, sweep_values
from .grc.templates import Template, TemplateSet

MAX_TEMPLATES = 32  # obj.grc.weights has a fixed size; the first K entries are the template weights
MAX_SUBDIVISION = 3
MODIFIER = "GRC Subdivision"

_models: dict[str, GRCModel] = {}  # content hash -> model
_shown: dict[int, tuple] = {}  # object session_uid -> the settings its mesh shows
_errors: dict[int, str] = {}  # object session_uid -> why its mesh cannot be updated
_grc_objects: dict = {}  # session_uid -> a GRC object: the handlers visit these, never the whole scene


# -- models ------------------------------------------------------------------------------------

def read_model(path) -> tuple[GRCModel, bytes]:
    """Load a model file and its bytes; anything wrong raises GRCError naming the file."""
    path = Path(path)
    data = limits.read_bytes(path, limits.MAX_MODEL_BYTES, "GRC model file")  # regular files only, size first
    return checked(lambda: GRCModel.from_bytes(data, path), path), data


def checked(load, where) -> GRCModel:
    """Run a model loader; anything wrong becomes a GRCError naming `where`."""
    try:
        model = load()
    except GRCError:
        raise
    except Exception as e:  # a hostile file must never get past this point as anything but a message
        raise GRCError(f"not a readable GRC model file ({type(e).__name__}: {e})", path=where) from None
    if len(model.templates) > MAX_TEMPLATES:
        raise GRCError(f"the Blender add-on supports up to {MAX_TEMPLATES} templates, found {len(model.templates)}",
                       path=where, field="templates")
    return model


def model_of(obj) -> GRCModel:
    """The model of a GRC object: cached, else read from the bytes embedded in it (or, failing that, its file)."""
    settings = obj.grc
    model = _models.get(settings.model_hash)
    if model is not None:
        return model
    if settings.model_data:
        where = f"{obj.name} (embedded {settings.model_name})"
        try:
            data = base64.b64decode(settings.model_data, validate=True)
        except ValueError:
            raise GRCError("the embedded model is not valid base64", path=where) from None
        model = checked(lambda: GRCModel.from_bytes(data, where), where)
    else:
        model, _ = read_model(bpy.path.abspath(settings.model_path))
    _models[settings.model_hash] = model
    return model


# -- meshes -------------------------------------------------------------------------------------

def blend_of(settings, model):
    """The blend of a GRC object's settings as the model takes it: α for two templates, else the first K weights."""
    K = len(model.templates)
    return settings.blend if K == 2 else np.array(settings.weights[:K])


def flower(grid, petals: int):
    """Vertices (P·M·N, 3) and quads of `petals` copies of a grid (M, N, 3) rotated about Z, as grc.mesh builds them.

    Petal k is turned by 360°·k/P; vertex order is petal, morph row, point.
    """
    rows, points, _ = grid.shape
    angles = 2 * np.pi * np.arange(petals) / petals
    rotations = np.array([[[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]] for a in angles])
    vertices = np.einsum("vj,pij->pvi", grid.reshape(-1, 3), rotations).reshape(-1, 3)
    faces = grid_faces(rows, points)
    return vertices, np.concatenate([faces + k * rows * points for k in range(petals)])


def shape_mesh(settings, model, time=None, blend=None):
    """The flower at a GRC object's settings (or at the given time / blend): vertices (V, 3), quads (F, 4)."""
    grid = model.shape(settings.time if time is None else time, blend_of(settings, model) if blend is None else blend)
    return flower(grid, settings.petals)


def set_geometry(mesh, vertices, faces):
    """Move the mesh's vertices; rebuild it (smooth shaded) when its size changes."""
    if len(mesh.vertices) != len(vertices) or len(mesh.polygons) != len(faces):
        mesh.clear_geometry()
        mesh.from_pydata(vertices.tolist(), [], faces.tolist())
        mesh.shade_smooth()
    else:
        mesh.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
    mesh.update()


def set_subdivision(obj, level: int):
    """A Subdivision Surface modifier at Blender's defaults with `level` (viewport and render); none at 0."""
    modifier = obj.modifiers.get(MODIFIER)
    if level == 0:
        if modifier is not None:
            obj.modifiers.remove(modifier)
        return
    if modifier is None:
        modifier = obj.modifiers.new(MODIFIER, "SUBSURF")
    if modifier.levels != level or modifier.render_levels != level:
        modifier.levels = modifier.render_levels = level


def settings_key(obj, s) -> tuple:
    return (s.model_hash, s.time, s.blend, tuple(s.weights), s.subdivision, s.petals,
            obj.data.as_pointer(), len(obj.data.vertices))


def refresh(obj, settings=None, force=False):
    """Make a GRC object's mesh show its settings (skipped when it already does, unless forced).

    `settings` defaults to obj.grc; handlers pass the evaluated object's, which hold the animated values
    also while rendering (the render's animation is not written back to the original object).
    """
    if obj.type != "MESH" or not obj.grc.is_grc or obj.mode == "EDIT":  # edit mode owns the mesh until it ends
        return
    settings = settings or obj.grc
    key = settings_key(obj, settings)
    if not force and _shown.get(obj.session_uid) == key:
        return
    try:
        vertices, faces = shape_mesh(settings, model_of(obj))
    except GRCError as e:
        _errors[obj.session_uid] = str(e)
        _shown[obj.session_uid] = key  # do not retry until a setting changes
        return
    _errors.pop(obj.session_uid, None)
    set_geometry(obj.data, vertices, faces)
    set_subdivision(obj, settings.subdivision)
    _shown[obj.session_uid] = settings_key(obj, settings)


def make_plain(obj):
    """Turn a GRC object into an ordinary mesh object: its mesh and modifiers stay, the add-on lets go of it."""
    obj.grc.is_grc = False
    obj.grc.model_data = ""
    _shown.pop(obj.session_uid, None)
    _grc_objects.pop(obj.session_uid, None)


def plain_target(context, obj, keep_original: bool):
    """The object to turn plain: `obj` itself, or (keep_original) a copy beside it, made active."""
    if not keep_original:
        return obj
    copy = obj.copy()
    copy.data = obj.data.copy()
    for collection in obj.users_collection:
        collection.objects.link(copy)
    make_active(context, copy)
    return copy


def make_active(context, obj):
    for other in context.selected_objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj


# -- properties ---------------------------------------------------------------------------------

def _changed(settings, context):
    refresh(settings.id_data, force=True)


class GRCObjectSettings(bpy.types.PropertyGroup):
    """obj.grc: a GRC object's model and settings; time, blend, weights, subdivision and petals animate."""

    is_grc: BoolProperty(name="GRC Object", default=False, options={"HIDDEN"})
    model_path: StringProperty(name="Model File", subtype="FILE_PATH", description="The .grc file it was loaded from")
    model_name: StringProperty(name="Model Name", options={"HIDDEN"})
    model_hash: StringProperty(name="Model Hash", description="SHA-256 of the model file", options={"HIDDEN"})
    model_data: StringProperty(name="Model Data", description="The model file, base64, so the .blend is self-contained",
                               options={"HIDDEN"})
    time: FloatProperty(name="Time", description="Where on the templates' time axis (growth) the shape is",
                        default=0.0, step=1, precision=3, update=_changed)
    blend: FloatProperty(name="Blend", description="0 = first template, 1 = second; beyond extrapolates",
                         default=0.0, soft_min=-1.0, soft_max=2.0, step=1, precision=3, update=_changed)
    weights: FloatVectorProperty(name="Weights", description="Weight of each template (models of more than two)",
                                 size=MAX_TEMPLATES, default=[0.0] * MAX_TEMPLATES, soft_min=-1.0, soft_max=2.0,
                                 step=1, precision=3, update=_changed)
    subdivision: IntProperty(name="Subdivision", description="Subdivision Surface levels (0-3)",
                             default=0, min=0, max=MAX_SUBDIVISION, update=_changed)
    petals: IntProperty(name="Petals", description="Copies of the shape turned about Z (a flower)",
                        default=1, min=1, max=256, soft_max=16, update=_changed)


# -- operators ----------------------------------------------------------------------------------

class GRC_OT_load_model(bpy.types.Operator, ImportHelper):
    """Load a GRC model file (.grc) as a GRC object at the 3D cursor"""

    bl_idname = "grc.load_model"
    bl_label = "Load GRC Model"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".grc"
    filter_glob: StringProperty(default="*.grc", options={"HIDDEN"})

    def execute(self, context):
        try:
            obj, model = add_grc_object(context, Path(bpy.path.abspath(self.filepath)))
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, printable(f"Loaded {obj.grc.model_name}: templates {', '.join(model.names)}"))
        return {"FINISHED"}


def add_grc_object(context, path: Path):
    """Read a model file and add it as a GRC object at the 3D cursor, active; returns (object, model)."""
    model, data = read_model(path)
    digest = hashlib.sha256(data).hexdigest()
    _models[digest] = model
    mesh = bpy.data.meshes.new(path.stem)
    obj = bpy.data.objects.new(path.stem, mesh)
    obj.location = context.scene.cursor.location
    s = obj.grc
    s.model_path, s.model_name, s.model_hash = str(path), path.name, digest
    s.model_data = base64.b64encode(data).decode("ascii")
    s.time = float(model.templates.time[-1])
    s.weights[0] = 1.0  # the first template, as blend 0 is for two
    s.is_grc = True
    context.collection.objects.link(obj)
    note_grc_object(obj)
    refresh(obj, force=True)
    make_active(context, obj)
    return obj, model


class GRCActiveOperator:
    """For operators on the active GRC object."""

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == "MESH" and obj.grc.is_grc

    keep_original: BoolProperty(name="Keep Original", default=False,
                                description="Leave the GRC object as it is and make a copy plain")


class GRC_OT_bake_shape_keys(GRCActiveOperator, bpy.types.Operator):
    """Bake a sweep of time or blend into shape keys (named by their value) on a plain mesh, keyframed to play"""

    bl_idname = "grc.bake_shape_keys"
    bl_label = "Bake Shape Keys"
    bl_options = {"REGISTER", "UNDO"}

    sweep: EnumProperty(name="Sweep", default="TIME", items=[
        ("TIME", "Time", "Over time, at the current blend"),
        ("BLEND", "Blend", "From one template to another, at the current time"),
    ])
    frames: IntProperty(name="Keys", description="Number of shape keys", default=9, min=2, max=limits.MAX_FRAMES)
    use_range: BoolProperty(name="Custom Range", default=False,
                            description="Sweep from Start to Stop instead of over the templates "
                                        "(values outside them extrapolate)")
    start: FloatProperty(name="Start", default=0.0, description="Time, or for a blend sweep 0 = From template")
    stop: FloatProperty(name="Stop", default=1.0, description="Time, or for a blend sweep 1 = To template")
    from_template: IntProperty(name="From Template", default=0, min=0, max=MAX_TEMPLATES - 1,
                               description="Blend sweep: the template it starts at (0 = the first)")
    to_template: IntProperty(name="To Template", default=1, min=0, max=MAX_TEMPLATES - 1,
                             description="Blend sweep: the template it goes to (its target)")
    animate: BoolProperty(name="Keyframes", default=True,
                          description="Keyframe the keys' values so the sweep plays over the scene's frame range")
    interpolation: EnumProperty(name="Interpolation", default="LINEAR", items=[
        ("LINEAR", "Linear", "Neighbouring keys cross-fade: the shape moves smoothly between baked values"),
        ("CONSTANT", "Constant", "One key fully on at a time: the shape steps from one baked value to the next"),
    ])

    def execute(self, context):
        source = context.active_object
        try:
            model = model_of(source)
            values, blends = self.values(model)
            if self.sweep == "TIME":
                shapes = [shape_mesh(source.grc, model, time=v) for v in values]
            else:
                shapes = [shape_mesh(source.grc, model, blend=b) for b in blends]
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        sweep = self.sweep.lower()
        names = [sweep_name(sweep, v if self.sweep == "TIME" else b) for v, b in zip(values, blends)]
        obj = plain_target(context, source, self.keep_original)
        make_plain(obj)
        obj.shape_key_clear()
        set_geometry(obj.data, *shapes[0])
        obj.shape_key_add(name="Basis", from_mix=False)
        keys = []
        for name, (vertices, _) in zip(names, shapes):
            key = obj.shape_key_add(name=name, from_mix=False)
            key.data.foreach_set("co", vertices.astype(np.float32).ravel())
            keys.append(key)
        scene = context.scene
        frames = key_frames(scene.frame_start, scene.frame_end, len(keys))
        if self.animate:
            keyframe_sweep(obj.data.shape_keys, keys, frames, self.interpolation)
        interpolation = self.interpolation if self.animate else "NEAREST"
        for key, value in zip(keys, key_values(frames, scene.frame_current, interpolation)):
            key.value = value  # 0 except the current frame's key (linear: its two neighbours between key frames)
        record = {"sweep": sweep, "values": [float(v) for v in values], "keys": names,
                  "frames": [float(f) for f in frames] if self.animate else [],
                  "interpolation": self.interpolation.lower() if self.animate else "none"}
        if self.sweep == "BLEND":
            record.update({"from": model.names[self.from_template], "to": model.names[self.to_template],
                           "weights": [float(w) for b in blends for w in np.atleast_1d(b)]})
        else:
            record["blend"] = [float(w) for w in np.atleast_1d(blend_of(source.grc, model))]
        obj["grc_sweep"] = record
        obj.data.update()
        self.report({"INFO"}, f"Baked {len(keys)} shape keys" + (f" over frames {frames[0]:g} to {frames[-1]:g}"
                                                                  if self.animate else ""))
        return {"FINISHED"}

    def values(self, model):
        """The swept values (times, or α from one template to another) and the blend of each key."""
        K = len(model.templates)
        if self.sweep == "TIME":
            start, stop = (self.start, self.stop) if self.use_range else (None, None)
            values = sweep_values(model, "time", self.frames, start, stop)
            return values, [None] * len(values)
        for which in ("from_template", "to_template"):
            if getattr(self, which) >= K:
                raise GRCError(f"expected a template number from 0 to {K - 1}, got {getattr(self, which)}",
                               field=which)
        if self.from_template == self.to_template:
            raise GRCError("expected two different templates", field="to_template")
        start, stop = (self.start, self.stop) if self.use_range else (0.0, 1.0)
        for name, value in (("start", start), ("stop", stop)):
            limits.number(value, name, low=-limits.MAX_BLEND, high=limits.MAX_BLEND)
        first, target = np.eye(K)[self.from_template], np.eye(K)[self.to_template]
        values = list(np.linspace(start, stop, self.frames))
        weights = [first + a * (target - first) for a in values]
        return values, [w[1] if K == 2 else w for w in weights]


def key_frames(first: int, last: int, count: int) -> list[float]:
    """Where each of `count` keys is fully on: evenly over the frame range (one key a frame when they match)."""
    if last <= first:
        return [float(first + i) for i in range(count)]
    return [first + (last - first) * i / (count - 1) for i in range(count)]


def key_values(frames, frame, interpolation: str) -> list[float]:
    """Each key's value at `frame`, as its keyframes give it (linear cross-fades neighbours, constant steps), or
    for a bake without keyframes (NEAREST) 1 for the key nearest the frame."""
    frames = np.asarray(frames, float)
    values = np.zeros(len(frames))
    if interpolation == "NEAREST":  # no keyframes: the key nearest the frame is on
        values[int(np.argmin(np.abs(frames - frame)))] = 1.0
        return values.tolist()
    if interpolation == "CONSTANT" or frame <= frames[0] or frame >= frames[-1]:
        values[int(np.clip(np.searchsorted(frames, frame, side="right") - 1, 0, len(frames) - 1))] = 1.0
        return values.tolist()
    i = int(np.searchsorted(frames, frame, side="right") - 1)
    s = (frame - frames[i]) / (frames[i + 1] - frames[i])
    values[i], values[i + 1] = 1 - s, s
    return values.tolist()


def keyframe_sweep(shape_keys, keys, frames, interpolation: str):
    """Keyframe each key 1 at its frame and 0 at its neighbours' frames, so the sweep plays over the frames."""
    for i, key in enumerate(keys):
        for j in (i - 1, i, i + 1):
            if 0 <= j < len(keys):
                key.value = float(i == j)
                key.keyframe_insert("value", frame=frames[j])
    for fcurve in fcurves_of(shape_keys):
        for point in fcurve.keyframe_points:
            point.interpolation = interpolation


def fcurves_of(id_data):
    """The F-curves animating a data-block (Blender 4.4+ keeps them in the action's slot's channel bag)."""
    animation = id_data.animation_data
    action = animation.action if animation else None
    if action is None:
        return []
    if hasattr(action, "fcurves") and not hasattr(action, "layers"):
        return list(action.fcurves)
    from bpy_extras import anim_utils

    bag = anim_utils.action_get_channelbag_for_slot(action, animation.action_slot)
    return list(bag.fcurves) if bag else []


class GRC_OT_apply_shape(GRCActiveOperator, bpy.types.Operator):
    """Make the current shape an ordinary mesh (its Subdivision Surface modifier stays)"""

    bl_idname = "grc.apply_shape"
    bl_label = "Apply Shape"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        source = context.active_object
        refresh(source)
        if source.session_uid in _errors:
            self.report({"ERROR"}, _errors[source.session_uid])
            return {"CANCELLED"}
        make_plain(plain_target(context, source, self.keep_original))
        return {"FINISHED"}


# -- templates from Blender -----------------------------------------------------------------------

try:  # the library's own, once grc.importers (numpy only) ships with the add-on
    from .grc.importers import grid_order
except ImportError:
    def grid_order(faces, vertex_count: int, rows=None):
        """Stand-in for grc.importers.grid_order: the vertex indices of a quad grid as (M, N), read from its faces.

        The corner with the lowest vertex index starts the grid; rows run towards its lower-index neighbour
        (so an untouched Grid primitive keeps Blender's order); `rows` (M) picks which side is a row.
        Anything that is not one rectangular grid of quads raises GRCError saying why.
        """
        faces = np.asarray(faces, dtype=np.int64)
        if faces.ndim != 2 or faces.shape[1] != 4:
            raise GRCError("not a grid: expected quads only")
        in_faces = np.bincount(faces.ravel(), minlength=vertex_count)
        if np.any(in_faces == 0):
            raise GRCError(f"not a grid: vertex {int(np.argmin(in_faces))} is in no face (loose vertices)")
        edges = {}
        for f, face in enumerate(faces.tolist()):
            for a, b in zip(face, face[1:] + face[:1]):
                edges.setdefault((min(a, b), max(a, b)), []).append(f)
        shared = [e for e, fs in edges.items() if len(fs) > 2]
        if shared:
            raise GRCError(f"not a grid: the edge between vertices {shared[0][0]} and {shared[0][1]} joins "
                           f"{len(edges[shared[0]])} faces")
        corners = np.flatnonzero(in_faces == 1)
        if len(corners) != 4 or np.any(in_faces > 4):
            raise GRCError(f"not a grid: a grid has 4 corners (vertices in one face), this mesh has {len(corners)}")
        boundary = {}
        for (a, b), fs in edges.items():
            if len(fs) == 1:
                boundary.setdefault(a, []).append(b)
                boundary.setdefault(b, []).append(a)

        def side(start, towards):  # walk the boundary from a corner to the next corner
            path = [start, towards]
            while in_faces[path[-1]] != 1:
                nxt = [v for v in boundary.get(path[-1], []) if v != path[-2]]
                if len(nxt) != 1 or len(path) > vertex_count:
                    raise GRCError("not a grid: its boundary is not one rectangle (holes or several pieces)")
                path.append(nxt[0])
            return path

        origin = int(corners[0])
        face = faces[np.flatnonzero((faces == origin).any(axis=1))[0]].tolist()
        k = face.index(origin)
        a, b = sorted((face[(k + 1) % 4], face[(k + 3) % 4]))
        row, column = side(origin, a), side(origin, b)
        if rows is not None and len(column) != rows:
            if len(row) != rows:
                raise GRCError(f"the grid is {len(column)} x {len(row)} vertices; neither side has {rows} rows",
                               field="rows")
            row, column = column, row
        M, N = len(column), len(row)
        if M * N != vertex_count or (M - 1) * (N - 1) != len(faces):
            raise GRCError(f"not a grid: its sides are {M} and {N} vertices, but it has {vertex_count} vertices "
                           f"and {len(faces)} faces")
        grid = np.full((M, N), -1, dtype=np.int64)
        grid[0], grid[:, 0] = row, column
        for i in range(M - 1):
            for j in range(N - 1):
                v, right, down = grid[i, j], grid[i, j + 1], grid[i + 1, j]
                common = set(edges.get((min(v, right), max(v, right)), [])) & set(
                    edges.get((min(v, down), max(v, down)), []))
                if len(common) != 1:
                    raise GRCError(f"not a grid: no single quad at row {i}, point {j}")
                quad = faces[common.pop()].tolist()
                grid[i + 1, j + 1] = quad[(quad.index(v) + 2) % 4]
        if len(np.unique(grid)) != vertex_count:
            raise GRCError("not a grid: its quads do not tile one rectangle")
        return grid


def symmetric_orders(order):
    """The same grid read from each corner, rows along either side: the 8 orders a grid can be read in."""
    orders = [order, order[::-1], order[:, ::-1], order[::-1, ::-1]]
    return orders + [o.T for o in orders]


def aligned(order, co, reference):
    """Of the orders the grid `order` can be read in, the one whose points lie closest to `reference` (M, N, 3)."""
    candidates = [o for o in symmetric_orders(order) if o.shape == reference.shape[:2]]
    return min(candidates, key=lambda o: float(np.square(co[o] - reference).sum())) if candidates else order


def mesh_faces(mesh, where: str):
    """A mesh's faces (F, 4); a mesh with other than quads is refused."""
    sizes = np.empty(len(mesh.polygons), np.int32)
    mesh.polygons.foreach_get("loop_total", sizes)
    if len(sizes) == 0:
        raise GRCError("not a grid: the mesh has no faces", path=where)
    if np.any(sizes != 4):
        bad = int(np.flatnonzero(sizes != 4)[0])
        raise GRCError(f"not a grid: face {bad} has {int(sizes[bad])} corners; {int(np.sum(sizes != 4))} of "
                       f"{len(sizes)} faces are not quads (a grid is quads only)", path=where)
    starts = np.empty(len(mesh.polygons), np.int32)
    mesh.polygons.foreach_get("loop_start", starts)
    loops = np.empty(len(mesh.loops), np.int32)
    mesh.loops.foreach_get("vertex_index", loops)
    return loops[starts[:, None] + np.arange(4)]


def coordinates(points, matrix=None) -> np.ndarray:
    """Vertex coordinates (V, 3) from anything with foreach_get("co") (mesh vertices, a shape key's data)."""
    co = np.empty(3 * len(points), np.float32)
    points.foreach_get("co", co)
    co = co.reshape(-1, 3).astype(float)
    if matrix is None:
        return co
    m = np.array(matrix)
    return co @ m[:3, :3].T + m[:3, 3]


class GridReader:
    """Reads one object's time steps as grids (M, N, 3) in one grid order, found from its quads.

    The order is found once (again only if the faces change) and, of the ways the grid can be read
    (from each corner, rows along either side), the one closest to `reference` is taken, so every time
    step and every template of a set start at the same corner.
    """

    def __init__(self, where: str, rows: int):
        self.where, self.rows, self.order, self.faces = where, rows or None, None, None

    def read(self, faces, co, reference=None) -> np.ndarray:
        if self.order is None or faces.shape != self.faces.shape or np.any(faces != self.faces):
            if len(co) > limits.MAX_ROWS * limits.MAX_POINTS:
                raise GRCError(f"{len(co):,} vertices; a template's grid has at most {limits.MAX_ROWS} rows x "
                               f"{limits.MAX_POINTS} points", path=self.where)
            try:
                order = grid_order(faces, len(co), self.rows)
            except GRCError as e:
                raise GRCError(str(e), path=self.where) from None
            self.order = order if reference is None else aligned(order, co, reference)
            self.faces = faces
            M, N = self.order.shape
            if M > limits.MAX_ROWS or N > limits.MAX_POINTS:
                raise GRCError(f"a grid of {M} rows x {N} points; the limits are {limits.MAX_ROWS} rows and "
                               f"{limits.MAX_POINTS} points (set Rows to read it the other way round)", path=self.where)
        if len(co) != self.order.size:
            raise GRCError(f"{len(co)} vertices where the grid has {self.order.size}", path=self.where)
        return co[self.order]


def typed_values(text: str, count: int, field: str, default) -> np.ndarray:
    """Relational-map values the user typed (comma- or space-separated), else `default`."""
    if not text.strip():
        return np.asarray(default, float)
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise GRCError(f"expected numbers separated by commas, got {printable(text)!r}", field=field) from None
    if len(values) != count:
        raise GRCError(f"expected {count} values (one per {'time step' if field == 'time' else 'row'}), "
                       f"got {len(values)}", field=field)
    for v in values:
        limits.number(v, field, low=-limits.MAX_MAP_VALUE, high=limits.MAX_MAP_VALUE)
    return np.asarray(values)


def unit_range(values) -> np.ndarray:
    """Frame numbers or property values as a time axis from 0 to 1."""
    values = np.asarray(values, float)
    span = values[-1] - values[0]
    return (values - values[0]) / span if span > 0 else np.linspace(0, 1, len(values))


def template_name(name: str) -> str:
    return printable(name).strip()[: limits.MAX_NAME] or "template"


class GRC_OT_export_templates(bpy.types.Operator):
    """Write a GRC template set (grc-template/1) from the selected objects, their shape keys or their animation"""

    bl_idname = "grc.export_templates"
    bl_label = "Export Templates"
    bl_options = {"REGISTER"}

    directory: StringProperty(name="Folder", subtype="DIR_PATH",
                              description="The template set folder (empty: the scene's GRC template folder)")
    source: EnumProperty(name="Time Steps From", default="FRAMES", items=[
        ("OBJECTS", "Objects", "Each selected object is one time step (one template per collection, "
                               "or all of them one template)"),
        ("SHAPE_KEYS", "Shape Keys", "Each selected object is a template; its shape keys are the time steps"),
        ("FRAMES", "Frames", "Each selected object is a template; its evaluated mesh (modifiers, animation) "
                             "at each frame of the range is a time step"),
    ])
    group: EnumProperty(name="Templates", default="COLLECTION", items=[
        ("COLLECTION", "One per Collection", "Objects source: the selected objects of each collection are a template"),
        ("ALL", "One", "Objects source: all the selected objects are one template"),
    ])
    order: EnumProperty(name="Order", default="NAME", items=[
        ("NAME", "Name", "Objects source: time steps in the order of the objects' names"),
        ("PROPERTY", "Property", "Objects source: time steps in the order of a custom property (its values "
                                 "are the time axis)"),
    ])
    order_property: StringProperty(name="Property", default="time", description="The custom property to order by")
    include_basis: BoolProperty(name="Include Basis", default=True,
                                description="Shape keys source: the reference key is the first time step")
    frame_start: IntProperty(name="Start", default=-1, description="Frames source: first frame (-1: the scene's)")
    frame_end: IntProperty(name="End", default=-1, description="Frames source: last frame (-1: the scene's)")
    frame_step: IntProperty(name="Step", default=1, min=1, description="Frames source: frames between time steps")
    rows: IntProperty(name="Rows", default=0, min=0, max=limits.MAX_ROWS,
                      description="Morph rows of the grid (0: the side along the lowest-index corner's first edge "
                                  "is a row)")
    time_values: StringProperty(name="Time", description="The relational map's time values, comma-separated "
                                "(empty: 0 to 1, spaced as the frames or property values are)")
    morph_values: StringProperty(name="Morph", description="The relational map's morph values, one per row, "
                                 "comma-separated (empty: evenly 0 to 1)")
    space: EnumProperty(name="Space", default="LOCAL", items=[
        ("LOCAL", "Local", "Object coordinates (objects may stand anywhere in the scene)"),
        ("WORLD", "World", "World coordinates"),
    ])
    replace: BoolProperty(name="Replace", default=False,
                          description="Replace a template set already in the folder (the old one is removed)")

    @classmethod
    def poll(cls, context):
        return any(obj.type == "MESH" for obj in context.selected_objects)

    def invoke(self, context, event):  # from the panel: a dialog with this source's options, then execute
        return context.window_manager.invoke_props_dialog(self, width=420)

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "directory", text="Folder")
        if not self.directory:
            layout.label(text=f"(empty: {context.scene.grc.template_folder or 'set the panel Template Set'})")
        layout.prop(self, "source")
        if self.source == "OBJECTS":
            layout.prop(self, "group")
            row = layout.row(align=True)
            row.prop(self, "order")
            if self.order == "PROPERTY":
                row.prop(self, "order_property", text="")
        elif self.source == "SHAPE_KEYS":
            layout.prop(self, "include_basis")
        else:
            row = layout.row(align=True)
            row.prop(self, "frame_start")
            row.prop(self, "frame_end")
            row.prop(self, "frame_step")
        layout.prop(self, "rows")
        layout.prop(self, "time_values")
        layout.prop(self, "morph_values")
        layout.prop(self, "space")
        layout.prop(self, "replace")

    def execute(self, context):
        try:
            folder, written = self.export(context)
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        s = written
        T, M, N = s.grid_shape
        self.report({"INFO"}, printable(f"Wrote {len(s)} templates ({', '.join(s.names)}), {T} time steps x "
                                        f"{M} rows x {N} points, to {folder}"))
        return {"FINISHED"}

    def export(self, context):
        folder = absolute(self.directory or context.scene.grc.template_folder, "template set folder")
        objects = sorted((obj for obj in context.selected_objects if obj.type == "MESH"), key=lambda o: o.name)
        if self.source == "OBJECTS":
            sources = self.object_groups(objects)
        else:
            sources = [(template_name(obj.name), obj) for obj in objects]
        if len(sources) > limits.MAX_TEMPLATES:
            raise GRCError(f"{len(sources)} templates; the limit is {limits.MAX_TEMPLATES}", field="templates")
        if len(sources) < 2:
            raise GRCError("a template set needs at least 2 templates: select objects for 2 or more (each object "
                           "is a template; with Objects, each collection)", field="templates")
        read = {"OBJECTS": self.from_objects, "SHAPE_KEYS": self.from_shape_keys, "FRAMES": self.from_frames}
        templates, reference = [], None
        for name, source in sources:
            grids, axis = read[self.source](context, source, reference)
            reference = grids[0] if reference is None else reference
            T, M = len(grids), grids[0].shape[0]
            values = len(sources) * T * grids[0].size
            if values > limits.MAX_GRID_VALUES:
                raise GRCError(f"{len(sources)} templates x {T} time steps x {M} rows x {grids[0].shape[1]} points "
                               f"is {values:,} numbers; the limit for a set is {limits.MAX_GRID_VALUES:,}",
                               field="templates")
            time = typed_values(self.time_values, T, "time", unit_range(axis))
            morph = typed_values(self.morph_values, M, "morph", np.linspace(0, 1, M))
            points = np.stack(grids)  # (T, M, N, 3)
            if np.abs(points).max() > limits.MAX_COORDINATE:
                raise GRCError(f"coordinates beyond {limits.MAX_COORDINATE:g}", path=name, field="points")
            templates.append(Template(name, time, morph, points))
        template_set = TemplateSet(templates)
        write_template_set(template_set, folder, self.replace)
        return folder, template_set

    def matrix(self, obj):
        return obj.matrix_world if self.space == "WORLD" else None

    def object_groups(self, objects):
        if self.group == "ALL":
            active = bpy.context.active_object
            name = active.users_collection[0].name if active and active.users_collection else "template"
            return [(template_name(name), objects)]
        groups = {}
        for obj in objects:
            collection = obj.users_collection[0].name if obj.users_collection else "template"
            groups.setdefault(collection, []).append(obj)
        return [(template_name(name), members) for name, members in sorted(groups.items())]

    def order_key(self, obj):
        if self.order == "NAME":
            return obj.name
        value = obj.get(self.order_property)
        if value is None:
            raise GRCError(f"no custom property {printable(self.order_property)!r} to order by", path=obj.name)
        return limits.number(value, self.order_property, path=obj.name)

    def from_objects(self, context, members, reference):
        """Each object a time step, in the order of their names or of a custom property."""
        members = sorted(members, key=self.order_key)
        self.check_steps(len(members), members[0].name if members else "", "objects")
        axis = [self.order_key(obj) for obj in members] if self.order == "PROPERTY" else range(len(members))
        if self.order == "PROPERTY" and len(set(axis)) != len(axis):
            raise GRCError(f"two objects have the same {printable(self.order_property)!r}", path=members[0].name)
        grids = []
        for obj in members:
            faces = mesh_faces(obj.data, obj.name)
            reader = GridReader(obj.name, self.rows)
            grids.append(reader.read(faces, coordinates(obj.data.vertices, self.matrix(obj)),
                                     grids[-1] if grids else reference))
        return grids, axis

    def from_shape_keys(self, context, obj, reference):
        """The object's shape keys (not muted) as time steps, in their order."""
        keys = obj.data.shape_keys
        blocks = [k for k in keys.key_blocks if not k.mute] if keys else []
        if keys and not self.include_basis:
            blocks = [k for k in blocks if k != keys.reference_key]
        self.check_steps(len(blocks), obj.name, "shape keys")
        faces, reader = mesh_faces(obj.data, obj.name), GridReader(obj.name, self.rows)
        grids = [reader.read(faces, coordinates(block.data, self.matrix(obj)), reference) for block in blocks]
        return grids, range(len(grids))

    def from_frames(self, context, obj, reference):
        """The object's evaluated mesh (modifiers, shape keys, animation) at each frame of the range."""
        scene = context.scene
        start = scene.frame_start if self.frame_start < 0 else self.frame_start
        end = scene.frame_end if self.frame_end < 0 else self.frame_end
        frames = list(range(start, end + 1, self.frame_step))
        self.check_steps(len(frames), obj.name, "frames")
        current, reader, grids = scene.frame_current, GridReader(obj.name, self.rows), []
        try:
            for frame in frames:
                scene.frame_set(frame)
                evaluated = obj.evaluated_get(context.evaluated_depsgraph_get())
                mesh = evaluated.to_mesh()
                try:
                    matrix = evaluated.matrix_world if self.space == "WORLD" else None
                    grids.append(reader.read(mesh_faces(mesh, obj.name), coordinates(mesh.vertices, matrix),
                                             grids[-1] if grids else reference))
                finally:
                    evaluated.to_mesh_clear()
        finally:
            scene.frame_set(current)
        return grids, frames

    def check_steps(self, count, where, what):
        if count < 2:
            raise GRCError(f"expected at least 2 time steps, found {count} {what}", path=where)
        if count > limits.MAX_TIME_STEPS:
            raise GRCError(f"{count} time steps; the limit is {limits.MAX_TIME_STEPS}", path=where)


def absolute(text: str, what: str) -> Path:
    """A path typed in Blender as an absolute one; `//` (relative to the .blend) needs a saved .blend."""
    text = text.strip()
    if not text:
        raise GRCError(f"choose a {what}")
    if text.startswith("//") and not bpy.data.filepath:
        raise GRCError(f"{printable(text)} is relative to the .blend file: save the .blend first, or choose an "
                       f"absolute path for the {what}")
    return Path(bpy.path.abspath(text))


def write_template_set(template_set: TemplateSet, folder: Path, replace: bool):
    """Write the set as a whole: into a new folder beside `folder`, then swapped in (the old set is removed)."""
    if folder.exists() and not folder.is_dir():
        raise GRCError("expected a folder, found a file", path=folder)
    old = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if old and not replace:
        raise GRCError(f"the folder already holds {len(old)} .json files; turn on Replace to replace them",
                       path=folder)
    if folder.is_dir() and any(p for p in folder.iterdir() if p.suffix != ".json"):
        raise GRCError("the folder holds other files than templates; choose an empty folder", path=folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    new, previous = folder.with_name(folder.name + ".grc-new"), folder.with_name(folder.name + ".grc-old")
    for leftover in (new, previous):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        template_set.save(new)
        if folder.exists():
            os.replace(folder, previous)
        os.replace(new, folder)
    except OSError as e:
        shutil.rmtree(new, ignore_errors=True)
        if previous.exists() and not folder.exists():
            os.replace(previous, folder)
        raise GRCError(f"cannot write the template set: {e.strerror or e}", path=folder) from None
    shutil.rmtree(previous, ignore_errors=True)


# -- training from Blender ------------------------------------------------------------------------

PROGRESS = re.compile(r"([A-Za-z][A-Za-z+()]*(?: [A-Za-z+()]+)*)\s+\D*?(\d{1,3})%\s+loss\s+(\S+)")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def grc_command(context):
    """The `grc` command: the path in the add-on's preferences, else `grc` on PATH; None when there is none."""
    addon = context.preferences.addons.get(__package__)
    path = addon.preferences.grc_command.strip() if addon and addon.preferences else ""
    if path:
        path = bpy.path.abspath(path)
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which("grc")


class TrainingJob:
    """`grc train` in a subprocess; a thread collects its output, so Blender only polls (and stays responsive).

    The CLI's progress bars (rich) are read as a terminal would show them: TTY_COMPATIBLE makes rich
    redraw them into the pipe, and `progress()` takes the last "phase  ...  NN%  loss X" line.
    """

    def __init__(self, command: str, folder, output, options: str = ""):
        self.output = Path(output)
        try:
            extra = shlex.split(options)
        except ValueError as e:
            raise GRCError(f"cannot read the options ({e})", field="train_options") from None
        self.args = [command, "train", str(folder), "-o", str(output), *extra]
        self.text, self.lock, self.process, self.cancelled = "", threading.Lock(), None, False

    def start(self):
        env = {**os.environ, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "NO_COLOR": "1", "COLUMNS": "120"}
        try:
            self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, env=env)
        except OSError as e:
            raise GRCError(f"cannot run the grc command: {e.strerror or e}", path=self.args[0]) from None
        threading.Thread(target=self._collect, daemon=True).start()
        return self

    def _collect(self):
        while True:
            chunk = self.process.stdout.read1(65536) if hasattr(self.process.stdout, "read1") else b""
            if not chunk:
                break
            with self.lock:
                self.text = (self.text + chunk.decode("utf-8", "replace"))[-200_000:]

    def poll(self):
        """None while training, else the exit code."""
        return self.process.poll()

    def lines(self) -> list[str]:
        with self.lock:
            text = ANSI.sub("", self.text)
        return [line.strip() for line in re.split(r"[\r\n]", text) if line.strip()]

    def progress(self) -> str:
        """The latest progress the CLI reported, e.g. "encoder + decoder 57% (loss 5.27e-02)"; "" before any."""
        for line in reversed(self.lines()):
            match = PROGRESS.search(line)
            if match:
                phase, percent, loss = match.groups()
                return f"{phase.strip()} {percent}% (loss {loss})"
        return ""

    def message(self) -> str:
        """The CLI's last words (its error, or what it saved)."""
        lines = [line for line in self.lines() if not PROGRESS.search(line)]
        errors = [line for line in lines if line.startswith("grc")]
        return printable((errors or lines or [""])[-1])[:300]

    def cancel(self, wait: bool = True):
        """Stop training (SIGTERM; the CLI says what it kept); the model file is left as it was.

        `wait=False` returns at once (the modal operator polls until the process has gone)."""
        self.cancelled = True
        if self.process and self.process.poll() is None:
            self.process.terminate()
            if not wait:
                return
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait(self, report=None, interval: float = 0.2):
        """Block until done (scripts and background Blender), passing progress to `report`; the exit code."""
        last = None
        while self.poll() is None:
            clock.sleep(interval)
            progress = self.progress()
            if report and progress and progress != last:
                report(progress)
                last = progress
        return self.process.returncode


_job: TrainingJob | None = None  # the training running now (one at a time)


def start_training(context) -> TrainingJob:
    """Check the settings and start `grc train` on the scene's template folder, writing its model file."""
    global _job
    if _job is not None and _job.poll() is None:
        raise GRCError("a training is already running; cancel it first")
    settings = context.scene.grc
    command = grc_command(context)
    if command is None:
        raise GRCError("the grc command was not found: install GRC Studio (pip install grc-studio) or set its "
                       "path in the add-on's preferences", field="grc_command")
    folder = absolute(settings.template_folder, "template set folder")
    output = absolute(settings.model_file, "model file")
    if not folder.is_dir():
        raise GRCError("expected a template set folder (export one with Export Templates)", path=folder,
                       field="template_folder")
    if output.suffix.lower() != ".grc" or output.is_dir():
        raise GRCError("expected a .grc file to write", path=output, field="model_file")
    if not output.parent.is_dir():
        raise GRCError("its folder does not exist", path=output, field="model_file")
    _job = TrainingJob(command, folder, output, settings.train_options).start()
    return _job


def finish_training(context, job: TrainingJob, operator) -> set:
    """After the CLI exits: load the trained model as a GRC object, or report why there is none."""
    global _job
    _job = None if _job is job else _job
    code = job.process.returncode
    if job.cancelled:
        operator.report({"WARNING"}, f"Training cancelled; {job.output.name} unchanged")
        return {"CANCELLED"}
    if code != 0:
        operator.report({"ERROR"}, f"grc train failed (exit {code}): {job.message()}")
        return {"CANCELLED"}
    try:
        obj, model = add_grc_object(context, job.output)
    except GRCError as e:
        operator.report({"ERROR"}, str(e))
        return {"CANCELLED"}
    operator.report({"INFO"}, printable(f"Trained {job.output.name}: templates {', '.join(model.names)}"))
    return {"FINISHED"}


class GRC_OT_train(bpy.types.Operator):
    """Train a GRC model on the scene's template set with `grc train` in the background, then load it"""

    bl_idname = "grc.train"
    bl_label = "Train"
    bl_options = {"REGISTER"}

    _timer = None
    _job = None

    def execute(self, context):  # scripts and background Blender: wait for it here
        try:
            job = start_training(context)
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        try:
            job.wait(lambda text: print(f"GRC training: {text}", flush=True))
        except KeyboardInterrupt:
            job.cancel()
        return finish_training(context, job, self)

    def invoke(self, context, event):
        if context.window is None:
            return self.execute(context)
        try:
            self._job = start_training(context)
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._timer = context.window_manager.event_timer_add(0.25, window=context.window)
        context.window_manager.modal_handler_add(self)
        self.show(context, "starting")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel(wait=False)
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        if job.poll() is None:
            self.show(context, job.progress() or "starting")
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)
        for area in context.screen.areas if context.screen else []:
            area.tag_redraw()
        return finish_training(context, job, self)

    def show(self, context, text):
        context.workspace.status_text_set(f"GRC training: {text}  (Esc or Cancel Training to stop)")
        for area in context.screen.areas if context.screen else []:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class GRC_OT_cancel_training(bpy.types.Operator):
    """Stop the running training; the model file stays as it was"""

    bl_idname = "grc.cancel_training"
    bl_label = "Cancel Training"

    @classmethod
    def poll(cls, context):
        return _job is not None and _job.poll() is None

    def execute(self, context):
        _job.cancel(wait=context.window is None)  # the modal Train operator notices and reports it
        return {"FINISHED"}


class GRCSceneSettings(bpy.types.PropertyGroup):
    """scene.grc: where Export Templates writes the template set and what Train makes of it."""

    template_folder: StringProperty(name="Template Set", subtype="DIR_PATH",
                                    description="The template set folder Export Templates writes and Train reads")
    model_file: StringProperty(name="Model File", subtype="FILE_PATH", default="//model.grc",
                               description="The .grc file Train writes (then loads as a GRC object)")
    train_options: StringProperty(name="Options", default="",
                                  description="More options for grc train, e.g. --steps 2000 --set refine_steps=0")


class GRCPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    grc_command: StringProperty(name="grc Command", subtype="FILE_PATH",
                                description="The grc program (empty: `grc` on PATH)")

    def draw(self, context):
        self.layout.prop(self, "grc_command")
        found = grc_command(context)
        self.layout.label(text=f"Using: {found}" if found else "grc not found: Train is unavailable",
                          icon="CHECKMARK" if found else "ERROR")


# -- panel --------------------------------------------------------------------------------------

class GRC_PT_panel(bpy.types.Panel):
    bl_label = "GRC Studio"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "GRC"

    def draw(self, context):
        layout = self.layout
        layout.operator(GRC_OT_load_model.bl_idname, icon="FILEBROWSER")
        obj = context.active_object
        if obj is None or obj.type != "MESH" or not obj.grc.is_grc:
            layout.label(text="Active object: not a GRC object")
        else:
            self.draw_object(layout, obj)
        self.draw_training(layout, context)

    def draw_object(self, layout, obj):
        s = obj.grc
        try:
            model = model_of(obj)
        except GRCError as e:
            layout.label(text=str(e), icon="ERROR")
            return
        if obj.session_uid in _errors:
            layout.label(text=_errors[obj.session_uid], icon="ERROR")
        time = model.templates.time
        col = layout.column(align=True)
        col.label(text=printable(f"{s.model_name}: {', '.join(model.names)}"))
        col.prop(s, "time", text=f"Time ({time[0]:g} to {time[-1]:g})")
        if len(model.templates) == 2:
            col.prop(s, "blend")
        else:
            for i, name in enumerate(model.names):
                col.prop(s, "weights", index=i, text=printable(name))
        col = layout.column(align=True)
        col.prop(s, "subdivision")
        col.prop(s, "petals")
        col = layout.column(align=True)
        col.label(text="Bake to shape keys:")
        row = col.row(align=True)
        row.operator(GRC_OT_bake_shape_keys.bl_idname, text="Time Sweep").sweep = "TIME"
        row.operator(GRC_OT_bake_shape_keys.bl_idname, text="Blend Sweep").sweep = "BLEND"
        col.operator(GRC_OT_apply_shape.bl_idname, icon="CHECKMARK")

    def draw_training(self, layout, context):
        settings = context.scene.grc
        box = layout.box()
        box.label(text="Templates from Blender:")
        box.prop(settings, "template_folder", text="")
        col = box.column(align=True)
        col.label(text="Export selected, time steps from:")
        row = col.row(align=True)
        row.operator(GRC_OT_export_templates.bl_idname, text="Frames").source = "FRAMES"
        row.operator(GRC_OT_export_templates.bl_idname, text="Shape Keys").source = "SHAPE_KEYS"
        row.operator(GRC_OT_export_templates.bl_idname, text="Objects").source = "OBJECTS"
        box.prop(settings, "model_file")
        box.prop(settings, "train_options")
        if _job is not None and _job.poll() is None:
            box.label(text=f"Training: {_job.progress() or 'starting'}", icon="TIME")
            box.operator(GRC_OT_cancel_training.bl_idname, icon="CANCEL")
        elif grc_command(context) is None:
            box.label(text="Train: grc not found (set it in the preferences)", icon="ERROR")
        else:
            box.operator(GRC_OT_train.bl_idname, icon="PLAY")


# -- handlers -----------------------------------------------------------------------------------

def is_grc_object(obj) -> bool:
    return obj is not None and obj.type == "MESH" and obj.grc.is_grc


def find_grc_objects(*args):
    """Look through every object once (after loading a file, an undo, enabling): remember the GRC objects."""
    _grc_objects.clear()
    _grc_objects.update((obj.session_uid, obj) for obj in bpy.data.objects if is_grc_object(obj))


def note_grc_object(obj):
    _grc_objects[obj.session_uid] = obj


def grc_objects(scene):
    """The GRC objects remembered in _grc_objects (one that was deleted or turned plain: look again)."""
    try:
        if all(is_grc_object(obj) for obj in _grc_objects.values()):
            return list(_grc_objects.values())
    except ReferenceError:  # deleted
        pass
    find_grc_objects()
    return list(_grc_objects.values())


@persistent
def _let_go(*args):
    """Before undo, redo or loading a file: the remembered objects are about to be replaced."""
    _grc_objects.clear()


@persistent
def _follow_frame(scene, depsgraph=None):
    """After a frame change: GRC objects whose (animated) settings changed get new meshes."""
    for obj in grc_objects(scene):
        refresh(obj, obj.evaluated_get(depsgraph).grc if depsgraph else obj.grc)


@persistent
def _follow_update(scene, depsgraph=None):
    """After a depsgraph update: note GRC objects that appeared (duplicated, appended, renamed), then follow."""
    if depsgraph is not None:
        for update in depsgraph.updates:
            obj = update.id
            if isinstance(obj, bpy.types.Object) and is_grc_object(obj) and obj.session_uid not in _grc_objects:
                note_grc_object(obj.original)
    _follow_frame(scene, depsgraph)


@persistent
def _forget(*args):
    """After undo or redo: meshes may be new ones; every GRC object is checked again."""
    _shown.clear()
    _errors.clear()
    find_grc_objects()


@persistent
def _loaded(*args):
    """After loading a .blend: models are read again from the objects that embed them."""
    _models.clear()
    _forget()


HANDLERS = {
    "frame_change_post": _follow_frame,
    "depsgraph_update_post": _follow_update,
    "load_post": _loaded,
    "undo_post": _forget,
    "redo_post": _forget,
    "undo_pre": _let_go,
    "redo_pre": _let_go,
    "load_pre": _let_go,
}
CLASSES = (GRCObjectSettings, GRCSceneSettings, GRCPreferences, GRC_OT_load_model, GRC_OT_bake_shape_keys,
           GRC_OT_apply_shape, GRC_OT_export_templates, GRC_OT_train, GRC_OT_cancel_training, GRC_PT_panel)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.grc = bpy.props.PointerProperty(type=GRCObjectSettings)
    bpy.types.Scene.grc = bpy.props.PointerProperty(type=GRCSceneSettings)
    for name, handler in HANDLERS.items():
        getattr(bpy.app.handlers, name).append(handler)
    find_grc_objects()


def unregister():
    for name, handler in HANDLERS.items():
        handlers = getattr(bpy.app.handlers, name)
        if handler in handlers:
            handlers.remove(handler)
    if _job is not None:
        _job.cancel()
    del bpy.types.Object.grc
    del bpy.types.Scene.grc
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    _models.clear()
    _shown.clear()
    _errors.clear()
    _grc_objects.clear()
