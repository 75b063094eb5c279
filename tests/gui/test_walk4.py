"""A fourth walkthrough's findings: the Train tab's progress of another set, stale Explore labels, Explore left
scrolled after a training, number boxes that silently refused a value, and the Export / Help menu entries."""

import shutil
from pathlib import Path

import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QApplication

import grc
from gui.sketch_new import new_set

REPO = Path(__file__).resolve().parents[2]

TINY = dict(steps=60, template_steps=40, template_lbfgs_steps=0, refine_steps=0, batch_size=64, refine_samples=64)


def train(window, qtbot):
    window.train_config = grc.Config.from_preset("default", **TINY)
    window.tabs.setCurrentIndex(2)  # Train
    assert window.start_training(ask=False)
    qtbot.waitUntil(lambda: window.worker is None, timeout=120000)


def test_a_new_set_shows_no_progress_of_the_last_training_and_a_finished_one_says_done(window, qtbot):
    panel = window.train_panel
    train(window, qtbot)
    assert panel.bar.value() == 1000
    assert panel.phase.text().startswith("done in ") and panel.phase.text().endswith(" s"), panel.phase.text()
    assert "step" not in panel.phase.text()
    window.new_set(new_set(5, 4, 3))
    assert "No model yet" in panel.result.text()
    assert panel.bar.value() == 0 and panel.phase.text() == "idle" and panel.loss.text() == ""


def test_opening_a_folder_leaves_no_labels_of_the_last_model_in_explore(window, tmp_path):
    panel = window.explore_panel
    assert any("petal-a" in label for _, label, _ in panel.blend_sliders[0].marks)
    leaf = tmp_path / "leaf"
    shutil.copytree(REPO / "templates" / "leaf", leaf)
    assert window.open(leaf)
    assert not panel.isEnabled()
    labels = [label for slider in panel.blend_sliders for _, label, _ in slider.marks]
    assert not any("petal" in label for label in labels), labels
    assert panel.triangle is None
    petal_ticks = {value for value, _, _ in panel.time.marks} - {0.0, 0.1, 1.0, 1.1}
    assert not petal_ticks & {0.3, 0.55, 0.8}, panel.time.marks  # the petal's own time steps
    assert not panel.time.marks_row.isVisible()
    assert "No model" in panel.blend_range.text()
    assert panel.time.spin.text() == "—"  # nor the last model's time in the (disabled) time box
    window.open(window.doc.folder)  # (the same again: still nothing stale)
    assert window.open(REPO / "meshes" / "petal.grc")  # a model again: its labels back
    assert [label for _, label, _ in panel.blend_sliders[0].marks] == ["petal-a", "petal-b"]
    assert float(panel.time.spin.text()) == pytest.approx(window.state.time)  # and its time


def explore_area(window):
    return window.tabs.widget(0)


def test_a_finished_training_shows_explore_from_its_top(window, qtbot):
    window.resize(1100, 600)
    window.tabs.setCurrentIndex(0)
    qtbot.wait(50)
    bar = explore_area(window).verticalScrollBar()
    assert bar.maximum() > 0  # (the panel scrolls at this size)
    bar.setValue(bar.maximum())
    train(window, qtbot)
    assert window.mode == "explore"
    assert bar.value() == 0


def test_opening_a_model_shows_explore_from_its_top(window, qtbot, files):
    window.resize(1100, 600)
    window.tabs.setCurrentIndex(0)
    qtbot.wait(50)
    bar = explore_area(window).verticalScrollBar()
    bar.setValue(bar.maximum())
    assert bar.value() > 0
    assert window.open(files[0])
    assert bar.value() == 0


def type_into(qtbot, box, text):
    """Type `text` over a box's value as a user does, then Tab out of it."""
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key_Tab)


@pytest.mark.parametrize("typed", ["0.5", "999", "1e9"])
def test_a_thickness_past_its_maximum_becomes_it_and_the_status_bar_says_so(window, qtbot, typed):
    box = window.explore_panel.thickness
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    top = box.maximum()
    assert top == pytest.approx(0.18)  # a tenth of the petal's largest side (1.77), not an absolute 0.1
    type_into(qtbot, box, typed)
    assert box.value() == pytest.approx(top)
    assert window.state.thickness == pytest.approx(top)
    message = window.statusBar().currentMessage()
    assert "Thickness goes from 0 to 0.18" in message and f"became {top:g}" in message, message


def test_the_thickness_box_takes_a_value_inside_its_range(window, qtbot):
    box = window.explore_panel.thickness
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    type_into(qtbot, box, "0.15")  # (above the old absolute 0.1)
    assert window.state.thickness == pytest.approx(0.15)


@pytest.mark.parametrize("field, typed, said", [("rows", "1", "Rows: at least 2; 1 became 2"),
                                                ("points", "0", "Points per row: at least 2; 0 became 2"),
                                                ("steps", "1", "Time steps: at least 2; 1 became 2")])
def test_a_count_below_its_minimum_in_the_new_set_dialog_is_said_there(qtbot, field, typed, said):
    from gui.sketch_new import NewSetDialog

    dialog = NewSetDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    box = getattr(dialog, field)
    box.setValue(9)
    type_into(qtbot, box, typed)
    assert box.value() == 2  # the minimum, not the value before (9)
    assert dialog.problem.isVisible() and said in dialog.problem.text(), dialog.problem.text()


def menu(window, title):
    return next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == title)


def test_file_export_shows_the_export_tab_and_is_listed_with_its_key(window):
    action = next(a for a in menu(window, "File").actions() if a.text() == "Export…")
    assert action.shortcut().toString() == "Ctrl+E"
    action.trigger()
    assert window.mode == "export"
    assert ("Ctrl+E", action.statusTip()) in window.shortcuts()
    keys = [k for k, _ in window.shortcuts()]
    assert len(keys) == len(set(keys))  # (no key listed twice)


def test_help_has_getting_started_and_about(window):
    texts = [a.text() for a in menu(window, "Help").actions() if not a.isSeparator()]
    assert texts == ["Getting started", "Keyboard shortcuts", "About GRC Studio"]
    start = next(a for a in menu(window, "Help").actions() if a.text() == "Getting started")
    start.trigger()
    box = window.help_boxes["getting-started"]
    assert box.isVisible()
    text = box.text()
    order = [text.index(word) for word in ("Open or sketch", "Train", "Explore", "Export")]
    assert order == sorted(order)
    for key in ("Ctrl+O", "Ctrl+Shift+N", "Ctrl+S", "Ctrl+E", "Ctrl+K"):
        assert f"<b>{key}</b>" in text, key
    about = next(a for a in menu(window, "Help").actions() if a.text() == "About GRC Studio")
    about.trigger()
    assert window.help_boxes["about"].isVisible()
    assert f"GRC Studio {grc.__version__}" in window.help_boxes["about"].text()


def test_tab_does_not_stop_on_a_side_panels_scroll_area(window):
    """Tab in the Train tab went Train -> (nothing visible) -> the tab bar: the side panel's scroll area took the
    focus and showed none."""
    from gui.app import SidePanel

    stops, widget = [], window.train_panel.start
    for _ in range(400):  # the window's whole focus chain, as Tab walks it
        widget = widget.nextInFocusChain()
        if widget.focusPolicy() & Qt.TabFocus and widget.isVisible() and widget.isEnabled():
            stops.append(widget)
        if widget is window.train_panel.start:
            break
    assert stops and not any(isinstance(w, SidePanel) for w in stops)


def test_play_at_the_end_starts_again_and_back_to_blend_ends_drawing(window, qtbot):
    """With Loop off, Play at the end of time did nothing; after Back to blend, Draw path stayed on and the next
    drag on the pad painted a spike instead of moving the blend (a walkthrough's findings)."""
    panel = window.explore_panel
    panel.loop.setChecked(False)
    panel.time.slider.setValue(panel.time.slider.maximum())
    panel.play.setChecked(True)
    assert panel.time.slider.value() == 0 and panel.play.isChecked()
    panel.play.setChecked(False)
    panel.draw.setChecked(True)
    panel.reset_path.click()
    assert not panel.draw.isChecked() and not panel.pad.draw_mode
    panel.draw.setChecked(True)
    window.open(REPO / "meshes" / "petal.grc")  # another model (the same file again): drags move its blend
    assert not panel.draw.isChecked()
