"""Session 22's fixes of what the last walkthroughs left: unticking Rewrite left the control grid it had turned on,
the sprout opened dark (lit from above only), a growing window widened the side panel instead of the 3D view,
Sketch did not re-frame after a huge typed G, a pad stroke ending a few pixels short of the border left a jump at
the path's end, and the Blend models dialog blocked the side panel's scrolling, stayed too short for its note,
stayed put when the window moved, and let R over the 3D view do nothing. Each test failed before its fix."""

import numpy as np
import pytest
from PyQt5 import sip
from PyQt5.QtCore import QPoint, Qt
from PyQt5.QtGui import QCursor
from PyQt5.QtWidgets import QApplication

import grc
from grc_testing import ROOT
from test_beyond import other_model
from test_sketch_tools import sketch_window, wheel

TINY = dict(steps=20, template_steps=10, template_lbfgs_steps=0, refine_steps=0, refine_extrapolations=0,
            refine_extrapolations_linear=0, refine_repairs=0)


def test_unticking_rewrite_gives_back_the_control_grid_it_turned_on(window, qtbot):
    """Ticking Rewrite shows the control grid (its points are what a drag takes); unticking it left the grid on."""
    panel, grid, view = window.rewrite_panel, window.explore_panel.grid, window.view
    assert not grid.isChecked()
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    window.draw_now()
    assert panel.mode.isChecked() and grid.isChecked() and view.grid_actor.GetVisibility()
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    window.draw_now()
    assert not panel.mode.isChecked()
    assert not grid.isChecked() and not window.state.show_grid and not view.grid_actor.GetVisibility()
    # the grid on before Rewrite: it stays on
    qtbot.mouseClick(grid, Qt.LeftButton)
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    window.draw_now()
    assert grid.isChecked() and window.state.show_grid and view.grid_actor.GetVisibility()
    # turned off by hand during Rewrite: it stays off
    qtbot.mouseClick(grid, Qt.LeftButton)
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    assert grid.isChecked()
    qtbot.mouseClick(grid, Qt.LeftButton)
    qtbot.mouseClick(panel.mode, Qt.LeftButton)
    assert not grid.isChecked() and not window.state.show_grid


def surface_brightness(view) -> float:
    """The mean brightness (0-255) of the 3D view's pixels that are not its background."""
    view.render(now=True)
    image = view.plotter.screenshot(None, return_img=True)[..., :3].astype(float)
    background = np.array([int(view.background[0][i:i + 2], 16) for i in (1, 3, 5)])
    shape = np.abs(image - background).sum(axis=-1) > 30
    assert shape.sum() > 1000  # (the shape shows)
    return float(image[shape].mean())


def test_the_sprout_opens_lit(make_window, files, tmp_path):
    """The sprout stands up, facing +y: seen from its front and above, its surface got little of the key light,
    which came from above the camera, and it showed dark (under half the petal's brightness)."""
    window = make_window(files[0])
    petal = surface_brightness(window.view)
    sprout = grc.train(grc.load_templates(ROOT / "templates" / "sprout"), grc.Config(**TINY))
    assert window.open(sprout.save(tmp_path / "sprout.grc"))
    window.draw_now()
    assert surface_brightness(window.view) > 0.6 * petal
    assert window.open(files[0])  # the petal as bright as ever (its lit side up, the light from above)
    window.draw_now()
    assert surface_brightness(window.view) > 0.95 * petal


def test_a_growing_window_gives_its_width_to_the_3d_view(window, qtbot):
    """Widening the window widened the side panel too (2 : 3 of the extra width): Blender's editors keep their
    width and the 3D view takes what the window gains."""
    window.resize(1100, 700)
    qtbot.waitUntil(lambda: window.width() == 1100)
    qtbot.wait(50)
    view, side = window.view.width(), window.tabs.width()
    window.resize(1500, 700)
    qtbot.waitUntil(lambda: window.width() == 1500)
    qtbot.wait(50)
    assert window.tabs.width() == side
    assert window.view.width() == view + 400
    window.resize(1100, 700)  # and back
    qtbot.waitUntil(lambda: window.width() == 1100)
    qtbot.wait(50)
    assert window.tabs.width() == side and window.view.width() == view


def test_sketch_frames_the_shape_again_after_a_huge_typed_g(make_window, files, qtbot):
    """G 50 and Enter in a 2D view moved the whole template out of the 3D view, which stayed empty until R."""
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    window.draw_now()
    view3d, view = window.view, panel.views["top"]
    assert not view3d.outside_view()
    sketch.select_all()
    QCursor.setPos(view.mapToGlobal(view.rect().center()))
    view.setFocus()
    qtbot.keyClick(view, Qt.Key_G)
    assert view._modal is not None
    qtbot.keyClicks(view, "50")
    qtbot.keyClick(view, Qt.Key_Return)
    assert view._modal is None and doc.undo.text(doc.undo.index() - 1) == "Move selection"
    qtbot.waitUntil(lambda: view3d.last_grid is not None and np.allclose(view3d.last_grid, sketch.grid()))
    assert sketch.grid()[..., 0].min() > 49  # (drawn: the moved template)
    qtbot.waitUntil(lambda: not view3d.outside_view())  # and in sight
    # a small drag leaves the camera alone (Sketch moves it only when the shape leaves the view)
    camera = view3d._camera_state()
    qtbot.keyClick(view, Qt.Key_G)
    qtbot.keyClicks(view, "0.01")
    qtbot.keyClick(view, Qt.Key_Return)
    qtbot.wait(100)
    assert np.allclose(view3d._camera_state(), camera)


def test_a_pad_stroke_ending_a_few_pixels_short_of_the_border_reaches_it(window, drag):
    """A stroke that stopped 5 px before the pad's right border left the last rows where they were: the path
    jumped back to its old place at its end, and so did the shape's last rows."""
    pad = window.explore_panel.pad
    pad.resize(500, 300)
    pad.refresh()
    r = pad.plot_rect()
    y = r.top() + 0.3 * r.height()
    c = pad.from_screen(r.left(), y)[1]
    pixel = (pad.y_range[1] - pad.y_range[0]) / r.height()
    drag(pad, [QPoint(int(r.center().x()), int(y)), QPoint(int(r.right()) - 5, int(y))], Qt.ShiftModifier)
    path = window.state.path[:, 0]
    assert np.abs(path[len(path) // 2 + 1:] - c).max() < 2 * pixel
    # and from a few pixels inside the left border
    drag(pad, [QPoint(int(r.center().x()), int(y)), QPoint(int(r.left()) + 5, int(y))], Qt.ShiftModifier)
    assert np.abs(window.state.path[:, 0] - c).max() < 2 * pixel
    # a stroke that stops well inside keeps the rest of the path (a part redrawn)
    window.explore_panel.reset_path.click()
    before = window.state.blend_context(window.state.pad_morph())[:, 0]
    drag(pad, [QPoint(int(r.center().x()), int(y)), QPoint(int(r.center().x() + 0.3 * r.width()), int(y))],
         Qt.ShiftModifier)
    after = window.state.path[:, 0]
    np.testing.assert_allclose(after[-5:], before[-5:], atol=1e-9)


@pytest.fixture
def blend_dialog(window, tmp_path, qtbot, monkeypatch):
    """Blend models… on the petal and a rewritten copy of it, opened as a user opens it (not modal); cancelled at
    the end (the window does not close while it is open)."""
    from PyQt5.QtWidgets import QFileDialog

    original, path = other_model(window, tmp_path)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    window.rewrite_panel.blend_button.click()
    dialog = window.rewrite_panel.blending
    assert dialog is not None
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    yield dialog, original, path
    if not sip.isdeleted(dialog) and dialog.isVisible():
        dialog.reject()


def test_the_side_panel_scrolls_while_blend_models_is_open(window, blend_dialog, qtbot):
    """While the dialog was open the wheel did nothing over the side panel: what the panel shows lower down (the
    chip, the safe range, the pad) could not be brought into view. Scrolling only looks: a slider under the
    pointer keeps its value."""
    dialog, original, path = blend_dialog
    area = window.tabs.currentWidget()
    bar = area.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == 0
    panel = window.explore_panel
    wheel(panel.pad, panel.pad.rect().center(), -2)
    assert bar.value() > 0
    scrolled = bar.value()
    time = window.state.time
    slider = panel.time.slider
    wheel(slider, slider.rect().center(), 2)
    assert bar.value() < scrolled and window.state.time == time
    assert window.doc.model is original and window.beyond.preview is dialog.blended  # still previewing
    wheel(window.tabs.tabBar(), window.tabs.tabBar().rect().center(), -1)  # the rest still takes no input
    assert window.tabs.currentIndex() == 0


def test_the_blend_dialog_grows_to_show_its_note(window, blend_dialog, qtbot):
    """"The model shown changed…" appeared in a dialog too short for it: its lines were squeezed together until
    the dialog was resized by hand."""
    dialog, original, path = blend_dialog
    height = dialog.height()
    window.doc.set_model(grc.load_model(path))  # (as a training's end or an undo replaces the model shown)
    assert dialog.note.isVisible()
    assert dialog.height() >= dialog.layout().totalHeightForWidth(dialog.width()) > height  # at once
    qtbot.wait(50)
    note = dialog.note
    assert note.height() >= note.heightForWidth(note.width())  # its lines not squeezed
    assert dialog.height() >= dialog.layout().totalHeightForWidth(dialog.width())


def test_the_blend_dialog_follows_the_window(window, blend_dialog, qtbot):
    """Moving the main window left the dialog where it was, over whatever came there."""
    dialog, original, path = blend_dialog
    start, offset = window.pos(), dialog.pos() - window.pos()
    window.move(start + QPoint(60, 40))
    qtbot.waitUntil(lambda: window.pos() == start + QPoint(60, 40))
    qtbot.waitUntil(lambda: dialog.pos() - window.pos() == offset)
    window.move(start)
    qtbot.waitUntil(lambda: dialog.pos() - window.pos() == offset and window.pos() == start)


def test_r_over_the_3d_view_frames_the_preview_while_the_dialog_has_the_keys(window, blend_dialog, qtbot):
    """With the dialog active, R over the 3D view did nothing until a click in the view: the keys went to the
    dialog. Keys that act in the view (R, numpad .) go to it while the pointer is over it, as in the main window."""
    dialog, original, path = blend_dialog
    view = window.view
    interactor = view.plotter.interactor
    view.plotter.camera.zoom(0.3)  # the camera moved away from the framing
    view.render()
    moved = view._camera_state()
    QCursor.setPos(dialog.mapToGlobal(dialog.rect().center()))  # over the dialog: R is the dialog's (nothing)
    qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key_R)
    assert np.allclose(view._camera_state(), moved)
    spot = interactor.rect().center() - QPoint(interactor.width() // 4, 0)
    QCursor.setPos(interactor.mapToGlobal(spot))  # over the view
    qtbot.waitUntil(lambda: QApplication.widgetAt(QCursor.pos()) is interactor)
    qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key_R)
    assert not np.allclose(view._camera_state(), moved)
    assert dialog.isVisible() and dialog.isActiveWindow()  # the dialog keeps the keys otherwise
    assert view.last_grid is not None and not view.outside_view(edge=1.0)
    # typing a weight: an R typed there is not the view's
    view.plotter.camera.zoom(0.3)
    view.render()
    moved = view._camera_state()
    dialog.box.setFocus()
    dialog.box.selectAll()
    qtbot.keyClicks(dialog.box, "1")
    qtbot.keyClick(dialog.box, Qt.Key_R)
    assert np.allclose(view._camera_state(), moved)
    # the main keyboard's "." starts a weight (.5), with nothing typed yet: the box's, not the view's (a review);
    # numpad "." frames, as in the main window
    dialog.box.setFocus()
    dialog.box.lineEdit().setModified(False)
    qtbot.keyClick(dialog.box, Qt.Key_Period)
    assert np.allclose(view._camera_state(), moved)
    assert "." in dialog.box.lineEdit().text() or "," in dialog.box.lineEdit().text()
    dialog.box.lineEdit().setModified(False)
    qtbot.keyClick(dialog.box, Qt.Key_Period, Qt.KeypadModifier)
    assert not np.allclose(view._camera_state(), moved)
