"""A gesture under way (a drag, a G / R / S, a rewrite drag) never outlives what else the artist does:
opening another document, another Sketch action, Undo. Found by a review that drove the app; each test
failed before the fix (the old set pasted into a new document, a crash dialog per mouse move, an undone
edit coming back)."""

import shutil

import numpy as np
from PyQt5.QtCore import QPoint, Qt
from PyQt5.QtGui import QCursor

from grc_testing import ROOT
from test_sketch_tools import at, mouse_move, sketch_window


def start_g(view, sketch, qtbot, qpoint_offset=QPoint(0, -40)):
    c = at(view, sketch.grid()[3, 3])
    QCursor.setPos(view.mapToGlobal(c))
    qtbot.keyClick(view, Qt.Key_A)
    qtbot.keyClick(view, Qt.Key_G)
    mouse_move(view, c + qpoint_offset, Qt.NoButton)
    return c


def test_opening_another_set_during_g_keeps_that_set(make_window, files, qtbot, tmp_path, dialogs):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]
    c = start_g(view, sketch, qtbot)
    assert view._modal is not None
    leaf = tmp_path / "leaf"
    shutil.copytree(ROOT / "templates" / "leaf", leaf)
    leaf_templates = [t.points.copy() for t in window.doc._read_folder(leaf)[0]]
    assert window.open(leaf)
    assert view._modal is None and not sketch.dragging
    mouse_move(view, c + QPoint(10, -60), Qt.NoButton)  # a crash dialog per move before
    qtbot.keyClick(view, Qt.Key_Escape)  # pasted the petal back into the leaf's document before
    assert [t.name for t in doc.templates] == ["flat", "curled", "wavy"]
    assert all(np.array_equal(t.points, p) for t, p in zip(doc.templates, leaf_templates))
    assert not doc.dirty and not dialogs["warning"]


def test_another_action_during_g_cancels_it_first(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]
    before = [t.points.copy() for t in doc.templates]
    start_g(view, sketch, qtbot)
    assert not np.array_equal(doc.templates[0].points, before[0])  # the live preview
    panel.list.setCurrentRow(1)  # another template: the gesture is cancelled, not left running
    assert view._modal is None and np.array_equal(doc.templates[0].points, before[0])
    mouse_move(view, QPoint(50, 50), Qt.NoButton)  # moves nothing (a crash dialog per move before)
    assert all(np.array_equal(t.points, p) for t, p in zip(doc.templates, before))
    # an action button during G: the action applies to the set as it was, and Undo undoes just it
    panel.list.setCurrentRow(0)
    start_g(view, sketch, qtbot)
    steps = doc.templates[0].grid_shape[0]
    sketch.insert_step()
    qtbot.keyClick(view, Qt.Key_Escape)
    assert doc.templates[0].grid_shape[0] == steps + 1 and doc.undo.count() == 1
    doc.undo.undo()
    assert all(np.array_equal(t.points, p) for t, p in zip(doc.templates, before))


def test_undo_during_a_gesture_cancels_only_the_gesture(make_window, files, qtbot, drag):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]
    original = doc.templates[0].points.copy()
    p = at(view, sketch.grid()[6, 3])
    drag(view, [p, p + QPoint(0, -20), p + QPoint(0, -40)])  # edit A
    after_a = doc.templates[0].points.copy()
    assert not np.array_equal(after_a, original)
    start_g(view, sketch, qtbot)
    window.history.undo_action.trigger()  # Ctrl+Z in the middle of G: cancels G, undoes nothing
    assert view._modal is None and np.array_equal(doc.templates[0].points, after_a) and doc.undo.count() == 1
    qtbot.mouseClick(view, Qt.LeftButton, pos=QPoint(40, 40))  # the click that would have confirmed G
    assert np.array_equal(doc.templates[0].points, after_a) and doc.undo.count() == 1
    window.history.undo_action.trigger()
    assert np.array_equal(doc.templates[0].points, original)
    # and in the middle of a point drag: the drag ends, nothing of it stays
    p = at(view, sketch.grid()[6, 3])
    qtbot.mousePress(view, Qt.LeftButton, pos=p)
    mouse_move(view, p + QPoint(0, -30))
    window.history.undo_action.trigger()
    mouse_move(view, p + QPoint(0, -50))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=p + QPoint(0, -50))
    assert np.array_equal(doc.templates[0].points, original) and doc.undo.index() == 0


def test_keep_after_inserting_a_time_step_evaluates_the_model_at_the_sets_times(window):
    sketch, doc = window.sketch, window.doc
    model = doc.model
    sketch.set(step=2)
    sketch.insert_step()
    times = doc.templates[0].time
    assert len(times) == len(model.templates.time) + 1
    window.state.set_blend(0.3)
    assert sketch.keep_from_explore(window.state)
    kept = doc.templates[-1]
    assert kept.grid_shape == doc.templates[0].grid_shape and np.array_equal(kept.time, times)
    for i, t in enumerate(times):  # at every step, the model's shape there (it was resampled by index)
        np.testing.assert_allclose(kept.points[i], model.shape(t, 0.3), atol=1e-12)
    assert doc.error is None
    assert sketch.new_template(model, 0.7)
    np.testing.assert_allclose(doc.templates[-1].points[3], model.shape(times[3], 0.7), atol=1e-12)


def test_undo_during_a_rewrite_drag_cancels_the_drag(window, drag):
    """Ctrl+Z in the middle of a rewrite drag: the drag ends and the model is the one before it (on release,
    the point moved by an earlier rewrite came back with the new one before)."""
    from PyQt5.QtCore import QEvent, QPointF
    from PyQt5.QtGui import QMouseEvent
    from PyQt5.QtWidgets import QApplication

    from test_beyond import TIME, set_shape

    set_shape(window, TIME, 0.5)
    panel = window.rewrite_panel
    panel.mode.setChecked(True)
    original = window.doc.model
    widget = window.view.plotter.interactor
    ratio = widget.devicePixelRatioF()

    def screen(row, index):
        grid = window.beyond.grid()
        x, y, _ = window.view.display_points(grid)[row * grid.shape[1] + index]
        return QPoint(int(round(x / ratio)), int(round(widget.height() - 1 - y / ratio)))

    start = screen(5, 3)
    drag(widget, [start, start + QPoint(10, 0), start + QPoint(25, -30)])  # rewrite A
    after_a = window.doc.model
    assert after_a is not original

    def send(kind, pos, button, buttons):
        QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos), button, buttons, Qt.NoModifier))

    window.draw_now()
    start = screen(2, 1)
    send(QEvent.MouseButtonPress, start, Qt.LeftButton, Qt.LeftButton)
    send(QEvent.MouseMove, start + QPoint(15, -15), Qt.NoButton, Qt.LeftButton)
    window.history.undo_action.trigger()  # cancels the drag, undoes nothing
    send(QEvent.MouseMove, start + QPoint(30, -30), Qt.NoButton, Qt.LeftButton)
    send(QEvent.MouseButtonRelease, start + QPoint(30, -30), Qt.LeftButton, Qt.NoButton)
    window.draw_now()
    assert window.doc.model is after_a and window.beyond.preview is None
    window.history.undo_action.trigger()
    assert window.doc.model is original


def test_ctrl_z_during_the_first_gesture_cancels_it(make_window, files, qtbot):
    """With nothing to undo yet, Edit > Undo was greyed out, so Ctrl+Z during a first G did nothing and the
    click after it confirmed the move (found with xdotool in the real app). While a gesture runs Undo is enabled
    and the key cancels it."""
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]
    before = [t.points.copy() for t in doc.templates]
    assert not window.history.undo_action.isEnabled()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    start_g(view, sketch, qtbot)
    assert window.history.undo_action.isEnabled()
    qtbot.keyClick(view, Qt.Key_Z, Qt.ControlModifier)
    assert view._modal is None and not window.history.undo_action.isEnabled()
    qtbot.mouseClick(view, Qt.LeftButton, pos=QPoint(40, 40))
    assert all(np.array_equal(t.points, p) for t, p in zip(doc.templates, before)) and doc.undo.count() == 0


def test_esc_during_a_rewrite_drag_cancels_it_as_in_sketch(window):
    """Esc in the 3D view cancelled a Sketch drag but not a rewrite drag: the release then committed it."""
    from PyQt5.QtCore import QEvent, QPointF
    from PyQt5.QtGui import QMouseEvent
    from PyQt5.QtWidgets import QApplication

    from test_beyond import TIME, set_shape

    set_shape(window, TIME, 0.5)
    window.rewrite_panel.mode.setChecked(True)
    original = window.doc.model
    widget = window.view.plotter.interactor
    ratio = widget.devicePixelRatioF()
    grid = window.beyond.grid()
    x, y, _ = window.view.display_points(grid)[5 * grid.shape[1] + 3]
    start = QPoint(int(round(x / ratio)), int(round(widget.height() - 1 - y / ratio)))

    def send(kind, pos, button, buttons):
        QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos), button, buttons, Qt.NoModifier))

    send(QEvent.MouseButtonPress, start, Qt.LeftButton, Qt.LeftButton)
    send(QEvent.MouseMove, start + QPoint(15, -15), Qt.NoButton, Qt.LeftButton)
    window.draw_now()
    assert window.beyond.preview is not None  # (the drag is under way)
    window.view.on_escape()  # what Esc in the view calls
    send(QEvent.MouseMove, start + QPoint(30, -30), Qt.NoButton, Qt.LeftButton)
    send(QEvent.MouseButtonRelease, start + QPoint(30, -30), Qt.LeftButton, Qt.NoButton)
    window.draw_now()
    assert window.doc.model is original and window.beyond.preview is None
    assert "cancelled" in window.statusBar().currentMessage()
