"""Grid → surface: quad faces, Catmull-Clark subdivision as a sparse linear operator, UVs, thickness, flowers.

A grid is (rows, points, 3), Z-up as in Blender: row 0 is a petal's base at the origin, the last row its
tip, and the petal opens along +X. Vertex k of a sheet is grid point (k // points, k % points).
UVs come from the grid: u along a row (point 0 → 0, the last point → 1), v along morph (row 0 → 0, the
last row → 1); subdivision keeps them as Blender's Subdivision Surface does at its default UV smoothing
("Keep Boundaries"): on a grid that is again the uniform grid of the subdivided size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import GRCError
from .limits import (MAX_BLEND, MAX_EXPORT_VERTICES, MAX_MAP_VALUE, MAX_MORPH_SAMPLES, MAX_PETALS, MAX_POINTS,
                     MAX_SUBDIVIDE, MAX_THICKNESS, number)

if TYPE_CHECKING:
    import scipy.sparse as sp
BLENDER_QUALITY = 3  # the Subdivision Surface modifier's default quality
MAX_RINGS = 16  # rings of petals in a flower
MAX_BASE_RADIUS = 1e3
MAX_VARY = 10.0  # per-petal variation of time or blend


@dataclass(frozen=True, eq=False)
class Mesh:
    """A quad mesh: vertices (V, 3) float64 and faces (F, 4) vertex indices, one winding throughout."""

    vertices: np.ndarray
    faces: np.ndarray
    incidence: "sp.csr_matrix | None" = field(default=None, repr=False)  # vertex-face matrix, made when None
    uvs: np.ndarray | None = field(default=None, repr=False)  # (V, 2) per vertex, see grid_uvs()

    @property
    def triangles(self) -> np.ndarray:
        """The quads as triangles, (2F, 3); see triangulate()."""
        return triangulate(self.faces)

    @property
    def vertex_normals(self) -> np.ndarray:
        """Unit normal per vertex, (V, 3): the area-weighted mean of the normals of its quads."""
        incidence = self.incidence if self.incidence is not None else _incidence(self.faces, len(self.vertices))
        return _vertex_normals(self.vertices, self.faces, incidence)


def triangulate(quads) -> np.ndarray:
    """Each quad (a, b, c, d) split into (a, b, c) and (a, c, d), keeping its winding; (2F, 3)."""
    quads = np.asarray(quads)
    return np.stack([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], axis=1).reshape(-1, 3)


def grid_faces(rows: int, points: int) -> np.ndarray:
    """Quads of a rows x points grid in row-major order, (F, 4); normals point along d(row) x d(point)."""
    index = np.arange(rows * points).reshape(rows, points)
    a, b, c, d = index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]
    return np.stack([a, b, c, d], axis=-1).reshape(-1, 4)


def grid_uvs(rows: int, points: int) -> np.ndarray:
    """UVs of a rows x points grid, one per vertex in row-major order, (rows * points, 2): u = point / (points - 1)
    along a row, v = row / (rows - 1) along morph. A subdivided grid's UVs are grid_uvs of its size, as
    Blender's Subdivision Surface makes them at its default UV smoothing, Keep Boundaries (checked in Blender)."""
    v, u = np.meshgrid(np.linspace(0, 1, rows), np.linspace(0, 1, points), indexing="ij")
    return np.stack([u, v], axis=-1).reshape(-1, 2)


def subdivided_size(rows: int, points: int, level: int) -> tuple[int, int]:
    """Grid size after `level` Catmull-Clark steps: every quad becomes 2^level x 2^level quads."""
    return (rows - 1) * 2**level + 1, (points - 1) * 2**level + 1


def subdivision_operator(rows: int, points: int, level: int) -> sp.csr_matrix:
    """Sparse (V_level, rows * points) matrix mapping grid points to the subdivided grid's vertices.

    Matches Blender's Subdivision Surface defaults: Catmull-Clark `level` times with boundary smooth
    "All" (the boundary, corners included, is a closed cubic B-spline), then each vertex moved onto
    the limit surface. Level 0 is the identity, as a modifier at level 0 does nothing.
    One exception, measured in Blender 5.0: at its default quality 3 Blender leaves each grid corner
    where BLENDER_QUALITY refinement steps put it, short of its limit (the gap shrinks 4x per quality
    step); we do the same, so every vertex equals Blender's to float precision.
    """
    import scipy.sparse as sp  # only where operators are built: the Blender add-on ships this module

    if level == 0:
        return sp.identity(rows * points, format="csr")
    operator, size = sp.identity(rows * points, format="csr"), (rows, points)
    for step in range(1, max(level, BLENDER_QUALITY) + 1):
        operator = _refine(*size) @ operator
        size = subdivided_size(*size, 1)
        if step == level:
            surface = (_limit(*size) @ operator).tolil()
            surface_corners = _corners(*size)
    surface[surface_corners] = operator[_corners(*size)]
    return surface.tocsr()


def dense_subdivision_operator(rows: int, points: int, level: int) -> np.ndarray:
    """subdivision_operator as a dense numpy array (V_level, rows * points), built with numpy alone (the
    Blender add-on's coherence verdict uses it): the same stencils applied to the grid's identity."""
    size = rows * points
    return subdivide_values(np.eye(size).reshape(rows, points, size), level).reshape(-1, size)


def subdivide_values(values, level: int) -> np.ndarray:
    """Values on a grid (rows, points, C) subdivided as subdivision_operator subdivides a grid's points, with
    numpy alone and no operator: the stencils applied to the values themselves, (R_level, P_level, C). For one
    grid of any size this is cheap (the operator of a 64 x 64 grid at level 2 would hold 1e9 entries)."""
    values = np.asarray(values, float)
    if level == 0:
        return values.copy()
    near = np.array([0, 1, -2, -1])  # past the level only the corners move on, each from itself and its two
    for step in range(1, max(level, BLENDER_QUALITY) + 1):  # neighbours along the border: those rows and columns
        values = _refine_values(values)
        if step == level:
            surface = _limit_values(values)
        if step >= level:
            values = values[np.ix_(near, near)]
    surface[[0, 0, -1, -1], [0, -1, 0, -1]] = values[[0, 0, -1, -1], [0, -1, 0, -1]]  # as subdivision_operator
    return surface


def _refine_values(g) -> np.ndarray:
    """One Catmull-Clark step of values on a grid (rows, points, C), as _refine's stencils (numpy only)."""
    rows, points = g.shape[:2]
    out = np.empty((2 * rows - 1, 2 * points - 1, g.shape[2]))
    out[1::2, 1::2] = 0.25 * (g[:-1, :-1] + g[:-1, 1:] + g[1:, :-1] + g[1:, 1:])  # face points
    row_edges = 0.5 * (g[:, :-1] + g[:, 1:])  # edges along a row, (rows, points - 1)
    row_edges[1:-1] = 0.75 * row_edges[1:-1] + 0.0625 * (g[:-2, :-1] + g[:-2, 1:] + g[2:, :-1] + g[2:, 1:])
    out[::2, 1::2] = row_edges
    column_edges = 0.5 * (g[:-1] + g[1:])  # edges along a column, (rows - 1, points)
    column_edges[:, 1:-1] = 0.75 * column_edges[:, 1:-1] + 0.0625 * (g[:-1, :-2] + g[1:, :-2] + g[:-1, 2:] + g[1:, 2:])
    out[1::2, ::2] = column_edges
    vertices = g.copy()
    vertices[1:-1, 1:-1] = (9 / 16 * g[1:-1, 1:-1] + 3 / 32 * (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:])
                            + 1 / 64 * (g[:-2, :-2] + g[:-2, 2:] + g[2:, :-2] + g[2:, 2:]))
    _boundary_rule(vertices, g, 0.75, 0.125)
    out[::2, ::2] = vertices
    return out


def _limit_values(g) -> np.ndarray:
    """Values moved to their limit positions, as _limit's stencils (numpy only)."""
    out = g.copy()
    out[1:-1, 1:-1] = (4 / 9 * g[1:-1, 1:-1] + 1 / 9 * (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:])
                       + 1 / 36 * (g[:-2, :-2] + g[:-2, 2:] + g[2:, :-2] + g[2:, 2:]))
    _boundary_rule(out, g, 2 / 3, 1 / 6)
    return out


def _boundary_rule(out, g, centre, side):
    """Boundary vertices of out: centre · itself + side · each of its two neighbours along the boundary loop."""
    for i in sorted({0, len(g) - 1}):  # top and bottom rows, without their corners
        out[i, 1:-1] = centre * g[i, 1:-1] + side * (g[i, :-2] + g[i, 2:])
    for j in sorted({0, g.shape[1] - 1}):  # first and last columns, without their corners
        out[1:-1, j] = centre * g[1:-1, j] + side * (g[:-2, j] + g[2:, j])
    for i, di in ((0, 1), (len(g) - 1, -1)):  # corners: the neighbours along its row and its column
        for j, dj in ((0, 1), (g.shape[1] - 1, -1)):
            out[i, j] = centre * g[i, j] + side * (g[i + di, j] + g[i, j + dj])


def _corners(rows, points) -> list[int]:
    """Vertex indices of a grid's four corners."""
    return [0, points - 1, (rows - 1) * points, rows * points - 1]


def _stencil_matrix(size_out, size_in, stencil) -> sp.csr_matrix:
    """Sparse matrix whose row (i, j) holds stencil(i, j) = [((row, point), weight), ...] of the input grid."""
    import scipy.sparse as sp  # only where operators are built: the Blender add-on ships this module

    rows, cols, weights = [], [], []
    for i in range(size_out[0]):
        for j in range(size_out[1]):
            for (k, m), w in stencil(i, j):
                rows.append(i * size_out[1] + j)
                cols.append(k * size_in[1] + m)
                weights.append(w)
    shape = (size_out[0] * size_out[1], size_in[0] * size_in[1])
    return sp.csr_matrix((weights, (rows, cols)), shape=shape)  # duplicates add up


def _boundary_neighbours(i, j, rows, points):
    """The two neighbours of a boundary vertex along the boundary loop; empty for an inner vertex."""
    along_row = [(i, j - 1), (i, j + 1)] if i in (0, rows - 1) else []
    along_column = [(i - 1, j), (i + 1, j)] if j in (0, points - 1) else []
    return [(k, m) for k, m in along_row + along_column if 0 <= k < rows and 0 <= m < points]


def _ring(i, j, edge_weight, corner_weight):
    """Weights on the 4 edge neighbours and the 4 diagonal neighbours of an inner vertex."""
    edges = [((i + di, j + dj), edge_weight) for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))]
    return edges + [((i + di, j + dj), corner_weight) for di in (-1, 1) for dj in (-1, 1)]


def _refine(rows, points) -> sp.csr_matrix:
    """One Catmull-Clark step on an open quad grid, boundary edges as creases (Blender's "All")."""

    def stencil(i2, j2):
        i, j = i2 // 2, j2 // 2
        if i2 % 2 and j2 % 2:  # face point
            return [((i + di, j + dj), 0.25) for di in (0, 1) for dj in (0, 1)]
        if j2 % 2:  # edge point on the edge (i, j)-(i, j + 1)
            if i in (0, rows - 1):
                return [((i, j), 0.5), ((i, j + 1), 0.5)]
            sides = [((i + di, j + dj), 1 / 16) for di in (-1, 1) for dj in (0, 1)]
            return [((i, j), 3 / 8), ((i, j + 1), 3 / 8)] + sides
        if i2 % 2:  # edge point on the edge (i, j)-(i + 1, j)
            if j in (0, points - 1):
                return [((i, j), 0.5), ((i + 1, j), 0.5)]
            sides = [((i + di, j + dj), 1 / 16) for di in (0, 1) for dj in (-1, 1)]
            return [((i, j), 3 / 8), ((i + 1, j), 3 / 8)] + sides
        boundary = _boundary_neighbours(i, j, rows, points)
        if boundary:  # crease vertex: cubic B-spline along the boundary
            return [((i, j), 0.75)] + [(n, 0.125) for n in boundary]
        return [((i, j), 9 / 16)] + _ring(i, j, 3 / 32, 1 / 64)

    return _stencil_matrix(subdivided_size(rows, points, 1), (rows, points), stencil)


def _limit(rows, points) -> sp.csr_matrix:
    """Moves every vertex to its limit position (Blender's "Use Limit Surface")."""

    def stencil(i, j):
        boundary = _boundary_neighbours(i, j, rows, points)
        if boundary:
            return [((i, j), 2 / 3)] + [(n, 1 / 6) for n in boundary]
        return [((i, j), 4 / 9)] + _ring(i, j, 1 / 9, 1 / 36)

    return _stencil_matrix((rows, points), (rows, points), stencil)


def _incidence(faces, n_vertices) -> sp.csr_matrix:
    """Sparse (V, F) matrix with a 1 where vertex v is a corner of face f."""
    import scipy.sparse as sp  # only where operators are built: the Blender add-on ships this module

    face_of_corner = np.repeat(np.arange(len(faces)), faces.shape[1])
    return sp.csr_matrix((np.ones(faces.size), (faces.ravel(), face_of_corner)), shape=(n_vertices, len(faces)))


def _vertex_normals(vertices, faces, incidence) -> np.ndarray:
    """Unit vertex normals from quads; a quad's diagonal cross product is twice its area along its normal."""
    v, (c0, c1, c2, c3) = vertices, faces.T[:4]
    take = np.take  # (the same corners as v[faces[:, 2]], in a third of the time: each Sketch drag move needs them)
    a, b = take(v, c2, axis=0) - take(v, c0, axis=0), take(v, c3, axis=0) - take(v, c1, axis=0)
    face_normals = np.empty_like(a)  # a x b, written out (np.cross costs more than the rest of this together)
    face_normals[:, 0] = a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1]
    face_normals[:, 1] = a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2]
    face_normals[:, 2] = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    normals = incidence @ face_normals  # (V, 3)
    length = np.sqrt(np.einsum("ij,ij->i", normals, normals))[:, None]
    return normals / np.where(length > 0, length, 1.0)


def _boundary_edges(faces) -> np.ndarray:
    """Directed edges (u, v), as the faces wind them, that no other face shares; (E, 2)."""
    edges = np.stack([faces, np.roll(faces, -1, axis=1)], axis=-1).reshape(-1, 2)
    inner = set(map(tuple, edges.tolist()))
    return np.array([e for e in edges.tolist() if (e[1], e[0]) not in inner]).reshape(-1, 2)


@dataclass(frozen=True)
class Flower:
    """How petals are arranged: one dataclass of options shared by the library, the CLI, the app and the add-on.

    petals: petals per ring, turned about Z by 360°/petals each (petal 0 of ring 0 unturned).
    base_radius: each petal's base moves this far out from the Z axis (along its own +X).
    tilt: degrees each petal turns up (towards +Z) about the horizontal axis through its base; negative droops.
    rings: rings of petals; ring r is scaled by ring_scale**r (its base radius too), turned by
    r · ring_rotation degrees (None: half a petal's step, so the petals of the next ring sit between) and
    tilted by r · ring_tilt degrees more.
    vary_time / vary_blend: each petal's time and blend move by up to this much (uniform in [-v, v], seeded
    by `seed`; a blend of K weights moves by a zero-sum vector, α by the same amount), so petals differ.
    Flower() is one petal as it comes from the model.
    """

    petals: int = 1
    base_radius: float = 0.0
    tilt: float = 0.0
    rings: int = 1
    ring_scale: float = 0.8
    ring_rotation: float | None = None
    ring_tilt: float = 0.0
    vary_time: float = 0.0
    vary_blend: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for name, low, high in (("petals", 1, MAX_PETALS), ("rings", 1, MAX_RINGS), ("seed", 0, 2**32 - 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
                raise GRCError(f"expected a whole number, got {value!r}", field=name)
            number(value, name, low=low, high=high, integer=True)
        for name, low, high in (("base_radius", -MAX_BASE_RADIUS, MAX_BASE_RADIUS), ("tilt", -360, 360),
                                ("ring_scale", 1e-3, 1e3), ("ring_tilt", -360, 360),
                                ("vary_time", 0, MAX_VARY), ("vary_blend", 0, MAX_VARY)):
            number(getattr(self, name), name, low=low, high=high)
        if self.ring_rotation is not None:
            number(self.ring_rotation, "ring_rotation", low=-360, high=360)

    @property
    def count(self) -> int:
        """Petals in all rings together."""
        return self.petals * self.rings

    @property
    def varies(self) -> bool:
        """Whether petals have times or blends of their own (else one grid serves them all)."""
        return self.vary_time > 0 or self.vary_blend > 0

    def placements(self) -> tuple[np.ndarray, np.ndarray]:
        """Each petal's linear map and offset, ring by ring: ((count, 3, 3), (count, 3)); a petal's point p
        goes to L @ p + offset. Petal order: ring, then petal."""
        turn = 360.0 / self.petals
        ring_rotation = turn / 2 if self.ring_rotation is None else self.ring_rotation
        linear, offsets = [], []
        for r in range(self.rings):
            scale, tilt = self.ring_scale ** r, math.radians(self.tilt + r * self.ring_tilt)
            # turn up about the base's horizontal axis: +X towards +Z
            lift = np.array([[math.cos(tilt), 0, -math.sin(tilt)], [0, 1, 0], [math.sin(tilt), 0, math.cos(tilt)]])
            for k in range(self.petals):
                a = 2 * np.pi * k / self.petals + math.radians(r * ring_rotation if r else 0.0)
                around = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
                linear.append(scale * around @ lift if (tilt or scale != 1) else around)
                offsets.append(around @ np.array([self.base_radius * scale, 0.0, 0.0]))
        return np.array(linear), np.array(offsets)

    def petal_settings(self, time: float, blend, K: int) -> list[tuple[float, object]]:
        """(time, blend) of each petal, ring by ring: the given ones, moved by the seeded variation.
        `blend` is α (two templates, a number) or K weights; each petal's blend has the same form."""
        if not self.varies:
            return [(time, blend)] * self.count
        rng = np.random.default_rng(self.seed)
        draws = rng.uniform(-1.0, 1.0, size=(self.count, 1 + K))
        # a petal varied past a limit is taken at it (a blend of 100 varied by 1 was refused as "blend: expected values
        # from -100 to 100, got 100.099", which the user had not asked for)
        times = np.clip(float(time) + self.vary_time * draws[:, 0], -MAX_MAP_VALUE, MAX_MAP_VALUE)
        moves = self.vary_blend * (draws[:, 1:] - draws[:, 1:].mean(axis=1, keepdims=True))  # zero-sum weights
        if blend is None:  # a raw context path (a look's): only the time varies
            return [(float(t), None) for t in times]
        if np.ndim(blend) == 0:  # α = the second template's weight: it moves as that weight does
            return [(float(t), float(np.clip(float(blend) + float(m[1] if K > 1 else 0.0), -MAX_BLEND, MAX_BLEND)))
                    for t, m in zip(times, moves)]
        weights = np.asarray(blend, float)
        return [(float(t), np.clip(weights + m, -MAX_BLEND, MAX_BLEND)) for t, m in zip(times, moves)]

    def grids(self, shape, time: float, blend, K: int) -> np.ndarray:
        """Each petal's grid, (count, rows, points, 3), from shape(time, blend) -> grid; when nothing varies,
        one call and one grid for all petals, (1, rows, points, 3) (MeshBuilder.build and place take either)."""
        if not self.varies:
            return np.asarray(shape(time, blend), float)[None]
        return np.stack([np.asarray(shape(t, b), float) for t, b in self.petal_settings(time, blend, K)])

    def place(self, petals) -> np.ndarray:
        """Petal vertices (count, V, 3), or one petal's (1, V, 3) for all, placed around the flower: (count · V, 3)."""
        linear, offsets = self.placements()
        petals = np.broadcast_to(np.asarray(petals, float), (self.count, *np.shape(petals)[1:]))
        return (np.einsum("pvj,pij->pvi", petals, linear) + offsets[:, None, :]).reshape(-1, 3)

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def check_options(rows, points, subdivide=0, thickness=0.0, petals=1, frames=1) -> int:
    """Check a mesh's options against grc.limits before any work; returns the vertex count of all
    `frames` together, which must stay within MAX_EXPORT_VERTICES. Whole numbers must be integers.
    `petals` counts every petal of a flower (Flower.count: petals per ring times rings)."""
    for name, value, low, high in (("rows", rows, 2, MAX_MORPH_SAMPLES), ("points", points, 2, MAX_POINTS),
                                   ("subdivide", subdivide, 0, MAX_SUBDIVIDE),
                                   ("petals", petals, 1, MAX_PETALS * MAX_RINGS)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
            raise GRCError(f"expected a whole number, got {value!r}", field=name)
        number(value, name, low=low, high=high, integer=True)
    number(thickness, "thickness", low=0, high=MAX_THICKNESS)
    r, p = subdivided_size(int(rows), int(points), int(subdivide))
    vertices = r * p * (2 if thickness > 0 else 1) * int(petals) * int(frames)
    if vertices > MAX_EXPORT_VERTICES:
        raise GRCError(f"{vertices:,} vertices; the limit for one export is {MAX_EXPORT_VERTICES:,} "
                       f"(use less subdivision, fewer petals, frames or morph samples)", field="export")
    return vertices


class MeshBuilder:
    """Turns grids of one size into meshes; everything fixed is precomputed so build() is cheap.

    subdivide: Catmull-Clark levels 0-3. thickness: > 0 makes each petal a closed shell, the surface
    offset by ±thickness/2 along its vertex normals, normals outward. petals: copies rotated about Z
    by 360°/petals each, petal 0 unrotated; `flower` (a Flower) arranges them instead, with base radius,
    tilt and rings. flip: the surface faces the other way (every quad's winding reversed, its first corner
    and so its triangles' diagonal kept; a model keeps
    this as GRCModel.flip_normals). Every mesh carries UVs (grid_uvs of the subdivided grid, per petal).
    """

    def __init__(self, rows: int, points: int, subdivide: int = 0, thickness: float = 0.0, petals: int = 1,
                 flower: Flower | None = None, flip: bool = False):
        self.flower = Flower(petals=petals) if flower is None else flower
        check_options(rows, points, subdivide, thickness, self.flower.count)
        self.shape = (rows, points, 3)
        self.thickness = float(thickness)
        self.flip = bool(flip)
        self.operator = subdivision_operator(rows, points, subdivide)  # (V, rows * points)
        sheet = grid_faces(*subdivided_size(rows, points, subdivide))
        if self.flip:
            sheet = np.ascontiguousarray(sheet[:, [0, 3, 2, 1]])  # the same diagonal splits it
        n = self.operator.shape[0]
        uvs = grid_uvs(*subdivided_size(rows, points, subdivide))
        faces = sheet
        if self.thickness > 0:
            self._sheet, self._incidence = sheet, _incidence(sheet, n)
            u, v = _boundary_edges(sheet).T
            faces = np.concatenate([sheet, sheet[:, ::-1] + n, np.stack([v, u, u + n, v + n], axis=1)])
            uvs = np.concatenate([uvs, uvs])  # both sides of the shell; its rim's quads have no UV area
            n *= 2
        count = self.flower.count
        self.faces = np.concatenate([faces + k * n for k in range(count)])
        self.faces.flags.writeable = False
        self.uvs = np.tile(uvs, (count, 1))  # (V, 2): every petal the same
        self.uvs.flags.writeable = False
        self._mesh_incidence = _incidence(self.faces, n * count)  # every mesh it builds shares it (normals)
        linear, offsets = self.flower.placements()
        self._linear_t, self._offsets = linear.transpose(0, 2, 1), offsets[:, None, :]  # row vectors times L^T

    def build(self, grid) -> Mesh:
        """The mesh of one grid (rows, points, 3), or of one grid per petal (flower.count, rows, points, 3):
        a sparse product, an optional offset, each petal placed by the flower."""
        grid = np.asarray(grid, dtype=np.float64)
        count = self.flower.count
        if grid.shape == self.shape:
            grid = grid[None]
        if grid.shape[1:] != self.shape or len(grid) not in (1, count):
            raise GRCError(f"expected a grid of shape {self.shape} (or {count} of them, one per petal), "
                           f"got {grid.shape}", field="grid")
        if len(grid) == 1:
            surface = (self.operator @ grid.reshape(-1, 3))[None]  # (1, V, 3)
        else:
            flat = grid.reshape(len(grid), -1, 3).transpose(1, 0, 2).reshape(grid.shape[1] * grid.shape[2], -1)
            surface = (self.operator @ flat).reshape(-1, len(grid), 3).transpose(1, 0, 2)  # (grids, V, 3)
        if self.thickness > 0:
            offset = np.stack([_vertex_normals(s, self._sheet, self._incidence) for s in surface])
            offset *= self.thickness / 2
            surface = np.concatenate([surface + offset, surface - offset], axis=1)
        placed = np.matmul(surface, self._linear_t)  # (count, V, 3), as Flower.place
        if self.flower.base_radius:
            placed += self._offsets
        return Mesh(placed.reshape(-1, 3), self.faces, self._mesh_incidence, self.uvs)
