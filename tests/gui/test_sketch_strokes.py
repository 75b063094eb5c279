"""Issue 12's acceptance: a clearly different template in a few real mouse drags, undone exactly."""

import numpy as np
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication

STEP = 3  # time 0.55
TIP = (6, 3)  # the last morph row's midline point

def mouse_move(widget, pos, buttons=Qt.LeftButton):
    """A mouse move to `pos` with `buttons` held (QTest's mouseMove moves the real cursor, without buttons)."""
    QApplication.sendEvent(widget, QMouseEvent(QEvent.MouseMove, QPointF(pos), Qt.NoButton, buttons, Qt.NoModifier))



def curl(grid):
    """Degrees between the midline's first and last segment (how far the petal curls along its length)."""
    mid = grid[:, grid.shape[1] // 2]
    a, b = mid[1] - mid[0], mid[-1] - mid[-2]
    return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def at(view, world_point):
    q = view.to_screen(world_point[list(view.axes)])
    return QPoint(round(q.x()), round(q.y()))


def person_drag(qtbot, view, start, offsets):
    """Press on `start`, move through start + each offset, release: real mouse events through qtbot."""
    qtbot.mousePress(view, Qt.LeftButton, pos=start)
    for o in offsets:
        mouse_move(view, start + o)
    qtbot.mouseRelease(view, Qt.LeftButton, pos=start + offsets[-1])


def test_a_new_petal_in_three_drags_and_undo_restores_it(qtbot, make_window, files):
    model, folder = files
    window = make_window(folder)
    window.tabs.setCurrentIndex(1)
    panel, sketch, doc = window.sketch_panel, window.sketch, window.doc
    panel.resize(1000, 650)
    qtbot.wait(50)
    original = [t.points.copy() for t in doc.templates]
    t = doc.templates[0]
    times = t.time
    curls = [curl(g) for g in t.points]
    # as a person: choose the step, switch proportional editing on (O) and carry edits to later steps
    panel.step.setValue(STEP)
    front, top = panel.views["front"], panel.views["top"]
    front.setFocus()
    qtbot.keyClick(front, Qt.Key_O)
    assert panel.proportional.isChecked()
    panel.time_mode.setCurrentIndex(panel.time_mode.findData("later"))
    drags = 0
    # 1. pull the tip down in the front view: the petal curls over, from this step on
    grid = sketch.grid()
    person_drag(qtbot, front, at(front, grid[TIP]), [QPoint(5, 10), QPoint(10, 60), QPoint(10, 100)])
    drags += 1
    # 2. widen the middle of the petal in the top view (its mirror partner follows)
    grid = sketch.grid()
    person_drag(qtbot, top, at(top, grid[3, 0]), [QPoint(0, 10), QPoint(0, 25)])
    drags += 1
    # 3. lift the base rows in the front view, with the falloff carrying it to the next rows
    grid = sketch.grid()
    person_drag(qtbot, front, at(front, grid[2, 3]), [QPoint(0, -10), QPoint(0, -20)])
    drags += 1
    assert drags <= 6 and doc.undo.count() == 3
    edited = doc.templates[0].points
    for s in range(len(times)):
        moved = np.linalg.norm(edited[s][TIP] - original[0][s][TIP])
        if times[s] >= 0.55:
            assert moved >= 0.2, (s, moved)
            assert abs(curl(edited[s]) - curls[s]) > 5, (s, curl(edited[s]), curls[s])
        else:
            assert moved == 0  # earlier steps are as they were
    # midline points stayed on the midline, and the two halves are mirror images
    np.testing.assert_array_equal(edited[..., 3, 1], original[0][..., 3, 1])
    np.testing.assert_allclose(edited[..., 0, :] - original[0][..., 0, :],
                               (edited[..., 6, :] - original[0][..., 6, :]) * [1, -1, 1], atol=1e-12)
    # undo, as a person: Ctrl+Z three times restores the original exactly
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    for _ in range(3):
        qtbot.keyClick(front, Qt.Key_Z, Qt.ControlModifier)
    for k, t in enumerate(doc.templates):
        np.testing.assert_array_equal(t.points, original[k])
    qtbot.keyClick(front, Qt.Key_Y, Qt.ControlModifier)  # and Ctrl+Y redoes one
    assert doc.undo.index() == 1
