import shutil

import numpy as np
import pygltflib
import pytest
import trimesh
from scipy.spatial import cKDTree

import grc
from blender_util import requires_blender, run_blender
from grc import formats
from grc.cli import main
from grc.errors import GRCError, WriteError
from grc.formats import FORMATS, write_mesh, write_morph_glb
from grc.mesh import Flower, Mesh, MeshBuilder, subdivided_size
from grc.shapes import export, export_animation

Y_UP = {"obj": True, "ply": False, "stl": False, "glb": True}
NAMES = ["time 0.00", "time 0.40", "blend 1.50", "blend -0.25"]


def bent_grid():
    """A bent, asymmetric 4x5 grid: any swapped or flipped axis moves some vertex."""
    u, v = np.meshgrid(np.linspace(0, 1, 4), np.linspace(-0.5, 0.5, 5), indexing="ij")
    return np.stack([2 * u + 0.1 * v, v * (0.3 + u), 0.6 * u**2 + 0.2 * v + 0.1 * u * v**2 + 0.05], axis=-1)


@pytest.fixture
def mesh():
    return MeshBuilder(4, 5).build(bent_grid())


def sweep_frames():
    """(4, 20, 3) frames of one topology that move every vertex differently."""
    base = bent_grid().reshape(-1, 3)
    return np.stack([base * (1 + 0.1 * k) + [0.02 * k, -0.03 * k, 0.05 * k] for k in range(len(NAMES))])


def assert_same_points(ours, theirs, tol=1e-5):
    """Every point of each set lies within tol of a point of the other (importers may reorder or split)."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    assert cKDTree(theirs).query(ours)[0].max() < tol
    assert cKDTree(ours).query(theirs)[0].max() < tol


@pytest.mark.parametrize("format", FORMATS)
def test_round_trip_through_trimesh(tmp_path, mesh, format):
    path = write_mesh(tmp_path / f"petal.{format}", mesh)
    loaded = trimesh.load(path, force="mesh", process=False)
    v = loaded.vertices
    if Y_UP[format]:
        v = np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=-1)  # undo (x, z, -y)
    assert_same_points(mesh.vertices, v)
    assert len(loaded.faces) == len(mesh.triangles)


def test_obj_and_ply_keep_quads_and_uvs(tmp_path, mesh):
    obj = write_mesh(tmp_path / "petal.obj", mesh).read_text().splitlines()
    faces = [[corner.split("/") for corner in line.split()[1:]] for line in obj if line.startswith("f ")]
    assert [[int(v) - 1 for v, _ in f] for f in faces] == mesh.faces.tolist()
    assert all(v == t for f in faces for v, t in f)  # each vertex's own UV
    vt = np.array([line.split()[1:] for line in obj if line.startswith("vt ")], float)
    np.testing.assert_allclose(vt, mesh.uvs, atol=1e-9)
    ply = write_mesh(tmp_path / "petal.ply", mesh).read_bytes()
    header, body = ply.split(b"end_header\n")
    assert b"property float s\nproperty float t\nelement face 12\nproperty list uchar int vertex_indices" in header
    vertex_data = np.frombuffer(body[:20 * 20], "<f4").reshape(20, 5)
    np.testing.assert_allclose(vertex_data[:, 3:], mesh.uvs, atol=1e-7)
    face_data = np.frombuffer(body[20 * 20:], dtype=[("count", "u1"), ("indices", "<i4", (4,))])
    assert (face_data["count"] == 4).all() and face_data["indices"].tolist() == mesh.faces.tolist()


def test_uvs_follow_the_grid(mesh):
    """u along a row (point), v along morph (row): the first row's points go 0 to 1 in u at v = 0."""
    uv = mesh.uvs.reshape(4, 5, 2)
    np.testing.assert_allclose(uv[0, :, 0], np.linspace(0, 1, 5))
    np.testing.assert_allclose(uv[:, 0, 1], np.linspace(0, 1, 4))
    flower = MeshBuilder(4, 5, subdivide=1, thickness=0.1, petals=3).build(bent_grid())
    sheet = flower.uvs[:7 * 9].reshape(7, 9, 2)  # subdivided 7 x 9, then its back, then the other petals
    np.testing.assert_allclose(sheet[3, :, 0], np.linspace(0, 1, 9))
    np.testing.assert_allclose(flower.uvs, np.tile(sheet.reshape(-1, 2), (6, 1)))
    assert len(flower.uvs) == len(flower.vertices)


def test_glb_carries_uvs(tmp_path, mesh):
    gltf = pygltflib.GLTF2().load(str(write_mesh(tmp_path / "petal.glb", mesh)))
    primitive = gltf.meshes[0].primitives[0]
    accessor = gltf.accessors[primitive.attributes.TEXCOORD_0]
    view = gltf.bufferViews[accessor.bufferView]
    data = gltf.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength]
    uv = np.frombuffer(data, "<f4").reshape(-1, 2)
    np.testing.assert_allclose(uv, np.stack([mesh.uvs[:, 0], 1 - mesh.uvs[:, 1]], 1), atol=1e-7)  # glTF: v from the top


def test_format_comes_from_the_suffix_or_the_argument(tmp_path, mesh):
    path = write_mesh(tmp_path / "petal.data", mesh, format="stl")
    assert len(trimesh.load(path, file_type="stl").faces) == 24
    with pytest.raises(GRCError, match=r"petal\.fbx.*format.*obj, ply, stl, glb"):
        write_mesh(tmp_path / "petal.fbx", mesh)
    with pytest.raises(GRCError, match="format"):
        write_mesh(tmp_path / "petal.obj", mesh, format="dae")


def test_user_mistakes_are_errors_that_write_nothing(tmp_path, mesh):
    with pytest.raises(GRCError, match="missing"):
        write_mesh(tmp_path / "missing" / "petal.obj", mesh)
    vertices = mesh.vertices.copy()
    vertices[3, 1] = np.nan
    with pytest.raises(GRCError, match=r"petal\.glb: vertices: .*NaN"):
        write_mesh(tmp_path / "petal.glb", Mesh(vertices, mesh.faces))
    frames = sweep_frames()
    with pytest.raises(GRCError, match="names"):
        write_morph_glb(tmp_path / "sweep.glb", frames, mesh.faces, NAMES[:2])
    with pytest.raises(GRCError, match="names"):
        write_morph_glb(tmp_path / "sweep.glb", frames, mesh.faces, NAMES[:3] + NAMES[:1])
    with pytest.raises(GRCError, match="faces"):
        write_morph_glb(tmp_path / "sweep.glb", frames, mesh.faces + 1, NAMES)
    frames[2, 0, 0] = np.inf
    with pytest.raises(GRCError, match=r"sweep\.glb: frames"):
        write_morph_glb(tmp_path / "sweep.glb", frames, mesh.faces, NAMES)
    assert list(tmp_path.iterdir()) == []


def half_written(data=b"half a file"):
    """A serializer that writes part of its output to the temporary path, then fails."""

    def fail(*args, **kwargs):
        target = next(a for a in (*args, *kwargs.values()) if str(a).endswith(".tmp"))
        with open(target, "wb") as f:
            f.write(data)
        raise OSError("disk full")

    return fail


@pytest.mark.parametrize("format", FORMATS)
def test_a_failed_write_leaves_the_old_file(tmp_path, mesh, monkeypatch, format):
    path = tmp_path / f"petal.{format}"
    path.write_bytes(b"old bytes")
    monkeypatch.setitem(formats._WRITERS, format, half_written())
    with pytest.raises(WriteError, match="cannot write: disk full; the previous file is unchanged"):
        write_mesh(path, mesh)
    assert path.read_bytes() == b"old bytes" and list(tmp_path.iterdir()) == [path]


def test_failing_serializers_leave_the_old_files(tmp_path, mesh, monkeypatch):
    monkeypatch.setattr(trimesh.Trimesh, "export", half_written())
    monkeypatch.setattr(pygltflib.GLTF2, "save_binary", half_written())
    for path in (tmp_path / "petal.stl", tmp_path / "petal.glb", tmp_path / "sweep.glb"):
        path.write_bytes(b"old bytes")
        with pytest.raises(WriteError):
            if path.stem == "sweep":
                write_morph_glb(path, sweep_frames(), mesh.faces, NAMES)
            else:
                write_mesh(path, mesh)
        assert path.read_bytes() == b"old bytes"
    assert len(list(tmp_path.iterdir())) == 3


def accessor_values(gltf, index) -> np.ndarray:
    """A float32 accessor of a GLB as an array (count, components)."""
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    data = gltf.binary_blob()[view.byteOffset:view.byteOffset + view.byteLength]
    return np.frombuffer(data, dtype=np.float32).reshape(accessor.count, -1)


def test_morph_glb_holds_one_named_target_per_frame_and_a_sweep(tmp_path, mesh):
    frames = sweep_frames()
    path = write_morph_glb(tmp_path / "sweep.glb", frames, mesh.faces, NAMES, fps=10)
    gltf = pygltflib.GLTF2.load(path)
    (m,) = gltf.meshes
    assert m.extras["targetNames"] == NAMES and m.weights == [0.0] * 4
    assert len(m.primitives[0].targets) == 4

    def read(index):
        return accessor_values(gltf, index)

    base = read(m.primitives[0].attributes.POSITION)
    for frame, target in zip(frames, m.primitives[0].targets):
        assert np.allclose(base + read(target["POSITION"]), formats.to_y_up(frame), atol=1e-6)
    sampler = gltf.animations[0].samplers[0]
    assert np.allclose(read(sampler.input).ravel(), [0, 0.1, 0.2, 0.3])
    assert np.array_equal(read(sampler.output).reshape(4, 4), np.eye(4))


def test_a_narrow_sweep_gets_names_that_tell_its_frames_apart(petal_model, tmp_path):
    from grc.shapes import export_animation
    from grc.sweeps import sweep_names

    path = export_animation(petal_model, tmp_path / "narrow.glb", sweep="time", frames=9, start=0.8, stop=0.802)
    names = pygltflib.GLTF2.load(path).meshes[0].extras["targetNames"]
    assert len(set(names)) == 9 and names[0] == "time 0.8000" and names[-1] == "time 0.8020"
    assert sweep_names("time", [0.1, 0.5]) == ["time 0.100", "time 0.500"]  # as before where they differ


@pytest.mark.parametrize("args, sweep", [
    (["--animate", "time", "--start", "1", "--stop", "1"], "time sweep from 1 to 1"),
    (["--animate", "time", "--stop", "0"], "time sweep from 0 to 0"),  # the default start is the first time, 0
    (["--animate", "time", "--start", "0.8", "--stop", "0.8000000000001"], "time sweep from 0.8 to 0.8"),
    (["--animate", "blend", "--start", "0,1", "--stop", "1"], "blend sweep from 1 to 1"),
])
def test_a_sweep_whose_start_is_its_stop_is_one_line_naming_the_stop(petal_model_file, tmp_path, capsys, args, sweep):
    """It was refused by the GLB writer, naming the output and nine shape key names ("names: expected 9 different
    names, one per frame, got ['time 1.000000000000', ...]"), not what to change."""
    out = tmp_path / "s.glb"
    code = main(["export", str(petal_model_file), "-o", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.strip() == f"grc: stop: expected a stop other than the start: a {sweep} makes every frame the same shape"
    assert not out.exists()


BLENDER_IMPORT = """
import bmesh
importers = {"obj": bpy.ops.wm.obj_import, "ply": bpy.ops.wm.ply_import,
             "stl": bpy.ops.wm.stl_import, "glb": bpy.ops.import_scene.gltf}
result = {}
for key, path in ARGS.items():
    before = set(bpy.data.objects)
    importers[path.rsplit(".", 1)[1]](filepath=path)
    (obj,) = set(bpy.data.objects) - before
    world = lambda co: list(obj.matrix_world @ co)
    entry = {"world": [world(v.co) for v in obj.data.vertices], "sides": [len(p.vertices) for p in obj.data.polygons]}
    if obj.data.shape_keys:
        entry["keys"] = [{"name": k.name, "range": [k.slider_min, k.slider_max], "world": [world(p.co) for p in k.data]}
                         for k in obj.data.shape_keys.key_blocks]
        action = obj.data.shape_keys.animation_data.action
        if hasattr(action, "layers"):  # Blender 4.4+: layered actions
            curves = action.layers[0].strips[0].channelbags[0].fcurves
        else:  # Blender 4.2 LTS
            curves = action.fcurves
        entry["curves"] = {c.data_path: [list(k.co) for k in c.keyframe_points] for c in curves}
    result[key] = entry
emit(result)
"""


@requires_blender
def test_blenders_default_importers_put_every_vertex_back(tmp_path, mesh):
    frames = sweep_frames()
    paths = {f: str(write_mesh(tmp_path / f"petal.{f}", mesh)) for f in FORMATS}
    paths["morph"] = str(write_morph_glb(tmp_path / "sweep.glb", frames, mesh.faces, NAMES))
    blender = run_blender(BLENDER_IMPORT, paths)
    for format in FORMATS:
        assert_same_points(mesh.vertices, blender[format]["world"])
    for format in ("obj", "ply"):
        assert np.abs(np.array(blender[format]["world"]) - mesh.vertices).max() < 1e-5  # same order too
        assert blender[format]["sides"] == [4] * len(mesh.faces)

    morph = blender["morph"]
    assert [k["name"] for k in morph["keys"]] == ["Basis"] + NAMES
    assert all(k["range"] == [0.0, 1.0] for k in morph["keys"])
    match = cKDTree(frames[0]).query(morph["world"])[1]  # Blender's vertex order → ours
    for key, frame in zip(morph["keys"][1:], frames):
        assert np.abs(np.array(key["world"]) - frame[match]).max() < 1e-5
    for i, name in enumerate(NAMES):
        keys = morph["curves"][f'key_blocks["{name}"].value']
        assert keys == [[float(frame), float(frame == i)] for frame in range(len(NAMES))]


# -- the CLI: flowers and facing ----------------------------------------------------------------

def read_ply(path):
    """Vertices (V, 3), UVs (V, 2) and quads of a PLY written by grc.formats."""
    header, body = path.read_bytes().split(b"end_header\n")
    count = int(header.split(b"element vertex ")[1].split(b"\n")[0])
    vertices = np.frombuffer(body[:20 * count], "<f4").reshape(count, 5)
    faces = np.frombuffer(body[20 * count:], dtype=[("count", "u1"), ("indices", "<i4", (4,))])["indices"]
    return vertices[:, :3], vertices[:, 3:], faces


def test_cli_flower_options_give_the_librarys_flower(petal_model_file, tmp_path, capsys):
    options = ["--flower", "5", "--base-radius", "0.2", "--tilt", "30", "--rings", "2", "--ring-scale", "0.6",
               "--ring-rotation", "10", "--ring-tilt", "15", "--vary-time", "0.1", "--vary-blend", "0.4",
               "--flower-seed", "3"]
    out = tmp_path / "cli.ply"
    assert main(["export", str(petal_model_file), "-o", str(out), "--time", "0.7", "--blend", "0.5",
                 "--subdivide", "1", *options]) == 0, capsys.readouterr().err
    flower = Flower(petals=5, base_radius=0.2, tilt=30, rings=2, ring_scale=0.6, ring_rotation=10, ring_tilt=15,
                    vary_time=0.1, vary_blend=0.4, seed=3)
    model = grc.load_model(petal_model_file)
    library = export(model, tmp_path / "lib.ply", 0.7, 0.5, subdivide=1, flower=flower)
    cli, lib = read_ply(out), read_ply(library)
    for a, b in zip(cli, lib):
        np.testing.assert_array_equal(a, b)
    assert len(cli[0]) == 10 * len(read_ply(export(model, tmp_path / "one.ply", 0.7, 0.5, subdivide=1))[0])
    assert main(["export", str(petal_model_file), "-o", str(tmp_path / "x.ply"), "--rings", "40"]) == 2
    assert "--rings: expected a value from 1 to 16" in capsys.readouterr().err


def test_cli_normals_flip_is_kept_with_the_model_and_every_export_follows(petal_model_file, tmp_path, capsys):
    path = shutil.copy(petal_model_file, tmp_path / "petal.grc")
    assert main(["normals", str(path)]) == 0 and "normals as made" in capsys.readouterr().out
    assert main(["export", str(path), "-o", str(tmp_path / "before.ply")]) == 0
    assert main(["normals", str(path), "--flip"]) == 0 and "normals flipped" in capsys.readouterr().out
    model = grc.load_model(path)
    assert model.flip_normals and model.info["flip_normals"] is True
    assert main(["export", str(path), "-o", str(tmp_path / "after.ply")]) == 0
    before, after = read_ply(tmp_path / "before.ply"), read_ply(tmp_path / "after.ply")
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(after[2], before[2][:, [0, 3, 2, 1]])  # every quad turned over
    assert main(["normals", str(path), "--no-flip"]) == 0 and not grc.load_model(path).flip_normals


def test_a_flower_sweep_carries_uvs(petal_model, tmp_path):
    flower = Flower(petals=3, rings=2, vary_time=0.1, seed=4)
    path = export_animation(petal_model, tmp_path / "sweep.glb", frames=3, subdivide=1, flower=flower)
    gltf = pygltflib.GLTF2().load(str(path))
    attributes = gltf.meshes[0].primitives[0].attributes
    uv = gltf.accessors[attributes.TEXCOORD_0]
    rows, points = subdivided_size(*petal_model.grid_shape[1:], 1)
    assert uv.count == gltf.accessors[attributes.POSITION].count == 6 * rows * points


def glb_frames(path):
    """The absolute vertex positions of each morph target of a sweep GLB (glTF's Y-up axes)."""
    gltf = pygltflib.GLTF2.load(path)
    (m,) = gltf.meshes

    def read(index):
        return accessor_values(gltf, index)

    base = read(m.primitives[0].attributes.POSITION)
    return [base + read(t["POSITION"]) for t in m.primitives[0].targets]


def test_a_sweep_follows_a_drawn_context_path(petal_model, tmp_path):
    """A sweep with context offsets (a drawn path less its blend's own) shows that path at every frame."""
    rows, C = petal_model.grid_shape[1], petal_model.context_dims
    offsets = np.zeros((rows, C))
    offsets[:, 0] = np.linspace(0.0, 0.3, rows)  # the path bends away from the blend's towards the tip
    for sweep, fixed, values in (("time", dict(blend=0.4), [0.3, 0.65, 1.0]), ("blend", dict(time=0.8), [0.0, 0.5, 1.0])):
        path = export_animation(petal_model, tmp_path / f"{sweep}.glb", sweep=sweep, frames=3, start=values[0],
                                stop=values[-1], context_offsets=offsets, **fixed)
        plain = export_animation(petal_model, tmp_path / f"{sweep}-plain.glb", sweep=sweep, frames=3,
                                 start=values[0], stop=values[-1], **fixed)
        for value, frame, other in zip(values, glb_frames(path), glb_frames(plain)):
            t, b = (value, fixed["blend"]) if sweep == "time" else (fixed["time"], value)
            expected = formats.to_y_up(petal_model.shape(t, context=petal_model.context(t, b) + offsets).reshape(-1, 3))
            np.testing.assert_allclose(frame, expected, atol=1e-5)
            assert np.abs(frame - other).max() > 1e-3  # not the blend's own shape
    with pytest.raises(GRCError, match="context offsets"):
        export_animation(petal_model, tmp_path / "bad.glb", context_offsets=np.zeros((3, C)))


def test_grc_export_without_a_blend_takes_the_looks_blend_as_the_cli_does(petal_model, tmp_path):
    # grc.export defaulted to blend 0: a look's own blend was silently dropped (and K > 2 models failed)
    from grc.diverge.bend import Bend, Look

    def read(path):  # OBJ is Y-up: back to the model's Z-up
        x, y, z = trimesh.load(path, process=False).vertices.T
        return np.stack([x, -z, y], axis=1)

    look = Look([Bend("scale", 0, amount=1.3)], blend=0.5)
    vertices = read(grc.export(petal_model, tmp_path / "look.obj", time=0.8, look=look))
    assert np.allclose(vertices, look.shape(petal_model, 0.8).reshape(-1, 3), atol=1e-5)
    assert not np.allclose(vertices, look.shape(petal_model, 0.8, 0.0).reshape(-1, 3), atol=1e-3)
    plain = grc.export(petal_model, tmp_path / "plain.obj", time=0.8)  # no look: the first template, as before
    assert np.allclose(read(plain), petal_model.shape(0.8, 0.0).reshape(-1, 3), atol=1e-5)


@pytest.mark.parametrize("args", [
    ["--blend", "100", "--flower", "3", "--vary-blend", "1"],
    ["--time", "1e6", "--flower", "3", "--vary-time", "1"],
    ["--blend", "-100", "--flower", "5", "--rings", "2", "--vary-blend", "0.5", "--vary-time", "0.2"],
])
def test_a_flower_varied_past_a_limit_takes_its_petals_at_the_limit(petal_model_file, tmp_path, capsys, args):
    """A flower at the edge of what may be asked, its petals varied: a petal past the edge was refused with a line the
    user could not act on ("blend: expected values from -100 to 100, got 100.099" for --blend 100)."""
    out = tmp_path / "f.obj"
    assert main(["export", str(petal_model_file), "-o", str(out), *args]) == 0, capsys.readouterr().err
    assert out.exists()
    for time, blend in Flower(petals=8, vary_time=1.0, vary_blend=1.0).petal_settings(1e6, 100.0, 2):
        assert abs(time) <= 1e6 and abs(blend) <= 100
