"""What a new user tripped over walking through the app with a real mouse (the walkthrough of session 8):
a stale autosave offered back after a clean save, tick labels on top of each other, a camera that cut the
new sheet off, 2D views that jumped under the cursor, a clipped G/R/S hint, File > New template set, the
template folder beside a reopened model, the training's save dialog, where Open starts."""

import shutil
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QPoint, Qt
from PyQt5.QtGui import QFontMetricsF
from PyQt5.QtWidgets import QFileDialog

import grc
from grc import examples
from gui.sketch_new import new_set

REPO = Path(__file__).resolve().parents[2]


def test_a_set_saved_after_its_model_was_trained_leaves_no_autosave_behind(make_window, qtbot, tmp_path,
                                                                          recovery_folder, dialogs):
    """New set, an edit (autosaved as untitled), a training saves the model (the set's name changes), another
    edit, Save templates: the next start must not offer stale edits back (it did, from the model's name)."""
    window = make_window(None)
    window.new_set(new_set(4, 3, 3))
    window.sketch.move(2, 1, [0.0, 0.0, 0.05])
    qtbot.waitUntil(lambda: any(recovery_folder.glob("*.json")), timeout=5000)
    model_file = tmp_path / "sketch.grc"
    window.doc.set_model(grc.load_model(REPO / "meshes" / "petal.grc"), model_file)  # as a finished training does
    window.sketch.move(3, 1, [0.0, 0.0, 0.05])
    qtbot.waitUntil(lambda: window.doc.recovery_path().exists(), timeout=5000)
    assert window.doc.save(tmp_path / "sketch")
    assert not list(recovery_folder.glob("*.json"))
    again = make_window(model_file)
    assert not dialogs["question"] and again.doc.pending_recovery() is None


def test_a_model_reopened_edits_the_template_folder_saved_beside_it(make_window, files, tmp_path, monkeypatch,
                                                                    dialogs):
    """`sketch.grc` beside `sketch/` (where training that folder saves its model): reopening the model edits the
    folder, so Save templates writes there instead of asking for a new folder (it proposed `sketch-2`)."""
    model, folder = files
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (asked.append(a), ("", ""))[1]))
    window = make_window(model)
    assert window.doc.folder == folder
    assert "templates from" in window.statusBar().currentMessage()
    window.sketch.move(0, 1, [0.0, 0.0, 0.02])
    assert window.save_templates() and not asked
    assert grc.load_templates(folder).templates[0].points[window.sketch.step, 0, 1, 2] == \
        window.doc.templates[0].points[window.sketch.step, 0, 1, 2]


def test_a_broken_folder_beside_a_model_is_left_alone(make_window, files, dialogs):
    model, folder = files
    next(folder.glob("*.json")).write_text("{ not json")
    window = make_window(model)
    assert window.doc.folder is None and len(window.doc.templates) == 2 and not dialogs["warning"]


TINY = dict(steps=300, template_steps=40, template_lbfgs_steps=0, refine_steps=0, batch_size=64, refine_samples=64)


def test_tick_labels_of_close_time_steps_and_rows_are_short_and_never_overlap(make_window, qtbot):
    """An inserted time step (0.0833333 beside 0, 0.166667) printed its ticks on top of each other under the time
    slider, and the context pad's morph labels were cut to '.16666'."""
    window = make_window(None)
    window.resize(1280, 800)
    time = [0, 1 / 12, 1 / 6, 1 / 3, 1 / 2, 2 / 3, 5 / 6, 1]
    window.new_set(new_set(7, 4, len(time), time=np.array(time)))
    window.train_config = grc.Config.from_preset("default", **TINY)
    assert window.start_training(ask=False)
    qtbot.waitUntil(lambda: window.worker is None, timeout=120000)
    window.tabs.setCurrentIndex(0)
    qtbot.wait(50)
    for labels in (window.explore_panel.time.marks_row.labels(), window.explore_panel.pad.morph_labels()):
        texts = [text for _, text in labels]
        assert len(texts) >= 4 and all(len(text) <= 6 for text in texts), texts  # 0.0833, not 0.0833333
        rects = [rect for rect, _ in labels]
        assert all(a.right() < b.left() for a, b in zip(rects, rects[1:])), texts
    assert "0.167" in [text for _, text in window.explore_panel.pad.morph_labels()]


def test_a_new_flat_sheet_is_framed_whole_in_the_3d_view(make_window, qtbot):
    """Templates > New template set, a flat sheet: at its last time step the sheet ran off both sides of the 3D
    view (the petal's framing, zoomed 1.4 times, is too tight for a flat, wide sheet), and R did not help."""
    window = make_window(None)
    window.resize(1280, 800)
    qtbot.wait(50)
    window.new_set(new_set(7, 7, 7))
    window.sketch.set(step=6)
    window.draw_now()
    assert not window.view.outside_view()
    qtbot.keyClick(window.view.plotter.interactor, Qt.Key_R)  # R frames the shape again: the same
    window.draw_now()
    assert not window.view.outside_view()


def test_pressing_a_point_in_a_2d_view_does_not_move_the_views(make_window, qtbot):
    """The two-line hint above the views became a one-line coordinate read-out on a press, and the views
    jumped 15 px up under the cursor in the middle of the drag. The read-out says 0.0000, never -0.0000."""
    window = make_window(None)
    window.resize(1280, 800)
    window.new_set(new_set(7, 7, 7))
    window.sketch.set(step=6)
    panel = window.sketch_panel
    qtbot.wait(50)
    view = panel.views["top"]
    before = view.mapTo(window, QPoint(0, 0))
    grid = window.sketch.grid()
    at = view.to_screen(grid[6, 3][list(view.axes)]).toPoint()
    qtbot.mousePress(view, Qt.LeftButton, pos=at)
    qtbot.wait(50)
    assert view.mapTo(window, QPoint(0, 0)) == before
    assert "-0.0000" not in panel.point_label.text() and "y 0.0000" in panel.point_label.text()
    qtbot.mouseRelease(view, Qt.LeftButton, pos=at)


def test_the_g_hint_fits_its_2d_view(make_window, qtbot):
    """G in the top view printed 'top (x → , y ↑)  · move: click to con', the rest cut off by the view's edge."""
    window = make_window(None)
    window.resize(1280, 800)
    window.new_set(new_set(7, 7, 7))
    view = window.sketch_panel.views["top"]
    qtbot.wait(50)
    window.sketch.select_all()
    view.setFocus()
    qtbot.mouseMove(view, view.rect().center())
    qtbot.keyClick(view, Qt.Key_G)
    lines = view.title_lines()
    assert "move: click to confirm, Esc to cancel" == " ".join(lines[1:])
    metrics = QFontMetricsF(view.title_font())
    assert all(metrics.horizontalAdvance(line) <= view.width() - 8 for line in lines), lines
    qtbot.keyClick(view, Qt.Key_Escape)
    assert len(view.title_lines()) == 1


def test_new_template_set_is_in_the_file_menu_and_ctrl_shift_n_opens_it(make_window, qtbot):
    """A new user looks for File > New…; it was only under Templates."""
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QApplication

    window = make_window(None)
    file_menu = window.menuBar().actions()[0].menu()
    assert file_menu.actions()[0].text() == "New template set…"
    seen = []

    def close_dialog():
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, close_dialog)
            return
        seen.append(dialog.windowTitle())
        dialog.reject()

    QTimer.singleShot(20, close_dialog)
    file_menu.actions()[0].trigger()  # (the dialog runs modal until closed)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    QTimer.singleShot(20, close_dialog)
    qtbot.keyClick(window.tabs, Qt.Key_N, Qt.ControlModifier | Qt.ShiftModifier)  # one action: not ambiguous
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=3000)
    assert seen == ["New template set", "New template set"]


def test_training_and_saving_a_new_set_propose_its_name_and_do_not_speak_of_an_example(make_window, monkeypatch,
                                                                                     tmp_path):
    """A new set 'leaf': Train asked 'Save the trained model as (the example stays as it is)' proposing
    model.grc, and Save templates proposed a folder named 'templates'."""
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, title, start, *a, **k: (asked.append((title, start)), ("", ""))[1]))
    monkeypatch.setenv("HOME", str(tmp_path))
    window = make_window(None)
    window.new_set(new_set(4, 3, 3, name="leaf"))
    assert not window.start_training()  # (asked, then cancelled)
    assert not window.save_templates()
    (train_title, train_start), (save_title, save_start) = asked
    assert "example" not in train_title and Path(train_start).name == "leaf.grc"
    assert Path(save_start).name == "leaf"


def test_open_starts_in_the_users_folder_while_the_bundled_example_is_open(make_window, monkeypatch, tmp_path):
    """With the petal example open (as at every start), File > Open model… started in the app's own meshes/
    folder, not in ~/GRC Studio where the user's sets and models are saved."""
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda parent, title, start, *a, **k: (asked.append(start), ("", ""))[1]))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "GRC Studio").mkdir()
    window = make_window(None)
    assert window.open()  # the bundled petal
    open_model = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Open model…")
    open_model.trigger()
    assert asked == [str(tmp_path / "GRC Studio")]


def test_a_new_set_is_unsaved_until_saved_and_closing_asks(make_window, qtbot, dialogs):
    """A new set said 'saved · no folder yet' (the status bar still 'Opened petal.grc'), and the window closed
    without a word, the set gone."""
    window = make_window(None)
    window.new_set(new_set(4, 3, 3))
    assert "unsaved" in window.sketch_panel.status.text()
    assert window.statusBar().currentMessage().startswith("New template set: sketch-a, sketch-b, 3 time steps")
    window.sketch.move(1, 1, [0.0, 0.0, 0.05])
    window.doc.undo.undo()  # every edit undone: still never saved
    assert window.doc.dirty and "unsaved" in window.sketch_panel.status.text()
    assert not window.close()  # (the question is answered Cancel)
    assert dialogs["question"] == [("Unsaved template edits", "Save the new template set first?")]
    assert window.isVisible()


def test_three_clicks_on_add_bend_add_three_bends(make_window, files, qtbot):
    """Add bend sat under the rows, so each new row pushed it down: three clicks in one place gave one bend
    (the next clicks landed on the new row's amount box)."""
    window = make_window(files[0])
    window.resize(1280, 800)
    panel = window.bend_panel
    qtbot.wait(50)
    at = panel.add.mapTo(window, panel.add.rect().center())
    for _ in range(3):
        target = window.childAt(at)
        qtbot.mouseClick(target, Qt.LeftButton, pos=target.mapFrom(window, at))
        qtbot.wait(20)
    assert len(panel.rows) == 3


def test_the_3d_view_shows_the_whole_selection(make_window, qtbot):
    """A box select in a 2D view marked every point there, but the 3D view only the active one: a drag in the
    3D view then moved points it did not show as selected."""
    window = make_window(None)
    window.new_set(new_set(5, 4, 3))
    window.sketch.set(step=2)
    view = window.sketch_panel.views["top"]
    corners = [view.to_screen(window.sketch.grid()[r, c][:2]).toPoint() for r, c in ((3, 0), (4, 3))]
    start, end = corners[0] + QPoint(-15, 15), corners[1] + QPoint(15, -15)  # (y up: (3, 0) is bottom left)
    qtbot.mousePress(view, Qt.LeftButton, pos=start)  # on empty space: a box select
    qtbot.mouseMove(view, end)
    qtbot.mouseRelease(view, Qt.LeftButton, pos=end)
    assert len(window.sketch.selection) == 8  # rows 3-4, every point
    window.draw_now()
    shown = window.view.selection_mesh.points
    grid = window.sketch.grid()
    assert window.view.selection_actor.GetVisibility()
    assert sorted(map(tuple, np.round(shown, 9))) == sorted(map(tuple, np.round(grid[3:5].reshape(-1, 3), 9)))


def test_explore_shows_no_selection(make_window, files):
    window = make_window(files[0])
    window.tabs.setCurrentIndex(1)  # Sketch
    window.sketch.select_all()
    window.draw_now()
    assert window.view.selection_actor.GetVisibility()
    assert window.view.selection_mesh.n_points == window.sketch.grid().shape[0] * window.sketch.grid().shape[1]
    window.tabs.setCurrentIndex(0)
    window.draw_now()
    assert not window.view.selection_actor.GetVisibility()


def test_numpad_period_in_the_3d_view_frames_the_selection(make_window, files, qtbot):
    """Numpad . (Blender's View Selected) did nothing in the 3D view; the 2D views had it."""
    window = make_window(files[0])
    window.tabs.setCurrentIndex(1)  # Sketch
    window.sketch.set(step=6)
    window.sketch.select([(6, 0)])
    window.draw_now()
    camera = window.view.plotter.camera
    direction = np.subtract(camera.focal_point, camera.position)
    qtbot.keyClick(window.view.plotter.interactor, Qt.Key_Period, Qt.KeypadModifier)
    point = window.sketch.grid()[6, 0]
    assert np.linalg.norm(np.subtract(camera.focal_point, point)) < 1e-6  # centred on the selected point
    after = np.subtract(camera.focal_point, camera.position)
    np.testing.assert_allclose(after / np.linalg.norm(after), direction / np.linalg.norm(direction), atol=1e-9)
    assert np.linalg.norm(after) < 0.5 * np.linalg.norm(direction)  # closer: one point, not the whole shape
    assert "Numpad . (3D view)" in window.shortcuts_text()


def test_keep_as_template_names_the_new_template_in_quotes(make_window, files, qtbot):
    """'Kept as template kept: edit it' read as a stutter: the template is named 'kept'."""
    window = make_window(files[0])
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.tabs, Qt.Key_K, Qt.ControlModifier)
    name = window.doc.templates[-1].name
    assert window.statusBar().currentMessage().startswith(f"Kept as template '{name}'")


def test_keys_go_to_the_view_under_the_pointer(make_window, files, qtbot):
    """Blender sends keys to the area under the pointer: entering a view gives it the keyboard (numpad . with
    the pointer over the 3D view framed the focused top view instead), unless a number is being typed."""
    from PyQt5.QtCore import QEvent
    from PyQt5.QtWidgets import QApplication

    window = make_window(files[0])
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    window.tabs.setCurrentIndex(1)  # Sketch
    top, side = window.sketch_panel.views["top"], window.sketch_panel.views["side"]
    top.setFocus()
    QApplication.sendEvent(side, QEvent(QEvent.Enter))
    assert QApplication.focusWidget() is side
    QApplication.sendEvent(window.view.plotter.interactor, QEvent(QEvent.Enter))
    assert QApplication.focusWidget() is window.view.plotter.interactor
    spin = window.explore_panel.time.spin  # typing a number: the pointer passing over a view leaves it alone
    window.tabs.setCurrentIndex(0)
    spin.setFocus()
    typed = QApplication.focusWidget()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "0.5")  # (typed, no Enter yet: test_after_enter_in_a_number_box_... has the rest)
    QApplication.sendEvent(window.view.plotter.interactor, QEvent(QEvent.Enter))
    assert QApplication.focusWidget() is typed


def test_a_training_lands_only_in_the_document_it_was_started_for(make_window, files, qtbot, dialogs, tmp_path):
    """Found in review: a training of the petal finished into a new set made meanwhile (its next training
    would then have overwritten petal.grc), and a new set's training replaced a model opened meanwhile."""
    model_file, _ = files
    window = make_window(model_file)
    window.train_config = grc.Config.from_preset("default", **TINY)
    assert window.start_training(ask=False)  # the petal, into petal.grc
    window.new_set(new_set(2, 4, 4))  # Templates > New template set… meanwhile
    qtbot.waitUntil(lambda: window.worker is None, timeout=120000)
    assert window.doc.model is None and window.doc.model_path is None  # the new set stays as it was
    assert grc.load_model(model_file).info.get("seconds") is not None  # the petal's model went to its file

    window.train_config = grc.Config.from_preset("default", **TINY)
    assert window.start_training(ask=False)  # the new set: kept in memory
    other = Path(shutil.copy(model_file, tmp_path / "other.grc"))
    assert window.open(other)  # the user opens a model meanwhile
    opened = window.doc.model
    qtbot.waitUntil(lambda: window.worker is None, timeout=120000)
    assert window.doc.model is opened and window.doc.model_path == other
    assert "no longer open" in dialogs["warning"][-1][1]  # and where the new set's model was kept


def test_closing_during_a_training_asks_before_stopping_it(window, qtbot, dialogs):
    """Found in review: closing the window cancelled a running training without a word."""
    from PyQt5.QtWidgets import QMessageBox

    window.train_config = grc.Config.from_preset("default", **{**TINY, "steps": 20000})
    assert window.start_training(ask=False)
    qtbot.waitUntil(lambda: window.training.running, timeout=5000)
    dialogs["answers"].append(QMessageBox.Cancel)
    assert not window.close() and window.training.running  # kept running, the window open
    assert "is running" in dialogs["question"][-1][1]
    dialogs["answers"].append(QMessageBox.Yes)
    assert window.close()


def test_blending_with_a_file_that_is_not_a_model_is_a_dialog(window, dialogs, monkeypatch, tmp_path):
    """Found in review: Blend models… with a damaged file ended in the crash dialog."""
    bad = tmp_path / "bad.grc"
    bad.write_bytes(b"not a model")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(bad), "")))
    model = window.doc.model
    window.rewrite_panel.blend_button.click()
    assert dialogs["warning"][-1][0] == "Cannot blend" and "bad.grc" in dialogs["warning"][-1][1]
    assert window.doc.model is model


def test_a_folder_with_a_dot_in_its_name_trains_into_its_own_model(make_window, files, tmp_path):
    """Found in review: a set folder `petal.v2` trained into `petal.grc` (Path.with_suffix), over another model."""
    _, folder = files
    dotted = Path(shutil.copytree(folder, tmp_path / "petal.v2"))
    window = make_window(dotted)
    assert window.model_target() == tmp_path / "petal.v2.grc"
    assert window.set_name() == "petal.v2"


def test_sketch_opens_at_the_time_explore_shows(window):
    """Found in the walkthrough: Sketch always opened at time step 0 (the bud), not where Explore was."""
    from gui.app import TABS

    window.state.set_time(0.8)
    window.tabs.setCurrentIndex(TABS.index("sketch"))
    assert window.doc.templates[window.sketch.k].time[window.sketch.step] == 0.8
    window.sketch.set(step=2)  # the artist picks another step
    window.tabs.setCurrentIndex(TABS.index("explore"))
    window.tabs.setCurrentIndex(TABS.index("sketch"))
    assert window.sketch.step == 2  # Explore's time did not move: the step stays


def test_file_dialogs_open_in_the_folder_last_used(make_window, files, monkeypatch, tmp_path):
    """Open started beside the model, Export in the working directory, Load look… wherever Qt chose and Save
    look… proposed a bare look.json: after exporting into a folder, the next dialog was somewhere else."""
    model, _ = files
    work = tmp_path / "work"
    exports = tmp_path / "exports"
    work.mkdir(), exports.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    starts, answers = [], []

    def dialog(parent, title, start, *args, **kwargs):
        starts.append(str(start))
        return (answers.pop(0) if answers else ""), ""

    for name in ("getOpenFileName", "getSaveFileName"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(dialog))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: dialog(*a, **k)[0]))
    window = make_window(None)

    def file_action(text):
        return next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == text)

    file_action("Open model…").trigger()  # nothing open: the working directory
    window.open(model)
    file_action("Open template folder…").trigger()  # beside the open model
    assert starts == [str(work), str(tmp_path)]
    answers.append(str(exports / "petal.obj"))
    window.export_panel.shape.click()  # the first folder used
    assert starts[-1] == str(tmp_path / "shape.obj") and (exports / "petal.obj").exists()
    window.bend_panel.add_bend()
    answers.append(str(exports / "bent.json"))
    window.bend_panel.save.click()
    window.bend_panel.load.click()
    window.rewrite_panel.blend_button.click()
    file_action("Open model…").trigger()
    file_action("Save model as…").trigger()
    assert starts[-5:] == [str(exports / "look.json"), str(exports), str(exports), str(exports),
                           str(exports / "petal.grc")]
    assert (exports / "bent.json").exists()
    # a bundled example opened through a dialog is no folder to remember: the next one proposes no save there
    # (a review: Save model as… then proposed meshes/petal.grc, refused; a set's Save as wrote into the installation)
    answers.append(str(examples.model_path()))
    file_action("Open model…").trigger()
    assert window.doc.model_path == examples.model_path()
    file_action("Save model as…").trigger()
    assert starts[-1] == str(exports / "petal.grc")
    answers.append(str(examples.template_set_path("leaf")))
    file_action("Open template folder…").trigger()
    file_action("Open model…").trigger()
    assert starts[-1] == str(exports)


def test_r_frames_the_shape_shown_and_a_time_drag_keeps_it_in_view(make_window, leaf_model, tmp_path, qtbot):
    """R framed every template over all of time: the leaf sat off-centre in a corner of the view. And dragging
    the time slider ran the growing leaf past the view's edge until the mouse was released."""
    from PyQt5.QtCore import QEvent, QPointF
    from PyQt5.QtGui import QMouseEvent
    from PyQt5.QtWidgets import QApplication, QStyle, QStyleOptionSlider

    from gui.view3d import FRAME_EDGE

    window = make_window(leaf_model.save(tmp_path / "leaf.grc"))
    window.resize(1280, 800)
    qtbot.wait(50)
    view = window.view
    window.state.set_time(0.0)
    window.draw_now()
    view.plotter.camera.Azimuth(40)  # turned away first: R brings the three-quarter view back
    qtbot.keyClick(view.plotter.interactor, Qt.Key_R)
    ndc, w = view.view_coordinates()
    low, high = ndc.min(axis=0), ndc.max(axis=0)
    assert (w > 0).all() and (np.abs(ndc) <= FRAME_EDGE + 1e-9).all()  # all of it, with a margin
    assert np.abs((low + high) / 2).max() < 0.1  # in the middle
    assert (high - low).max() > 2 * FRAME_EDGE * 0.8  # and filling the view
    # the time slider dragged to the end, the button still held: the camera follows the leaf as it grows
    slider = window.explore_panel.time.slider
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    handle = slider.style().subControlRect(QStyle.CC_Slider, option, QStyle.SC_SliderHandle, slider).center()

    def mouse(kind, x, button, buttons):
        QApplication.sendEvent(slider, QMouseEvent(kind, QPointF(x, handle.y()), button, buttons, Qt.NoModifier))

    mouse(QEvent.MouseButtonPress, handle.x(), Qt.LeftButton, Qt.LeftButton)
    for x in np.linspace(handle.x(), slider.width(), 12)[1:]:
        mouse(QEvent.MouseMove, x, Qt.NoButton, Qt.LeftButton)
        view.flush()  # the frame this move draws (before any check: those wait until the shape holds still)
        assert not view.outside_view(), window.state.time
    assert window.state.time == window.state.time_range()[1]
    mouse(QEvent.MouseButtonRelease, slider.width(), Qt.LeftButton, Qt.NoButton)


def test_after_enter_in_a_number_box_the_3d_view_under_the_pointer_takes_the_keys(window, qtbot):
    """A walkthrough typed time 1, pressed Enter, pointed at the 3D view and pressed R: nothing, until a click in
    the view (the box kept the keyboard). While a number is being typed the box keeps it."""
    from PyQt5.QtCore import QEvent
    from PyQt5.QtWidgets import QApplication

    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    box, view = window.explore_panel.time.spin, window.view.plotter.interactor
    box.setFocus()
    assert QApplication.focusWidget() is box
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "0.5")
    QApplication.sendEvent(view, QEvent(QEvent.Enter))  # the pointer over the view in the middle of typing
    assert QApplication.focusWidget() is not view
    qtbot.keyClick(box, Qt.Key_Return)
    assert window.state.time == 0.5
    QApplication.sendEvent(view, QEvent(QEvent.Enter))  # the number is in: the view under the pointer takes the keys
    assert QApplication.focusWidget() is view


def test_switching_tabs_brings_a_shape_that_left_the_view_back_into_it(window, qtbot):
    """A walkthrough: Sketch showed its template cut off at the view's edge after Explore's camera."""
    view = window.view
    window.draw_now()
    view.plotter.camera.zoom(6)  # zoomed in on Explore's shape: most of it off screen
    view.render()
    assert view.outside_view()
    window.tabs.setCurrentIndex(1)  # Sketch: the template re-framed (once the panel has resized the view too)
    window.draw_now()
    qtbot.wait(100)
    assert window.mode == "sketch" and not view.outside_view()
    view.plotter.camera.zoom(6)
    view.render()
    window.tabs.setCurrentIndex(0)  # and back in Explore
    window.draw_now()
    qtbot.wait(100)
    assert not view.outside_view()
