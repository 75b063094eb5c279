"""Session 21's fixes of what walkthroughs left: Enter in the Blend models dialog's W box replaced the model, and
after a dialog closed over a view the keys did not go to the view under the pointer (the 3D view; the Sketch views got an Enter from Qt then, and their test guards the
rule's move into FocusUnderPointer). The other tests failed before their fixes."""

import numpy as np
from PyQt5 import sip
from PyQt5.QtCore import QPoint, Qt
from PyQt5.QtGui import QCursor
from PyQt5.QtWidgets import QDialog

from test_beyond import TIME, other_model, set_shape
from test_sketch_tools import sketch_window


def test_enter_in_the_blend_dialogs_weight_box_previews_and_keeps_the_dialog_open(window, tmp_path, qtbot):
    """A walkthrough typed W 1.5 and pressed Enter to see it: the dialog closed and the model was replaced."""
    original, path = other_model(window, tmp_path)
    dialog = window.rewrite_panel.blend_with(path)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    dialog.box.setFocus()
    dialog.box.selectAll()
    qtbot.keyClicks(dialog.box, "1.5")
    qtbot.keyClick(dialog.box, Qt.Key_Return)
    assert dialog.isVisible() and dialog.result() == QDialog.Rejected  # still choosing
    assert window.doc.model is original  # not replaced
    assert dialog.value() == 1.5 and window.beyond.preview is dialog.blended  # the typed weight, previewed
    qtbot.keyClick(dialog.box, Qt.Key_Enter)  # (the keypad's Enter too)
    assert dialog.isVisible() and window.doc.model is original
    dialog.buttons.button(dialog.buttons.Ok).click()  # OK replaces it, at the typed weight
    assert not dialog.isVisible() and window.doc.model is not original
    np.testing.assert_allclose(window.doc.model.shape(TIME, 0.5), dialog.blended.shape(TIME, 0.5), atol=1e-6)


def close_a_dialog_over(widget, window, qtbot, opener=None):
    """The pointer over `widget`; a dialog opened from the side panel (its button keeps the focus) and closed."""
    opener = opener or window.rewrite_panel.blend_button
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QCursor.setPos(widget.mapToGlobal(widget.rect().center()))
    opener.setFocus()
    qtbot.waitUntil(opener.hasFocus)
    dialog = QDialog(window)
    dialog.resize(200, 100)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    QCursor.setPos(widget.mapToGlobal(widget.rect().center() + QPoint(3, 2)))  # (the pointer moved over the dialog)
    dialog.reject()
    window.activateWindow()  # (what the window manager does when a dialog closes; Xvfb here has none)
    qtbot.waitUntil(window.isActiveWindow)
    return opener


def test_after_a_dialog_closes_the_3d_view_under_the_pointer_takes_the_keys(window, qtbot):
    """R over the 3D view did nothing after a dialog closed there, until the pointer left the view and came back."""
    interactor = window.view.plotter.interactor
    opener = close_a_dialog_over(interactor, window, qtbot)
    qtbot.waitUntil(interactor.hasFocus)
    assert not opener.hasFocus()


def test_after_a_dialog_closes_a_sketch_view_under_the_pointer_takes_the_keys(make_window, files, qtbot):
    window, panel, sketch, doc = sketch_window(make_window, files, qtbot)
    view = panel.views["top"]
    opener = close_a_dialog_over(view, window, qtbot, opener=panel.list)
    qtbot.waitUntil(view.hasFocus)
    assert not opener.hasFocus()


def test_after_a_dialog_closes_with_the_pointer_elsewhere_the_focus_stays_where_it_was(window, qtbot):
    """Only the view under the pointer takes the keys: over the side panel the opener keeps them."""
    interactor = window.view.plotter.interactor
    opener = close_a_dialog_over(window.explore_panel, window, qtbot)
    qtbot.wait(50)
    assert opener.hasFocus() and not interactor.hasFocus()


def test_a_resize_keeps_the_side_the_camera_looks_from(window, qtbot):
    """A resize framed the shape again and judged its front again: a walkthrough's bent sprout swung round to its
    side. The framing is redone for the view's new shape from the side it looked from."""
    view = window.view
    set_shape(window, TIME, 0.5)
    view.frame_shape()
    side = view._front()
    grid = view.last_grid
    view.request(lambda: grid * [1, -1, -1])  # the shape turned over: it faces the other way (a bend, a blend far out)
    view.flush()
    assert view._front() != side  # R would look from its other side now
    position = np.subtract(view.plotter.camera.position, view.plotter.camera.focal_point)
    framed = view._camera_state()
    window.resize(1024, 640)
    qtbot.waitUntil(lambda: not np.allclose(view._camera_state(), framed))  # framed again for the view's new shape
    after = np.subtract(view.plotter.camera.position, view.plotter.camera.focal_point)
    cosine = position @ after / np.linalg.norm(position) / np.linalg.norm(after)
    assert cosine > 0.999, cosine  # the same direction, only nearer or further


def test_the_diverge_readout_says_its_figures_are_the_models_own_while_bends_show(window, qtbot):
    """A walkthrough read Diverge's "0 % broken" against a bent shape on screen that the figures never judged."""
    from grc.diverge.bend import Bend, Look
    from test_gallery_divergence import diverged

    panel = diverged(window, qtbot, steps=10, every=5)
    panel.slider.setValue(2)
    plain = panel.about.text()
    assert plain.startswith("Checkpoint 2") and "bends" not in plain
    window.bend_panel.set_look(Look([Bend("scale", 0, {"fraction": 0.5, "seed": 1}, amount=1.7, strength=0.8)]))
    assert panel.about.text().startswith(plain) and "without the bends the 3D view shows" in panel.about.text()
    assert window.state.model is panel.checkpoints[2].model  # (saying so changes nothing else)
    window.bend_panel.set_look(Look([]))
    assert panel.about.text() == plain


def test_the_blend_models_preview_can_be_turned_round_while_the_rest_of_the_window_holds(window, tmp_path, drag,
                                                                                          monkeypatch, qtbot):
    """The dialog was modal: the camera could not be turned to see a preview from another side. Now the 3D view
    turns while it is open; the rest of the window, its shortcuts and its close still wait for the dialog."""
    from PyQt5.QtWidgets import QFileDialog

    original, path = other_model(window, tmp_path)
    asked, opened = [], []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: opened.append(a) or (str(path), "")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: asked.append(a) or ("", "")))
    panel = window.rewrite_panel
    panel.mode.setChecked(True)  # Rewrite on: a drag in the view would rewrite the model, but not during a preview
    panel.blend_button.click()  # returns at once: the dialog is not modal
    dialog = panel.blending
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    dialog.weight.setValue(150)
    previewed = window.beyond.preview
    assert previewed is dialog.blended
    interactor = window.view.plotter.interactor
    camera = np.array(window.view.plotter.camera.position)
    middle = interactor.rect().center()
    drag(interactor, [middle + QPoint(dx, 0) for dx in range(0, 120, 10)])  # the camera turns round the preview
    qtbot.wait(50)
    assert np.linalg.norm(np.array(window.view.plotter.camera.position) - camera) > 1e-3
    assert window.beyond.preview is previewed and window.doc.model is original  # nothing rewritten
    qtbot.mouseClick(panel.save_button, Qt.LeftButton)  # the side panel waits for the dialog
    window.activateWindow()  # (a click in the view makes the main window the active one)
    qtbot.waitUntil(window.isActiveWindow)
    interactor.setFocus()
    qtbot.keyClick(interactor, Qt.Key_O, Qt.ControlModifier)  # and so do the window's shortcuts (Open model…)
    assert asked == [] and len(opened) == 1
    assert not window.close() and window.isVisible()
    qtbot.keyClick(interactor, Qt.Key_Escape)  # Esc in the window (over the view): Cancel
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: sip.isdeleted(dialog))  # (it held the other model: not kept hidden for good)
    assert panel.blending is None and window.beyond.preview is None and window.doc.model is original
    qtbot.mouseClick(panel.save_button, Qt.LeftButton)  # the window answers again
    assert len(asked) == 1
    panel.mode.setChecked(False)


def test_the_apps_recovery_copy_of_a_long_named_model_is_kept(files, tmp_path, monkeypatch):
    """trained-<name>-<time>.grc took the whole name of the set or model: from about 240 bytes it was refused, and
    a trained model whose document had closed was lost (a review)."""
    import grc
    from gui.controllers import keep_in_recovery

    monkeypatch.setenv("GRC_STUDIO_RECOVERY", str(tmp_path / "kept"))
    model = grc.load_model(files[0])
    kept = keep_in_recovery(model, "ü" * 125)  # 250 bytes: a name a file system takes
    assert kept.parent == tmp_path / "kept" and kept.name.startswith("trained-ü")
    assert grc.load_model(kept).names == model.names


def test_the_blend_dialogs_meter_follows_the_shape_as_time_moves(window, tmp_path, qtbot):
    """With Play running, the Explore chips judged every frame of the preview while the dialog's meter kept its first
    words (a walkthrough)."""
    original, path = other_model(window, tmp_path)
    dialog = window.rewrite_panel.blend_with(path)
    dialog.show()
    dialog.weight.setValue(150)
    first = dialog.meter.text()
    assert first == window.explore_panel.chip.text()
    for time in (0.2, 1.0):  # what Play does, frame by frame
        window.state.set_time(time)
        window.draw_now()
        assert dialog.meter.text() == window.explore_panel.chip.text()
    assert dialog.meter.text() != first
    dialog.reject()
    window.state.set_time(0.3)  # (closed: it no longer listens)
    window.draw_now()


def test_a_model_that_cannot_be_blended_is_refused_before_the_dialog_opens(make_window, files, tmp_path, dialogs,
                                                                          monkeypatch):
    """The dialog opened with a disabled OK and the raw error squeezing its slider (a walkthrough blended the petal
    with the sprout); and it could be minimised, which hid the whole app."""
    import grc
    from PyQt5.QtWidgets import QFileDialog
    from grc_testing import ROOT

    window = make_window(files[0])
    sprout = grc.train(grc.load_templates(ROOT / "templates" / "sprout"),
                       grc.Config(steps=20, template_steps=10, template_lbfgs_steps=0, refine_steps=0,
                                  refine_extrapolations=0, refine_extrapolations_linear=0, refine_repairs=0))
    sprout.save(tmp_path / "sprout.grc")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(tmp_path / "sprout.grc"), "")))
    window.rewrite_panel.blend_button.click()
    title, text = dialogs["warning"][-1]
    assert title == "Cannot blend" and text.startswith(f"{tmp_path / 'sprout.grc'}: ") and "grid" in text
    assert window.rewrite_panel.blending is None
    _, path = other_model(window, tmp_path)
    dialog = window.rewrite_panel.blend_with(path)
    assert not dialog.windowFlags() & (Qt.WindowMinimizeButtonHint | Qt.WindowMaximizeButtonHint)


def test_discarding_unsaved_bends_when_opening_another_model_lets_them_go(window, files, dialogs, monkeypatch):
    """Asked "The bends are in no look file. Save them as a look first?", a walkthrough chose Discard and opened
    another model: the bend was still there, the new model shown through it."""
    from PyQt5.QtWidgets import QFileDialog, QMessageBox
    from grc.diverge.bend import Bend

    panel = window.bend_panel
    panel.add_bend(Bend("scale", 0, "all", 1.2))
    assert panel.rows and window.beyond.bent()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(files[0]), "")))
    dialogs["answers"].append(QMessageBox.Discard)
    window._ask_open_model()
    assert dialogs["question"][-1][0] == "Unsaved bends"
    assert not panel.rows and not window.beyond.bent() and not panel.unsaved()
    assert window.doc.model_path == files[0]


def test_the_time_sliders_labels_are_the_new_models_at_once(window, files, tmp_path, qtbot):
    """Opening the petal after the sprout left the sprout's time labels (0 0.3 0.7 1) under the slider until a tab
    switch repainted them (a walkthrough): the labels' row is painted again for the new model."""
    import grc
    from PyQt5.QtCore import QEvent, QObject

    from grc_testing import ROOT

    marks = window.explore_panel.time.marks_row

    class Paints(QObject):
        count = 0

        def eventFilter(self, obj, event):
            if event.type() == QEvent.Paint:
                Paints.count += 1
            return False

    sprout = grc.train(grc.load_templates(ROOT / "templates" / "sprout"),
                       grc.Config(steps=20, template_steps=10, template_lbfgs_steps=0, refine_steps=0,
                                  refine_extrapolations=0, refine_extrapolations_linear=0, refine_repairs=0))
    sprout.save(tmp_path / "sprout.grc")
    assert window.open(tmp_path / "sprout.grc")
    window.draw_now()
    qtbot.wait(100)
    paints = Paints()
    marks.installEventFilter(paints)
    assert window.open(files[0])  # the petal again: other time steps
    window.draw_now()
    qtbot.waitUntil(lambda: Paints.count > 0)
    assert [label for _, label, _ in window.explore_panel.time.marks][:3] == ["0", "0.1", "0.3"]
    marks.removeEventFilter(paints)


def test_a_weight_typed_outside_the_blend_dialogs_range_is_taken_at_its_end_and_said(window, tmp_path, qtbot):
    """W 5 and Enter did nothing, and -1.5 became -1 by dropping the 5 as it was typed (a walkthrough); the Explore
    boxes take the nearest end and say so."""
    original, path = other_model(window, tmp_path)
    dialog = window.rewrite_panel.blend_with(path)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    for typed, expected in (("5", 2.0), ("-1.5", -1.0)):
        dialog.box.setFocus()
        dialog.box.selectAll()
        qtbot.keyClicks(dialog.box, typed)
        qtbot.keyClick(dialog.box, Qt.Key_Return)
        assert dialog.value() == expected and dialog.isVisible()
        assert window.statusBar().currentMessage() == f"W goes from -1 to 2: {typed} became {expected:g}"
    dialog.reject()


def test_a_minimised_blend_dialog_comes_back_with_the_app(window, tmp_path, qtbot):
    """openbox offers minimise whatever the dialog's hints say, and it took the whole app with it (a walkthrough,
    then a check by hand): both come back at once."""
    _, path = other_model(window, tmp_path)
    dialog = window.rewrite_panel.blend_with(path)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.setWindowState(dialog.windowState() | Qt.WindowMinimized)
    qtbot.waitUntil(lambda: not dialog.isMinimized() and not window.isMinimized())
    assert dialog.isVisible()
    dialog.reject()
