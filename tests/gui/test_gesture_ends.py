"""Every action that changes or reads the template set ends a gesture under way first (Save, Save as, Train,
a tab switch, the Sketch panel's Undo / Redo, the time-step slider), and the model says when it was trained on
other templates. Found by a review that drove the app with a real mouse; each test failed before the fix (the
unconfirmed G saved, trained or carried to another step; an undone edit coming back)."""

import numpy as np
import pytest
from PyQt5.QtCore import QPoint, Qt

import grc
from gui.app import TABS
from test_gestures import start_g
from test_sketch_tools import at, mouse_move, sketch_window

TINY = dict(steps=60, template_steps=40, template_lbfgs_steps=0, refine_steps=0, batch_size=64, refine_samples=64)


def points(doc):
    return [t.points.copy() for t in doc.templates]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_save_during_g_saves_what_the_screen_shows_once_it_is_cancelled(make_window, files, qtbot, tmp_path,
                                                                         monkeypatch):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]
    p = at(view, sketch.grid()[6, 3])
    qtbot.mousePress(view, Qt.LeftButton, pos=p)  # one confirmed edit: the set is unsaved
    mouse_move(view, p + QPoint(0, -30))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=p + QPoint(0, -30))
    edited = points(doc)
    start_g(view, sketch, qtbot)
    assert not same(points(doc), edited)  # the G's live preview
    save = next(a for a in window.findChildren(type(window.new_set_action)) if a.text() == "Save templates")
    save.trigger()  # Ctrl+S
    assert view._modal is None and not sketch.dragging and same(points(doc), edited)
    qtbot.keyClick(view, Qt.Key_Escape)  # restored the screen while the document said "saved" before
    assert same(points(doc), edited) and not doc.dirty
    assert same([t.points for t in grc.load_templates(files[1]).templates], edited)  # on disk == on screen
    # Save as… likewise (the G is cancelled before the folder is asked for)
    start_g(view, sketch, qtbot)
    other = tmp_path / "copy"
    from PyQt5.QtWidgets import QFileDialog

    asked = []

    def ask(*args, **kwargs):
        asked.append(sketch.dragging)
        return str(other), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(ask))
    next(a for a in window.findChildren(type(window.new_set_action)) if a.text() == "Save templates as…").trigger()
    assert asked == [False] and same([t.points for t in grc.load_templates(other).templates], edited)
    assert not doc.dirty


def test_train_during_g_trains_the_set_as_it_was(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]
    before = points(doc)
    start_g(view, sketch, qtbot)
    window.train_config = grc.Config.from_preset("default", **TINY)
    window.train_panel.start.click()  # (the Train tab's button, as the review pressed it)
    assert not sketch.dragging and view._modal is None and same(points(doc), before)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60000)
    assert same([t.points for t in doc.model.templates.templates], before)  # it learned the set, not the G
    # a tab switch ends a G too
    window.tabs.setCurrentIndex(TABS.index("sketch"))
    start_g(view, sketch, qtbot)
    window.tabs.setCurrentIndex(TABS.index("explore"))
    assert not sketch.dragging and view._modal is None and same(points(doc), before)
    assert doc.undo.count() == 0


def test_the_sketch_panels_undo_and_redo_during_g_cancel_it_as_ctrl_z_does(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]
    original = points(doc)
    p = at(view, sketch.grid()[6, 3])
    qtbot.mousePress(view, Qt.LeftButton, pos=p)
    mouse_move(view, p + QPoint(0, -30))
    qtbot.mouseRelease(view, Qt.LeftButton, pos=p + QPoint(0, -30))
    edited = points(doc)
    start_g(view, sketch, qtbot)
    qtbot.mouseClick(panel.undo, Qt.LeftButton)  # cancels the G, undoes nothing
    assert view._modal is None and same(points(doc), edited) and doc.undo.index() == 1
    qtbot.mouseClick(view, Qt.LeftButton, pos=QPoint(40, 40))  # the click that would have confirmed the G
    assert same(points(doc), edited) and doc.undo.count() == 1
    qtbot.mouseClick(panel.undo, Qt.LeftButton)
    assert same(points(doc), original)
    # Redo during a G (with the edit undone): cancels the G; the next Redo brings the edit back
    start_g(view, sketch, qtbot)
    assert panel.redo.isEnabled()
    qtbot.mouseClick(panel.redo, Qt.LeftButton)
    assert view._modal is None and same(points(doc), original)
    qtbot.mouseClick(view, Qt.LeftButton, pos=QPoint(40, 40))
    qtbot.mouseClick(panel.redo, Qt.LeftButton)
    assert same(points(doc), edited) and doc.undo.count() == 1
    # with nothing to undo, Undo is still there to cancel a first G
    qtbot.mouseClick(panel.undo, Qt.LeftButton)
    doc.undo.clear()
    assert not panel.undo.isEnabled()
    start_g(view, sketch, qtbot)
    assert panel.undo.isEnabled()
    qtbot.mouseClick(panel.undo, Qt.LeftButton)
    assert not sketch.dragging and same(points(doc), original) and not panel.undo.isEnabled()


def test_the_time_step_slider_during_g_cancels_it(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot, step=4)
    view = panel.views["front"]
    before = points(doc)
    c = start_g(view, sketch, qtbot)
    assert not np.array_equal(doc.templates[0].points[4], before[0][4])
    panel.step.setValue(2)
    assert sketch.step == 2 and not sketch.dragging and view._modal is None and same(points(doc), before)
    mouse_move(view, c + QPoint(10, -60), Qt.NoButton)
    qtbot.keyClick(view, Qt.Key_Return)  # carried the G to step 2 before
    assert same(points(doc), before) and doc.undo.count() == 0
    # and another selection (Select all / row buttons) during a G
    start_g(view, sketch, qtbot)
    sketch.select([(0, 0)])
    assert not sketch.dragging and same(points(doc), before)


def test_explore_and_train_say_when_the_model_was_trained_on_other_templates(window, qtbot):
    doc, sketch = window.doc, window.sketch
    explore, train = window.explore_panel.stale, window.train_panel.stale
    assert doc.model_differs() is None and explore.isHidden() and train.isHidden()
    sketch.duplicate()  # a third template: the model knows two
    assert "other templates" in explore.text() and not explore.isHidden() and not train.isHidden()
    doc.undo.undo()
    assert doc.model_differs() is None and explore.isHidden() and train.isHidden()
    sketch.reorder(1, 0)  # the blend order: the model's sliders are the other way round
    assert "another order" in explore.text() and "petal-a, petal-b" in train.text()
    assert "Out of date" in window.statusBar().currentMessage()
    doc.undo.undo()
    assert explore.isHidden()
    assert "Out of date" not in window.statusBar().currentMessage()  # (not left for its 10 s once untrue)
    window.tabs.setCurrentIndex(TABS.index("sketch"))
    panel = window.sketch_panel
    panel.resize(1000, 650)
    panel.step.setValue(3)
    view = panel.views["front"]
    p = at(view, sketch.grid()[5, 3])
    qtbot.mousePress(view, Qt.LeftButton, pos=p)  # a drag of a template's point
    mouse_move(view, p + QPoint(0, -30))
    assert explore.isHidden()  # (not checked during the drag: at its end)
    qtbot.mouseRelease(view, Qt.LeftButton, pos=p + QPoint(0, -30))
    assert "petal-a was edited" in train.text() and not explore.isHidden()
    window.train_config = grc.Config.from_preset("default", **TINY)
    assert window.start_training(ask=False)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60000)
    assert doc.model_differs() is None and explore.isHidden() and train.isHidden()


@pytest.mark.parametrize("size", [(1024, 700), (1280, 800)])
def test_every_tab_fits_a_small_window_without_sideways_scrolling(make_window, files, qtbot, size):
    """At 1024 x 700 the side panel scrolled sideways and cut off Sketch's and Export's buttons and the side view."""
    from PyQt5.QtWidgets import QAbstractButton

    window = make_window(files[0])
    window.resize(*size)
    qtbot.wait(50)
    assert window.tabs.tabBar().width() >= window.tabs.tabBar().sizeHint().width()  # every tab's name shown
    for i, name in enumerate(TABS):
        window.tabs.setCurrentIndex(i)
        qtbot.wait(20)
        area = window.tabs.currentWidget()
        viewport = area.viewport()
        assert not area.horizontalScrollBar().isVisible(), name
        for widget in area.widget().findChildren(QAbstractButton) + list(window.sketch_panel.views.values()):
            if widget.isVisible() and area.widget().isAncestorOf(widget):
                left = widget.mapTo(viewport, QPoint(0, 0)).x()
                assert 0 <= left and left + widget.width() <= viewport.width(), (name, widget)


def test_a_typo_in_the_new_set_dialog_is_said_there_and_keeps_what_was_typed(make_window, qtbot, dialogs):
    """The error closed the dialog and everything typed was lost."""
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication, QDialogButtonBox

    from gui.sketch_new import NewSetDialog

    window = make_window()
    seen = []

    def fill_in():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, NewSetDialog)
        dialog.rows.setValue(9), dialog.points.setValue(5), dialog.steps.setValue(4)
        dialog.time.setText("0, 0.3, 0.7")  # three values for four steps
        dialog.name.setText("tulip")
        ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok)
        qtbot.mouseClick(ok, Qt.LeftButton)
        seen.append((dialog.isVisible(), dialog.problem.text(), dialog.rows.value(), dialog.time.text(),
                     dialog.name.text(), dialog.focusWidget() is dialog.time))
        dialog.time.setText("0, 0.3, 0.7, 1")
        qtbot.mouseClick(ok, Qt.LeftButton)

    QTimer.singleShot(0, fill_in)
    window.new_set_action.trigger()
    visible, problem, rows, time, name, focused = seen[0]
    assert visible and "expected 4 values" in problem and "time" in problem
    assert (rows, time, name) == (9, "0, 0.3, 0.7", "tulip") and focused
    assert not dialogs["warning"]  # said in the dialog, not in a box that closed it
    assert [t.name for t in window.doc.templates] == ["tulip-a", "tulip-b"]
    assert window.doc.templates[0].grid_shape == (4, 9, 5)
    np.testing.assert_allclose(window.doc.templates[0].time, [0, 0.3, 0.7, 1])
