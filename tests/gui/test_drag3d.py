"""Sketch in the 3D view, with real mouse events on the VTK widget: the point under the cursor nearest
the viewer is picked, ringed on hover and dragged by the cursor's motion (no jump), with the same
falloff and mirror as the 2D views; one undo step per drag."""

import numpy as np
import pytest
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QMouseEvent, QWheelEvent
from PyQt5.QtWidgets import QApplication

from grc.editing import side_of, translate

ROW, POINT, STEP = 3, 3, 4


@pytest.fixture
def sketching(make_window, files):
    """A window on the petal templates, in Sketch, time step 4, mirror and falloff off."""
    model, folder = files
    window = make_window(folder)
    window.tabs.setCurrentIndex(1)
    window.sketch.set(k=0, step=STEP, mirror=False, proportional=False)
    window.draw_now()
    return window


def widget_of(window):
    return window.view.plotter.interactor  # the Qt widget VTK draws into


def on_screen(window, row, point):
    """Where grid point (row, point) of the edited time step is drawn: display (x, y, depth)."""
    return window.view.display_points(window.sketch.grid())[row * window.sketch.grid().shape[1] + point]


def to_widget(window, x, y) -> QPoint:
    """Display pixels (VTK's, from the bottom left) -> the widget's QPoint."""
    widget = widget_of(window)
    ratio = widget.devicePixelRatioF()
    return QPoint(int(round(x / ratio)), int(round(widget.height() - 1 - y / ratio)))


def send(widget, kind, point, button=Qt.LeftButton, buttons=Qt.LeftButton, modifiers=Qt.NoModifier):
    QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(point), button, buttons, modifiers))


def wheel(widget, point, steps):
    QApplication.sendEvent(widget, QWheelEvent(QPointF(point), QPointF(widget.mapToGlobal(point)), QPoint(0, 0),
                                               QPoint(0, 120 * steps), Qt.LeftButton, Qt.NoModifier, Qt.NoScrollPhase,
                                               False))


def test_a_press_six_pixels_off_a_point_and_a_release_change_nothing(sketching):
    window = sketching
    before = window.doc.templates[0].points.copy()
    x, y, _ = on_screen(window, ROW, POINT)
    at = to_widget(window, x + 6, y)
    widget = widget_of(window)
    send(widget, QEvent.MouseButtonPress, at)
    send(widget, QEvent.MouseButtonRelease, at, buttons=Qt.NoButton)
    assert np.array_equal(window.doc.templates[0].points, before)
    assert window.doc.undo.count() == 0
    assert window.sketch.selected == (ROW, POINT)  # grabbed (and let go where it was)


def test_a_drag_moves_the_point_by_the_cursors_motion(sketching, drag):
    window = sketching
    before = window.doc.templates[0].points.copy()
    x, y, depth = on_screen(window, ROW, POINT)
    start = to_widget(window, x + 6, y)
    drag(widget_of(window), [start, start + QPoint(10, 0), start + QPoint(30, -20)])
    after = window.doc.templates[0].points
    moved = np.argwhere(np.any(after != before, axis=-1))
    assert [tuple(m) for m in moved] == [(STEP, ROW, POINT)]
    window.draw_now()
    nx, ny, ndepth = on_screen(window, ROW, POINT)
    ratio = widget_of(window).devicePixelRatioF()
    # moved by the cursor's motion (30 right, 20 up), not to the cursor (which was 6 px to its right)
    assert (nx - x, ny - y) == pytest.approx((30 * ratio, 20 * ratio), abs=0.01)
    assert ndepth == pytest.approx(depth, abs=1e-6)  # in the plane through the point facing the camera
    assert window.doc.undo.count() == 1
    window.doc.undo.undo()
    assert np.array_equal(window.doc.templates[0].points, before)


@pytest.mark.parametrize("toward_viewer", [0.3, -0.3])
def test_of_two_points_on_one_pixel_the_nearer_one_is_taken(sketching, drag, toward_viewer):
    window = sketching
    doc, sketch = window.doc, window.sketch
    camera = np.array(window.view.plotter.renderer.GetActiveCamera().GetPosition())
    points = doc.templates[0].points.copy()
    p = points[STEP, ROW, POINT]
    other = (5, 5)
    points[STEP][other] = p + toward_viewer * (camera - p)  # on the line of sight through p: the same pixel
    doc.set_points(0, points, "set up")
    window.draw_now()
    x, y, depth = on_screen(window, ROW, POINT)
    ox, oy, odepth = on_screen(window, *other)
    assert np.hypot(ox - x, oy - y) < 1e-6 and (odepth < depth) == (toward_viewer > 0)
    nearer = other if toward_viewer > 0 else (ROW, POINT)
    before = doc.templates[0].points.copy()
    start = to_widget(window, x, y)
    drag(widget_of(window), [start, start + QPoint(15, 10)])
    moved = np.argwhere(np.any(doc.templates[0].points != before, axis=-1))
    assert [tuple(m) for m in moved] == [(STEP, *nearer)]
    assert sketch.selected == nearer


def test_the_point_under_the_cursor_is_ringed(sketching):
    window = sketching
    widget = widget_of(window)
    x, y, _ = on_screen(window, ROW, POINT)
    send(widget, QEvent.MouseMove, to_widget(window, x + 2, y - 1), Qt.NoButton, Qt.NoButton)
    assert window.sketch.hover == (ROW, POINT)
    window.draw_now()
    view = window.view
    assert view.hover_actor.GetVisibility()
    assert np.allclose(view.hover_mesh.points[0], window.sketch.grid()[ROW, POINT])
    send(widget, QEvent.MouseMove, QPoint(3, 3), Qt.NoButton, Qt.NoButton)  # a corner: no point near
    window.draw_now()
    assert window.sketch.hover is None and not view.hover_actor.GetVisibility()


def test_falloff_and_mirror_as_in_the_2d_views_and_the_wheel_sizes_the_radius(sketching):
    window = sketching
    sketch, doc = window.sketch, window.doc
    sketch.set(mirror=True, proportional=True, falloff="smooth", radius=0.2)
    before = doc.templates[0].points.copy()
    row, point = 4, 1
    x, y, _ = on_screen(window, row, point)
    widget = widget_of(window)
    start = to_widget(window, x - 5, y + 3)
    send(widget, QEvent.MouseButtonPress, start)
    send(widget, QEvent.MouseMove, start + QPoint(12, -8), Qt.NoButton)
    window.draw_now()
    assert window.view.radius_actor.GetVisibility()  # the falloff radius, around the grabbed point
    assert window.view.radius_actor.GetScale()[0] == pytest.approx(0.2)
    for _ in range(2):  # two notches of the wheel
        wheel(widget, start + QPoint(12, -8), 1)
    assert sketch.radius == pytest.approx(0.2 * 1.15 ** 2)
    send(widget, QEvent.MouseMove, start + QPoint(25, -18), Qt.NoButton)
    send(widget, QEvent.MouseButtonRelease, start + QPoint(25, -18), buttons=Qt.NoButton)
    after = doc.templates[0].points
    delta = after[STEP, row, point] - before[STEP, row, point]
    assert np.linalg.norm(delta) > 0.02
    expected = sketch.edit_points(before, {(row, point)}, translate(delta), side_of(point, before.shape[2]))
    assert np.allclose(after, expected, atol=1e-12)  # the 2D views' edit (falloff, mirror) for that motion
    assert (np.abs(after[STEP] - before[STEP]).sum(axis=-1) > 1e-9).sum() > 2  # neighbours moved too
    N = before.shape[2]
    assert np.allclose(after[STEP, :, (N - 1) // 2, 1], before[STEP, :, (N - 1) // 2, 1])  # the midline stays
    moved = after[STEP] - before[STEP]
    assert moved[row, N - 1 - point] == pytest.approx(moved[row, point] * [1, -1, 1])  # the mirror partner
    assert doc.undo.count() == 1
    doc.undo.undo()
    assert np.array_equal(doc.templates[0].points, before)


def test_escape_puts_a_drag_back(sketching, qtbot):
    window = sketching
    before = window.doc.templates[0].points.copy()
    widget = widget_of(window)
    x, y, _ = on_screen(window, ROW, POINT)
    start = to_widget(window, x, y)
    send(widget, QEvent.MouseButtonPress, start)
    send(widget, QEvent.MouseMove, start + QPoint(20, 20), Qt.NoButton)
    assert not np.array_equal(window.doc.templates[0].points, before)
    qtbot.keyPress(widget, Qt.Key_Escape)
    send(widget, QEvent.MouseButtonRelease, start + QPoint(20, 20), buttons=Qt.NoButton)
    assert np.array_equal(window.doc.templates[0].points, before)
    assert window.doc.undo.count() == 0
