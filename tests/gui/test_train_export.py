"""Train through the worker (tiny settings), cancel, export through the app, damaged files."""

import numpy as np
import pytest
import trimesh

import grc

TINY = dict(steps=60, template_steps=40, template_lbfgs_steps=0, refine_steps=0, batch_size=64, refine_samples=64)


def test_training_reports_progress_and_swaps_the_model(window, qtbot, files):
    model_path, folder = files
    old = window.doc.model
    window.train_config = grc.Config.from_preset("default", **TINY)
    progress = []
    window.train_panel.start.click()
    window.worker.progress.connect(lambda *p: progress.append(p))
    assert window.train_panel.cancel.isEnabled()
    qtbot.waitUntil(lambda: window.worker is None, timeout=60000)
    assert {p[0] for p in progress} >= {"relational"}
    assert window.train_panel.bar.value() == 1000
    assert window.doc.model is not old and window.state.model is window.doc.model
    saved = grc.load_model(model_path)  # swapped and saved over the open model
    assert saved.config.steps == 60
    window.draw_now()
    grid = window.doc.model.shape(window.state.time, window.state.blend)
    np.testing.assert_allclose(window.view.last_grid, grid)


def test_cancel_keeps_the_old_model(window, qtbot, files):
    model_path, folder = files
    old, old_bytes = window.doc.model, model_path.read_bytes()
    window.train_config = grc.Config.from_preset("default", steps=100000, template_steps=40, template_lbfgs_steps=0)
    window.train_panel.start.click()
    worker = window.worker
    with qtbot.waitSignal(worker.progress, timeout=30000):
        pass
    window.train_panel.cancel.click()
    qtbot.waitUntil(lambda: window.worker is None, timeout=30000)
    assert window.doc.model is old
    assert model_path.read_bytes() == old_bytes
    assert "Cancelled" in window.train_panel.result.text()
    assert window.train_panel.start.isEnabled()


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".stl", ".glb"])
def test_export_shape_loads_back(window, tmp_path, suffix):
    window.state.set_blend(0.3)
    window.explore_panel.subdivide.setValue(1)
    out = window.export_shape(tmp_path / f"shape{suffix}")
    assert out is not None
    mesh = trimesh.load(out, force="mesh", process=False)
    assert len(mesh.faces) == 2 * 12 * 12  # the subdivided quads, as triangles
    if suffix == ".ply":  # PLY keeps the coordinates: the file holds the mesh on screen
        window.draw_now()
        np.testing.assert_allclose(mesh.vertices, window.view.vertices(), atol=1e-6)
    assert "Wrote" in window.export_panel.last.text()


def test_export_sweep_traces_and_screenshot(window, tmp_path):
    glb = window.export_sweep(tmp_path / "sweep.glb", sweep="blend", frames=5)
    scene = trimesh.load(glb)
    assert len(scene.geometry) == 1
    import pygltflib

    gltf = pygltflib.GLTF2().load(str(glb))
    assert len(gltf.meshes[0].primitives[0].targets) == 5  # one morph target per frame
    png = window.export_traces(tmp_path / "traces.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    shot = window.save_screenshot(tmp_path / "shot.png")
    from PyQt5.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() >= window.width() and not image.isNull()


def test_a_time_sweep_follows_the_drawn_context_path(window, drag, tmp_path):
    """Export sweep over time with a path drawn on the pad: every frame is that path's shape at its time."""
    from PyQt5.QtCore import QPoint, Qt

    from test_export import glb_frames

    pad = window.explore_panel.pad
    pad.resize(500, 300)
    pad.refresh()
    m = pad.morph

    def at(v, c):
        p = pad.to_screen(v, c)
        return QPoint(int(p.x()), int(p.y()))

    drag(pad, [at(v, 0.3 * np.sin(6 * v)) for v in np.linspace(m[0], m[-1], 25)], Qt.ShiftModifier)
    state, model = window.state, window.doc.model
    offsets = state.context() - state.blend_context()
    assert np.abs(offsets).max() > 0.05  # a path of its own
    glb = window.export_sweep(tmp_path / "sweep.glb", sweep="time", frames=3)
    build = grc.shapes.builder(model, **window.mesh_options())  # the mesh as shown: subdivided

    def vertices(grid):
        return grc.formats.to_y_up(build.build(grid).vertices)

    for t, frame in zip(np.linspace(*state.time_range(), 3), glb_frames(glb)):
        expected = model.shape(t, context=model.context(t, state.blend) + offsets)
        assert np.abs(frame - vertices(expected)).max() < 1e-5
        assert np.abs(frame - vertices(model.shape(t, state.blend))).max() > 1e-3


def test_damaged_model_shows_a_dialog_and_keeps_running(window, tmp_path, dialogs):
    bad = tmp_path / "bad.grc"
    bad.write_bytes(b"\x00garbage that is not a model" * 10)
    old = window.doc.model
    assert not window.open(bad)
    title, text = dialogs["warning"][-1]
    assert title == "Cannot open" and "bad.grc" in text
    assert window.doc.model is old and window.isVisible()
    window.explore_panel.time.slider.setValue(500)  # still usable
    window.draw_now()
    np.testing.assert_allclose(window.view.last_grid, old.shape(window.state.time, window.state.blend))


def test_malformed_template_folder_shows_a_dialog(window, tmp_path, dialogs):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "0-a.json").write_text('{"format": "grc-template/1", "name": "a", "time": [0, 1]')
    assert not window.open(folder)
    assert "0-a.json" in dialogs["warning"][-1][1]
    assert window.doc.model is not None


def test_export_errors_show_a_dialog(window, tmp_path, dialogs):
    assert window.export_sweep(tmp_path / "sweep.obj", sweep="time", frames=3) is None
    assert "glb" in dialogs["warning"][-1][1].lower()


def test_a_blend_sweep_runs_to_the_blend_shown_when_asked(window, tmp_path):
    """Export's blend sweep always ran from the first template to the second: an extrapolation explored (blend 1.6)
    could not be exported as shape keys from the app."""
    import pygltflib

    panel = window.export_panel
    window.state.set_blend(1.6)
    window.draw_now()
    panel.sweep.setCurrentText("blend")
    names = window.doc.model.templates.names
    assert [panel.sweep_to.itemText(i) for i in range(panel.sweep_to.count())] == names + ["the blend shown"]
    assert panel.sweep_from.currentText() == names[0] and panel.sweep_to.currentText() == names[1]  # the default
    panel.sweep_to.setCurrentText("the blend shown")
    glb = window.export_sweep(tmp_path / "sweep.glb", frames=5)
    keys = pygltflib.GLTF2().load(str(glb)).meshes[0].extras["targetNames"]
    assert keys == ["blend 0.000", "blend 0.400", "blend 0.800", "blend 1.200", "blend 1.600"]
    panel.sweep_from.setCurrentText("the blend shown")
    panel.sweep_to.setCurrentText(names[0])
    glb = window.export_sweep(tmp_path / "back.glb", frames=3)
    assert pygltflib.GLTF2().load(str(glb)).meshes[0].extras["targetNames"] == ["blend 1.600", "blend 0.800",
                                                                                  "blend 0.000"]
    panel.sweep.setCurrentText("time")
    assert not panel.sweep_to.isEnabled()  # (a time sweep runs at the blend shown)


def test_a_blend_sweep_with_the_same_ends_is_refused_plainly(window, dialogs, tmp_path):
    # it failed with "names: expected 5 different names, one per frame, got ['blend 0.000000000000', ...]"
    panel = window.export_panel
    window.state.set_blend(0.0)
    panel.sweep.setCurrentText("blend")
    panel.sweep_to.setCurrentText("the blend shown")  # From is the first template: the blend shown, at 0
    assert window.export_sweep(tmp_path / "same.glb", frames=5) is None
    assert not (tmp_path / "same.glb").exists()
    assert "two different ends" in panel.last.text() and dialogs["warning"] == []
    asked = []
    from PyQt5.QtWidgets import QFileDialog

    with pytest.MonkeyPatch.context() as mp:  # the button refuses before any file dialog opens
        mp.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: asked.append(a) or ("", "")))
        panel.last.setText("")
        panel.animation.click()
    assert asked == [] and "two different ends" in panel.last.text()
    window.doc.set_model(window.doc.model)  # a model of the same templates again (a training's): the ends stay
    assert panel.sweep_to.currentText() == "the blend shown"


def test_a_broken_install_is_not_blamed_on_pytorch():
    # a walkthrough's app failed to train with "training needs PyTorch: cannot import name ... from 'grc.config'":
    # PyTorch was there; GRC Studio's own code was half-updated
    from gui.worker import import_failure

    missing = ModuleNotFoundError("No module named 'torch'", name="torch")
    assert import_failure(missing).startswith("training needs PyTorch")
    broken_torch = ImportError("libtorch_cpu.so: cannot open shared object file", name="torch._C")  # (a review)
    assert import_failure(broken_torch).startswith("training needs PyTorch")
    broken = ImportError("cannot import name 'SHAPE_SPACE_PAIR_MIXES' from 'grc.config'")
    assert "PyTorch" not in import_failure(broken) and "reinstall" in import_failure(broken)
