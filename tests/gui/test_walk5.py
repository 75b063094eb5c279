"""A fifth walkthrough's findings: the safe range line and the chip during a model-blend preview, the chip for a drawn
path far off the traces, and the Lineage tab's root row of an unsaved blend and its long rows."""

import pytest
from PyQt5.QtCore import QEvent, QPoint
from PyQt5.QtGui import QHelpEvent
from PyQt5.QtWidgets import QApplication, QToolTip

from grc import load_model
from grc.coherence import Coherence, safe_blend_ranges
from grc.diverge.blend import blend_models, model_id
from grc.diverge.rewrite import rewrite
from gui.app import TABS

TIME = 1.0


def set_shape(window, time, blend):
    window.state.set_time(time)
    window.state.set_blend(blend)
    window.draw_now()  # draws and runs the live check


def other_model(window, tmp_path):
    """A rewrite of the petal saved beside it: blended with it past W = 1, the petal breaks sooner beyond petal-b."""
    model = window.doc.model
    other = rewrite(model, TIME, 0.5, (6, 3), model.shape(TIME, 0.5)[6, 3] + [0, 0, 0.1])
    path = tmp_path / "other.grc"
    other.save(path)
    return path


@pytest.fixture
def blend_with(window):
    """Blend models… on a file, its dialog shown (not modal: the test drives it); cancelled at the end if left
    open."""
    dialogs = []

    def open_dialog(path):
        dialog = window.rewrite_panel.blend_with(path)
        dialog.show()
        dialogs.append(dialog)
        return dialog

    yield open_dialog
    for dialog in dialogs:
        if dialog.isVisible():
            dialog.reject()


def test_the_safe_range_line_says_the_previewed_models_and_comes_back_on_cancel(window, tmp_path, blend_with, qtbot):
    """During a Blend models preview the line under the blend slider still gave the old model's safe range."""
    panel = window.explore_panel
    coherence = Coherence.for_model(window.doc.model, subdivide=2)

    def reached(model):  # grc evaluate's safe_blend_range, as far as the blend slider reaches (-1.5 to 2.5)
        low, high = safe_blend_ranges(model, coherence, times=[TIME])[f"{TIME:g}"]
        return max(low, -1.5), min(high, 2.5)

    set_shape(window, TIME, 0.5)
    window.beyond.wait_for_bands()
    own, mine = panel.blend_range.text(), reached(window.doc.model)
    assert f"safe at this time: {mine[0]:g} to {mine[1]:g}" in own  # the petal's own
    path = other_model(window, tmp_path)
    dialog = blend_with(path)
    dialog.box.setValue(1.5)  # W typed
    assert "safe at this time:" not in panel.blend_range.text()  # at once: not the old model's range
    qtbot.waitUntil(lambda: "safe at this time (previewed model)" in panel.blend_range.text(), timeout=15000)
    low, high = reached(blend_models(window.doc.model, load_model(path), 1.5))
    assert (low, high) != mine  # (the preview's range differs from the model's own)
    assert f"safe at this time (previewed model): {low:g} to {high:g}" in panel.blend_range.text()
    assert panel.blend_sliders[0].band[:2] == (low, high)  # the green band under the slider too
    dialog.reject()  # Cancel: the model's own range again, at once
    assert panel.blend_range.text() == own
    assert panel.blend_sliders[0].band[:2] == mine


def test_the_chip_judges_a_model_blend_previews_shape(window, tmp_path, blend_with):
    """The chip said "between templates" for a model blend's preview at blend 0.5: its shape is none of the
    templates' blends."""
    chip = window.explore_panel.chip
    set_shape(window, TIME, 0.5)
    assert chip.text().startswith("between templates")
    path = other_model(window, tmp_path)
    dialog = blend_with(path)
    dialog.box.setValue(0.8)
    shape = blend_models(window.doc.model, load_model(path), 0.8).shape(TIME, 0.5)
    expected = Coherence.for_model(window.doc.model, subdivide=2).check(shape, TIME)
    assert expected.verdict == "coherent"
    assert chip.text() == f"beyond: coherent · novelty {expected.novelty:.3f}"
    assert dialog.meter.text() == chip.text()  # the dialog's own meter says the same
    dialog.box.setValue(0)  # W = 0: the model itself, between its templates again
    assert chip.text().startswith("between templates")
    dialog.box.setValue(0.8)
    dialog.reject()
    assert chip.text().startswith("between templates")


def pad_point(pad, morph, context):
    p = pad.to_screen(morph, context)
    return QPoint(int(p.x()), int(p.y()))


def test_the_chip_says_beyond_for_a_path_drawn_far_off_the_traces(window, drag):
    """A path drawn (Draw path) well above both traces said "between templates"."""
    panel, chip = window.explore_panel, window.explore_panel.chip
    set_shape(window, TIME, 0.5)
    pad = panel.pad
    pad.resize(500, 300)
    pad.refresh()
    m, traces = pad.morph, pad.traces[:, :, 0]
    top = traces.max(axis=0)
    gap = traces.max(axis=0) - traces.min(axis=0)
    panel.draw.click()
    between = [pad_point(pad, v, c) for v, c in zip(m[::3], (traces[0] + 0.4 * (traces[1] - traces[0]))[::3])]
    drag(pad, between)  # a path drawn between the traces stays between
    window.draw_now()
    assert window.state.path is not None
    assert chip.text().startswith("between templates"), chip.text()
    far = top + 0.3 * gap.max()  # a third of the traces' gap above the upper one all along: coherent, novel
    assert far.max() < pad.y_range[1]  # (inside the plot: the drag does not stop at its edge)
    far = [pad_point(pad, v, c) for v, c in zip(m[::3], far[::3])]
    drag(pad, far)
    window.draw_now()
    assert window.state.path is not None
    check = Coherence.for_model(window.doc.model, subdivide=2).check(window.beyond.grid(), TIME)
    assert check.verdict == "coherent"
    assert chip.text() == f"beyond: coherent · novelty {check.novelty:.3f}"
    panel.reset_path.click()  # Back to blend
    window.draw_now()
    assert chip.text().startswith("between templates")


def test_lineage_says_an_unsaved_blend_is_not_saved(window, tmp_path, blend_with, qtbot):
    """After Blend models… OK, the Lineage tab's root row named the parent's file (petal.grc) as the model's."""
    path = other_model(window, tmp_path)
    dialog = blend_with(path)
    dialog.box.setValue(0.5)
    dialog.accept()
    window.tabs.setCurrentIndex(TABS.index("lineage"))
    root = window.lineage.items()[0].text(0)
    assert root.startswith(f"This model {model_id(window.doc.model)} (not saved)"), root
    assert "petal.grc)" not in root and "blend-models" in root
    assert window.save_model_as(tmp_path / "blend.grc")  # (what Save model as… does once a file is chosen)
    assert window.lineage.items()[0].text(0).startswith(f"This model {model_id(window.doc.model)} (blend.grc)")


def test_lineage_rows_too_long_for_the_panel_show_whole_on_hover(window, tmp_path, blend_with, qtbot):
    """Long rows were cut off at the panel's edge, with no way to read the rest."""
    path = other_model(window, tmp_path)
    dialog = blend_with(path)
    dialog.accept()
    window.resize(1024, 700)
    window.tabs.setCurrentIndex(TABS.index("lineage"))
    qtbot.wait(50)
    tree = window.lineage.tree
    item = window.lineage.items()[0]
    rect = tree.visualItemRect(item)
    assert tree.fontMetrics().horizontalAdvance(item.text(0)) > tree.viewport().width() - rect.left()  # cut off
    QApplication.sendEvent(tree.viewport(), QHelpEvent(QEvent.ToolTip, rect.center(), tree.viewport().mapToGlobal(
        rect.center())))
    qtbot.waitUntil(QToolTip.isVisible, timeout=3000)
    assert QToolTip.text() == item.text(0)
    QToolTip.hideText()


def test_a_preview_cancelled_while_the_shading_is_computed_lets_it_come(window, qtbot):
    """A preview (a rewrite drag, Blend models…) that began while the model's own shading was still being computed
    and was then cancelled kept that shading's key: it was never computed again, and the line said 'safe range once
    time holds still' for good (a code review's finding)."""
    beyond, panel = window.beyond, window.explore_panel
    set_shape(window, 0.8, 0.5)
    beyond.wait_for_bands()
    window.state.set_time(1.0)  # a new time: the shading starts again once it holds still
    window.draw_now()
    model = window.doc.model
    other = rewrite(model, 1.0, 0.5, (6, 3), model.shape(1.0, 0.5)[6, 3] + [0, 0, 0.1])
    beyond._bands_timer.stop()
    beyond._start_bands()  # (what the timer does): a thread computes the model's own shading
    beyond.preview = other  # a preview begins at once
    beyond.preview = None  # and is cancelled
    qtbot.waitUntil(lambda: "safe at this time:" in panel.blend_range.text(), timeout=15000)
    assert beyond.bands is not None and beyond.bands["time"] == 1.0
