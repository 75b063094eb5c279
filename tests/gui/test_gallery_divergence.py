"""The Divergence slider: fine-tuning in the background, checkpoints scrubbed live, any saved."""

import shutil
import time
from pathlib import Path

import numpy as np
from PyQt5.QtCore import Qt

from grc import load_model
from grc.diverge.blend import model_id
from gui.app import TABS


def diverged(window, qtbot, steps=20, every=5):
    panel = window.divergence
    window.tabs.setCurrentIndex(TABS.index("diverge"))
    panel.steps.setValue(steps)
    panel.every.setValue(every)
    qtbot.mouseClick(panel.start, Qt.LeftButton)
    assert panel.running
    qtbot.waitUntil(lambda: panel.label.text().startswith("Done"), timeout=120000)
    return panel


def test_slider_scrubs_checkpoints_and_zero_is_the_original(window, qtbot, tmp_path):
    original = window.doc.model
    before = window.state.grid()
    panel = diverged(window, qtbot)
    assert panel.errors == [] and len(panel.checkpoints) == 5 and panel.slider.maximum() == 4
    assert [c.step for c in panel.checkpoints] == [0, 5, 10, 15, 20]
    assert panel.plot.rows is panel.checkpoints
    panel.slider.setValue(4)
    assert window.state.model is panel.checkpoints[4].model
    window.draw_now()
    assert not np.allclose(window.view.vertices(), np.zeros(1))
    moved = window.state.grid()
    assert np.abs(moved - before).max() > 1e-4  # the fine-tuned model makes another shape
    panel.slider.setValue(0)
    assert window.state.model is original
    np.testing.assert_array_equal(window.state.grid(), before)  # checkpoint 0: exactly the original model
    assert window.doc.model is original  # scrubbing never replaces the document's model

    panel.slider.setValue(2)
    path = panel.save_checkpoint(tmp_path / "diverged.grc")
    saved = load_model(path)
    assert model_id(saved) == model_id(panel.checkpoints[2].model)
    lineage = saved.info["lineage"]
    assert lineage["operation"] == "diverge" and lineage["step"] == 10
    assert lineage["parents"][0]["model"] == model_id(original)


def test_cancel_keeps_the_checkpoints_so_far(window, qtbot):
    panel = window.divergence
    assert panel.run(steps=3000, every=5)
    qtbot.waitUntil(lambda: len(panel.checkpoints) >= 2, timeout=120000)
    qtbot.mouseClick(panel.cancel, Qt.LeftButton)
    qtbot.waitUntil(lambda: "Cancelled" in panel.label.text(), timeout=120000)
    qtbot.waitUntil(lambda: not panel.running, timeout=60000)
    assert len(panel.checkpoints) >= 2
    assert panel.checkpoints[-1].model.info["lineage"]["operation"] == "diverge"
    window.doc.open_model(window.doc.model_path)  # another model: the checkpoints are dropped
    assert panel.checkpoints == [] and window.state.model is window.doc.model


# found in review: a run's results still queued when another model opens must not land on the new one
def _other_model(tmp_path):
    p = tmp_path / "other.grc"
    shutil.copy(Path(__file__).resolve().parents[2] / "meshes" / "petal.grc", p)
    return p


def test_gallery_stale_tiles_after_open(window, qtbot, tmp_path):
    g = window.gallery
    assert g.run(budget=5000, seed=1)
    w = g.worker
    # let the worker post progress without the GUI thread handling it
    deadline = time.time() + 30
    while w.bounds is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    window.doc.open_model(_other_model(tmp_path), None)   # model_changed: clears, waits
    assert len(g.grid.tiles) == 0
    qtbot.wait(300)  # queued progress of the old search is delivered now
    assert len(g.grid.tiles) == 0, "old search's tiles shown for the new model"


def test_divergence_stale_checkpoint_after_open(window, qtbot, tmp_path):
    p = window.divergence
    window.tabs.setCurrentIndex(TABS.index("diverge"))
    assert p.run(steps=3000, every=2)
    # wait (without processing events) until a few checkpoints have been emitted
    time.sleep(3)
    window.doc.open_model(_other_model(tmp_path), None)
    new = window.doc.model
    qtbot.wait(500)
    assert window.state.model is new, "an old checkpoint replaced the newly opened model"
    assert p.checkpoints == []


def last_checkpoint_shown(window, qtbot):
    """Run a short divergent fine-tuning and show its last checkpoint; returns that checkpoint's model."""
    p = window.divergence
    window.tabs.setCurrentIndex(TABS.index("diverge"))
    assert p.run(steps=20, every=5)
    qtbot.waitUntil(lambda: p.label.text().startswith("Done"), timeout=120000)
    p.slider.setValue(p.slider.maximum())
    return window.state.model


def test_save_model_as_while_a_checkpoint_is_shown_saves_that_checkpoint(window, qtbot, tmp_path):
    """Found in review: File > Save model as… wrote the original while a checkpoint was on screen, and the
    view jumped back to the original under a slider still at the checkpoint."""
    p = window.divergence
    shown = last_checkpoint_shown(window, qtbot)
    assert shown is p.checkpoints[-1].model and shown is not window.doc.model
    assert window.save_model_as(tmp_path / "mine.grc")
    assert model_id(load_model(tmp_path / "mine.grc")) == model_id(shown)
    assert window.state.model is shown  # the view stays on it


def test_undo_of_a_rewrite_of_a_checkpoint_returns_to_that_checkpoint(window, qtbot):
    """A rewrite made on a Diverge checkpoint, then Undo: the checkpoint is back on screen (it went back to the
    original model, whose shape the artist had scrubbed away from)."""
    from grc.diverge.rewrite import rewrite

    shown = last_checkpoint_shown(window, qtbot)
    assert shown is not window.doc.model
    t, b = window.state.time, window.state.blend
    edited = rewrite(shown, t, b, (5, 3), shown.shape(t, b)[5, 3] + [0, 0, 0.05])
    window.beyond.replace_model(edited, "Rewrite point (5, 3)")
    assert window.state.model is edited
    window.history.undo_action.trigger()
    assert window.state.model is shown
    np.testing.assert_array_equal(window.state.grid(), shown.shape(t, b))


def test_a_gallery_shape_opened_while_a_checkpoint_is_shown_is_the_searched_models(window, qtbot):
    """A walkthrough searched the gallery, diverged, then clicked a gallery shape: the status bar gave the
    gallery's verdict while the 3D view showed the diverged checkpoint's broken shape."""
    gallery, original = window.gallery, window.doc.model
    assert gallery.run(budget=300, seed=0)
    qtbot.waitUntil(lambda: gallery.archive is not None, timeout=60000)
    panel = diverged(window, qtbot)
    panel.slider.setValue(4)
    assert window.state.model is panel.checkpoints[4].model
    cell, tile = next(iter(gallery.grid.tiles.items()))
    gallery.open_cell(cell)
    window.draw_now()
    assert window.state.model is original  # the model the gallery searched
    np.testing.assert_allclose(window.beyond.grid(), gallery.space.shape(tile.genome), atol=1e-5)
    assert panel.slider.value() == 0  # Diverge's slider says which model is shown: checkpoint 0, the original
    assert "(the original)" in panel.about.text()


def test_diverge_in_a_short_window_keeps_cancel_in_sight(window, qtbot):
    window.resize(1024, 640)
    window.tabs.setCurrentIndex(TABS.index("diverge"))
    panel, area = window.divergence, window.tabs.widget(TABS.index("diverge"))
    qtbot.wait(50)
    area.verticalScrollBar().setValue(0)
    panel.steps.setValue(20)
    panel.every.setValue(5)
    qtbot.mouseClick(panel.start, Qt.LeftButton)
    assert panel.running and window.focusWidget() is panel.cancel
    qtbot.waitUntil(lambda: panel.label.text().startswith("Done"), timeout=120000)
    assert window.focusWidget() is panel.start and area.verticalScrollBar().value() == 0
