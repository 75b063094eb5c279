import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from blender_util import requires_blender, run_blender
from grc.errors import GRCError
from grc.mesh import (Flower, MeshBuilder, dense_subdivision_operator, grid_faces, subdivided_size,
                      subdivision_operator, triangulate)

SIZES = [(2, 2), (2, 5), (4, 3), (7, 7)]


def petal_grid(rows=7, points=7, seed=0):
    """A curved, asymmetric petal-like grid: base near the origin, opening along +X, points across Y."""
    u, v = np.meshgrid(np.linspace(0, 1, rows), np.linspace(-0.5, 0.5, points), indexing="ij")
    grid = np.stack([2 * u + 0.3 * v**2, v * (0.2 + u), 0.5 * u**2 - 0.3 * v + 0.4 * u * v], axis=-1)
    return grid + np.random.default_rng(seed).normal(0, 0.02, grid.shape)


def test_level_0_vertices_are_the_grid_points_in_row_major_order():
    grid = petal_grid(4, 5)
    mesh = MeshBuilder(4, 5).build(grid)
    assert np.array_equal(mesh.vertices, grid.reshape(-1, 3))
    assert mesh.vertices[7].tolist() == grid[1, 2].tolist()  # vertex k is (k // points, k % points)
    assert np.array_equal(mesh.faces, grid_faces(4, 5))


def test_grid_faces_wind_one_way():
    faces = grid_faces(3, 4)
    assert faces.tolist()[:2] == [[0, 4, 5, 1], [1, 5, 6, 2]]
    edges = {tuple(e) for e in np.stack([faces, np.roll(faces, -1, axis=1)], -1).reshape(-1, 2).tolist()}
    assert len(edges) == faces.size  # no edge is walked twice in one direction: consistent winding
    # rows along +X and points along +Y give normals along +Z
    u, v = np.meshgrid(np.arange(3.0), np.arange(4.0), indexing="ij")
    mesh = MeshBuilder(3, 4).build(np.stack([u, v, 0 * u], -1))
    assert np.allclose(mesh.vertex_normals, [0, 0, 1])


def test_triangles_keep_the_quad_winding():
    tris = triangulate(grid_faces(2, 2))
    assert tris.tolist() == [[0, 2, 3], [0, 3, 1]]


@pytest.mark.parametrize("rows, points", SIZES)
@pytest.mark.parametrize("level", [1, 2, 3])
def test_subdivision_operator_is_affine_and_sized(rows, points, level):
    operator = subdivision_operator(rows, points, level)
    r, p = subdivided_size(rows, points, level)
    assert (r, p) == ((rows - 1) * 2**level + 1, (points - 1) * 2**level + 1)
    assert operator.shape == (r * p, rows * points)
    assert np.allclose(operator.sum(axis=1), 1)
    mesh = MeshBuilder(rows, points, subdivide=level).build(petal_grid(rows, points))
    assert mesh.vertices.shape == (r * p, 3) and np.array_equal(mesh.faces, grid_faces(r, p))


def test_planar_grid_stays_planar_and_affine_maps_commute():
    rng = np.random.default_rng(1)
    grid = petal_grid(5, 6)
    grid[..., 2] = 0.3 * grid[..., 0] - 0.7 * grid[..., 1] + 0.2  # on the plane z = 0.3 x - 0.7 y + 0.2
    builder = MeshBuilder(5, 6, subdivide=3)
    v = builder.build(grid).vertices
    assert np.allclose(v[:, 2], 0.3 * v[:, 0] - 0.7 * v[:, 1] + 0.2)
    a, t = rng.normal(size=(3, 3)), rng.normal(size=3)
    assert np.allclose(builder.build(grid @ a.T + t).vertices, v @ a.T + t)


@requires_blender
def test_subdivision_matches_blenders_subdivision_surface_modifier():
    """Blender's modifier at its defaults (limit surface, boundary smooth All, quality 3) on the same grids."""
    cases = [(7, 7, 0), (2, 3, 1), (4, 5, 2)]
    grids = {f"{r}x{p}": petal_grid(r, p, seed) for r, p, seed in cases}
    script = """
for key, (verts, faces) in ARGS.items():
    mesh = bpy.data.meshes.new(key)
    mesh.from_pydata(verts, [], faces)
    obj = bpy.data.objects.new(key, mesh)
    bpy.context.scene.collection.objects.link(obj)
    modifier = obj.modifiers.new("subdivision", "SUBSURF")
    result = {}
    for level in (1, 2, 3):
        modifier.levels = level
        evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        result[level] = [list(v.co) for v in evaluated.to_mesh().vertices]
        evaluated.to_mesh_clear()
    ARGS[key] = result
emit(ARGS)
"""
    args = {key: (g.reshape(-1, 3).tolist(), grid_faces(*g.shape[:2]).tolist()) for key, g in grids.items()}
    blender = run_blender(script, args)
    for key, grid in grids.items():
        for level in (1, 2, 3):
            ours = MeshBuilder(*grid.shape[:2], subdivide=level).build(grid).vertices
            theirs = np.array(blender[key][str(level)])
            assert theirs.shape == ours.shape
            distance, match = cKDTree(theirs).query(ours)
            assert len(set(match)) == len(ours)
            assert distance.max() < 1e-5, (key, level, distance.max())


def test_flower_is_rotated_copies_of_the_petal():
    grid = petal_grid()
    petal = MeshBuilder(7, 7, subdivide=2).build(grid)
    flower = MeshBuilder(7, 7, subdivide=2, petals=5).build(grid)
    n = len(petal.vertices)
    assert flower.vertices.shape == (5 * n, 3) and flower.faces.shape == (5 * len(petal.faces), 4)
    assert np.array_equal(flower.vertices[:n], petal.vertices)
    for k in range(5):
        a = 2 * np.pi * k / 5
        rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        assert np.allclose(flower.vertices[k * n:(k + 1) * n], petal.vertices @ rotation.T)
        assert np.array_equal(flower.faces[k * len(petal.faces):(k + 1) * len(petal.faces)], petal.faces + k * n)


@pytest.mark.parametrize("level, petals", [(0, 1), (2, 3)])
def test_thickness_makes_closed_shells_with_outward_normals(level, petals):
    grid = petal_grid()
    sheet = MeshBuilder(7, 7, subdivide=level).build(grid)
    solid = MeshBuilder(7, 7, subdivide=level, thickness=0.05, petals=petals).build(grid)
    shell = trimesh.Trimesh(solid.vertices, solid.triangles, process=False)
    assert shell.is_watertight and shell.is_winding_consistent
    assert shell.volume > 0  # positive volume: faces wind outward
    assert len(shell.split(only_watertight=True)) == petals
    n = len(sheet.vertices)
    top, bottom = solid.vertices[:n], solid.vertices[n:2 * n]
    assert np.allclose(np.linalg.norm(top - bottom, axis=1), 0.05)
    assert np.allclose((top + bottom) / 2, sheet.vertices)


def test_builder_rejects_bad_settings_and_grids():
    with pytest.raises(GRCError, match="rows"):
        MeshBuilder(1, 7)
    with pytest.raises(GRCError, match="subdivide"):
        MeshBuilder(7, 7, subdivide=4)
    with pytest.raises(GRCError, match="thickness"):
        MeshBuilder(7, 7, thickness=-1)
    with pytest.raises(GRCError, match=r"grid.*\(7, 7, 3\)"):
        MeshBuilder(7, 7).build(np.zeros((7, 6, 3)))


# -- numpy-only operator, flip, flowers ------------------------------------------------------------

@pytest.mark.parametrize("rows, points", [(2, 2), (5, 7), (9, 4)])
def test_the_numpy_subdivision_operator_is_the_sparse_one(rows, points):
    for level in range(4):
        np.testing.assert_allclose(dense_subdivision_operator(rows, points, level),
                                   subdivision_operator(rows, points, level).toarray(), atol=1e-14)


def test_flip_reverses_the_facing_only():
    grid = np.random.default_rng(1).normal(size=(5, 6, 3)) * 0.05 + np.stack(
        np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 6), [0.0], indexing="ij"), -1)[..., 0, :]
    plain, flipped = (MeshBuilder(5, 6, subdivide=1, flip=f).build(grid) for f in (False, True))
    np.testing.assert_array_equal(plain.vertices, flipped.vertices)
    np.testing.assert_array_equal(plain.uvs, flipped.uvs)
    np.testing.assert_allclose(flipped.vertex_normals, -plain.vertex_normals, atol=1e-12)
    shell, flipped_shell = (MeshBuilder(5, 6, thickness=0.1, flip=f).build(grid) for f in (False, True))
    assert trimesh_volume(shell) > 0 and np.isclose(trimesh_volume(flipped_shell), trimesh_volume(shell), rtol=0.05)  # outward


def trimesh_volume(mesh):
    """Signed volume of a closed quad mesh: positive when its normals point outward."""
    v = mesh.vertices[mesh.triangles]
    return np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6


def test_a_flower_of_one_petal_is_the_petal_and_petals_keep_their_old_places():
    grid = np.random.default_rng(2).normal(size=(4, 5, 3))
    np.testing.assert_allclose(MeshBuilder(4, 5, flower=Flower()).build(grid).vertices, grid.reshape(-1, 3))
    old = MeshBuilder(4, 5, subdivide=1, petals=5).build(grid).vertices
    np.testing.assert_allclose(MeshBuilder(4, 5, subdivide=1, flower=Flower(petals=5)).build(grid).vertices, old,
                               atol=1e-12)


def test_base_radius_tilt_and_rings_place_petals():
    grid = np.zeros((2, 2, 3))
    grid[1, :, 0] = 1.0  # a petal from the origin to x = 1
    flower = Flower(petals=4, base_radius=0.5, tilt=90, rings=2, ring_scale=0.5)
    mesh = MeshBuilder(2, 2, flower=flower).build(grid)
    v = mesh.vertices.reshape(8, 4, 3)
    np.testing.assert_allclose(v[0, 0], [0.5, 0, 0], atol=1e-12)  # its base out at the radius
    np.testing.assert_allclose(v[0, 2], [0.5, 0, 1], atol=1e-12)  # tilted up to +Z
    np.testing.assert_allclose(v[4, 0], 0.25 * np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0]), atol=1e-12)
    np.testing.assert_allclose(v[4, 2] - v[4, 0], [0, 0, 0.5], atol=1e-12)  # the inner ring at half size
    assert len(mesh.uvs) == len(mesh.vertices) == 8 * 4


def test_per_petal_variation_is_seeded_and_keeps_the_blends_form():
    flower = Flower(petals=3, rings=2, vary_time=0.1, vary_blend=0.2, seed=7)
    settings = flower.petal_settings(0.5, 0.3, 2)
    assert len(settings) == 6 and settings == flower.petal_settings(0.5, 0.3, 2)
    assert all(abs(t - 0.5) <= 0.1 and abs(b - 0.3) <= 0.2 for t, b in settings)
    assert len({t for t, _ in settings}) == 6
    weights = Flower(petals=3, vary_blend=0.2, seed=7).petal_settings(0.5, np.array([0.2, 0.5, 0.3]), 3)
    assert all(np.isclose(w.sum(), 1.0) for _, w in weights)
    two = Flower(petals=3, vary_blend=0.2, seed=7)  # α moves as the second weight would
    for (_, alpha), (_, w) in zip(two.petal_settings(0.5, 0.3, 2), two.petal_settings(0.5, np.array([0.7, 0.3]), 2)):
        assert np.isclose(alpha, w[1]) and np.isclose(w.sum(), 1.0)
    assert Flower(petals=3, vary_time=0.1, seed=8).petal_settings(0.5, 0.3, 2) != settings


@pytest.mark.parametrize("options, message", [
    (dict(petals=0), "petals: expected a value from 1 to 64"),
    (dict(rings=17), "rings: expected a value from 1 to 16"),
    (dict(tilt=float("nan")), "tilt: expected a finite number"),
    (dict(vary_time=-1), "vary_time: expected a value from 0 to 10"),
    (dict(ring_scale=0), "ring_scale"),
])
def test_flower_options_are_checked(options, message):
    with pytest.raises(GRCError, match=message):
        Flower(**options)
