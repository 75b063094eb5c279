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
from pathlib import Path

import bpy
import numpy as np
from bpy.app.handlers import persistent
from bpy.props import BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from .grc.errors import GRCError
from .grc.model import GRCModel
from .grc.mesh import grid_faces
from .grc.sweeps import sweep_name, sweep_values

MAX_TEMPLATES = 32  # obj.grc.weights has a fixed size; the first K entries are the template weights
MAX_SUBDIVISION = 3
MODIFIER = "GRC Subdivision"

_models: dict[str, GRCModel] = {}  # content hash -> model
_shown: dict[int, tuple] = {}  # object session_uid -> the settings its mesh shows
_errors: dict[int, str] = {}  # object session_uid -> why its mesh cannot be updated


# -- models ------------------------------------------------------------------------------------

def read_model(path) -> tuple[GRCModel, bytes]:
    """Load a model file and its bytes; anything wrong raises GRCError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GRCError("no such file", path=path) from None
    except OSError as e:
        raise GRCError(f"cannot read: {e.strerror}", path=path) from None
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
        path = Path(bpy.path.abspath(self.filepath))
        try:
            model, data = read_model(path)
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
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
        refresh(obj, force=True)
        make_active(context, obj)
        self.report({"INFO"}, f"Loaded {path.name}: templates {', '.join(model.names)}")
        return {"FINISHED"}


class GRCActiveOperator:
    """For operators on the active GRC object."""

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == "MESH" and obj.grc.is_grc

    keep_original: BoolProperty(name="Keep Original", default=False,
                                description="Leave the GRC object as it is and make a copy plain")


class GRC_OT_bake_shape_keys(GRCActiveOperator, bpy.types.Operator):
    """Bake a sweep of time or blend into shape keys (named by their value) on a plain mesh"""

    bl_idname = "grc.bake_shape_keys"
    bl_label = "Bake Shape Keys"
    bl_options = {"REGISTER", "UNDO"}

    sweep: EnumProperty(name="Sweep", default="TIME", items=[
        ("TIME", "Time", "Over the templates' time range, at the current blend"),
        ("BLEND", "Blend", "From the first template to the second, at the current time"),
    ])
    frames: IntProperty(name="Frames", description="Number of shape keys", default=9, min=2, max=1000)

    def execute(self, context):
        source = context.active_object
        try:
            model = model_of(source)
            values = sweep_values(model, self.sweep.lower(), self.frames)
            if self.sweep == "TIME":
                shapes = [shape_mesh(source.grc, model, time=v) for v in values]
            else:
                shapes = [shape_mesh(source.grc, model, blend=v) for v in values]
        except GRCError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        obj = plain_target(context, source, self.keep_original)
        make_plain(obj)
        obj.shape_key_clear()
        set_geometry(obj.data, *shapes[0])
        obj.shape_key_add(name="Basis", from_mix=False)
        for value, (vertices, _) in zip(values, shapes):
            key = obj.shape_key_add(name=sweep_name(self.sweep.lower(), value), from_mix=False)
            key.data.foreach_set("co", vertices.astype(np.float32).ravel())
        obj.data.update()
        self.report({"INFO"}, f"Baked {len(values)} shape keys")
        return {"FINISHED"}


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
            return
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
        col.label(text=f"{s.model_name}: {', '.join(model.names)}")
        col.prop(s, "time", text=f"Time ({time[0]:g} to {time[-1]:g})")
        if len(model.templates) == 2:
            col.prop(s, "blend")
        else:
            for i, name in enumerate(model.names):
                col.prop(s, "weights", index=i, text=name)
        col = layout.column(align=True)
        col.prop(s, "subdivision")
        col.prop(s, "petals")
        col = layout.column(align=True)
        col.label(text="Bake to shape keys:")
        row = col.row(align=True)
        row.operator(GRC_OT_bake_shape_keys.bl_idname, text="Time Sweep").sweep = "TIME"
        row.operator(GRC_OT_bake_shape_keys.bl_idname, text="Blend Sweep").sweep = "BLEND"
        col.operator(GRC_OT_apply_shape.bl_idname, icon="CHECKMARK")


# -- handlers -----------------------------------------------------------------------------------

@persistent
def _follow_animation(scene, depsgraph=None):
    """After a frame change or depsgraph update: GRC objects whose (animated) settings changed get new meshes."""
    for obj in scene.objects:
        if obj.type == "MESH" and obj.grc.is_grc:
            refresh(obj, obj.evaluated_get(depsgraph).grc if depsgraph else obj.grc)


@persistent
def _forget(*args):
    """After undo or redo: meshes may be new ones; every GRC object is checked again."""
    _shown.clear()
    _errors.clear()


@persistent
def _loaded(*args):
    """After loading a .blend: models are read again from the objects that embed them."""
    _models.clear()
    _forget()


HANDLERS = {
    "frame_change_post": _follow_animation,
    "depsgraph_update_post": _follow_animation,
    "load_post": _loaded,
    "undo_post": _forget,
    "redo_post": _forget,
}
CLASSES = (GRCObjectSettings, GRC_OT_load_model, GRC_OT_bake_shape_keys, GRC_OT_apply_shape, GRC_PT_panel)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Object.grc = bpy.props.PointerProperty(type=GRCObjectSettings)
    for name, handler in HANDLERS.items():
        getattr(bpy.app.handlers, name).append(handler)


def unregister():
    for name, handler in HANDLERS.items():
        handlers = getattr(bpy.app.handlers, name)
        if handler in handlers:
            handlers.remove(handler)
    del bpy.types.Object.grc
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    _models.clear()
    _shown.clear()
    _errors.clear()
