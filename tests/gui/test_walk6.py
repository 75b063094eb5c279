"""A sixth walkthrough's findings: G / R / S ignored typed values, a bend's control grid ran past the 3D view's
edge, the sprout opened showing its back, the 3D view showed no keyboard focus, and the Diverge plot stayed small.
Each test failed before its fix."""

import shutil

import numpy as np

import grc
from PyQt5.QtCore import QPoint, QPointF, Qt
from PyQt5.QtGui import QColor, QCursor, QWheelEvent
from PyQt5.QtWidgets import QApplication

from grc.diverge.bend import Bend
from grc_testing import ROOT
from gui.view3d import FRAME_EDGE
from test_sketch_tools import at, mouse_move, sketch_window


def start(view, sketch, qtbot, key, point):
    """The pointer over `view` at grid point `point`, then G / R / S pressed there, then the mouse moved off."""
    c = at(view, sketch.grid()[point])
    QCursor.setPos(view.mapToGlobal(c))
    view.setFocus()
    qtbot.keyClick(view, key)
    assert view._modal is not None
    mouse_move(view, c + QPoint(37, -23), Qt.NoButton)  # the mouse moves: typing overrides it
    return c


def test_g_r_s_take_a_typed_value_exactly_as_in_blender(make_window, files, qtbot):
    """Typing '0.5' during G (or 90 during R, 2 during S) did nothing: the mouse alone led the gesture."""
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    sketch.set(mirror=False)
    before = doc.templates[0].points.copy()
    picked = [(4, 1), (5, 2)]
    rows, cols = np.array(picked).T
    sketch.select(picked)
    step = sketch.step
    # G X 0.55, Backspace: 0.5 along x exactly, whatever the mouse does meanwhile; the title says so
    view = panel.views["front"]
    c = start(view, sketch, qtbot, Qt.Key_G, picked[0])
    qtbot.keyClicks(view, "x0.55")
    qtbot.keyClick(view, Qt.Key_Backspace)
    assert "move along x 0.5: Enter to confirm" in " ".join(view.title_lines())
    mouse_move(view, c + QPoint(-50, 40), Qt.NoButton)
    qtbot.keyClick(view, Qt.Key_Return)
    after = doc.templates[0].points
    np.testing.assert_allclose(after[step, rows, cols] - before[step, rows, cols], [[0.5, 0, 0]] * 2, atol=1e-12)
    assert doc.undo.count() == 1 and doc.undo.text(0) == "Move selection"
    # G Z - 0.25: '-' negates, along z
    start(view, sketch, qtbot, Qt.Key_G, picked[0])
    qtbot.keyClicks(view, "z-0.25")
    assert "move along z -0.25" in " ".join(view.title_lines())
    qtbot.keyClick(view, Qt.Key_Enter)
    np.testing.assert_allclose(doc.templates[0].points[step, rows, cols] - after[step, rows, cols],
                               [[0, 0, -0.25]] * 2, atol=1e-12)
    assert doc.undo.count() == 2
    doc.undo.undo()
    doc.undo.undo()
    np.testing.assert_array_equal(doc.templates[0].points, before)
    # R 90 in the top view: a quarter turn counter-clockwise on screen (about z), about the selection's centre
    view = panel.views["top"]
    start(view, sketch, qtbot, Qt.Key_R, picked[0])
    qtbot.keyClicks(view, "90")
    assert "rotate 90°" in " ".join(view.title_lines())
    qtbot.keyClick(view, Qt.Key_Return)
    p, q = before[step, rows, cols], doc.templates[0].points[step, rows, cols]
    o = p.mean(axis=0)
    np.testing.assert_allclose(q - o, np.c_[-(p - o)[:, 1], (p - o)[:, 0], (p - o)[:, 2]], atol=1e-12)
    doc.undo.undo()
    # S 2 -: scaled by -2 about the centre; S Z 2: z alone
    start(view, sketch, qtbot, Qt.Key_S, picked[0])
    qtbot.keyClicks(view, "2-")
    assert "scale -2" in " ".join(view.title_lines())
    qtbot.keyClick(view, Qt.Key_Return)
    np.testing.assert_allclose(doc.templates[0].points[step, rows, cols] - o, -2 * (p - o), atol=1e-12)
    doc.undo.undo()
    start(view, sketch, qtbot, Qt.Key_S, picked[0])
    qtbot.keyClicks(view, "z2")
    qtbot.keyClick(view, Qt.Key_Return)
    np.testing.assert_allclose(doc.templates[0].points[step, rows, cols] - o, (p - o) * [1, 1, 2], atol=1e-12)
    assert doc.undo.count() == 1 and doc.undo.text(0) == "Scale selection"
    doc.undo.undo()
    # Esc after typing puts everything back, no undo step
    start(view, sketch, qtbot, Qt.Key_G, picked[0])
    qtbot.keyClicks(view, "3")
    assert not np.array_equal(doc.templates[0].points, before)
    qtbot.keyClick(view, Qt.Key_Escape)
    np.testing.assert_array_equal(doc.templates[0].points, before)
    assert view._modal is None and len(view.title_lines()) == 1 and doc.undo.index() == 0


def test_a_bends_control_grid_stays_in_the_3d_view(window, qtbot):
    """With the control grid on, a bend that grows the shape re-fitted the camera around the surface alone: the
    grid's corners, which the subdivided surface lies inside, ran past the view's edge (1.06 of it here)."""
    window.explore_panel.grid.setChecked(True)
    window.draw_now()
    view = window.view
    row = window.bend_panel.add_bend(Bend("scale", 0, "all", 1.5))
    for strength in (50, 100, 150, 200):
        row.strength.setValue(strength)
        window.draw_now()
        qtbot.wait(50)
        grid = view.last_grid.reshape(-1, 3)
        ndc, w = view.view_coordinates(grid)
        assert (w > 0).all() and np.abs(ndc).max() <= 1.0, (strength, np.abs(ndc).max())
    # R frames what is drawn, the grid too, within the same margin as the shape
    view.frame_shape()
    assert np.abs(view.view_coordinates(view.last_grid.reshape(-1, 3))[0]).max() <= FRAME_EDGE + 1e-6


def facing_the_camera(view) -> float:
    """The share of the surface's vertices whose normals face the camera: what shows is the front when most do."""
    camera = np.array(view.plotter.camera.position)
    vertices, normals = view._arrays[0][0], view._arrays[0][1]
    return float((np.einsum("ij,ij->i", normals, camera - vertices) > 0).mean())


def test_the_sprout_opens_showing_its_front(make_window, files, tmp_path, qtbot):
    """The sprout grows up facing +y; the camera looked from -y, at its back (dark), where the petal and the leaf,
    facing up, are seen from the front."""
    sprout = tmp_path / "sprout"
    shutil.copytree(ROOT / "templates" / "sprout", sprout)
    window = make_window(sprout)
    window.draw_now()
    assert facing_the_camera(window.view) > 0.9
    # opened while another shape is shown (the camera framed before the sprout was drawn): its front too
    assert window.open(files[0])
    window.draw_now()
    assert facing_the_camera(window.view) > 0.6
    position = np.subtract(window.view.plotter.camera.position, window.view.plotter.camera.focal_point)
    front = np.array([-0.8, -1.0, 0.9])  # the petal is seen as ever: from the front, the left and above
    np.testing.assert_allclose(position / np.linalg.norm(position), front / np.linalg.norm(front), atol=0.02)
    assert window.open(sprout)
    window.draw_now()
    assert facing_the_camera(window.view) > 0.9
    # a model whose normals are flipped (grc normals --flip: its exports face the other way) is drawn and framed so
    flipped = grc.load_model(files[0])
    flipped.info["flip_normals"] = True
    assert window.open(flipped.save(tmp_path / "flipped.grc"))
    window.draw_now()
    assert window.view.options["flip"] and facing_the_camera(window.view) > 0.9
    assert window.open(files[0])  # and the petal as ever again
    window.draw_now()
    assert not window.view.options["flip"] and facing_the_camera(window.view) > 0.6
    window.doc.set_model(flipped)  # a model that comes without opening a file (a training's end, an undo) too
    window.draw_now()
    assert window.view.options["flip"]


def frame_colour(window) -> np.ndarray:
    """The colour on screen just inside the 3D view's left edge, halfway down (r, g, b)."""
    view = window.view
    QApplication.processEvents()
    image = view.screen().grabWindow(view.winId()).toImage()
    return np.array(QColor(image.pixel(0, view.height() // 2)).getRgb()[:3])


def is_focus(rgb) -> bool:
    """The focus colour (the 2D views' focused border's, #3070c0), as the screen shows it (a few levels off)."""
    return bool(np.abs(rgb - [0x30, 0x70, 0xc0]).max() < 16)


def test_the_3d_view_shows_when_it_has_the_keyboard_focus(window, qtbot):
    """Tab reached the 3D view (its keys, R and numpad ., then worked) with nothing on screen saying so."""
    interactor = window.view.plotter.interactor
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.explore_panel.time.spin.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    assert not interactor.hasFocus()
    before = frame_colour(window)
    for _ in range(200):  # Tab through the window until the keys go to the 3D view
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key_Tab)
        if interactor.hasFocus():
            break
    assert interactor.hasFocus()
    qtbot.wait(50)
    focused = frame_colour(window)
    assert is_focus(focused) and not is_focus(before), (before, focused)
    qtbot.keyClick(interactor, Qt.Key_Tab)  # on to the next widget: the frame goes
    qtbot.wait(50)
    assert not interactor.hasFocus() and not is_focus(frame_colour(window))


def test_the_diverge_plot_grows_with_the_window(window, qtbot):
    """The checkpoint plot stayed 190 px high however tall the window, the rest of the panel left empty below it."""
    from gui.app import TABS

    window.tabs.setCurrentIndex(TABS.index("diverge"))
    panel = window.divergence
    heights = []
    for size in ((1100, 700), (1400, 1000)):
        window.resize(*size)
        qtbot.waitUntil(lambda: window.size().height() == size[1])
        qtbot.wait(50)
        heights.append(panel.plot.height())
        # Save stays right under the plot, in sight, with no empty stretch of panel below it
        save = panel.save.mapTo(panel, panel.save.rect().bottomLeft()).y()
        assert panel.save.visibleRegion().boundingRect().height() == panel.save.height()
        assert panel.height() - save < 30, (panel.height(), save)
    assert heights[0] >= 170 and heights[1] - heights[0] > 250, heights


def wheel_down(widget) -> bool:
    """One notch of the wheel over `widget`'s middle; True when it took it (else Qt passes it on to the panel's
    scroll area under it: a synthesized event, as here, goes no further)."""
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, -120), Qt.NoButton,
                        Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_the_wheel_over_a_bend_row_changes_no_bend_until_clicked_into(window, qtbot):
    """Scrolling Explore over a bend's row turned its layer, operation or units boxes on the way (layer 0 became
    'morph', the bend a shift), where the sliders and number boxes turn only once clicked into."""
    from gui.app import TABS

    row = window.bend_panel.add_bend(Bend("scale", 0, "all", 1.5))
    look = window.bend_panel.look().bends
    for box in (row.layer, row.op, row.units):
        assert not wheel_down(box)  # left to the panel, which scrolls
        assert window.bend_panel.look().bends == look
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    row.units.setFocus()  # clicked into: the wheel turns it, as a slider's
    qtbot.waitUntil(row.units.hasFocus)
    assert wheel_down(row.units) and window.bend_panel.look().bends != look
    # Sketch's falloff and time-step boxes likewise
    window.tabs.setCurrentIndex(TABS.index("sketch"))
    panel = window.sketch_panel
    for box in (panel.falloff, panel.time_mode):
        index = box.currentIndex()
        assert not wheel_down(box) and box.currentIndex() == index


def test_the_wheel_over_the_train_and_export_boxes_changes_nothing_until_clicked_into(window):
    """Scrolling the Train, Export, Diverge or Gallery tab over a drop-down or number box turned it on the way (the
    training's quality, the export's format and frames, Diverge's steps, the search's budget), where Explore's and
    Sketch's boxes turn only once clicked into."""
    for box in (window.train_panel.quality, window.train_panel.device, window.train_panel.mode,
                window.export_panel.format, window.export_panel.sweep, window.export_panel.frames,
                window.train_panel.rows, window.divergence.steps, window.divergence.every, window.gallery.budget,
                window.gallery.seed):
        value = box.currentIndex() if hasattr(box, "currentIndex") else box.value()
        assert not wheel_down(box)
        assert (box.currentIndex() if hasattr(box, "currentIndex") else box.value()) == value


def test_a_typed_value_stops_where_the_coordinates_limit_is(make_window, files, qtbot):
    """G and eight nines put a point at 1e8 (an undo step, then a set that could not be saved); some 300 digits made
    the value infinite and every later key raised (a code review's finding). Digits past the limit are not taken."""
    from grc.limits import MAX_COORDINATE

    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    picked = [(4, 1)]
    sketch.select(picked)
    view = panel.views["front"]
    start(view, sketch, qtbot, Qt.Key_G, picked[0])
    qtbot.keyClicks(view, "9" * 400)
    assert "move along x 99999" in " ".join(view.title_lines())  # (the title still says the value taken)
    qtbot.keyClick(view, Qt.Key_Return)
    points = doc.templates[0].points
    assert np.isfinite(points).all() and np.abs(points).max() <= MAX_COORDINATE
    assert doc.undo.count() == 1
    assert window.save_templates()  # and the set saves


def test_a_surface_facing_along_a_diagonal_is_seen_from_its_front():
    """front_view turned over only the component along the axis the normals face most: a surface facing (1, 0.9,
    -1.05) was still seen from behind (a code review's finding)."""
    from gui.view3d import front_view

    for facing in [(1, 0.9, -1.05), (0, 1, 0), (0, 0, -1), (-1, -1, -1), (1, 1, 1), (0.2, -0.3, 0.1)]:
        assert np.dot(facing, front_view(np.array([facing]))) > 0, facing
    assert front_view(np.array([(0, 0, 1)])) == (-0.8, -1.0, 0.9)  # a surface facing up: the view as ever


def test_a_click_in_the_3d_view_with_a_bend_on_says_nothing_of_rewriting(window):
    """With a bend on and Rewrite not ticked, every left click in the 3D view (turning the camera) put 'Rewrite changes
    the model's own shapes: clear the bends…' in the status bar, in every tab (a walkthrough's finding)."""
    from PyQt5.QtCore import QEvent
    from PyQt5.QtGui import QMouseEvent

    window.bend_panel.add_bend(Bend("scale", 0, "all", 1.2))
    window.draw_now()
    window.statusBar().clearMessage()
    widget = window.view.plotter.interactor
    at = QPointF(widget.width() / 2, widget.height() / 2)
    for kind, buttons in ((QEvent.MouseButtonPress, Qt.LeftButton), (QEvent.MouseButtonRelease, Qt.NoButton)):
        QApplication.sendEvent(widget, QMouseEvent(kind, at, Qt.LeftButton, buttons, Qt.NoModifier))
    assert "Rewrite" not in window.statusBar().currentMessage()


def test_after_following_a_huge_shape_out_the_view_frames_the_shape_again(window):
    """Cancelling a Blend models preview at a far W (a shape 300 times the petal's size, which the view followed out)
    left the petal a single pixel: the view took a shape that small on screen for a collapsed speck and did not
    zoom in (a walkthrough's finding). A speck is now measured against the templates' size."""
    from test_beyond import set_shape

    view = window.view
    set_shape(window, 0.8, 0.5)
    window.reset_camera()
    window.draw_now()
    grid = view.last_grid
    middle = grid.reshape(-1, 3).mean(axis=0)

    def extent():
        shown = view.view_coordinates()[0]
        return (shown.max(axis=0) - shown.min(axis=0)).max() / 2

    filled = extent()
    view.request(lambda: middle + (grid - middle) * 300, follow=True)  # the preview: the view backs out to follow
    view.flush()
    assert not view.outside_view() and extent() < 1.0
    view.request(lambda: grid, follow=True)  # Cancel: the petal again
    view.flush()
    assert extent() > 0.3 * filled
    view.request(lambda: middle + (grid - middle) * 300, follow=True)  # and with R pressed during the preview
    view.flush()
    view.frame_shape()
    view.request(lambda: grid, follow=True)
    view.flush()
    assert extent() > 0.3 * filled
    view.request(lambda: middle + (grid - middle) / 40, follow=True)  # a shape a fortieth of the petal is framed too
    view.flush()
    assert extent() > 0.3 * filled


def test_the_automatic_re_fit_leaves_a_margin_as_r_does(window):
    """The camera's automatic re-fit (a shape that grew past the view) backed out only until every point was inside
    the view: the control grid's outermost dot sat on the edge, cut in half, where R leaves a margin (a
    walkthrough's finding)."""
    from test_beyond import set_shape

    view = window.view
    set_shape(window, 0.8, 0.5)
    window.draw_now()
    grid = view.last_grid
    middle = grid.reshape(-1, 3).mean(axis=0)
    view.request(lambda: middle + (grid - middle) * 3, follow=True)
    view.flush()
    assert np.abs(view.view_coordinates()[0]).max() <= FRAME_EDGE + 1e-6
