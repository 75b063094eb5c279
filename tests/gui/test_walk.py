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
