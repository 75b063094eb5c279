"""What an artist sees in real Blender (bpy as a module): UVs, flipped normals, flowers, the coherence verdict
and looks, the add-on against the library and the CLI.

One Blender subprocess (`blender` fixture) does all the Blender work; the tests check its findings.
"""

import json

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

import grc
from grc_testing import made_up_set
from blender_util import requires_blender, run_blender
from grc.blender import build_addon
from grc.cli import main
from grc.coherence import Coherence
from grc.diverge.bend import Bend, Look, load_look
from grc.mesh import Flower, MeshBuilder, grid_uvs, subdivided_size
from grc.shapes import export, flower_grids
from grc.sweeps import sweep_values

TIME, BLEND = 0.7, 0.4
FLOWER = dict(petals=4, base_radius=0.3, tilt=25.0, rings=2, ring_scale=0.7, ring_tilt=10.0, vary_time=0.1,
              vary_blend=0.3, seed=5)
LOOK = Look([Bend("scale", 0, amount=1.6), Bend("oscillate", 0, {"fraction": 0.5, "seed": 1}, amount=1.5,
                                                 frequency=2.0), Bend("shift", "time", amount=0.1)], name="wobble")
STRENGTHS = [0.5, 1.0, -0.7]
LOOK_BLEND = [1.3]  # a look saved at this blend (the app's Save look… keeps the blend)
CHECKS = [(0.7, 0.4), (1.0, 1.0), (0.6, 3.0), (1.0, -3.0)]  # (time, blend) whose verdicts are compared


def template_set(K=2, T=4, M=5, N=6) -> grc.TemplateSet:
    """Made-up templates whose points are all distinct (so UVs can be matched by position)."""
    return made_up_set(K, T, M, N, shift=0.2)


SCRIPT = r"""
import numpy as np

def arrays(mesh, matrix):
    co = np.empty(3 * len(mesh.vertices), np.float32)
    mesh.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3) @ np.array(matrix, float)[:3, :3].T + np.array(matrix, float)[:3, 3]
    normals = np.array([list(v.normal) for v in mesh.vertices], float) @ np.array(matrix, float)[:3, :3].T
    out = {"co": co.tolist(), "normals": normals.tolist(), "faces": len(mesh.polygons)}
    if mesh.uv_layers:
        uv = np.empty(2 * len(mesh.loops), np.float32)
        mesh.uv_layers.active.data.foreach_get("uv", uv)
        corners = np.empty(len(mesh.loops), np.int32)
        mesh.loops.foreach_get("vertex_index", corners)
        per_vertex = np.zeros((len(mesh.vertices), 2))
        per_vertex[corners] = uv.reshape(-1, 2)
        out["uv"] = per_vertex.tolist()
        out["uv_seams"] = float(np.abs(per_vertex[corners] - uv.reshape(-1, 2)).max())  # one UV per vertex
    return out

def evaluated(obj):
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = ev.to_mesh()
    out = arrays(mesh, [list(r) for r in obj.matrix_world])
    ev.to_mesh_clear()
    return out

def load(path):
    bpy.ops.grc.load_model(filepath=path)
    return bpy.context.active_object

def set_flower(s, flower):
    for name, value in flower.items():
        setattr(s, "flower_seed" if name == "seed" else name, value)

out = {"install": list(bpy.ops.extensions.package_install_files(filepath=ARGS["zip"], repo="user_default",
                                                                  enable_on_install=True))}

# The flower, subdivided by the add-on's Subdivision Surface modifier.
obj = load(ARGS["model"])
obj.grc.time, obj.grc.blend, obj.grc.subdivision = ARGS["time"], ARGS["blend"], 2
set_flower(obj.grc, ARGS["flower"])
out["flower"] = evaluated(obj)
out["uv_smooth"] = [obj.modifiers[0].uv_smooth, obj.modifiers[0].boundary_smooth]
obj.grc.subdivision = 0
out["flower_control"] = arrays(obj.data, [list(r) for r in obj.matrix_world])
obj.grc.subdivision = 2

# The same model made to face the other way.
flipped = load(ARGS["flipped"])
flipped.grc.time, flipped.grc.blend, flipped.grc.subdivision = ARGS["time"], ARGS["blend"], 2
set_flower(flipped.grc, ARGS["flower"])
out["flipped"] = evaluated(flipped)

# A Subdivision Surface (defaults) of the control grid with the grid's UVs, made without the add-on.
grid = np.array(ARGS["grid"])
M, N, _ = grid.shape
index = np.arange(M * N).reshape(M, N)
quads = np.stack([index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]], -1).reshape(-1, 4)
mesh = bpy.data.meshes.new("control")
mesh.from_pydata(grid.reshape(-1, 3).tolist(), [], quads.tolist())
layer = mesh.uv_layers.new(name="UVMap")
rows, points = np.meshgrid(np.arange(M), np.arange(N), indexing="ij")
uv = np.stack([points / (N - 1), rows / (M - 1)], -1).reshape(-1, 2)
corners = np.empty(len(mesh.loops), np.int32)
mesh.loops.foreach_get("vertex_index", corners)
layer.data.foreach_set("uv", uv[corners].astype(np.float32).ravel())
control = bpy.data.objects.new("control", mesh)
bpy.context.collection.objects.link(control)
control.modifiers.new("Subdivision", "SUBSURF").levels = 2
out["control"] = evaluated(control)

# The library's exports, through Blender's importers.
out["imports"] = {}
for fmt, path in ARGS["exports"].items():
    before = set(bpy.data.objects)
    if fmt == "obj":
        bpy.ops.wm.obj_import(filepath=path)
    elif fmt == "ply":
        bpy.ops.wm.ply_import(filepath=path)
    else:
        bpy.ops.import_scene.gltf(filepath=path)
    (imported,) = set(bpy.data.objects) - before
    out["imports"][fmt] = evaluated(imported)

# Bake and apply keep the UVs.
bpy.context.view_layer.objects.active = obj
bpy.ops.grc.bake_shape_keys(sweep="TIME", frames=3, keep_original=True)
out["baked"] = evaluated(bpy.context.active_object)
bpy.context.view_layer.objects.active = obj
bpy.ops.grc.apply_shape(keep_original=True)
out["applied"] = evaluated(bpy.context.active_object)

# A look with keyframed strengths (one petal, no subdivision: the control grid is the shape).
bent = load(ARGS["model"])
bent.grc.time, bent.grc.blend = ARGS["time"], ARGS["blend"]
bpy.ops.grc.load_look(filepath=ARGS["look"])
out["look_loaded"] = [bent.grc.look_name, list(bent.grc.look_strengths[:3])]
for i, value in enumerate(ARGS["strengths"]):
    bent.grc.look_strengths[i] = value
out["look"] = arrays(bent.data, [list(r) for r in bent.matrix_world])
bent.grc.look_strengths[0] = 0.0
bent.keyframe_insert("grc.look_strengths", index=0, frame=1)
bent.grc.look_strengths[0] = 2.0
bent.keyframe_insert("grc.look_strengths", index=0, frame=11)
bpy.context.scene.frame_set(6)
out["look_frame6"] = [bent.grc.look_strengths[0], arrays(bent.data, [list(r) for r in bent.matrix_world])["co"]]

# A look saved with its own blend: loading it sets the object's blend, as the app and `grc export --look` do.
bpy.ops.grc.clear_look()
bent.animation_data_clear()
bpy.ops.grc.load_look(filepath=ARGS["look_blend"])
out["look_blend"] = [bent.grc.blend, arrays(bent.data, [list(r) for r in bent.matrix_world])["co"]]

# The verdict the panel shows, for a few shapes (the look off).
bpy.ops.grc.clear_look()
bent.animation_data_clear()
out["verdicts"] = []
for time, blend in ARGS["checks"]:
    bent.grc.time, bent.grc.blend = time, blend
    out["verdicts"].append([bent.grc.verdict, bent.grc.novelty])
# read from the evaluated copy (a handler's, a render's): the same
ev = bent.evaluated_get(bpy.context.evaluated_depsgraph_get())
out["evaluated"] = [ev.grc.verdict, ev.grc.novelty]
# a grid too big for the dense operator (here: as if the limit were tiny): the stencils, still subdivision 2
import sys
addon = sys.modules["bl_ext.user_default.grc_studio"]
limit, addon.VERDICT_OPERATOR_LIMIT = addon.VERDICT_OPERATOR_LIMIT, 1
addon._coherences.clear()
addon._checks.clear()
out["stencils"] = []
for time, blend in ARGS["checks"]:
    bent.grc.time, bent.grc.blend = time, blend
    out["stencils"].append([bent.grc.verdict, bent.grc.novelty, addon.coherence_of(bent, addon.model_of(bent)).subdivide])
addon.VERDICT_OPERATOR_LIMIT = limit
addon._coherences.clear()
# in Edit Mode the mesh keeps its shape until the mode ends; the verdict follows the settings
bpy.context.view_layer.objects.active = bent
bpy.ops.object.mode_set(mode="EDIT")
time, blend = ARGS["checks"][0]
bent.grc.time, bent.grc.blend = time, blend
before = bent.grc.verdict
time, blend = ARGS["checks"][2]
bent.grc.time, bent.grc.blend = time, blend
out["edit_mode"] = [before, bent.grc.verdict, bent.grc.novelty]
bpy.ops.object.mode_set(mode="OBJECT")
emit(out)
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("artist")
    config = grc.Config.from_preset("default", steps=300, template_steps=150, template_lbfgs_steps=30,
                                    refine_steps=20, refine_samples=512)
    model = grc.train(template_set(), config, device="cpu")
    path = model.save(folder / "petals.grc")
    flipped = grc.load_model(path)
    flipped.flip_normals = True
    flipped_path = flipped.save(folder / "flipped.grc")
    look = LOOK.save(folder / "wobble.json")
    look_blend = Look(LOOK.bends[:1], blend=LOOK_BLEND, name="at-its-blend").save(folder / "at-its-blend.json")
    flower = Flower(**FLOWER)
    exports = {fmt: str(export(model, folder / f"flower.{fmt}", TIME, BLEND, subdivide=2, flower=flower))
               for fmt in ("obj", "ply", "glb")}
    return dict(model=model, path=path, flipped=flipped, flipped_path=flipped_path, look=look, exports=exports,
                folder=folder, look_blend=look_blend)


@pytest.fixture(scope="module")
def blender(setup):
    return run_blender(SCRIPT, {
        "zip": str(build_addon(setup["folder"] / "grc_blender.zip")), "model": str(setup["path"]),
        "flipped": str(setup["flipped_path"]), "look": str(setup["look"]), "exports": setup["exports"],
        "look_blend": str(setup["look_blend"]),
        "time": TIME, "blend": BLEND, "flower": FLOWER, "strengths": STRENGTHS, "checks": CHECKS,
        "grid": setup["model"].shape(TIME, BLEND).tolist()})


def library_flower(model, flip=False, subdivide=2, time=TIME):
    flower = Flower(**FLOWER)
    grids = flower_grids(model, time, BLEND, flower)
    return MeshBuilder(*grids.shape[1:3], subdivide=subdivide, flower=flower, flip=flip).build(grids)


def matched(ours, theirs, tol=2e-5):
    """Index into `ours` of each of `theirs`' vertices (by position), checking every vertex has its match."""
    distance, index = cKDTree(np.asarray(ours)).query(np.asarray(theirs))
    assert distance.max() < tol
    assert len(set(index.tolist())) == len(ours)  # every one of ours is matched once
    return index


@requires_blender
def test_the_flower_is_the_librarys_and_its_uvs_are_blenders(setup, blender):
    model = setup["model"]
    assert blender["install"] == ["FINISHED"]
    assert blender["uv_smooth"] == ["PRESERVE_BOUNDARIES", "ALL"]  # the modifier's defaults: Keep Boundaries
    control = library_flower(model, subdivide=0)
    np.testing.assert_allclose(blender["flower_control"]["co"], control.vertices, atol=2e-6)  # same order
    np.testing.assert_allclose(blender["flower_control"]["uv"], control.uvs, atol=1e-6)
    ours = library_flower(model)
    theirs = blender["flower"]
    index = matched(ours.vertices, theirs["co"])
    assert theirs["uv_seams"] < 1e-6
    np.testing.assert_allclose(np.array(theirs["uv"]), ours.uvs[index], atol=1e-6)
    assert theirs["faces"] == len(ours.faces)


@requires_blender
def test_uvs_equal_a_subdivision_surface_of_the_control_grid(setup, blender):
    grid = setup["model"].shape(TIME, BLEND)
    ours = MeshBuilder(*grid.shape[:2], subdivide=2).build(grid)
    theirs = blender["control"]
    index = matched(ours.vertices, theirs["co"])
    np.testing.assert_allclose(np.array(theirs["uv"]), ours.uvs[index], atol=1e-6)
    np.testing.assert_allclose(ours.uvs, grid_uvs(*subdivided_size(*grid.shape[:2], 2)))


@requires_blender
@pytest.mark.parametrize("fmt", ["obj", "ply", "glb"])
def test_exports_keep_the_uvs_in_blender(setup, blender, fmt):
    ours = library_flower(setup["model"])
    theirs = blender["imports"][fmt]
    index = matched(ours.vertices, theirs["co"]) if fmt != "glb" else None
    if fmt == "glb":  # glTF splits nothing here but may reorder: match each of theirs to ours
        index = cKDTree(ours.vertices).query(np.array(theirs["co"]))[1]
    np.testing.assert_allclose(np.array(theirs["uv"]), ours.uvs[index], atol=1e-6)


@requires_blender
@pytest.mark.parametrize("kind", ["baked", "applied"])
def test_baked_and_applied_meshes_keep_the_uvs(setup, blender, kind):
    first = sweep_values(setup["model"], "time", 3)[0]  # after the bake, frame 1 shows the first key
    ours = library_flower(setup["model"], time=first if kind == "baked" else TIME)
    theirs = blender[kind]
    index = matched(ours.vertices, theirs["co"])
    np.testing.assert_allclose(np.array(theirs["uv"]), ours.uvs[index], atol=1e-6)


@requires_blender
def test_a_flipped_model_faces_the_other_way_in_blender_and_in_exports(setup, blender):
    plain, flipped = library_flower(setup["model"]), library_flower(setup["model"], flip=True)
    np.testing.assert_allclose(flipped.vertex_normals, -plain.vertex_normals, atol=1e-12)
    for name, expected in (("flower", plain), ("flipped", flipped)):
        theirs = blender[name]
        index = matched(expected.vertices, theirs["co"])
        agreement = np.einsum("ij,ij->i", np.array(theirs["normals"]), expected.vertex_normals[index])
        assert np.median(agreement) > 0.95, name
    glb = export(setup["flipped"], setup["folder"] / "flipped.glb", TIME, BLEND, subdivide=2, flower=Flower(**FLOWER))
    normals = [trimesh.load(path, force="mesh", process=False).face_normals for path in (setup["exports"]["glb"], glb)]
    swapped = normals[1].reshape(-1, 2, 3)[:, ::-1].reshape(-1, 3)  # quad (a, d, c, b): its two triangles swap places
    np.testing.assert_allclose(swapped, -normals[0], atol=1e-5)  # every triangle reversed, the same diagonals
    assert grc.load_model(setup["flipped_path"]).flip_normals and not setup["model"].flip_normals


@requires_blender
def test_a_look_in_blender_equals_the_library_and_the_cli(setup, blender, capsys):
    model, folder = setup["model"], setup["folder"]
    assert blender["look_loaded"][0] == "wobble.json"
    np.testing.assert_allclose(blender["look_loaded"][1], [1.0, 1.0, 1.0])
    look = Look([Bend(**{**b.to_json(), "strength": s}) for b, s in zip(LOOK.bends, STRENGTHS)], name="set")
    expected = look.shape(model, TIME, BLEND)
    np.testing.assert_allclose(blender["look"]["co"], expected.reshape(-1, 3), atol=1e-6)
    path = look.save(folder / "set.json")
    code = main(["export", str(setup["path"]), "-o", str(folder / "look.ply"), "--time", str(TIME),
                 "--blend", str(BLEND), "--look", str(path)])
    assert code == 0, capsys.readouterr().err
    ply = np.frombuffer((folder / "look.ply").read_bytes().split(b"end_header\n")[1][:5 * 4 * expected[..., 0].size],
                        "<f4").reshape(-1, 5)
    np.testing.assert_allclose(blender["look"]["co"], ply[:, :3], atol=1e-6)
    strength, vertices = blender["look_frame6"]
    assert strength == pytest.approx(1.0)  # keyframed 0 at frame 1 and 2 at frame 11: halfway
    halfway = Look([Bend(**{**b.to_json(), "strength": s}) for b, s in zip(LOOK.bends, [1.0, *STRENGTHS[1:]])])
    np.testing.assert_allclose(vertices, halfway.shape(model, TIME, BLEND).reshape(-1, 3), atol=1e-6)


@requires_blender
def test_a_looks_own_blend_is_the_same_in_blender_the_library_and_the_cli(setup, blender, capsys):
    model, folder = setup["model"], setup["folder"]
    blend, vertices = blender["look_blend"]
    assert blend == pytest.approx(LOOK_BLEND[0])
    look = load_look(setup["look_blend"])
    expected = look.shape(model, TIME)  # no blend given: the look's own
    np.testing.assert_allclose(vertices, expected.reshape(-1, 3), atol=1e-6)
    code = main(["export", str(setup["path"]), "-o", str(folder / "own.ply"), "--time", str(TIME),
                 "--look", str(setup["look_blend"])])  # no --blend
    assert code == 0, capsys.readouterr().err
    ply = np.frombuffer((folder / "own.ply").read_bytes().split(b"end_header\n")[1][:5 * 4 * expected[..., 0].size],
                        "<f4").reshape(-1, 5)
    np.testing.assert_allclose(ply[:, :3], expected.reshape(-1, 3), atol=1e-6)
    assert np.abs(expected - look.shape(model, TIME, 0.0)).max() > 1e-3  # (the blend made a difference)


@requires_blender
def test_the_panels_verdict_is_the_librarys(setup, blender):
    model = setup["model"]
    coherence = Coherence.for_model(model, subdivide=2)
    verdicts = []
    for (time, blend), (verdict, novelty) in zip(CHECKS, blender["verdicts"]):
        check = coherence.check(model.shape(time, blend), time)
        assert verdict == check.verdict and novelty == pytest.approx(check.novelty, rel=1e-5), (time, blend)
        verdicts.append(verdict)
    assert verdicts[0] == "coherent"
    assert blender["evaluated"] == blender["verdicts"][-1]  # read from the evaluated copy: the same
    for (verdict, novelty, level), expected in zip(blender["stencils"], blender["verdicts"]):
        assert level == 2 and [verdict, novelty] == pytest.approx(expected)  # big grids: the same surface
    before, verdict, novelty = blender["edit_mode"]
    assert before == blender["verdicts"][0][0]
    assert verdict == blender["verdicts"][2][0] and novelty == pytest.approx(blender["verdicts"][2][1])  # Edit Mode
    assert len(set(verdicts)) > 1  # (the shapes checked differ in verdict: a stale one would show)
