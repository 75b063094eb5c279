"""grc.editing, the Sketch tab's edits without Qt: the falloffs, the exact mirror, the time falloff,
fill and insert a time step."""

import numpy as np
import pytest

import grc
from grc.diverge.rewrite import falloff
from grc.editing import apply_edit, edit_weights, fill_step, insert_step, rotate, scale, time_weights, translate
from grc.errors import GRCError

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def petal():
    return grc.load_templates(REPO / "templates" / "petal").templates[0]


@pytest.mark.parametrize("kind", ["smooth", "sphere", "linear", "constant"])
def test_neighbours_follow_with_the_falloff(petal, kind):
    points, step, grab = petal.points, 4, (4, 1)
    delta = np.array([0.0, 0.0, 0.1])
    out = apply_edit(points, step, {grab}, translate(delta), radius=0.3, kind=kind)
    grid = points[step]
    expected = falloff(np.linalg.norm(grid - grid[grab], axis=-1), 0.3, kind)
    expected[grab] = 1.0
    np.testing.assert_allclose(out[step] - grid, expected[..., None] * delta, atol=1e-12)
    assert (expected > 0).sum() > 3  # neighbours moved
    np.testing.assert_array_equal(np.delete(out, step, axis=0), np.delete(points, step, axis=0))


def test_mirror_is_exact_and_the_midline_stays_on_it(petal):
    points = petal.points
    out = apply_edit(points, 5, {(3, 2)}, translate([0.05, 0.08, -0.03]), radius=0.4, mirror=True, side=-1)
    d = out - points
    for c in range(3):  # point c and its partner 6 - c move as mirror images
        np.testing.assert_allclose(d[:, :, c], d[:, :, 6 - c] * [1, -1, 1], atol=1e-12)
    np.testing.assert_array_equal(out[..., 3, 1], points[..., 3, 1])  # midline y untouched
    assert np.abs(d[5, :, 3, [0, 2]]).max() > 0  # the midline still moves along x and z
    np.testing.assert_allclose(d[5, 3, 2], [0.05, 0.08, -0.03])


def test_time_falloff_modes():
    times = np.array([0.0, 0.1, 0.3, 0.55, 0.8, 1.0, 1.1])
    np.testing.assert_array_equal(time_weights(times, 3, "step"), [0, 0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(time_weights(times, 3, "later"), [0, 0, 0, 1, 1, 1, 1])
    w = time_weights(times, 3, "all")
    assert w[3] == 1 and w.min() >= 0
    assert w[2] > w[1] > w[0] and w[4] > w[5] > w[6]  # fading with distance in time


def test_rotate_and_scale_about_the_selection_centre(petal):
    points = petal.points
    sel = {(r, c) for r in range(7) for c in range(7)}
    out = apply_edit(points, 2, sel, scale(sel, 2.0))
    centre = points[2].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(out[2], centre + 2 * (points[2] - centre))
    out = apply_edit(points, 2, sel, rotate(sel, (0, 1), np.pi / 2))
    np.testing.assert_allclose(out[2].reshape(-1, 3).mean(axis=0), centre, atol=1e-12)
    np.testing.assert_allclose(out[2, ..., 0] - centre[0], -(points[2, ..., 1] - centre[1]), atol=1e-12)


def test_fill_and_insert_time_steps(petal):
    filled = fill_step(petal.points, petal.time, 3)
    u = (0.55 - 0.3) / (0.8 - 0.3)
    np.testing.assert_allclose(filled[3], (1 - u) * petal.points[2] + u * petal.points[4])
    points, times = insert_step(petal.points, petal.time, 3)
    assert points.shape[0] == 8 and times[4] == pytest.approx(0.675)
    np.testing.assert_allclose(points[4], (petal.points[3] + petal.points[4]) / 2)
    points, times = insert_step(petal.points, petal.time, 6)  # past the last step
    assert times[-1] > 1.1 and points.shape[0] == 8


def test_turning_or_scaling_nothing_is_a_clear_error():
    points = np.zeros((2, 3, 3, 3))
    for transform in (rotate(set(), (0, 1), 0.5), scale(set(), 2.0)):
        with pytest.raises(GRCError, match="selected point"):
            apply_edit(points, 0, set(), transform)


def test_mirror_editing_never_pushes_a_point_across_the_midline(petal):
    # a selection moved hard towards the other side (G in y): the rows used to cross; they meet at the midline
    points = petal.points
    out = apply_edit(points, 5, {(3, 1), (3, 2)}, translate([0, 2.0, 0]), mirror=True, side=-1)
    y = out[5, 3, :, 1]
    assert y[1] <= y[5] + 1e-12 and y[2] <= y[4] + 1e-12  # no point crossed its partner (they used to swap)
    np.testing.assert_allclose(y[1], y[5], atol=1e-12)  # point 1 and its partner met in the middle
    np.testing.assert_allclose(y[1], (points[5, 3, 1, 1] + points[5, 3, 5, 1]) / 2, atol=1e-12)


def test_a_gestures_weights_computed_once_give_the_same_edit(petal):
    """A Sketch gesture computes its falloff and time weights once (edit_weights) and hands them to every move's
    apply_edit: the same points as apply_edit working them out itself."""
    points, step = petal.points, 4
    options = dict(radius=0.3, kind="smooth", mirror=True, times=petal.time, time_mode="all")
    weights = edit_weights(points, step, {(4, 1)}, **options)
    for delta in ([0.0, 0.05, 0.1], [0.02, -0.3, 0.0]):
        np.testing.assert_array_equal(
            apply_edit(points, step, {(4, 1)}, translate(delta), side=-1, weights=weights, **options),
            apply_edit(points, step, {(4, 1)}, translate(delta), side=-1, **options))
