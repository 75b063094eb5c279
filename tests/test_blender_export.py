"""Templates made in Blender and training started from Blender, in real Blender (bpy 5.0.1 as a module).

One Blender run (`blender` fixture) builds grids the way an artist would (Grid primitives bent by animated
Simple Deform modifiers, shape keys, one object per time step in collections), shuffles the vertex order of
some with Blender's own Sort Elements (Randomize), exports template sets with bpy.ops.grc.export_templates,
trains one with bpy.ops.grc.train (a real `grc train` subprocess), and cancels another training. The tests
then read the sets with the library, validate them with the CLI and train on them.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import grc
from blender_util import requires_blender, run_blender
from grc.blender import build_addon
from grc.templates import load_template_set

ROOT = Path(__file__).resolve().parents[1]
SHORT = "--steps 50 --set refine_steps=0 --set template_steps=50 --set template_lbfgs_steps=0"
POINTS, ROWS, FRAMES = 8, 6, 5  # a Grid primitive with 7 x 5 subdivisions: 8 points x 6 rows

SCRIPT = r"""
import os, sys
import numpy as np

def co(data, matrix=None):
    a = np.empty(3 * len(data), np.float32)
    data.foreach_get("co", a)
    return a.reshape(-1, 3).tolist()

def grid(name, location=(0, 0, 0), collection=None):
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=7, y_subdivisions=5, size=1, location=location)
    obj = bpy.context.active_object
    obj.name = name
    if collection is not None:
        for c in obj.users_collection:
            c.objects.unlink(obj)
        collection.objects.link(obj)
    return obj

def shuffle(obj):  # Blender's own Sort Elements > Randomize: the vertex indices change, the mesh does not
    select(obj)
    bpy.ops.object.mode_set(mode="EDIT")
    bpy.ops.mesh.select_all(action="SELECT")
    bpy.ops.mesh.sort_elements(type="RANDOMIZE", elements={"VERT"}, seed=11)
    bpy.ops.object.mode_set(mode="OBJECT")

def select(*objects):
    for other in bpy.context.selected_objects:
        other.select_set(False)
    for obj in objects:
        obj.select_set(True)
    bpy.context.view_layer.objects.active = objects[0]

def export(folder, **options):
    try:
        bpy.ops.grc.export_templates(directory=os.path.join(ARGS["folder"], folder), **options)
        return None
    except RuntimeError as e:
        return str(e)

out = {"errors": {}}
bpy.ops.extensions.package_install_files(filepath=ARGS["zip"], repo="user_default", enable_on_install=True)
addon = sys.modules["bl_ext.user_default.grc_studio"]
scene = bpy.context.scene
scene.frame_start, scene.frame_end = 1, 5

# -- frames: three variants of a Grid bent by animated Simple Deform modifiers, and a shuffled twin of the first
variants = []
for k in range(3):
    obj = grid(f"variant{k}", (3 * k, 0, 0))
    bend = obj.modifiers.new("Bend", "SIMPLE_DEFORM")
    bend.deform_method, bend.deform_axis = "BEND", "Z"  # curls the grid within its plane
    bend.angle = 0.2
    bend.keyframe_insert("angle", frame=1)
    bend.angle = 1.0 + 0.6 * k
    bend.keyframe_insert("angle", frame=5)
    variants.append(obj)
twin = variants[0].copy()
twin.data = variants[0].data.copy()
twin.name = "variant0_shuffled"
scene.collection.objects.link(twin)
shuffle(twin)
out["shuffled"] = co(twin.data.vertices) != co(variants[0].data.vertices)
out["blender_order"] = co(variants[0].data.vertices)  # an untouched Grid primitive, in Blender's vertex order
select(*variants, twin)
out["errors"]["frames"] = export("frames", source="FRAMES")

# -- shape keys: two grids with Basis + 2 keys each; one shuffled after its keys were made
keyed = []
for k, name in enumerate(("bud", "bloom")):
    obj = grid(name)
    obj.shape_key_add(name="Basis")
    base = np.array(co(obj.data.vertices))
    for j in (1, 2):
        key = obj.shape_key_add(name=f"step {j}")
        moved = base.copy()
        moved[:, 2] = 0.2 * j * (1 + k) * (moved[:, 0] + 0.5) ** 2 + 0.05 * j * moved[:, 1]
        key.data.foreach_set("co", moved.astype(np.float32).ravel())
    keyed.append(obj)
shuffle(keyed[1])
select(*keyed)
out["errors"]["keys"] = export("keys", source="SHAPE_KEYS", time_values="0, 0.4, 1", rows=6)

# -- objects: two collections, three objects each, placed apart, ordered by a custom property "age"
for c, name in enumerate(("narrow", "wide")):
    collection = bpy.data.collections.new(name)
    scene.collection.children.link(collection)
    members = []
    for j, age in enumerate((2.0, 0.0, 1.0)):  # names and ages in different orders
        obj = grid(f"{name}{j}", (j * 2.0, 5 + c * 2.0, 0), collection)
        obj["age"] = age
        vertices = np.array(co(obj.data.vertices))
        vertices[:, 1] *= 1 + c + age
        vertices[:, 2] = 0.1 * age * vertices[:, 0]
        obj.data.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
        members.append(obj)
    if c == 1:
        shuffle(members[0])
select(*[o for o in scene.objects if o.name.startswith(("narrow", "wide"))])
out["errors"]["objects"] = export("objects", source="OBJECTS", group="COLLECTION", order="PROPERTY",
                                  order_property="age")

# -- refused: not grids, too few templates, a folder in use, typed values of the wrong count
bpy.ops.mesh.primitive_cube_add()
cube = bpy.context.active_object
select(cube, variants[0])
out["errors"]["cube"] = export("cube", source="FRAMES")
tri = grid("triangles")
select(tri)
bpy.ops.object.mode_set(mode="EDIT")
bpy.ops.mesh.select_all(action="SELECT")
bpy.ops.mesh.quads_convert_to_tris()
bpy.ops.object.mode_set(mode="OBJECT")
select(tri, variants[0])
out["errors"]["triangles"] = export("triangles", source="FRAMES")
select(variants[0])
out["errors"]["one"] = export("one", source="FRAMES")
select(*variants)
out["errors"]["in_use"] = export("frames", source="FRAMES")
out["errors"]["time_count"] = export("count", source="FRAMES", time_values="0, 1")
out["errors"]["rows"] = export("rows", source="FRAMES", rows=7)
out["errors"]["transposed"] = export("transposed", source="FRAMES", rows=8)
bpy.ops.mesh.primitive_grid_add(x_subdivisions=600, y_subdivisions=1)
long = bpy.context.active_object
long.name = "long"
select(long, variants[0])
out["errors"]["too_long"] = export("too_long", source="FRAMES")
try:  # relative to an unsaved .blend
    bpy.ops.grc.export_templates(directory="//templates", source="FRAMES")
    out["errors"]["relative"] = None
except RuntimeError as e:
    out["errors"]["relative"] = str(e)

# -- train from Blender: the operator runs grc train and loads the model as a GRC object
prefs = bpy.context.preferences.addons["bl_ext.user_default.grc_studio"].preferences
prefs.grc_command = os.path.join(ARGS["folder"], "missing-grc")
scene.grc.template_folder = os.path.join(ARGS["folder"], "frames")
scene.grc.model_file = os.path.join(ARGS["folder"], "trained.grc")
scene.grc.train_options = ARGS["short"]
try:
    bpy.ops.grc.train()
    out["errors"]["no_command"] = None
except RuntimeError as e:
    out["errors"]["no_command"] = str(e)
prefs.grc_command = ARGS["grc"]
scene.grc.train_options = "--set nonsense=1"
before = set(bpy.data.objects)
try:
    bpy.ops.grc.train()
    out["errors"]["train_failed"] = None
except RuntimeError as e:
    out["errors"]["train_failed"] = str(e)
out["errors"]["train_failed_added"] = set(bpy.data.objects) != before
scene.grc.train_options = ARGS["short"]
before = set(bpy.data.objects)
result = bpy.ops.grc.train()
(trained,) = set(bpy.data.objects) - before
out["train"] = {"result": list(result), "active": bpy.context.active_object == trained, "is_grc": trained.grc.is_grc,
                "name": trained.grc.model_name, "vertices": len(trained.data.vertices)}

# -- a training in the background: progress while it runs, then cancelled; the model file is left alone
job = addon.training.TrainingJob(ARGS["grc"], os.path.join(ARGS["folder"], "frames"), scene.grc.model_file,
                        "--steps 1000000 --set refine_steps=0 --set template_lbfgs_steps=0").start()
running, seen = job.poll() is None, []
import time
deadline = time.monotonic() + 120
while time.monotonic() < deadline and job.poll() is None and not any("encoder" in p for p in seen):
    time.sleep(0.05)
    progress = job.progress()
    if progress and progress not in seen:
        seen.append(progress)
model_bytes = open(scene.grc.model_file, "rb").read()
job.cancel()
out["cancel"] = {"running_after_start": running, "progress": seen, "code": job.process.returncode,
                 "message": job.message(), "unchanged": open(scene.grc.model_file, "rb").read() == model_bytes}
emit(out)
"""


@pytest.fixture(scope="module")
def blender(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blender_export")
    command = folder / "grc"  # the `grc` command of this checkout
    command.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m grc.cli "$@"\n')
    command.chmod(0o755)
    args = {"zip": str(build_addon(folder / "grc_blender.zip")), "folder": str(folder), "grc": str(command),
            "short": SHORT}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BLENDER_USER_RESOURCES", str(folder / "user"))
        result = run_blender(SCRIPT, args, timeout=600)
    result["folder"] = folder
    return result


def short_train(folder, output):
    """`grc train` with a few steps; the CLI's exit code and output."""
    run = subprocess.run([sys.executable, "-m", "grc.cli", "train", str(folder), "-o", str(output), "-q",
                          *SHORT.split()], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    return run.returncode, run.stderr


def validate(folder):
    run = subprocess.run([sys.executable, "-m", "grc.cli", "templates", "validate", str(folder)],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 0, run.stderr
    return run.stdout


def assert_grid_neighbours(points, spacing_tol=1e-4):
    """Consecutive points of a row, and of a column, are neighbours on the Grid primitive (1/7 and 1/5 apart
    in the flat grid): the order came from the quads, not from the vertex indices."""
    flat = points[..., :2]
    along = np.linalg.norm(np.diff(flat, axis=1), axis=-1)
    across = np.linalg.norm(np.diff(flat, axis=0), axis=-1)
    assert np.ptp(along) < spacing_tol and np.ptp(across) < spacing_tol


@requires_blender
def test_frames_of_bent_grids_make_a_template_set_that_validates_and_trains(blender, tmp_path):
    assert blender["errors"]["frames"] is None
    folder = blender["folder"] / "frames"
    assert "4 templates" in validate(folder)
    s = load_template_set(folder)
    assert s.names == ["variant0", "variant0_shuffled", "variant1", "variant2"]
    assert s.grid_shape == (FRAMES, ROWS, POINTS) and np.allclose(s.time, np.linspace(0, 1, FRAMES))
    first = s.points[0]
    # An untouched Grid primitive keeps Blender's vertex order (row-major): at frame 1, barely bent, each point
    # is within half the grid's spacing (1/7) of the vertex of the same index.
    assert np.abs(first[0].reshape(-1, 3)[:, :2] - np.array(blender["blender_order"])[:, :2]).max() < 0.07
    # The shuffled twin reads as the same grid, point for point.
    assert blender["shuffled"] and np.abs(s.points[1] - first).max() < 1e-5
    assert np.abs(s.points[3] - first).max() > 0.1  # the variants differ
    assert np.abs(first[-1] - first[0]).max() > 0.1  # and bend over the frames
    code, err = short_train(folder, tmp_path / "frames.grc")
    assert code == 0, err
    assert grc.load_model(tmp_path / "frames.grc").names == s.names


@requires_blender
def test_shape_keys_are_time_steps_and_a_shuffled_object_reads_the_same(blender, tmp_path):
    assert blender["errors"]["keys"] is None
    folder = blender["folder"] / "keys"
    validate(folder)
    s = load_template_set(folder)
    assert s.names == ["bloom", "bud"] and s.grid_shape == (3, ROWS, POINTS)
    assert np.allclose(s.time, [0, 0.4, 1])  # typed by the user
    for k, template in zip((1, 0), s):  # bloom (k = 1) was shuffled
        for j, points in enumerate(template.points):
            x, y, z = points[..., 0], points[..., 1], points[..., 2]
            assert np.abs(z - (0.2 * j * (1 + k) * (x + 0.5) ** 2 + 0.05 * j * y)).max() < 1e-5
            assert_grid_neighbours(points)
    assert np.abs(s.points[0][:, :, :, :2] - s.points[1][:, :, :, :2]).max() < 1e-5  # same corner, same rows
    code, err = short_train(folder, tmp_path / "keys.grc")
    assert code == 0, err


@requires_blender
def test_objects_are_time_steps_ordered_by_a_custom_property_one_template_per_collection(blender, tmp_path):
    assert blender["errors"]["objects"] is None
    folder = blender["folder"] / "objects"
    validate(folder)
    s = load_template_set(folder)
    assert s.names == ["narrow", "wide"] and s.grid_shape == (3, ROWS, POINTS)
    assert np.allclose(s.time, [0, 0.5, 1])  # ages 0, 1, 2
    for c, template in enumerate(s):
        for age, points in enumerate(template.points):  # local coordinates: where the object stands is ignored
            width = np.ptp(points[..., 1])
            assert np.isclose(width, 1 + c + age, atol=1e-5)
            assert np.abs(points[..., 2] - 0.1 * age * points[..., 0]).max() < 1e-5
    code, err = short_train(folder, tmp_path / "objects.grc")
    assert code == 0, err


@requires_blender
def test_what_cannot_be_a_template_set_is_refused_with_the_reason(blender):
    errors = blender["errors"]
    assert "Cube:" in errors["cube"] and "do not form one rectangular grid" in errors["cube"]
    assert "triangles: not a grid" in errors["triangles"] and "not quads" in errors["triangles"]
    assert "at least 2 templates" in errors["one"]
    assert "Replace" in errors["in_use"]
    assert "expected 5 values" in errors["time_count"]
    assert "fits neither side" in errors["rows"]
    assert "save the .blend first" in errors["relative"]
    assert "long: a grid of 2 rows x 601 points; the limits are 512 rows and 512 points" in errors["too_long"]
    assert errors["transposed"] is None  # rows=8 reads the grid the other way round
    s = load_template_set(blender["folder"] / "transposed")
    assert s.grid_shape == (FRAMES, POINTS, ROWS)
    for name in ("cube", "triangles", "one", "count", "rows", "too_long"):
        assert not (blender["folder"] / name).exists()


@requires_blender
def test_train_from_blender_loads_the_trained_model_as_a_grc_object(blender):
    assert "grc command was not found" in blender["errors"]["no_command"]
    failed = blender["errors"]["train_failed"]  # the CLI's one-line error becomes the report
    assert "grc train failed (exit 2): grc: --set: expected KEY=VALUE" in failed
    assert not blender["errors"]["train_failed_added"]
    train = blender["train"]
    assert train == {"result": ["FINISHED"], "active": True, "is_grc": True, "name": "trained.grc",
                     "vertices": ROWS * POINTS}
    model = grc.load_model(blender["folder"] / "trained.grc")
    assert model.names == ["variant0", "variant0_shuffled", "variant1", "variant2"]


@requires_blender
def test_training_runs_in_the_background_reports_progress_and_cancels(blender):
    cancel = blender["cancel"]
    assert cancel["running_after_start"]  # start() returned while grc train ran
    # progress as it runs (a phase and its percentage; on a fast machine the template models may pass unseen)
    assert any(p.split()[0] in ("template", "encoder") and "%" in p for p in cancel["progress"]), cancel["progress"]
    assert cancel["code"] != 0 and cancel["unchanged"]
