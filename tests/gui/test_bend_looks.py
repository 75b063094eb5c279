"""Looks in the Bend panel (Explore) as `grc export --look` reads them: a look that does not fit the model is
refused whole, naming its file and field; a look's context path becomes the pad's drawn path and a drawn
path is saved with the look (the shape on screen is Look.shape, to 1e-6); a loaded look's units show as
the look says them."""

import json

import numpy as np
import pytest
from PyQt5.QtWidgets import QFileDialog

from grc.diverge.bend import Bend, Look, cluster_regions, load_look

TIME = 0.8


def write_look(tmp_path, name, **look):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"format": "grc-look/1", "name": name, **look}))
    return path


def click_load(window, monkeypatch, path):
    """Load look… as a user does it: the button, the file chosen in the dialog."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    window.bend_panel.load.click()
    window.draw_now()


@pytest.mark.parametrize("look, field", [
    # units past layer 1's width (128 units): it used to apply, then every shape raised ("unexpected error")
    ({"bends": [{"op": "ablate", "layer": 1, "units": [3, 40, 130]}]}, "bends[0].units"),
    # a layer the model lacks: it used to become a morph-input bend, and Save look… wrote "layer": "morph"
    ({"blend": [0.5], "bends": [{"op": "scale", "layer": 5, "amount": 1.2}]}, "bends[0].layer"),
    # three weights on the two-template petal: the bends used to apply under a "Cannot load" dialog
    ({"blend": [0.2, 0.3, 0.5], "bends": [{"op": "scale", "layer": 0, "amount": 1.1}]}, "blend"),
    # a context path of another number of rows
    ({"context": [[0.9]] * 3, "bends": [{"op": "scale", "layer": 0, "amount": 1.1}]}, "context"),
])
def test_a_look_that_does_not_fit_the_model_changes_nothing(window, dialogs, monkeypatch, tmp_path, look, field):
    panel, state = window.bend_panel, window.state
    state.set_time(TIME)
    state.set_blend(0.7)
    panel.add_bend(Bend("offset", 0, {"fraction": 0.5, "seed": 3}, amount=0.2, strength=0.6))
    window.draw_now()
    before, shape = panel.look().to_json(), window.beyond.grid().copy()
    path = write_look(tmp_path, "other", **look)

    click_load(window, monkeypatch, path)
    assert len(dialogs["warning"]) == 1
    title, message = dialogs["warning"][0]
    assert title == "Cannot load the look" and message.startswith(f"{path}: {field}: ")
    assert panel.look().to_json() == before and state.blend == 0.7 and state.path is None
    np.testing.assert_array_equal(window.beyond.grid(), shape)
    state.set_blend(0.4)  # the app goes on: no error on the next moves
    window.draw_now()
    assert len(dialogs["warning"]) == 1
    saved = load_look(panel.save_look(tmp_path / "saved.json"))
    assert [b.to_json() for b in saved.bends] == before["bends"]


def test_the_command_line_and_the_app_refuse_the_same_look(window, tmp_path):
    """The message the app shows is the one `grc export --look` prints (one line: file, field, expected)."""
    import grc

    path = write_look(tmp_path, "wide", bends=[{"op": "ablate", "layer": 1, "units": [3, 40, 130]}])
    with pytest.raises(grc.GRCError) as app:
        window.bend_panel.load_look(path)
    with pytest.raises(grc.GRCError) as library:
        load_look(path).shape(window.doc.model, TIME)
    assert str(app.value) == str(library.value) == (
        f"{path}: bends[0].units: layer 1 of this model's decoder has 128 units (0 to 127), got 130")


def test_a_looks_context_path_is_the_pads_drawn_path(window, monkeypatch, tmp_path, dialogs):
    model = window.doc.model
    window.state.set_time(TIME)
    rows = len(model.morph_samples())
    context = (model.context(TIME, 0.5) + 0.3 * np.sin(np.linspace(0, 3, rows))[:, None]).tolist()
    for own in (context, [0.9]):  # a path over the rows, or one context for every row
        path = write_look(tmp_path, "ctx", context=own, bends=[{"op": "scale", "layer": 0, "amount": 1.2}])
        click_load(window, monkeypatch, path)
        assert dialogs["warning"] == []
        assert window.state.path is not None  # shown on the pad as the drawn path
        assert window.explore_panel.pad.path is not None
        expected = load_look(path).shape(model, TIME)  # what `grc export --look` makes
        np.testing.assert_allclose(window.beyond.grid(), expected, atol=1e-6)
        np.testing.assert_allclose(window.state.context(), np.broadcast_to(own, (rows, 1)), atol=1e-6)
    # its blend (when it has one) is the blend under the path
    path = write_look(tmp_path, "both", blend=[1.2], context=context, bends=[])
    click_load(window, monkeypatch, path)
    assert window.state.blend == 1.2
    np.testing.assert_allclose(window.beyond.grid(), load_look(path).shape(model, TIME), atol=1e-6)


def test_save_look_writes_the_drawn_path(window, tmp_path):
    model, state = window.doc.model, window.state
    state.set_time(TIME)
    state.set_blend(0.5)
    drawn = state.blend_context(state.pad_morph())
    drawn[:, 0] += np.linspace(0.0, 0.4, len(drawn)) ** 2  # a path drawn on the pad
    state.set_path(drawn)
    window.bend_panel.add_bend(Bend("scale", 0, amount=1.2))
    window.draw_now()
    shown, at_rows = window.beyond.grid().copy(), state.context()
    assert np.abs(shown - Look([Bend("scale", 0, amount=1.2)]).shape(model, TIME, 0.5)).max() > 1e-3
    path = window.bend_panel.save_look(tmp_path / "with-path.json")
    look = load_look(path)
    assert look.context is not None
    np.testing.assert_allclose(look.shape(model, TIME), shown, atol=1e-6)  # `grc export --look` at this time
    state.set_blend(0.2)  # loaded again: the same shape, the path on the pad again (as the look keeps it:
    window.bend_panel.load_look(path)  # at the shape's rows)
    window.draw_now()
    np.testing.assert_allclose(window.beyond.grid(), shown, atol=1e-6)
    assert state.path is not None
    np.testing.assert_allclose(state.context(), at_rows, atol=1e-6)


def test_a_loaded_looks_units_show_as_the_look_says(window, monkeypatch, tmp_path):
    model = window.doc.model
    path = write_look(tmp_path, "units", blend=[0.5], bends=[
        {"op": "ablate", "layer": 1, "units": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]},
        {"op": "ablate", "layer": 1, "units": {"cluster": 7, "clusters": 8, "seed": 2}},
        {"op": "scale", "layer": 0, "units": [3, 40, 57, 90], "amount": 1.3},
        {"op": "scale", "layer": 0, "units": {"cluster": 2, "clusters": 6, "seed": 0}, "amount": 1.3},
        {"op": "scale", "layer": 0, "units": "all", "amount": 1.01}])
    click_load(window, monkeypatch, path)
    rows = window.bend_panel.rows
    name = cluster_regions(model, 1, 8, 2, blend=0.5)[7]["name"]
    assert [r.units.currentText() for r in rows] == [
        "units 0–9", f"cluster 7 of 8 (seed 2): {name}", "units 3, 40, 57, 90",
        f"cluster 2: {cluster_regions(model, 0, 6, 0, blend=0.5)[2]['name']}", "all units"]
    look = load_look(path)
    assert [b.to_json() for b in window.bend_panel.look().bends] == [b.to_json() for b in look.bends]
    np.testing.assert_allclose(window.beyond.grid(), look.shape(model, window.state.time), atol=1e-9)
    # another entry and back: the look's own units again, not the entry's neighbour
    rows[1].units.setCurrentIndex(0)
    assert rows[1].bend().units == "all"
    rows[1].units.setCurrentIndex(rows[1].units.count() - 1)
    assert rows[1].bend().units == {"cluster": 7, "clusters": 8, "seed": 2}


def test_every_cluster_in_the_units_list_has_a_name_of_its_own(window):
    """The petal's layer 0 listed "middle, whole width" for five of its six clusters: each is listed once, named
    by where and how it moves the shape."""
    model = window.doc.model
    for layer in (0, 1):
        row = window.bend_panel.add_bend(Bend("scale", layer, "all", 1.5))
        regions = cluster_regions(model, layer, 6, 0, blend=0.5)
        names = [row.units.itemText(i).split(": ", 1)[1] for i in range(2, row.units.count())]
        assert len(names) == 6 and len(set(names)) == 6
        assert names == [r["name"] for r in regions]  # (grc.diverge.bend.cluster_regions names them so)
    assert all(" — " in name for name in names)


def test_a_long_unit_list_is_cut_with_its_count():
    from gui.bend_panel import UNITS_TEXT, units_text

    assert units_text([0, 1, 2, 3, 7, 9, 10]) == "units 0–3, 7, 9–10"
    text = units_text(list(range(0, 128, 2)))
    assert text.endswith(", … (64 units)") and text.startswith("units 0, 2, 4") and len(text) < UNITS_TEXT + 14


def test_grc_studio_look_that_does_not_fit_is_one_line_and_applies_nothing(make_window, files, tmp_path, capsys):
    """`grc studio MODEL --look wide.json --screenshot x.png`: the look's file and field, exit 2, no bend."""
    from PyQt5.QtWidgets import QApplication

    from gui.app import _run

    window = make_window()
    path = write_look(tmp_path, "wide", bends=[{"op": "ablate", "layer": 1, "units": [3, 40, 130]}])
    capsys.readouterr()
    assert _run(QApplication.instance(), window, str(files[0]), str(tmp_path / "shot.png"), None, None, False,
                None, str(path)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"grc studio: {path}: bends[0].units: ") and len(err.splitlines()) == 1
    assert window.bend_panel.rows == [] and window.beyond.active_look() is None


def test_clear_and_load_look_are_undone_and_redone_with_the_keyboard(window, qtbot, monkeypatch, tmp_path):
    """Clear and Load look… could not be undone: Ctrl+Z undid whatever came before them."""
    from PyQt5.QtCore import Qt

    def key(k, modifiers=Qt.ControlModifier):
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=2000)
        qtbot.keyClick(window.tabs, k, modifiers)
        window.draw_now()

    panel, beyond = window.bend_panel, window.beyond
    window.state.set_time(TIME)
    plain = beyond.grid()
    path = write_look(tmp_path, "curl", blend=[0.5], bends=[{"op": "scale", "layer": 0, "amount": 1.7,
                                                              "strength": 0.8}])
    click_load(window, monkeypatch, path)
    bent = window.view.vertices()
    assert np.abs(beyond.grid() - plain).max() > 1e-3 and window.history.undo_action.text() == "Undo Load look curl.json"
    qtbot.mouseClick(panel.clear, Qt.LeftButton)
    window.draw_now()
    assert not panel.rows and np.allclose(beyond.grid(), plain)
    key(Qt.Key_Z)  # the Clear undone: the look's bend is back, in the rows and on screen
    assert [b.to_json() for b in panel.look().bends] == [b.to_json() for b in load_look(path).bends]
    np.testing.assert_allclose(window.view.vertices(), bent, atol=1e-9)
    key(Qt.Key_Z)  # the load undone
    assert not panel.rows and np.allclose(beyond.grid(), plain)
    key(Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # redo the load
    np.testing.assert_allclose(window.view.vertices(), bent, atol=1e-9)
    key(Qt.Key_Y)  # and the Clear
    assert not panel.rows and np.allclose(beyond.grid(), plain)
    # a drag of a strength slider is one step
    key(Qt.Key_Z)
    slider = panel.rows[0].strength
    slider.sliderPressed.emit()
    for value in (90, 60, 30):
        slider.setValue(value)
    assert panel.look().bends[0].strength == 0.3
    key(Qt.Key_Z)
    assert panel.look().bends[0].strength == 0.8
    np.testing.assert_allclose(window.view.vertices(), bent, atol=1e-9)


def test_a_bends_values_show_without_trailing_zeros(window, monkeypatch, tmp_path):
    """The amount box said "amount 1.50" (a loaded look's 2: "amount 2.00") and the strength "0.80", where the
    time, blend and weight boxes say 0.85 and 2."""
    panel = window.bend_panel
    row = panel.add_bend()
    assert row.amount.text() == "amount 1.5" and row.strength_label.text() == "1"
    path = write_look(tmp_path, "two", bends=[{"op": "scale", "layer": 0, "amount": 2, "strength": 0.8},
                                              {"op": "offset", "layer": 1, "amount": 0.25, "strength": 0.05}])
    click_load(window, monkeypatch, path)
    assert [(r.amount.text(), r.strength_label.text()) for r in panel.rows] == [("amount 2", "0.8"),
                                                                                  ("amount 0.25", "0.05")]
    panel.rows[0].strength.setValue(150)
    assert panel.rows[0].strength_label.text() == "1.5"


def test_loading_a_look_says_so_in_the_status_bar(window, monkeypatch, tmp_path):
    """Load look… changed the shape without a word; opening a model says "Opened …"."""
    path = write_look(tmp_path, "curl", bends=[{"op": "scale", "layer": 0, "amount": 1.2}])
    click_load(window, monkeypatch, path)
    assert window.statusBar().currentMessage() == f"Loaded the look {path}"


def test_add_bend_starts_at_a_strength_that_keeps_the_shape_whole(make_window, qtbot, tmp_path):
    """Add bend's scale 1.5 on layer 0 broke the leaf at once, at every time: the click now takes the strongest
    of 1.5, 1.3, 1.2, 1.1, 1.05 that keeps the shape on screen whole, and says so; the petal keeps 1.5."""
    from PyQt5.QtCore import Qt

    import grc
    from grc import load_template_set
    from grc.coherence import Coherence
    from gui.bend_panel import DEFAULT_AMOUNTS

    REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
    config = grc.Config.from_preset("default", steps=60, template_steps=40, template_lbfgs_steps=0, refine_steps=0,
                                    batch_size=64, refine_samples=64)
    model = grc.train(load_template_set(REPO / "templates" / "leaf"), config, device="cpu")
    model.save(tmp_path / "leaf.grc")
    window = make_window(tmp_path / "leaf.grc")
    window.state.set_time(1.0)
    window.state.set_blend([0.3, 0.4, 0.3])
    window.draw_now()
    coherence = Coherence.for_model(model, subdivide=2)
    time, blend = window.state.time, window.state.blend
    strong = Look([Bend("scale", 0, "all", DEFAULT_AMOUNTS[0])]).shape(window.doc.model, time, blend)
    assert coherence.broken(strong[None])[0]  # (this leaf breaks under the old default)
    qtbot.mouseClick(window.bend_panel.add, Qt.LeftButton)
    window.draw_now()
    bend = window.bend_panel.rows[0].bend()
    assert (bend.op, bend.layer, bend.units) == ("scale", 0, "all") and 1 < bend.amount < DEFAULT_AMOUNTS[0]
    assert not coherence.broken(window.beyond.grid()[None])[0]
    assert not window.explore_panel.chip.text().startswith("broken")
    assert f"scale {bend.amount:g}" in window.statusBar().currentMessage()


def test_add_bend_keeps_the_full_default_where_it_breaks_nothing(window, qtbot):
    from PyQt5.QtCore import Qt

    from gui.bend_panel import DEFAULT_AMOUNTS

    window.state.set_time(0.5)
    window.state.set_blend(0.5)
    window.draw_now()
    qtbot.mouseClick(window.bend_panel.add, Qt.LeftButton)
    assert window.bend_panel.rows[0].bend().amount == DEFAULT_AMOUNTS[0]


def test_rows_replaced_in_one_turn_leave_no_window_of_their_own(window, qtbot):
    """A row added and replaced before the event loop ran (Add bend, then Load look, in one turn) had a show
    queued by its layout: it then opened as a small window of its own beside the app."""
    from PyQt5.QtWidgets import QApplication

    panel = window.bend_panel
    rows = [panel.add_bend() for _ in range(3)]
    rows[0].strength.setValue(50)
    panel.set_look(Look([Bend("scale", 0, "all", 1.1)]))
    qtbot.wait(50)
    strays = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not window]
    assert strays == []


def test_bends_carried_to_a_model_of_another_grid_are_named_for_it(make_window, dialogs, qtbot, tmp_path):
    """A petal bend kept through Open template folder (leaf) and a training listed the petal's 7 x 7 clusters,
    and hovering one raised an IndexError (the leaf is 9 x 9). Then opening the petal while the leaf's broken
    shape showed raised in the 3D view (the leaf's broken faces put on the petal's mesh)."""
    import shutil

    import grc
    from grc import load_template_set
    from PyQt5.QtWidgets import QMessageBox

    REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
    window = make_window(REPO / "meshes" / "petal.grc")
    window.bend_panel.add_bend(Bend("scale", 0, {"cluster": 3, "clusters": 6, "seed": 0}, 1.05))
    shutil.copytree(REPO / "templates" / "leaf", tmp_path / "leaf")
    dialogs["answers"].append(QMessageBox.Discard)  # (the bends are in no look file)
    assert window.open(tmp_path / "leaf")
    config = grc.Config.from_preset("default", steps=60, template_steps=40, template_lbfgs_steps=0, refine_steps=0,
                                    batch_size=64, refine_samples=64)
    leaf = grc.train(load_template_set(tmp_path / "leaf"), config, device="cpu")
    window.doc.set_model(leaf)
    window.draw_now()
    row = window.bend_panel.rows[0]
    leaf_names = [r["name"] for r in cluster_regions(leaf, 0, 6, 0, blend=np.full(3, 1 / 3))]
    assert [row.units.itemText(i).split(": ", 1)[1] for i in range(2, 8)] == leaf_names
    row._hovered(2 + 3)  # hovering a cluster lights the leaf's points
    assert window.view.region_actor.GetVisibility()
    # a broken shape shown, then another model (another grid) opened: no error, and no red faces of the old one
    window.view.show_broken(list(range(10)), (33, 33))
    assert len(window.view.broken_faces)
    dialogs["answers"].append(QMessageBox.Discard)
    assert window.open(REPO / "meshes" / "petal.grc")
    window.draw_now()
    window.view.show_broken(list(range(10)), (33, 33))  # (a check of the leaf arriving late)
    assert len(window.view.broken_faces) == 0
    assert dialogs["warning"] == []
