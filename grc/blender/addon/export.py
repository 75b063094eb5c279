"""Templates from Blender: `bpy.ops.grc.export_templates` writes a grc-template/1 template set from meshes.

Each template is a selected object (its frames or shape keys are the time steps) or a collection (its
objects are). Grid order is read from each mesh's quads, never from vertex indices, so shuffled indices,
exporters and edit history cannot scramble it; a mesh that is not one grid of quads is refused with the
reason. Blender's Python only: numpy and the library's runtime (grc.templates validates what is written).
"""

import os
import shutil
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from .grc import limits
from .grc.errors import GRCError, printable
from .grc.templates import Template, TemplateSet

from .grc.importers import grid_order  # the library's own: the grid read from its quads, not vertex indices


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
                order = grid_order(faces, len(co), self.rows, vertices=co)
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


def _is_template_file(path: Path) -> bool:
    """Whether a .json file is a GRC template (its "format" says grc-template/...)."""
    import json

    try:
        data = json.loads(limits.read_text(path, limits.MAX_TEMPLATE_BYTES, "template file"))
    except (GRCError, OSError, ValueError):
        return False
    return isinstance(data, dict) and str(data.get("format", "")).startswith("grc-template/")


def write_template_set(template_set: TemplateSet, folder: Path, replace: bool):
    """Write the set as a whole: into a new folder beside `folder`, then swapped in (the old set is removed)."""
    folder = Path(os.path.realpath(folder))  # through a link: the folder it points to is the one replaced
    if folder.exists() and not folder.is_dir():
        raise GRCError("expected a folder, found a file", path=folder)
    new, previous = folder.with_name(folder.name + ".grc-new"), folder.with_name(folder.name + ".grc-old")
    if previous.is_dir() and not folder.exists():  # an earlier export stopped between its two renames:
        os.replace(previous, folder)  # the old set is the only copy, put back before anything else
    old = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if old and not replace:
        raise GRCError(f"the folder already holds {len(old)} .json files; turn on Replace to replace them",
                       path=folder)
    if folder.is_dir() and any(p for p in folder.iterdir() if p.suffix != ".json"):
        raise GRCError("the folder holds other files than templates; choose an empty folder", path=folder)
    others = [p.name for p in old if not _is_template_file(p)]
    if others:  # a user's own .json (notes, settings): never deleted by a Replace
        raise GRCError(f"the folder holds .json files that are not templates ({', '.join(others[:3])}); choose "
                       "an empty folder", path=folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
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
