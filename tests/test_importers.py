"""The importers: the article's layouts, and OBJ/PLY grids proved against their faces (whatever the vertex order)."""

import json
import os

import numpy as np
import pytest

from grc.errors import GRCError
from grc.formats import write_mesh
from grc.importers import from_rows, grid_order, import_files, read_grid_meshes
from grc.mesh import Mesh, grid_faces

from blender_util import requires_blender, run_blender


def test_article_row_layout_import(petal):
    # the article's layout: per row the N x values, then the N y values, then the N z values
    points = petal.points[0]
    rows = points.transpose(0, 1, 3, 2).reshape(7, 7, 21)
    t = from_rows("a", rows, petal.time, petal.morph)
    assert np.array_equal(t.points, points)
    assert rows[2, 3, 7] == points[2, 3, 0, 1]  # row 3's first y value


def test_grid_json_sequence_import_with_scale(petal, tmp_path):
    files = []
    for i, grid in enumerate(petal.points[1]):
        files.append(tmp_path / f"T{i}.json")
        files[-1].write_text(json.dumps((grid / 0.12).tolist()))
    t = import_files("b", files, time=petal.time, morph=petal.morph, scale=0.12)
    assert np.allclose(t.points, petal.points[1], atol=1e-12)


@pytest.mark.parametrize("suffix", ["obj", "ply"])
def test_grid_mesh_sequence_import_keeps_blender_coordinates(petal, tmp_path, suffix):
    # an artist exports one grid per time step from Blender; Z-up coordinates come back as drawn
    faces = grid_faces(7, 7)
    files = [write_mesh(tmp_path / f"T{i}.{suffix}", Mesh(grid.reshape(-1, 3), faces))
             for i, grid in enumerate(petal.points[0])]
    t = import_files("a", files, time=petal.time, morph=petal.morph)
    assert np.allclose(t.points, petal.points[0], atol=1e-6)


def test_a_renumbered_square_grid_joins_a_set_the_way_its_templates_run(petal, tmp_path):
    # a grown petal exported, renumbered (as Blender does on a PLY export or Sort Elements) and imported into
    # its set: on a 7 x 7 grid the numbering cannot say which way the rows run (read alone it comes back
    # transposed), the set's template can
    rng = np.random.default_rng(1)
    wanted = petal.points[1][[4, 5]]  # two grown time steps
    files = []
    for i, grid in enumerate(wanted):
        order = rng.permutation(grid.shape[0] * grid.shape[1])  # vertex k of the file is grid point order[k]
        inverse = np.argsort(order)
        faces = np.array([[int(inverse[v]) for v in face] for face in grid_faces(*grid.shape[:2])])
        files.append(write_mesh(tmp_path / f"step{i}.obj", Mesh(grid.reshape(-1, 3)[order], faces)))
    alone = import_files("renumbered", files, time=[0, 1], morph=petal.morph)
    assert np.abs(alone.points - wanted).max() > 0.1  # (the ambiguity this is about)
    joined = import_files("renumbered", files, time=[0, 1], morph=petal.morph, like=petal.templates[0])
    np.testing.assert_allclose(joined.points, wanted, atol=1e-5)


def test_non_square_grid_mesh_reads_its_size_from_the_faces(tmp_path):
    grid = np.random.default_rng(0).normal(size=(2, 7, 3))
    path = write_mesh(tmp_path / "g.ply", Mesh(grid.reshape(-1, 3), grid_faces(2, 7)))
    assert np.allclose(import_files("x", [path, path], rows=2).points[0], grid, atol=1e-6)
    assert np.allclose(import_files("x", [path, path]).points[0], grid, atol=1e-6)  # row-major: kept
    with pytest.raises(GRCError, match=r"grid of 2 x 7 points; --rows 3 fits neither side"):
        import_files("x", [path, path], rows=3)


# -- grid_order: the topology decides ----------------------------------------------------------------

def blender_like_grid(rows=4, points=6, seed=0):
    """A deformed grid numbered as Blender's Grid primitive: points along +X, rows along +Y."""
    x, y = np.meshgrid(np.linspace(-1, 1, points), np.linspace(-1, 1, rows))
    z = 0.3 * np.sin(2 * x) * np.cos(y) + np.random.default_rng(seed).normal(0, 0.01, x.shape)
    return np.stack([x, y, z], axis=-1)  # (rows, points, 3)


def test_row_major_order_is_kept():
    faces = grid_faces(3, 5)
    assert np.array_equal(grid_order(faces, 15), np.arange(15).reshape(3, 5))
    assert np.array_equal(grid_order(faces, 15, rows=3), np.arange(15).reshape(3, 5))
    assert grid_order(faces, 15, rows=5).shape == (5, 3)  # --rows names the morph side


def write_obj(path, vertices, faces, objects=("Grid",)):
    lines = [f"o {objects[0]}"] + [f"v {x:.17g} {z:.17g} {-y:.17g}" for x, y, z in vertices]  # Blender's Y-up OBJ
    lines += ["f " + " ".join(f"{i + 1}/{i + 1}" for i in face) for face in faces]
    for k, name in enumerate(objects[1:], 1):  # another object: a shifted copy
        lines += [f"o {name}"] + [f"v {x + 5 * k:.17g} {z:.17g} {-y:.17g}" for x, y, z in vertices]
        lines += ["f " + " ".join(str(i + 1 + k * len(vertices)) for i in face) for face in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_ply(path, vertices, faces, binary=True):
    head = (f"ply\nformat {'binary_little_endian' if binary else 'ascii'} 1.0\ncomment test\n"
            f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
            f"property float s\nproperty float t\nelement face {len(faces)}\n"
            "property list uchar uint vertex_indices\nend_header\n").encode()
    if binary:
        v = np.zeros(len(vertices), dtype=[("p", "<f4", 3), ("uv", "<f4", 2)])
        v["p"] = vertices
        body = v.tobytes() + b"".join(bytes([len(f)]) + np.asarray(f, "<u4").tobytes() for f in faces)
    else:
        body = "".join(f"{x} {y} {z} 0 0\n" for x, y, z in vertices).encode()
        body += "".join(f"{len(f)} {' '.join(map(str, f))}\n" for f in faces).encode()
    path.write_bytes(head + body)
    return path


def renumbered(vertices, faces, new_of_old):
    """The same mesh with vertex i renumbered new_of_old[i]."""
    out = np.empty_like(vertices)
    out[new_of_old] = vertices
    return out, new_of_old[faces]


@pytest.mark.parametrize("order", ["shuffled", "face-corner", "duplicated-corners", "reversed-faces"])
@pytest.mark.parametrize("writer", [write_obj, write_ply, lambda p, v, f: write_ply(p, v, f, binary=False)])
def test_any_vertex_order_reads_as_the_same_grid(tmp_path, order, writer):
    grid = blender_like_grid()
    vertices, faces = grid.reshape(-1, 3), grid_faces(4, 6)
    if order == "shuffled":
        vertices, faces = renumbered(vertices, faces, np.random.default_rng(1).permutation(len(vertices)))
        faces = faces[np.random.default_rng(2).permutation(len(faces))]
    elif order == "face-corner":  # Blender's PLY: vertices numbered as the faces' corners first use them
        first_use = dict.fromkeys(faces.ravel().tolist())
        new_of_old = np.empty(len(vertices), dtype=int)
        new_of_old[list(first_use)] = np.arange(len(first_use))
        vertices, faces = renumbered(vertices, faces, new_of_old)
    elif order == "duplicated-corners":  # every face with its own four vertices
        vertices, faces = vertices[faces.ravel()], np.arange(faces.size).reshape(-1, 4)
    else:
        faces = faces[::-1, ::-1]
    suffix = ".obj" if writer is write_obj else ".ply"
    path = writer(tmp_path / f"g{suffix}", vertices, faces)
    (read,) = read_grid_meshes([path])
    assert read.shape == (4, 6, 3) and np.allclose(read, grid, atol=1e-6)


def test_later_time_steps_follow_the_first(tmp_path):
    grid = blender_like_grid()
    faces = grid_faces(4, 6)
    shuffle = np.random.default_rng(3).permutation(24)
    spun = grid @ np.diag([-1.0, -1.0, 1.0])  # turned half a turn: alone, geometry would renumber it
    files = []
    for i, step in enumerate([grid, spun]):
        v, f = renumbered(step.reshape(-1, 3), faces, shuffle)
        files.append(write_ply(tmp_path / f"T{i}.ply", v, f))
    first, second = read_grid_meshes(files)
    assert np.allclose(first, grid, atol=1e-6) and np.allclose(second, spun, atol=1e-6)
    # other faces (another numbering) at a later step: the orientation nearest the step before
    grown = spun * 1.1
    v, f = renumbered(grown.reshape(-1, 3), faces, np.random.default_rng(4).permutation(24))
    files.append(write_ply(tmp_path / "T2.ply", v, f))
    assert np.allclose(read_grid_meshes(files)[2], grown, atol=1e-6)


def test_repeated_corner_vertices_follow_the_first_step_too(tmp_path):
    grid, faces = blender_like_grid(), grid_faces(4, 6)
    spun = grid @ np.diag([-1.0, -1.0, 1.0])
    files = [write_ply(tmp_path / f"T{i}.ply", step.reshape(-1, 3)[faces.ravel()], np.arange(60).reshape(-1, 4))
             for i, step in enumerate([grid, spun])]
    first, second = read_grid_meshes(files)
    assert np.allclose(first, grid, atol=1e-6) and np.allclose(second, spun, atol=1e-6)
    bad = write_ply(tmp_path / "bad.ply", grid.reshape(-1, 3)[faces.ravel()], np.arange(4, 64).reshape(-1, 4))
    with pytest.raises(GRCError, match="refers to a vertex that is not in the file"):
        read_grid_meshes([bad])


@pytest.mark.parametrize("case, message", [
    ("triangles", '"Triangulated Mesh" off'),
    ("ngon", "faces of 5 corners"),
    ("hole", "do not form one rectangular grid"),
    ("two objects", 'holds 2 objects (Grid, Cube)'),
    ("two pieces", "2 separate pieces"),
    ("loose vertex", "on no face"),
    ("wrong rows", "--rows 5 fits neither side"),
])
def test_files_that_are_not_one_grid_say_what_to_change(tmp_path, case, message):
    grid = blender_like_grid()
    vertices, faces = grid.reshape(-1, 3), grid_faces(4, 6).tolist()
    rows = 5 if case == "wrong rows" else None
    if case == "triangles":
        faces = [t for a, b, c, d in faces for t in ((a, b, c), (a, c, d))]
    elif case == "ngon":
        faces = faces[2:] + [faces[0][:2] + [faces[1][3]] + faces[0][2:]]  # not a grid either way
    elif case == "hole":
        faces = faces[:7] + faces[8:]
    elif case == "loose vertex":
        vertices = np.vstack([vertices, [[9, 9, 9]]])
    if case == "two objects":
        path = write_obj(tmp_path / "scene.obj", vertices, np.array(faces), objects=("Grid", "Cube"))
    elif case == "two pieces":  # a PLY of two selected objects is one mesh of two pieces
        path = write_ply(tmp_path / "scene.ply", np.vstack([vertices, vertices + 5]),
                         np.vstack([faces, np.array(faces) + len(vertices)]))
    else:
        path = write_ply(tmp_path / "g.ply", vertices, faces)
    with pytest.raises(GRCError) as e:
        import_files("x", [path, path], rows=rows)
    assert message in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_mesh_files_are_read_with_a_size_cap(tmp_path):
    fifo = tmp_path / "pipe.ply"
    os.mkfifo(fifo)
    with pytest.raises(GRCError, match="device, pipe or socket"):
        import_files("x", [fifo, fifo])
    folder = tmp_path / "folder.obj"
    folder.mkdir()
    with pytest.raises(GRCError, match="found a folder"):
        import_files("x", [folder, folder])
    lying = tmp_path / "lying.ply"
    lying.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 100000000\nproperty float x\n"
                      b"end_header\n")
    with pytest.raises(GRCError, match="100,000,000 vertex elements"):
        import_files("x", [lying, lying])
    short = write_ply(tmp_path / "short.ply", blender_like_grid().reshape(-1, 3), grid_faces(4, 6))
    short.write_bytes(short.read_bytes()[:-30])
    with pytest.raises(GRCError, match="ends early"):
        import_files("x", [short, short])


# -- real Blender exports ----------------------------------------------------------------------------

BLENDER_EXPORTS = """
import math, random
import bmesh

def grid_object(step, name="Grid"):
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=6, y_subdivisions=4, size=2, location=(0.5, -0.25, 0.1),
                                    rotation=(0, 0, math.radians(20)))
    ob = bpy.context.active_object
    ob.name = name
    for v in ob.data.vertices:  # a bend that grows with time
        x, y = v.co.x, v.co.y
        v.co.z = (0.2 + 0.3 * step) * math.sin(1.5 * x) + 0.1 * y * y
    return ob

def world(ob):
    return [list(ob.matrix_world @ v.co) for v in ob.data.vertices]

def renumber(ob, seed):
    bm = bmesh.new()
    bm.from_mesh(ob.data)
    rng = random.Random(seed)
    for elements in (bm.verts, bm.faces):
        order = list(range(len(elements)))
        rng.shuffle(order)
        elements.ensure_lookup_table()
        for element, index in zip(list(elements), order):
            element.index = index
        elements.sort()
    bm.to_mesh(ob.data)
    bm.free()

def only(ob):
    bpy.ops.object.select_all(action="DESELECT")
    for other in list(bpy.data.objects):
        if other is not ob:
            bpy.data.objects.remove(other)
    ob.select_set(True)
    bpy.context.view_layer.objects.active = ob

out, result = ARGS["folder"], {"grid": [], "counts": None}
for step in range(2):
    ob = grid_object(step)
    only(ob)
    result["grid"].append(world(ob))  # Blender's own numbering: the expected grid order
    result["counts"] = len(ob.data.vertices)
    bpy.ops.wm.obj_export(filepath=f"{out}/T{step}.obj")
    bpy.ops.wm.ply_export(filepath=f"{out}/T{step}.ply")
    bpy.ops.wm.ply_export(filepath=f"{out}/T{step}-triangles.ply", export_triangulated_mesh=True)
    renumber(ob, 7)  # the same shuffle at every time step
    bpy.ops.wm.obj_export(filepath=f"{out}/T{step}-shuffled.obj")
    bpy.ops.wm.ply_export(filepath=f"{out}/T{step}-shuffled.ply")
    renumber(ob, 11 + step)  # another shuffle per time step
    bpy.ops.wm.ply_export(filepath=f"{out}/T{step}-reshuffled.ply")
# a scene of two objects, exported with the default settings (every object)
bpy.ops.mesh.primitive_cube_add(location=(4, 0, 0))
bpy.ops.wm.obj_export(filepath=f"{out}/scene.obj")
bpy.ops.wm.ply_export(filepath=f"{out}/scene.ply")
emit(result)
"""


@pytest.fixture(scope="module")
def blender_exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blender-exports")
    result = run_blender(BLENDER_EXPORTS, {"folder": str(folder)})
    # Blender's Grid primitive numbers its vertices along +X first, then rows along +Y: rows x points
    grid = np.array(result["grid"]).reshape(2, 5, 7, 3)
    return folder, grid


@requires_blender
@pytest.mark.parametrize("kind", ["obj", "ply", "shuffled.obj", "shuffled.ply", "reshuffled.ply"])
def test_blender_exports_import_in_grid_order(blender_exports, tmp_path, capsys, kind):
    from grc.cli import main
    from grc.templates import load_template

    folder, expected = blender_exports
    suffix = kind.split(".")[-1]
    files = [folder / (f"T{i}.{suffix}" if kind == suffix else f"T{i}-{kind}") for i in range(2)]
    code = main(["templates", "import", "bent", *map(str, files), "-o", str(tmp_path / "set")])
    _, err = capsys.readouterr()
    assert code == 0, err
    (path,) = (tmp_path / "set").glob("*.json")
    template = load_template(path)
    assert template.grid_shape == (2, 5, 7)
    assert np.abs(template.points - expected).max() < 1e-5  # the Blender vertices' world coordinates


@requires_blender
@pytest.mark.parametrize("files, rows, message", [
    (["T0-triangles.ply", "T1-triangles.ply"], None, '"Triangulated Mesh" off'),
    (["scene.obj", "scene.obj"], None, "holds 2 objects (Grid"),
    (["scene.ply", "scene.ply"], None, "2 separate pieces"),
    (["T0.obj", "T1.obj"], 6, "--rows 6 fits neither side"),
])
def test_blender_exports_that_are_not_one_grid_are_refused(blender_exports, tmp_path, capsys, files, rows, message):
    from grc.cli import main

    folder, _ = blender_exports
    args = ["templates", "import", "bent", *(str(folder / f) for f in files), "-o", str(tmp_path / "set")]
    code = main(args + (["--rows", str(rows)] if rows else []))
    _, err = capsys.readouterr()
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "set").exists()
