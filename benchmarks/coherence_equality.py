"""Does a faster grc/coherence.py find exactly what an older one found? (issue 11, section 1)

Runs both in one process on a wide sweep and stops at the first difference: `_intersections` over each
set as one batch (shape and triangle pairs), `_folds`, `Coherence.broken`, and for every shape
`Coherence.check(...).to_json()` and `Coherence.verdict`. A shape whose verdict or check differs is
allowed (and counted) only where slivers explain it (session 10: slivers, grc.coherence.SLIVER_AREA):
every fold or crossing the old code found and the new one does not has a sliver in it, and every fold
the new one adds pairs quads across a run of slivers; the rest of its check must be equal. Shapes: the bundled petal (meshes/petal.grc,
subdivision 2 and 1), leaf and sprout and the cup / droop / twist set (benchmarks/extrapolation_sets.py)
trained with the default settings, seed 0; model and shape keys; every inner time step; blends -3 to 4
in steps of 0.25 (along each template's direction for three templates); and randomly crumpled and
curled grids through `intersecting_pairs`.

    git show main:grc/coherence.py > /tmp/coherence_before.py
    python benchmarks/coherence_equality.py /tmp/coherence_before.py [--quick] [--cache DIR]
"""

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import grc
import grc.coherence as new
from grc.mesh import subdivision_operator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from extrapolation_sets import cup_droop_twist  # noqa: E402


def older(path):
    spec = importlib.util.spec_from_file_location("grc._coherence_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def model(name, cache):
    if name == "petal":
        return grc.load_model(ROOT / "meshes" / "petal.grc")
    path = Path(cache) / f"{name}.grc"
    if not path.exists():
        templates = cup_droop_twist() if name == "cdt" else grc.load_templates(ROOT / "templates" / name)
        grc.train(templates, grc.Config(seed=0)).save(path)
    return grc.load_model(path)


def shapes(m, step):
    K, T = len(m.templates.names), m.templates.time
    blends = np.arange(-3, 4.001, step)
    out = []
    for t in (T[1:-1] if len(T) >= 3 else T):
        for w in [new.blend_weights(2, blends)] if K == 2 else [new.direction_weights(K, k, blends) for k in range(K)]:
            out += [(t, g) for g in new.model_shapes(m, t, w)] + [(t, g) for g in new.shape_keys(m.templates, t, w)]
    return out


def compare(old, name, m, subdivide, step):
    before, after = old.Coherence.for_model(m, subdivide), new.Coherence.for_model(m, subdivide)
    items = shapes(m, step)
    grids = np.array([g for _, g in items])
    surfaces = after.surface(grids)
    normals = new.quad_normals(surfaces)
    a = old._intersections(surfaces, before.topology, normals)
    b = new._intersections(surfaces, after.topology, normals)
    key = lambda r: sorted(zip(r[0].tolist(), map(tuple, r[1].tolist())))  # noqa: E731
    assert key(a) == key(b), f"{name}: the crossings of the batch differ"
    assert all(np.array_equal(x, y) for x, y in zip(old._folds(normals), new._folds(normals))), f"{name}: folds differ"
    counts = dict.fromkeys(new.VERDICTS, 0)
    changed = {}  # (old verdict, new verdict) -> shapes whose check changed, slivers explaining it
    for t, g in items:
        old_check, new_check = before.check(g, t).to_json(), after.check(g, t).to_json()
        if old_check != new_check:
            explained_by_slivers(after, g, old_check, new_check)
            key = (old_check["verdict"], new_check["verdict"])
            changed[key] = changed.get(key, 0) + 1
        verdict = after.verdict(g, t)
        assert verdict == new_check["verdict"], (name, t)
        assert before.verdict(g, t) == old_check["verdict"], (name, t)
        counts[verdict] += 1
    flags = np.array([before.check(g, t).verdict == "broken" for t, g in items]), after.broken(grids)
    assert np.array_equal(before.broken(grids), flags[0]) and np.array_equal(flags[1], [
        after.check(g, t).verdict == "broken" for t, g in items]), f"{name}: broken() disagrees with check()"
    same = len(items) - sum(changed.values())
    moves = ", ".join(f"{a} -> {b}: {n}" for (a, b), n in sorted(changed.items())) or "none"
    print(f"{name}, subdivision {subdivide}: {same} of {len(items)} shapes identical, changed where slivers are "
          f"involved: {moves}; new verdicts {counts}; {len(a[0])} crossing pairs", flush=True)
    return len(items), len(a[0])


def explained_by_slivers(coherence, grid, old_check, new_check):
    """Assert that a shape's check changed only where slivers are: the old broken quads the new check
    drops are slivers or in a crossing or fold with one, the new ones it adds are in a fold across a
    run of slivers, and every other measure is equal."""
    rest = lambda c: {k: v for k, v in c.items() if k not in ("verdict", "folds", "intersections", "broken_quads")}  # noqa: E731
    assert rest(old_check) == rest(new_check), "a change that is not about folds or crossings"
    surface = coherence.surface(grid)
    normals, areas = new._normals_and_areas(surface)
    thin, limit = new.slivers(areas[None], surfaces=surface[None])
    thin = thin[0].ravel()
    raw_folds = new._folds(normals[None])[0]
    raw_crossings = new._intersections(surface[None], coherence.topology, normals[None])[1] // 2
    Pq = areas.shape[1]
    with_sliver = {int(q) for a, b in new._folds(normals[None])[0] if thin[a] or thin[b] for q in (a, b)}
    dropped_pairs = set(map(tuple, new.intersecting_pairs(surface).tolist())) - \
        set(map(tuple, new.intersecting_pairs(surface, new.SLIVER_AREA).tolist()))
    with_sliver |= {q for pair in dropped_pairs for q in (pair[0] // 2, pair[1] // 2)}
    dropped = set(old_check["broken_quads"]) - set(new_check["broken_quads"])
    assert dropped <= with_sliver, "a fold or crossing without a sliver went"
    added = set(new_check["broken_quads"]) - set(old_check["broken_quads"])
    across = new._folds(normals[None], new.FOLD_DEGREES, areas[None], limit)[0]  # (F, 2) quads
    rows, points = np.divmod(across, Pq)
    far = across[np.abs(rows[:, 0] - rows[:, 1]) + np.abs(points[:, 0] - points[:, 1]) > 1]
    assert added <= set(far.ravel().tolist()), "a new fold that is not across slivers"


def crumpled(old, repeats):
    rng = np.random.default_rng(1)
    n = pairs = changed = slivers = 0
    for rows, points in [(6, 4), (9, 7), (7, 7), (5, 9), (12, 5)]:
        for noise in (0.05, 0.2, 0.4, 0.8, 1.5):
            for subdivide in (0, 1, 2):
                for rep in range(repeats):
                    grid = np.stack(list(np.meshgrid(np.arange(rows, dtype=float), np.arange(points, dtype=float),
                                                     indexing="ij")) + [np.zeros((rows, points))], -1)
                    if rep == 1:  # rolled into a cylinder, a little more than once round
                        angle = np.linspace(0, 2.4 * np.pi, rows)[:, None] + 0 * grid[..., 1]
                        grid = np.stack([2 * np.cos(angle), 2 * np.sin(angle), grid[..., 1]], -1)
                    grid = grid + rng.normal(0, noise, grid.shape)
                    if subdivide:
                        size = ((rows - 1) * 2 ** subdivide + 1, (points - 1) * 2 ** subdivide + 1, 3)
                        grid = (subdivision_operator(rows, points, subdivide) @ grid.reshape(-1, 3)).reshape(size)
                    a, b = old.intersecting_pairs(grid), new.intersecting_pairs(grid)
                    same = sorted(map(tuple, a.tolist())) == sorted(map(tuple, b.tolist()))
                    assert same, (rows, points, noise, subdivide)
                    n, pairs = n + 1, pairs + len(a)
                    seen = new.intersecting_pairs(grid, new.SLIVER_AREA)
                    changed += len(seen) != len(b)
                    slivers += len(b) - len(seen)
    print(f"crumpled grids: {n} identical, {pairs} crossing pairs (without the pairs with a sliver triangle: "
          f"{pairs - slivers}, in {changed} grids)", flush=True)
    return n, pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", help="the older grc/coherence.py")
    parser.add_argument("--quick", action="store_true", help="blends in steps of 1, fewer grids")
    parser.add_argument("--cache", default=None, help="folder for the trained models (default: a temporary one)")
    args = parser.parse_args()
    old = older(args.before)
    started = time.time()
    with tempfile.TemporaryDirectory() as temporary:
        cache = args.cache or temporary
        step = 1.0 if args.quick else 0.25
        totals = [crumpled(old, 1 if args.quick else 3)]
        totals.append(compare(old, "petal", model("petal", cache), 2, step))
        totals.append(compare(old, "petal", model("petal", cache), 1, step))
        for name in ("leaf", "sprout", "cdt"):
            totals.append(compare(old, name, model(name, cache), 2, step))
    shapes_, pairs = map(sum, zip(*totals))
    print(f"ALL IDENTICAL OR CHANGED ONLY AT SLIVERS: {shapes_} shapes and grids, {pairs} crossing pairs, "
          f"in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
