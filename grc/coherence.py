"""Coherence and novelty of a generated shape: is the surface whole, and how far is it from the templates?

Numpy only, so the CLI, the app and the Blender add-on share it. Everything is measured on the surface
the user sees: the grid after subdivision (itself a grid, (R, P, 3)), quads split into triangles as
grc.mesh.triangulate splits them, quad q = (row, point) of the surface in row-major order.

- **intersections**: pairs of triangles that share no vertex and cross (transversally; touching and
  coplanar contact do not count). A surface, or a patch of it, that is a height field over some plane
  cannot cross itself and is skipped; broad phase: the quads' bounding boxes block by block (or a
  spatial hash), then a slab test on the quads' mean planes; narrow phase: Möller's plane-side and
  interval test, vectorised over all candidate pairs (and over many shapes at once).
- **folds**: neighbouring quads (sharing an edge) whose normals turn by more than FOLD_DEGREES.
- **stretch**: |log(edge length / the template's)| over the surface's edges, mean and max, against the
  nearest template in that measure at the same time (templates interpolated between time steps).
- **bending**: signed dihedral angles between neighbouring quads against the template's, RMS and max
  (degrees), nearest template as for stretch.
- **novelty**: RMS distance per grid point to the nearest template at any time step (optionally after
  a rigid alignment, Kabsch), in the templates' units.
- **relational consistency**: the encoder's (time, morph) for the shape's rows against the asked ones.
- **slivers**: quads under SLIVER_AREA of their surface's median quad area (and triangles under half that)
  are seen as lines: their folds and crossings do not count; a fold is looked for across them.
- **verdict**: "broken" with any intersection or fold; else "strained" when stretch or bending lies
  outside the templates' own range (the most one template measures against another at that time, or
  a straight blend between two of them against the nearest template) by more than the margins
  below; else "coherent". docs/coherence.md explains the thresholds.

    from grc.coherence import Coherence
    coherence = Coherence.for_model(model, subdivide=2)      # precomputes (numpy only)
    coherence.verdict(model.shape(0.8, 1.6), 0.8)             # live: "coherent" | "strained" | "broken"
    check = coherence.check(model.shape(0.8, 1.6), 0.8)       # live, with the measures: a Check (~1-2 ms)
    check.verdict, check.novelty, check.broken_quads
    coherence.measures(grid, 0.8, model=model)                # everything, a JSON-safe dict
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import GRCError
from .mesh import subdivided_size

VERDICTS = ("coherent", "strained", "broken")
FOLD_DEGREES = 120.0  # neighbouring quads whose normals turn by more than this are a fold
STRAIN_MARGIN = 1.5  # strained beyond this many times the templates' own range ...
STRETCH_FLOOR = 0.15  # ... plus this much |log length ratio| (about 16 % longer or shorter) ...
BEND_FLOOR = 10.0  # ... plus this many degrees of RMS dihedral-angle change
MAX_SPAN = 4  # a quad box spanning more hash cells than this along an axis is checked against all
NEIGHBOUR_TURN = 60.0  # degrees: neighbouring quads' triangles are tested only when turned this much
EDGE_FLOOR = 0.1  # stretch adds this share of the templates' median edge length (all times) to every length
OWN_BLENDS = (0.25, 0.5, 0.75)  # straight blends between two templates that count as their own range
HEIGHT_FIELD_SHORTCUT = True  # skip the crossing test where a surface is provably a height field
HEIGHT_FIELD_TILTS = 3  # ... over its mean normal's plane, or over a plane tilted this many times
TILT_MARGIN = 0.05  # each tilt turns the plane until the triangle facing it least faces it by this cosine
REFERENCE_CACHE = 64  # how many times' template references a Coherence keeps
BLOCK = 4  # quads per block side for the height-field test of patches (windows of 2 x 2 blocks)
DENSE_OPERATOR_LIMIT = 4_000_000  # entries (32 MB): a bigger grid's subdivision stays a sparse matrix
BROKEN_BATCH_VERTICES = 1_000_000  # Coherence.broken tests at most this many surface vertices at once
BLOCK_PAIR_LIMIT = 64  # compare quads block by block while that makes at most this many pairs per quad
SLIVER_RUN = 1.0  # folds are looked for across a run of slivers whose areas add up to less than this many slivers
SLIVER_AREA = 0.05  # a quad with less than this share of its surface's median quad area is a sliver (a triangle:
#                     less than this share of half of it): its folds and crossings are not seen and do not count
NUMERIC_ZERO = 1e-12  # a quad's side under this share of its surface's largest coordinate is no side (slivers):
#                      a thousand times float64's rounding, so a tiny shape far from the origin is still seen

# Triangle pairs of two quads that share a vertex but not these two triangles' vertices, by the
# second quad's offset (rows, points) from the first; index a * 2 + b for triangle a of the first
# quad against triangle b of the second (triangle 0 = (a, b, c), 1 = (a, c, d) of quad (a, b, c, d)).
_NEIGHBOUR_PAIRS = {(0, 1): [1], (1, 0): [2], (1, -1): [0, 2, 3], (1, 1): []}


# -- geometry of a surface grid ------------------------------------------------------------------
_NEXT, _LAST = np.array([1, 2, 0]), np.array([2, 0, 1])  # each coordinate's next and last (cross products)


def _cross(a, b, axis=-1):
    """Cross products of vectors (..., 3), or with the coordinates along `axis` (a and b of one shape), in
    the layout given: all three coordinates at once, a[i + 1] b[i + 2] - a[i + 2] b[i + 1] (the same products
    and difference per coordinate as one at a time, in 7 numpy calls instead of 16)."""
    return a.take(_NEXT, axis=axis) * b.take(_LAST, axis=axis) - a.take(_LAST, axis=axis) * b.take(_NEXT, axis=axis)


def _unit(v):
    length = np.sqrt(np.einsum("...i,...i->...", v, v))[..., None]
    return v / np.where(length > 0, length, 1.0)


def quad_normals(surface) -> np.ndarray:
    """Unit quad normals (..., R-1, P-1, 3) from the diagonals, as grc.mesh winds them; 0 for a collapsed quad."""
    return _normals_and_areas(surface)[0]


def quad_areas(surface) -> np.ndarray:
    """Quad areas (..., R-1, P-1): the areas of its two triangles (as grc.mesh splits it) added, so that a
    quad twisted into a bow tie, whose diagonals' cross product nearly vanishes, keeps its size."""
    return _normals_and_areas(surface)[1]


def _dot3(a, b):
    """Dot products over the first axis (3, ...) of a and b, summed as np.einsum("...i,...i->...") sums three
    contiguous values with AVX-512 (x + z, then y; the same to the bit there, and in the sign of a zero): the
    code that had the coordinates last gets the same values from its coordinates first."""
    return (a[0] * b[0] + a[2] * b[2]) + a[1] * b[1] + 0.0


def _norm2(a):
    """_dot3(a, a), squared lengths over the first axis (3, ...): the squares at once, added in _dot3's order (a sum
    of squares is never -0, so it needs no + 0.0)."""
    a = a * a
    return (a[0] + a[2]) + a[1]


def _first(surface):
    """Surfaces (..., R, P, 3) coordinates first, (3, S, R, P) contiguous (numpy is fastest along long axes)."""
    R, P = surface.shape[-3:-1]
    return np.ascontiguousarray(np.reshape(surface, (math.prod(surface.shape[:-3]), R, P, 3)).transpose(3, 0, 1, 2))


def _normals_and_areas(surface, c=None):
    """quad_normals and quad_areas; `c`: the surfaces coordinates first (_first), when already made."""
    lead, (R, P) = surface.shape[:-3], surface.shape[-3:-1]
    c = _first(surface) if c is None else c
    a = c[:, :, :-1, :-1]
    ac = c[:, :, 1:, 1:] - a
    cross = _cross(ac, c[:, :, :-1, 1:] - c[:, :, 1:, :-1], axis=0)  # the diagonals': twice the (vector) area
    first = _cross(c[:, :, 1:, :-1] - a, ac, axis=0)  # triangle (a, b, c); the other, (a, c, d), is cross - first
    second = cross - first
    length = np.sqrt(_norm2(cross))
    area = 0.5 * (np.sqrt(_norm2(first)) + np.sqrt(_norm2(second)))
    # (the normals as a view of their coordinates first, which the folds, bending and crossing tests take)
    normals = (cross / np.where(length > 0, length, 1.0)).transpose(1, 2, 3, 0)
    return normals.reshape(*lead, R - 1, P - 1, 3), area.reshape(*lead, R - 1, P - 1)


def slivers(areas, share: float | None = None, surfaces=None):
    """Which quads of a batch of surfaces are slivers: quad areas (S, R-1, P-1) below `share` of their own
    surface's median quad area: (S, R-1, P-1) bool, and the threshold per surface (S,). A sliver is seen as
    a line (two coincident rows, as at the bundled leaf's tip, make a strip of them): whichever way a small
    error turns it, no fold or crossing shows; its neighbours, which share its long edges, still do.
    Given the `surfaces` (S, R, P, 3), a quad with no area float64 can tell from none (under (NUMERIC_ZERO x
    the surface's largest coordinate) squared) is a sliver too: a surface collapsed to a point (a bud) has no
    folds or crossings wherever it lies (at (1, 2, 3) its rounding errors made 162 folds; at the origin the
    crossing test compared every pair of quads, 1.4 s)."""
    areas = np.asarray(areas, float)
    share = SLIVER_AREA if share is None else share
    S = len(areas)
    flat = areas.reshape(S, math.prod(areas.shape[1:]))
    k = flat.shape[1] // 2
    median = np.partition(flat, k, axis=1)[:, k] if flat.shape[1] else np.zeros(S)
    limit = share * median
    if surfaces is not None:
        surfaces = np.asarray(surfaces, float)
        largest = np.abs(surfaces.reshape(S, math.prod(surfaces.shape[1:]))).max(axis=1, initial=0.0)
        # (at least the least area whose square float64 holds: the crossing test squares it; all at the origin)
        limit = np.maximum(limit, np.maximum((NUMERIC_ZERO * largest) ** 2, np.sqrt(np.finfo(float).tiny)))
    return areas < limit[:, None, None], limit


def dihedral_angles(surface, normals=None) -> tuple[np.ndarray, np.ndarray]:
    """Signed turning (radians) between quads that share an edge: along the rows' direction
    (..., R-2, P-1) and along the points' direction (..., R-1, P-2). The sign says which way it bends."""
    R, P = np.shape(surface)[-3:-1]
    angles = _dihedral(surface, normals)
    lead, k = angles.shape[:-1], (R - 2) * (P - 1)
    return angles[..., :k].reshape(*lead, R - 2, P - 1), angles[..., k:].reshape(*lead, R - 1, P - 2)


def _both(rows, points):
    """Values (3, S, ...) of the edges along the rows' direction and along the points' flattened into one array
    (3, S, D), rows' first (sizes spelt out: an empty batch has no -1 to infer)."""
    S = rows.shape[1]
    return np.concatenate([rows.reshape(3, S, math.prod(rows.shape[2:])),
                           points.reshape(3, S, math.prod(points.shape[2:]))], axis=2)


def _across_edges(n):
    """The normals of the two quads on either side of each inner edge, given coordinates first (3, S, R-1, P-1), in
    _both's order: (a, b) (3, S, D) each, and their dot products (S, D): what the folds test and bending measures."""
    a, b = _both(n[:, :, :-1, :], n[:, :, :, :-1]), _both(n[:, :, 1:, :], n[:, :, :, 1:])
    return a, b, _dot3(a, b)


def _dihedral(surface, normals=None, c=None, across=None):
    """dihedral_angles, both directions flattened into one (..., D) array (rows' first): what bending compares,
    in one pass over the edges of both directions. `c`: the surfaces coordinates first (_first), `across`: the
    normals across the edges (_across_edges), when made."""
    n = quad_normals(surface) if normals is None else normals
    lead = surface.shape[:-3]
    c = _first(surface) if c is None else c  # (3, S, R, P)
    a, b, ab = _across_edges(_first(n)) if across is None else across  # (normals (3, S, R-1, P-1) coordinates first)
    # the shared edges: between quads (i, j) and (i+1, j) runs row i+1 from point j to j+1
    e = _both(c[:, :, 1:-1, 1:] - c[:, :, 1:-1, :-1], c[:, :, 1:, 1:-1] - c[:, :, :-1, 1:-1])
    length = np.sqrt(_norm2(e))
    e = e / np.where(length > 0, length, 1.0)
    angles = np.arctan2(_dot3(_cross(a, b, axis=0), e), ab)  # (S, D)
    return angles.reshape(*lead, angles.shape[1])


def edge_lengths(surface) -> np.ndarray:
    """Lengths of every edge of a surface grid: along rows then along points, flattened (..., E)."""
    lengths = _edge_lengths(_first(surface))
    return lengths.reshape(*surface.shape[:-3], lengths.shape[1])


def _edge_lengths(c):
    """edge_lengths of surfaces coordinates first (3, S, R, P) (_first): (S, E)."""
    both = _both(c[:, :, 1:] - c[:, :, :-1], c[:, :, :, 1:] - c[:, :, :, :-1])
    both *= both
    return np.sqrt((both[0] + both[1]) + both[2])  # as .sum(axis=-1) adds them


def fold_pairs(surface, degrees: float = FOLD_DEGREES, sliver_area: float = 0.0) -> np.ndarray:
    """Neighbouring quads of one surface (R, P, 3) whose normals turn by more than `degrees`: (F, 2) quad
    indices. With `sliver_area` > 0 (Coherence uses SLIVER_AREA), slivers (see `slivers`) are passed over:
    each quad is paired with the next quad along its row and its column that is no sliver."""
    surface = np.asarray(surface, float)
    normals, areas = _normals_and_areas(surface[None])
    if sliver_area <= 0:
        return _folds(normals, degrees)[0]
    return _folds(normals, degrees, areas, slivers(areas, sliver_area, surface[None])[1])[0]


def _folds(normals, degrees=FOLD_DEGREES, areas=None, limit=None):
    """Folds of a batch of quad normals (S, R-1, P-1, 3): (quad pairs (F, 2), shape index (F,)).
    Given quad `areas` (S, R-1, P-1) and the sliver threshold of each surface `limit` (S,) (`slivers`):
    a sliver is in no fold, and the quads on either side of a run of slivers along a row or column are
    neighbours where the run's areas add up to less than SLIVER_RUN x the threshold (the run is a line:
    a crease along it is still a fold; a longer run is a stretch of surface that may well turn)."""
    S, Rq, Pq, _ = normals.shape
    turn = np.cos(np.radians(degrees))
    index = np.arange(Rq * Pq).reshape(Rq, Pq)
    thin = None if areas is None else areas < limit[:, None, None]
    if thin is not None and not thin.any():
        thin = None
    shapes, pairs = [], []
    c = _first(normals)  # (3, S, R-1, P-1)
    if thin is None:  # no slivers: every quad against its neighbour along rows and points
        for a, b, ia, ib in ((c[:, :, :-1], c[:, :, 1:], index[:-1], index[1:]),
                             (c[:, :, :, :-1], c[:, :, :, 1:], index[:, :-1], index[:, 1:])):
            s, i, j = _nonzero(_dot3(a, b) < turn)
            shapes.append(s)
            pairs.append(np.array([ia[i, j], ib[i, j]]).T)
        return np.concatenate(pairs).reshape(-1, 2), np.concatenate(shapes)
    solid = ~thin
    for axis, run in zip((1, 2), _sliver_runs(thin)):  # neighbours along the rows' direction, then along the points'
        n, t, ix = (c, thin, index) if axis == 1 else (c.transpose(0, 1, 3, 2), thin.transpose(0, 2, 1), index.T)
        u = solid if axis == 1 else solid.transpose(0, 2, 1)
        # no sliver in a fold; then the quads on either side of each run of slivers
        s, i, j = _nonzero((_dot3(n[:, :, :-1], n[:, :, 1:]) < turn) & u[:, :-1] & u[:, 1:])
        k = i + 1
        if len(run[0]):
            folded = _folded_runs(n, areas if axis == 1 else areas.transpose(0, 2, 1), limit, turn, run)
            s, i, j, k = (np.concatenate([x, y[folded]]) for x, y in zip((s, i, j, k), run))
        shapes.append(s)
        pairs.append(np.array([ix[i, j], ix[k, j]]).T)
    return np.concatenate(pairs).reshape(-1, 2), np.concatenate(shapes)


_RUNS = {}  # _sliver_runs: sliver mask -> its runs, the last few ...
_RUNS_KEPT_SIZE = 1 << 16  # ... of masks of at most this many quads
# a surface with border strips of unseen quads (the leaf's tip) is tested on the part inside them with that part's own
# topology (_Topology.part) where it has at most this many quads, the last few parts kept; a bigger one cuts the whole
# surface's windows to the part instead (a part's topology holds blocks² and quads x windows tables: seconds and
# hundreds of megabytes at 257 x 129)
PART_MOST_QUADS = 64 * 64
PARTS_KEPT = 4


def _make_room(cache: dict, most: int) -> None:
    """Drop a cache's oldest entries until one more fits under `most`. The keys are listed in one step (the app asks
    from two threads: popping `next(iter(cache))` could meet another thread's insertion mid-iteration)."""
    for key in list(cache)[:max(0, len(cache) - most + 1)]:
        cache.pop(key, None)


def _sliver_runs(thin):
    """The runs of slivers (S, R-1, P-1) with a quad that is none on either side, along the rows' direction and
    then along the points' (in thin.transpose(0, 2, 1)): (shape, the quad's row before the run, its column, the row
    after the run) (k,) each, per direction. They follow from the mask alone, which is mostly the same shape after
    shape (the leaf's tip): the last few are kept (masks of a few shapes; a big batch's is not)."""
    key = (thin.shape, thin.tobytes()) if thin.size <= _RUNS_KEPT_SIZE else None
    runs = None if key is None else _RUNS.get(key)
    if runs is None:
        runs = []
        for t in (thin, thin.transpose(0, 2, 1)):
            rs, ri, rj = _nonzero(t[:, 1:] & ~t[:, :-1])  # a quad that is no sliver, then one that is: a run begins
            rk = ri
            if len(rs):
                L = t.shape[1]
                place = np.arange(L)[None, :, None]
                following = np.minimum.accumulate(np.where(t, L, place)[:, ::-1], axis=1)[:, ::-1]  # next quad that is none
                rk = following[rs, ri + 1, rj]
                inside = (rk < L).nonzero()[0]  # a run that reaches the border has no quad after it (the leaf's tip)
                rs, ri, rj, rk = rs[inside], ri[inside], rj[inside], rk[inside]
            runs.append((rs, ri, rj, rk))
        if key is not None:
            _make_room(_RUNS, 16)
            _RUNS[key] = runs
    return runs


def _folded_runs(n, areas, limit, turn, run):
    """Which runs of slivers (_sliver_runs, one direction, given along axis 1 of normals n (3, S, ...) coordinates first
    and `areas` (S, ...)) are a fold: their areas add up to less than SLIVER_RUN x the threshold `limit` (S,) and the
    quads on either side turn by more than `turn` (a cosine)."""
    rs, ri, rj, rk = run
    total = np.cumsum(areas, axis=1)
    line = (total[rs, rk - 1, rj] - total[rs, ri, rj] < SLIVER_RUN * limit[rs])
    return line & (_dot3(n[:, rs, ri, rj], n[:, rs, rk, rj]) < turn)


def _any_fold(n, dots, topology, areas, limit, degrees=FOLD_DEGREES):
    """Whether a surface folds (_folds finds a pair), given its quad normals coordinates first n (3, 1, R-1, P-1), their
    dot products across each edge `dots` (1, D) (_across_edges), its quad `areas` (1, R-1, P-1) and sliver threshold
    `limit` (1,): what the verdict needs, without the pairs (and with the dot products bending takes too)."""
    turn = np.cos(np.radians(degrees))
    thin = areas < limit[:, None, None]
    turned = (dots < turn).ravel().nonzero()[0]  # edges with a fold across them, slivers or not
    if not thin.any():
        return len(turned) > 0
    first, second = topology.edge_quads
    solid = ~thin.reshape(-1)
    if len(turned) and (solid.take(first.take(turned)) & solid.take(second.take(turned))).any():
        return True
    for axis, run in zip((1, 2), _sliver_runs(thin)):
        if len(run[0]) and _folded_runs(n if axis == 1 else n.transpose(0, 1, 3, 2),
                                        areas if axis == 1 else areas.transpose(0, 2, 1), limit, turn, run).any():
            return True
    return False


def _visible_crossings(surfaces, topology, shape_of, pairs, limit):
    """The crossing triangle pairs (shape index (I,), pairs (I, 2)) of surfaces (S, R, P, 3) whose two
    triangles both have at least half the sliver threshold `limit` (S,) of their surface as area."""
    if len(shape_of) == 0:
        return shape_of, pairs
    corners = surfaces.reshape(len(surfaces), -1, 3)[shape_of[:, None, None], topology.triangles[pairs]]  # (I, 2, 3, 3)
    cross = _cross(corners[:, :, 1] - corners[:, :, 0], corners[:, :, 2] - corners[:, :, 0])
    area = 0.5 * np.sqrt(np.einsum("...i,...i->...", cross, cross))  # (I, 2)
    keep = (area >= 0.5 * limit[shape_of][:, None]).all(axis=1)
    return shape_of[keep], pairs[keep]


# -- self-intersections ----------------------------------------------------------------------------
class _Topology:
    """What is fixed for a surface grid of one size: its triangles, its boundary, and its blocks of
    quads and the windows of 2 x 2 blocks (_patches) with their boundaries."""

    def __init__(self, R: int, P: int):
        self.R, self.P = R, P
        Rq, Pq = R - 1, P - 1
        self.quads = Rq * Pq
        v = np.arange(R * P).reshape(R, P)
        a, b, c, d = v[:-1, :-1].ravel(), v[1:, :-1].ravel(), v[1:, 1:].ravel(), v[:-1, 1:].ravel()
        self.triangles = np.stack([np.stack([a, b, c], -1), np.stack([a, c, d], -1)], axis=1).reshape(-1, 3)
        self.quad_row, self.quad_point = np.divmod(np.arange(self.quads), Pq)
        q = np.arange(self.quads).reshape(Rq, Pq)
        # the pairs of quads at each offset of _NEIGHBOUR_PAIRS, (first quads, second quads) (N,) each, and the
        # triangle pairs to test between them: of which quad pair, and the triangles (first, second)
        offsets = [(q[:Rq - dr, max(0, -dp):Pq - max(0, dp)].ravel(), q[dr:, max(0, dp):Pq + min(0, dp)].ravel(), combos)
                   for (dr, dp), combos in _NEIGHBOUR_PAIRS.items() if combos]
        self.neighbours = tuple(np.concatenate([o[k] for o in offsets]) for k in (0, 1))
        start = np.cumsum([0] + [len(o[0]) for o in offsets])
        combos = [(start[k] + np.arange(len(o[0])), combo) for k, o in enumerate(offsets) for combo in o[2]]
        self.neighbour_of = np.concatenate([i for i, _ in combos])
        first = [2 * self.neighbours[0][i] + combo // 2 for i, combo in combos]
        second = [2 * self.neighbours[1][i] + combo % 2 for i, combo in combos]
        self.neighbour_triangles = (np.concatenate(first), np.concatenate(second))
        # the quads on either side of each inner edge, in _both's order (rows' direction first): (first, second) (D,)
        self.edge_quads = tuple(np.concatenate([x.ravel(), y.ravel()]) for x, y in ((q[:-1], q[:, :-1]), (q[1:], q[:, 1:])))
        # the boundary as one closed loop of vertices, and every pair of its edges that share no vertex
        self.boundary = _loop(v)
        self.boundary_pair_mask = _loop_pairs(len(self.boundary))
        self._inner_boundaries = {}  # (first row, last row, first point, last point) -> as above, of that part
        self._parts = {}  # the same key -> that part's own topology (part)
        # blocks of quads and windows of 2 x 2 blocks (see _patches): a window that is a height field
        # cannot cross itself, so no pair of quads inside it needs the crossing test
        br, bp = _block_size(Rq), _block_size(Pq)
        self.blocks = None if br is None or bp is None else (br, bp)
        if self.blocks is None:
            return
        nr, np_ = Rq // br, Pq // bp
        self.block_grid = (nr, np_)
        block = np.arange(nr * np_).reshape(nr, np_)
        self.block_of_quad = block[self.quad_row // br, self.quad_point // bp]  # (Q,)
        self.block_quads = q.reshape(nr, br, np_, bp).transpose(0, 2, 1, 3).reshape(nr * np_, br * bp)
        corners = (block[:-1, :-1], block[1:, :-1], block[:-1, 1:], block[1:, 1:])
        self.window_blocks = np.stack([k.ravel() for k in corners], axis=-1)  # (W, 4)
        a, b = np.triu_indices(4)
        a, b = self.window_blocks[:, a], self.window_blocks[:, b]
        self.window_block_pairs = np.concatenate([a * nr * np_ + b, b * nr * np_ + a], axis=1)  # (W, 20): A, B and B, A, flat
        self.window_quads = np.zeros((self.quads, len(self.window_blocks)))  # (Q, W): 1 where a quad lies in a window
        for w, blocks in enumerate(self.window_blocks):
            self.window_quads[self.block_quads[blocks].ravel(), w] = 1.0
        corners = [(I * br, J * bp) for I in range(nr - 1) for J in range(np_ - 1)]  # each window's first quad
        boundary = np.array([_loop(v[i:i + 2 * br + 1, j:j + 2 * bp + 1]) for i, j in corners])  # (W, Lw)
        self.window_pair_mask = _loop_pairs(boundary.shape[1])
        centre = np.array([v[i + br, j + bp] for i, j in corners])  # each window's middle vertex
        self.window_loop = np.concatenate([boundary, centre[:, None]], axis=1)  # (W, Lw + 1): boundary, then middle
        self.window_quad_list = np.array([q[i:i + 2 * br, j:j + 2 * bp].ravel() for i, j in corners])  # (W, 4 br bp)
        self.window_corners = corners
        self._window_trims = {}  # seen part (as inner_boundary's key) -> window_trims
        self.block_upper = np.triu(np.ones((nr * np_, nr * np_), bool))  # block pairs A <= B
        # the block pair (flat) of each pair of neighbouring quads in self.neighbours
        self.neighbour_blocks = self.block_of_quad[self.neighbours[0]] * (nr * np_) + self.block_of_quad[self.neighbours[1]]
        # which quad pairs (bb, bb) of a block pair A <= B (flat A * blocks + B) may cross, by the pair's kind: quads of
        # neighbouring blocks that share a vertex may not, inside one block each pair once; blocks further apart, all
        local_row, local_point = np.divmod(np.arange(br * bp), bp)  # a quad's place in its block
        offsets = [(dr, dp) for dr in (-1, 0, 1) for dp in (-1, 0, 1)]
        masks = []
        for dr, dp in offsets:
            rows = dr * br + local_row[None, :] - local_row[:, None]  # quad b's row less quad a's, (a, b)
            points = dp * bp + local_point[None, :] - local_point[:, None]
            masks.append((np.abs(rows) > 1) | (np.abs(points) > 1))
        masks[offsets.index((0, 0))] &= np.triu(np.ones((br * bp, br * bp), bool), 1)
        self.quad_pairs_kept = np.array(masks + [np.ones((br * bp, br * bp), bool)])  # (kinds, bb, bb)
        dr, dp = (block // np_).reshape(-1), (block % np_).reshape(-1)
        dr, dp = dr[None, :] - dr[:, None], dp[None, :] - dp[:, None]  # (A, B)
        near = (np.abs(dr) <= 1) & (np.abs(dp) <= 1)
        kind = np.where(near, (dr + 1) * 3 + (dp + 1), len(offsets))  # 0-9: int8, a byte per block pair
        self.block_pair_kind = kind.reshape(-1).astype(np.int8)  # (blocks * blocks,)

    def window_trims(self, rows, points):
        """The windows cut to the part of the surface made of quad rows rows[0] to rows[1] - 1 and points points[0]
        to points[1] - 1: (groups, outside). Each group, one per size of the cut windows, the windows wholly inside
        first: (its windows, a (W,) mask; every window's loop with the middle vertex last, (W, L + 1), rows of the
        others unused; the loops' pair mask (L, L)). `outside`: the windows with no quad inside. The last few kept."""
        key = (*rows, *points)
        out = self._window_trims.get(key)
        if out is None:
            _make_room(self._window_trims, 16)
            v = np.arange(self.R * self.P).reshape(self.R, self.P)
            br, bp = self.blocks
            W = len(self.window_corners)
            sizes, outside = {}, []
            for w, (i, j) in enumerate(self.window_corners):
                i0, i1, j0, j1 = max(i, rows[0]), min(i + 2 * br, rows[1]), max(j, points[0]), min(j + 2 * bp, points[1])
                if i0 >= i1 or j0 >= j1:
                    outside.append(w)
                elif (i0, i1, j0, j1) != (i, i + 2 * br, j, j + 2 * bp):
                    loop = np.append(_loop(v[i0:i1 + 1, j0:j1 + 1]), v[(i0 + i1) // 2, (j0 + j1) // 2])
                    sizes.setdefault((i1 - i0, j1 - j0), []).append((w, loop))
            inside = np.ones(W, bool)
            inside[outside] = False
            groups = [(inside, self.window_loop, self.window_pair_mask)]
            for cut in sizes.values():
                member, loops = np.zeros(W, bool), np.zeros((W, len(cut[0][1])), int)
                for w, loop in cut:
                    member[w], loops[w], inside[w] = True, loop, False
                groups.append((member, loops, _loop_pairs(loops.shape[1] - 1)))
            out = self._window_trims[key] = (groups, np.array(outside, int))
        return out

    def part(self, rows, points):
        """The topology of the part of the surface made of quad rows rows[0] to rows[1] - 1 and points points[0] to
        points[1] - 1, with `whole_triangles`: its triangles' indices in this one (2 x its quads,); the last few kept."""
        key = (*rows, *points)
        out = self._parts.get(key)
        if out is None:
            _make_room(self._parts, PARTS_KEPT)
            out = _Topology(rows[1] - rows[0] + 1, points[1] - points[0] + 1)  # (about a millisecond)
            quads = np.arange(self.quads).reshape(self.R - 1, self.P - 1)[rows[0]:rows[1], points[0]:points[1]].ravel()
            out.whole_triangles = (2 * quads[:, None] + np.arange(2)).ravel()
            self._parts[key] = out
        return out

    def inner_boundary(self, rows, points):
        """The boundary of the part of the surface made of quad rows rows[0] to rows[1] - 1 and points points[0] to
        points[1] - 1, as self.boundary and self.boundary_pair_mask: (loop (L,), pairs (L, L)); the last few kept."""
        key = (*rows, *points)
        out = self._inner_boundaries.get(key)
        if out is None:
            _make_room(self._inner_boundaries, 16)
            loop = _loop(np.arange(self.R * self.P).reshape(self.R, self.P)[rows[0]:rows[1] + 1, points[0]:points[1] + 1])
            out = self._inner_boundaries[key] = (loop, _loop_pairs(len(loop)))
        return out


def _unseen(triangles, limit):
    """Which quads both of whose triangles (normals (2, 3, S, R-1, P-1), _triangle_normals) have under half the
    sliver threshold `limit` (S,) of their surface as area, a hair less (_visible_crossings decides): (S, R-1, P-1)."""
    return (_dot(*[triangles.swapaxes(0, 1)] * 2) < ((1 - 1e-9) * np.asarray(limit, float)[:, None, None]) ** 2).all(axis=0)


def _seen_part(unseen):
    """The quad rows (first, end) and points (first, end) outside which every quad of every surface is `unseen`
    (S, R-1, P-1), peeled from the border inwards; None when no border row or column is wholly unseen, and no
    rows ((0, 0), (0, 0)) when every quad is."""
    every = unseen.all(axis=0)
    Rq, Pq = every.shape
    rows = every.all(axis=1).tolist()
    r0 = (rows + [False]).index(False)
    r1 = Rq - (rows[::-1] + [False]).index(False)
    if r0 >= r1:
        return (0, 0), (0, 0)
    points = every[r0:r1].all(axis=0).tolist()
    p0 = (points + [False]).index(False)
    p1 = Pq - (points[::-1] + [False]).index(False)
    if (r0, r1, p0, p1) == (0, Rq, 0, Pq):
        return None
    return (r0, r1), (p0, p1)


def _nonzero(mask):
    """np.nonzero of a mask with several axes: the flat indices, unravelled (numpy's own nonzero walks every
    axis and costs several times more on these masks)."""
    return np.unravel_index(mask.ravel().nonzero()[0], mask.shape)


def _loop(vertices):
    """The boundary of a grid of vertex indices (R, P) as one closed loop: first row, last column, last
    row backwards, first column backwards."""
    v = vertices
    return np.concatenate([v[0, :], v[1:, -1], v[-1, -2::-1], v[-2:0:-1, 0]])


def _loop_pairs(L):
    """(L, L) mask of the edge pairs (i < j) of a closed loop of L edges that share no vertex."""
    i, j = np.triu_indices(L, 2)
    keep = ~((i == 0) & (j == L - 1))
    mask = np.zeros((L, L), bool)
    mask[i[keep], j[keep]] = True
    return mask


def _block_size(n):
    """Quads per block along an axis of n quads: a divisor near BLOCK, at least three blocks; None if none."""
    for b in (BLOCK, BLOCK - 1, BLOCK + 1, BLOCK - 2, BLOCK + 2):
        if b >= 2 and n % b == 0 and n // b >= 3:
            return b
    return None


def _candidate_quads(lo, hi, S, topology, seen=None):
    """Broad phase over a batch: pairs of quads (global indices) whose boxes overlap and that share no vertex.
    lo, hi: (3, S * Q) box corners, coordinate first (numpy is slow along short axes); `seen` (S * Q,):
    only those quads (the others are filed nowhere).

    A spatial hash: cells per shape twice the median quad box along each axis, each quad filed under
    every cell its box touches; boxes that overlap share a cell. The rare box that spans more than
    MAX_SPAN cells along an axis is compared with every quad of its shape instead.
    """
    Q = topology.quads
    n = lo.shape[1]
    shape_of = np.repeat(np.arange(S), Q)
    extent = (hi - lo).reshape(3, S, Q)
    size = 2 * np.median(extent, axis=2)  # (3, S)
    size = np.maximum(size, 1e-3 * size.max(axis=0) + 1e-300)  # a flat axis gets cells too
    origin = lo.reshape(3, S, Q).min(axis=2)
    first = np.floor((lo.reshape(3, S, Q) - origin[..., None]) / size[..., None]).astype(np.int64).reshape(3, n)
    span = np.floor((hi.reshape(3, S, Q) - origin[..., None]) / size[..., None]).astype(np.int64).reshape(3, n) - first + 1
    big = np.any(span > MAX_SPAN, axis=0)
    if seen is not None:
        big &= seen
        span[:, ~seen] = 0
    span[:, big] = 0
    dims = (first + span).max(axis=1) + 1
    per_box = span[0] * span[1] * span[2]
    box = np.repeat(np.arange(n), per_box)
    k = np.arange(len(box)) - np.repeat(np.cumsum(per_box) - per_box, per_box)
    sx, sy = span[0, box], span[1, box]
    cx = first[0, box] + k % sx
    cy = first[1, box] + (k // sx) % sy
    cz = first[2, box] + k // (sx * sy)
    key = ((shape_of[box] * dims[0] + cx) * dims[1] + cy) * dims[2] + cz
    order = np.argsort(key, kind="stable")
    key, box = key[order], box[order]
    end = np.searchsorted(key, key, "right")
    after = end - np.arange(len(key)) - 1  # entries after each one in its cell
    i = np.repeat(box, after)
    starts = np.repeat(np.arange(len(key)) + 1, after)
    j = box[starts + np.arange(len(starts)) - np.repeat(np.cumsum(after) - after, after)]
    large = np.nonzero(big)[0]
    if len(large):  # each large box against every quad of its shape (a large pair once)
        others = shape_of[large][:, None] * Q + np.arange(Q)  # (L, Q)
        bi, bj = np.broadcast_arrays(large[:, None], others)
        keep = (~big[bj] | (bj > bi)) & (True if seen is None else seen[bj])
        i, j = np.concatenate([i, bi[keep]]), np.concatenate([j, bj[keep]])
    i, j = _far_and_overlapping(i, j, lo, hi, topology)
    pair = np.unique(np.minimum(i, j) * n + np.maximum(i, j))  # two boxes may share several cells
    return pair // n, pair % n


def _far_and_overlapping(i, j, lo, hi, topology):
    """The quad pairs (global indices) that share no vertex and whose boxes overlap."""
    Q = topology.quads
    qi, qj = i % Q, j % Q  # most pairs from shared cells are grid neighbours: drop them first
    far = (np.abs(topology.quad_row[qi] - topology.quad_row[qj]) > 1) | \
          (np.abs(topology.quad_point[qi] - topology.quad_point[qj]) > 1)
    i, j = i[far], j[far]
    keep = ((lo[0, i] <= hi[0, j]) & (lo[0, j] <= hi[0, i]) & (lo[1, i] <= hi[1, j]) & (lo[1, j] <= hi[1, i])
            & (lo[2, i] <= hi[2, j]) & (lo[2, j] <= hi[2, i]))
    return i[keep], j[keep]


def _triangle_normals(c):
    """The triangles' normals, unnormalised (their length twice the area), as grc.mesh winds them, for
    surfaces given coordinates first, c (3, S, R, P): (2, 3, S, R-1, P-1), triangle 0 = (a, b, c) and
    1 = (a, c, d) of each quad (a, b, c, d)."""
    edges = np.array([c[:, :, 1:, :-1], c[:, :, 1:, 1:], c[:, :, :-1, 1:]]) - c[:, :, :-1, :-1]  # ab, ac, ad
    return _cross(edges[:2], edges[1:], axis=1)


def _in_plane(points, normal, axes=None):
    """Coordinates (x, y) (2, n, L) of points (3, n, L) along two directions perpendicular to unit normals (3, n)
    (or given those directions, _plane_axes)."""
    uv = _plane_axes(normal) if axes is None else axes
    p = points
    return p[0] * uv[:, 0] + p[1] * uv[:, 1] + p[2] * uv[:, 2]


_PLANE_U = np.array([[6], [2], [4]]), np.array([[5], [6], [0]])  # _plane_axes: u's rows of (n, -n, 0) (arrays: a
#                                                                 list made into one costs more than the choice)


def _plane_axes(normal):
    """Two unit directions perpendicular to each of unit normals (3, n): (2, 3, n, 1)."""
    nx, ny, nz = normal
    along_x = np.abs(nx) < 0.9  # u = normal x (1, 0, 0) there, else normal x (0, 1, 0)
    signed = np.concatenate([normal, -normal, np.zeros((1, len(nx)))])  # nx, ny, nz, -nx, -ny, -nz, 0
    u = signed[np.where(along_x, *_PLANE_U), np.arange(len(nx))]  # (0, nz, -ny) or (-nz, 0, nx)
    u = u / np.sqrt(_norm2(u))  # (one of u's coordinates is 0: the same sum in any order)
    return np.array([u, _cross(normal, u, axis=0)])[..., None]


def _facing_windows(n, triangles, size, topology):
    """The windows' normals (3, S, W), their mean normal's, tilted where that is needed (_tilted), and which
    windows face them (S, W) (_patches)."""
    S = n.shape[1]
    br, bp = topology.blocks
    nr, np_ = topology.block_grid
    mean = (n.reshape(3 * S, -1) @ topology.window_quads).reshape(3, S, nr - 1, np_ - 1)  # summed over each window
    length = np.sqrt(mean[0] * mean[0] + mean[1] * mean[1] + mean[2] * mean[2])
    mean = mean / np.where(length > 0, length, 1.0)
    # each window's triangles against its normal: each block's triangles last, the window's four blocks
    # a view of them (no copy), so that one reduction over the trailing axes finds the lowest
    blocks = triangles.reshape(2, 3, S, nr, br, np_, bp).transpose(1, 2, 3, 5, 0, 4, 6)
    blocks = np.ascontiguousarray(blocks).reshape(3, S, nr, np_, -1)
    st = blocks.strides  # (a block's triangles innermost: numpy's inner loops run along them)
    t = np.ndarray((3, S, nr - 1, np_ - 1, 2, 2, blocks.shape[4]), float, blocks, strides=st[:4] + st[2:4] + st[4:])
    m = mean[..., None, None, None]
    up = (t[0] * m[0] + t[1] * m[1] + t[2] * m[2]).reshape(S, nr - 1, np_ - 1, -1).min(axis=-1)
    limit = 1e-9 * size ** 2
    mean = mean.reshape(3, S, -1)
    W = mean.shape[2]
    facing = up.reshape(S, -1) > limit[:, None]  # (S, W)
    shape, window = (~facing).nonzero()
    if len(shape):  # windows whose triangles do not all face the mean normal: tilt it (_tilted)
        t = triangles.reshape(2, 3, -1).take(shape[:, None] * topology.quads + topology.window_quad_list[window], axis=2)
        t = np.concatenate([t[0], t[1]], axis=2).transpose(1, 0, 2)  # (n, 3, triangles)
        ok, tilted = _tilted(t, mean.reshape(3, -1).take(shape * W + window, axis=1), limit[shape])
        facing[shape[ok], window[ok]] = True
        mean[:, shape[ok], window[ok]] = tilted[:, ok]
    return mean, facing


def _patches(c, n, triangles, size, topology, part=None, plane=None):
    """Which pairs of blocks of quads lie together in a window (2 x 2 blocks, a rectangular patch of
    the surface) that is a height field, tested as _height_fields tests a whole surface (every triangle
    faces the side of the window's mean normal, and the window's boundary projected onto that plane is
    a simple loop): no two triangles of such a window cross. Coordinates first: c (3, S, R, P), quad
    normals n (3, S, R-1, P-1), `triangles` (_triangle_normals), `size` each surface's largest extent (S,).
    `part`: the quad rows and points outside which every quad is unseen (_seen_part): there a window needs only
    its part inside to be a height field (_Topology.window_trims), and one wholly outside is cleared (the
    leaf's tip zig-zags as the whole surface's boundary did). `plane`: (which surfaces face a plane (S,), its
    normal (3, S)) (_flat_over_a_plane): when every surface does, so does every window, and that plane is
    taken for all of them. (S, blocks, blocks) bool, symmetric."""
    S = c.shape[1]
    nr, np_ = topology.block_grid
    nb = nr * np_
    W, V = (nr - 1) * (np_ - 1), c.shape[2] * c.shape[3]
    if plane is not None and plane[0].all():  # every triangle faces the surface's plane, so every window's does:
        # no test of facing, and every vertex goes into that plane at once
        projected, facing = _in_plane(c.reshape(3, S, V), plane[1]).reshape(2, -1), np.ones((S, W), bool)
    else:
        projected, (mean, facing) = None, _facing_windows(n, triangles, size, topology)
    groups, outside = ([(None, topology.window_loop, topology.window_pair_mask)], None) if part is None else \
        topology.window_trims(*part)
    shape, window = facing.nonzero()
    axes = None if projected is not None else _plane_axes(mean.reshape(3, -1).take(shape * W + window, axis=1))
    found = []  # (shapes, windows) that are height fields
    for member, loops, pairs in groups:
        which = slice(None) if member is None else member[window]
        s, w = shape[which], window[which]
        if len(s):
            # the boundary and the middle vertex (last) in the window's plane: (2, n, Lw + 1)
            if projected is not None:
                xy = projected.take(s[:, None] * V + loops[w], axis=1)
            else:
                xy = _in_plane(c.reshape(3, -1).take(s[:, None] * V + loops[w], axis=1), None, axes[:, :, which])
            simple = _simple_loops(xy[:, :, :-1], pairs, xy[:, :, -1])
            found.append((s[simple], w[simple]))
    if outside is not None and len(outside):
        found.append((np.repeat(np.arange(S), len(outside)), np.tile(outside, S)))
    shape, window = (np.concatenate(x) for x in zip(*found)) if found else (shape[:0], window[:0])
    covered = np.zeros((S, nb, nb), bool)
    covered.reshape(-1)[shape[:, None] * (nb * nb) + topology.window_block_pairs[window]] = True
    return covered


def _block_candidates(lo, hi, S, topology, covered):
    """The broad phase by blocks: pairs of quads (global indices, i < j, sorted) whose boxes overlap and
    that share no vertex, leaving out pairs in blocks that `covered` (_patches) clears; None when the
    blocks left would give more pairs to compare than the spatial hash (_candidate_quads) costs.
    lo, hi: (3, S * Q) the quads' boxes."""
    Q = topology.quads
    nb, bb = topology.block_quads.shape
    br, bp = topology.blocks
    nr, np_ = topology.block_grid
    # the blocks' boxes: each quad's place in its block leading, reduced over it
    quad = np.concatenate([lo, hi])  # (6, S * Q): lo then hi
    block = quad.reshape(6, S, nr, br, np_, bp).transpose(3, 5, 0, 1, 2, 4).reshape(br * bp, 6, S, nb)
    b_lo, b_hi = block[:, :3].min(axis=0), block[:, 3:].max(axis=0)
    reach = b_lo[:, :, :, None] <= b_hi[:, :, None, :]  # block A's box reaches block B's, and B's reaches A's
    reach = reach[0] & reach[1] & reach[2]
    shape, A, B = _nonzero(~covered & topology.block_upper & reach & reach.transpose(0, 2, 1))
    if len(A) * bb * bb > BLOCK_PAIR_LIMIT * Q * S:
        return None
    # the quads of block A whose boxes meet block B's, and of B meeting A's; then every such quad of A
    # against every such quad of B (inside one block: each pair once), box against box
    first = shape[:, None] * Q + topology.block_quads[A]  # (n, bb) global quad indices
    second = shape[:, None] * Q + topology.block_quads[B]
    block = np.concatenate([b_lo, b_hi]).reshape(6, -1)
    box_a, box_b = block.take(shape * nb + A, axis=1)[..., None], block.take(shape * nb + B, axis=1)[..., None]
    quad_a, quad_b = quad.take(first, axis=1), quad.take(second, axis=1)  # (6, n, bb)
    in_a = (quad_a[:3] <= box_b[3:]) & (box_b[:3] <= quad_a[3:])
    in_b = (quad_b[:3] <= box_a[3:]) & (box_a[:3] <= quad_b[3:])
    in_a, in_b = in_a[0] & in_a[1] & in_a[2], in_b[0] & in_b[1] & in_b[2]
    # (and only the quad pairs of the block pair's kind that may cross: none that share a vertex)
    keep = in_a[:, :, None] & in_b[:, None, :] & topology.quad_pairs_kept.take(topology.block_pair_kind.take(A * nb + B), axis=0)
    n, a, b = _nonzero(keep)
    i, j = first[n, a], second[n, b]
    quad_i, quad_j = quad.take(i, axis=1), quad.take(j, axis=1)
    meet = (quad_i[:3] <= quad_j[3:]) & (quad_j[:3] <= quad_i[3:])
    meet = meet[0] & meet[1] & meet[2]
    i, j = i[meet], j[meet]
    n = lo.shape[1]
    pair = np.minimum(i, j) * n + np.maximum(i, j)
    pair.sort()
    return pair // n, pair % n


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _crossing(both, eps):
    """Which triangle pairs cross transversally (Möller's test): indices into the P pairs.
    both: (3 corners, 3 coordinates, 2P), each pair's first triangle, then (from P on) its second. A pair
    crosses when each triangle has corners strictly on both sides of the other's plane and their spans
    along the planes' common line overlap. Both triangles of every pair are handled side by side, in few
    numpy calls."""
    P = both.shape[2] // 2
    edges = both[1:] - both[0]
    normal = _unit(np.ascontiguousarray(_cross(edges[0], edges[1], axis=0).T)).T  # (3, 2P): nA then nB
    other = np.concatenate([both[0, :, P:], both[0, :, :P]], axis=1)  # the other triangle's first corner
    other_normal = np.concatenate([normal[:, P:], normal[:, :P]], axis=1)
    diff = both - other
    d = diff[:, 0] * other_normal[0] + diff[:, 1] * other_normal[1] + diff[:, 2] * other_normal[2]  # (3, 2P)
    straddles = (d.max(axis=0) > eps) & (d.min(axis=0) < -eps)
    idx = (straddles[:P] & straddles[P:]).nonzero()[0]
    if len(idx) == 0:
        return idx
    n = len(idx)
    pick = np.concatenate([idx, idx + P])
    both, d, normal = both.take(pick, axis=2), d.take(pick, axis=1), normal.take(pick, axis=1)
    D = _unit(np.ascontiguousarray(_cross(normal[:, :n], normal[:, n:], axis=0).T)).T  # (3, n): the planes' common line
    D = np.concatenate([D, D], axis=1)
    p = both[:, 0] * D[0] + both[:, 1] * D[1] + both[:, 2] * D[2]  # (3 corners, 2n) along the line
    side = np.where(np.abs(d) <= eps, 0.0, np.sign(d))
    p_next, d_next, side_next = p.take(_NEXT, axis=0), d.take(_NEXT, axis=0), side.take(_NEXT, axis=0)  # edge k runs to corner k + 1
    crosses = side * side_next < 0  # where the edge crosses the plane, and there
    t = p + np.divide((p_next - p) * d, d - d_next, out=np.zeros_like(p), where=crosses)
    t = np.where(side == 0, p, np.where(crosses, t, np.nan))  # or its first corner lies on it
    low, high = np.fmin.reduce(t, axis=0, initial=np.inf), np.fmax.reduce(t, axis=0, initial=-np.inf)
    return idx[np.maximum(low[:n], low[n:]) < np.minimum(high[:n], high[n:])]


def _height_fields(surfaces, normals, topology):
    """Which surfaces (S, R, P, 3) provably cannot cross themselves: every triangle faces the same side
    of a plane (their mean normal's) and the boundary, projected onto that plane, is a simple loop.
    Then the projection is one-to-one (a locally one-to-one map of a disk whose boundary stays simple
    covers each point at most once), so no two points of the surface coincide. (S,) bool."""
    c = np.ascontiguousarray(np.moveaxis(surfaces, -1, 0))
    return _flat_over_a_plane(c, np.ascontiguousarray(np.moveaxis(normals, -1, 0)), _triangle_normals(c),
                              _extent(c), topology)


def _extent(c):
    """The largest extent along an axis of each surface, coordinates first (3, S, ...): (S,)."""
    flat = c.reshape(3, c.shape[1], -1)
    return (flat.max(axis=2) - flat.min(axis=2)).max(axis=0)


def _tilted(t, m, limit):
    """Which patches face one direction: every triangle (normals t (n, 3, triangles)) faces m (3, n, unit)
    by more than `limit` (n,), or, failing that, faces m tilted up to HEIGHT_FIELD_TILTS times towards the
    triangle that faces it least (as a perceptron learns). (ok (n,) bool, the directions (3, n))."""
    n = t.shape[0]
    m = np.ascontiguousarray(m.T)  # (n, 3)
    ok = np.zeros(n, bool)
    todo, mt, tt, lt = np.arange(n), m, t, limit  # the patches left: their directions, triangles and limits
    each = todo
    for tilt in range(HEIGHT_FIELD_TILTS + 1):
        up = np.matmul(mt[:, None, :], tt)[:, 0]  # (k, triangles)
        worst = up.argmin(axis=1)
        facing = up[each, worst] > lt
        rest = (~facing).nonzero()[0]  # the patches that do not face it yet
        if len(rest) < len(todo):
            ok[todo[facing]] = True
        if len(rest) == 0 or tilt == HEIGHT_FIELD_TILTS:
            break
        u = tt[rest, :, worst[rest]]  # (k', 3): the triangle facing least
        if len(rest) < len(todo):
            m[todo] = mt  # (the directions of those that face it)
            todo, mt, tt, lt, each = todo[rest], mt[rest], tt[rest], lt[rest], each[:len(rest)]
        u = u / np.maximum(np.sqrt(np.einsum("ki,ki->k", u, u)), 1e-300)[:, None]
        mt = mt + (TILT_MARGIN - np.einsum("ki,ki->k", u, mt))[:, None] * u
        mt = mt / np.maximum(np.sqrt(np.einsum("ki,ki->k", mt, mt)), 1e-300)[:, None]
    m[todo] = mt
    return ok, m.T


def _flat_over_a_plane(c, n, triangles, size, topology, boundary=None, planes=False):
    """_height_fields, coordinates first: surfaces c (3, S, R, P), quad normals n (3, S, R-1, P-1),
    `triangles` (_triangle_normals), `size` (_extent). `boundary`: the loop to test instead of the whole
    surface's and its pair mask (_Topology.inner_boundary). (S,) bool; with `planes`, also which surfaces
    face a plane (S,) and its normal (3, S)."""
    S = c.shape[1]
    mean = n.reshape(3, S, -1).sum(axis=2)  # (3, S)
    length = np.sqrt(mean[0] * mean[0] + mean[1] * mean[1] + mean[2] * mean[2])
    mean = mean / np.where(length > 0, length, 1.0)
    t = triangles.reshape(2, 3, S, -1).transpose(2, 1, 0, 3).reshape(S, 3, -1)  # (S, 3, triangles)
    faces, mean = _tilted(t, mean, 1e-9 * size ** 2)
    ok = faces.copy()
    if ok.any():
        which = ok.nonzero()[0]
        loop, pairs = (topology.boundary, topology.boundary_pair_mask) if boundary is None else boundary
        xy = _in_plane(c.reshape(3, -1).take(which[:, None] * (c.shape[2] * c.shape[3]) + loop, axis=1),
                       mean.take(which, axis=1))
        ok[which] = _simple_loops(xy, pairs, np.add.reduce(xy, axis=2) / xy.shape[2])  # (the mean, as .mean has it)
    return (ok, faces, mean) if planes else ok


def _star_shaped(xy, centre):
    """Whether closed loops (x, y) (2, n, L) in the plane wind once around a centre (2, n) with every edge
    turning the same way about it. Then each ray from the centre meets the loop once, so the loop is simple:
    a quick test that suffices (most loops here pass it); (n,) bool."""
    p = xy - centre[:, :, None]
    q = np.concatenate([p[:, :, 1:], p[:, :, :1]], axis=2)
    along, across = p * q, p * q[::-1]  # (x x', y y') and (x y', y x'): each product once
    turn = across[0] - across[1]
    total = np.arctan2(turn, along[0] + along[1]).sum(axis=1)  # 2 pi times how often the loop winds
    return ((turn.min(axis=1) > 0) | (turn.max(axis=1) < 0)) & (np.abs(total) < 3 * np.pi)


def _simple_loops(xy, pairs, centre=None):
    """Whether closed loops of points (x, y) (2, S, L) in the plane are simple: no two of their edges that
    share no vertex (`pairs`, an (L, L) mask of edge i against edge j) touch. Given a `centre` (2, S),
    loops star-shaped about it (_star_shaped) are simple without more; the others: edges whose extents
    overlap along x (found with (S, L, L) comparisons), then along y, get the exact orientation test."""
    S, L = xy.shape[1:]
    simple = np.ones(S, bool)
    if centre is not None:
        rest = (~_star_shaped(xy, centre)).nonzero()[0]
        if len(rest) == 0:
            return simple
        if len(rest) < S:
            simple[rest] = _simple_loops(xy[:, rest], pairs)
            return simple
    w = np.concatenate([xy, xy[:, :, :1]], axis=2)  # each loop closed: (2, S, L + 1), edge k from point k to k + 1
    lo, hi = np.minimum(w[:, :, :-1], w[:, :, 1:]), np.maximum(w[:, :, :-1], w[:, :, 1:])  # the edges' boxes
    reach = hi[0][:, :, None] >= lo[0][:, None, :]  # edge i's box reaches edge j's along x
    s, i, j = _nonzero(reach & pairs & reach.transpose(0, 2, 1))
    meet = (hi[1][s, i] >= lo[1][s, j]) & (hi[1][s, j] >= lo[1][s, i])  # ... and along y
    s, i, j = s[meet], i[meet], j[meet]
    # each edge's ends about the other edge, both edges at once: e (x or y, which edge, start or end, pair)
    first = s * (L + 1) + np.array([i, j])
    e = w.reshape(2, -1).take(np.array([first, first + 1]).transpose(1, 0, 2), axis=1)
    here, there = e, e[:, ::-1]
    side = ((here[0, :, 1] - here[0, :, 0])[:, None] * (there[1] - here[1, :, :1])
            - (here[1, :, 1] - here[1, :, 0])[:, None] * (there[0] - here[0, :, :1]))
    touch = (side[:, 0] * side[:, 1] <= 0).all(axis=0)
    simple[s[touch]] = False
    return simple


_FIRST_TRIANGLES, _SECOND_TRIANGLES = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])  # a quad pair's four triangle pairs


def _intersections(surfaces, topology, normals=None, thin=None, limit=None, c=None):
    """Crossing triangle pairs of a batch of surfaces (S, R, P, 3): (shape index (I,), triangle pairs (I, 2)),
    ordered by shape, then triangles. `normals`: their quad_normals, when already computed. Surfaces
    that are height fields over some plane (_height_fields) are skipped: most shapes between and near
    the templates are; in the others, so are pairs of quads inside a patch that is one (_patches).
    `thin`: which quads are slivers (S, R-1, P-1) (`slivers`), whose crossings do not count: in the
    height-field tests their triangles face the surface's mean normal and they add nothing to a mean,
    so that a sliver a small error turned over does not keep a surface or patch from being a height
    field; crossings with a sliver may then be missed. `limit`: the sliver threshold of each surface (S,)
    (`slivers`): quads both of whose triangles are under half of it take no part in the broad phase
    (_visible_crossings drops every crossing with such a triangle, so nothing changes but the cost: the
    bundled leaf's tip, where two rows meet, makes a strip of them whose boxes all overlap). `c`: the surfaces
    coordinates first (_first), when already made."""
    if len(surfaces) == 0:  # an empty batch (a caller left with nothing to check)
        return np.zeros(0, int), np.zeros((0, 2), int)
    normals = quad_normals(surfaces) if normals is None else normals
    c = _first(surfaces) if c is None else c  # (3, S, R, P): numpy is fastest along long axes
    if not HEIGHT_FIELD_SHORTCUT:
        return _all_intersections(c, np.ascontiguousarray(normals.transpose(3, 0, 1, 2)), topology)
    triangles, size = _triangle_normals(c), _extent(c)
    n = np.ascontiguousarray(normals.transpose(3, 0, 1, 2))  # (3, S, R - 1, P - 1)
    own = triangles  # (before the slivers' are turned to face the mean)
    sliced = thin is not None and thin.any()
    if sliced:  # slivers: no normal of their own; their triangles face the surface's mean
        n = np.where(thin, 0.0, n)
        mean = n.reshape(3, n.shape[1], -1).sum(axis=2)  # (3, S)
        mean = mean / np.maximum(np.sqrt(np.einsum("is,is->s", mean, mean)), 1e-300)
        triangles = np.where(thin, (mean * size ** 2)[:, :, None, None], triangles)
    # quads both of whose triangles are under half the sliver threshold are never reported (_visible_crossings
    # drops them): only the part of the surface inside the border strips of them needs to be a height field
    unseen = _unseen(own, limit) if sliced and limit is not None else None
    boundary = part = None
    if unseen is not None and (part := _seen_part(unseen)) is not None:
        if part[0][0] == part[0][1]:  # every quad unseen: nothing can be reported
            return np.zeros(0, int), np.zeros((0, 2), int)
        boundary = topology.inner_boundary(*part)
    flat, faces, plane = _flat_over_a_plane(c, n, triangles, size, topology, boundary, planes=True)
    todo = (~flat).nonzero()[0]
    if len(todo) == 0:
        return np.zeros(0, int), np.zeros((0, 2), int)
    plane = faces[todo], plane[:, todo]  # a surface that faces a plane but overlaps itself in it: so do its windows
    some = len(todo) < c.shape[1]
    if some:
        c, n, triangles, size = c[:, todo], n[:, todo], triangles[:, :, todo], size[todo]
        unseen = None if unseen is None else unseen[todo]
    unseen = unseen if unseen is None or unseen.any() else None
    flat = c.reshape(3, -1)
    extent = float((flat.max(axis=1) - flat.min(axis=1)).max())  # of the whole surfaces (Möller's test's margin)
    inner = None if part is None or topology.quads > PART_MOST_QUADS else topology.part(*part)
    if inner is None or (inner.blocks is None and topology.blocks is not None):  # (a part of, say, 31 rows has no
        # blocks: the whole surface's windows then, cut to the part)
        shape_of, pairs = _all_intersections(c, n, topology, triangles, size, unseen, part, plane, extent)
    else:  # only the part inside the border strips of unseen quads (nothing outside it can be reported): its own
        # blocks and windows, none of them cut
        (r0, r1), (p0, p1) = part
        unseen = unseen[:, r0:r1, p0:p1]  # (a few inside the part, if any)
        shape_of, pairs = _all_intersections(
            np.ascontiguousarray(c[:, :, r0:r1 + 1, p0:p1 + 1]), np.ascontiguousarray(n[:, :, r0:r1, p0:p1]), inner,
            np.ascontiguousarray(triangles[:, :, :, r0:r1, p0:p1]), size, unseen if unseen.any() else None, None, plane,
            extent)
        pairs = inner.whole_triangles[pairs]
    return (todo[shape_of] if some else shape_of), pairs


def _all_intersections(c, n, topology, triangles=None, size=None, unseen=None, part=None, plane=None, extent=None):
    """_intersections without the height-field shortcut for whole surfaces, coordinates first: surfaces
    c (3, S, R, P), quad normals n (3, S, R-1, P-1). Given `triangles` (_triangle_normals) and `size`
    (_extent), pairs of quads inside a patch that is a height field (_patches) are left out; given
    `unseen` (S, R-1, P-1), so are those quads (their boxes empty in the broad phase), and `part` (_seen_part)
    is where they are not, for _patches, as is `plane` (a plane each surface faces, where one does). `extent`: the
    largest extent of the whole surfaces (Möller's test's margin follows it) when c is a part of them."""
    S = c.shape[1]
    corners = np.array([c[:, :, :-1, :-1], c[:, :, 1:, :-1], c[:, :, 1:, 1:], c[:, :, :-1, 1:]]).reshape(4, 3, -1)  # quad (a, b, c, d)
    lo, hi = corners.min(axis=0), corners.max(axis=0)  # (3, S * Q)
    Q, T = topology.quads, 2 * topology.quads
    seen = None if unseen is None else ~unseen.reshape(-1)  # (S * Q,)
    found = covered = None
    if triangles is not None and topology.blocks is not None:
        covered = _patches(c, n, triangles, size, topology, part, plane)
        b_lo, b_hi = (lo, hi) if seen is None else (np.where(seen, lo, np.inf), np.where(seen, hi, -np.inf))
        found = _block_candidates(b_lo, b_hi, S, topology, covered)
        if found is None:  # too many blocks left: the hash, then leave out what the patches clear
            qi, qj = _candidate_quads(lo, hi, S, topology, seen)
            b = topology.block_of_quad
            keep = ~covered[qi // Q, b[qi % Q], b[qj % Q]]
            found = qi[keep], qj[keep]
    qi, qj = _candidate_quads(lo, hi, S, topology, seen) if found is None else found
    # a quad lies within a slab about its mean plane; two quads each outside the other's slab cannot cross
    if len(qi):  # (of the quads in pairs only: on a curled shape a few hundred of a thousand)
        k = len(qi)
        a = np.concatenate([qi, qj])  # each quad of a pair about the other's plane
        corner, m = corners.take(a, axis=2), n.reshape(3, -1).take(a, axis=1)  # (4, 3, 2 pairs), (3, 2 pairs)
        center = (corner[0] + corner[1] + corner[2] + corner[3]) / 4
        diff = corner - center
        h = np.abs(diff[:, 0] * m[0] + diff[:, 1] * m[1] + diff[:, 2] * m[2]).max(axis=0)  # (2 pairs,)
        diff = np.concatenate([corner[:, :, k:], corner[:, :, :k]], axis=2) - center
        d = diff[:, 0] * m[0] + diff[:, 1] * m[1] + diff[:, 2] * m[2]  # (4, 2 pairs): the other's corners about the plane
        apart = (d.min(axis=0) > h) | (d.max(axis=0) < -h)
        near = ~(apart[:k] | apart[k:])
        qi, qj = qi[near], qj[near]
    # two triangles of neighbouring quads can cross only where the surface turns back within a quad
    # or two: the quads' normals more than NEIGHBOUR_TURN apart (testing all costs more than the rest)
    # (and not inside a window that is a height field), all offsets of _NEIGHBOUR_PAIRS at once
    # (the windows first: on a curled shape they leave few pairs whose normals need comparing)
    one, other = topology.neighbours
    keep = np.ones((S, len(one)), bool) if covered is None else ~covered.reshape(S, -1).take(topology.neighbour_blocks, axis=1)
    if seen is not None:
        visible = seen.reshape(S, -1)
        keep &= visible.take(one, axis=1) & visible.take(other, axis=1)
    s, k = keep.nonzero()
    if len(s):  # (none where the windows cover every neighbour, as on most curled shapes)
        m = n.reshape(3, -1)
        straight = ~(_dot(m.take(s * Q + one[k], axis=1), m.take(s * Q + other[k], axis=1)) < np.cos(np.radians(NEIGHBOUR_TURN)))
        keep[s[straight], k[straight]] = False
        s, k = keep.take(topology.neighbour_of, axis=1).nonzero()
    t1 = np.concatenate([(2 * qi[:, None] + _FIRST_TRIANGLES).ravel(), s * T + topology.neighbour_triangles[0][k]])
    t2 = np.concatenate([(2 * qj[:, None] + _SECOND_TRIANGLES).ravel(), s * T + topology.neighbour_triangles[1][k]])
    if len(t1) == 0:
        return np.zeros(0, int), np.zeros((0, 2), int)
    flat = c.reshape(3, -1)  # (3, S * V)
    V = c.shape[2] * c.shape[3]
    t = np.concatenate([t1, t2])
    both = flat.take((t // T * V)[:, None] + topology.triangles[t % T], axis=1).transpose(2, 0, 1)  # (3 corners, 3, 2P)
    extent = float((hi.max(axis=1) - lo.min(axis=1)).max()) if extent is None else extent
    crossing = _crossing(both, 1e-9 * max(extent, 1e-12))
    if len(crossing) == 0:  # (the common answer, without the sorting)
        return np.zeros(0, int), np.zeros((0, 2), int)
    t1, t2 = t1[crossing], t2[crossing]
    order = np.lexsort((t2, t1))  # by shape (t1 counts across the batch), then triangles
    t1, t2 = t1[order], t2[order]
    return t1 // T, np.stack([t1 % T, t2 % T], axis=-1)


def intersecting_pairs(surface, sliver_area: float = 0.0) -> np.ndarray:
    """Pairs of triangles of one surface grid (R, P, 3) that share no vertex and cross: (I, 2) indices
    into grc.mesh.triangulate(grid_faces(R, P)) (triangle 2q and 2q + 1 make quad q). With `sliver_area`
    > 0 (Coherence uses SLIVER_AREA), pairs with a sliver triangle (see `slivers`) are left out."""
    surface = np.asarray(surface, float)
    topology = _Topology(*surface.shape[:2])
    normals, areas = _normals_and_areas(surface[None])
    if sliver_area <= 0:
        return _intersections(surface[None], topology, normals)[1]
    thin, limit = slivers(areas, sliver_area, surface[None])
    shape_of, pairs = _intersections(surface[None], topology, normals, thin, limit)
    return _visible_crossings(surface[None], topology, shape_of, pairs, limit)[1]


# -- the templates, as a reference -----------------------------------------------------------------
@dataclass
class Reference:
    """The templates at one time, on the surface: what a shape at that time is measured against."""

    time: float
    grids: np.ndarray  # (K, M, N, 3)
    edges: np.ndarray  # (K, E) edge lengths of their surfaces
    floor: float  # EDGE_FLOOR of the templates' median edge length over all time steps
    angles: np.ndarray  # (K, D) signed dihedral angles, radians
    own: dict  # the templates' own range: each measure, the most one template shows against another


def _stretch(edges, reference_edges, floor, mean=True):
    """(mean, max) |log length ratio| of (..., E) edges against each reference (K, E): (..., K) each (the mean
    None unless `mean`: the verdict needs only the max). `floor` is added to both lengths, so edges that
    (nearly) vanish, as at a petal's base, do not dominate."""
    r = np.abs(np.log((edges[..., None, :] + floor) / (reference_edges + floor)))
    return r.mean(axis=-1) if mean else None, r.max(axis=-1)


def _bend(angles, reference_angles, most=True):
    """(RMS, max) dihedral-angle change in degrees against each reference: (..., K) each (the max None unless
    `most`: the verdict needs only the RMS). The angles lie in
    [-pi, pi] (arctan2's), so a change plus pi lies in [-pi, 3 pi]: a turn added below 0 or taken off from
    2 pi up brings it into [0, 2 pi) as % does, to the bit (fmod is exact there and then adds the same turn),
    at a third of the cost."""
    turn = 2 * np.pi
    x = angles[..., None, :] - reference_angles + np.pi
    d = np.where(x < 0, x + turn, np.where(x >= turn, x - turn, x)) - np.pi
    d = np.degrees(np.abs(d) if most else d)  # (the RMS squares it: the sign makes no difference there)
    if d.shape[-1] == 0:  # one quad (a 2 x 2 grid not subdivided): no edge between two faces, nothing bends
        return np.zeros(d.shape[:-1]), np.zeros(d.shape[:-1])
    return np.sqrt(np.add.reduce(d ** 2, axis=-1) / d.shape[-1]), d.max(axis=-1) if most else None  # (the mean, as
    # .mean adds and divides, without its Python wrapper)


@dataclass
class Check:
    """The live measures of one shape and its verdict (see the module's docstring)."""

    verdict: str
    intersections: int
    folds: int
    stretch_mean: float
    stretch_max: float
    bend_rms: float  # degrees
    bend_max: float  # degrees
    novelty: float  # RMS per grid point to the nearest template at any time step, no alignment
    broken_quads: np.ndarray = field(repr=False)  # quads of the surface in a crossing or fold (red in a view)
    strained_by: list = field(default_factory=list)  # which measures left the templates' range

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "intersections": self.intersections, "folds": self.folds,
                "stretch_mean": self.stretch_mean, "stretch_max": self.stretch_max, "bend_rms": self.bend_rms,
                "bend_max": self.bend_max, "novelty": self.novelty, "strained_by": list(self.strained_by),
                "broken_quads": self.broken_quads.tolist()}


def dense_level(rows: int, points: int, most: int = 2, limit: float = DENSE_OPERATOR_LIMIT) -> int:
    """The highest subdivision level up to `most` whose dense operator (surface vertices x grid points) has at most
    `limit` entries: what a caller without scipy (the Blender add-on) can afford; 0 needs no operator."""
    return next((s for s in range(most, 0, -1) if math.prod(subdivided_size(rows, points, s)) * rows * points <= limit), 0)


class Coherence:
    """Measures shapes of one template set at one subdivision; everything fixed is precomputed.

    `templates`: a TemplateSet (or anything with .points (K, T, M, N, 3), .time, .morph, .names).
    `operator`: the subdivision as a (V, M * N) matrix (a scipy sparse matrix or a numpy array), as
    grc.mesh.subdivision_operator(M, N, subdivide) gives; None builds that one with numpy alone
    (grc.mesh.dense_subdivision_operator: the same values to float rounding, no scipy import), and
    subdivide=0 needs none. It is kept dense: these grids are small, and numpy alone then evaluates.
    "stencils": no operator, each surface subdivided by grc.mesh.subdivide_values (numpy alone, any grid
    size: what the Blender add-on uses where a dense operator would not fit; slower on batches than a sparse one).
    """

    def __init__(self, templates, subdivide: int = 2, operator=None):
        self.templates = templates
        K, T, M, N, _ = templates.points.shape
        self.grid_shape = (M, N, 3)
        self.subdivide = int(subdivide)
        if not 0 <= self.subdivide <= 3:
            raise GRCError(f"expected 0 to 3, got {subdivide}", field="subdivide")
        surface_size = subdivided_size(M, N, self.subdivide)
        dense = surface_size[0] * surface_size[1] * M * N <= DENSE_OPERATOR_LIMIT
        if isinstance(operator, str) and operator != "stencils":
            raise GRCError(f"expected a subdivision operator or \"stencils\", got {operator!r}", field="operator")
        if operator is None and self.subdivide > 0:
            if dense:
                from .mesh import dense_subdivision_operator  # numpy alone: no scipy import (about 0.2 s) for a verdict

                operator = dense_subdivision_operator(M, N, self.subdivide)
            else:  # a big grid: a dense operator would not fit in memory (rows x points squared, times 4^level)
                from .mesh import subdivision_operator

                operator = subdivision_operator(M, N, self.subdivide)
        if operator is None or self.subdivide == 0:
            self.operator, self.surface_size = None, (M, N)
        elif isinstance(operator, str):
            self.operator, self.surface_size = operator, surface_size
        else:
            if hasattr(operator, "tocsr"):  # scipy sparse: dense where that is small (one matmul is fastest)
                self.operator = np.asarray(operator.todense(), float) if dense else operator.tocsr()
            else:
                self.operator = np.asarray(operator, float)
            self.surface_size = surface_size
            if self.operator.shape != (self.surface_size[0] * self.surface_size[1], M * N):
                raise GRCError(f"expected a subdivision operator of shape "
                               f"{(self.surface_size[0] * self.surface_size[1], M * N)}, got {self.operator.shape}",
                               field="operator")
        self.topology = _Topology(*self.surface_size)
        self._points = np.asarray(templates.points, float)  # (K, T, M, N, 3)
        self._time = np.asarray(templates.time, float)
        self._references: dict[float, Reference] = {}
        self._between = None  # (time, morph) -> the template models' grids (K, ...): for_model sets it
        # stretch ignores length changes well below the templates' typical edge (a petal's base, a bud)
        self.edge_floor = EDGE_FLOOR * float(np.median(edge_lengths(self.surface(self._points.reshape(-1, M, N, 3)))))

    @classmethod
    def for_model(cls, model, subdivide: int = 2, operator=None) -> "Coherence":
        """The coherence of a model's shapes: its templates as the reference; between time steps its template
        models' shapes (see `template_grids`)."""
        out = cls(model.templates, subdivide, operator)
        out._between = model.template_rows
        return out

    # -- surfaces and references ---------------------------------------------------------------
    def surface(self, grid) -> np.ndarray:
        """Grids (..., M, N, 3) -> their subdivided surfaces (..., R, P, 3)."""
        grid = self._grid(grid)
        lead = grid.shape[:-3]
        if self.operator is None:
            return grid
        if isinstance(self.operator, str):  # "stencils": every shape's coordinates side by side, subdivided at once
            from .mesh import subdivide_values

            M, N = self.grid_shape[:2]
            flat = grid.reshape(-1, M, N, 3)
            out = subdivide_values(flat.transpose(1, 2, 0, 3).reshape(M, N, -1), self.subdivide)
            return out.reshape(*self.surface_size, len(flat), 3).transpose(2, 0, 1, 3).reshape(*lead, *self.surface_size, 3)
        flat = grid.reshape(-1, self.operator.shape[1], 3)
        if isinstance(self.operator, np.ndarray):
            return np.matmul(self.operator, flat).reshape(*lead, *self.surface_size, 3)
        S, size = flat.shape[:2]  # sparse: one product over every shape's coordinates at once
        out = self.operator @ flat.transpose(1, 0, 2).reshape(size, S * 3)
        return out.reshape(-1, S, 3).transpose(1, 0, 2).reshape(*lead, *self.surface_size, 3)

    def _grid(self, grid):
        grid = np.asarray(grid, float)
        if grid.shape[-3:] != self.grid_shape:
            raise GRCError(f"expected grids of shape {self.grid_shape} (the templates' rows and points), "
                           f"got {grid.shape[-3:]}", field="grid")
        return grid

    def template_grids(self, time: float) -> np.ndarray:
        """The templates at `time` (clamped to the first and last time step): (K, M, N, 3). At a time step the
        artist's grids; between two, their linear interpolation, or for a model's coherence (`for_model`) its
        template models' shapes there, corrected to meet the grids at both steps. A curling template's linear
        interpolation shrinks across the curl, so against it the template's own shape midway (and every blend
        near it) read as stretched: the leaf's templates at time 0.8 were "strained", its gallery all orange."""
        t = self._time
        time = float(np.clip(time, t[0], t[-1]))
        i = int(np.clip(np.searchsorted(t, time, "right") - 1, 0, len(t) - 2)) if len(t) > 1 else 0
        if len(t) == 1:
            return self._points[:, 0]
        w = (time - t[i]) / (t[i + 1] - t[i])
        linear = (1 - w) * self._points[:, i] + w * self._points[:, i + 1]
        if self._between is None or w <= 1e-9 or w >= 1 - 1e-9:
            return linear
        morph = np.asarray(self.templates.morph, float)
        at = self._between(np.array([time, t[i], t[i + 1]])[:, None], morph[None, :])  # (K, 3, M, N, 3)
        return at[:, 0] + (1 - w) * (self._points[:, i] - at[:, 1]) + w * (self._points[:, i + 1] - at[:, 2])

    def reference(self, time: float) -> Reference:
        """The templates at `time` as the reference for stretch and bending, with their own range."""
        key = float(time)
        ref = self._references.get(key)
        if ref is not None:
            return ref
        grids = self.template_grids(key)
        surfaces = self.surface(grids)
        edges = edge_lengths(surfaces)
        angles = _dihedral(surfaces)
        K = len(grids)
        floor = self.edge_floor
        # the templates' own range: each template against the others, and the straight blends between
        # two templates (as shape keys make them) against the nearest template
        pairs = [(a, b) for a in range(K) for b in range(a + 1, K)]
        between = np.array([(1 - w) * grids[a] + w * grids[b] for a, b in pairs for w in OWN_BLENDS])
        between = between.reshape(-1, *self.grid_shape)
        b_surfaces = self.surface(between)
        b_edges = edge_lengths(b_surfaces)
        b_angles = _dihedral(b_surfaces)
        s_mean, s_max = _stretch(edges, edges, floor)  # (K, K)
        b_rms, b_max = _bend(angles, angles)
        off = ~np.eye(K, dtype=bool)
        own = {}
        for name, v, w in (("stretch_mean", s_mean, _stretch(b_edges, edges, floor)[0]),
                           ("stretch_max", s_max, _stretch(b_edges, edges, floor)[1]),
                           ("bend_rms", b_rms, _bend(b_angles, angles)[0]),
                           ("bend_max", b_max, _bend(b_angles, angles)[1])):
            own[name] = max(float(v[off].max()), float(w.min(axis=1).max())) if K > 1 else 0.0
        ref = Reference(key, grids, edges, floor, angles, own)
        _make_room(self._references, REFERENCE_CACHE)
        self._references[key] = ref
        return ref

    def limits(self, time: float) -> dict:
        """Where strained begins at `time`: {"stretch_max": ..., "bend_rms": ...}."""
        own = self.reference(time).own
        return {"stretch_max": STRAIN_MARGIN * own["stretch_max"] + STRETCH_FLOOR,
                "bend_rms": STRAIN_MARGIN * own["bend_rms"] + BEND_FLOOR}

    # -- measures ----------------------------------------------------------------------------------
    def broken(self, grids) -> np.ndarray:
        """Whether each of a batch of grids (S, M, N, 3) is broken (crosses itself or folds): (S,) bool.
        Big surfaces are tested a few at a time (BROKEN_BATCH_VERTICES), so memory stays bounded."""
        grids = self._grid(grids).reshape(-1, *self.grid_shape)
        batch = max(1, BROKEN_BATCH_VERTICES // (self.surface_size[0] * self.surface_size[1]))
        if len(grids) > batch:
            return np.concatenate([self.broken(grids[i:i + batch]) for i in range(0, len(grids), batch)])
        surfaces = self.surface(grids)
        normals, areas = _normals_and_areas(surfaces)
        _, limit = slivers(areas, surfaces=surfaces)
        broken = np.zeros(len(surfaces), bool)
        broken[_folds(normals, FOLD_DEGREES, areas, limit)[1]] = True
        rest = np.flatnonzero(~broken)  # a folded shape is broken already: only the others need the crossing test
        if len(rest):
            broken[rest[self._crossings(surfaces[rest], normals[rest], areas[rest], limit[rest])[0]]] = True
        return broken

    def _crossings(self, surfaces, normals, areas, limit, c=None):
        """The crossings of surfaces (S, R, P, 3) that no sliver takes part in: (shape index, triangle pairs)."""
        shape_of, pairs = _intersections(surfaces, self.topology, normals, areas < limit[:, None, None], limit, c)
        return _visible_crossings(surfaces, self.topology, shape_of, pairs, limit)

    def verdicts(self, grids, time: float) -> tuple[np.ndarray, np.ndarray]:
        """Verdicts of a batch of grids (S, M, N, 3) at one time, as indices into VERDICTS (0 coherent,
        1 strained, 2 broken), and their novelty (unaligned): ((S,) int, (S,) float). For maps and pads."""
        grids = self._grid(grids).reshape(-1, *self.grid_shape)
        if len(grids) == 0:
            return np.zeros(0, int), np.zeros(0)
        surfaces = self.surface(grids)
        normals, areas = _normals_and_areas(surfaces)
        _, limit = slivers(areas, surfaces=surfaces)
        broken = np.zeros(len(grids), bool)
        broken[_folds(normals, FOLD_DEGREES, areas, limit)[1]] = True
        broken[self._crossings(surfaces, normals, areas, limit)[0]] = True
        ref = self.reference(time)
        _, s_max = _stretch(edge_lengths(surfaces), ref.edges, ref.floor)
        b_rms, _ = _bend(_dihedral(surfaces, normals), ref.angles)
        limits = self.limits(time)
        strained = (s_max.min(axis=1) > limits["stretch_max"]) | (b_rms.min(axis=1) > limits["bend_rms"])
        codes = np.where(broken, 2, np.where(strained, 1, 0))
        diff = self._points.reshape(1, -1, *self.grid_shape) - grids[:, None]  # (S, K * T, M, N, 3)
        novelty = np.sqrt(np.mean(np.sum(diff ** 2, axis=-1), axis=(-2, -1))).min(axis=1)
        return codes, novelty

    def check(self, grid, time: float) -> Check:
        """The live verdict of one grid (M, N, 3) at `time`, with the measures behind it (about 1-2 ms
        on a shape that is not broken; a broken one costs more: every crossing pair is found)."""
        surface = self.surface(grid)
        normals, areas = _normals_and_areas(surface)
        _, limit = slivers(areas[None], surfaces=surface[None])
        folds, _ = _folds(normals[None], FOLD_DEGREES, areas[None], limit)
        shape_of, crossings = self._crossings(surface[None], normals[None], areas[None], limit)
        ref = self.reference(time)
        s_mean, s_max = _stretch(edge_lengths(surface), ref.edges, ref.floor)
        angles = _dihedral(surface, normals)
        b_rms, b_max = _bend(angles, ref.angles)
        grid = np.asarray(grid, float)
        novelty = np.sqrt(np.mean(np.sum((self._points - grid) ** 2, axis=-1), axis=(-2, -1))).min()
        values = {"stretch_max": float(s_max.min()), "bend_rms": float(b_rms.min())}
        strained_by = [name for name, limit in self.limits(time).items() if values[name] > limit]
        verdict = "broken" if len(folds) or len(crossings) else "strained" if strained_by else "coherent"
        quads = np.unique(np.concatenate([folds.ravel(), crossings.ravel() // 2]))
        return Check(verdict, len(crossings), len(folds), float(s_mean.min()), values["stretch_max"],
                     values["bend_rms"], float(b_max.min()), float(novelty), quads, strained_by)

    def verdict(self, grid, time: float) -> str:
        """"coherent", "strained" or "broken" for one grid at `time`, as check() judges it; a fold
        answers before the crossing test runs, so a folded shape costs least."""
        surface = self.surface(grid)
        c = _first(surface)  # (3, 1, R, P), for every measure below
        normals, areas = _normals_and_areas(surface, c)
        _, limit = slivers(areas[None], surfaces=surface[None])
        n = _first(normals)  # (3, 1, R-1, P-1), a view
        across = _across_edges(n)  # the normals either side of each edge: for the folds and bending
        if _any_fold(n, across[2], self.topology, areas[None], limit) or \
                len(self._crossings(surface[None], normals[None], areas[None], limit, c)[0]):
            return "broken"
        ref = self.reference(time)
        limits = self.limits(time)
        _, s_max = _stretch(_edge_lengths(c)[0], ref.edges, ref.floor, mean=False)
        if s_max.min() > limits["stretch_max"]:
            return "strained"
        b_rms, _ = _bend(_dihedral(surface, normals, c, across), ref.angles, most=False)
        return "strained" if b_rms.min() > limits["bend_rms"] else "coherent"

    def measures(self, grid, time: float, *, morph=None, model=None, align: bool = True) -> dict:
        """Every measure of one grid at `time`, JSON-safe: the live check, novelty (aligned if `align`)
        with the nearest template and time, and, given the `model`, its relational consistency (the
        encoder's time and morph for the grid's rows against `time` and `morph`, the template rows' by default)."""
        grid = self._grid(grid)
        out = self.check(grid, time).to_json()
        out["limits"] = self.limits(time)
        out["templates_own_range"] = dict(self.reference(time).own)
        distance, k, i = novelty(grid, self._points, align=align)
        out.update({"novelty": distance, "novelty_aligned": bool(align),
                    "nearest_template": str(self.templates.names[k]) if hasattr(self.templates, "names") else k,
                    "nearest_time": float(self._time[i])})
        if model is not None:
            out["relational"] = relational_consistency(model, grid, time, morph)
        return out


def novelty(grid, template_points, align: bool = False) -> tuple[float, int, int]:
    """RMS distance per point from a grid (M, N, 3) to the nearest of the templates' grids
    (K, T, M, N, 3), optionally after moving each template rigidly onto the grid (Kabsch, no scaling):
    (distance, template index, time step index)."""
    grid = np.asarray(grid, float).reshape(-1, 3)
    P = np.asarray(template_points, float)
    K, T = P.shape[:2]
    refs = P.reshape(K * T, -1, 3)
    if align:
        gc, rc = grid.mean(axis=0), refs.mean(axis=1, keepdims=True)
        H = np.einsum("rpi,pj->rij", refs - rc, grid - gc)  # (KT, 3, 3)
        U, _, Vt = np.linalg.svd(H)
        d = np.sign(np.linalg.det(np.einsum("rij,rjk->rik", U, Vt)))
        fix = np.ones((len(refs), 3))
        fix[:, 2] = d
        R = np.einsum("rij,rj,rjk->rik", U, fix, Vt)  # rotation taking a template onto the grid (row vectors)
        refs = np.einsum("rpi,rij->rpj", refs - rc, R) + gc
    rms = np.sqrt(np.mean(np.sum((refs - grid) ** 2, axis=-1), axis=-1))  # (KT,)
    best = int(np.argmin(rms))
    return float(rms[best]), best // T, best % T


def relational_consistency(model, grid, time: float, morph=None) -> dict:
    """The encoder's (time, morph) for a grid's rows against the asked ones, with the same error on the
    templates' own rows at that time (the encoder's own accuracy) for scale."""
    morph = model.morph_samples(morph)
    grid = np.asarray(grid, float)
    code = model.encode(grid)  # (M, 2 + C)
    d_time, d_morph = np.abs(code[:, 0] - time), np.abs(code[:, 1] - morph)
    t, m = np.meshgrid([time], morph, indexing="ij")
    own = model.encode(model.template_rows(t, m)[:, 0])  # (K, M, 2 + C)
    return {"time_error_max": float(d_time.max()), "morph_error_max": float(d_morph.max()),
            "time_error_mean": float(d_time.mean()), "morph_error_mean": float(d_morph.mean()),
            "templates_time_error_max": float(np.abs(own[..., 0] - time).max()),
            "templates_morph_error_max": float(np.abs(own[..., 1] - morph).max())}


# -- blends --------------------------------------------------------------------------------------
def blend_region(weights) -> str:
    """"between templates" when every weight lies in [0, 1] (up to rounding), else "beyond". Weights that do not
    sum to 1 (typed into the app's sliders) are taken where their shape is: moved along (1, ..., 1) until they do
    (a blend is mean + sum w_k (trace_k - mean), the same shape)."""
    w = np.asarray(weights, float)
    w = w + (1 - w.sum(axis=-1, keepdims=True)) / w.shape[-1]
    return "between templates" if np.all((w >= -1e-9) & (w <= 1 + 1e-9)) else "beyond"


def blend_weights(K: int, blend) -> np.ndarray:
    """K weights for a blend: α for two templates, or K weights (any number of rows: (..., K))."""
    b = np.asarray(blend, float)
    if K == 2 and (b.ndim == 0 or b.shape[-1] != 2):
        return np.stack([1 - b, b], axis=-1)
    if b.shape[-1] != K:
        raise GRCError(f"expected {K} weights, got {b.shape[-1]}", field="blend")
    return b


def direction_weights(K: int, k, steps) -> np.ndarray:
    """Weights along template k's direction: (1 - s) · the templates' mean + s · template k, for each s:
    (S, K). s = 0 is the mean, 1 is template k, beyond 1 past it; k may also be one template per s (S,).
    (Two-template sets use α instead.)"""
    s = np.asarray(steps, float)[:, None]
    return (1 - s) * np.full(K, 1 / K) + s * np.eye(K)[k]


def shape_keys(templates, time: float, blend) -> np.ndarray:
    """Linear shape keys, what a Blender user has today: Σ w_k · template_k at `time` (templates linear
    between time steps): (M, N, 3), or (S, M, N, 3) for (S, K) weights."""
    points = np.asarray(templates.points, float)
    t = np.asarray(templates.time, float)
    time = float(np.clip(time, t[0], t[-1]))
    i = int(np.clip(np.searchsorted(t, time, "right") - 1, 0, max(len(t) - 2, 0)))
    grids = points[:, i] if len(t) == 1 else points[:, i] + (time - t[i]) / (t[i + 1] - t[i]) * (points[:, i + 1] - points[:, i])
    return np.tensordot(blend_weights(len(points), blend), grids, axes=1)


def model_shapes(model, time: float, weights) -> np.ndarray:
    """The model's grids at `time` for many blends at once, (S, K) weights -> (S, M, N, 3); model.shape does one."""
    weights = np.asarray(weights, float)
    traces = model.traces(time)[:, 0]  # (K, M, C)
    mean = traces.mean(axis=0)
    context = mean + np.tensordot(weights, traces - mean, axes=1)  # (S, M, C)
    morph = model.templates.morph
    S, M = len(weights), len(morph)
    return model.decode(np.full((S, M), float(time)), np.broadcast_to(morph, (S, M)), context)


# -- the safe blend range --------------------------------------------------------------------------
SAFE_STEP = 0.05
SAFE_REACH = 3.0  # search this far beyond [0, 1] on each side


def safe_range(broken_at, step: float = SAFE_STEP, reach: float = SAFE_REACH, chunk: int = 10):
    """The widest [low, high] around [0, 1] in steps of `step` (at most `reach` beyond) with no broken
    shape, given broken_at(values (S,)) -> (S,) bool; None when a shape in [0, 1] is broken.
    An end equal to -reach or 1 + reach means the search stopped there, not that the next step breaks.
    Searches outwards `chunk` steps at a time on both sides, so a range that ends early costs little."""
    n = int(round(reach / step))
    inside = np.linspace(0.0, 1.0, int(round(1 / step)) + 1)
    below = -step * np.arange(1, n + 1)
    above = 1 + step * np.arange(1, n + 1)
    if broken_at(inside).any():
        return None
    ends = [None, None]  # index of the first broken step below, above
    for start in range(0, n, chunk):
        sides = [k for k in (0, 1) if ends[k] is None]
        if not sides:
            break
        values = np.concatenate([(below, above)[k][start:start + chunk] for k in sides])
        broken = broken_at(values).reshape(len(sides), -1)
        for k, row in zip(sides, broken):
            if row.any():
                ends[k] = start + int(np.argmax(row))
    low = below[-1] if ends[0] is None else (below[ends[0] - 1] if ends[0] > 0 else 0.0)
    high = above[-1] if ends[1] is None else (above[ends[1] - 1] if ends[1] > 0 else 1.0)
    return [round(float(low), 10), round(float(high), 10)]


def safe_blend_ranges(model, coherence: Coherence | None = None, shapes=None, times=None) -> dict:
    """Per time step ("0.3": ...): [low, high] along the blend α for two templates, {template name:
    [low, high]} along each template's direction (direction_weights) for more; None where a shape
    inside [0, 1] is already broken. `shapes(time, weights (S, K)) -> (S, M, N, 3)` defaults to the
    model's (model_shapes); pass lambda t, w: shape_keys(model.templates, t, w) for shape keys."""
    templates = model.templates
    coherence = coherence or Coherence(templates)
    shapes = shapes or (lambda t, w: model_shapes(model, t, w))
    K = len(templates.names)
    if times is None:
        T = len(templates.time)
        times = [templates.time[i] for i in (range(1, T - 1) if T >= 3 else range(T))]
    out = {}
    for t in times:
        def along(k):
            weights = (lambda v: blend_weights(2, v)) if K == 2 else (lambda v: direction_weights(K, k, v))
            return safe_range(lambda v: coherence.broken(shapes(t, weights(v))))
        out[f"{t:g}"] = along(1) if K == 2 else {name: along(k) for k, name in enumerate(templates.names)}
    return out
