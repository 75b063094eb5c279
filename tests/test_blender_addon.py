"""The Blender add-on, in real Blender (bpy 5.0.1 as a module): install from the zip, load, animate, bake.

Models are trained here on small made-up template sets (K = 2 and K = 3). All Blender work happens in
one subprocess (`blender` fixture) whose findings the tests below check against the library.
"""

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

import grc
from grc_testing import made_up_set
from blender_util import requires_blender, run_blender
from grc import bundle
from grc.blender import RUNTIME, build_addon
from grc.errors import GRCError
from grc.mesh import MeshBuilder
from grc.shapes import builder
from grc.sweeps import sweep_name, sweep_values

TIME, BLEND, WEIGHTS = 0.8, 0.5, [0.2, 0.5, 0.3]


template_set = made_up_set


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two small trained models, K = 2 and K = 3, saved; {K: (model, path)}."""
    folder = tmp_path_factory.mktemp("models")
    config = grc.Config.from_preset("default", steps=300, template_steps=150, template_lbfgs_steps=30,
                                    refine_steps=20, refine_samples=512)
    result = {}
    for K in (2, 3):
        model = grc.train(template_set(K), config, device="cpu")
        result[K] = (model, model.save(folder / f"k{K}.grc"))
    return result


def test_the_zip_is_an_extension_with_the_librarys_runtime(tmp_path):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    path = build_addon(tmp_path / "grc_blender.zip")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
        runtime = {name: archive.read(f"grc/{name}").decode() for name in RUNTIME}
    assert {"blender_manifest.toml", "__init__.py", "grc/__init__.py", "grc/sweeps.py"} <= set(names)
    assert manifest["schema_version"] == "1.0.0" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0" and manifest["version"] == grc.__version__
    for name, text in runtime.items():  # shipped unchanged
        assert text == (Path(grc.__file__).parent / name).read_text(encoding="utf-8")
    assert build_addon(tmp_path / "again.zip").read_bytes() == path.read_bytes()  # reproducible


def test_build_addon_writes_atomically(tmp_path):
    with pytest.raises(GRCError, match="does not exist"):
        build_addon(tmp_path / "missing" / "grc_blender.zip")
    path = tmp_path / "grc_blender.zip"
    path.write_bytes(b"old")
    assert build_addon(path) == path and zipfile.is_zipfile(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grc_blender.zip"]


# -- real Blender ------------------------------------------------------------------------------

BLENDER_SCRIPT = r"""
import os, subprocess
import numpy as np

def co(mesh):
    a = np.empty(3 * len(mesh.vertices), np.float32)
    mesh.vertices.foreach_get("co", a)
    return a.reshape(-1, 3).tolist()

def evaluated(obj):
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = ev.to_mesh()
    result = {"vertices": co(mesh), "faces": len(mesh.polygons)}
    ev.to_mesh_clear()
    return result

def counts():
    return [len(bpy.data.objects), len(bpy.data.meshes), len(bpy.context.scene.objects)]

def keys(obj):
    return [{"name": k.name, "co": [list(p.co) for p in k.data]} for k in obj.data.shape_keys.key_blocks]

def load(path):
    bpy.ops.grc.load_model(filepath=path)
    return bpy.context.active_object

out = {}
# Blender's own validator, strict, with the Extensions Platform's tags.
scripts = bpy.utils.system_resource("SCRIPTS")
check = subprocess.run([os.sys.executable, os.path.join(scripts, "addons_core/bl_pkg/cli/blender_ext.py"), "validate",
                        "--valid-tags", os.path.join(scripts, "modules/_bpy_internal/extensions/tags.py"), ARGS["zip"]],
                       capture_output=True, text=True)
out["validate"] = [check.returncode, check.stdout + check.stderr]
out["install"] = list(bpy.ops.extensions.package_install_files(filepath=ARGS["zip"], repo="user_default",
                                                                 enable_on_install=True))
out["addons"] = [a.module for a in bpy.context.preferences.addons]

# Load a K = 2 model, set time and blend.
obj = load(ARGS["k2"])
out["active"] = [obj.name, obj.grc.is_grc, obj.type]
obj.grc.time, obj.grc.blend = ARGS["time"], ARGS["blend"]
out["k2"] = {"vertices": co(obj.data), "faces": [list(p.vertices) for p in obj.data.polygons]}

# Petals, then subdivision too: the mesh Blender evaluates.
obj.grc.petals = 3
out["petals"] = {"vertices": co(obj.data), "faces": [list(p.vertices) for p in obj.data.polygons]}
obj.grc.subdivision = 2
out["subdivided"] = evaluated(obj)
out["modifiers"] = [[m.type, m.levels, m.render_levels] for m in obj.modifiers]
obj.grc.subdivision, obj.grc.petals = 0, 1
out["plain_again"] = [len(obj.data.vertices), [m.name for m in obj.modifiers]]

# Keyframe blend at frames 1 and 11; the mesh follows on frame change.
scene = bpy.context.scene
obj.grc.blend = 0.0
obj.keyframe_insert("grc.blend", frame=1)
obj.grc.blend = 1.0
obj.keyframe_insert("grc.blend", frame=11)
out["frames"] = {}
for frame in (1, 11, 6, 1):
    scene.frame_set(frame)
    out["frames"][str(frame)] = {"blend": obj.grc.blend, "vertices": co(obj.data)}

# Bake a time sweep into a copy (blend 0.3, 2 petals); then a blend sweep in place.
obj.animation_data_clear()
obj.grc.blend, obj.grc.petals = 0.3, 2
bpy.ops.grc.bake_shape_keys(sweep="TIME", frames=5, keep_original=True)
baked = bpy.context.active_object
out["bake_time"] = {"names": [baked.name, obj.name], "is_grc": [baked.grc.is_grc, obj.grc.is_grc], "keys": keys(baked)}
bpy.context.view_layer.objects.active = obj
obj.grc.petals, obj.grc.time = 1, ARGS["time"]
bpy.ops.grc.bake_shape_keys(sweep="BLEND", frames=4)
out["bake_blend"] = {"same": bpy.context.active_object == obj, "is_grc": obj.grc.is_grc, "keys": keys(obj)}

# The library's own morph-target GLB of the same time sweep, through Blender's importer.
before = set(bpy.data.objects)
bpy.ops.import_scene.gltf(filepath=ARGS["glb"])
(imported,) = set(bpy.data.objects) - before
out["glb"] = [{"name": k.name, "co": [list(imported.matrix_world @ p.co) for p in k.data]}
              for k in imported.data.shape_keys.key_blocks]

# K = 3: weights; apply the shape.
obj3 = load(ARGS["k3"])
obj3.grc.time = ARGS["time"]
obj3.grc.weights[:3] = ARGS["weights"]
out["k3"] = co(obj3.data)
bpy.ops.grc.bake_shape_keys(sweep="BLEND", frames=3, keep_original=True)
out["bake_k3"] = [k.name for k in bpy.context.active_object.data.shape_keys.key_blocks]
bpy.context.view_layer.objects.active = obj3
obj3.grc.subdivision = 1
bpy.ops.grc.apply_shape()
obj3.grc.time = 0.1  # no longer a GRC object: nothing moves
out["applied"] = {"is_grc": obj3.grc.is_grc, "vertices": co(obj3.data), "modifiers": [m.type for m in obj3.modifiers],
                  "embedded": len(obj3.grc.model_data)}

# Bad files: an error report naming the problem, nothing added.
out["bad"] = {}
for name, path in ARGS["bad"].items():
    before = counts()
    try:
        bpy.ops.grc.load_model(filepath=path)
        message = None
    except RuntimeError as e:
        message = str(e)
    out["bad"][name] = {"message": message, "unchanged": counts() == before}

# The .blend is self-contained: save, delete the model file, open, change time.
load(ARGS["moved"]).name = "tampered"
obj = load(ARGS["moved"])
obj.name = "moved"
bpy.ops.wm.save_as_mainfile(filepath=ARGS["blendfile"])
os.remove(ARGS["moved"])
bpy.ops.wm.open_mainfile(filepath=ARGS["blendfile"])
obj = bpy.data.objects["moved"]
obj.grc.time, obj.grc.blend = 0.4, 1.2
out["reopened"] = co(obj.data)

# A damaged embedded model: the mesh stays, operators report it.
tampered = bpy.data.objects["tampered"]
before = co(tampered.data)
tampered.grc.model_data, tampered.grc.model_hash = "not base64!", "0" * 64  # no cached model
tampered.grc.time = 0.4
bpy.context.view_layer.objects.active = tampered
try:
    bpy.ops.grc.bake_shape_keys(sweep="TIME", frames=3)
    message = None
except RuntimeError as e:
    message = str(e)
out["tampered"] = {"unchanged": co(tampered.data) == before, "message": message, "is_grc": tampered.grc.is_grc}

# Rendering an animation: every frame shows that frame's shape (the render evaluates its own copy of the scene).
for other in bpy.data.objects:
    other.hide_render = other != obj
obj.grc.time = 0.1
obj.keyframe_insert("grc.time", frame=1)
obj.grc.time = 1.0
obj.keyframe_insert("grc.time", frame=3)
bpy.ops.object.camera_add(location=(0, 0, 4))
scene = bpy.context.scene
scene.camera = bpy.context.active_object
bpy.ops.object.light_add(type="SUN")
scene.render.engine, scene.cycles.samples, scene.cycles.use_denoising = "CYCLES", 1, False
scene.render.resolution_x = scene.render.resolution_y = 48
scene.frame_start, scene.frame_end = 1, 3
folder = os.path.dirname(ARGS["blendfile"])
scene.render.filepath = os.path.join(folder, "frame")
bpy.ops.render.render(animation=True)
for frame in (1, 2, 3):
    scene.frame_set(frame)
    scene.render.filepath = os.path.join(folder, f"still{frame}.png")
    bpy.ops.render.render(write_still=True)
pixels = lambda name: np.array(bpy.data.images.load(os.path.join(folder, name)).pixels[:])
out["render"] = [[float(np.abs(pixels(f"frame{a:04d}.png") - pixels(f"still{b}.png")).max()) for b in (1, 2, 3)]
                 for a in (1, 2, 3)]

bpy.ops.preferences.addon_disable(module="bl_ext.user_default.grc_studio")
out["disabled"] = not hasattr(bpy.types.Object, "grc")
emit(out)
"""


@pytest.fixture(scope="module")
def blender(models, tmp_path_factory):
    """Everything the Blender script saw, in one Blender run, with a throwaway user folder."""
    folder = tmp_path_factory.mktemp("blender")
    (k2, k2_path), (_, k3_path) = models[2], models[3]
    tensors, metadata = bundle.load(k2_path)
    data = k2_path.read_bytes()
    bad = {
        "missing": folder / "missing.grc",
        "damaged": folder / "damaged.grc",
        "newer": bundle.save(folder / "newer.grc", tensors, {**metadata, "format": "grc-model/2"}),
        "foreign": bundle.save(folder / "foreign.grc", {"weight": np.zeros(3)}, {"format": "pt"}),
        "text": folder / "notes.grc",
    }
    bad["damaged"].write_bytes(data[: len(data) // 2])
    bad["text"].write_text('{"format": "grc-template/1"}')
    grc.export_animation(k2, folder / "sweep.glb", sweep="time", frames=5, blend=0.3, petals=2)
    args = {"zip": str(build_addon(folder / "grc_blender.zip")), "k2": str(k2_path), "k3": str(k3_path),
            "moved": str(shutil.copy(k2_path, folder / "moved.grc")), "blendfile": str(folder / "scene.blend"),
            "glb": str(folder / "sweep.glb"), "bad": {k: str(v) for k, v in bad.items()},
            "time": TIME, "blend": BLEND, "weights": WEIGHTS}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BLENDER_USER_RESOURCES", str(folder / "user"))  # installs there, not in ~/.config
        return run_blender(BLENDER_SCRIPT, args)


def flat(grid):
    return np.asarray(grid).reshape(-1, 3)


def assert_same_points(ours, theirs, tol=1e-5):
    """Every point of each set lies within tol of a point of the other (Blender orders subdivided vertices its own way)."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    assert len(ours) == len(theirs)
    assert cKDTree(theirs).query(ours)[0].max() < tol and cKDTree(ours).query(theirs)[0].max() < tol


@requires_blender
def test_installs_from_the_zip_as_an_extension(blender):
    assert blender["validate"][0] == 0, blender["validate"][1]
    assert blender["install"] == ["FINISHED"]
    assert "bl_ext.user_default.grc_studio" in blender["addons"]
    assert blender["disabled"]  # and unregisters cleanly


@requires_blender
def test_loaded_model_shows_the_librarys_shape_in_grid_order(blender, models):
    model = models[2][0]
    name, is_grc, kind = blender["active"]
    assert name == "k2" and is_grc and kind == "MESH"
    assert np.abs(np.array(blender["k2"]["vertices"]) - flat(model.shape(TIME, BLEND))).max() < 1e-5
    assert blender["k2"]["faces"] == builder(model).faces.tolist()


@requires_blender
def test_petals_and_subdivision_match_grc_mesh(blender, models):
    model = models[2][0]
    grid = model.shape(TIME, BLEND)
    flower = builder(model, petals=3).build(grid)
    assert np.abs(np.array(blender["petals"]["vertices"]) - flower.vertices).max() < 1e-5
    assert blender["petals"]["faces"] == flower.faces.tolist()
    subdivided = builder(model, subdivide=2, petals=3).build(grid)
    assert_same_points(subdivided.vertices, blender["subdivided"]["vertices"])
    assert blender["subdivided"]["faces"] == len(subdivided.faces)
    assert blender["modifiers"] == [["SUBSURF", 2, 2]]
    assert blender["plain_again"] == [model.grid_shape[1] * model.grid_shape[2], []]


@requires_blender
def test_keyframed_blend_moves_the_mesh_on_frame_change(blender, models):
    model = models[2][0]
    frames = blender["frames"]
    assert frames["1"]["blend"] == 0.0 and frames["11"]["blend"] == 1.0 and 0 < frames["6"]["blend"] < 1
    for frame in frames.values():
        assert np.abs(np.array(frame["vertices"]) - flat(model.shape(TIME, frame["blend"]))).max() < 1e-5
    change = np.array(frames["11"]["vertices"]) - np.array(frames["1"]["vertices"])
    expected = flat(model.shape(TIME, 1.0) - model.shape(TIME, 0.0))
    assert np.abs(expected).max() > 0.01 and np.abs(change - expected).max() < 1e-5


@requires_blender
def test_bake_time_sweep_makes_named_shape_keys_on_a_plain_copy(blender, models):
    model = models[2][0]
    bake = blender["bake_time"]
    assert bake["is_grc"] == [False, True] and bake["names"][0] != bake["names"][1]
    values = sweep_values(model, "time", 5)
    assert [k["name"] for k in bake["keys"]] == ["Basis"] + [sweep_name("time", v) for v in values]
    build = MeshBuilder(*model.grid_shape[1:], petals=2)
    frames = [build.build(model.shape(v, 0.3)).vertices for v in values]
    assert np.abs(np.array(bake["keys"][0]["co"]) - frames[0]).max() < 1e-5
    for key, frame in zip(bake["keys"][1:], frames):
        assert np.abs(np.array(key["co"]) - frame).max() < 1e-5


@requires_blender
def test_baked_keys_equal_the_librarys_morph_target_glb(blender):
    ours, glb = blender["bake_time"]["keys"], blender["glb"]
    assert [k["name"] for k in glb] == [k["name"] for k in ours]
    match = cKDTree(np.array(glb[0]["co"])).query(np.array(ours[0]["co"]))[1]  # GLB vertex order -> ours
    for a, b in zip(ours, glb):
        assert np.abs(np.array(a["co"]) - np.array(b["co"])[match]).max() < 1e-5


@requires_blender
def test_bake_blend_sweep_in_place(blender, models):
    model = models[2][0]
    bake = blender["bake_blend"]
    assert bake["same"] and not bake["is_grc"]
    values = sweep_values(model, "blend", 4)
    assert [k["name"] for k in bake["keys"]] == ["Basis"] + [sweep_name("blend", v) for v in values]
    for key, value in zip(bake["keys"][1:], values):
        assert np.abs(np.array(key["co"]) - flat(model.shape(TIME, value))).max() < 1e-5


@requires_blender
def test_rendered_animation_follows_the_keyframes(blender):
    differences = np.array(blender["render"])  # [animation frame][still render of frame]
    assert np.all(np.diag(differences) == 0)
    assert np.all(differences[~np.eye(3, dtype=bool)] > 0.1)


@requires_blender
def test_three_templates_blend_by_weights(blender, models):
    model = models[3][0]
    assert np.abs(np.array(blender["k3"]) - flat(model.shape(TIME, WEIGHTS))).max() < 1e-5
    names = [sweep_name("blend", v) for v in sweep_values(model, "blend", 3)]
    assert blender["bake_k3"] == ["Basis"] + names and names[0] == "blend 1.00,0.00,0.00"


@requires_blender
def test_apply_shape_leaves_an_ordinary_mesh(blender, models):
    model = models[3][0]
    applied = blender["applied"]
    assert not applied["is_grc"] and applied["embedded"] == 0 and applied["modifiers"] == ["SUBSURF"]
    assert np.abs(np.array(applied["vertices"]) - flat(model.shape(TIME, WEIGHTS))).max() < 1e-5


@requires_blender
def test_bad_model_files_are_error_reports_that_change_nothing(blender):
    bad = blender["bad"]
    expected = {"missing": "missing.grc: no such file", "damaged": "damaged.grc: not a valid GRC model file",
                "newer": "grc-model/2", "foreign": "foreign.grc: format: not a GRC model",
                "text": "notes.grc: not a valid GRC model file"}
    for name, text in expected.items():
        assert bad[name]["unchanged"], name
        assert bad[name]["message"] is not None and text in bad[name]["message"], bad[name]["message"]
    assert "newer" in bad["newer"]["message"]


@requires_blender
def test_saved_blend_carries_its_model(blender, models):
    model = models[2][0]
    assert np.abs(np.array(blender["reopened"]) - flat(model.shape(0.4, 1.2))).max() < 1e-5
    tampered = blender["tampered"]
    assert tampered["unchanged"] and tampered["is_grc"]
    assert "tampered (embedded moved.grc): the embedded model is not valid base64" in tampered["message"]
