"""One history for Ctrl+Z: template edits and model changes (rewrites, model blends) undo in the order
they were made, by the keyboard, and Explore's "Keep as template" button keeps the shape as shown."""

import numpy as np
from PyQt5.QtCore import Qt

from grc.diverge.bend import Bend, Look
from grc.diverge.rewrite import rewrite
from grc.shapes import keep_as_template
from gui.app import TABS

TIME = 0.8


def key(window, qtbot, k, modifiers=Qt.ControlModifier):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.tabs, k, modifiers)


def test_ctrl_z_undoes_template_edits_and_model_changes_in_the_order_made(window, qtbot):
    state, doc = window.state, window.doc
    state.set_time(TIME)
    state.set_blend(0.5)
    original = doc.model
    templates = list(doc.templates)
    rewritten = rewrite(original, TIME, 0.5, (5, 3), original.shape(TIME, 0.5)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(rewritten, "Rewrite")  # 1: a model change
    assert doc.model is rewritten
    window.tabs.setCurrentIndex(TABS.index("explore"))
    qtbot.mouseClick(window.explore_panel.keep, Qt.LeftButton)  # 2: a template edit, from Explore
    assert len(doc.templates) == len(templates) + 1
    assert window.history.undo_action.text() == f"Undo Keep as template {doc.templates[-1].name}"

    key(window, qtbot, Qt.Key_Z)  # undoes 2 only
    assert [t.name for t in doc.templates] == [t.name for t in templates] and doc.model is rewritten
    key(window, qtbot, Qt.Key_Z)  # then 1
    assert doc.model is original
    assert not window.history.undo_action.isEnabled()
    key(window, qtbot, Qt.Key_Y)  # redo 1 first
    assert doc.model is rewritten and len(doc.templates) == len(templates)
    key(window, qtbot, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # then 2 (Ctrl+Shift+Z)
    assert len(doc.templates) == len(templates) + 1


def test_keep_as_template_button_keeps_the_shape_with_its_look(window, qtbot):
    state, doc = window.state, window.doc
    state.set_time(TIME)
    state.set_blend(1.3)
    look = Look([Bend("scale", 0, {"fraction": 0.5, "seed": 1}, amount=1.7, strength=0.8)])
    window.bend_panel.set_look(look)
    window.tabs.setCurrentIndex(TABS.index("explore"))
    qtbot.mouseClick(window.explore_panel.keep, Qt.LeftButton)
    kept = doc.templates[-1]
    expected = keep_as_template(doc.model, kept.name, 1.3, look=window.beyond.active_look())
    np.testing.assert_allclose(kept.points, expected.points, atol=1e-9)
    bare = keep_as_template(doc.model, kept.name, 1.3)
    assert np.abs(kept.points - bare.points).max() > 1e-3  # the look is in it
    assert window.tabs.currentIndex() == TABS.index("sketch")  # then edit it


def test_training_asks_before_it_replaces_an_unsaved_rewrite(window, dialogs):
    from PyQt5.QtWidgets import QMessageBox

    original = window.doc.model
    rewritten = rewrite(original, TIME, 0.5, (5, 3), original.shape(TIME, 0.5)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(rewritten, "Rewrite")
    assert window.model_unsaved
    dialogs["answers"].append(QMessageBox.Cancel)
    assert not window.start_training()  # cancelled: nothing starts, the rewrite stays
    assert "will replace it" in dialogs["question"][-1][1]
    assert window.doc.model is rewritten and not window.training.running


def test_saving_the_rewrite_first_keeps_it_out_of_the_trainings_way(window, dialogs, monkeypatch, tmp_path):
    # "Save it first?" -> Save as my-rewrite.grc: the training then goes where it would have gone, not over
    # the file just saved (it used to overwrite the rewrite the user chose to keep)
    import grc
    from PyQt5.QtWidgets import QFileDialog, QMessageBox

    original = window.doc.model
    rewritten = rewrite(original, TIME, 0.5, (5, 3), original.shape(TIME, 0.5)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(rewritten, "Rewrite")
    target = window.model_target()
    keep = tmp_path / "my-rewrite.grc"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(keep), "")))
    started = []
    monkeypatch.setattr(window.training, "start", lambda *args, **kwargs: started.append(args))
    dialogs["answers"].append(QMessageBox.Save)
    assert window.start_training()
    np.testing.assert_allclose(grc.load_model(keep).shape(TIME, 0.5), rewritten.shape(TIME, 0.5), atol=1e-5)
    assert started[0][3] == target != keep


def test_a_new_action_ends_redo_as_one_history_would(window, qtbot):
    # undo a template edit, then rewrite: the undone edit is no longer redoable (it used to come back on
    # Ctrl+Y, and the next Ctrl+Z undid the rewrite instead of it)
    doc = window.doc
    original = doc.model
    names = [t.name for t in doc.templates]
    window.tabs.setCurrentIndex(TABS.index("explore"))
    qtbot.mouseClick(window.explore_panel.keep, Qt.LeftButton)  # a template edit
    key(window, qtbot, Qt.Key_Z)
    assert [t.name for t in doc.templates] == names and window.history.redo_action.isEnabled()
    rewritten = rewrite(original, TIME, 0.5, (5, 3), original.shape(TIME, 0.5)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(rewritten, "Rewrite")  # a new action
    assert not window.history.redo_action.isEnabled()
    key(window, qtbot, Qt.Key_Y)
    assert [t.name for t in doc.templates] == names and doc.model is rewritten
    key(window, qtbot, Qt.Key_Z)  # undoes the rewrite
    assert doc.model is original
    key(window, qtbot, Qt.Key_Y)  # and redoes it; the template edit stays gone
    assert doc.model is rewritten and [t.name for t in doc.templates] == names


def test_ctrl_z_does_not_bring_back_a_model_from_before_another_was_opened(window, qtbot, files):
    doc = window.doc
    original = doc.model
    rewritten = rewrite(original, TIME, 0.5, (5, 3), original.shape(TIME, 0.5)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(rewritten, "Rewrite")
    assert window.open(files[0])
    fresh = doc.model
    assert not window.history.undo_action.isEnabled()
    key(window, qtbot, Qt.Key_Z)
    assert doc.model is fresh and not window.model_unsaved


def test_the_title_marks_a_model_change_until_it_is_undone_and_quit_then_asks_nothing(window, qtbot, dialogs, tmp_path):
    """A rewrite left the title without '*', and after undoing it Quit still asked to save the model."""
    doc = window.doc
    original = doc.model
    assert not window.windowTitle().endswith("*")
    rewritten = rewrite(original, TIME, 0.5, (5, 3), original.shape(TIME, 0.5)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(rewritten, "Rewrite")
    assert window.windowTitle().endswith(" *")
    key(window, qtbot, Qt.Key_Z)
    assert doc.model is original and not window.windowTitle().endswith("*")
    key(window, qtbot, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # redone: unsaved again
    assert doc.model is rewritten and window.windowTitle().endswith(" *")
    assert window.save_model_as(tmp_path / "saved.grc") and not window.windowTitle().endswith("*")
    key(window, qtbot, Qt.Key_Z)  # back before what was saved: differs from the file again
    assert doc.model is original and window.windowTitle().endswith(" *")
    key(window, qtbot, Qt.Key_Y)
    assert not window.windowTitle().endswith("*")
    key(window, qtbot, Qt.Key_Q)  # Quit: nothing unsaved, so nothing asked
    assert not dialogs["question"] and not window.isVisible()


def test_bends_in_no_look_file_mark_the_window_and_quit_asks_about_them(window, qtbot, dialogs, tmp_path):
    """A walkthrough added a bend and pressed Ctrl+Q: the app quit without a word and the bend was gone."""
    from PyQt5.QtWidgets import QMessageBox

    panel = window.bend_panel
    assert not window.windowTitle().endswith("*")
    panel.add_bend(Bend("scale", 0, "all", 1.2))
    assert window.windowTitle().endswith(" *")
    key(window, qtbot, Qt.Key_Z)  # undone: no bends, nothing to lose
    assert not panel.rows and not window.windowTitle().endswith("*")
    key(window, qtbot, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert panel.rows and window.windowTitle().endswith(" *")
    key(window, qtbot, Qt.Key_Q)  # Quit asks; Cancel keeps the window and the bends
    assert dialogs["question"][-1][0] == "Unsaved bends" and window.isVisible() and panel.rows
    panel.save_look(tmp_path / "look.json")  # saved: nothing to ask
    assert not window.windowTitle().endswith("*")
    panel.rows[0].amount.setValue(1.4)  # changed after the save: asks again; Discard lets the window go
    assert window.windowTitle().endswith(" *")
    asked = len(dialogs["question"])
    dialogs["answers"].append(QMessageBox.Discard)
    key(window, qtbot, Qt.Key_Q)
    assert len(dialogs["question"]) == asked + 1 and not window.isVisible()


def test_save_model_writes_a_rewritten_model_over_its_file(window, qtbot, tmp_path):
    """A walkthrough: after a rewrite the title said '*', but File had only Save model as… (Ctrl+S saves templates)."""
    import grc
    from PyQt5.QtWidgets import QAction

    doc = window.doc
    original = doc.model
    rewritten = rewrite(original, TIME, 0.5, (5, 3), original.shape(TIME, 0.5)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(rewritten, "Rewrite")
    assert window.windowTitle().endswith(" *")
    action = next(a for a in window.findChildren(QAction) if a.text() == "Save model")
    assert action.shortcut().toString() == "Ctrl+Alt+S"
    action.trigger()
    assert not window.windowTitle().endswith("*")
    saved = grc.load_model(doc.model_path)
    np.testing.assert_allclose(saved.shape(TIME, 0.5), rewritten.shape(TIME, 0.5), atol=1e-6)


def test_a_bend_change_after_another_action_is_a_step_of_its_own(window, qtbot):
    """A review: an amount typed, a rewrite, then the amount box (still focused) changed again: the change merged
    into the first step, so Ctrl+Z undid the rewrite first; and two visits of the box were one step."""
    row = window.bend_panel.add_bend(Bend("scale", 0, "all", 1.2))
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    row.amount.setFocus()
    row.amount.setValue(1.3)
    row.amount.setValue(1.35)  # one visit, one step
    original = window.doc.model
    rewritten = rewrite(original, TIME, 0.5, (5, 3), original.shape(TIME, 0.5)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(rewritten, "Rewrite")
    row.amount.setFocus()
    row.amount.setValue(1.4)  # after the rewrite: undone first
    amount = lambda: window.bend_panel.rows[0].amount.value()  # noqa: E731  (an undo makes the rows again)
    key(window, qtbot, Qt.Key_Z)
    assert amount() == 1.35 and window.doc.model is rewritten
    key(window, qtbot, Qt.Key_Z)
    assert window.doc.model is original and amount() == 1.35
    key(window, qtbot, Qt.Key_Z)
    assert amount() == 1.2  # both changes of the first visit: one step
    window.tabs.setFocus()  # the box left and visited again: a step of its own
    row = window.bend_panel.rows[0]
    row.amount.setFocus()
    row.amount.setValue(2.0)
    window.tabs.setFocus()
    row.amount.setFocus()
    row.amount.setValue(3.0)
    qtbot.keyClick(row.amount, Qt.Key_Z, Qt.ControlModifier)  # in the box itself, nothing typed: the app's Undo
    assert amount() == 2.0


def test_undo_and_redo_say_what_they_did(window):
    """The history is shared: Ctrl+Z in Sketch went on to undo Explore's bends with nothing on screen saying so (a
    walkthrough pressed it six times and only the Edit menu's "Redo Add bend" told what had happened)."""
    window.bend_panel.add_bend()
    window.history.undo()
    assert window.statusBar().currentMessage() == "Undo Add bend" and not window.bend_panel.rows
    window.history.redo()
    assert window.statusBar().currentMessage() == "Redo Add bend" and len(window.bend_panel.rows) == 1
