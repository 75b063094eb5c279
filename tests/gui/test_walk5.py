"""A fifth walkthrough's findings: the safe range line during a model-blend preview."""

import pytest

from grc import load_model
from grc.coherence import Coherence, safe_blend_ranges
from grc.diverge.blend import blend_models
from grc.diverge.rewrite import rewrite

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
    set_shape(window, TIME, 0.5)
    window.beyond.wait_for_bands()
    own = panel.blend_range.text()
    assert "safe at this time: -1.2 to 2.3" in own  # the petal's own (grc evaluate's safe_blend_range)
    path = other_model(window, tmp_path)
    dialog = blend_with(path)
    dialog.box.setValue(1.5)  # W typed
    assert "-1.2 to 2.3" not in panel.blend_range.text()  # at once: not the old model's range
    qtbot.waitUntil(lambda: "safe at this time (previewed model)" in panel.blend_range.text(), timeout=15000)
    previewed = blend_models(window.doc.model, load_model(path), 1.5)
    coherence = Coherence.for_model(window.doc.model, subdivide=2)
    low, high = safe_blend_ranges(previewed, coherence, times=[TIME])[f"{TIME:g}"]
    assert (low, high) != (-1.2, 2.3)  # (the preview's range differs from the model's own)
    assert f"safe at this time (previewed model): {low:g} to {high:g}" in panel.blend_range.text()
    assert panel.blend_sliders[0].band[:2] == (low, high)  # the green band under the slider too
    dialog.reject()  # Cancel: the model's own range again, at once
    assert panel.blend_range.text() == own
    assert panel.blend_sliders[0].band[:2] == (-1.2, 2.3)
