"""Four more template sets made in real Blender (bpy 5.0.1 as a module), exported with GRC Studio's own
add-on operator (bpy.ops.grc.export_templates), as benchmarks/blender_variants.py makes its petals: other data
than the bundled sets for issue 11's claims (docs/coherence.md, part 13). From the repository root:

    .venv-blender/bin/python benchmarks/blender_sets.py OUT [--render PNG_PREFIX]
    python benchmarks/extrapolation_study.py --sets OUT/ribbon,OUT/cloth,OUT/fin,OUT/fan --seeds 0,1,2 --where

Sets (each object one template, blend order = object name order):
- ribbon: a Grid primitive of 5 x 12 vertices, 0.3 wide and 2 long (non-square, long and thin), lifting about its
  base (rotation X 10 -> 40 deg) over 6 frames. "a-wave": a cyclic Wave modifier (travelling along Y, speed 0.1,
  width 0.6, narrowness 0.5, started 30 frames before) whose height is keyframed 0 -> 2 (waves ~0.17 high); "b-twist": Simple Deform Twist about the length, 0 -> 180 deg. Exported with rows=12.
- cloth: a 9 x 9 Grid, 2 x 2, over 5 frames, sinking a little (z 0.5 -> 0.3). "a-drape": Simple Deform Bend
  across X through the centre, curling both X edges down, 0 -> 150 deg; "b-fold": Simple Deform Bend about
  the diagonal, limited to a band across the middle (limits 0.4..0.6), curling one corner half up over the
  other, 0 -> 150 deg.
- fin: a tapered, swept-back blade, Grid 6 (chord) x 7 (span) vertices, root at the origin, rolling about
  its span (rotation Y 0 -> 25 deg) over 7 frames. Three templates: "a-sweep" (Bend in its own plane,
  0 -> 60 deg backwards), "b-bend" (Bend out of its plane, 0 -> 70 deg), "c-flare" (Simple Deform Taper
  along the span, factor 0 -> 1.2: the tip widens).
- fan: a mesh made from points (not a primitive), 6 rows (radial, quadratically spaced) x 10 points
  (angular, clustered at both edges: cosine spacing), animated with SHAPE KEYS (5 keys: Basis + 4), time
  values 0,0.15,0.4,0.7,1 and morph values 0,0.06,0.2,0.42,0.7,1 (as spaced). "a-open": the fan opens
  60 -> 170 deg and dishes a little; "b-curl": the fan opens 60 -> 90 deg while its rows curl up about the
  chord (radial bend 0 -> 130 deg).
Deterministic: nothing random.
"""

import json
import math
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="grc-sets-blender-"))
import bpy  # noqa: E402
from blender_variants import select  # noqa: E402  (this folder: select these objects, the first active)
import mathutils  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def install_addon():
    sys.path.insert(0, str(ROOT))
    from grc.blender import build_addon

    zip_path = build_addon(Path(tempfile.mkdtemp(prefix="grc-sets-addon-")) / "grc_blender.zip")
    bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True)


def reset():
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)


def grid(name, nx, ny, sx, sy, shift_y=0.0):
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=nx - 1, y_subdivisions=ny - 1, size=1)
    obj = bpy.context.active_object
    obj.name = obj.data.name = name
    co = np.empty(3 * len(obj.data.vertices), np.float32)
    obj.data.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    co[:, 0] *= sx
    co[:, 1] = (co[:, 1] + shift_y) * sy
    obj.data.vertices.foreach_set("co", co.ravel())
    obj.data.update()
    return obj, co


def key(obj, path, index, v0, v1, f0, f1):
    target = obj
    if "." in path:
        mod, path = path.split(".")
        target = obj.modifiers[mod]
    if index is None:
        setattr(target, path, v0)
        target.keyframe_insert(path, frame=f0)
        setattr(target, path, v1)
        target.keyframe_insert(path, frame=f1)
    else:
        getattr(target, path)[index] = v0
        target.keyframe_insert(path, index=index, frame=f0)
        getattr(target, path)[index] = v1
        target.keyframe_insert(path, index=index, frame=f1)


def origin_empty(obj, name, columns, location=(0, 0, 0)):
    empty = bpy.data.objects.new(name, None)
    bpy.context.scene.collection.objects.link(empty)
    empty.parent = obj
    empty.location = location
    empty.rotation_euler = mathutils.Matrix(columns).transposed().to_euler()
    return empty


def deform(obj, name, method, axis, angle_or_factor, frames, origin=None, limits=None, factor=False):
    mod = obj.modifiers.new(name, "SIMPLE_DEFORM")
    mod.deform_method, mod.deform_axis = method, axis
    if origin is not None:
        mod.origin = origin
    if limits is not None:
        mod.limits = limits
    prop = "factor" if factor else "angle"
    key(obj, f"{name}.{prop}", None, 0.0, angle_or_factor, 1, frames)
    return mod


def ribbon(out):
    frames = 6
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, frames
    objects = []
    for name in ("a-wave", "b-twist"):
        obj, _ = grid(name, 5, 12, 0.3, 2.0, shift_y=0.5)  # base at the origin, along +Y
        key(obj, "rotation_euler", 0, math.radians(10), math.radians(40), 1, frames)
        if name == "a-wave":
            wave = obj.modifiers.new("wave", "WAVE")
            wave.use_x, wave.use_y = False, True
            wave.use_cyclic = True
            wave.width, wave.narrowness, wave.speed = 0.6, 0.5, 0.1
            wave.time_offset, wave.damping_time = -30.0, 100.0  # the waves already cover the ribbon at frame 1
            wave.falloff_radius = 0.0
            key(obj, "wave.height", None, 0.0, 2.0, 1, frames)  # cyclic waves: ~0.17 high
        else:
            deform(obj, "twist", "TWIST", "Y", math.radians(180), frames)
        objects.append(obj)
    select(objects)
    bpy.ops.grc.export_templates(directory=str(out / "ribbon"), source="FRAMES", space="WORLD", rows=12,
                                 replace=True)
    return objects


def cloth(out):
    frames = 5
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, frames
    objects = []
    d1 = (1 / math.sqrt(2), 1 / math.sqrt(2), 0.0)
    d2 = (1 / math.sqrt(2), -1 / math.sqrt(2), 0.0)
    for name in ("a-drape", "b-fold"):
        obj, _ = grid(name, 9, 9, 2.0, 2.0)
        key(obj, "location", 2, 0.5, 0.3, 1, frames)
        if name == "a-drape":  # bend across X (about an axis along Y), the X edges curl down
            empty = origin_empty(obj, "drape origin", ((1, 0, 0), (0, 0, -1), (0, 1, 0)))
            deform(obj, "drape", "BEND", "Z", math.radians(150), frames, origin=empty)
        else:  # bend across the diagonal d1, about the other diagonal d2, in a band through the middle
            empty = origin_empty(obj, "fold origin", (d1, (0, 0, 1), d2))
            deform(obj, "fold", "BEND", "Z", math.radians(150), frames, origin=empty, limits=(0.4, 0.6))
        objects.append(obj)
    select(objects)
    bpy.ops.grc.export_templates(directory=str(out / "cloth"), source="FRAMES", space="WORLD", replace=True)
    return objects


def fin(out):
    frames = 7
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, frames
    objects = []
    for name in ("a-sweep", "b-bend", "c-flare"):
        obj, co = grid(name, 6, 7, 1.0, 1.0, shift_y=0.5)  # span y in 0..1, chord x in -0.5..0.5
        span = co[:, 1]
        chord = 0.6 - 0.35 * span
        co[:, 0] = co[:, 0] * chord + 0.3 * span  # tapered and swept back (+x) towards the tip
        obj.data.vertices.foreach_set("co", co.ravel())
        obj.data.update()
        key(obj, "rotation_euler", 1, 0.0, math.radians(25), 1, frames)
        if name == "a-sweep":  # in its plane: the span curls towards +x
            empty = origin_empty(obj, "sweep origin", ((0, 1, 0), (1, 0, 0), (0, 0, -1)))
            deform(obj, "sweep", "BEND", "Z", math.radians(60), frames, origin=empty)
        elif name == "b-bend":  # out of its plane: the span curls up
            empty = origin_empty(obj, "bend origin", ((0, 1, 0), (0, 0, 1), (1, 0, 0)))
            deform(obj, "bend", "BEND", "Z", math.radians(70), frames, origin=empty)
        else:
            deform(obj, "flare", "TAPER", "Y", 1.2, frames, factor=True)
        objects.append(obj)
    select(objects)
    bpy.ops.grc.export_templates(directory=str(out / "fin"), source="FRAMES", space="WORLD", replace=True)
    return objects


FAN_RADII = 0.3 + 0.9 * (np.arange(6) / 5) ** 2  # rows, quadratically spaced
FAN_U = 0.5 - 0.5 * np.cos(np.pi * np.arange(10) / 9)  # points, clustered at both edges
FAN_TIME = "0,0.15,0.4,0.7,1"
FAN_MORPH = ",".join(f"{v:.4g}" for v in (FAN_RADII - FAN_RADII[0]) / (FAN_RADII[-1] - FAN_RADII[0]))


def fan_points(spread_deg, curl_deg, dish):
    """(6 * 10, 3) points: rows at FAN_RADII, angles FAN_U over the spread, centred on +Y; the rows curl up
    about the x axis (a radial bend over the radius span, total curl_deg), and the surface dishes by `dish`."""
    theta = np.radians(spread_deg) * (FAN_U - 0.5)
    out = []
    for r in FAN_RADII:
        # radial bend: arc length s along the radius from the first row, curled up (about an axis along x)
        s = r - FAN_RADII[0]
        total = FAN_RADII[-1] - FAN_RADII[0]
        c = np.radians(curl_deg)
        if c > 1e-9:
            R = total / c
            a = s / R
            radial, lift = FAN_RADII[0] + R * math.sin(a), R * (1 - math.cos(a))
        else:
            radial, lift = r, 0.0
        for th in theta:
            out.append((radial * math.sin(th), radial * math.cos(th), lift + dish * (r * math.sin(th)) ** 2))
    return np.array(out)


def fan(out):
    objects = []
    steps = np.array([float(v) for v in FAN_TIME.split(",")])
    faces = [(i * 10 + j, i * 10 + j + 1, (i + 1) * 10 + j + 1, (i + 1) * 10 + j) for i in range(5) for j in range(9)]
    for name in ("a-open", "b-curl"):
        shapes = []
        for t in steps:
            if name == "a-open":
                shapes.append(fan_points(60 + 110 * t, 0.0, 0.35 * t))
            else:
                shapes.append(fan_points(60 + 30 * t, 130 * t, 0.0))
        mesh = bpy.data.meshes.new(name)
        mesh.from_pydata([tuple(p) for p in shapes[0]], [], faces)
        mesh.update()
        obj = bpy.data.objects.new(name, mesh)
        bpy.context.scene.collection.objects.link(obj)
        obj.shape_key_add(name="Basis")
        for k, pts in enumerate(shapes[1:], 1):
            block = obj.shape_key_add(name=f"step{k}")
            block.data.foreach_set("co", pts.astype(np.float32).ravel())
            block.value = 0.0
        objects.append(obj)
    select(objects)
    bpy.ops.grc.export_templates(directory=str(out / "fan"), source="SHAPE_KEYS", space="WORLD", rows=6,
                                 time_values=FAN_TIME, morph_values=FAN_MORPH, replace=True)
    return objects


def main(argv):
    if not argv or argv[0].startswith("-"):
        sys.exit(__doc__)
    out = Path(argv[0]).resolve()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    install_addon()
    bpy.context.preferences.edit.keyframe_new_interpolation_type = "LINEAR"
    for make in (ribbon, cloth, fin, fan):
        reset()
        make(out)
        print("wrote", out / make.__name__, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
