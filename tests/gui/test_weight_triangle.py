"""The weight triangle (three templates, Explore > Blend): a click, a drag, the arrow keys and the sliders move the
blend and its dot; its shading is what grc.coherence says of the blends at this time; two templates have none."""

import numpy as np
import pytest
from PyQt5.QtCore import QPoint, Qt

from grc.coherence import Coherence, model_shapes
from gui.state import WEIGHT_RANGE
from gui.weight_triangle import WeightTriangle, plane

ONE_HOT = np.eye(3)


@pytest.fixture(scope="module")
def leaf_file(leaf_model, tmp_path_factory):
    return leaf_model.save(tmp_path_factory.mktemp("triangle") / "leaf.grc")


@pytest.fixture
def leaf(make_window, leaf_file):
    window = make_window(leaf_file)
    window.state.set_time(float(window.doc.model.templates.time[-2]))  # 1.0: the leaf breaks in places
    return window


def at(triangle, weights) -> QPoint:
    return triangle.to_screen(weights).toPoint()


def pixel(triangle, point: QPoint):
    image = triangle.grab().toImage()
    ratio = image.devicePixelRatio()
    color = image.pixelColor(int(point.x() * ratio), int(point.y() * ratio))
    return color.red(), color.green(), color.blue()


def dark(rgb) -> bool:
    return max(rgb) < 48


def test_clicking_a_corner_puts_the_blend_at_that_template(leaf, qtbot):
    triangle = leaf.explore_panel.triangle
    assert isinstance(triangle, WeightTriangle) and triangle.isVisible()
    assert len(leaf.explore_panel.blend_sliders) == 3  # the sliders stay, under it
    for k in (1, 2, 0):
        qtbot.mouseClick(triangle, Qt.LeftButton, pos=at(triangle, ONE_HOT[k]))
        np.testing.assert_allclose(leaf.state.weights, ONE_HOT[k], atol=0.02)
        assert [round(s.spin.value(), 2) for s in leaf.explore_panel.blend_sliders] == ONE_HOT[k].tolist()
    qtbot.mouseClick(triangle, Qt.LeftButton, pos=at(triangle, np.full(3, 1 / 3)))  # the middle: a third each
    np.testing.assert_allclose(leaf.state.weights, np.full(3, 1 / 3), atol=0.02)
    assert leaf.state.weights.sum() == pytest.approx(1)


def test_dragging_beyond_a_corner_extrapolates_and_the_slider_shows_it(leaf, drag):
    triangle, sliders = leaf.explore_panel.triangle, leaf.explore_panel.blend_sliders
    shading = leaf.beyond.wait_for_bands() or leaf.beyond.triangle
    generation = leaf.beyond._generation
    centre = np.full(3, 1 / 3)
    path = [at(triangle, centre + s * (ONE_HOT[1] - centre)) for s in np.linspace(0.5, 2.0, 8)]
    drag(triangle, path)  # from between the templates out past the second template's corner
    w = leaf.state.weights
    assert w[1] > 1.5 and w.sum() == pytest.approx(1)
    np.testing.assert_allclose(w, centre + 2 * (ONE_HOT[1] - centre), atol=0.03)
    assert sliders[1].spin.value() == pytest.approx(w[1], abs=0.005)
    assert sliders[1].slider.value() == round((w[1] - sliders[1].low) / (sliders[1].high - sliders[1].low) * 1000)
    leaf.beyond.run_check()  # (what the chip's timer runs once the shape holds still)
    assert leaf.explore_panel.chip.text().startswith(("beyond", "strained", "broken"))
    # further out than the sliders reach: held at the edge of the hexagon, each weight in range, summing to 1
    drag(triangle, [path[-1], at(triangle, centre + 6 * (ONE_HOT[1] - centre))])
    w = leaf.state.weights
    assert w[1] == pytest.approx(2) and w.sum() == pytest.approx(1) and w.min() >= -1 - 1e-9
    # the shading is the time's, not the blend's: a drag never computes it again (the sliders' ranges are the blend's)
    leaf.beyond.wait_for_bands()
    assert leaf.beyond._generation > generation and leaf.beyond.triangle["codes"] is shading["codes"]


def test_arrow_keys_nudge_the_blend(leaf, qtbot):
    triangle = leaf.explore_panel.triangle
    leaf.state.set_blend([0.2, 0.3, 0.5])
    triangle.setFocus()
    before = plane(leaf.state.weights)
    qtbot.keyClick(triangle, Qt.Key_Right)
    qtbot.keyClick(triangle, Qt.Key_Up)
    np.testing.assert_allclose(plane(leaf.state.weights) - before, [0.05, 0.05], atol=1e-9)
    assert leaf.state.weights.sum() == pytest.approx(1)


def test_moving_a_slider_moves_the_dot(leaf):
    triangle, sliders = leaf.explore_panel.triangle, leaf.explore_panel.blend_sliders
    leaf.state.set_blend([0.2, 0.3, 0.5])
    old = at(triangle, leaf.state.weights)
    assert dark(pixel(triangle, old))  # the dot
    assert not triangle.dot_is_ring()
    sliders[2].spin.setValue(1.4)  # more of the third template: the dot goes up, towards and past its corner
    new = at(triangle, leaf.state.weights)
    assert new.y() < old.y() - 20
    # weights that do not sum to 1 (1.9): a ring where their shape lies (its rim dark, its middle light)
    assert triangle.dot_is_ring() and not dark(pixel(triangle, new)) and not dark(pixel(triangle, old))
    assert any(dark(pixel(triangle, new + QPoint(dx, 0))) for dx in (4, 5, 6))


def test_the_shading_is_what_coherence_says_at_this_time(leaf):
    triangle, model, time = leaf.explore_panel.triangle, leaf.doc.model, leaf.state.time
    assert leaf.beyond.wait_for_bands() is None  # (the pad has no blend to shade: the triangle does)
    shading = leaf.beyond.triangle
    assert shading is not None and shading["time"] == time and triangle.shown_shading() is shading
    weights, codes = shading["weights"], shading["codes"]
    for corner in ONE_HOT:  # the templates lie on the lattice
        assert np.abs(weights - corner).max(axis=1).min() < 1e-9
    assert weights.min() == pytest.approx(-1) and weights.max() == pytest.approx(2)
    coherence = Coherence.for_model(model, subdivide=2)
    dot = at(triangle, leaf.state.weights)
    corners = [at(triangle, c) for c in ONE_HOT]

    def clear(w):  # off the lines drawn (the hexagon's edge, the triangle's) and far from the dot and the labels
        p = at(triangle, w)
        off_lines = np.all((w > -1 + 1e-6) & (w < 2 - 1e-6) & (np.abs(w) > 1e-6))
        return off_lines and all((p - q).manhattanLength() > 40 for q in [dot, *corners])

    broken = [w for w, c in zip(weights, codes) if c == 2 and clear(w)]
    whole = [w for w, c in zip(weights, codes) if c == 0 and clear(w)]
    assert len(broken) >= 2 and len(whole) >= 2
    picked = np.array([broken[0], broken[len(broken) // 2], whole[0], whole[-1]])
    assert coherence.broken(model_shapes(model, time, picked)).tolist() == [True, True, False, False]
    for w, reddish in zip(picked, (True, True, False, False)):  # what the user sees there
        r, g, b = pixel(triangle, at(triangle, w))
        assert (r > g) == reddish, (w, (r, g, b))
    # another time: the old shading is no longer shown, and the new one comes once time holds still
    leaf.state.set_time(0.5)
    assert triangle.shown_shading() is None
    leaf.beyond.wait_for_bands()
    assert triangle.shown_shading()["time"] == 0.5


def test_a_two_template_model_shows_no_triangle(make_window, leaf_file, files):
    window = make_window(leaf_file)
    assert window.explore_panel.triangle is not None
    window.doc.open_model(*files)  # the petal: two templates
    window.draw_now()
    panel = window.explore_panel
    assert panel.triangle is None and not panel.blend_box.findChildren(WeightTriangle)
    assert len(panel.blend_sliders) == 1
    assert window.beyond.wait_for_bands() is not None and window.beyond.triangle is None


def test_slider_weights_beyond_the_triangle_are_not_called_between_templates(leaf):
    # a walkthrough typed 1, 1, 0: a ring outside the triangle, yet the chip said "between templates"
    sliders, chip = leaf.explore_panel.blend_sliders, leaf.explore_panel.chip
    for slider, value in zip(sliders, (1.0, 1.0, 0.0)):
        slider.spin.setValue(value)
    leaf.beyond.run_check()
    assert leaf.explore_panel.triangle.dot_is_ring() and chip.text().startswith(("beyond", "strained", "broken"))
    for slider, value in zip(sliders, (0.2, 0.3, 0.6)):  # 1.1: moved along (1, 1, 1), inside the triangle
        slider.spin.setValue(value)
    leaf.beyond.run_check()
    assert chip.text().startswith("between templates")
    assert sliders[0].spin.singleStep() == 0.01  # an arrow click on a weight's box: a hundredth


def path_broken(coherence, model, time, weights, k, values):
    w = np.repeat(np.asarray(weights, float)[None], len(values), axis=0)
    w[:, k] = values
    return coherence.broken(model_shapes(model, time, w))


def test_each_weight_slider_shows_how_far_it_goes_from_here(leaf):
    # issue 11: "the blend slider shows the safe range for the current time"; for three templates each weight's
    # slider shows how far it goes from the current blend (the others' weights as they are) without a broken shape:
    # a green band under it, said on the line below. (A first version gave each template's range along its
    # direction mapped to weights as if the others were equal and summed with it to 1: a review found bands that
    # called broken shapes safe once the others were not.)
    panel, model, time = leaf.explore_panel, leaf.doc.model, leaf.state.time
    coherence = Coherence.for_model(model, subdivide=2)
    def whole(candidates):
        return next(b for b in candidates if not coherence.broken(model_shapes(model, time, [b]))[0])

    equal = whole([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [1 / 3] * 3])
    unequal = whole([[0.6, -0.5, 0.9], [0.2, 0.3, 0.5], [0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])
    for blend in (equal, unequal):  # the others equal, then not
        leaf.state.set_blend(blend)
        leaf.beyond.wait_for_bands()
        safe = leaf.beyond.triangle["safe"]
        assert len(safe) == 3 and panel.safe is safe
        text = panel.blend_range.text()
        assert "each weight from here (the others as they are;" in text
        assert all(name in text for name in model.templates.names)
        short = 0
        for k, (r, slider) in enumerate(zip(safe, panel.blend_sliders)):
            assert slider.band[:2] == (r[0], r[1]) and r[0] <= blend[k] <= r[1]
            assert WEIGHT_RANGE[0] <= r[0] and r[1] <= WEIGHT_RANGE[1]
            inside = np.linspace(r[0], r[1], 13)
            assert not path_broken(coherence, model, time, blend, k, inside).any(), (blend, k, r)
            for end, side in ((r[0], -1), (r[1], 1)):  # where a range stops short of the slider's end, the next step breaks
                if WEIGHT_RANGE[0] + 1e-6 < end < WEIGHT_RANGE[1] - 1e-6:
                    assert path_broken(coherence, model, time, blend, k, [end + side * 0.05])[0], (blend, k, end)
                    short += 1
        assert short >= 1, safe  # (the leaf at time 1 breaks in places: some range ends before its slider does)
    # one weight moves: its own range still holds (its path is as it was) and says so; the others' wait
    kept = panel.blend_sliders[1].band
    low, high = kept[:2]  # (a move inside its safe range: the shape stays whole)
    panel.blend_sliders[1].spin.setValue(round(low + 0.25 * (high - low), 2))
    assert panel.blend_sliders[1].band == kept and panel.blend_sliders[0].band is None
    assert "the others once the blend holds still" in panel.blend_range.text()
    leaf.beyond.wait_for_bands()
    assert all(slider.band is not None for slider in panel.blend_sliders)
    # the time moves: the ranges are another time's, so they go, and come back once it holds still
    leaf.state.set_time(0.5)
    assert "once time and blend hold still" in panel.blend_range.text()
    assert all(slider.band is None for slider in panel.blend_sliders)
    leaf.beyond.wait_for_bands()
    whole_now = not Coherence.for_model(model, subdivide=2).broken(model_shapes(model, 0.5, [leaf.state.weights]))[0]
    said = "each weight from here" if whole_now else "this shape is broken"
    assert leaf.beyond.triangle["time"] == 0.5 and said in panel.blend_range.text()


def test_a_broken_shape_says_no_weight_is_safe_from_it(leaf):
    panel, model, time = leaf.explore_panel, leaf.doc.model, leaf.state.time
    coherence = Coherence.for_model(model, subdivide=2)
    lattice = leaf.beyond.wait_for_bands() or leaf.beyond.triangle
    broken = [w for w, c in zip(lattice["weights"], lattice["codes"]) if c == 2]
    assert broken and coherence.broken(model_shapes(model, time, broken[:1]))[0]
    leaf.state.set_blend(broken[0])
    leaf.beyond.wait_for_bands()
    assert leaf.beyond.triangle["safe"] == [None] * 3
    assert "this shape is broken" in panel.blend_range.text()
    assert all(slider.band is None for slider in panel.blend_sliders)


def test_what_is_under_the_safe_ranges_stays_put_when_they_come_and_go(leaf):
    # a walkthrough: the line went from one line to three when the ranges arrived, and the chip, the pad and the
    # Bend panel under it jumped 13-26 px (a click meant for the units box landed on nothing)
    panel, chip = leaf.explore_panel, leaf.explore_panel.chip
    from PyQt5.QtWidgets import QApplication

    leaf.show()

    def chip_y():
        for _ in range(3):
            QApplication.processEvents()
        return chip.mapTo(leaf, chip.rect().topLeft()).y()

    leaf.state.set_time(0.5)  # no ranges yet: "safe ranges once time and blend hold still"
    assert "once time and blend hold still" in panel.blend_range.text()
    waiting = chip_y()
    leaf.beyond.wait_for_bands()  # the ranges arrive: three lines of them
    assert "each weight from here" in panel.blend_range.text()
    assert chip_y() == waiting
    leaf.state.set_time(1.0)  # and go
    assert chip_y() == waiting
