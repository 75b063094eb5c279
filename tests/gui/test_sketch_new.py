"""A set from nothing: made in the dialog, edited, trained (tiny settings), explored, and kept back as a template."""

import numpy as np
import pytest
from PyQt5.QtCore import QPoint, Qt

import grc
import grc.examples
import grc.templates
from gui.sketch_new import NewSetDialog, new_set, parse_values

TINY = dict(steps=60, template_steps=40, template_lbfgs_steps=0, refine_steps=0, batch_size=64, refine_samples=64)


def test_new_set_trains_explores_and_keeps_a_template(make_window, qtbot, tmp_path, drag):
    window = make_window()
    dialog = NewSetDialog(None, window)
    dialog.rows.setValue(6), dialog.points.setValue(5), dialog.steps.setValue(4)
    dialog.morph.setText("0, 0.2, 0.4, 0.6, 0.8, 1")
    dialog.start.setCurrentIndex(dialog.start.findData("flat"))
    window.new_set(dialog.templates())
    doc, sketch = window.doc, window.sketch
    assert window.mode == "sketch" and doc.model is None and doc.error is None
    assert [t.grid_shape for t in doc.templates] == [(4, 6, 5), (4, 6, 5)]
    # a drag in the front view lifts the tip on every later step, with the falloff
    panel = window.sketch_panel
    panel.resize(1000, 650)
    panel.proportional.setChecked(True)
    panel.time_mode.setCurrentIndex(panel.time_mode.findData("later"))
    panel.step.setValue(1)
    view = panel.views["front"]
    q = view.to_screen(sketch.grid()[5, 2, [0, 2]])
    start = QPoint(round(q.x()), round(q.y()))
    drag(view, [start, start + QPoint(0, -20), start + QPoint(0, -40)])
    assert np.all(doc.templates[0].points[1:, 5, 2, 2] > 0.05)
    # saved, trained, explored
    folder = tmp_path / "mine"
    doc.save(folder)  # File > Save templates asks for this folder
    window.train_config = grc.Config.from_preset("default", **TINY)
    assert window.start_training()
    qtbot.waitUntil(lambda: window.worker is None, timeout=120000)
    assert doc.model is not None and folder.with_suffix(".grc").exists()
    assert window.mode == "sketch"  # a training that ends leaves the user where they were
    window.tabs.setCurrentIndex(0)
    window.state.set_blend(0.7)
    window.draw_now()
    assert window.view.last_grid.shape == (6, 5, 3) and np.isfinite(window.view.last_grid).all()
    # Keep as template: Explore's shape becomes a third template, lineage recorded; one undo step
    window.keep_as_template()
    assert window.mode == "sketch" and len(doc.templates) == 3 and sketch.k == 2
    kept = doc.templates[2]
    assert kept.lineage["operation"] == "keep" and kept.lineage["blend"] == [0.7]
    np.testing.assert_allclose(kept.points[-1], doc.model.shape(kept.time[-1], 0.7), atol=1e-9)
    doc.undo.undo()
    assert len(doc.templates) == 2


@pytest.mark.parametrize("start", ["flat", "petal"])
def test_new_set_starts(start):
    templates = new_set(5, 9, 3, start, morph=np.linspace(0, 2, 5))
    assert [t.grid_shape for t in templates] == [(3, 5, 9), (3, 5, 9)]
    grc.templates.check_set(templates, None)
    np.testing.assert_allclose(templates[1].points[..., 1], templates[0].points[..., 1] * 1.4)


def test_new_set_from_a_copy_and_from_imported_meshes(tmp_path):
    petal = grc.load_templates(grc.examples.template_set_path()).templates[1]
    copy = new_set(7, 7, 7, "copy", template=petal)[0]
    np.testing.assert_allclose(copy.points, petal.points)  # same size: an exact copy
    paths = []
    for s, grid in enumerate(petal.points[[0, 6]]):  # two OBJ grids, one per time step
        path = tmp_path / f"step{s}.obj"
        _write_obj(path, grid)
        paths.append(path)
    imported = new_set(7, 7, 3, "import", files=paths)[0]
    np.testing.assert_allclose(imported.points[0], petal.points[0], atol=1e-5)
    np.testing.assert_allclose(imported.points[2], petal.points[6], atol=1e-5)
    one = new_set(7, 7, 3, "import", files=paths[1:])[0]  # one grid: grown over time from it (it was refused)
    np.testing.assert_allclose(one.points[-1], petal.points[6], atol=1e-5)
    assert np.abs(one.points[0] - petal.points[6]).max() > 1e-3
    with pytest.raises(grc.GRCError, match="expected 3 values"):
        parse_values("0, 1", 3, "time")
    with pytest.raises(grc.GRCError, match="larger than"):
        parse_values("0, 1, 1", 3, "time")


def test_a_copy_keeps_the_templates_own_schedule():
    """A copy of the leaf's curled template (time 0, .1, .5, 1, 1.1; uneven rows) grows on that schedule (it was
    put on evenly spaced times, so the copy at time 1 held the grid of time 1.1)."""
    curled = grc.load_templates(grc.examples.template_set_path("leaf")).templates[1]
    T, M, N = curled.grid_shape
    copy = new_set(M, N, T, "copy", template=curled)[0]
    np.testing.assert_array_equal(copy.time, curled.time)
    np.testing.assert_array_equal(copy.morph, curled.morph)
    np.testing.assert_allclose(copy.points, curled.points, atol=1e-12)
    finer = new_set(M, N, 9, "copy", template=curled)[0]  # more steps: evenly over its range, by time value
    np.testing.assert_allclose(finer.time, np.linspace(0, 1.1, 9))
    at = np.flatnonzero(np.isclose(finer.time, 0.55))
    assert len(at) == 1
    i = int(at[0])  # 0.55 lies between the steps at 0.5 and 1.0, a tenth of the way
    np.testing.assert_allclose(finer.points[i], curled.points[2] + (curled.points[3] - curled.points[2]) * 0.1,
                               atol=1e-12)


def _write_obj(path, grid):
    M, N = grid.shape[:2]
    lines = [f"v {x} {z} {-y}" for x, y, z in grid.reshape(-1, 3)]  # OBJ is Y-up, as Blender writes it
    for r in range(M - 1):
        for c in range(N - 1):
            a = r * N + c + 1
            lines.append(f"f {a} {a + 1} {a + N + 1} {a + N}")
    path.write_text("\n".join(lines) + "\n")
