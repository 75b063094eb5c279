"""GRC Studio for Blender: GRC models as mesh objects whose time, blend, subdivision, flower and look animate.

A GRC object is a mesh object whose settings live in `obj.grc`. Changing a setting rebuilds its mesh
(property update callbacks); animated settings are read from the evaluated object after every frame change
and depsgraph update, so the viewport, scripts' frame_set and rendered animations all follow keyframes.
The model file is embedded in the object (base64), so a saved .blend needs no other file; models are
cached per content hash. Subdivision is a Subdivision Surface modifier at Blender's defaults, which
GRC Studio's own subdivision matches (UVs too: the mesh carries grc.mesh.grid_uvs, which the modifier's
default UV smoothing keeps). Flowers are grc.mesh.Flower, faces follow the model's flip_normals, a look
(grc-look/1) bends the decoder with keyframable strengths, and the panel shows the coherence verdict of
the current shape (grc.coherence), all with the library's own code. The add-on never executes anything
from a model file: it parses JSON and copies arrays (grc.bundle).

The other direction lives beside this file: export.py (Export Templates: template sets from meshes) and
training.py (Train: `grc train` in the background). This file is the add-on's __init__.py inside the zip
that `grc blender-addon` writes; the `grc` folder next to it is the library's numpy runtime.
"""

import base64
import dataclasses
import hashlib
import json
from pathlib import Path

import bpy
import numpy as np
from bpy.app.handlers import persistent
from bpy.props import BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from .grc import limits
from .grc.errors import GRCError, printable
from .grc.coherence import Coherence, dense_level
from .grc.diverge.bend import MAX_BENDS, Look, load_look
from .grc.model import GRCModel
from .grc.mesh import Flower, dense_subdivision_operator, grid_faces, grid_uvs
from .grc.sweeps import sweep_names, sweep_values
from . import training
from .export import GRC_OT_export_templates
from .training import GRC_OT_cancel_training, GRC_OT_train, GRCPreferences, GRCSceneSettings, grc_command

MAX_TEMPLATES = 32  # obj.grc.weights has a fixed size; the first K entries are the template weights
MAX_SUBDIVISION = 3
MODIFIER = "GRC Subdivision"
UV_LAYER = "UVMap"
VERDICT_SUBDIVISION = 2  # the live verdict's surface, as in the app and `grc map`
VERDICT_OPERATOR_LIMIT = 32_000_000  # entries (256 MB) of the dense subdivision operator; a bigger grid: the stencils

_models: dict[str, GRCModel] = {}  # content hash -> model
_shown: dict[int, tuple] = {}  # object session_uid -> the settings its mesh shows
_errors: dict[int, str] = {}  # object session_uid -> why its mesh cannot be updated
_grc_objects: dict = {}  # session_uid -> a GRC object: the handlers visit these, never the whole scene
_looks: dict[str, Look] = {}  # look JSON text -> the look
_coherences: dict[str, Coherence] = {}  # model hash -> its Coherence at VERDICT_SUBDIVISION
_petals: dict[int, tuple] = {}  # object session_uid -> (settings key, the petal's grid, time) its mesh shows
_checks: dict[int, tuple] = {}  # object session_uid -> (settings key, verdict, novelty)


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


def flower_of(settings) -> Flower:
    """The grc.mesh.Flower of a GRC object's settings (checked as the library checks it)."""
    return Flower(petals=settings.petals, base_radius=settings.base_radius, tilt=settings.tilt,
                  rings=settings.rings, ring_scale=settings.ring_scale,
                  ring_rotation=settings.ring_rotation if settings.use_ring_rotation else None,
                  ring_tilt=settings.ring_tilt, vary_time=settings.vary_time, vary_blend=settings.vary_blend,
                  seed=settings.flower_seed)


def look_of(settings) -> Look | None:
    """The GRC object's look with its (animated) strengths, or None."""
    if not settings.look_data:
        return None
    look = _looks.get(settings.look_data)
    if look is None:
        look = Look.from_json(limits.parse_json(settings.look_data, settings.look_name, "look"), settings.look_name)
        _looks[settings.look_data] = look
    bends = [dataclasses.replace(b, strength=float(settings.look_strengths[i])) for i, b in enumerate(look.bends)]
    return dataclasses.replace(look, bends=bends)


def petal_shape(settings, model, look=None):
    """shape(time, blend) -> grid: the model's, through the look when there is one."""
    if look is None:
        return lambda t, b: model.shape(t, b)
    return lambda t, b: checked_grid(look.shape(model, t, b), t)


def checked_grid(grid, time):
    if not np.all(np.isfinite(grid)):
        raise GRCError(f"the look's shape at time {time:g} is not finite", field="look")
    return grid


def shape_mesh(settings, model, time=None, blend=None):
    """The flower at a GRC object's settings (or at the given time / blend): vertices (V, 3), quads (F, 4),
    UVs (V, 2), and the unvaried petal's grid (M, N, 3). Vertex order is ring, petal, morph row, point."""
    time = settings.time if time is None else time
    blend = blend_of(settings, model) if blend is None else blend
    flower, look = flower_of(settings), look_of(settings)
    shape = petal_shape(settings, model, look)
    grids = flower.grids(shape, time, blend, len(model.templates))  # (count, M, N, 3), or (1, ...) for all
    petal = grids[0] if not flower.varies else shape(time, blend)
    count, (rows, points) = flower.count, grids.shape[1:3]
    faces = grid_faces(rows, points)
    if model.flip_normals:
        faces = faces[:, [0, 3, 2, 1]]  # as grc.mesh flips them
    vertices = flower.place(grids.reshape(len(grids), -1, 3))
    faces = np.concatenate([faces + k * rows * points for k in range(count)])
    return vertices, faces, np.tile(grid_uvs(rows, points), (count, 1)), petal


def set_geometry(mesh, vertices, faces, uvs):
    """Move the mesh's vertices; rebuild it (smooth shaded, with its UVs) when its faces change."""
    same = (len(mesh.vertices) == len(vertices) and len(mesh.polygons) == len(faces) and len(faces)
            and tuple(mesh.polygons[0].vertices) == tuple(faces[0]) and UV_LAYER in mesh.uv_layers)
    if not same:
        mesh.clear_geometry()
        mesh.from_pydata(vertices.tolist(), [], faces.tolist())
        mesh.shade_smooth()
        layer = mesh.uv_layers.get(UV_LAYER) or mesh.uv_layers.new(name=UV_LAYER)
        corners = np.empty(len(mesh.loops), np.int32)
        mesh.loops.foreach_get("vertex_index", corners)
        layer.data.foreach_set("uv", np.asarray(uvs, np.float32)[corners].ravel())
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
    return (s.model_hash, s.time, s.blend, tuple(s.weights), s.subdivision, s.petals, s.base_radius, s.tilt,
            s.rings, s.ring_scale, s.use_ring_rotation, s.ring_rotation, s.ring_tilt, s.vary_time, s.vary_blend,
            s.flower_seed, s.look_data, tuple(s.look_strengths), obj.data.as_pointer(), len(obj.data.vertices))


def refresh(obj, settings=None, force=False):
    """Make a GRC object's mesh show its settings (skipped when it already does, unless forced).

    `settings` defaults to obj.grc; handlers pass the evaluated object's, which hold the animated values
    also while rendering (the render's animation is not written back to the original object).
    """
    if obj.type != "MESH" or not obj.grc.is_grc or obj.mode == "EDIT":  # edit mode owns the mesh until it ends
        return
    if obj.data.users > 1 and not obj.data.is_evaluated:  # a linked duplicate (Alt+D): a mesh of its own
        obj.data = obj.data.copy()
        _shown.pop(obj.session_uid, None)
    settings = settings or obj.grc
    key = settings_key(obj, settings)
    if not force and _shown.get(obj.session_uid) == key:
        return
    try:
        vertices, faces, uvs, petal = shape_mesh(settings, model_of(obj))
    except GRCError as e:
        _errors[obj.session_uid] = str(e)
        _shown[obj.session_uid] = key  # do not retry until a setting changes
        return
    _errors.pop(obj.session_uid, None)
    set_geometry(obj.data, vertices, faces, uvs)
    set_subdivision(obj, settings.subdivision)
    _shown[obj.session_uid] = settings_key(obj, settings)
    _petals[obj.session_uid] = (_shown[obj.session_uid], petal, float(settings.time))


# -- verdict ------------------------------------------------------------------------------------

def coherence_of(obj, model) -> Coherence:
    """The model's Coherence at VERDICT_SUBDIVISION, as the app's: its subdivision operator built with numpy alone;
    for a grid too big for that operator (VERDICT_OPERATOR_LIMIT entries), each shape subdivided by the stencils
    themselves (no operator: the same surface, a little slower)."""
    key = obj.grc.model_hash
    if key not in _coherences:
        M, N = model.grid_shape[1:]
        small = dense_level(M, N, VERDICT_SUBDIVISION, VERDICT_OPERATOR_LIMIT) == VERDICT_SUBDIVISION
        operator = dense_subdivision_operator(M, N, VERDICT_SUBDIVISION) if small else "stencils"
        _coherences[key] = Coherence.for_model(model, VERDICT_SUBDIVISION, operator=operator)
    return _coherences[key]


def check_of(obj) -> tuple[str, float]:
    """(verdict, novelty) of the shape a GRC object's settings give (its unvaried petal), computed once per shape:
    the petal its mesh shows, or, where the mesh does not show the settings (Edit Mode owns it; a file just opened,
    before the first update), the petal made from them."""
    settings = obj.grc  # a render's or a handler's evaluated copy: its (animated) settings, the original's caches
    obj = obj.original if obj.is_evaluated else obj
    if obj.session_uid in _errors or not settings.is_grc:
        return "", 0.0
    key = settings_key(obj, settings)
    shown = _petals.get(obj.session_uid)
    if shown is None or shown[0] != key:
        try:
            shown = (key, shape_mesh(settings, model_of(obj))[3], float(settings.time))
        except GRCError as e:
            return f"unknown ({e})", 0.0
        _petals[obj.session_uid] = shown
    key, petal, time = shown
    cached = _checks.get(obj.session_uid)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    try:
        check = coherence_of(obj, model_of(obj)).check(petal, time)
    except GRCError as e:
        return f"unknown ({e})", 0.0
    _checks[obj.session_uid] = (key, check.verdict, check.novelty)
    return check.verdict, check.novelty


def _verdict(settings):
    return check_of(settings.id_data)[0]


def _novelty(settings):
    return check_of(settings.id_data)[1]


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
    petals: IntProperty(name="Petals", description="Copies of the shape turned about Z (a flower), per ring",
                        default=1, min=1, max=limits.MAX_PETALS, soft_max=16, update=_changed)
    base_radius: FloatProperty(name="Base Radius", description="Each petal's base this far from the Z axis",
                               default=0.0, soft_min=0.0, soft_max=2.0, step=1, precision=3, update=_changed)
    tilt: FloatProperty(name="Tilt", description="Degrees each petal turns up (towards +Z) about its base",
                        default=0.0, min=-360.0, max=360.0, soft_min=-90.0, soft_max=90.0, update=_changed)
    rings: IntProperty(name="Rings", description="Rings of petals, each inner one smaller and turned",
                       default=1, min=1, max=16, update=_changed)
    ring_scale: FloatProperty(name="Ring Scale", description="Each ring's size against the one outside it",
                              default=0.8, min=0.001, max=1000.0, soft_max=1.5, step=1, update=_changed)
    use_ring_rotation: BoolProperty(name="Ring Rotation", default=False, update=_changed,
                                    description="Turn each ring by Ring Rotation (off: half a petal's step)")
    ring_rotation: FloatProperty(name="Ring Rotation", description="Degrees each ring turns against the one outside it",
                                 default=0.0, min=-360.0, max=360.0, update=_changed)
    ring_tilt: FloatProperty(name="Ring Tilt", description="Degrees of tilt each inner ring adds",
                             default=0.0, min=-360.0, max=360.0, update=_changed)
    vary_time: FloatProperty(name="Vary Time", description="Each petal's time moves by up to this much (seeded)",
                             default=0.0, min=0.0, max=10.0, soft_max=0.5, step=1, precision=3, update=_changed)
    vary_blend: FloatProperty(name="Vary Blend", description="Each petal's blend moves by up to this much (seeded)",
                              default=0.0, min=0.0, max=10.0, soft_max=1.0, step=1, precision=3, update=_changed)
    flower_seed: IntProperty(name="Seed", description="Seed of the per-petal variation", default=0, min=0,
                             update=_changed)
    look_name: StringProperty(name="Look", description="The look (grc-look/1) bending the decoder", options={"HIDDEN"})
    look_data: StringProperty(name="Look Data", description="The look file's JSON, so the .blend is self-contained",
                              options={"HIDDEN"})
    look_strengths: FloatVectorProperty(name="Bend Strengths", description="Each bend's strength (0 = no change)",
                                        size=MAX_BENDS, default=[0.0] * MAX_BENDS, min=-10.0, max=10.0,
                                        soft_min=0.0, soft_max=2.0, step=1, precision=3, update=_changed)
    verdict: StringProperty(name="Verdict", get=_verdict,
                            description="Coherence of the current shape: coherent, strained or broken (grc.coherence)")
    novelty: FloatProperty(name="Novelty", get=_novelty, precision=4,
                           description="RMS distance per point to the nearest template at any time step")


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
        obj = context.active_object  # in Object Mode: Edit Mode owns the mesh (a bake there was thrown away)
        return obj is not None and obj.type == "MESH" and obj.grc.is_grc and obj.mode == "OBJECT"

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
        names = sweep_names(sweep, values if self.sweep == "TIME" else blends)
        obj = plain_target(context, source, self.keep_original)
        make_plain(obj)
        obj.shape_key_clear()
        set_geometry(obj.data, *shapes[0][:3])
        obj.shape_key_add(name="Basis", from_mix=False)
        keys = []
        for name, (vertices, *_) in zip(names, shapes):
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


class GRC_OT_load_look(GRCActiveOperator, bpy.types.Operator, ImportHelper):
    """Bend the active GRC object's decoder with a look (grc-look/1 .json); each bend's strength animates"""

    bl_idname = "grc.load_look"
    bl_label = "Load Look"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context):
        obj = context.active_object
        try:
            path = Path(bpy.path.abspath(self.filepath))
            look = load_look(path)  # checked as every file GRC Studio reads
            apply_look(obj, look, path.name)
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, printable(f"Look {look.name}: {len(look.bends)} bends"))
        return {"FINISHED"}


def apply_look(obj, look: Look, name: str):
    """Put a look on a GRC object: its JSON is kept in the object, its strengths become obj.grc.look_strengths,
    and its blend (when it has one) becomes the object's blend, as the app and `grc export --look` apply it."""
    model = model_of(obj)
    if look.context is not None:
        raise GRCError("this look holds a raw context path, which a GRC object cannot keep: save the look with a "
                       "blend instead", field="look.context")
    K = len(model.templates)
    try:
        blend = None if look.blend is None else model.blend_weights(look.blend)  # (checked against this model)
    except GRCError as e:  # a look saved for another number of templates: say which file
        raise GRCError(e.message, path=name, field=f"look.{e.field}") from None
    look.shape(model, obj.grc.time, blend_of(obj.grc, model) if blend is None else blend)  # refused if it cannot
    s = obj.grc
    if blend is not None:
        if K == 2:
            s.blend = float(blend[1])
        else:
            s.weights[:K] = [float(w) for w in blend]
    s.look_name = name
    for i in range(MAX_BENDS):
        s.look_strengths[i] = look.bends[i].strength if i < len(look.bends) else 0.0
    s.look_data = json.dumps(look.to_json())
    refresh(obj, force=True)


class GRC_OT_clear_look(GRCActiveOperator, bpy.types.Operator):
    """Take the look off the active GRC object"""

    bl_idname = "grc.clear_look"
    bl_label = "Clear Look"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = context.active_object
        s = obj.grc
        s.look_data, s.look_name = "", ""
        refresh(obj, force=True)  # the plain shape now (it waited for another setting to change)
        return {"FINISHED"}


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
        verdict, novelty = check_of(obj)
        if verdict:
            icon = {"coherent": "CHECKMARK", "strained": "INFO", "broken": "ERROR"}.get(verdict, "QUESTION")
            layout.label(text=f"{verdict}, novelty {novelty:.3g}", icon=icon)
        col = layout.column(align=True)
        col.prop(s, "subdivision")
        col.prop(s, "petals")
        col.prop(s, "base_radius")
        col.prop(s, "tilt")
        col.prop(s, "rings")
        if s.rings > 1:
            col.prop(s, "ring_scale")
            col.prop(s, "ring_tilt")
            row = col.row(align=True)
            row.prop(s, "use_ring_rotation", text="")
            row.prop(s, "ring_rotation")
        col.prop(s, "vary_time")
        col.prop(s, "vary_blend")
        if s.vary_time or s.vary_blend:
            col.prop(s, "flower_seed")
        if model.flip_normals:
            layout.label(text="Normals flipped (set in the model: grc normals)")
        col = layout.column(align=True)
        look = look_of(s) if s.look_data else None
        if look is None:
            col.operator(GRC_OT_load_look.bl_idname, icon="MODIFIER")
        else:
            row = col.row(align=True)
            row.label(text=printable(f"Look: {look.name}"))
            row.operator(GRC_OT_clear_look.bl_idname, text="", icon="X")
            for i, bend in enumerate(look.bends):
                col.prop(s, "look_strengths", index=i, text=printable(f"{bend.op} {bend.layer}"))
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
        job = training.running()
        if job is not None:
            box.label(text=f"Training: {job.progress() or 'starting'}", icon="TIME")
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
    _petals.clear()
    _checks.clear()
    find_grc_objects()


@persistent
def _loaded(*args):
    """After loading a .blend: models are read again from the objects that embed them."""
    _models.clear()
    _coherences.clear()
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
           GRC_OT_apply_shape, GRC_OT_load_look, GRC_OT_clear_look, GRC_OT_export_templates, GRC_OT_train, GRC_OT_cancel_training, GRC_PT_panel)


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
    training.cancel_running()
    del bpy.types.Object.grc
    del bpy.types.Scene.grc
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    for cache in (_models, _shown, _errors, _grc_objects, _looks, _coherences, _petals, _checks):
        cache.clear()
