"""Sketch: edits through the real views, undo/redo, save and reopen, validation, recovery."""

import json

import numpy as np
from PyQt5.QtCore import QPoint
from PyQt5.QtWidgets import QMessageBox

import grc


def to_sketch(window):
    window.tabs.setCurrentIndex(1)
    window.sketch_panel.resize(800, 600)
    window.draw_now()


def test_drag_undo_redo_save_reopen(make_window, files, drag):
    model, folder = files
    window = make_window(folder)
    to_sketch(window)
    sketch, doc = window.sketch, window.doc
    sketch.set(k=1, step=4)
    original = doc.templates[1].points.copy()
    view = window.sketch_panel.views["front"]  # x right, z up
    view.resize(300, 300)
    grid = sketch.grid()
    start = view.to_screen(grid[3, 1, [0, 2]])
    start = QPoint(int(start.x()), int(start.y()))
    drag(view, [start, start + QPoint(5, -5), start + QPoint(20, -30)])
    moved = doc.templates[1].points
    delta = moved[4, 3, 1] - original[4, 3, 1]
    assert delta[0] > 0 and delta[2] > 0 and delta[1] == 0
    np.testing.assert_allclose(moved[4, 3, 5] - original[4, 3, 5], delta * [1, -1, 1])  # mirror partner
    changed = np.argwhere(np.any(moved != original, axis=-1))
    assert {tuple(c) for c in changed} == {(4, 3, 1), (4, 3, 5)}
    assert doc.undo.count() == 1 and doc.dirty
    # the 3D view shows the edited template
    window.draw_now()
    np.testing.assert_allclose(window.view.last_grid, moved[4])
    window.sketch_panel.undo.click()
    np.testing.assert_array_equal(doc.templates[1].points, original)
    window.sketch_panel.redo.click()
    np.testing.assert_array_equal(doc.templates[1].points, moved)
    assert window.save_templates()
    assert not doc.dirty
    reopened = grc.load_templates(folder)
    np.testing.assert_array_equal(reopened.points[1], moved)
    assert reopened.names == ["petal-a", "petal-b"]


def test_row_move_copy_step_and_template_list(make_window, files):
    model, folder = files
    window = make_window(folder)
    to_sketch(window)
    sketch, doc = window.sketch, window.doc
    sketch.set(k=0, step=2, row_mode=True)
    before = doc.templates[0].points.copy()
    sketch.move(2, 0, [0.0, 0.0, 0.1])
    np.testing.assert_allclose(doc.templates[0].points[2, 2] - before[2, 2], np.tile([0, 0, 0.1], (7, 1)))
    window.sketch_panel.copy_next.click()  # step 3's grid onto step 2
    np.testing.assert_array_equal(doc.templates[0].points[2], before[3])
    window.sketch_panel.duplicate.click()
    assert [t.name for t in doc.templates] == ["petal-a", "petal-a-copy", "petal-b"]
    sketch.rename("wide")
    assert [t.name for t in doc.templates] == ["petal-a", "wide", "petal-b"]
    assert window.sketch_panel.list.count() == 3
    for _ in range(4):
        doc.undo.undo()
    np.testing.assert_array_equal(doc.templates[0].points, before)
    assert len(doc.templates) == 2


def test_invalid_set_is_flagged_and_not_saved(make_window, files, dialogs):
    model, folder = files
    window = make_window(folder)
    to_sketch(window)
    window.sketch.set(k=1)
    window.sketch.rename("petal-a")  # a duplicate name
    assert "duplicate template name" in window.doc.error
    assert "cannot be saved" in window.sketch_panel.status.text()
    assert not window.save_templates()
    assert dialogs["warning"] and "duplicate" in dialogs["warning"][-1][1]
    assert sorted(p.name for p in folder.glob("*.json")) == ["0-petal-a.json", "1-petal-b.json"]
    window.sketch_panel.delete.click()
    assert "at least 2 templates" in window.doc.error
    window.doc.undo.undo()
    window.doc.undo.undo()
    assert window.doc.error is None


def test_rename_and_delete_save_replaces_files(make_window, files):
    model, folder = files
    window = make_window(folder)
    window.sketch.new_template(window.doc.model, window.state.blend)
    window.sketch.rename("third")
    assert window.save_templates()
    assert sorted(p.name for p in folder.glob("*.json")) == ["00-petal-a.json", "01-petal-b.json", "02-third.json"]
    window.sketch.set(k=0)
    window.sketch.delete()
    assert window.save_templates()
    assert sorted(p.name for p in folder.glob("*.json")) == ["00-petal-b.json", "01-third.json"]
    assert grc.load_templates(folder).names == ["petal-b", "third"]


def test_saving_never_removes_a_template_another_program_added(make_window, files, dialogs):
    # `grc templates import ... -o folder` (or an editor) while the set is open in the app: Save must not
    # replace the folder as the app last saw it (it deleted the new file without a word)
    model, folder = files
    window = make_window(folder)
    window.sketch.rename("renamed")
    source = json.loads((folder / "1-petal-b.json").read_text())
    source["name"] = "petal-c"
    added = folder / "2-petal-c.json"
    added.write_text(json.dumps(source))
    assert not window.save_templates()
    assert "2-petal-c.json" in dialogs["warning"][-1][1] and "Save as another folder" in dialogs["warning"][-1][1]
    assert added.exists() and grc.load_templates(folder).names == ["petal-a", "petal-b", "petal-c"]
    assert window.doc.dirty  # the edit is still there, to save elsewhere


def test_unsaved_edits_are_recovered_after_a_crash(make_window, files, dialogs, recovery_folder):
    model, folder = files
    window = make_window(folder)
    window.sketch.move(3, 3, [0.0, 0.05, 0.0])
    edited = window.doc.templates[0].points.copy()
    window.doc.write_recovery()  # what the autosave timer does half a second after an edit
    assert list(recovery_folder.glob("*.json"))
    # "crash": a new window opens the same folder; the user says yes to restoring
    dialogs["answers"].append(QMessageBox.Yes)
    second = make_window(folder)
    assert dialogs["question"] and "Restore" in dialogs["question"][-1][0]
    np.testing.assert_array_equal(second.doc.templates[0].points, edited)
    assert second.doc.dirty
    assert second.save_templates()
    assert not list(recovery_folder.glob("*.json"))


def test_a_new_set_never_saved_is_recovered_at_the_next_start(make_window, dialogs, recovery_folder):
    """A new set (no folder, no model) edited, then the app dies: the next start offers it back (its autosave
    had no folder or model to be found by, and every new set shared one file)."""
    from gui.sketch_new import new_set

    window = make_window()
    window.new_set(new_set(6, 5, 4, "flat"))
    window.sketch.move(3, 2, [0.0, 0.0, 0.07])
    edited = [t.points.copy() for t in window.doc.templates]
    window.doc.write_recovery()
    other = make_window()
    other.new_set(new_set(4, 4, 3, "flat"))
    other.sketch.move(1, 1, [0.0, 0.0, 0.02])
    other.doc.write_recovery()
    assert len(list(recovery_folder.glob("untitled-*.json"))) == 2  # one each, not one shared file
    # "crash", then a start: the latest is offered first (the other one); no, then yes for ours
    dialogs["answers"] += [QMessageBox.No]
    start = make_window()
    assert not start.offer_untitled_recovery()
    dialogs["answers"] += [QMessageBox.Yes]
    assert start.offer_untitled_recovery()
    assert "new template set" in dialogs["question"][-1][0]
    assert all(np.array_equal(t.points, p) for t, p in zip(start.doc.templates, edited))
    assert start.doc.dirty and start.doc.folder is None and start.mode == "sketch"


def test_closing_with_unsaved_edits_asks_first(make_window, files, dialogs):
    model, folder = files
    window = make_window(folder)
    window.sketch.move(3, 3, [0.0, 0.0, 0.05])
    dialogs["answers"].append(QMessageBox.Cancel)
    assert not window.close()
    assert window.isVisible()
    assert dialogs["question"][-1][0] == "Unsaved template edits"
    dialogs["answers"].append(QMessageBox.Save)
    assert window.close()
    assert grc.load_templates(folder).points[0][0, 3, 3, 2] == window.doc.templates[0].points[0, 3, 3, 2]
