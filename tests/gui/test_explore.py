"""Explore: sliders and the context pad change the 3D mesh exactly as the library says."""

import numpy as np
from PyQt5.QtCore import QPoint, Qt

from grc.shapes import builder
from gui.context_pad import nice_range, tick_label
from gui.explore_panel import PLAY_STEP
from gui.state import BLEND_RANGE


def expected_vertices(window, **shape_args):
    s = window.state
    args = shape_args or s.shape_args()
    grid = window.doc.model.shape(args.pop("time"), args.pop("blend"), **args)
    return builder(window.doc.model, None, s.subdivide, s.thickness, s.petals).build(grid).vertices


def shown(window):
    window.draw_now()
    return window.view.vertices()


def test_time_and_blend_sliders_drive_the_mesh(window, qtbot):
    before = shown(window)
    panel = window.explore_panel
    panel.time.slider.setValue(300)
    blend = panel.blend_sliders[0]
    blend.slider.setValue(900)  # beyond the second template: extrapolation
    vertices = shown(window)
    time = panel.time.value_at(300)
    alpha = blend.value_at(900)
    assert alpha > 1
    assert window.state.time == time and window.state.blend == alpha
    assert not np.allclose(vertices, before)
    np.testing.assert_allclose(vertices, expected_vertices(window, time=time, blend=alpha), atol=1e-5)
    assert abs(panel.time.spin.value() - time) < 0.01 and abs(blend.spin.value() - alpha) < 0.01


def test_view_options_rebuild_the_mesh(window):
    panel = window.explore_panel
    panel.subdivide.setValue(1)
    panel.petals.setValue(5)
    vertices = shown(window)
    np.testing.assert_allclose(vertices, expected_vertices(window), atol=1e-5)
    assert len(vertices) == 5 * 13 * 13


def test_slider_moves_coalesce(window, qtbot):
    """Many moves before the next frame draw once, at the latest value: the 3D view and the context pad."""
    renders, pad_computations = [], []
    pad = window.explore_panel.pad
    window.view.rendered.connect(lambda: renders.append(window.state.time))
    compute = pad._compute
    pad._compute = lambda: (pad_computations.append(window.state.time), compute())
    for i in range(20):
        window.explore_panel.time.slider.setValue(100 + 10 * i)
    qtbot.waitUntil(lambda: len(renders) >= 1 and len(pad_computations) >= 1)
    qtbot.wait(50)
    latest = window.explore_panel.time.value_at(290)
    assert renders == [latest]
    assert pad_computations == [latest]
    assert pad._traces_for[1] == latest


def pad_point(pad, morph, context):
    p = pad.to_screen(morph, context)
    return QPoint(int(p.x()), int(p.y()))


def test_dragging_the_context_path_moves_the_blend(window, drag):
    pad = window.explore_panel.pad
    pad.resize(500, 300)
    window.state.set_blend(0.5)
    pad.refresh()
    j = len(pad.morph) - 1  # the tip, where the traces are far apart
    start = pad_point(pad, pad.morph[j], pad.path[j, 0])
    end = pad_point(pad, pad.morph[j], window.doc.model.context(window.state.time, -0.4, pad.morph)[j, 0])
    drag(pad, [start + (end - start) * f for f in (0, 0.3, 0.7, 1)])
    assert window.state.path is None  # still a blend, moved along the line through the traces
    alpha = window.state.blend
    assert alpha < -0.3  # dragged past the first template's trace: extrapolation
    pad.refresh()
    _, grabbed = pad.from_screen(end.x(), end.y())
    assert abs(pad.path[j, 0] - grabbed) < 0.02  # the path follows the cursor where it was grabbed
    assert window.explore_panel.blend_sliders[0].spin.value() == round(alpha, 2)
    np.testing.assert_allclose(shown(window), expected_vertices(window, time=window.state.time, blend=alpha), atol=1e-5)


def test_dragging_the_context_path_stops_where_the_blend_slider_ends(window, drag):
    pad = window.explore_panel.pad
    pad.resize(500, 300)
    window.state.set_blend(0.5)
    pad.refresh()
    start = pad_point(pad, pad.morph[-1], pad.path[-1, 0])
    drag(pad, [start, start + QPoint(0, 600), start + QPoint(0, -600)])  # far beyond the pad, both ways
    low, high = BLEND_RANGE
    assert window.state.blend in (low, high)
    assert window.explore_panel.blend_sliders[0].spin.value() == window.state.blend


def test_drawing_a_free_context_path(window, drag):
    pad = window.explore_panel.pad
    pad.resize(500, 300)
    pad.refresh()
    m = pad.morph
    points = [pad_point(pad, v, 0.3 * np.sin(6 * v)) for v in np.linspace(m[0], m[-1], 25)]
    drag(pad, points, Qt.ShiftModifier)
    path = window.state.path
    assert path is not None
    pixel = (pad.y_range[1] - pad.y_range[0]) / pad.plot_rect().height()
    np.testing.assert_allclose(path[:, 0], 0.3 * np.sin(6 * m), atol=max(0.01, 1.5 * pixel))  # pixel rounding
    context = window.state.context()
    assert context.shape == (7, 1)
    expected = expected_vertices(window, time=window.state.time, blend=0.0, context=context)
    np.testing.assert_allclose(shown(window), expected, atol=1e-5)
    window.explore_panel.reset_path.click()
    assert window.state.path is None


def test_context_axis_has_round_ticks():
    lo, hi, step = nice_range(-0.43, 1.27)
    assert (lo, hi, step) == (-0.5, 1.5, 0.5)
    ticks = [tick_label(v, step) for v in np.arange(lo, hi + step / 2, step)]
    assert ticks == ["-0.5", "0.0", "0.5", "1.0", "1.5"]
    lo, hi, step = nice_range(0.1, 0.29)  # steps of 0.05 could print as 0.15000000000000002
    assert [tick_label(v, step) for v in np.arange(lo, hi + step / 2, step)] == ["0.10", "0.15", "0.20", "0.25", "0.30"]


def test_play_moves_time_along_the_slider_and_stops_at_the_end(window, qtbot):
    panel = window.explore_panel
    panel.loop.setChecked(False)
    panel.time.slider.setValue(980)
    panel.play.setChecked(True)
    qtbot.waitUntil(lambda: not panel.play.isChecked(), timeout=3000)  # reached the end: stopped
    assert 1000 - PLAY_STEP < panel.time.slider.value() <= 1000
    assert window.state.time == panel.time.value_at(panel.time.slider.value())
    panel.loop.setChecked(True)
    panel.play.setChecked(True)
    qtbot.waitUntil(lambda: panel.time.slider.value() < 100, timeout=3000)  # looped back to the start
    panel.play.setChecked(False)
    np.testing.assert_allclose(shown(window), expected_vertices(window), atol=1e-5)


def test_the_benchmark_baseline_draws_the_apps_pixels(window):
    """`grc studio --benchmark` compares the app's frames with bare renders of the same scene: the
    bare window must draw exactly what the app drew (a smaller or shifted petal renders faster)."""
    from gui.benchmark import BareScene, app_frames

    view = window.view
    frames = app_frames(window)
    (_, first), (_, last) = next(frames), next(frames)
    frames.close()
    drawn = view.plotter.screenshot(return_img=True)
    scene = BareScene(view, (view.width(), view.height()))
    try:
        scene.show(first)
        scene.render()
        assert np.abs(scene.plotter.screenshot(return_img=True).astype(int) - drawn).max() > 0  # another shape
        scene.show(last)
        scene.render()
        np.testing.assert_array_equal(scene.plotter.screenshot(return_img=True), drawn)
    finally:
        scene.close()


def test_the_benchmarks_sketch_baseline_draws_the_grid_and_marks_as_the_app(window):
    """The sketch drag's bare scene has what the 3D view draws in Sketch: the surface, the grid, its
    points, the grabbed point and the falloff circle drawn over the scene."""
    from gui.benchmark import BareScene, sketch_drag_moves

    view = window.view
    moves = sketch_drag_moves(window)
    try:
        _, first = next(moves)
        scene = BareScene(view, (view.width(), view.height()))
        _, last = next(moves)
        drawn = view.plotter.screenshot(return_img=True)
        assert view.radius_actor.GetVisibility() and view.selected_actor.GetVisibility()
        try:
            scene.show(first)
            scene.render()
            assert np.abs(scene.plotter.screenshot(return_img=True).astype(int) - drawn).max() > 0
            scene.show(last)
            scene.render()
            np.testing.assert_array_equal(scene.plotter.screenshot(return_img=True), drawn)
        finally:
            scene.close()
    finally:
        moves.close()


def colours(image):
    return len(np.unique(image.reshape(-1, image.shape[-1]), axis=0))


def test_a_still_view_is_redrawn_with_smooth_edges(window, qtbot):
    """Frames are drawn sharp (fast); once the view stands still it is drawn again with FXAA."""
    from gui.view3d import SMOOTH_AFTER_MS

    view = window.view
    window.explore_panel.time.slider.setValue(700)
    window.draw_now()
    sharp = view.plotter.screenshot(return_img=True)
    qtbot.wait(SMOOTH_AFTER_MS + 300)
    smooth = view.plotter.screenshot(return_img=True)
    assert colours(smooth) > 2 * colours(sharp)  # the edges' steps are blended
    assert np.abs(smooth.astype(int) - sharp).mean() < 1  # the same picture otherwise
    window.draw_now()
    np.testing.assert_array_equal(view.plotter.screenshot(return_img=True), sharp)  # the next frame: sharp again


def pad_pixels(pad):
    image = pad.grab().toImage()
    bits = image.constBits()
    bits.setsize(image.byteCount())
    rows = np.frombuffer(bits, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * image.depth() // 8].copy()  # (not a line's padding: unset bytes at an odd width)


def test_the_pad_redraws_its_traces_as_time_moves_and_its_layers_draw_what_a_full_repaint_does(window):
    """The pad keeps the parts a move does not change in cached layers (the frame, the context grid, the
    traces at this time): a time move draws new traces over the cached grid, and every picture is the
    one a repaint from nothing draws, while moving (sharp), still, and with Beyond's shading under the grid."""
    panel, pad = window.explore_panel, window.explore_panel.pad
    panel.time.slider.setValue(300)
    earlier = pad_pixels(pad)
    t = panel.time  # time 0.65: the bundled petal breaks there from blend 2.25 on, shading to draw
    t.slider.setValue(int(round((0.65 - t.low) / (t.high - t.low) * t.slider.maximum())))
    pad._settle.stop()  # still "moving" (drawn sharp) for the two pictures below
    assert pad.moving and not pad.band_polygons()
    later = pad_pixels(pad)
    r = pad.plot_rect()
    inside = (slice(int(r.top()) + 2, int(r.bottom()) - 2), slice(4 * (int(r.left()) + 2), 4 * (int(r.right()) - 2)))
    assert (earlier[inside] != later[inside]).any()  # the traces moved with time
    pad._layers.clear()
    np.testing.assert_array_equal(pad_pixels(pad), later)
    pad._settled()  # held still: drawn smooth, with the shading once it comes
    still = pad_pixels(pad)
    pad._layers.clear()
    np.testing.assert_array_equal(pad_pixels(pad), still)
    window.beyond.wait_for_bands()
    pad.refresh()
    assert pad.band_polygons()
    shaded = pad_pixels(pad)
    assert (shaded != still).any()
    pad._layers.clear()
    np.testing.assert_array_equal(pad_pixels(pad), shaded)


def test_the_context_pad_opens_on_the_value_where_the_templates_spread_most(make_window, leaf_model, tmp_path):
    # three templates train two context values by default, and their traces may nearly coincide in the
    # first: a pad showing it drew three overlapping lines the drag could not tell apart
    traces = leaf_model.traces()
    spread = (traces.max(axis=0) - traces.min(axis=0)).mean(axis=(0, 1))  # per context value
    window = make_window(leaf_model.save(tmp_path / "leaf.grc"))
    panel = window.explore_panel
    assert leaf_model.context_dims == 2 and panel.dim.isVisible()
    assert panel.dim.value() == panel.pad.dim == int(np.argmax(spread))
    panel.dim.setValue(1 - panel.pad.dim)  # the other one can still be shown
    assert panel.pad.dim == 1 - int(np.argmax(spread))


def test_a_drawn_path_dragged_past_the_pad_stays_in_sight_and_the_axis_makes_room(window, drag):
    # a walkthrough dragged a path above the plot: it vanished from the pad, which kept its axis
    pad = window.explore_panel.pad
    pad.resize(500, 300)
    pad.refresh()
    m = pad.morph
    drag(pad, [pad_point(pad, v, 0.0) for v in np.linspace(m[0], m[-1], 15)], Qt.ShiftModifier)  # a drawn path
    pad.refresh()
    low, high = pad.y_range
    j = len(m) // 2
    start = pad_point(pad, m[j], pad.path[j, 0])
    drag(pad, [start, start + QPoint(0, -150), start + QPoint(0, -900)])  # far above the plot
    path = window.state.path[:, 0]
    assert path.max() <= high + 1e-9 and path.max() > high - 0.1 * (high - low)  # it stopped at the plot's top
    pad.refresh()
    assert pad.y_range[1] > path.max() + 0.05 * (pad.y_range[1] - pad.y_range[0])  # released: room above it
    again = pad_point(pad, m[j], pad.path[j, 0])
    drag(pad, [again, again + QPoint(0, -60)])
    assert window.state.path[:, 0].max() > path.max()  # and a second drag goes on from there


def test_the_boxes_show_the_values_used_and_enter_makes_a_shown_value_the_value(window, qtbot):
    panel = window.explore_panel
    panel.time.slider.setValue(848)
    exact = panel.time.low + 0.848 * (panel.time.high - panel.time.low)  # (0.9328 on the petal's 0..1.1)
    assert window.state.time == round(exact, 3) != exact  # the slider gives what the box can show
    assert panel.time.spin.text() == f"{window.state.time:g}"
    blend = panel.blend_sliders[0]
    window.state.set_blend(1.23456)  # as a drag in the pad sets it
    assert blend.spin.text() == "1.235"
    blend.spin.setFocus()
    qtbot.keyClick(blend.spin, Qt.Key_Return)  # Enter on what the box shows
    assert window.state.blend == 1.235


def wheel(widget):
    """One notch of the mouse wheel over the middle of `widget`, as a real wheel event."""
    from PyQt5.QtCore import QPointF
    from PyQt5.QtGui import QWheelEvent
    from PyQt5.QtWidgets import QApplication

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_the_wheel_scrolls_the_panel_past_a_slider_and_turns_it_once_clicked(window):
    # a walkthrough scrolled the panel down over the weight sliders and changed a weight on the way
    blend = window.explore_panel.blend_sliders[0]
    window.state.set_blend(0.5)
    window.activateWindow()
    window.view.setFocus()
    for widget in (blend.slider, blend.spin, window.explore_panel.petals):
        assert not wheel(widget)  # left to the scroll area beneath
    assert window.state.blend == 0.5 and window.state.petals == 1
    blend.slider.setFocus()
    assert wheel(blend.slider) and window.state.blend != 0.5  # clicked into: the wheel turns it


def test_leaving_a_box_without_typing_keeps_the_value(window, qtbot):
    # a review found a focus-out sent the box's rounded value back (weights 1/3 each became 0.333, 1/3, 1/3)
    from PyQt5.QtWidgets import QApplication

    blend = window.explore_panel.blend_sliders[0]
    window.state.set_blend(1 / 3)
    QApplication.setActiveWindow(window)  # (focus moves, and leaves a box, only in the active window)
    blend.spin.setFocus()
    qtbot.waitUntil(blend.spin.hasFocus)
    window.explore_panel.time.spin.setFocus()  # leave the blend box for the time box
    qtbot.waitUntil(lambda: not blend.spin.hasFocus())
    assert window.state.blend == 1 / 3


def test_a_short_time_range_keeps_every_slider_step(window):
    slider = window.explore_panel.time
    slider.set_range(0.0004, 0.0204)  # 0.00002 per step: more decimals than three
    values = [slider.value_at(p) for p in range(0, 1001, 50)]
    assert len(set(values)) == len(values) and values[0] == 0.0004 and values[-1] == 0.0204
    assert slider.spin.textFromValue(slider.value_at(7)) == f"{slider.value_at(7):.5f}".rstrip("0")


def test_value_boxes_read_back_what_they_show_in_a_comma_locale(qtbot):
    # a review: in German the boxes showed "1.5" (no trailing zeros, a point) and Qt's parser took the point for a
    # thousands separator: Enter made a bend's amount 15, a radius of 0.5 became 5
    from PyQt5.QtCore import QLocale

    from gui.explore_panel import DoubleSpinBox, RangeSpinBox

    for kind in (DoubleSpinBox, RangeSpinBox):
        box = kind(decimals=3, minimum=-20.0, maximum=20.0, prefix="amount ")
        box.setLocale(QLocale(QLocale.German, QLocale.Germany))
        qtbot.addWidget(box)
        box.show()
        box.setValue(1.5)
        assert box.text() == "amount 1.5"
        box.setFocus()
        qtbot.keyClick(box, Qt.Key_Return)
        assert box.value() == 1.5
        box.lineEdit().selectAll()
        qtbot.keyClicks(box, "2,25")  # a comma is read as the decimal point too
        qtbot.keyClick(box, Qt.Key_Return)
        assert box.value() == 2.25


def test_play_says_pause_while_it_plays(window, qtbot):
    play = window.explore_panel.play
    assert play.text() == "Play"
    qtbot.mouseClick(play, Qt.LeftButton)
    assert play.isChecked() and play.text() == "Pause"
    qtbot.mouseClick(play, Qt.LeftButton)
    assert not play.isChecked() and play.text() == "Play"


def test_a_path_drawn_to_the_pads_border_reaches_the_last_row(window, drag):
    """A stroke ending on the pad's right border (the last morph value) left the last row where it was: the pointer
    there read a hair short of it, and the path dropped back to the blend's at the end, a spike (a walkthrough's
    finding)."""
    pad = window.explore_panel.pad
    pad.resize(500, 300)
    pad.refresh()
    r = pad.plot_rect()
    y = r.top() + 0.3 * r.height()
    c = pad.from_screen(r.left(), y)[1]
    drag(pad, [QPoint(int(r.center().x()), int(y)), QPoint(int(r.right()) - 1, int(y))], Qt.ShiftModifier)
    path = window.state.path
    pixel = (pad.y_range[1] - pad.y_range[0]) / r.height()
    assert abs(path[-1, 0] - c) < 2 * pixel and abs(path[-2, 0] - c) < 2 * pixel
