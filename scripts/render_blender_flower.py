"""Render a GRC flower with Blender itself, through the add-on: docs/images/blender-flower.png.

    python scripts/render_blender_flower.py [--model meshes/petal.grc] [-o docs/images/blender-flower.png]
    python scripts/render_blender_flower.py --walk [-o docs/images/blender-grid-to-model.png]
    python scripts/render_blender_flower.py --uvs [-o docs/images/blender-uvs.png]

With --uvs it checks UVs by eye: one flower (two rings, base radius, tilt) four times with Blender's UV grid
image as its texture: the add-on's GRC object (Subdivision Surface modifier), then the library's OBJ, PLY and
GLB exports of the same flower imported by Blender's own importers.

With --walk it follows docs/blender.md's walk instead: three Grid primitives made petals by animated
Simple Deform modifiers, Export Templates (frames 1-5), Train (a real `grc train` of this checkout), and
the trained model as a five-petal GRC object, rendered beside its templates.

Run with the project's Python: it builds the add-on zip (grc.blender.build_addon), then runs this same
file in Blender's Python ($GRC_BLENDER_PYTHON, else .venv-blender/bin/python, bpy 5.0.1), which installs
the add-on into a throwaway user folder, loads the model with bpy.ops.grc.load_model and renders three
flowers (blend 0, 1 and 1.6; two rings, base radius 0.1, seeded per-petal variation) with Cycles on the CPU.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOWERS = [(-2.3, 0.0), (0.0, 1.0), (2.3, 1.6)]  # (x position, blend)
COLORS = [(0.95, 0.35, 0.55), (0.85, 0.2, 0.5), (0.95, 0.55, 0.25)]


def material(name, color, subsurface=0.0):
    """A Principled BSDF material of one colour."""
    import bpy

    result = bpy.data.materials.new(name)
    bsdf = result.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1)
    bsdf.inputs["Roughness"].default_value = 0.5
    bsdf.inputs["Subsurface Weight"].default_value = subsurface
    result.diffuse_color = (*color, 1)  # the viewport colour
    return result


def render_in_blender(args):
    """Inside Blender: install the add-on, build the scene, render."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=args["zip"], repo="user_default", enable_on_install=True)
    scene = bpy.context.scene

    for (x, blend), color in zip(FLOWERS, COLORS):
        bpy.ops.grc.load_model(filepath=args["model"])
        flower = bpy.context.active_object
        flower.grc.time, flower.grc.blend, flower.grc.petals, flower.grc.subdivision = 1.0, blend, 5, 2
        flower.grc.base_radius, flower.grc.rings, flower.grc.ring_scale, flower.grc.ring_tilt = 0.1, 2, 0.7, -20.0
        flower.grc.vary_time, flower.grc.vary_blend = 0.05, 0.2  # seeded: no two petals alike
        flower.location = (x, 0, 0.6)
        flower.rotation_euler = (3.14159, 0, 0.3)  # the petals' tips curl towards -Z: show the cup from above
        flower.data.materials.append(material(f"petal {blend}", color, subsurface=0.2))

    bpy.ops.mesh.primitive_plane_add(size=60)
    bpy.context.active_object.data.materials.append(material("ground", (0.32, 0.33, 0.36)))

    bpy.ops.object.light_add(type="AREA", location=(3, -4, 7))
    light = bpy.context.active_object
    light.data.energy, light.data.size = 1000, 5
    light.rotation_euler = (0.5, 0.35, 0)
    bpy.ops.object.empty_add(location=(0, 0.4, 0.9))
    target = bpy.context.active_object
    bpy.ops.object.camera_add(location=(0, -5.8, 4.6))
    scene.camera = bpy.context.active_object
    scene.camera.data.lens = 34
    scene.camera.constraints.new("TRACK_TO").target = target

    world = bpy.data.worlds.new("world")
    world.color = (0.05, 0.05, 0.06)  # without nodes, Cycles lights the scene with this colour
    scene.world = world

    scene.view_settings.view_transform = "Standard"  # AgX would wash the colours out
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = args["samples"]
    scene.cycles.use_denoising = True
    scene.render.resolution_x, scene.render.resolution_y = 720, 300
    scene.render.resolution_percentage = 100
    scene.render.filepath = args["output"]
    bpy.ops.render.render(write_still=True)


UV_FLOWER = dict(petals=5, base_radius=0.15, tilt=-20.0, rings=2, ring_scale=0.7, ring_tilt=-25.0)


def uv_material():
    """A material showing Blender's colour grid image through the mesh's UVs."""
    import bpy

    result = bpy.data.materials.new("uv grid")
    result.use_nodes = True
    nodes = result.node_tree.nodes
    image = nodes.new("ShaderNodeTexImage")
    image.image = bpy.data.images.new("uv grid", 1024, 1024)
    image.image.generated_type = "COLOR_GRID"
    result.node_tree.links.new(image.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    return result


def uvs_in_blender(args):
    """Inside Blender: the add-on's flower and the library's OBJ, PLY and GLB of it, one UV grid texture."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=args["zip"], repo="user_default", enable_on_install=True)
    scene = bpy.context.scene
    textured = uv_material()
    bpy.ops.grc.load_model(filepath=args["model"])
    flower = bpy.context.active_object
    flower.grc.time, flower.grc.blend, flower.grc.subdivision = args["time"], args["blend"], 2
    for name, value in UV_FLOWER.items():
        setattr(flower.grc, name, value)
    objects = [flower]
    for path, importer in zip(args["exports"], (bpy.ops.wm.obj_import, bpy.ops.wm.ply_import,
                                                bpy.ops.import_scene.gltf)):
        before = set(bpy.data.objects)
        importer(filepath=path)
        (imported,) = set(bpy.data.objects) - before
        objects.append(imported)
    for i, obj in enumerate(objects):
        obj.data.materials.clear()
        obj.data.materials.append(textured)
        obj.location.x = 2.6 * (i - 1.5)
    bpy.ops.object.light_add(type="SUN", rotation=(0.3, 0.2, 0))
    bpy.context.active_object.data.energy = 4
    bpy.ops.object.camera_add(location=(0, -4.2, 6.5), rotation=(0.55, 0, 0))
    scene.camera = bpy.context.active_object
    scene.camera.data.type, scene.camera.data.ortho_scale = "ORTHO", 11
    world = bpy.data.worlds.new("world")
    world.color = (0.6, 0.6, 0.62)
    scene.world = world
    scene.view_settings.view_transform = "Standard"
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = args["samples"]
    scene.render.resolution_x, scene.render.resolution_y = 1200, 380
    scene.render.resolution_percentage = 100
    scene.render.filepath = args["output"]
    bpy.ops.render.render(write_still=True)


WALK_TRAINING = "--steps 3000 --set refine_steps=0"


def petal_grid(name, x, bend_to, taper):
    """A Grid primitive stood up as a petal (base at the origin, tip at z = 1), curled by an animated bend."""
    import math

    import bpy
    from mathutils import Matrix

    bpy.ops.mesh.primitive_grid_add(x_subdivisions=7, y_subdivisions=9, size=1, location=(x, 2.5, 0))
    obj = bpy.context.active_object
    obj.name = name
    obj.data.transform(Matrix.Rotation(math.pi / 2, 4, "X") @ Matrix.Translation((0, 0.5, 0)) @
                       Matrix.Diagonal((0.5, 1, 1, 1)))
    widen = obj.modifiers.new("Taper", "SIMPLE_DEFORM")
    widen.deform_method, widen.deform_axis, widen.factor = "TAPER", "Z", taper
    bend = obj.modifiers.new("Bend", "SIMPLE_DEFORM")
    bend.deform_method, bend.deform_axis = "BEND", "X"
    bend.angle = 0.1
    bend.keyframe_insert("angle", frame=1)
    bend.angle = bend_to
    bend.keyframe_insert("angle", frame=5)
    return obj


def walk_in_blender(args):
    """Inside Blender: docs/blender.md's walk from Grid primitives to a trained model, then a render."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=args["zip"], repo="user_default", enable_on_install=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 5
    grids = [petal_grid(name, x, bend, taper) for name, x, bend, taper in
             (("cup", -1.6, 1.4, 0.6), ("open", 0.0, 0.5, 1.0), ("curl", 1.6, 2.4, 0.3))]
    for obj in grids:
        obj.select_set(True)
    bpy.ops.grc.export_templates(directory=args["templates"], source="FRAMES")
    preferences = bpy.context.preferences.addons["bl_ext.user_default.grc_studio"].preferences
    preferences.grc_command = args["grc"]
    scene.grc.template_folder, scene.grc.model_file = args["templates"], args["model"]
    scene.grc.train_options = WALK_TRAINING
    bpy.ops.grc.train()
    flower = bpy.context.active_object
    flower.grc.time, flower.grc.petals, flower.grc.subdivision = 1.0, 5, 2
    flower.grc.weights[:3] = (0.3, 0.5, 0.2)
    flower.location = (0, -0.6, 0)
    flower.data.materials.append(material("flower", COLORS[1], subsurface=0.2))
    scene.frame_set(5)
    for obj, color in zip(grids, COLORS):
        obj.data.materials.append(material(obj.name, color))
        obj.data.shade_smooth()
        obj.rotation_euler.z = -1.0  # the curl in profile

    bpy.ops.mesh.primitive_plane_add(size=60)
    bpy.context.active_object.data.materials.append(material("ground", (0.32, 0.33, 0.36)))
    bpy.ops.object.light_add(type="AREA", location=(3, -4, 7))
    light = bpy.context.active_object
    light.data.energy, light.data.size = 1000, 5
    light.rotation_euler = (0.5, 0.35, 0)
    bpy.ops.object.empty_add(location=(0, 0.8, 0.6))
    target = bpy.context.active_object
    bpy.ops.object.camera_add(location=(0, -6.0, 3.6))
    scene.camera = bpy.context.active_object
    scene.camera.data.lens = 38
    scene.camera.constraints.new("TRACK_TO").target = target
    world = bpy.data.worlds.new("world")
    world.color = (0.05, 0.05, 0.06)
    scene.world = world
    scene.view_settings.view_transform = "Standard"
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = args["samples"]
    scene.cycles.use_denoising = True
    scene.render.resolution_x, scene.render.resolution_y = 720, 360
    scene.render.resolution_percentage = 100
    scene.render.filepath = args["output"]
    bpy.ops.render.render(write_still=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "meshes/petal.grc"))
    parser.add_argument("-o", "--output", default=str(ROOT / "docs/images/blender-flower.png"))
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--walk", action="store_true", help="Grid primitives -> templates -> trained model, rendered.")
    parser.add_argument("--uvs", action="store_true", help="A UV grid texture on the add-on's flower and on exports.")
    options = parser.parse_args()
    if options.walk and options.output == parser.get_default("output"):
        options.output = str(ROOT / "docs/images/blender-grid-to-model.png")
    if options.uvs and options.output == parser.get_default("output"):
        options.output = str(ROOT / "docs/images/blender-uvs.png")
    from grc.blender import build_addon

    blender = os.environ.get("GRC_BLENDER_PYTHON") or str(ROOT / ".venv-blender/bin/python")
    with tempfile.TemporaryDirectory() as folder:
        args = {"zip": str(build_addon(Path(folder) / "grc_blender.zip")), "model": str(Path(options.model).resolve()),
                "output": str(Path(options.output).resolve()), "samples": options.samples}
        if options.walk:
            command = Path(folder) / "grc"  # the `grc` command of this checkout
            command.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m grc.cli "$@"\n')
            command.chmod(0o755)
            args.update(grc=str(command), templates=str(Path(folder) / "templates"), model=str(Path(folder) / "walk.grc"))
        if options.uvs:
            import grc
            from grc.mesh import Flower
            from grc.shapes import export

            model = grc.load_model(options.model)
            args.update(time=0.8, blend=0.5, exports=[str(export(
                model, Path(folder) / f"flower.{fmt}", 0.8, 0.5, subdivide=2, flower=Flower(**UV_FLOWER)))
                for fmt in ("obj", "ply", "glb")])
        env = {**os.environ, "BLENDER_USER_RESOURCES": str(Path(folder) / "user")}
        mode = "--walk-in-blender" if options.walk else "--uvs-in-blender" if options.uvs else "--in-blender"
        subprocess.run([blender, __file__, mode, json.dumps(args)], check=True, env=env)
    print(f"wrote {options.output}")


if __name__ == "__main__":
    if "--in-blender" in sys.argv:
        render_in_blender(json.loads(sys.argv[-1]))
    elif "--uvs-in-blender" in sys.argv:
        uvs_in_blender(json.loads(sys.argv[-1]))
    elif "--walk-in-blender" in sys.argv:
        walk_in_blender(json.loads(sys.argv[-1]))
    else:
        main()
