"""Importers: the article's row layout, per-time-step grid JSON files, and OBJ/PLY grids proved against their faces.

A mesh file becomes a grid only when its faces are exactly the quads of an M x N grid (mechanism 7 of
issue 10): the vertex order is recovered from the quad topology, so Blender's default exports (OBJ in
the mesh's own order, PLY in face-corner order, shuffled indices) all read the same, and anything else
(triangles, a hole, several objects in one file, a wrong --rows) is one line saying what to change.

The grid's orientation (which corner is row 0, point 0; which way the morph rows run):
- a file whose vertices are already in row-major grid order keeps that order;
- otherwise the first time step's geometry decides, as Blender's Grid primitive is numbered: points run
  along the grid axis that follows the earliest world axis (X, then Y, then Z), rows along the other,
  each in the positive direction of the world axis it mostly follows;
- a later time step with the same faces uses the first step's vertex-to-grid mapping; one with other
  faces takes the orientation that lies nearest the previous step's grid.

Numpy and the standard library only: the Blender add-on ships this module.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from . import limits
from .errors import GRCError, printable
from .templates import Template, _array

MESH_SUFFIXES = (".obj", ".ply")
# an exported grid may repeat a vertex once per face corner (4 per vertex at most)
MAX_MESH_VERTICES = 4 * limits.MAX_ROWS * limits.MAX_POINTS
SELECTED_ONLY = 'export only the grid object ("Limit to: Selected Only" in Blender\'s export options)'


def default_map(n: int) -> np.ndarray:
    """Evenly spaced relational-map values from 0 to 1 for `n` samples."""
    return np.linspace(0.0, 1.0, n)


def from_rows(name, rows, time=None, morph=None, scale=1.0, path=None) -> Template:
    """A template from the article's row layout: (T, M, 3N), per row N x, then N y, then N z."""
    rows = _array(rows, 3, path, "rows") if not isinstance(rows, np.ndarray) else rows.astype(float)
    T, M, width = rows.shape
    if width % 3 or width < 6:
        raise GRCError(f"expected rows of 3N numbers (N x, N y, N z values), got {width}", path=path, field="rows")
    points = rows.reshape(T, M, 3, width // 3).transpose(0, 1, 3, 2) * scale
    return _make(name, points, time, morph, path)


def from_grids(name, grids, time=None, morph=None, scale=1.0, path=None) -> Template:
    """A template from one grid per time step, each (M rows, N points, 3)."""
    try:
        points = np.stack([np.asarray(g, dtype=float) for g in grids]) * scale
    except ValueError:
        raise GRCError("expected every time step's grid to have the same number of rows and points",
                       path=path, field="points") from None
    if points.ndim != 4 or points.shape[-1] != 3:
        raise GRCError("expected each grid as [row][point][x, y, z]", path=path, field="points")
    return _make(name, points, time, morph, path)


def _make(name, points, time, morph, path) -> Template:
    T, M = points.shape[:2]
    time = default_map(T) if time is None else np.asarray(time, dtype=float)
    morph = default_map(M) if morph is None else np.asarray(morph, dtype=float)
    return Template(name, time, morph, points, _path=path)


def _read_json(path):
    return limits.parse_json(limits.read_text(path, limits.MAX_TEMPLATE_BYTES, "JSON file"), path=path)


def read_grid_json(path) -> np.ndarray:
    """One time step's grid from a JSON file `[row][point][x, y, z]` (the article's own data)."""
    grid = _array(_read_json(path), 3, path, "points")
    if grid.shape[-1] != 3:
        raise GRCError("expected [row][point][x, y, z]", path=path, field="points")
    return grid


def read_rows_json(path) -> np.ndarray:
    """The article's row layout from a JSON file: [time][morph row][3N numbers]."""
    return _array(_read_json(path), 3, path, "rows")


# -- grids from their faces ------------------------------------------------------------------------


def grid_order(faces, vertex_count: int, rows: int | None = None, vertices=None, *, path=None) -> np.ndarray:
    """The (M, N) vertex indices of a grid mesh in row-major grid order, recovered from its quads.

    `faces`: a sequence of faces (each a sequence of vertex indices) or an (F, 4) int array;
    `vertex_count`: the number of vertices (every one must be on a face); `rows`: the number of morph
    rows M when known (the grid is transposed to fit; a grid with no side of `rows` points is refused);
    `vertices`: optional (vertex_count, 3) coordinates that orient a grid whose numbering is not already
    row-major (see the module's docstring). Without them the numbering orients it: row 0, point 0 is
    the corner with the lowest index and row 0 runs to its lower-numbered neighbour. A row-major
    numbering always gives np.arange(M * N).reshape(M, N).

    Raises GRCError (naming `path`) unless every face is a quad of one M x N grid (M, N >= 2) and
    every vertex is on a face.
    """
    grid = _walk_grid(_quads(faces, path), int(vertex_count), path)
    candidates = _orientations(grid, rows, path)
    for g in candidates:
        if np.array_equal(g.ravel(), np.arange(g.size)):
            return g
    if vertices is not None:
        oriented = _orient_by_geometry(candidates, np.asarray(vertices, dtype=float))
        if oriented is not None:
            return oriented
    return min(candidates, key=lambda g: (g[0, 0], g[0, 1]))


def nearest_orientation(order: np.ndarray, vertices, reference: np.ndarray) -> np.ndarray:
    """Of the orientations of grid `order` with `reference`'s shape, the one whose points lie nearest
    `reference` (M, N, 3): how a later time step with other faces follows the first one."""
    vertices = np.asarray(vertices, dtype=float)
    candidates = [g for g in _orientations(order, None, None) if g.shape == reference.shape[:2]]
    if not candidates:
        raise GRCError(f"expected a grid of {reference.shape[0]} x {reference.shape[1]} points like the first "
                       f"time step, found {order.shape[0]} x {order.shape[1]}", field="vertices")
    return min(candidates, key=lambda g: float(np.sum((vertices[g] - reference) ** 2)))


def _quads(faces, path) -> np.ndarray:
    """Faces as an (F, 4) int array, or a GRCError that says which export setting to change."""
    if isinstance(faces, np.ndarray) and faces.ndim == 2:
        sizes = {faces.shape[1]} if len(faces) else set()
    else:
        faces = [tuple(f) for f in faces]
        sizes = {len(f) for f in faces}
    if not sizes:
        raise GRCError("no faces: expected a grid of quads (export a mesh, not points or edges)",
                       path=path, field="faces")
    if 3 in sizes:
        raise GRCError('has triangles: expected a grid of quads; export with "Triangulated Mesh" off',
                       path=path, field="faces")
    if sizes != {4}:
        raise GRCError(f"has faces of {', '.join(str(s) for s in sorted(sizes - {4}))} corners: expected a grid "
                       "of quads (a Grid or subdivided Plane, without n-gons)", path=path, field="faces")
    try:
        quads = np.asarray(faces, dtype=np.int64).reshape(-1, 4)
    except (OverflowError, ValueError, TypeError):
        raise GRCError("a face refers to a vertex that is not in the file", path=path, field="faces") from None
    if any(len(set(q)) < 4 for q in quads.tolist()):
        raise GRCError("has a face that uses one vertex twice: expected a grid of quads", path=path, field="faces")
    return quads


def _walk_grid(quads: np.ndarray, vertex_count: int, path) -> np.ndarray:
    """Walk the boundary from a corner, then fill the grid cell by cell; prove every face is a cell."""
    def refuse(message):
        return GRCError(message, path=path, field="faces")

    if vertex_count > MAX_MESH_VERTICES:
        raise refuse(f"{vertex_count:,} vertices; the limit for a grid is {limits.MAX_ROWS} x {limits.MAX_POINTS}")
    if quads.min() < 0 or quads.max() >= vertex_count:
        raise refuse(f"a face refers to a vertex that is not in the file ({vertex_count} vertices)")
    used = np.bincount(quads.ravel(), minlength=vertex_count)  # faces at each vertex
    if (used == 0).any():
        raise refuse(f"{int((used == 0).sum())} vertices are on no face (loose vertices or edges); {SELECTED_ONLY}")
    pieces = _pieces(quads, vertex_count)
    if pieces > 1:
        raise refuse(f"{pieces} separate pieces, expected one grid; {SELECTED_ONLY}")
    quad_list = quads.tolist()
    edge_faces: dict[tuple[int, int], list[int]] = {}
    for f, quad in enumerate(quad_list):
        for k in range(4):
            a, b = quad[k], quad[(k + 1) % 4]
            edge_faces.setdefault((a, b) if a < b else (b, a), []).append(f)
    if any(len(fs) > 2 for fs in edge_faces.values()):
        raise refuse("an edge is shared by more than two faces: expected one grid surface")
    corners = np.flatnonzero(used == 1)
    not_grid = refuse(f"{vertex_count} vertices and {len(quads)} quads do not form one rectangular grid "
                      "(a hole, a missing face or a non-grid shape); expected a Grid or subdivided Plane")
    if len(corners) != 4 or (used > 4).any() or (used == 3).any():
        raise not_grid
    boundary: dict[int, list[int]] = {}
    for (a, b), fs in edge_faces.items():
        if len(fs) == 1:
            boundary.setdefault(a, []).append(b)
            boundary.setdefault(b, []).append(a)

    def walk(start, step):  # along the boundary from one corner to the next
        line, previous, current = [start], start, step
        while True:
            line.append(current)
            if used[current] == 1 or len(line) > vertex_count:
                return line
            following = [v for v in boundary.get(current, []) if v != previous]
            if len(following) != 1:
                raise not_grid
            previous, current = current, following[0]

    corner = int(corners[0])
    quad = quad_list[int(np.flatnonzero((quads == corner).any(axis=1))[0])]
    k = quad.index(corner)
    row0, col0 = walk(corner, quad[(k + 1) % 4]), walk(corner, quad[(k + 3) % 4])
    M, N = len(col0), len(row0)
    if M * N != vertex_count or (M - 1) * (N - 1) != len(quads):
        raise not_grid
    grid = np.full((M, N), -1, dtype=np.int64)
    grid[0], grid[:, 0] = row0, col0
    for i in range(M - 1):
        for j in range(N - 1):
            a, b, c = int(grid[i, j]), int(grid[i, j + 1]), int(grid[i + 1, j])
            cell = [quad_list[f] for f in edge_faces.get((a, b) if a < b else (b, a), []) if c in quad_list[f]]
            if len(cell) != 1:
                raise not_grid
            q = cell[0]
            k = q.index(a)
            if {q[(k + 1) % 4], q[(k + 3) % 4]} != {b, c}:
                raise not_grid
            grid[i + 1, j + 1] = q[(k + 2) % 4]
    # the proof: every vertex once, and the file's faces are exactly the grid's cells
    if len(np.unique(grid)) != vertex_count:
        raise not_grid
    cells = np.stack([grid[:-1, :-1], grid[:-1, 1:], grid[1:, 1:], grid[1:, :-1]], axis=-1).reshape(-1, 4)
    if not np.array_equal(_sorted_rows(cells), _sorted_rows(quads)):
        raise not_grid
    return grid


def _sorted_rows(quads: np.ndarray) -> np.ndarray:
    s = np.sort(quads, axis=1)
    return s[np.lexsort(s.T[::-1])]


def _pieces(quads: np.ndarray, vertex_count: int) -> int:
    """Connected pieces of the mesh (union-find over the faces' vertices)."""
    parent = np.arange(vertex_count)

    def root(v):
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for quad in quads.tolist():
        r = root(quad[0])
        for v in quad[1:]:
            rv = root(v)
            if rv != r:
                parent[rv] = r
    return len({root(v) for v in range(vertex_count)})


def _orientations(grid: np.ndarray, rows, path) -> list[np.ndarray]:
    """The grid's 8 orientations (4 corners x 2 directions), those with `rows` morph rows when given."""
    found = []
    for g in (grid, grid.T):
        for flip_rows in (False, True):
            for flip_points in (False, True):
                h = g[::-1] if flip_rows else g
                found.append(np.ascontiguousarray(h[:, ::-1] if flip_points else h))
    if rows is not None:
        fitting = [g for g in found if g.shape[0] == rows]
        if not fitting:
            M, N = sorted(grid.shape)
            raise GRCError(f"the faces make a grid of {M} x {N} points; --rows {rows} fits neither side "
                           f"(use --rows {M} or --rows {N}, or leave it out)", path=path, field="rows")
        found = fitting
    return found


def oriented_like(grids: list[np.ndarray], reference: np.ndarray) -> list[np.ndarray]:
    """The grids (each (M, N, 3), one template's time steps) all turned the same way: of the eight ways
    to walk a grid (rows and points flipped, swapped when the sizes allow), the one that puts them nearest
    `reference` (T', M', N', 3), a template of the set they join: step by step when the counts agree (a
    bud at the first step says little), else the last against the last. Unchanged when no way fits."""
    pairs = list(zip(grids, reference)) if len(grids) == len(reference) else [(grids[-1], reference[-1])]

    def turned(g, swap, flip_rows, flip_points):
        return (np.swapaxes(g, 0, 1) if swap else g)[::-1 if flip_rows else 1, ::-1 if flip_points else 1]

    ways = [(s, r, p) for s in (False, True) for r in (False, True) for p in (False, True)
            if turned(grids[0], s, r, p).shape == reference.shape[1:]]
    if not ways:
        return grids
    best = min(ways, key=lambda w: sum(float(np.sum((turned(g, *w) - ref) ** 2)) for g, ref in pairs))
    return [np.ascontiguousarray(turned(g, *best)) for g in grids]


def _orient_by_geometry(candidates, vertices) -> np.ndarray | None:
    """The orientation in which points run along the earliest world axis and rows along the next,
    both positive (Blender's Grid primitive numbering); None when the geometry cannot tell."""
    def direction_key(d):  # (dominant world axis, how far it is off that axis)
        norm = float(np.linalg.norm(d))
        if not norm > 1e-12:
            return None
        axis = int(np.argmax(np.abs(d)))
        return axis, -abs(d[axis]) / norm, d[axis] > 0

    best, best_key = None, None
    for g in candidates:
        p = vertices[g]  # (M, N, 3)
        along_points = direction_key((p[:, -1] - p[:, 0]).mean(axis=0))
        along_rows = direction_key((p[-1] - p[0]).mean(axis=0))
        if along_points is None or along_rows is None:
            return None
        if not (along_points[2] and along_rows[2]):
            continue
        key = (along_points[:2], along_rows[:2])
        if best_key is None or key < best_key:
            best, best_key = g, key
    return best


# -- mesh files ------------------------------------------------------------------------------------


def read_mesh(path) -> tuple[np.ndarray, list]:
    """Vertices (V, 3) in Blender's Z-up coordinates and faces of an OBJ or PLY file, read with a size cap."""
    path = Path(path)
    data = limits.read_bytes(path, limits.MAX_MESH_BYTES, "mesh file")
    if path.suffix.lower() == ".obj":
        vertices, faces = _parse_obj(data, path)
        return vertices[:, [0, 2, 1]] * [1, -1, 1], faces  # OBJ is Y-up: (x, y, z) -> Blender (x, -z, y)
    return _parse_ply(data, path)


def _parse_obj(data: bytes, path) -> tuple[np.ndarray, list]:
    vertices, faces, objects = [], [], []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "v":
                vertices.append([float(v) for v in parts[1:4]])
                if len(vertices[-1]) != 3:
                    raise ValueError
                if len(vertices) > MAX_MESH_VERTICES:
                    raise GRCError(f"more than {MAX_MESH_VERTICES:,} vertices; a grid has at most "
                                   f"{limits.MAX_ROWS} x {limits.MAX_POINTS}", path=path)
            elif parts[0] == "f":
                face = [int(corner.split("/")[0]) for corner in parts[1:]]
                faces.append([i - 1 if i > 0 else len(vertices) + i for i in face])
                if not objects:
                    objects.append("")
            elif parts[0] == "o":
                objects.append(" ".join(parts[1:]))
        except ValueError:
            raise GRCError(f"line {number}: cannot read {printable(line, 60)!r}", path=path) from None
    named = [o for o in objects if o]
    if len(objects) > 1:
        raise GRCError(f"holds {len(objects)} objects ({printable(', '.join(named), 80)}), expected one grid; "
                       f"{SELECTED_ONLY}", path=path)
    return _finite(np.array(vertices, dtype=float).reshape(-1, 3), path), faces


PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
             "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
             "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def _parse_ply(data: bytes, path) -> tuple[np.ndarray, list]:
    def bad(message):
        return GRCError(f"not a PLY file Blender writes ({message})", path=path)

    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise bad("no PLY header")
    body_start = data.find(b"\n", end) + 1
    header = data[:end].decode("ascii", errors="replace").splitlines()
    fmt, elements = None, []  # elements: [name, count, [(name, type) or (name, count type, item type)]]
    for line in header[1:]:
        parts = line.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        try:
            if parts[0] == "format":
                fmt = parts[1]
            elif parts[0] == "element":
                elements.append([parts[1], int(parts[2]), []])
            elif parts[0] == "property" and parts[1] == "list":
                elements[-1][2].append((parts[4], PLY_TYPES[parts[2]], PLY_TYPES[parts[3]]))
            elif parts[0] == "property":
                elements[-1][2].append((parts[2], PLY_TYPES[parts[1]]))
            else:
                raise bad(f"header line {printable(line, 60)!r}")
        except (IndexError, KeyError, ValueError):
            raise bad(f"header line {printable(line, 60)!r}") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise bad(f"format {printable(fmt, 40)!r}")
    for name, count, _ in elements:
        if count < 0 or count > MAX_MESH_VERTICES:
            raise GRCError(f"{count:,} {printable(name, 40)} elements; a grid has at most "
                           f"{limits.MAX_ROWS} x {limits.MAX_POINTS} vertices", path=path)
    body = data[body_start:]
    order = "<" if fmt == "binary_little_endian" else ">"
    tokens = body.split() if fmt == "ascii" else None
    position, vertices, faces = 0, None, []
    try:
        for name, count, props in elements:
            if tokens is not None:
                values, position = _ply_ascii(tokens, position, count, props)
            else:
                values, position = _ply_binary(body, position, count, props, order)
            if name == "vertex":
                columns = [p[0] for p in props]
                if not {"x", "y", "z"} <= set(columns):
                    raise bad("vertices without x, y, z")
                vertices = np.stack([np.asarray(values[c], dtype=float) for c in "xyz"], axis=1)
            elif name == "face":
                lists = [p[0] for p in props if len(p) == 3]
                if not lists:
                    raise bad("faces without vertex indices")
                faces = values[lists[0]]
    except (IndexError, ValueError, struct.error):
        raise bad("the data ends early or does not match the header") from None
    if vertices is None:
        raise bad("no vertices")
    return _finite(vertices, path), faces


def _ply_ascii(tokens, position, count, props):
    columns = {p[0]: [] for p in props}
    for _ in range(count):
        for p in props:
            if len(p) == 3:
                n = int(tokens[position])
                columns[p[0]].append([int(t) for t in tokens[position + 1:position + 1 + n]])
                position += 1 + n
            else:
                columns[p[0]].append(float(tokens[position]))
                position += 1
    if count and position > len(tokens):
        raise IndexError
    return columns, position


def _ply_binary(body, position, count, props, order):
    if all(len(p) == 2 for p in props):  # fixed records: one numpy read
        dtype = np.dtype([(p[0], order + p[1]) for p in props])
        if position + count * dtype.itemsize > len(body):
            raise ValueError
        records = np.frombuffer(body, dtype, count, position)
        return {p[0]: records[p[0]] for p in props}, position + count * dtype.itemsize
    first = props[0]
    if len(props) == 1 and count:  # faces all of one size (Blender's quads): one numpy read
        size = int(np.frombuffer(body, order + first[1], 1, position)[0])
        dtype = np.dtype([("n", order + first[1]), ("v", order + first[2], (size,))])
        if position + count * dtype.itemsize <= len(body):
            records = np.frombuffer(body, dtype, count, position)
            if (records["n"] == size).all():
                return {first[0]: records["v"].astype(np.int64)}, position + count * dtype.itemsize
    columns = {p[0]: [] for p in props}
    for _ in range(count):
        for p in props:
            if len(p) == 3:
                n_size, item = np.dtype(order + p[1]), np.dtype(order + p[2])
                n = int(np.frombuffer(body, n_size, 1, position)[0])
                position += n_size.itemsize
                if position + n * item.itemsize > len(body):
                    raise ValueError
                columns[p[0]].append(np.frombuffer(body, item, n, position).tolist())
                position += n * item.itemsize
            else:
                t = np.dtype(order + p[1])
                columns[p[0]].append(float(np.frombuffer(body, t, 1, position)[0]))
                position += t.itemsize
    return columns, position


def _finite(vertices: np.ndarray, path) -> np.ndarray:
    if not np.all(np.isfinite(vertices)):
        raise GRCError("expected finite vertex coordinates (no NaN or infinity)", path=path, field="vertices")
    return vertices


def _merge_coincident(vertices: np.ndarray, faces) -> tuple[np.ndarray, list]:
    """Vertices at exactly the same place made one (first one kept, in file order); faces renumbered."""
    _, first, inverse = np.unique(vertices, axis=0, return_index=True, return_inverse=True)
    keep = np.sort(first)
    renumber = np.empty(len(first), dtype=np.int64)
    renumber[np.argsort(first)] = np.arange(len(first))  # unique id -> new index, in file order
    new = renumber[inverse.ravel()]
    return vertices[keep], [[int(new[i]) for i in face] for face in faces]


def read_grid_mesh(path, rows: int | None = None) -> np.ndarray:
    """One time step's grid (M, N, 3) from an OBJ or PLY mesh, in grid order proved by its faces."""
    return read_grid_meshes([path], rows)[0]


def read_grid_meshes(paths, rows: int | None = None) -> list[np.ndarray]:
    """The grids (M, N, 3) of a sequence of OBJ/PLY files (one per time step), all oriented like the first:
    a step with the first one's faces uses its vertex-to-grid mapping, one with other faces the
    orientation nearest the step before."""
    grids, first = [], None
    for path in paths:
        path = Path(path)
        vertices, quads, order = proved_grid(*read_mesh(path), rows, path)
        if first is None:
            first = (quads, len(vertices), order)
        elif first[1] == len(vertices) and np.array_equal(first[0], quads):
            order = first[2]
        else:
            if order.size != first[2].size:
                raise GRCError(f"expected a grid of {first[2].shape[0]} x {first[2].shape[1]} points like "
                               f"{printable(Path(paths[0]).name)}, found {order.shape[0]} x {order.shape[1]}",
                               path=path, field="vertices")
            order = nearest_orientation(order, vertices, grids[-1])
        grids.append(vertices[order])
    return grids


def proved_grid(vertices: np.ndarray, faces, rows: int | None = None, path=None):
    """(vertices, quads, order) of a grid mesh; when the file repeats vertices (one per face corner) and
    is not a grid as it stands, exactly coincident vertices are merged first."""
    try:
        quads = _quads(faces, path)
        return vertices, quads, grid_order(quads, len(vertices), rows, vertices, path=path)
    except GRCError as error:
        try:
            merged, merged_faces = _merge_coincident(vertices, faces)
        except (IndexError, TypeError, ValueError):  # faces that do not index the vertices
            raise error from None
        if len(merged) == len(vertices):
            raise
        try:
            quads = _quads(merged_faces, path)
            return merged, quads, grid_order(quads, len(merged), rows, merged, path=path)
        except GRCError:
            raise error from None


def import_files(name, files, *, time=None, morph=None, scale=1.0, rows=None, like=None) -> Template:
    """A template from files, by their kind: one row-layout JSON, or one grid file per time step.

    - one `.json` of [time][morph row][3N]: the article's row layout;
    - several `.json` of [row][point][xyz]: one grid per time step;
    - several `.obj`/`.ply`: one grid mesh per time step, its grid order proved by its quads.

    `like`: a template (M, N) of the set the new one joins. A mesh whose numbering does not say which way
    its rows run (Blender renumbered it: a PLY export, Sort Elements, an edit) is turned, of its eight
    orientations, to the one nearest `like` (oriented_like), so it is not added transposed or mirrored.
    """
    files = [Path(f) for f in files]
    if not files:
        raise GRCError("expected at least one file to import")
    if len(files) > limits.MAX_TIME_STEPS:
        raise GRCError(f"{len(files)} files; the limit is {limits.MAX_TIME_STEPS} time steps", field="files")
    kinds = {f.suffix.lower() for f in files}
    if len(kinds) > 1 or not kinds <= {".json", *MESH_SUFFIXES}:
        raise GRCError(f"expected files all .json, all .obj or all .ply, got {sorted(kinds)}", path=files[0])
    if kinds == {".json"} and len(files) == 1:
        data = read_rows_json(files[0])
        if data.shape[-1] == 3:
            raise GRCError("one file of [row][point][xyz] is a single time step; pass one file per "
                           "time step, or the row layout [time][morph row][3N]", path=files[0])
        return from_rows(name, data, time, morph, scale, path=files[0])
    if kinds == {".json"}:
        grids = [read_grid_json(f) for f in files]
    else:
        grids = read_grid_meshes(files, rows)
        if like is not None:
            grids = oriented_like(grids, np.asarray(like.points, float) / scale)
    shapes = {g.shape for g in grids}
    if len(shapes) > 1:
        bad = next(f for f, g in zip(files, grids) if g.shape != grids[0].shape)
        raise GRCError(f"expected the same grid size as {files[0].name} {grids[0].shape[:2]}",
                       path=bad, field="points")
    return from_grids(name, grids, time, morph, scale, path=files[0])
