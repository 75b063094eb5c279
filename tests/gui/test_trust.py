"""Issue 10 in the app: it never dies, autosave faults, damaged recovery files, bundled examples stay as
they are, a training's result goes to the model it started from, backups, and the smaller fixes."""

import errno
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtCore import QPoint, Qt, QTimer
from PyQt5.QtWidgets import QAction, QApplication, QFileDialog, QMessageBox, QScrollArea, QWidget

import grc
from grc import GRCError, examples

TINY = dict(steps=300, template_steps=40, template_lbfgs_steps=0, refine_steps=0, batch_size=64, refine_samples=64)


def digest(path: Path) -> dict:
    """Every file under path (or the file itself) -> sha256, to prove nothing was written."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def close_dialog_soon(qtbot, seen):
    """Close the next modal dialog from a timer (a real dialog, as a user would click it away)."""

    def close():
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(50, close)
            return
        seen.append((box.windowTitle(), box.text() if isinstance(box, QMessageBox) else ""))
        box.done(0)

    QTimer.singleShot(50, close)


# -- the app never dies ---------------------------------------------------------------------------------


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_shows_a_dialog_and_the_app_keeps_running(window, qtbot, recovery_folder):
    from gui.crash import install

    handler = install(window)
    try:
        window.sketch.move(0, 1, [0.0, 0.01, 0.0])  # an unsaved edit, autosaved half a second later
        qtbot.waitUntil(lambda: window.doc.recovery_path().is_file() and not window.doc._recovery_timer.isActive())
        autosave = window.doc.recovery_path().read_bytes()
        seen = []
        close_dialog_soon(qtbot, seen)

        def broken_slot():
            raise RuntimeError("a bug in a slot")

        QTimer.singleShot(0, broken_slot)  # a real slot, called from the event loop
        qtbot.waitUntil(lambda: handler.shown == 1 and bool(seen), timeout=10000)
        title, text = seen[0]
        assert "unexpected error" in title.lower() and "a bug in a slot" in text and "autosave" in text
        log = recovery_folder / "crash.log"
        assert str(log) in text and "RuntimeError: a bug in a slot" in log.read_text()
        assert window.doc.recovery_path().read_bytes() == autosave  # the autosave is intact
        assert window.isVisible()
        window.explore_panel.time.slider.setValue(300)  # still working
        window.draw_now()
        np.testing.assert_allclose(window.view.last_grid, window.doc.model.shape(window.state.time, window.state.blend))
    finally:
        handler.uninstall()


def test_new_and_duplicate_after_deleting_every_template(window, qtbot):
    panel = window.sketch_panel
    window.tabs.setCurrentIndex(1)
    while window.doc.templates:
        panel.delete.click()
    assert not panel.duplicate.isEnabled()  # nothing to duplicate
    panel.duplicate.click()
    panel.new.click()  # from the model: its shape at the current blend
    assert len(window.doc.templates) == 1
    assert window.doc.templates[0].points.shape == window.doc.model.templates.templates[0].points.shape
    panel.duplicate.click()
    assert len(window.doc.templates) == 2


def test_a_name_the_set_cannot_keep_is_a_dialog_not_a_crash(window, dialogs, monkeypatch):
    from PyQt5.QtWidgets import QInputDialog

    panel = window.sketch_panel
    window.tabs.setCurrentIndex(1)
    before = [t.name for t in window.doc.templates]
    for bad in ("x" * 201, "tab\there"):
        monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, bad=bad, **k: (bad, True)))
        panel.rename_button.click()
        assert "not renamed" in dialogs["warning"][-1][1] and [t.name for t in window.doc.templates] == before
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("y" * 200, True)))
    panel.rename_button.click()  # the longest name a template can have, then a copy of it
    panel.duplicate.click()
    assert len(window.doc.templates) == len(before) + 1 and all(len(t.name) <= 200 for t in window.doc.templates)


def test_a_folder_whose_grids_disagree_then_more_petals(make_window, files, tmp_path, dialogs):
    model, folder = files
    bad = tmp_path / "disagree"
    shutil.copytree(folder, bad)
    first = sorted(bad.glob("*.json"))[0]
    data = json.loads(first.read_text())
    data["points"] = [step[:-1] for step in data["points"]]  # one morph row fewer than the others
    data["morph"] = data["morph"][:-1]
    first.write_text(json.dumps(data))
    window = make_window(model)
    assert window.open(bad)
    assert window.doc.error  # flagged, not refused
    window.explore_panel.petals.setValue(5)
    window.draw_now()
    assert window.isVisible()


@pytest.mark.parametrize("time, blend", [(float("nan"), None), (1e308, None), (None, "nan"), (None, "1e300"),
                                         (None, "abc")])
def test_time_and_blend_options_that_are_not_usable_numbers(window, time, blend):
    from gui.app import apply_options

    before = (window.state.time, window.state.blend)
    with pytest.raises(GRCError) as e:
        apply_options(window, time, blend)
    assert ("--time" if time is not None else "--blend") in str(e.value)
    assert (window.state.time, window.state.blend) == before
    window.state.set_time(float("nan"))  # the state itself ignores a value that is not a number
    window.state.set_blend(float("inf"))
    window.draw_now()
    assert np.isfinite(window.view.last_grid).all()


def test_a_model_whose_row_scale_is_zero_is_refused_and_the_document_kept(window, tmp_path, dialogs):
    from grc import bundle

    tensors, metadata = bundle.load(window.doc.model_path)
    tensors["row_scale"] = np.zeros(1)
    bad = tmp_path / "row-scale-0.grc"
    bundle.save(bad, tensors, metadata)
    old, path = window.doc.model, window.doc.model_path
    assert not window.open(bad)
    assert "row-scale-0.grc" in dialogs["warning"][-1][1]
    assert window.doc.model is old and window.doc.model_path == path


# -- autosave and recovery ---------------------------------------------------------------------------------


def test_autosave_into_an_unwritable_folder_warns_and_editing_goes_on(window, qtbot, recovery_folder):
    recovery_folder.parent.mkdir(parents=True, exist_ok=True)
    recovery_folder.write_text("a file where the recovery folder should be")  # (root can write anywhere else)
    window.sketch.move(0, 1, [0.0, 0.01, 0.0])
    qtbot.waitUntil(lambda: window.autosave_warning.isVisible(), timeout=5000)
    assert "Autosave failed" in window.autosave_warning.text()
    window.sketch.move(0, 1, [0.0, 0.01, 0.0])  # editing goes on
    assert window.doc.undo.count() == 2 and window.isVisible()


def test_autosave_on_a_full_disk_warns_then_recovers(window, qtbot, monkeypatch):
    import gui.state

    real = gui.state.atomic_write

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(gui.state, "atomic_write", full)
    window.sketch.move(0, 1, [0.0, 0.01, 0.0])
    qtbot.waitUntil(lambda: window.autosave_warning.isVisible(), timeout=5000)
    assert "No space left" in window.autosave_warning.text()
    monkeypatch.setattr(gui.state, "atomic_write", real)
    window.sketch.move(0, 1, [0.0, 0.01, 0.0])
    qtbot.waitUntil(lambda: not window.autosave_warning.isVisible(), timeout=5000)
    assert window.doc.recovery_path().is_file()


@pytest.mark.parametrize("damage", ["deep", "folder", "garbage"])
def test_a_damaged_recovery_file_is_set_aside_and_the_folder_opens(make_window, files, dialogs, damage):
    model, folder = files
    window = make_window()
    window.doc.folder = folder
    recovery = window.doc.recovery_path()
    recovery.parent.mkdir(parents=True, exist_ok=True)
    if damage == "deep":
        recovery.write_text("[" * 100000 + "]" * 100000)
    elif damage == "folder":
        recovery.mkdir()
    else:
        recovery.write_bytes(b"\x00\xff garbage")
    assert window.open(folder)
    assert len(window.doc.templates) == 2
    title, text = dialogs["warning"][-1]
    assert title == "Autosave set aside" and ".damaged" in text
    assert not recovery.exists() and recovery.with_name(recovery.name + ".damaged").exists()
    assert window.open(folder)  # and the next time, nothing to say
    assert len(dialogs["warning"]) == 1


# -- the app writes only where the user asked -------------------------------------------------------------


def test_saving_a_bundled_example_asks_where_and_leaves_it_unchanged(make_window, monkeypatch, tmp_path, qtbot):
    bundled = [examples.template_set_path(), examples.model_path()]
    before = {p: digest(p) for p in bundled}
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    asked = []
    copy = tmp_path / "my petal"

    def save_dialog(parent, title, start, *args, **kwargs):
        asked.append((title, start))
        return str(copy), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    window = make_window(None)
    assert window.open()  # plain `grc studio`: the bundled petal
    assert "example" in window.windowTitle()
    window.sketch.move(0, 1, [0.0, 0.01, 0.0])
    save = next(a for a in window.findChildren(QAction) if a.text() == "Save templates")
    assert save.shortcut().toString() == "Ctrl+S"
    save.trigger()
    assert asked and Path(asked[0][1]) == tmp_path / "home" / "GRC Studio" / "petal"
    assert [grc.load_template(p).name for p in grc.templates.template_files(copy)] == ["petal-a", "petal-b"]
    assert not window.doc.dirty and window.doc.folder == copy
    assert "example" in window.windowTitle()  # the model is still the bundled one
    assert {p: digest(p) for p in bundled} == before


def test_save_model_as(window, tmp_path):
    out = tmp_path / "elsewhere" / "mine.grc"
    assert window.save_model_as(out)
    assert window.doc.model_path == out and "mine.grc" in window.windowTitle()
    assert grc.load_model(out).names == window.doc.model.names


def test_a_training_saves_to_the_model_it_started_from(window, qtbot, files, tmp_path):
    first, folder = files
    other = tmp_path / "other.grc"
    shutil.copy(first, other)
    first_bytes, other_bytes = first.read_bytes(), other.read_bytes()
    window.train_config = grc.Config.from_preset("default", **TINY)
    window.train_panel.start.click()
    with qtbot.waitSignal(window.worker.progress, timeout=30000):
        pass
    assert window.open(other)  # the user opens another model while it trains
    qtbot.waitUntil(lambda: window.worker is None, timeout=120000)
    assert other.read_bytes() == other_bytes  # byte for byte unchanged
    assert window.doc.model_path == other
    assert grc.load_model(first).config.steps == 300  # the result went to the first model
    backup = tmp_path / "petal.backup.grc"
    assert backup.read_bytes() == first_bytes  # and the previous one is kept
    assert "petal.grc" in window.train_panel.result.text()


def test_a_retrained_model_keeps_the_previous_one_as_a_backup(tmp_path):
    from gui.controllers import backup_path, save_with_backup

    model = grc.load_model(examples.model_path())
    path = tmp_path / "petal.grc"
    assert save_with_backup(model, path) is None  # nothing to keep the first time
    first = path.read_bytes()
    backup = save_with_backup(model, path)
    assert backup == backup_path(path) == tmp_path / "petal.backup.grc"
    assert backup.read_bytes() == first
    assert grc.load_model(path).names == model.names


def test_an_export_writes_the_shape_of_when_it_was_asked(window, tmp_path, monkeypatch):
    out = tmp_path / "shape.ply"
    window.state.set_blend(0.2)
    expected = window.doc.model.shape(window.state.time, 0.2)

    def dialog(*args, **kwargs):
        window.state.set_blend(1.4)  # the state changes while the dialog is open
        return str(out), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(dialog))
    window.explore_panel.subdivide.setValue(0)
    window.export_panel.format.setCurrentText("PLY")
    window.export_panel.shape.click()
    import trimesh

    mesh = trimesh.load(out, process=False)
    np.testing.assert_allclose(np.asarray(mesh.vertices), expected.reshape(-1, 3), atol=1e-5)


# -- the smaller fixes -----------------------------------------------------------------------------------


def test_a_drawn_path_follows_time(window):
    s = window.state
    s.set_time(0.9)
    own = s.blend_context(s.pad_morph())
    s.set_path(own + 0.05)  # a path drawn a little above the blend's own
    for time in (0.3, 0.6, 1.0):
        s.set_time(time)
        np.testing.assert_allclose(s.path - s.blend_context(s.pad_morph()), 0.05, atol=1e-12)
        grid = s.grid()
        near = s.model.shape(time, s.blend)
        assert np.isfinite(grid).all()
        assert np.abs(grid - near).max() < 0.5 * np.ptp(near)  # the shape follows, it does not crumple


def test_typing_past_the_blend_range_is_clamped_and_said(window, qtbot):
    slider = window.explore_panel.blend_sliders[0]
    spin = slider.spin
    assert "-1.5" in spin.toolTip() and "2.5" in spin.toolTip()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "3")
    qtbot.keyClick(spin.lineEdit(), Qt.Key_Return)
    assert window.state.blend == pytest.approx(2.5)
    message = window.statusBar().currentMessage()
    assert "-1.5 to 2.5" in message and "3" in message


def test_key_3_and_other_hidden_keys_do_nothing_in_the_3d_view(window, qtbot):
    widget = window.view.plotter.interactor
    ren_win = window.view.plotter.ren_win
    actor = window.view.surface_actor
    camera = np.array(window.view.plotter.camera_position.to_list())
    for key in "3wsejtfpuq":
        qtbot.keyClick(widget, key)
    window.draw_now()
    assert not ren_win.GetStereoRender()
    assert actor.prop.style == "Surface"
    assert window.isVisible() and not getattr(window.view.plotter, "_closed", False)
    np.testing.assert_allclose(np.array(window.view.plotter.camera_position.to_list()), camera)
    window.view.plotter.camera.Azimuth(40)
    turned = np.array(window.view.plotter.camera_position.to_list())
    qtbot.keyClick(widget, "r")  # R frames the shape again, as Help > Keyboard shortcuts says
    now = np.array(window.view.plotter.camera_position.to_list())
    assert np.abs(now - turned).max() > 1e-3
    direction = [(c[1] - c[0]) / np.linalg.norm(c[1] - c[0]) for c in (now, camera)]  # (position, focus, up)
    np.testing.assert_allclose(*direction, atol=1e-6)  # the view from the front and above again (the shape shown
    np.testing.assert_allclose(now[2], camera[2], atol=1e-6)  # framed: test_walk)
    assert "R (3D view)" in window.shortcuts_text()


def test_keyboard_shortcuts_dialog(window, qtbot):
    seen = []
    close_dialog_soon(qtbot, seen)
    window.show_shortcuts()
    assert seen and seen[0][0] == "Keyboard shortcuts" and "Ctrl+S" in seen[0][1]


def test_the_window_fits_a_laptop_screen(window, qtbot):
    window.resize(1366, 700)
    qtbot.waitUntil(lambda: window.height() <= 700)
    assert window.minimumSizeHint().height() <= 700 and window.minimumSize().height() <= 700
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        area = window.tabs.widget(i)
        assert isinstance(area, QScrollArea)
        for w in area.widget().findChildren(QWidget):
            if not w.isVisibleTo(area.widget()) or w.width() == 0 or w.parent() is None:
                continue
            area.ensureWidgetVisible(w, 0, 0)
            QApplication.processEvents()
            corner = w.mapTo(area.viewport(), QPoint(0, 0))
            assert area.viewport().rect().contains(corner) or w.height() > area.viewport().height(), \
                f"{type(w).__name__} {w.objectName()} unreachable in tab {i}"


def test_training_from_the_bundled_example_asks_where_the_new_model_goes(make_window, monkeypatch, tmp_path, qtbot):
    before = digest(examples.model_path())
    out = tmp_path / "mine" / "petal.grc"
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, title, start, *a, **k: (asked.append(start), str(out))[1:] + ("",)))
    window = make_window(None)
    assert window.open()
    window.train_config = grc.Config.from_preset("default", **TINY)
    window.train_panel.start.click()  # as a user does: the button, not a call
    assert asked and window.worker is not None
    qtbot.waitUntil(lambda: window.worker is None, timeout=120000)
    assert grc.load_model(out).config.steps == 300
    assert window.doc.model_path == out and not window.model_unsaved
    assert digest(examples.model_path()) == before


def test_a_model_that_cannot_be_saved_after_training_is_kept(window, qtbot, files, monkeypatch, dialogs,
                                                           recovery_folder):
    import gui.controllers

    first, folder = files
    before = first.read_bytes()

    def full(model, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gui.controllers, "save_with_backup", full)
    window.train_config = grc.Config.from_preset("default", **TINY)
    window.train_panel.start.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=120000)
    title, text = dialogs["warning"][-1]
    assert title == "Model not saved" and "No space left" in text and str(recovery_folder) in text
    kept = list(recovery_folder.glob("trained-petal-*.grc"))
    assert len(kept) == 1 and grc.load_model(kept[0]).config.steps == 300
    assert first.read_bytes() == before and window.model_unsaved
