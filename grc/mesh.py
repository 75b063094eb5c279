"""Grid → surface: quad faces, Catmull-Clark subdivision as a sparse linear operator, thickness, flowers.

A grid is (rows, points, 3), Z-up as in Blender: row 0 is a petal's base at the origin, the last row its
tip, and the petal opens along +X. Vertex k of a sheet is grid point (k // points, k % points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import GRCError
from .limits import MAX_EXPORT_VERTICES, MAX_MORPH_SAMPLES, MAX_PETALS, MAX_POINTS, MAX_SUBDIVIDE, MAX_THICKNESS, number

if TYPE_CHECKING:
    import scipy.sparse as sp
BLENDER_QUALITY = 3  # the Subdivision Surface modifier's default quality


@dataclass(frozen=True, eq=False)
class Mesh:
    """A quad mesh: vertices (V, 3) float64 and faces (F, 4) vertex indices, one winding throughout."""

    vertices: np.ndarray
    faces: np.ndarray
    incidence: "sp.csr_matrix | None" = field(default=None, repr=False)  # vertex-face matrix, made when None

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
    v = vertices
    a, b = v[faces[:, 2]] - v[faces[:, 0]], v[faces[:, 3]] - v[faces[:, 1]]
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


def check_options(rows, points, subdivide=0, thickness=0.0, petals=1, frames=1) -> int:
    """Check a mesh's options against grc.limits before any work; returns the vertex count of all
    `frames` together, which must stay within MAX_EXPORT_VERTICES. Whole numbers must be integers."""
    for name, value, low, high in (("rows", rows, 2, MAX_MORPH_SAMPLES), ("points", points, 2, MAX_POINTS),
                                   ("subdivide", subdivide, 0, MAX_SUBDIVIDE), ("petals", petals, 1, MAX_PETALS)):
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
    by 360°/petals each, petal 0 unrotated.
    """

    def __init__(self, rows: int, points: int, subdivide: int = 0, thickness: float = 0.0, petals: int = 1):
        check_options(rows, points, subdivide, thickness, petals)
        self.shape = (rows, points, 3)
        self.thickness = float(thickness)
        self.operator = subdivision_operator(rows, points, subdivide)  # (V, rows * points)
        sheet = grid_faces(*subdivided_size(rows, points, subdivide))
        n = self.operator.shape[0]
        faces = sheet
        if self.thickness > 0:
            self._sheet, self._incidence = sheet, _incidence(sheet, n)
            u, v = _boundary_edges(sheet).T
            faces = np.concatenate([sheet, sheet[:, ::-1] + n, np.stack([v, u, u + n, v + n], axis=1)])
            n *= 2
        angles = 2 * np.pi * np.arange(petals) / petals
        rotations = np.array([[[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]] for a in angles])
        self._rotations_t = rotations.transpose(0, 2, 1)  # (petals, 3, 3): row vectors times R^T
        self.faces = np.concatenate([faces + k * n for k in range(petals)])
        self.faces.flags.writeable = False
        self._mesh_incidence = _incidence(self.faces, n * petals)  # every mesh it builds shares it (normals)

    def build(self, grid) -> Mesh:
        """The mesh of one grid (rows, points, 3): a sparse product, an optional offset, a rotation per petal."""
        grid = np.asarray(grid, dtype=np.float64)
        if grid.shape != self.shape:
            raise GRCError(f"expected a grid of shape {self.shape}, got {grid.shape}", field="grid")
        petal = self.operator @ grid.reshape(-1, 3)  # (V, 3)
        if self.thickness > 0:
            offset = _vertex_normals(petal, self._sheet, self._incidence) * (self.thickness / 2)
            petal = np.concatenate([petal + offset, petal - offset])
        return Mesh((petal @ self._rotations_t).reshape(-1, 3), self.faces, self._mesh_incidence)
