"""Render a GRC flower with Blender itself, through the add-on: docs/images/blender-flower.png.

    python scripts/render_blender_flower.py [--model meshes/petal.grc] [-o docs/images/blender-flower.png]

Run with the project's Python: it builds the add-on zip (grc.blender.build_addon), then runs this same
file in Blender's Python ($GRC_BLENDER_PYTHON, else .venv-blender/bin/python, bpy 5.0.1), which installs
the add-on into a throwaway user folder, loads the model with bpy.ops.grc.load_model and renders three
flowers (blend 0, 1 and 1.6) with Cycles on the CPU.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "meshes/petal.grc"))
    parser.add_argument("-o", "--output", default=str(ROOT / "docs/images/blender-flower.png"))
    parser.add_argument("--samples", type=int, default=32)
    options = parser.parse_args()
    from grc.blender import build_addon

    blender = os.environ.get("GRC_BLENDER_PYTHON") or str(ROOT / ".venv-blender/bin/python")
    with tempfile.TemporaryDirectory() as folder:
        args = {"zip": str(build_addon(Path(folder) / "grc_blender.zip")), "model": str(Path(options.model).resolve()),
                "output": str(Path(options.output).resolve()), "samples": options.samples}
        env = {**os.environ, "BLENDER_USER_RESOURCES": str(Path(folder) / "user")}
        subprocess.run([blender, __file__, "--in-blender", json.dumps(args)], check=True, env=env)
    print(f"wrote {options.output}")


if __name__ == "__main__":
    if "--in-blender" in sys.argv:
        render_in_blender(json.loads(sys.argv[-1]))
    else:
        main()
