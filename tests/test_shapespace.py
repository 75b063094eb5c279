"""grc.shapespace: blends of grids in shape space (issue 11)."""

import numpy as np
import pytest

import grc
from grc.coherence import Coherence, blend_weights, shape_keys
from grc.errors import GRCError
from grc.shapespace import ShapeSpace, shared_points
from grc_testing import ROOT


def petal_at(time):
    templates = grc.load_templates(ROOT / "templates" / "petal")
    return templates, shape_keys(templates, time, np.eye(2))


def test_each_template_comes_back_at_its_own_weights():
    _, grids = petal_at(0.55)
    out = ShapeSpace(7, 7).blend(grids, np.eye(2))
    assert np.abs(out - grids).max() < 1e-9


def test_a_petal_that_opens_keeps_opening():
    """A bends away from its base plane less than B does... past B it bends further, not back."""
    templates, grids = petal_at(0.8)
    out = ShapeSpace(7, 7).blend(grids, blend_weights(2, np.array([0.0, 1.0, 2.0])))

    def tip_angle(grid):  # the direction from the base row's middle to the tip row's middle
        d = grid[-1].mean(axis=0) - grid[0].mean(axis=0)
        return np.degrees(np.arctan2(d[2], d[0]))

    a, b, beyond = (tip_angle(g) for g in out)
    assert (beyond - b) * (b - a) > 0  # the same way round
    assert abs(beyond - b) > 0.5 * abs(b - a)


def test_beyond_the_petal_it_breaks_less_often_than_shape_keys_and_stretches_less():
    templates, _ = petal_at(0.55)
    coherence = Coherence(templates, 2)
    space = ShapeSpace(7, 7)
    blends = np.round(np.arange(-1, 3.001, 0.25), 10)
    broken = {"shape space": 0, "shape keys": 0}
    stretch = {"shape space": [], "shape keys": []}
    for t in templates.time[1:-1]:
        weights = blend_weights(2, blends)
        for name, grids in (("shape space", space.blend(shape_keys(templates, t, np.eye(2)), weights)),
                            ("shape keys", shape_keys(templates, t, weights))):
            broken[name] += int(coherence.broken(grids).sum())
            stretch[name].append(coherence.check(grids[list(blends).index(2.0)], t).stretch_max)
    assert broken["shape space"] < broken["shape keys"] / 2
    assert np.mean(stretch["shape space"]) < 0.75 * np.mean(stretch["shape keys"])


def test_weights_of_the_wrong_size_are_an_error_naming_them():
    _, grids = petal_at(0.55)
    with pytest.raises(GRCError) as error:
        ShapeSpace(7, 7).blend(grids, np.ones((1, 3)) / 3)
    assert error.value.field == "weights"
    with pytest.raises(GRCError):
        ShapeSpace(5, 5).blend(grids, np.eye(2))


def test_damped_stretch_keeps_the_petal_whole_in_blends_minus_1_to_2_and_halves_its_stretch():
    """Parts keep turning as they turned between the templates, but grow or shrink less and less beyond
    them (grc.training.space_blend): the petal's own templates, extrapolated so, are whole at every inner
    time for blends -1..2 (undamped shape space breaks 4 times, shape keys 14), stretch at blend 2 under
    half of shape keys', and blends between the templates are those of shape space."""
    from grc.training import space_blend

    templates, _ = petal_at(0.55)
    coherence = Coherence(templates, 2)
    space = ShapeSpace(7, 7)
    blends = np.round(np.arange(-1, 2.001, 0.25), 10)
    weights = blend_weights(2, blends)
    broken = {"damped": 0, "shape space": 0}
    stretch = {"damped": [], "shape keys": []}
    for t in templates.time[1:-1]:
        grids = shape_keys(templates, t, np.eye(2))
        damped = space_blend(space, grids, weights, 0.5)
        broken["damped"] += int(coherence.broken(damped).sum())
        broken["shape space"] += int(coherence.broken(space.blend(grids, weights)).sum())
        inside = (blends >= 0) & (blends <= 1)
        assert np.abs(damped[inside] - space.blend(grids, weights[inside])).max() < 1e-12
        stretch["damped"].append(coherence.check(damped[-1], t).stretch_max)
        stretch["shape keys"].append(coherence.check(shape_keys(templates, t, weights[-1:])[0], t).stretch_max)
    assert broken == {"damped": 0, "shape space": 4}
    assert np.mean(stretch["damped"]) <= 0.5 * np.mean(stretch["shape keys"])


def test_blends_of_many_sets_of_grids_at_once_equal_one_at_a_time():
    templates, _ = petal_at(0.55)
    generator = np.random.default_rng(0)
    times = generator.uniform(0, 1, 5)
    grids = np.stack([shape_keys(templates, t, np.eye(2)) for t in times])  # (5, 2, 7, 7, 3)
    weights = blend_weights(2, generator.uniform(-1, 2, 5))
    stretch = blend_weights(2, generator.uniform(-1, 2, 5))
    space = ShapeSpace(7, 7)
    each = space.blend_each(grids, weights, stretch)
    one = np.stack([space.blend(g, w[None], s[None])[0] for g, w, s in zip(grids, weights, stretch)])
    assert np.allclose(each, one, rtol=1e-12, atol=1e-12)
    with pytest.raises(GRCError):
        space.blend_each(grids, weights[:3])


def test_the_points_every_template_shares_are_found_and_stay_where_they_are():
    """The sprout's two templates share their base row at every time step; blended beyond them in shape space it
    stays where both have it (as shape keys keep it), instead of the whole sprout drifting sideways."""
    sprout = grc.load_templates(ROOT / "templates" / "sprout")
    shared = shared_points(sprout.points)
    assert np.flatnonzero(shared).tolist() == list(range(sprout.grid_shape[2]))  # the base row, nothing else
    assert not shared_points(grc.load_templates(ROOT / "templates" / "petal").points).any()  # no point stays put
    grids = shape_keys(sprout, 0.7, np.eye(2))
    rows, points = sprout.grid_shape[1:]
    base = grids[0, 0]
    width = np.linalg.norm(base - base.mean(axis=0), axis=-1).mean()
    weights = np.array([[2.0, -1.0], [-1.0, 2.0]])  # blends -1 and 2
    pinned = ShapeSpace(rows, points, shared).blend(grids, weights)
    drifting = ShapeSpace(rows, points).blend(grids, weights)
    assert np.linalg.norm(pinned[:, 0] - base, axis=-1).max() < 0.05 * width
    assert np.linalg.norm(drifting[:, 0] - base, axis=-1).max() > width  # what it did before
    assert np.abs(ShapeSpace(rows, points, shared).blend(grids, np.eye(2)) - grids).max() < 1e-9  # templates back
    for wrong in (shared[:-1], shared.astype(int)):  # one flag short; numbers where flags belong
        with pytest.raises(GRCError, match="shared"):
            ShapeSpace(rows, points, wrong)
