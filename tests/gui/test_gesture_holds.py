"""A gesture never outlives what else happens, and nothing else moves what it edits (review round 4). Each test
failed before its fix: a training ending under a Rewrite drag (the drop rewrote the old model) or under Blend
models… (OK blended the old one); G with the pointer over the next view (clicks lost, keys ignored); the
autosave writing a G's unconfirmed preview; Play running on under a drag; the wheel zooming a G off the
pointer; Ctrl+Shift+S doing nothing; Explore's side panel scrolling sideways once a look is loaded."""

import json
import re

import numpy as np
import pytest
from PyQt5.QtCore import QPoint, Qt
from PyQt5.QtGui import QCursor
from PyQt5.QtWidgets import QAction, QApplication

import grc
from gui.app import TABS
from test_gestures import start_g
from test_sketch_tools import at, mouse_move, sketch_window, wheel

TINY = dict(steps=60, template_steps=40, template_lbfgs_steps=0, refine_steps=0, batch_size=64, refine_samples=64)
REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def points(doc):
    return [t.points.copy() for t in doc.templates]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def grab_point(window, row, index):
    """Where point (row, index) of the shape on screen is in the 3D view's widget."""
    widget = window.view.plotter.interactor
    grid = window.beyond.grid()
    x, y, _ = window.view.display_points(grid)[row * grid.shape[1] + index]
    ratio = widget.devicePixelRatioF()
    return widget, QPoint(int(round(x / ratio)), int(round(widget.height() - 1 - y / ratio)))


def press_and_move(widget, start, moves):
    from PyQt5.QtCore import QEvent, QPointF
    from PyQt5.QtGui import QMouseEvent

    QApplication.sendEvent(widget, QMouseEvent(QEvent.MouseButtonPress, QPointF(start), Qt.LeftButton, Qt.LeftButton,
                                               Qt.NoModifier))
    for p in moves:
        mouse_move(widget, p)


def release(widget, p):
    from PyQt5.QtCore import QEvent, QPointF
    from PyQt5.QtGui import QMouseEvent

    QApplication.sendEvent(widget, QMouseEvent(QEvent.MouseButtonRelease, QPointF(p), Qt.LeftButton, Qt.NoButton,
                                               Qt.NoModifier))


# -- 1. a model change ends a rewrite drag; Blend models… blends the model shown -----------------------------
def test_a_training_that_ends_during_a_rewrite_drag_cancels_the_drag(window, qtbot):
    window.state.set_time(0.8)
    window.draw_now()
    window.rewrite_panel.mode.setChecked(True)
    window.train_config = grc.Config.from_preset("default", **TINY)
    assert window.start_training(ask=False)
    widget, start = grab_point(window, 5, 3)
    press_and_move(widget, start, [start + QPoint(10, -10)])
    assert window.doc.dragging
    qtbot.waitUntil(lambda: window.worker is None, timeout=60000)
    trained = window.doc.model
    assert not window.doc.dragging  # cancelled when the trained model came in
    assert "Rewrite drag cancelled" in window.statusBar().currentMessage()  # (the training's message replaced it)
    mouse_move(widget, start + QPoint(20, -25))
    release(widget, start + QPoint(20, -25))  # the drop rewrote the old model and replaced the trained one
    assert window.doc.model is trained and window.beyond.preview is None
    assert not window.beyond.undo.canUndo()
    # an undone model change (or a blend) during a drag ends it likewise
    rewritten = grc.diverge.rewrite.rewrite(trained, 0.8, 0.5, (5, 3), trained.shape(0.8, 0.5)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(rewritten, "Rewrite")
    widget, start = grab_point(window, 5, 3)
    press_and_move(widget, start, [start + QPoint(10, -10)])
    assert window.doc.dragging
    window.beyond.undo.undo()
    assert not window.doc.dragging and window.doc.model is trained
    release(widget, start + QPoint(10, -10))
    assert window.doc.model is trained


def test_blend_models_blends_the_model_shown_when_ok_is_pressed(window, qtbot, tmp_path):
    from grc.diverge.blend import blend_models

    original = window.doc.model
    other = grc.diverge.rewrite.rewrite(original, 0.8, 0.5, (6, 3), original.shape(0.8, 0.5)[6, 3] + [0, 0, 0.1])
    other.save(tmp_path / "other.grc")
    window.train_config = grc.Config.from_preset("default", **TINY)
    assert window.start_training(ask=False)
    dialog = window.rewrite_panel.blend_with(tmp_path / "other.grc")
    dialog.show()
    dialog.weight.setValue(30)
    qtbot.waitUntil(lambda: window.worker is None, timeout=60000)
    trained = window.doc.model
    assert trained is not original and dialog.base is trained and dialog.note.isVisible()
    other = grc.load_model(tmp_path / "other.grc")
    try:
        expected = blend_models(trained, other, 0.3)
    except grc.GRCError:  # (another architecture: then OK cannot blend at all)
        expected = None
    ok = dialog.buttons.button(dialog.buttons.Ok)
    assert ok.isEnabled() == (expected is not None)
    dialog.accept()
    if expected is None:
        assert window.doc.model is trained
    else:
        np.testing.assert_allclose(window.doc.model.shape(0.4, 0.5), expected.shape(0.4, 0.5), atol=1e-9)
        window.beyond.undo.undo()
        assert window.doc.model is trained  # (not the model before the training)


# -- 2. G follows the pointer into another view and answers there ----------------------------------------------
@pytest.mark.parametrize("answer", ["click", "enter", "esc", "right click", "click in the 3D view"])
def test_g_goes_on_over_another_view_and_is_answered_there(make_window, files, qtbot, answer):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    front, top = panel.views["front"], panel.views["top"]
    before = points(doc)
    c = start_g(front, sketch, qtbot, QPoint(40, 0))
    at_edge = points(doc)
    beyond_edge = top.mapFromGlobal(front.mapToGlobal(c + QPoint(front.width(), 0)))  # over the next view
    mouse_move(top, beyond_edge, Qt.NoButton)
    moved = points(doc)
    assert sketch.dragging and not same(moved, at_edge)  # it followed past the view's edge (it stopped there)
    k, step = sketch.k, sketch.step
    travel = front.mapFromGlobal(top.mapToGlobal(beyond_edge)) - (c + QPoint(40, 0))
    shift = at(front, moved[k][step][3, 3]) - at(front, at_edge[k][step][3, 3])
    assert abs(shift.x() - travel.x()) <= 1 and abs(shift.y() - travel.y()) <= 1  # as far as the pointer went
    steps = doc.undo.count()
    if answer == "click":
        qtbot.mouseClick(top, Qt.LeftButton, pos=beyond_edge)  # cancelled it silently
    elif answer == "enter":
        qtbot.keyClick(top, Qt.Key_Return)  # did nothing
    elif answer == "esc":
        qtbot.keyClick(top, Qt.Key_Escape)
    elif answer == "right click":
        qtbot.mouseClick(top, Qt.RightButton, pos=beyond_edge)
    else:
        qtbot.mouseClick(window.view.plotter.interactor, Qt.LeftButton, pos=QPoint(20, 20))
    assert not sketch.dragging and front._modal is None
    if answer in ("esc", "right click"):
        assert same(points(doc), before) and doc.undo.count() == steps
    else:
        assert same(points(doc), moved) and doc.undo.count() == steps + 1
    qtbot.mouseClick(top, Qt.LeftButton, pos=QPoint(3, 3))  # the mouse is the views' again: a click on empty
    assert not sketch.selection and not sketch.dragging       # space clears the selection


# -- 3. the autosave holds the set without a gesture's preview -------------------------------------------------
def recovered(doc):
    path = doc.recovery_path()
    return [np.asarray(grc.Template.from_json(t, path).points) for t in json.loads(path.read_text())["templates"]]


@pytest.mark.parametrize("gesture", ["G", "drag"])
def test_the_autosave_during_a_gesture_writes_the_set_without_its_preview(make_window, files, qtbot, gesture):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]
    p = at(view, sketch.grid()[6, 3])
    press_and_move(view, p, [p + QPoint(0, -30)])
    release(view, p + QPoint(0, -30))  # a confirmed edit: the autosave is due in 500 ms
    confirmed = points(doc)
    if gesture == "G":
        start_g(view, sketch, qtbot)
    else:
        q = at(view, sketch.grid()[3, 3])
        press_and_move(view, q, [q + QPoint(30, -40)])
    assert sketch.dragging and not same(points(doc), confirmed)
    qtbot.wait(900)  # the autosave fires mid-gesture
    assert doc.recovery_path().exists()
    assert same(recovered(doc), confirmed)  # it wrote the unconfirmed preview
    qtbot.keyClick(view, Qt.Key_Escape)
    if gesture == "drag":
        release(view, q + QPoint(30, -40))
    qtbot.wait(700)
    assert same(points(doc), confirmed) and same(recovered(doc), confirmed)
    data, problem = doc.read_recovery()  # what a restart after a crash would offer
    assert problem is None and same([t.points for t in data["templates"]], confirmed)


# -- 4. Explore's side panel fits 1024 x 700 with a look loaded --------------------------------------------------
def three_context_leaf(tmp_path):
    config = grc.Config.from_preset("default", context_dims=3, **TINY)
    model = grc.train(grc.load_template_set(REPO / "templates" / "leaf"), config, device="cpu")
    return model.save(tmp_path / "leaf.grc") or tmp_path / "leaf.grc"


@pytest.mark.parametrize("which", ["petal", "leaf of three templates, 3 context dims"])
def test_explore_fits_a_small_window_with_a_look_loaded(make_window, files, qtbot, tmp_path, which):
    """The bend rows' unit texts ("cluster 2 of 6 (seed 1): middle, whole width") and the context value box made
    Explore scroll sideways at 1024 x 700."""
    from PyQt5.QtWidgets import QAbstractButton, QComboBox

    path = files[0] if which == "petal" else three_context_leaf(tmp_path)
    look = {"format": "grc-look/1", "name": "ripple", "blend": [0.3] if which == "petal" else [0.2, 0.5, 0.3],
            "bends": [{"op": "ablate", "layer": 1, "units": {"cluster": 2, "clusters": 6, "seed": 1}, "amount": 1.0,
                       "frequency": 1.0, "strength": 1.0},
                      {"op": "oscillate", "layer": 0, "units": {"fraction": 0.3, "seed": 4}, "amount": 0.5,
                       "frequency": 2.0, "strength": 0.7},
                      {"op": "warp", "layer": "time", "units": "all", "amount": 0.05, "frequency": 1.0,
                       "strength": 1.0}]}
    (tmp_path / "look.json").write_text(json.dumps(look))
    window = make_window(path)
    window.resize(1024, 700)
    window.bend_panel.load_look(tmp_path / "look.json")
    window.bend_panel.add_bend()  # (a row of the app's own clusters too: "cluster 0: …")
    window.draw_now()
    qtbot.wait(50)
    if which != "petal":
        assert window.explore_panel.dim.isVisible()
    area = window.tabs.currentWidget()
    viewport = area.viewport()
    assert not area.horizontalScrollBar().isVisible()
    for widget in area.widget().findChildren(QAbstractButton) + area.widget().findChildren(QComboBox):
        if widget.isVisible():
            left = widget.mapTo(viewport, QPoint(0, 0)).x()
            assert 0 <= left and left + widget.width() <= viewport.width(), widget
    units = [r.units for r in window.bend_panel.rows]
    assert any("cluster 2 of 6 (seed 1)" in u.currentText() for u in units)  # (its whole text: in the box's list)


# -- 5. every shortcut listed is bound ------------------------------------------------------------------------------
def test_every_listed_shortcut_is_an_actions_and_ctrl_shift_s_saves_as(window, qtbot, monkeypatch):
    from PyQt5.QtWidgets import QFileDialog

    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (asked.append(a[1]), ("", ""))[1]))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.tabs, Qt.Key_S, Qt.ControlModifier | Qt.ShiftModifier)  # did nothing: SaveAs was empty
    assert len(asked) == 1
    bound = {s.toString() for a in window.findChildren(QAction) for s in a.shortcuts()}
    listed = []  # the keys in Help > Keyboard shortcuts' first column
    for keys in re.findall(r"<b>(.*?)</b>", window.shortcuts_text()):
        listed += [key for key in re.split(r" / |, ", keys) if key.startswith("Ctrl")]
    assert {"Ctrl+O", "Ctrl+S", "Ctrl+Shift+S", "Ctrl+Q", "Ctrl+Z", "Ctrl+Shift+Z", "Ctrl+K"} <= set(listed)
    assert set(listed) <= bound, set(listed) - bound


# -- 6. Play stops for a gesture and in Sketch -----------------------------------------------------------------
def test_play_stops_when_a_rewrite_drag_starts_and_in_sketch(window, qtbot):
    window.state.set_time(0.4)
    window.draw_now()
    panel, explore = window.rewrite_panel, window.explore_panel
    panel.mode.setChecked(True)
    original = window.doc.model
    explore.play.setChecked(True)
    widget, start = grab_point(window, 5, 3)
    pressed_at = window.state.time
    press_and_move(widget, start, [start + QPoint(10, -10)])
    assert not explore.play.isChecked() and not explore.play_timer.isActive()
    qtbot.wait(300)  # time ran on under the drag
    mouse_move(widget, start + QPoint(20, -25))
    window.draw_now()
    release(widget, start + QPoint(20, -25))
    assert window.state.time == pressed_at and window.doc.model is not original
    (row, index), target = panel.drag.last
    assert np.linalg.norm(window.doc.model.shape(pressed_at, window.state.blend)[row, index] - target) < 1e-3
    # moving the time under a drag cancels it (it is solved at the time it was grabbed at)
    model = window.doc.model
    widget, start = grab_point(window, 5, 3)
    press_and_move(widget, start, [start + QPoint(10, -10)])
    window.state.set_time(0.5)
    assert not window.doc.dragging
    release(widget, start + QPoint(10, -10))
    assert window.doc.model is model
    # Sketch: Play stops (it only redrew the 3D view)
    explore.play.setChecked(True)
    window.tabs.setCurrentIndex(TABS.index("sketch"))
    assert not explore.play.isChecked() and not explore.play_timer.isActive()


# -- 7. the wheel during G keeps what is edited under the pointer -------------------------------------------------
@pytest.mark.parametrize("kind", ["G", "R", "S"])
def test_the_wheel_during_g_r_s_keeps_the_selection_where_it_is(make_window, files, qtbot, kind):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["front"]
    assert not sketch.proportional
    c = at(view, sketch.grid()[3, 3])
    QCursor.setPos(view.mapToGlobal(c))
    qtbot.keyClick(view, Qt.Key_A)
    qtbot.keyClick(view, getattr(Qt, f"Key_{kind}"))
    p = c + QPoint(25, -25)
    mouse_move(view, p, Qt.NoButton)
    moved = points(doc)
    axes = list(view.axes)
    from_pointer = sketch.grid()[3, 3][axes] - view.from_screen(p.x(), p.y())  # (0 with the key pressed on it)
    wheel(view, p, 1)
    assert view.pixels(1.0) > 0 and same(points(doc), moved)
    mouse_move(view, p + QPoint(1, 0), Qt.NoButton)
    mouse_move(view, p, Qt.NoButton)  # the same pointer after the zoom: the same edit (it moved by 0.026)
    for a, b in zip(points(doc), moved):
        np.testing.assert_allclose(a, b, atol=1e-9)
    if kind == "G":
        # where the pointer was on the grabbed point, it still is (it ended 7 px off)
        np.testing.assert_allclose(sketch.grid()[3, 3][axes] - view.from_screen(p.x(), p.y()), from_pointer, atol=1e-9)
    qtbot.keyClick(view, Qt.Key_Escape)
