"""Sketch tools through the real widgets: proportional editing and the wheel, picking and the grab offset,
zoom / pan / framing, box select and shift-click, G / R / S, time steps, reorder, undo per gesture."""

import numpy as np
import pytest
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QCursor, QMouseEvent, QWheelEvent
from PyQt5.QtWidgets import QApplication

def mouse_move(widget, pos, buttons=Qt.LeftButton):
    """A mouse move to `pos` with `buttons` held (QTest's mouseMove moves the real cursor, without buttons)."""
    QApplication.sendEvent(widget, QMouseEvent(QEvent.MouseMove, QPointF(pos), Qt.NoButton, buttons, Qt.NoModifier))



def sketch_window(make_window, files, qtbot, k=0, step=4):
    window = make_window(files[1])
    window.tabs.setCurrentIndex(1)
    window.sketch_panel.resize(1000, 650)
    qtbot.wait(30)
    window.sketch_panel.list.setCurrentRow(k)
    window.sketch_panel.step.setValue(step)
    return window, window.sketch_panel, window.sketch, window.doc


def at(view, p):
    q = view.to_screen(np.asarray(p)[list(view.axes)])
    return QPoint(round(q.x()), round(q.y()))


def wheel(widget, pos, steps, buttons=Qt.NoButton):
    event = QWheelEvent(QPointF(pos), QPointF(widget.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 120 * steps),
                        buttons, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_proportional_drag_with_the_wheel_sizing_the_radius(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    panel.proportional.setChecked(True)
    panel.falloff.setCurrentText("linear")
    before = doc.templates[0].points.copy()
    view = panel.views["front"]
    start = at(view, sketch.grid()[4, 1])
    qtbot.mousePress(view, Qt.LeftButton, pos=start)
    mouse_move(view, start + QPoint(0, -30))
    small = doc.templates[0].points.copy()
    radius = sketch.radius
    wheel(view, start + QPoint(0, -30), 3, Qt.LeftButton)  # while dragging: a bigger radius
    assert sketch.radius > radius * 1.4 and abs(panel.radius.value() - sketch.radius) < 1e-3
    big = doc.templates[0].points.copy()
    qtbot.mouseRelease(view, Qt.LeftButton, pos=start + QPoint(0, -30))
    moved_small = np.any(small != before, axis=-1).sum()
    moved_big = np.any(big != before, axis=-1).sum()
    assert moved_big > moved_small > 2  # neighbours follow, more of them with the bigger radius
    d = big[4] - before[4]
    np.testing.assert_allclose(d[4, 1], d[4, 5] * [1, -1, 1])  # mirror partner
    assert 0 < d[3, 1, 2] < d[4, 1, 2]  # a neighbour follows part of the way
    np.testing.assert_array_equal(big[4, :, 3, 1], before[4, :, 3, 1])  # midline stays on it
    assert doc.undo.count() == 1  # one gesture, one undo step
    doc.undo.undo()
    np.testing.assert_array_equal(doc.templates[0].points, before)


def test_grab_offset_is_kept_and_the_nearest_point_to_the_viewer_wins(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]  # looking along +y: of two points on one pixel, the one with lower y wins
    grid = sketch.grid()
    hit = view.nearest(*(lambda q: (q.x(), q.y()))(view.to_screen(grid[5, 5, [0, 2]])))
    assert hit == (5, 1)  # the mirror partner on the near side
    start = at(view, grid[5, 1]) + QPoint(3, 2)  # grabbed a few px off
    before = grid[5, 1].copy()
    qtbot.mousePress(view, Qt.LeftButton, pos=start)
    mouse_move(view, start + QPoint(1, 0))
    after_tiny = doc.templates[0].points[4, 5, 1]
    assert np.linalg.norm(after_tiny - before) < 2 * view.frame()[1] / view._scale()  # no jump to the cursor
    qtbot.mouseRelease(view, Qt.LeftButton, pos=start + QPoint(1, 0))
    # hover highlights the point under the cursor
    top = panel.views["top"]
    mouse_move(top, at(top, sketch.grid()[3, 1]), Qt.NoButton)
    assert sketch.hover == (3, 1)


def test_views_zoom_pan_keep_framing_and_frame_selected(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["top"]
    p = sketch.grid()[6, 3]
    centre = QPoint(view.width() // 2, view.height() // 2)
    half = view.frame()[1]
    wheel(view, centre, 2)
    assert view.frame()[1] < half / 1.3  # zoomed in
    a = view.to_screen(p[:2])
    qtbot.mousePress(view, Qt.MiddleButton, pos=centre)
    mouse_move(view, centre + QPoint(30, 10), Qt.MiddleButton)
    qtbot.mouseRelease(view, Qt.MiddleButton, pos=centre + QPoint(30, 10))
    b = view.to_screen(p[:2])
    assert abs(b.x() - a.x() - 30) < 1 and abs(b.y() - a.y() - 10) < 1  # panned with the mouse
    framing = view.frame()
    start = at(view, sketch.grid()[3, 0])
    qtbot.mousePress(view, Qt.LeftButton, pos=start)
    mouse_move(view, start + QPoint(0, 40))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=start + QPoint(0, 40))
    assert view.frame() is framing or np.allclose(view.frame()[0], framing[0])  # kept after the edit
    sketch.select([(0, 3)])
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_F)
    assert view.frame()[1] < framing[1] / 3  # framed on one point
    qtbot.keyClick(view, Qt.Key_Period, Qt.KeypadModifier)
    assert abs(view.to_screen(sketch.grid()[0, 3, :2]).x() - view.width() / 2) < 1


def test_box_select_shift_click_and_row_column_all(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["top"]
    grid = sketch.grid()
    tip_rows = [at(view, grid[r, c]) for r in (5, 6) for c in range(7)]
    x0, x1 = min(q.x() for q in tip_rows) - 3, max(q.x() for q in tip_rows) + 14
    y0, y1 = min(q.y() for q in tip_rows) - 14, max(q.y() for q in tip_rows) + 3
    assert view.nearest(x1, y0) is None  # the box starts on empty space, past the tip
    qtbot.mousePress(view, Qt.LeftButton, pos=QPoint(x1, y0))
    mouse_move(view, QPoint(x0, y1))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=QPoint(x0, y1))
    assert {(r, c) for r in (5, 6) for c in range(7)} <= sketch.selection
    assert all(r >= 4 for r, c in sketch.selection)
    count = len(sketch.selection)
    qtbot.mouseClick(view, Qt.LeftButton, Qt.ShiftModifier, at(view, grid[2, 2]))
    assert (2, 2) in sketch.selection and len(sketch.selection) == count + 1
    qtbot.mouseClick(view, Qt.LeftButton, Qt.ShiftModifier, at(view, grid[2, 2]))
    assert (2, 2) not in sketch.selection
    sketch.select([(2, 4)])
    panel.select_row.click()
    assert sketch.selection == {(2, c) for c in range(7)}
    sketch.select([(2, 4)])
    panel.select_column.click()
    assert sketch.selection == {(r, 4) for r in range(7)}
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_A)
    assert len(sketch.selection) == 49


def test_g_r_s_on_the_selection_about_its_centre(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["top"]
    before = doc.templates[0].points.copy()
    panel.select_all.click()
    centre = before[4].reshape(-1, 3).mean(axis=0)
    c = at(view, centre)
    view.setFocus()
    # S: scale by the ratio of the mouse's distances from the centre
    view._start_modal("S", c + QPoint(60, 0))  # S pressed 60 px right of the centre
    mouse_move(view, c + QPoint(120, 0), Qt.NoButton)
    qtbot.mouseClick(view, Qt.LeftButton, pos=c + QPoint(120, 0))
    out = doc.templates[0].points[4]
    ratio = np.linalg.norm(out - centre, axis=-1).sum() / np.linalg.norm(before[4] - centre, axis=-1).sum()
    assert abs(ratio - 2) < 0.1
    doc.undo.undo()
    # R with Esc cancels; G moves by the mouse's travel
    view._start_modal("R", c + QPoint(40, 0))
    mouse_move(view, c + QPoint(0, -40))
    assert np.any(doc.templates[0].points != before)
    qtbot.keyClick(view, Qt.Key_Escape)
    np.testing.assert_array_equal(doc.templates[0].points, before)
    mouse_move(view, c)
    QCursor.setPos(view.mapToGlobal(c))
    qtbot.keyClick(view, Qt.Key_G)
    mouse_move(view, c + QPoint(20, 0))
    qtbot.keyClick(view, Qt.Key_Return)
    d = doc.templates[0].points[4] - before[4]
    assert np.allclose(d[..., 1:], 0, atol=1e-12) and np.all(d[..., 0] > 0)
    assert doc.undo.count() == 1 and doc.undo.text(0) == "Move selection"


def test_time_steps_fill_insert_and_time_falloff(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot, step=3)
    before = [t.points.copy() for t in doc.templates]
    panel.time_mode.setCurrentIndex(panel.time_mode.findData("all"))
    view = panel.views["front"]
    start = at(view, sketch.grid()[6, 3])
    qtbot.mousePress(view, Qt.LeftButton, pos=start)
    mouse_move(view, start + QPoint(0, -40))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=start + QPoint(0, -40))
    r, c = sketch.selected  # the point under the cursor nearest the viewer
    lift = doc.templates[0].points[:, r, c, 2] - before[0][:, r, c, 2]
    assert lift[3] > 0 and lift[2] > 0 and lift[4] > 0 and lift[3] > lift[2] > lift[1] and lift[3] > lift[5]
    doc.undo.undo()
    panel.fill.click()
    t = doc.templates[0]
    u = (t.time[3] - t.time[2]) / (t.time[4] - t.time[2])
    np.testing.assert_allclose(t.points[3], (1 - u) * before[0][2] + u * before[0][4])
    doc.undo.undo()
    panel.insert.click()
    assert all(t.grid_shape[0] == 8 for t in doc.templates) and sketch.step == 4
    assert doc.templates[1].time[4] == (before and (doc.templates[1].time[3] + doc.templates[1].time[5]) / 2)
    np.testing.assert_allclose(doc.templates[1].points[4], (before[1][3] + before[1][4]) / 2)
    assert doc.error is None
    doc.undo.undo()
    assert all(t.grid_shape[0] == 7 for t in doc.templates)


def test_reorder_templates_in_the_list(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    sketch.reorder(1, 0)
    assert [t.name for t in doc.templates] == ["petal-b", "petal-a"]
    assert panel.list.item(0).text().endswith("petal-b") and sketch.k == 0
    doc.undo.undo()
    assert [t.name for t in doc.templates] == ["petal-a", "petal-b"]
    # dragging in the list moves the row; the set follows
    panel.list.model().moveRow(panel.list.rootIndex(), 0, panel.list.rootIndex(), 2)
    qtbot.waitUntil(lambda: [t.name for t in doc.templates] == ["petal-b", "petal-a"], timeout=2000)


def test_the_benchmarks_sketch_drag_leaves_the_set_as_it_was(window):
    """`grc studio --benchmark`'s sketch-drag: real mouse events in the top view with falloff on, each move
    drawn in every view; afterwards the templates, the undo stack's clean state and the tab are as before."""
    from gui.benchmark import sketch_drag_frames

    before = [t.points.copy() for t in window.doc.templates]
    tab = window.tabs.currentIndex()
    drawn = []
    window.view.rendered.connect(lambda: drawn.append(window.doc.templates[0].points[4, 3, 1].copy()))
    times = sketch_drag_frames(window, n=4)
    assert len(times) == 4 and all(t > 0 for t in times)
    assert len({tuple(p) for p in drawn}) > 2  # the point moved, move by move
    assert all(np.array_equal(t.points, b) for t, b in zip(window.doc.templates, before))
    assert not window.doc.dirty and window.tabs.currentIndex() == tab and not window.sketch.proportional


def test_zoom_limits_follow_the_templates_size(make_window, files, qtbot):
    # templates drawn in millimetres (a petal 1,400 units long) zoom out to see all of it, as metres do
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    doc.edit([type(t)(t.name, t.time, t.morph, t.points * 1000, t.attribution) for t in doc.templates], "Scale")
    view = panel.views["top"]
    size = float(np.ptp(sketch.grid()[..., list(view.axes)]))
    for _ in range(60):
        view.zoom(1 / 1.5)
    assert view.frame()[1] > 2 * size  # far enough out to see the whole grid (it stopped at 1,000 units)


def test_a_falloff_drag_redraws_the_point_in_every_view_and_the_label_follows(make_window, files, qtbot):
    """Each move of a drag in the top view (falloff on) shows the point where it went in the three 2D views
    and the 3D view, and the panel's coordinates follow, move by move."""
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    panel.proportional.setChecked(True)
    views = panel.views
    top = views["top"]
    start = at(top, sketch.grid()[3, 1])
    qtbot.mousePress(top, Qt.LeftButton, pos=start)
    for dx, dy in ((6, 8), (12, 16), (18, 24)):  # across and away from the midline: every view sees it move
        before = {name: v.grab().toImage() for name, v in views.items()}
        mouse_move(top, start + QPoint(dx, dy))
        window.draw_now()
        point = doc.templates[0].points[4, 3, 1]
        assert abs(top.to_screen(point[:2]).x() - (start.x() + dx)) < 1.5  # under the cursor
        assert abs(top.to_screen(point[:2]).y() - (start.y() + dy)) < 1.5
        for name, v in views.items():
            assert v.grab().toImage() != before[name], name  # the point (and its neighbours) redrawn there
        np.testing.assert_allclose(window.view.grid_mesh.points[3 * 7 + 1], point)
        assert f"x {point[0]:.4f}  y {point[1]:.4f}  z {point[2]:.4f}" in panel.point_label.text()
    qtbot.mouseRelease(top, Qt.LeftButton, pos=start + QPoint(18, 24))
    assert doc.undo.count() == 1


def test_the_selected_points_mark_covers_its_selection_mark(make_window, files, qtbot):
    """A selection of the selected point alone is not drawn a second time under its larger mark: the 3D
    view's picture is the same with that smaller mark drawn. A larger selection shows every point."""
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    sketch.set(selected=(3, 1))
    window.draw_now()
    view = window.view
    assert view.selected_actor.GetVisibility() and not view.selection_actor.GetVisibility()
    without = view.plotter.screenshot(return_img=True)
    view.selection_mesh.points = view.selected_mesh.points.copy()  # (not moved while hidden) drawn as it was before
    view.selection_actor.SetVisibility(True)
    view.render(now=True)
    np.testing.assert_array_equal(view.plotter.screenshot(return_img=True), without)
    sketch.select([(3, 1), (3, 2)])
    window.draw_now()
    assert view.selection_actor.GetVisibility() and view.selection_mesh.n_points == 2


def test_the_status_line_says_read_only_until_the_set_is_saved_elsewhere(make_window, tmp_path, qtbot):
    """The panel works out whether the set's folder is a bundled example once per folder: the status line
    says so for the example, and no longer once the set is saved to a folder of its own."""
    window = make_window(None)
    assert window.open()  # the bundled petal
    window.tabs.setCurrentIndex(1)
    panel = window.sketch_panel
    assert "a bundled example" in panel.status.text()
    window.sketch.set(selected=(3, 1))  # a sync with the folder unchanged
    assert "a bundled example" in panel.status.text()
    window.doc.save(tmp_path / "mine")
    window.sketch.set(selected=(3, 2))
    assert str(tmp_path / "mine") in panel.status.text() and "bundled example" not in panel.status.text()


def test_a_drag_on_a_flagged_set_still_shows_its_error_after_release(make_window, files, qtbot):
    """A drag's moves are not checked (its end is): a set flagged before the drag (a duplicate name) is
    flagged after it, in the status line too, which also says the set has unsaved edits."""
    model, folder = files
    window = make_window(folder)
    window.tabs.setCurrentIndex(1)
    window.sketch_panel.resize(1000, 650)
    qtbot.wait(30)
    panel, sketch, doc = window.sketch_panel, window.sketch, window.doc
    sketch.set(k=1, step=4)
    sketch.rename("petal-a")  # a duplicate name: flagged, not refused
    assert "duplicate template name" in doc.error
    doc.undo.setClean()
    original = doc.templates[1].points.copy()
    top = panel.views["top"]
    start = at(top, sketch.grid()[3, 1])
    qtbot.mousePress(top, Qt.LeftButton, pos=start)
    mouse_move(top, start + QPoint(10, 12))
    mouse_move(top, start + QPoint(20, 24))
    assert sketch.dragging and not np.array_equal(doc.templates[1].points, original)
    qtbot.mouseRelease(top, Qt.LeftButton, pos=start + QPoint(20, 24))
    assert "duplicate template name" in doc.error
    assert "cannot be saved" in panel.status.text() and "duplicate" in panel.status.text()
    assert doc.dirty and doc.undo.count() == 2  # the rename and the drag
    doc.undo.undo()  # the drag
    assert "duplicate template name" in doc.error and "cannot be saved" in panel.status.text()


def test_a_preview_with_coordinates_that_are_not_numbers_is_refused(make_window, files, qtbot):
    """A gesture's live preview copies the template without its full check, but its points are still checked:
    a move that is not a finite number is refused, naming the coordinate, and the set stays as it was."""
    from grc import GRCError
    from grc.editing import translate

    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    before = doc.templates[0].points.copy()
    sketch.select([(3, 1)])
    sketch.begin_drag()
    with pytest.raises(GRCError, match="expected finite coordinates"):
        sketch.preview({(3, 1)}, translate([np.nan, 0.0, 0.0]))
    sketch.cancel_drag()
    np.testing.assert_array_equal(doc.templates[0].points, before)


@pytest.mark.parametrize("time_mode", ["step", "later"])
def test_the_2d_views_still_picture_during_and_after_a_drag(make_window, files, qtbot, time_mode):
    """During a drag the 2D views keep their still picture (border, title, the neighbouring time steps) and
    draw the moving step over it; the picture is made again only when the drag moves the neighbours too ("This
    and later steps"). During the drag and once it has ended, every view draws exactly what it draws with its
    still picture made from scratch."""
    from gui.view3d import SMOOTH_AFTER_MS

    window, panel, sketch, doc = sketch_window(make_window, files, qtbot, step=3)
    panel.proportional.setChecked(True)
    modes = [panel.time_mode.itemData(i) for i in range(panel.time_mode.count())]
    panel.time_mode.setCurrentIndex(modes.index(time_mode))
    views = panel.views
    top = views["top"]
    start = at(top, sketch.grid()[3, 1])
    qtbot.mousePress(top, Qt.LeftButton, pos=start)
    pictures = []
    for dx, dy in ((10, 12), (20, 24)):
        mouse_move(top, start + QPoint(dx, dy))
        shown = top.grab().toImage()
        pictures.append(top._cache[2])
    assert (pictures[0] is pictures[1]) == (time_mode == "step")  # the next step's faint grid moves with "later"
    top._cache = None
    assert top.grab().toImage() == shown  # mid-drag, as drawn from scratch
    qtbot.mouseRelease(top, Qt.LeftButton, pos=start + QPoint(20, 24))
    carried = not np.array_equal(doc.templates[0].points[4], doc.undo.command(0).before[0].points[4])
    assert carried == (time_mode == "later")  # (the next time step)
    qtbot.wait(SMOOTH_AFTER_MS + 100)
    for name, view in views.items():
        shown = view.grab().toImage()
        view._cache = None
        assert view.grab().toImage() == shown, name


def test_the_radius_box_shows_its_value_without_trailing_zeros(make_window, files, qtbot):
    # as every other value box in the app (a walkthrough read "radius 0.500")
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    panel.radius.setValue(0.5)
    assert panel.radius.text() == "radius 0.5"
    panel.radius.setValue(0.125)
    assert panel.radius.text() == "radius 0.125" and sketch.radius == pytest.approx(0.125)


def test_the_time_step_label_counts_from_one(make_window, files, qtbot):
    # a walkthrough: the petal's last of 7 time steps read "time step 6 of 6"
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    T = doc.templates[0].grid_shape[0]
    assert panel.step_label.text().startswith(f"time step {sketch.step + 1} of {T}:")
    panel.step.setValue(T - 1)  # the step slider at the last time step
    assert sketch.step == T - 1 and panel.step_label.text().startswith(f"time step {T} of {T}:")
