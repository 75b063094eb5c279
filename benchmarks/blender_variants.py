"""Cup, droop and twist variants of one petal, made in real Blender (issue 11, section 3).

Run with Blender's python (bpy 5.0.1 as a module), from the repository root:

    /work/main/.venv-blender/bin/python benchmarks/blender_variants.py OUT_FOLDER [--render docs/images/blender-variants.png]

The scene, as an artist would make it:
- a Grid primitive of 7 x 7 vertices, its width shaped like a petal along its length (narrow base, wide
  middle, pointed-ish tip): length 1 along local +Y from the object's origin (the base), width along X;
- four copies, "base", "cup", "droop" and "twist"; each opens over frames 1..7 (7 time steps): the object
  turns about its base (rotation X keyframed from 70 to 20 degrees above the ground);
- each variant has one Simple Deform modifier whose angle is keyframed from 0 at frame 1 to its full value
  at frame 7 (linear): cup = Bend about the length, 160 degrees across the widest row, weighted by a vertex
  group growing from 0.3 at the base to 1 at the tip; droop = Bend along the length, 45 degrees down at the
  tip; twist = Twist about the length, 50 degrees at the tip.
Exported with the add-on's own operator, `bpy.ops.grc.export_templates(source="FRAMES", space="WORLD")`
(world space: the opening turn is part of the shape), one object per template, into OUT_FOLDER/<set> for
each set of the study (base+cup, base+droop, base+twist, cup+twist, cup+droop+twist) and
OUT_FOLDER/all (the four). Deterministic: nothing random.

--strength S: every variant's full angle times S (default 1; the study also ran S = 2: 320-degree cup, 90-degree
droop, 100-degree twist).
--render: the four objects side by side at the last frame (Cycles, CPU, small), after the export.
"""

import json
import math
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="grc-blender-user-"))  # not ~/.config
import bpy  # noqa: E402
import mathutils  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 7
STRENGTH = 1.0
SETS = ["base+cup", "base+droop", "base+twist", "cup+twist", "cup+droop+twist", "base+cup+droop+twist"]
# name: (method, axis, full angle in degrees, weighted towards the tip, the axes of the modifier's Origin empty
# as columns in the petal's own axes (X: width, Y: length, Z: the petal's normal), or None for the object's)
VARIANTS = {
    "cup": ("BEND", "Z", 160.0, True, ((1, 0, 0), (0, 0, 1), (0, -1, 0))),  # Z about the length, curls X up
    "droop": ("BEND", "Z", -45.0, False, ((0, 1, 0), (0, 0, 1), (1, 0, 0))),  # Z along the width, curls Y down
    "twist": ("TWIST", "Y", 50.0, False, None),  # about the length, from the base
}


def install_addon():
    sys.path.insert(0, str(ROOT))
    from grc.blender import build_addon

    zip_path = build_addon(Path(bpy.app.tempdir or "/tmp") / "grc_blender_variants.zip")
    bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True)


def petal(name):
    """A 7 x 7 Grid primitive shaped like a petal: base at the origin, tip at y = 1, width along x."""
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=6, y_subdivisions=6, size=1)
    obj = bpy.context.active_object
    obj.name = obj.data.name = name
    co = np.empty(3 * len(obj.data.vertices), np.float32)
    obj.data.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    along = co[:, 1] + 0.5  # 0 at the base, 1 at the tip
    width = 0.12 + 0.5 * np.sin(np.pi * (0.08 + 0.84 * along)) ** 0.7 - 0.1 * along  # narrow, wide, pointed-ish
    co[:, 0] = co[:, 0] * width
    co[:, 1] = along
    obj.data.vertices.foreach_set("co", co.ravel())
    obj.data.update()
    group = obj.vertex_groups.new(name="tip")  # 0.3 at the base to 1 at the tip
    for v, a in zip(obj.data.vertices, along):
        group.add([v.index], float(0.3 + 0.7 * a), "REPLACE")
    return obj


def animate(obj, variant):
    obj.rotation_euler = (math.radians(70), 0, 0)
    obj.keyframe_insert("rotation_euler", index=0, frame=1)
    obj.rotation_euler = (math.radians(20), 0, 0)
    obj.keyframe_insert("rotation_euler", index=0, frame=FRAMES)
    if variant in VARIANTS:
        method, axis, angle, weighted, frame = VARIANTS[variant]
        deform = obj.modifiers.new(variant, "SIMPLE_DEFORM")
        deform.deform_method, deform.deform_axis = method, axis
        if frame is not None:  # Bend curls the origin's X towards its Y about its Z: an Empty at the base turns it
            empty = bpy.data.objects.new(f"{variant} origin", None)
            bpy.context.scene.collection.objects.link(empty)
            empty.parent = obj  # moves with the petal as it opens
            empty.rotation_euler = mathutils.Matrix(frame).transposed().to_euler()
            deform.origin = empty
        if weighted:
            deform.vertex_group = "tip"
        deform.angle = 0.0
        deform.keyframe_insert("angle", frame=1)
        deform.angle = math.radians(angle * STRENGTH)
        deform.keyframe_insert("angle", frame=FRAMES)


def select(objects):
    for other in bpy.context.selected_objects:
        other.select_set(False)
    for obj in objects:
        obj.select_set(True)
    bpy.context.view_layer.objects.active = objects[0]


def render(objects, output):
    scene = bpy.context.scene
    scene.frame_set(FRAMES)
    for k, obj in enumerate(objects):
        obj.location = (1.2 * k - 1.8, 0, 0)
        obj.modifiers.new("smooth", "SUBSURF").levels = 2
        obj.data.materials.append(material(obj.name, (0.9, 0.35 + 0.15 * k, 0.55 - 0.12 * k)))
        bpy.ops.object.text_add(location=(1.2 * k - 1.8, -0.35, 0.01))
        label = bpy.context.active_object
        label.data.body, label.data.align_x, label.data.size = obj.name, "CENTER", 0.22
        label.data.materials.append(material("label", (0.05, 0.05, 0.05)))
    bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 0, -0.01))
    bpy.context.active_object.data.materials.append(material("ground", (0.6, 0.6, 0.62)))
    bpy.ops.object.light_add(type="SUN", rotation=(0.5, -0.3, 0.3))
    bpy.context.active_object.data.energy = 3
    bpy.ops.object.empty_add(location=(0, 0.3, 0.25))
    target = bpy.context.active_object
    bpy.ops.object.camera_add(location=(0.9, -4.3, 2.3))
    scene.camera = bpy.context.active_object
    scene.camera.data.lens = 36
    scene.camera.constraints.new("TRACK_TO").target = target
    world = bpy.data.worlds.new("world")
    world.color = (0.3, 0.3, 0.33)
    scene.world = world
    scene.view_settings.view_transform = "Standard"
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 32, False
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 800, 320, 100
    scene.render.filepath = str(Path(output).resolve())
    bpy.ops.render.render(write_still=True)


def material(name, color):
    result = bpy.data.materials.new(name)
    result.use_nodes = True
    result.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*color, 1)
    result.diffuse_color = (*color, 1)
    return result


def main(argv):
    if not argv or argv[0].startswith("-"):
        sys.exit(__doc__)
    global STRENGTH
    out = Path(argv[0]).resolve()
    if "--strength" in argv:
        STRENGTH = float(argv[argv.index("--strength") + 1])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    install_addon()
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, FRAMES
    bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"  # angles grow evenly over the frames
    objects = {}
    for name in ("base", "cup", "droop", "twist"):
        objects[name] = petal(name)
        animate(objects[name], name)
    written = {}
    for name in SETS:
        select([objects[n] for n in name.split("+")])
        folder = out / ("all" if name.count("+") == 3 else name)
        bpy.ops.grc.export_templates(directory=str(folder), source="FRAMES", space="WORLD", replace=True)
        written[name] = str(folder)
    print(json.dumps(written, indent=1))
    if "--render" in argv:
        render(list(objects.values()), argv[argv.index("--render") + 1])


if __name__ == "__main__":
    main(sys.argv[1:])
