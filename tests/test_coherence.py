"""Coherence of shapes: crossings and folds found on hand-made grids, clean ones left alone, templates
coherent, the safe blend range agreeing with the shapes at its ends, three templates, the map."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import grc
import grc.importers
from grc import coherence
from grc.coherence import (VERDICTS, Coherence, blend_weights, dihedral_angles, direction_weights, fold_pairs,
                           intersecting_pairs, model_shapes, safe_blend_ranges, shape_keys)
from grc.errors import GRCError
from grc.mesh import subdivide_values, subdivision_operator
from grc.metrics import evaluate
from grc.plots import plot_map


def sheet(rows):
    """A grid whose rows are given as (y, z) pairs; every row spans x = 0..3 in 4 points."""
    return np.array([[[x, y, z] for x in (0.0, 1.0, 2.0, 3.0)] for y, z in rows])


def piercing_grid(rows=40):
    """A strip that loops through itself without ever turning sharply: rows follow a prolate cycloid
    (x = t - 2 sin t, y = -2 cos t, which crosses itself at t = ±1.895), points run along z."""
    t = np.linspace(-2.5, 2.5, rows)
    return np.array([[[t_ - 2 * np.sin(t_), -2 * np.cos(t_), z] for z in np.linspace(0, 1, 4)] for t_ in t])


def folded_grid():
    # flat, then bent straight back over itself a little above: a fold, and no crossing
    return sheet([(0, 0), (1, 0), (2, 0), (1, 0.1), (0.2, 0.1)])


def rolled_grid(turns=2.0, rows=40):
    """A sheet rolled into a spiral whose layers never touch: many nearby boxes, nothing crosses."""
    theta = np.linspace(0, 2 * np.pi * turns, rows)
    r = 1 + 0.3 * theta / (2 * np.pi)
    return np.array([[[r_ * np.cos(t), r_ * np.sin(t), z] for z in np.linspace(0, 2, 6)] for t, r_ in zip(theta, r)])


def brute_force_pairs(surface):
    """Every crossing triangle pair sharing no vertex, by testing each edge of one triangle against the
    other triangle, for all pairs at once (no broad phase, no shortcut)."""
    topology = coherence._Topology(*surface.shape[:2])
    tris, V = topology.triangles, surface.reshape(-1, 3)
    i, j = np.triu_indices(len(tris), 1)
    apart = ~(tris[i][:, :, None] == tris[j][:, None, :]).any(axis=(1, 2))
    i, j = i[apart], j[apart]

    def edges_cross(T1, T2):  # (n, 3, 3) corners: does an edge of T1 pass through the inside of T2?
        a, b, c = T2[:, 0], T2[:, 1], T2[:, 2]
        n = np.cross(b - a, c - a)
        hit = np.zeros(len(T1), bool)
        for k in range(3):
            p, q = T1[:, k], T1[:, (k + 1) % 3]
            dp, dq = np.einsum("ni,ni->n", p - a, n), np.einsum("ni,ni->n", q - a, n)
            through = dp * dq < 0
            with np.errstate(divide="ignore", invalid="ignore"):  # where the edge does not pass through
                x = p + (q - p) * (dp / (dp - dq))[:, None]
                s = [np.einsum("ni,ni->n", np.cross(v - u, x - u), n) for u, v in ((a, b), (b, c), (c, a))]
            inside = ((s[0] > 0) & (s[1] > 0) & (s[2] > 0)) | ((s[0] < 0) & (s[1] < 0) & (s[2] < 0))
            hit |= through & inside
        return hit

    A, B = V[tris[i]], V[tris[j]]
    found = edges_cross(A, B) | edges_cross(B, A)
    return set(zip(i[found].tolist(), j[found].tolist()))


def as_set(pairs):
    return set(map(tuple, np.sort(pairs, axis=1).tolist()))


def test_a_grid_that_passes_through_itself_is_found():
    grid = piercing_grid()
    assert len(intersecting_pairs(grid)) > 0
    assert len(fold_pairs(grid)) == 0  # it turns by less than 120 degrees: only the crossing tells
    smooth = subdivision_operator(40, 4, 1) @ grid.reshape(-1, 3)
    assert len(intersecting_pairs(smooth.reshape(79, 7, 3))) > 0  # and its subdivided surface too


def test_a_fold_is_found_and_is_not_a_crossing():
    grid = folded_grid()
    folds = fold_pairs(grid)
    assert len(folds) > 0 and len(intersecting_pairs(grid)) == 0
    assert set(folds[:, 0] // 3) <= {1, 2}  # between quad rows 1 and 2, where the sheet turns back


def test_clean_grids_are_not_broken():
    curved = np.array([[[np.sin(x), y, np.cos(x)] for x in np.linspace(0, 2, 8)] for y in np.linspace(0, 1, 6)])
    for grid in (sheet([(0, 0), (1, 0), (2, 0.3), (3, 1)]), curved, rolled_grid()):
        assert len(intersecting_pairs(grid)) == 0 and len(fold_pairs(grid)) == 0


def test_crossings_agree_with_testing_every_pair(monkeypatch):
    monkeypatch.setattr(coherence, "NEIGHBOUR_TURN", 0.0)  # test neighbouring quads' triangles always
    rng = np.random.default_rng(0)
    for noise in (0.3, 0.8):
        grid = sheet([(y, 0) for y in range(6)]) + rng.normal(0, noise, (6, 4, 3))
        found = brute_force_pairs(grid)
        assert as_set(intersecting_pairs(grid)) == found
    grid = piercing_grid(rows=16)
    assert len(brute_force_pairs(grid)) > 0 and as_set(intersecting_pairs(grid)) == brute_force_pairs(grid)


def crumpled_sheet(rows, points, noise, seed, curl=0.0):
    """A sheet with smooth random bumps, flat or, with `curl` turns, rolled into a tightening spiral:
    some patches stay height fields, some do not, and some layers pass through each other."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.linspace(0, 1, rows), np.linspace(0, 1, points), indexing="ij")
    if curl:
        angle, radius = 2 * np.pi * curl * u, 0.5 * (1 - 0.3 * u)
        grid = np.stack([v * 2, radius * np.sin(angle), 0.5 - radius * np.cos(angle)], axis=-1)
    else:
        grid = np.stack([v * 2, u * 2, 0 * u], axis=-1)
    for _ in range(4):  # smooth bumps: a few random waves
        k = rng.normal(0, 6, 2)
        grid = grid + noise * rng.normal(0, 1, 3) * np.sin(k[0] * u + k[1] * v + rng.uniform(0, 6))[..., None]
    return grid


def test_crossings_agree_with_testing_every_pair_on_larger_surfaces():
    # big enough for blocks of quads and windows of blocks (_patches); only crossings between
    # neighbouring quads turned by less than NEIGHBOUR_TURN may be left out
    crossing, crossing_with_patches = 0, 0
    for noise, curl, seed in CRUMPLED:
        grid = crumpled_sheet(25, 9, noise, seed, curl)
        brute, found = brute_force_pairs(grid), as_set(intersecting_pairs(grid))
        assert found <= brute
        assert {p for p in found if not _neighbours(p)} == {p for p in brute if not _neighbours(p)}
        crossing += len(brute) > 0
        crossing_with_patches += len(brute) > 0 and patches_cleared(grid) > 0
    assert 2 <= crossing < len(CRUMPLED)  # the check means something: some cross themselves, some do not
    assert crossing_with_patches >= 2  # and some that cross have patches that are height fields


def patches_cleared(grid):
    """How many block pairs of a surface grid lie in a window that is a height field (_patches)."""
    topology = coherence._Topology(*grid.shape[:2])
    c = np.ascontiguousarray(np.moveaxis(grid[None], -1, 0))
    n = np.ascontiguousarray(np.moveaxis(coherence.quad_normals(grid[None]), -1, 0))
    return int(coherence._patches(c, n, coherence._triangle_normals(c), coherence._extent(c), topology).sum())


# (noise, curl, seed) of crumpled_sheet(25, 9, ...): a 24 x 8 quad surface in blocks of 4 x 2 quads; flat,
# crumpled through itself, rolled with every window a height field (and the layers crossing or not), ...
CRUMPLED = [(0.05, 0, 0), (0.6, 0, 0), (0.6, 0, 1), (0.02, 1.2, 0), (0.05, 1.3, 0), (0.1, 1.2, 0),
            (0.08, 1.5, 1), (0.03, 1.6, 0), (0.2, 0.5, 0)]


def _neighbours(pair, points=8):
    """Whether two triangles (indices into a 25 x 9 grid's) belong to quads that share a vertex."""
    (ra, pa), (rb, pb) = divmod(pair[0] // 2, points), divmod(pair[1] // 2, points)
    return abs(ra - rb) <= 1 and abs(pa - pb) <= 1


def test_crossings_on_larger_surfaces_agree_exactly_without_the_neighbour_filter(monkeypatch):
    monkeypatch.setattr(coherence, "NEIGHBOUR_TURN", 0.0)  # test neighbouring quads' triangles always
    for noise, curl, seed in CRUMPLED:
        grid = crumpled_sheet(25, 9, noise, seed, curl)
        assert as_set(intersecting_pairs(grid)) == brute_force_pairs(grid)


def test_the_block_broad_phase_finds_what_the_spatial_hash_finds(monkeypatch):
    monkeypatch.setattr(coherence, "BLOCK_PAIR_LIMIT", 10 ** 9)  # every block pair, however many
    topology = coherence._Topology(25, 25)
    assert topology.blocks == (4, 4)
    compared = left_out = 0
    for seed, (noise, curl) in enumerate([(0.02, 0), (0.2, 0), (0.1, 1.2), (0.5, 0.6)]):  # flat to crumpled
        surfaces = np.stack([crumpled_sheet(25, 25, noise, 10 * seed + k, curl) for k in range(3)])
        c = np.ascontiguousarray(np.moveaxis(surfaces, -1, 0))
        corners = (c[:, :, :-1, :-1], c[:, :, 1:, :-1], c[:, :, 1:, 1:], c[:, :, :-1, 1:])
        lo = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3])).reshape(3, -1)
        hi = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3])).reshape(3, -1)
        nothing_cleared = np.zeros((3, 36, 36), bool)
        by_blocks = coherence._block_candidates(lo, hi, 3, topology, nothing_cleared)
        by_hash = coherence._candidate_quads(lo, hi, 3, topology)
        assert np.array_equal(by_blocks[0], by_hash[0]) and np.array_equal(by_blocks[1], by_hash[1])
        compared, every = compared + len(by_hash[0]), len(by_hash[0])
        seen = np.random.default_rng(seed).random(lo.shape[1]) > 0.3  # quads left out (unseen: _intersections)
        by_blocks = coherence._block_candidates(np.where(seen, lo, np.inf), np.where(seen, hi, -np.inf), 3, topology,
                                                nothing_cleared)
        by_hash = coherence._candidate_quads(lo, hi, 3, topology, seen)
        assert np.array_equal(by_blocks[0], by_hash[0]) and np.array_equal(by_blocks[1], by_hash[1])
        everything = coherence._candidate_quads(lo, hi, 3, topology)  # every pair, then those of quads seen
        keep = seen[everything[0]] & seen[everything[1]]
        assert np.array_equal(by_hash[0], everything[0][keep]) and np.array_equal(by_hash[1], everything[1][keep])
        left_out += len(by_hash[0]) < every
    assert compared > 100  # far quads whose boxes overlap: the rolled and crumpled sheets have plenty
    assert left_out >= 2  # and some of their pairs had a quad left out


def test_bending_wraps_the_angle_change_as_the_modulo_does():
    # _bend brings a change of dihedral angles (each in [-pi, pi], arctan2's) into [-pi, pi) with a turn
    # added or taken off instead of %: the same degrees to the bit, at the ends of the range too
    rng = np.random.default_rng(5)
    ends = [np.pi, -np.pi, 0.0, -0.0, np.nextafter(np.pi, 0), np.nextafter(-np.pi, 0), 1e-300, -1e-300]
    angles = np.concatenate([rng.uniform(-np.pi, np.pi, 4000), ends, ends])
    reference = np.stack([rng.uniform(-np.pi, np.pi, len(angles)), np.resize(ends[::-1], len(angles)), -angles])
    d = np.degrees(np.abs((angles[None, :] - reference + np.pi) % (2 * np.pi) - np.pi))
    rms, most = coherence._bend(angles, reference)
    assert np.array_equal(rms, np.sqrt(np.mean(d ** 2, axis=-1))) and np.array_equal(most, d.max(axis=-1))


def test_a_loop_is_simple_whether_or_not_it_is_star_shaped():
    rng = np.random.default_rng(3)
    L, n = 24, 40
    angle = np.sort(rng.uniform(0, 2 * np.pi, (n, L)), axis=1)
    radius = rng.uniform(0.3, 1.0, (n, L))
    star = radius * np.cos(angle), radius * np.sin(angle)  # star-shaped about the origin: simple
    twice = np.concatenate([angle[:, ::2], angle[:, ::2] + 2 * np.pi], axis=1)
    wound = radius * np.cos(twice), radius * np.sin(twice)  # winds twice around the origin: crosses itself
    spiked = star[0].copy(), star[1].copy()
    spiked[0][:, 5], spiked[1][:, 5] = 3.0, 0.0  # one point pulled far out: not star-shaped, simple or not
    xy = np.stack([np.concatenate([star[k], wound[k], spiked[k]]) for k in (0, 1)])
    pairs = coherence._loop_pairs(L)
    exact = coherence._simple_loops(xy, pairs)
    assert exact[:n].all() and not exact[n:2 * n].any() and 0 < exact[2 * n:].sum() < n
    centre = np.zeros((2, 3 * n))
    assert np.array_equal(coherence._simple_loops(xy, pairs, centre), exact)
    quick = coherence._star_shaped(xy, centre)
    assert quick[:n].all() and not quick[n:].any()


def test_the_height_field_shortcut_changes_nothing(petal_model, monkeypatch):
    check = Coherence.for_model(petal_model)
    weights = blend_weights(2, np.arange(-3, 4.01, 0.5))
    surfaces = check.surface(np.concatenate([model_shapes(petal_model, t, weights) for t in petal_model.templates.time]))
    normals = coherence.quad_normals(surfaces)
    skipped = coherence._height_fields(surfaces, normals, check.topology)
    assert 0 < skipped.sum() < len(surfaces)  # some shapes are height fields, some are not
    with_shortcut = coherence._intersections(surfaces, check.topology)
    monkeypatch.setattr(coherence, "HEIGHT_FIELD_SHORTCUT", False)
    without = coherence._intersections(surfaces, check.topology)
    assert np.array_equal(with_shortcut[0], without[0]) and np.array_equal(with_shortcut[1], without[1])
    assert not np.isin(without[0], np.nonzero(skipped)[0]).any()  # a height field never crosses itself
    flat = sheet([(0, 0), (1, 0), (2, 0.3), (3, 1)])[None]
    looped = piercing_grid()[None]
    assert coherence._height_fields(flat, coherence.quad_normals(flat), coherence._Topology(4, 4))[0]
    assert not coherence._height_fields(looped, coherence.quad_normals(looped), coherence._Topology(40, 4))[0]


def test_a_poles_quads_too_small_to_count_leave_the_broad_phase_and_change_nothing(leaf_model, monkeypatch):
    # the leaf's tip: its last rows meet, a strip of quads whose triangles are too small for a crossing to count;
    # their boxes all overlap. Left out of the broad phase (given the sliver threshold), far fewer triangle pairs
    # reach the narrow phase, and the crossings found are the same
    check = Coherence.for_model(leaf_model, subdivide=2)
    steps = np.arange(-1, 2.01, 0.25)
    grids = [model_shapes(leaf_model, t, direction_weights(3, k, steps)) for t in (0.25, 0.5, 0.625, 0.75) for k in range(3)]
    surfaces = check.surface(np.concatenate(grids))
    normals, areas = coherence._normals_and_areas(surfaces)
    thin, limit = coherence.slivers(areas)
    tested = []  # triangle pairs given to the narrow phase
    narrow = coherence._crossing
    monkeypatch.setattr(coherence, "_crossing", lambda both, eps: tested.append(both.shape[2] // 2) or narrow(both, eps))
    crossings = [coherence._visible_crossings(surfaces, check.topology, *coherence._intersections(
        surfaces, check.topology, normals, thin, *extra), limit) for extra in ([limit], [])]  # without: every quad
    assert tested[0] < 0.5 * tested[1]
    assert np.array_equal(crossings[0][0], crossings[1][0]) and np.array_equal(crossings[0][1], crossings[1][1])
    assert len(np.unique(crossings[0][0])) > 0  # some shapes of this short training do cross
    assert np.array_equal(check.broken(np.concatenate(grids)), np.isin(np.arange(len(surfaces)), np.concatenate(
        [crossings[0][0], coherence._folds(normals, coherence.FOLD_DEGREES, areas, limit)[1]])))


def test_a_batch_finds_what_each_shape_finds(petal):
    check = Coherence(petal, subdivide=1)
    grids = np.stack([petal.points[0, 3], folded_like(petal.points[1, 3]), petal.points[1, 4]])
    assert check.broken(grids).tolist() == [check.check(g, 0.55).verdict == "broken" for g in grids]
    assert check.broken(grids).tolist() == [False, True, False]
    assert [check.verdict(g, 0.55) for g in grids] == [check.check(g, 0.55).verdict for g in grids]


def folded_like(grid):
    """A template grid with its tip rows bent straight back over the rest."""
    out = grid.copy()
    out[-2:] = grid[-3] - (grid[-2:] - grid[-3]) + np.array([0, 0, 0.01])
    return out


def test_templates_are_coherent_with_novelty_zero(petal):
    check = Coherence(petal)
    for k in range(len(petal)):
        for i, time in enumerate(petal.time):
            result = check.check(petal.points[k, i], time)
            assert result.verdict == "coherent" and result.novelty < 1e-9
            assert result.stretch_max < 1e-9 and result.bend_rms < 1e-6
    full = check.measures(petal.points[1, 4], petal.time[4])
    assert full["novelty"] < 1e-6 and full["nearest_template"] == petal.names[1]
    assert full["nearest_time"] == pytest.approx(petal.time[4])


def test_a_shape_collapsed_to_a_point_is_neither_folded_nor_crossed_wherever_it_lies(petal):
    """A bud: at (1, 2, 3) the subdivision's rounding errors made 162 folds (broken), at the origin the crossing
    test compared every pair of quads (1.4 s a check, a set with a point for a time step trained 4x as long)."""
    check = Coherence(petal)
    for where in ([0, 0, 0], [1, 2, 3], [-1e3, 5, 0.25]):
        grid = np.broadcast_to(np.array(where, float), petal.points.shape[2:]).copy()
        result = check.check(grid, petal.time[2])
        assert result.intersections == 0 and result.folds == 0 and result.verdict != "broken", where
        assert check.verdict(grid, petal.time[2]) == result.verdict
        assert not check.broken(np.stack([grid, petal.points[0, 2]])).any()
        surface = check.surface(grid)
        assert len(intersecting_pairs(surface, coherence.SLIVER_AREA)) == 0
        assert len(fold_pairs(surface, sliver_area=coherence.SLIVER_AREA)) == 0
    # a surface that is merely small (a millionth of a unit, a thousand units from the origin) is judged in full
    far = [1e3, -2e3, 5.0]
    assert len(fold_pairs(folded_grid() * 1e-6 + far, sliver_area=coherence.SLIVER_AREA)) == len(
        fold_pairs(folded_grid(), sliver_area=coherence.SLIVER_AREA)) > 0
    assert len(intersecting_pairs(piercing_grid() * 1e-6 + far, coherence.SLIVER_AREA)) == len(
        intersecting_pairs(piercing_grid(), coherence.SLIVER_AREA)) > 0


def test_one_quad_bends_nowhere():
    """A 2 x 2 grid not subdivided has no edge between two faces: `grc map --subdivide 0` ended in a traceback."""
    a = sheet([(0, 0), (1, 0)])[:, :2]
    b = a + [0, 0, 0.5]
    templates = grc.TemplateSet([grc.importers.from_grids("a", [a, a]), grc.importers.from_grids("b", [b, b])])
    check = Coherence(templates, subdivide=0)
    result = check.check(shape_keys(templates, 0.0, 2.0), 0.0)
    assert result.bend_rms == 0 and result.verdict in ("coherent", "strained")
    codes, _ = check.verdicts(shape_keys(templates, 0.0, np.array([[1.0, 0.0], [-1.0, 2.0]])), 0.0)
    assert len(codes) == 2


def test_novelty_after_alignment_ignores_a_rigid_move(petal):
    check = Coherence(petal, subdivide=0)
    a = np.radians(30)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    moved = petal.points[0, 4] @ rotation.T + [0.5, 0.2, 0.1]
    assert check.measures(moved, petal.time[4], align=True)["novelty"] < 1e-6
    assert check.measures(moved, petal.time[4], align=False)["novelty"] > 0.1


def test_shapes_far_beyond_the_templates_are_strained():
    # two identical templates except one edge: stretching it far beyond is strained, not broken
    base = sheet([(0, 0), (1, 0), (2, 0), (3, 0)])
    longer = base.copy()
    longer[3, :, 1] = 3.4
    templates = grc.TemplateSet([grc.importers.from_grids("a", [base, base]),
                                 grc.importers.from_grids("b", [longer, longer])])
    check = Coherence(templates, subdivide=0)
    assert check.check(shape_keys(templates, 0.0, 0.5), 0.0).verdict == "coherent"
    far = check.check(shape_keys(templates, 0.0, 6.0), 0.0)
    assert far.verdict == "strained" and far.strained_by == ["stretch_max"]


def test_shape_keys_are_the_templates_at_their_weights(petal):
    assert np.allclose(shape_keys(petal, petal.time[2], 0.0), petal.points[0, 2])
    assert np.allclose(shape_keys(petal, petal.time[2], 1.0), petal.points[1, 2])
    two = shape_keys(petal, petal.time[2], np.array([[0.5, 0.5], [-1.0, 2.0]]))
    assert np.allclose(two[1], 2 * petal.points[1, 2] - petal.points[0, 2])


def test_a_dense_operator_needs_no_scipy(petal):
    dense = subdivision_operator(7, 7, 2).toarray()
    grid = petal.points[1, 4] * [1, 1, 3]
    # the default operator is built with numpy alone (grc.mesh.dense_subdivision_operator): the same check as
    # scipy's sparse one gives, its measures to float rounding
    shipped, default = Coherence(petal, 2, operator=dense).check(grid, 0.8).to_json(), Coherence(petal, 2).check(grid, 0.8).to_json()
    assert shipped.keys() == default.keys()
    for key, value in shipped.items():
        assert default[key] == (pytest.approx(value, rel=1e-12, abs=1e-12) if isinstance(value, float) else value), key
    code = ("import sys; sys.modules['scipy'] = None; import grc, grc.coherence; "
            "c = grc.coherence.Coherence(grc.load_templates(sys.argv[1]), 2); print(c.operator.shape)")
    done = subprocess.run([sys.executable, "-c", code, str(Path(petal.path).resolve())], capture_output=True, text=True)
    assert done.stdout.strip() == "(625, 49)", done.stderr
    with pytest.raises(GRCError, match="operator"):
        Coherence(petal, 2, operator=dense[:, :10])
    with pytest.raises(GRCError, match="grid"):
        Coherence(petal, 2).check(np.zeros((5, 7, 3)), 0.5)


def test_any_grid_is_subdivided_without_an_operator(petal):
    # the stencils applied to the points themselves (what the Blender add-on uses where a dense operator would not
    # fit): the surface scipy's operator gives, for any size, and the same verdicts
    rng = np.random.default_rng(4)
    for rows, points in [(2, 2), (3, 5), (7, 7), (12, 4), (30, 31)]:
        grid = rng.normal(size=(rows, points, 3))
        for level in (1, 2, 3):
            expected = (subdivision_operator(rows, points, level) @ grid.reshape(-1, 3)).reshape(-1)
            np.testing.assert_allclose(subdivide_values(grid, level).reshape(-1), expected, atol=1e-12)
    stencils, default = Coherence(petal, 2, operator="stencils"), Coherence(petal, 2)
    grids = np.stack([petal.points[1, 4] * [1, 1, s] for s in (1, 3, -2)] + [folded_like(petal.points[1, 3])])
    np.testing.assert_allclose(stencils.surface(grids), default.surface(grids), atol=1e-12)
    assert [stencils.check(g, 0.8).verdict for g in grids] == [default.check(g, 0.8).verdict for g in grids]
    assert "broken" in [default.check(g, 0.8).verdict for g in grids]
    with pytest.raises(GRCError, match="stencils"):
        Coherence(petal, 2, operator="sparse")


def test_the_safe_range_matches_the_shapes_at_its_ends(petal_model):
    metrics = evaluate(petal_model)
    ranges = metrics["safe_blend_range"]
    check = Coherence.for_model(petal_model)
    assert list(ranges) == [f"{t:g}" for t in petal_model.templates.time[1:-1]]
    for key, value in ranges.items():
        time = float(key)
        if value is None:  # something between the templates is broken already
            assert check.broken(model_shapes(petal_model, time, blend_weights(2, np.linspace(0, 1, 21)))).any()
            continue
        low, high = value
        assert low <= 0 and high >= 1
        inside = np.round(np.arange(low, high + 0.025, 0.05), 10)
        assert not check.broken(model_shapes(petal_model, time, blend_weights(2, inside))).any()
        for end, limit in ((low - 0.05, -3.05), (high + 0.05, 4.05)):
            if not np.isclose(end, limit):
                assert check.broken(model_shapes(petal_model, time, blend_weights(2, [end])))[0]
    assert "safe_blend_range" not in evaluate(petal_model, safe_range=False)


def test_three_templates(leaf_model, tmp_path):
    check = Coherence.for_model(leaf_model)
    grid = leaf_model.shape(0.5, [0.2, 0.3, 0.5])
    result = check.check(grid, 0.5)
    assert result.verdict in VERDICTS and result.novelty > 0
    full = check.measures(grid, 0.5, model=leaf_model)
    assert full["nearest_template"] in leaf_model.names
    assert set(full["relational"]) >= {"time_error_max", "morph_error_max", "templates_time_error_max"}
    weights = direction_weights(3, 2, [0.0, 1.0, 2.0])
    assert np.allclose(weights[1], [0, 0, 1]) and np.allclose(weights[0], 1 / 3)
    codes, novelty = check.verdicts(model_shapes(leaf_model, 0.5, weights), 0.5)
    assert [VERDICTS[c] for c in codes] == [check.verdict(leaf_model.shape(0.5, w), 0.5) for w in weights]
    ranges = safe_blend_ranges(leaf_model, check, times=[0.5])
    assert set(ranges["0.5"]) == set(leaf_model.names)
    path = plot_map(leaf_model, tmp_path / "leaf.png", times=[0.5], samples=8, coherence=check)
    assert path.stat().st_size > 10_000


def test_plot_map_writes_a_picture(petal_model, tmp_path):
    path = plot_map(petal_model, tmp_path / "map.png", blends=(-1, 2), step=0.25, samples=6)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(GRCError, match="png"):
        plot_map(petal_model, tmp_path / "map.jpg")


def test_a_row_of_shapes_is_drawn_whole_and_in_its_verdicts_colours(petal_model, tmp_path):
    from PIL import Image

    from grc.plots import VERDICT_COLORS, plot_shape_rows

    coherence = Coherence.for_model(petal_model, subdivide=1)
    shapes = [(f"blend {b:g}", petal_model.shape(0.8, b), coherence.verdict(petal_model.shape(0.8, b), 0.8))
              for b in (0.5, 3.0)]
    path = plot_shape_rows([("model", shapes)], tmp_path / "row.png", subdivide=1)
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    width = image.shape[1]
    colours = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in VERDICT_COLORS], float)
    hue = lambda rgb: rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1)  # noqa: E731 (shading keeps it)
    for (_, _, verdict), half in zip(shapes, (image[:, :width // 2], image[:, width // 2:])):
        drawn = half.min(axis=2) < 240  # not the white background
        nearest = np.argmin(np.linalg.norm(hue(half[..., None, :]) - hue(colours), axis=-1), axis=-1)
        near = drawn & (nearest == VERDICTS.index(verdict))
        # the shape is drawn, most of it closest to its verdict's colour of all the verdicts' (the shading
        # darkens it; the petal model here is a quick training, whose shapes at 0.5 and 3 are small, 1,100-10,000
        # pixels)
        assert drawn.sum() > 500 and near.sum() > 0.5 * drawn.sum(), (verdict, near.sum(), drawn.sum())
        ys, xs = np.nonzero(near)
        assert ys.min() > 0 and xs.min() > 0 and ys.max() < half.shape[0] - 1 and xs.max() < half.shape[1] - 1  # whole
    with pytest.raises(GRCError, match="png"):
        plot_shape_rows([("model", shapes)], tmp_path / "row.jpg")


def test_an_empty_batch_has_no_verdicts():
    import grc
    from grc.examples import model_path

    coherence = Coherence.for_model(grc.load_model(model_path("petal")), 2)
    assert coherence.broken(np.zeros((0, 7, 7, 3))).shape == (0,)
    codes, novelty = coherence.verdicts(np.zeros((0, 7, 7, 3)), 0.5)
    assert codes.shape == novelty.shape == (0,)
    assert [a.shape for a in dihedral_angles(np.zeros((0, 7, 7, 3)))] == [(0, 5, 6), (0, 6, 5)]


def test_a_big_grid_is_measured_in_bounded_memory():
    """A grid too big for a dense subdivision operator keeps a sparse one (the same surface), `broken` tests big
    surfaces a few at a time, and the safe range drops to a lower subdivision rather than run out of memory
    (a set within every limit trained, then `grc train` failed 'out of memory' after saving)."""
    from types import SimpleNamespace

    from grc.metrics import SAFE_RANGE_VERTICES, safe_range_subdivision
    from grc_testing import made_up_set

    templates = made_up_set(K=2, T=3, M=31, N=40)
    big = Coherence(templates, 2)
    assert not isinstance(big.operator, np.ndarray)  # (121 x 157 vertices) x 1,240 points: sparse
    grids = templates.points[:, 1]
    expected = np.stack([subdivision_operator(31, 40, 2) @ g.reshape(-1, 3) for g in grids])
    np.testing.assert_allclose(big.surface(grids).reshape(2, -1, 3), expected, atol=1e-12)
    small = Coherence(made_up_set(K=2, T=3, M=7, N=7), 2)
    assert isinstance(small.operator, np.ndarray)  # the petal's size: one dense matmul
    flat = np.zeros((5, 31, 40, 3))
    flat[..., 0], flat[..., 1] = np.linspace(0, 1, 31)[:, None], np.linspace(0, 1, 40)[None, :]
    folded = flat.copy()
    folded[:, 10:, :, 2] = 0.001 * np.arange(21)[:, None]  # a sheet turned back over itself at row 10
    folded[:, 10:, :, 0] = 2 * flat[:, 10:11, :, 0] - flat[:, 10:, :, 0]
    both = np.concatenate([flat, folded])
    batched = coherence.BROKEN_BATCH_VERTICES
    try:
        coherence.BROKEN_BATCH_VERTICES = 121 * 157 * 2  # two surfaces at a time
        assert big.broken(both).tolist() == [False] * 5 + [True] * 5
    finally:
        coherence.BROKEN_BATCH_VERTICES = batched
    assert big.broken(both).tolist() == [False] * 5 + [True] * 5

    # without scipy (the Blender add-on) a dense operator is all there is: the highest level it can afford
    assert coherence.dense_level(7, 7) == 2 and coherence.dense_level(30, 40, 2, 32e6) == 2
    assert coherence.dense_level(31, 40) == 0 and coherence.dense_level(300, 512, 2, 32e6) == 0

    def model_of(M, N):
        return SimpleNamespace(grid_shape=(2, M, N))

    assert safe_range_subdivision(model_of(7, 7)) == 2
    side = int(np.sqrt(SAFE_RANGE_VERTICES)) // 4 + 2  # too big at 2, fits at 1
    assert safe_range_subdivision(model_of(side, side)) == 1 and safe_range_subdivision(model_of(300, 512)) == 0


def test_between_time_steps_a_models_own_templates_are_its_reference():
    """Between time steps the reference was the templates' linear interpolation, which shrinks across a curl:
    the leaf's own template shapes midway read as stretched ("strained"). A model's coherence takes its template
    models' shapes there (meeting the artist's grids at the steps); templates-only coherence keeps the linear."""
    leaf = grc.load_templates(Path(__file__).resolve().parents[1] / "templates" / "leaf")
    config = grc.Config(refine_extrapolations=0, refine_extrapolations_linear=0, refine_steps=30)
    model = grc.train(leaf, config, device="cpu")  # (the default template models: mended, whole between steps)
    t = model.templates.time
    inner = [(a + b) / 2 for a, b in zip(t[:-1], t[1:])]
    coherence = Coherence.for_model(model, subdivide=2)
    plain = Coherence(model.templates, subdivide=2)
    for time in inner:
        ours = coherence.template_grids(time)
        rows = model.template_rows(time, model.templates.morph)
        i = int(np.searchsorted(t, time) - 1)
        fit = max(np.abs(model.template_rows(t[j], model.templates.morph) - model.templates.points[:, j]).max()
                  for j in (i, i + 1))
        assert np.abs(ours - rows).max() <= fit + 1e-9  # the template models, their fit error at the steps removed
        linear = plain.template_grids(time)
        np.testing.assert_allclose(linear, (model.templates.points[:, i] + model.templates.points[:, i + 1]) / 2)
    for j, time in enumerate(t):  # at the steps: the artist's grids, for both
        np.testing.assert_allclose(coherence.template_grids(time), model.templates.points[:, j])
    # what a user sees at a template's corner between steps (the model's one-hot shapes) is not called strained
    # (2 of 12 were against the linear interpolation), and fewer blends around them are
    K = len(model.templates)
    corners = [(time, model.shape(time, np.eye(K)[k])) for time in inner for k in range(K)]
    assert not any(coherence.check(g, time).verdict == "strained" for time, g in corners)
    rng = np.random.default_rng(0)
    blends = [(time, model.shape(time, w - (w.sum() - 1) / K)) for time in inner
              for w in rng.uniform(-0.5, 1.5, (20, K))]
    ours = sum(coherence.check(g, time).verdict == "strained" for time, g in blends)
    before = sum(plain.check(g, time).verdict == "strained" for time, g in blends)
    assert ours < before, (ours, before)
