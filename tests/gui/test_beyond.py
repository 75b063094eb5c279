"""Beyond the templates in Explore: the chip, red faces and pad shading follow the blend as grc.coherence says;
bends change the mesh as Look.shape says; a rewrite drag changes the model as grc.diverge.rewrite says."""

import numpy as np
import pytest
from PyQt5.QtCore import QPoint

from grc.coherence import Coherence, safe_blend_ranges
from grc.diverge.bend import Bend, Look, cluster_regions, load_look
from grc.diverge.rewrite import rewrite
from grc.shapes import builder

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
TIME = 0.65
BROKEN_BLEND = 2.4  # the bundled petal at time 0.65 (between time steps) breaks from blend 2.25 on and below -1.4


def set_shape(window, time, blend):
    window.state.set_time(time)
    window.state.set_blend(blend)
    window.draw_now()  # draws and runs the live check
    return window.beyond.check


def other_model(window, tmp_path):
    """The model shown, with one point rewritten, saved as other.grc (a second model to blend with); shows the
    petal at TIME, blend 0.5 first. Returns (the model shown, the other's path)."""
    set_shape(window, TIME, 0.5)
    original = window.doc.model
    rewrite(original, TIME, 0.5, (6, 3), original.shape(TIME, 0.5)[6, 3] + [0, 0, 0.1]).save(tmp_path / "other.grc")
    return original, tmp_path / "other.grc"


def mesh_of(window, grid):
    s = window.state
    return builder(window.doc.model, None, s.subdivide, s.thickness, s.petals).build(grid).vertices


def test_the_chip_follows_the_blend(window):
    chip = window.explore_panel.chip
    model = window.doc.model
    coherence = Coherence.for_model(model, subdivide=2)
    set_shape(window, TIME, 0.5)
    assert chip.text().startswith("between templates")
    assert not window.view.broken_actor.GetVisibility()
    set_shape(window, TIME, 2.0)
    expected = coherence.check(model.shape(TIME, 2.0), TIME)
    assert expected.verdict == "coherent"
    assert chip.text() == f"beyond: coherent · novelty {expected.novelty:.3f}"
    check = set_shape(window, TIME, BROKEN_BLEND)
    expected = coherence.check(model.shape(TIME, BROKEN_BLEND), TIME)
    assert expected.verdict == check.verdict == "broken" and chip.text().startswith("broken")
    np.testing.assert_array_equal(check.broken_quads, expected.broken_quads)
    # the red faces are exactly the broken quads of the view's sheet (subdivision 2 here, as the check's)
    view = window.view
    assert view.broken_actor.GetVisibility()
    np.testing.assert_array_equal(np.sort(view.broken_faces), np.sort(expected.broken_quads))


def test_red_faces_follow_the_view_subdivision_and_petals(window):
    set_shape(window, TIME, BROKEN_BLEND)
    quads = window.beyond.check.broken_quads
    window.explore_panel.petals.setValue(3)
    window.explore_panel.subdivide.setValue(1)
    window.draw_now()
    view = window.view
    faces = view.broken_faces
    per_petal = len(view.builder.faces) // 3
    assert len(faces) > 0 and len(faces) % 3 == 0
    # every petal the same faces; each a level-1 quad containing a broken level-2 quad
    first = np.sort(faces[faces < per_petal])
    np.testing.assert_array_equal(np.sort(faces[(faces >= per_petal) & (faces < 2 * per_petal)]) - per_petal, first)
    R2 = P2 = 25  # the check's sheet of a 7 x 7 grid at subdivision 2: 25 x 25 points
    expected = np.unique([(q // (P2 - 1)) // 2 * 12 + (q % (P2 - 1)) // 2 for q in quads])
    np.testing.assert_array_equal(first, expected)


def test_pad_shades_where_shapes_break_and_the_slider_shows_the_safe_range(window):
    set_shape(window, TIME, 0.0)
    bands = window.beyond.wait_for_bands()
    assert bands is not None and bands["time"] == TIME
    model = window.doc.model
    coherence = Coherence.for_model(model, subdivide=2)
    codes, _ = coherence.verdicts(np.stack([model.shape(TIME, a) for a in (0.5, BROKEN_BLEND)]), TIME)
    assert codes.tolist() == [0, 2]
    pad = window.explore_panel.pad
    pad.refresh()
    broken = [(lo, hi) for code, (lo, hi), _ in pad.band_polygons() if code == 2]
    assert any(lo <= BROKEN_BLEND <= hi for lo, hi in broken)
    assert not any(lo <= 0.5 <= hi for lo, hi in broken)
    # on screen: the pad is tinted red where the broken blend's context path would lie, not at 0.5's
    image = pad.grab().toImage()
    j = len(pad.morph) * 2 // 3
    traces = pad.traces[:, j, pad.dim]

    def pixel(alpha):
        point = pad.to_screen(pad.morph[j], traces[0] + alpha * (traces[1] - traces[0]))
        ratio = image.width() / pad.width()
        c = image.pixelColor(int(point.x() * ratio), int(point.y() * ratio))
        return c.red(), c.green(), c.blue()

    r, g, b = pixel(BROKEN_BLEND)
    assert r > g + 30 and r > b + 30
    r, g, b = pixel(0.5)
    assert abs(r - g) < 30
    # the blend slider's safe range is the library's, as far as the slider reaches (-1.5 to 2.5)
    low, high = safe_blend_ranges(model, coherence, times=[TIME])[f"{TIME:g}"]
    safe = [max(low, -1.5), min(high, 2.5)]
    panel = window.explore_panel
    assert panel.safe == safe
    assert panel.blend_sliders[0].band[:2] == tuple(safe)
    assert f"safe at this time: {safe[0]:g} to {safe[1]:g}" in panel.blend_range.text()
    assert "-1.5 to 2.5" in panel.blend_range.text()


def test_bends_change_the_mesh_as_look_shape_says(window, tmp_path):
    set_shape(window, TIME, 0.7)
    model = window.doc.model
    plain = window.view.vertices().copy()
    panel = window.bend_panel
    rows = [panel.add_bend() for _ in range(3)]  # three bends chained
    rows[0].op.setCurrentText("scale")
    rows[0].units.setCurrentIndex(2 + 1)  # cluster 1
    rows[0].amount.setValue(1.8)
    rows[1].layer.setCurrentIndex(1)
    rows[1].op.setCurrentText("offset")
    rows[1].units.setCurrentIndex(1)  # a seeded fraction
    rows[1].amount.setValue(0.3)
    rows[2].layer.setCurrentText("time")
    rows[2].op.setCurrentText("shift")
    rows[2].amount.setValue(0.1)
    rows[0].strength.setValue(50)  # 0.5
    window.draw_now()
    look = Look([Bend("scale", 0, {"cluster": 1, "clusters": 6, "seed": 0}, 1.8, 1.0, 0.5),
                 Bend("offset", 1, {"fraction": 0.3, "seed": 0}, 0.3, 1.0, 1.0),
                 Bend("shift", "time", "all", 0.1, 1.0, 1.0)])
    assert panel.look().to_json()["bends"] == look.to_json()["bends"]
    np.testing.assert_allclose(window.view.vertices(), mesh_of(window, look.shape(model, TIME, 0.7)), atol=1e-6)
    assert not np.allclose(window.view.vertices(), plain, atol=1e-4)
    assert window.explore_panel.chip.text() == panel.meter.text()  # the bend's meter is the chip's
    # the cluster names are where they act
    names = [r["name"] for r in cluster_regions(model, 0, 6, 0)]
    assert rows[0].units.itemText(3).startswith(f"cluster 1: {names[1]}")  # (an ordinal after a repeated name)
    # strength 0 everywhere changes nothing
    for r in rows:
        r.strength.setValue(0)
    window.draw_now()
    np.testing.assert_allclose(window.view.vertices(), plain, atol=1e-9)
    # a look saved and loaded gives the same mesh; exports go through it
    for r in rows:
        r.strength.setValue(100)
    window.draw_now()
    bent = window.view.vertices().copy()
    path = panel.save_look(tmp_path / "look.json")
    assert load_look(path).to_json()["format"] == "grc-look/1"
    panel.set_look(Look([]))
    window.draw_now()
    np.testing.assert_allclose(window.view.vertices(), plain, atol=1e-9)
    panel.load_look(path)
    window.draw_now()
    assert len(panel.rows) == 3
    np.testing.assert_allclose(window.view.vertices(), bent, atol=1e-9)
    out = window.export_shape(tmp_path / "bent.obj")
    vertices = np.array([[float(v) for v in line.split()[1:4]] for line in open(out) if line.startswith("v ")])
    z_up = np.stack([vertices[:, 0], -vertices[:, 2], vertices[:, 1]], axis=1)  # OBJ is Y-up
    np.testing.assert_allclose(z_up, bent, atol=1e-5)


def test_hovering_a_cluster_highlights_its_region(window):
    set_shape(window, TIME, 0.5)
    row = window.bend_panel.add_bend()
    row.units.highlighted.emit(2)  # cluster 0, as the open list's hover says
    assert window.view.region_actor.GetVisibility()
    region = row.regions[0]["region"]
    # the points the name speaks of: those moved at least 70 % of the most (grc.diverge.bend.PEAK), not half
    np.testing.assert_allclose(window.view.region_mesh.points, window.beyond.grid()[region >= 0.7])
    assert window.view.region_mesh.n_verts == window.view.region_mesh.n_points > 1  # each point drawn, not one
    row.units.highlighted.emit(0)
    assert not window.view.region_actor.GetVisibility()
    row.units.highlighted.emit(2)
    row.units.showPopup()
    row.units.hidePopup()  # the list closed (Esc, a click away): the hover's highlight goes
    assert not window.view.region_actor.GetVisibility()


def test_a_rewrite_drag_moves_the_point_as_the_library_says_and_undo_restores(window, drag):
    set_shape(window, TIME, 0.5)
    panel = window.rewrite_panel
    panel.mode.setChecked(True)
    original = window.doc.model
    widget = window.view.plotter.interactor
    grid = window.beyond.grid()
    row, index = 5, 3
    x, y, _ = window.view.display_points(grid)[row * grid.shape[1] + index]
    ratio = widget.devicePixelRatioF()
    start = QPoint(int(round(x / ratio)), int(round(widget.height() - 1 - y / ratio)))
    drag(widget, [start, start + QPoint(10, 0), start + QPoint(25, -30)])
    point, target = panel.drag.last
    assert point == (row, index)
    model = window.doc.model
    assert model is not original and window.model_unsaved
    expected = rewrite(original, TIME, 0.5, point, target, panel.radius.value())
    np.testing.assert_allclose(model.shape(TIME, 0.5), expected.shape(TIME, 0.5), atol=1e-9)
    assert np.linalg.norm(model.shape(TIME, 0.5)[row, index] - target) < 1e-3
    window.draw_now()
    np.testing.assert_allclose(window.view.vertices(), mesh_of(window, expected.shape(TIME, 0.5)), atol=1e-6)
    assert window.explore_panel.chip.text() == panel.meter.text()
    panel.undo_button.click()
    assert window.doc.model is original
    window.draw_now()
    np.testing.assert_allclose(window.view.vertices(), mesh_of(window, original.shape(TIME, 0.5)), atol=1e-9)
    panel.redo_button.click()
    assert window.doc.model is model


def test_blend_models_dialog_meters_and_replaces_the_model(window, files, tmp_path):
    from grc import load_model
    from grc.diverge.blend import blend_models

    original, path = other_model(window, tmp_path)
    dialog = window.rewrite_panel.blend_with(path)
    dialog.show()  # over the side panel: the 3D view's preview stays in sight (it opened centred over the view)
    side = window.tabs.mapToGlobal(window.tabs.rect().topLeft())
    screen = dialog.screen().availableGeometry()
    if screen.right() - dialog.frameGeometry().width() >= side.x():  # (a screen wide enough for that)
        assert dialog.frameGeometry().left() >= side.x()
    assert screen.contains(dialog.frameGeometry().topLeft())
    dialog.box.setValue(1.5)  # W = 1.5, typed: extrapolating
    assert dialog.weight.value() == 150 and dialog.value() == 1.5
    dialog.weight.setValue(120)
    assert dialog.box.value() == 1.2
    dialog.weight.setValue(150)
    assert dialog.meter.text().startswith(("beyond", "between", "strained", "broken"))
    dialog.accept()
    expected = blend_models(original, load_model(tmp_path / "other.grc"), 1.5)  # as saved (float32)
    np.testing.assert_allclose(window.doc.model.shape(TIME, 0.5), expected.shape(TIME, 0.5), atol=1e-9)
    window.rewrite_panel.undo_button.click()
    assert window.doc.model is original


def test_the_camera_refits_when_a_shape_leaves_the_view(window):
    set_shape(window, TIME, 0.5)
    view = window.view
    view.plotter.camera.zoom(6)  # the shape now overflows the view
    view.render()
    assert view.outside_view()
    set_shape(window, TIME, 2.4)
    assert not view.outside_view()


def test_the_camera_refits_inwards_when_a_shape_shrinks_unless_the_user_zoomed(window):
    # Play looping back from a far blend, or Clear after a bend that grew the shape, left it a speck in the middle
    # of the view until R; a zoom of the user's own stays as they set it
    view = window.view
    set_shape(window, TIME, 0.5)
    view.frame_shape()
    grid = view.last_grid
    middle = grid.reshape(-1, 3).mean(axis=0)

    def extent():
        return np.abs(view.view_coordinates()[0]).max()

    filled = extent()
    view.request(lambda: middle + (grid - middle) / 5, follow=True)
    view.flush()
    assert 0.6 * filled < extent() <= 1.0
    view.request(lambda: grid, follow=True)  # back to its size: the view backs out again
    view.flush()
    assert not view.outside_view()
    # a small shape off the view's middle (a bend that grew it, set back to 0) is framed again too
    offset = (grid - middle) / 5 + middle + 0.6 * (grid.reshape(-1, 3).max(axis=0) - grid.reshape(-1, 3).min(axis=0))
    view.request(lambda: offset, follow=True)
    view.flush()
    shown = view.view_coordinates()[0]
    assert (shown.max(axis=0) - shown.min(axis=0)).max() / 2 > 0.3 * filled and not view.outside_view()
    view.request(lambda: grid, follow=True)
    view.flush()
    framed = view.plotter.camera_position
    view.request(lambda: middle + (grid - middle) * 1e-6, follow=True)  # collapsed to a speck: not zoomed into
    view.flush()
    assert view.plotter.camera_position == framed
    view.request(lambda: grid, follow=True)
    view.flush()
    view.plotter.camera.zoom(0.5)  # the user zooms out
    view.render()
    view.request(lambda: middle + (grid - middle) / 5, follow=True)
    view.flush()
    assert extent() < 0.3 * filled


def test_three_templates_chip_and_bends(make_window, tmp_path):
    """A leaf of three templates: the chip follows the K weights; the pad has no blend to shade."""
    import grc
    from grc import load_template_set

    config = grc.Config.from_preset("default", steps=60, template_steps=40, template_lbfgs_steps=0, refine_steps=0,
                                    batch_size=64, refine_samples=64)
    model = grc.train(load_template_set(REPO / "templates" / "leaf"), config, device="cpu")
    model.save(tmp_path / "leaf.grc")
    window = make_window(tmp_path / "leaf.grc")
    assert len(window.explore_panel.blend_sliders) == 3
    window.state.set_blend([0.2, 0.3, 0.5])
    window.draw_now()
    assert window.explore_panel.chip.text().startswith(("between templates", "strained", "broken"))
    window.state.set_blend([-0.5, 0.5, 1.0])
    window.draw_now()
    assert not window.explore_panel.chip.text().startswith("between")
    assert window.beyond.wait_for_bands() is None and window.explore_panel.pad.band_polygons() == []
    row = window.bend_panel.add_bend()
    row.amount.setValue(2.0)
    window.draw_now()
    look = window.bend_panel.look()
    expected = look.shape(window.doc.model, window.state.time, window.state.blend)
    np.testing.assert_allclose(window.view.vertices(), mesh_of(window, expected), atol=1e-6)


def test_a_loaded_looks_random_fraction_is_what_its_menu_item_applies(window):
    # the units menu shows a loaded look's own fraction; choosing another item and that one again must apply
    # the fraction shown (it used to apply the panel's default 30 % under a "random 50 %" label)
    window.bend_panel.set_look(Look([Bend("scale", 0, {"fraction": 0.5, "seed": 1}, amount=1.7, strength=0.8)]))
    row = window.bend_panel.rows[0]
    row.units.setCurrentIndex(0)
    assert row.bend().units == "all"
    row.units.setCurrentIndex(1)
    assert row.units.currentText() == "random 50 %" and row.bend().units == {"fraction": 0.5, "seed": 1}
    row.layer.setCurrentIndex(1)  # another layer: the menu starts afresh, label and value together
    row.units.setCurrentIndex(1)
    assert row.bend().units["fraction"] * 100 == float(row.units.currentText().split()[1])


def test_a_bent_shape_is_not_called_between_templates(window):
    # a gentle bend at blend 0.5: coherent, and the chip says it is bent, not "between templates"
    set_shape(window, TIME, 0.5)
    window.beyond.run_check()
    assert window.explore_panel.chip.text().startswith("between templates")
    window.bend_panel.set_look(Look([Bend("scale", 0, amount=1.05, strength=0.5)]))
    window.draw_now()
    window.beyond.run_check()
    assert window.beyond.check.verdict == "coherent"
    assert window.explore_panel.chip.text().startswith("bent: coherent")
    window.bend_panel.rows[0].strength.setValue(0)  # strength 0 changes nothing: between templates again
    window.beyond.run_check()
    assert window.explore_panel.chip.text().startswith("between templates")


def test_while_play_runs_the_chip_follows_each_frame_and_the_safe_range_waits(window, qtbot):
    # a walkthrough found the chip, the red faces and the safe range frozen at the frame Play started from
    model, panel, chip = window.doc.model, window.explore_panel, window.explore_panel.chip
    coherence = Coherence.for_model(model, subdivide=2)
    set_shape(window, 0.3, BROKEN_BLEND)
    window.beyond.wait_for_bands()
    assert "safe at this time" in panel.blend_range.text()
    start = chip.text()
    panel.play.setChecked(True)
    qtbot.waitUntil(lambda: window.state.time > 0.6, timeout=5000)
    panel.play_timer.stop()  # no more frames; the last one's check is due now, not once the shape holds still
    for _ in range(3):
        qtbot.wait(1)
    time = window.state.time
    expected = coherence.check(model.shape(time, BROKEN_BLEND), time)
    assert chip.novelty == pytest.approx(expected.novelty) and chip.verdict == expected.verdict and not chip.waiting
    assert chip.text() != start
    assert "safe range once time holds still" in panel.blend_range.text()  # not time 0.3's range
    panel.play.setChecked(False)
    window.beyond.wait_for_bands()
    (low, high), = safe_blend_ranges(model, coherence, times=[time]).values()  # (the pad reaches as far)
    assert f"safe at this time: {max(low, -1.5):g} to {min(high, 2.5):g}" in panel.blend_range.text()


def test_the_chip_greys_while_the_shape_moves(window):
    chip = window.explore_panel.chip
    set_shape(window, TIME, 0.5)
    assert not chip.waiting and "white" in chip.styleSheet()
    window.state.set_blend(0.6)  # moved: the check waits until the shape holds still
    assert chip.waiting and chip.text().startswith("between templates")
    window.beyond.run_check()
    assert not chip.waiting


def test_a_broken_shape_is_tagged_where_it_breaks(window):
    view = window.view
    set_shape(window, TIME, BROKEN_BLEND)
    label = view.broken_label
    assert label is not None and label.GetVisibility()
    assert view.broken_actor.prop.show_edges and view.broken_actor.prop.line_width >= 3  # a sliver still shows
    set_shape(window, TIME, 0.5)
    assert view.broken_label is None and not view.broken_actor.GetVisibility()


def test_the_safe_range_comes_back_when_the_time_does(window, qtbot):
    # a review found it stuck on "once time holds still" after a nudge of the time and back
    panel = window.explore_panel
    set_shape(window, 0.3, 0.5)
    window.beyond.wait_for_bands()
    said = panel.blend_range.text()
    assert "safe at this time" in said
    window.state.set_time(0.4)
    assert "once time holds still" in panel.blend_range.text()
    window.state.set_time(0.3)
    qtbot.waitUntil(lambda: panel.blend_range.text() == said, timeout=5000)


def test_pressing_above_the_plot_does_not_jump_the_blend(window, drag):
    pad = window.explore_panel.pad
    pad.resize(500, 300)
    window.state.set_blend(0.5)
    pad.refresh()
    x = int(pad.to_screen(pad.morph[-1], 0).x())
    start = QPoint(x, int(pad.plot_rect().top()) - 12)  # in the legend's row, above the plot
    drag(pad, [start, start + QPoint(0, 1)])
    assert abs(window.state.blend - 0.5) < 0.05


def test_a_rewrite_that_breaks_many_blends_says_so(window):
    # a walkthrough: one rewrite drag broke most of the weight triangle while the meter by the point still said
    # "between templates"; nothing said what had happened, nor how to take it back
    beyond, bar = window.beyond, window.statusBar()
    window.state.set_time(TIME)
    original = window.doc.model
    before = beyond.wait_for_bands()
    share = np.mean(before["codes"] == 2)
    small = rewrite(original, TIME, 0.5, (3, 3), original.shape(TIME, 0.5)[3, 3] + [0, 0, 0.002])
    beyond.replace_model(small, "Rewrite point (3, 3)")
    after = beyond.wait_for_bands()
    assert after["model"] is small and np.mean(after["codes"] == 2) - share < 0.1
    assert "breaks" not in bar.currentMessage()
    big = rewrite(small, TIME, 0.5, (3, 3), small.shape(TIME, 0.5)[3, 3] + [0, 0, 0.6])
    beyond.replace_model(big, "Rewrite point (3, 3)")
    after = beyond.wait_for_bands()
    now = np.mean(after["codes"] == 2)
    assert after["model"] is big and now - share >= 0.1, (share, now)
    message = bar.currentMessage()
    assert message.startswith("Rewrite point (3, 3) breaks ") and f"{now:.0%}" in message and "Ctrl+Z" in message
    window.history.undo()  # taken back: the message that said how goes, and the bar says what Undo did
    assert window.doc.model is not big and bar.currentMessage() == "Undo Rewrite point (3, 3)"


def test_turning_rewrite_on_shows_the_points_to_drag(window):
    # a walkthrough pressed on the surface with the control grid off: the camera turned, nothing said why
    panel, explore = window.rewrite_panel, window.explore_panel
    explore.grid.setChecked(False)
    panel.mode.setChecked(True)
    assert explore.grid.isChecked() and window.state.show_grid
    assert "control grid" in window.statusBar().currentMessage()
    panel.mode.setChecked(False)
    window.bend_panel.add_bend(Bend("scale", 0, "all", 1.1))  # with bends: says why a drag cannot be done
    panel.mode.setChecked(True)
    assert "clear the bends" in window.statusBar().currentMessage()


def test_a_look_change_takes_the_old_safe_range_away_until_its_own_is_in(window):
    panel = window.explore_panel
    window.state.set_time(TIME)
    window.beyond.wait_for_bands()
    assert "safe at this time" in panel.blend_range.text()
    window.bend_panel.add_bend(Bend("scale", 0, "all", 1.2))  # another shape: the range said was the plain one's
    assert "safe range once time holds still" in panel.blend_range.text()
    assert panel.blend_sliders[0].band is None
    bands = window.beyond.wait_for_bands()
    assert bands is not None and panel.safe == bands["safe"]


def test_a_resize_frames_the_shape_again_until_the_user_moves_the_camera(window, qtbot):
    # the leaf, framed before the window took its size, touched the view's edge after a resize until R
    view = window.view
    set_shape(window, TIME, 0.5)
    view.frame_shape()
    filled = np.abs(view.view_coordinates()[0]).max()
    window.resize(1024, 640)  # the view gets narrower
    qtbot.waitUntil(lambda: abs(np.abs(view.view_coordinates()[0]).max() - filled) < 0.02, timeout=3000)
    assert not view.outside_view(edge=0.95)
    framed = view.plotter.camera_position
    view.plotter.camera.azimuth = view.plotter.camera.azimuth + 30  # the user orbits: the view is theirs now
    view.render()
    turned = view.plotter.camera_position
    assert turned != framed
    window.resize(1100, 700)
    qtbot.wait(100)
    assert view.plotter.camera_position == turned
