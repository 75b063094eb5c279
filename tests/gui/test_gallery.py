"""The Gallery tab: a search fills the descriptor grid with coherent shapes; a click opens the exact
shape in Explore; Keep, Make template and More like this."""

import json

import numpy as np
from PyQt5.QtCore import QPoint, Qt

from grc.coherence import Coherence
from grc.diverge.blend import model_id
from grc.shapes import builder
from gui.app import TABS

BUDGET = 200


def searched(window, qtbot):
    gallery = window.gallery
    window.tabs.setCurrentIndex(TABS.index("gallery"))
    gallery.budget.setValue(BUDGET)
    qtbot.mouseClick(gallery.start, Qt.LeftButton)
    assert gallery.running
    qtbot.waitUntil(lambda: gallery.archive is not None, timeout=60000)
    return gallery


def test_gallery_fills_with_coherent_shapes_only(window, qtbot):
    gallery = searched(window, qtbot)
    tiles = gallery.grid.tiles
    assert len(tiles) >= 10 and gallery.errors == []
    assert gallery.bar.value() == 1000
    coherence = Coherence.for_model(window.doc.model, subdivide=1)
    for cell, tile in tiles.items():
        assert tile.verdict in ("coherent", "strained")
        assert np.isfinite(tile.grid).all()
        assert coherence.check(tile.grid, gallery.space.time).verdict != "broken"
        np.testing.assert_allclose(tile.grid, gallery.space.shape(tile.genome))
        assert not tile.image.isNull()
    assert set(tiles) == set(gallery.archive.elites)
    for cell, tile in tiles.items():  # each cell shows its final elite (a better one replaces a thumbnail)
        np.testing.assert_array_equal(tile.vector, gallery.archive.elites[cell]["vector"])


def test_a_click_opens_the_elites_exact_shape_in_explore(window, qtbot):
    gallery = searched(window, qtbot)
    cell = max(gallery.grid.tiles, key=lambda c: gallery.grid.tiles[c].novelty)
    tile = gallery.grid.tiles[cell]
    rect = gallery.grid.cell_rect(cell)
    qtbot.mouseClick(gallery.grid, Qt.LeftButton, pos=QPoint(int(rect.center().x()), int(rect.center().y())))
    assert gallery.grid.selected == cell
    window.draw_now()
    assert len(gallery.space.look.bends) >= 2  # the genome varies bend strengths too
    strengths = [row.bend().strength for row in window.bend_panel.rows]
    np.testing.assert_allclose(strengths, tile.genome.strengths)  # the Bend panel shows the shape's look
    shown = window.beyond.grid()  # the shape Explore shows, through its look
    size = np.ptp(tile.grid.reshape(-1, 3), axis=0).max()
    assert np.abs(shown - tile.grid).max() < 1e-9 * size  # the same shape (to rounding)
    s = window.state
    expected = builder(window.doc.model, None, s.subdivide, s.thickness, s.petals).build(tile.grid).vertices
    assert np.abs(window.view.vertices() - expected).max() < 1e-5 * size  # what the 3D view draws
    assert abs(window.state.time - gallery.space.time) < 1e-12


def test_the_search_varies_the_artists_own_bends(window, qtbot):
    from grc.diverge.bend import Bend

    window.bend_panel.add_bend(Bend("offset", 0, {"fraction": 0.5, "seed": 3}, amount=0.4, strength=1.0))
    gallery = searched(window, qtbot)
    assert [b.op for b in gallery.space.look.bends] == ["offset"]  # the look in the Bend panel, not the default
    strengths = {round(float(t.genome.strengths[0]), 6) for t in gallery.grid.tiles.values()}
    assert len(strengths) > 3  # the elites differ in that bend's strength
    tile = max(gallery.grid.tiles.values(), key=lambda t: t.novelty)
    gallery.open_cell(next(c for c, t in gallery.grid.tiles.items() if t is tile))
    assert [r.bend().op for r in window.bend_panel.rows] == ["offset"]
    np.testing.assert_allclose(window.beyond.grid(), tile.grid, atol=1e-9)


def test_make_template_keep_and_more_like_this(window, qtbot, files):
    gallery = searched(window, qtbot)
    cell = next(iter(gallery.grid.tiles))
    gallery.open_cell(cell)
    count = len(window.doc.templates)
    template = gallery.make_template()
    assert len(window.doc.templates) == count + 1 and window.doc.templates[-1] is template
    assert template.lineage["model"] == model_id(window.doc.model)
    assert template.lineage["source"] == "gallery" and "genome" in template.lineage
    assert window.doc.error is None
    window.tabs.setCurrentIndex(TABS.index("lineage"))  # the lineage view names the template's model
    texts = [item.text(0) for item in window.lineage.items()]
    at = next(i for i, t in enumerate(texts) if t.startswith(f"{template.name} · keep from gallery"))
    assert texts[at + 1].startswith(f"model {model_id(window.doc.model)} · train · petal.grc")
    window.tabs.setCurrentIndex(TABS.index("gallery"))
    window.doc.undo.undo()
    assert len(window.doc.templates) == count

    entry = gallery.keep_selected()
    kept = files[0].with_name("petal.kept.json")
    data = json.loads(kept.read_text())
    assert data["kept"][-1]["genome"] == entry["genome"] and gallery.kept_list.count() == 1

    parent = gallery.grid.tiles[cell]
    first = dict(gallery.grid.tiles)
    assert not gallery.back.isEnabled()
    assert gallery.more_like_this()
    assert not gallery.back.isEnabled()  # (not while it searches)
    qtbot.waitUntil(lambda: gallery.archive is not None, timeout=60000)
    assert len(gallery.grid.tiles) >= 3
    # children of the chosen shape: nearer to it in genome space than the first search's elites were
    spread = np.median([np.linalg.norm(t.vector - parent.vector) for t in gallery.grid.tiles.values()])
    assert spread < 1.5
    # Back: the first search's shapes again, the parent chosen (More like this left no way back to them)
    qtbot.waitUntil(gallery.back.isEnabled, timeout=10000)
    qtbot.mouseClick(gallery.back, Qt.LeftButton)
    assert gallery.grid.tiles == first and gallery.selected() is parent and not gallery.back.isEnabled()
    gallery.open_cell(cell)
    np.testing.assert_allclose(window.beyond.grid(), gallery.space.shape(parent.genome), atol=1e-5)

    gallery.model_changed()  # another model: the grid empties, the kept shapes are read back from the file
    assert gallery.grid.tiles == {} and gallery.kept_list.count() == 1
    gallery.open_kept(0)
    np.testing.assert_allclose(window.state.time, entry["time"])


def test_cancel_keeps_what_was_found(window, qtbot):
    gallery = window.gallery
    assert gallery.run(budget=5000, seed=1)
    qtbot.waitUntil(lambda: len(gallery.grid.tiles) > 0, timeout=60000)
    qtbot.mouseClick(gallery.cancel, Qt.LeftButton)
    qtbot.waitUntil(lambda: "Cancelled" in gallery.info.text(), timeout=60000)
    qtbot.waitUntil(lambda: gallery.start.isEnabled(), timeout=60000)  # ready for another search
    assert len(gallery.grid.tiles) > 0


def test_make_template_fits_a_set_that_gained_a_time_step(window, qtbot):
    """After Insert time step the set has more steps than the model: the gallery's template is made at the
    set's own steps (it came with the model's and turned the set red, unsavable)."""
    window.sketch.set(step=2)
    window.sketch.insert_step()
    gallery = searched(window, qtbot)
    gallery.open_cell(next(iter(gallery.grid.tiles)))
    template = gallery.make_template()
    assert template.grid_shape == window.doc.templates[0].grid_shape and window.doc.error is None


def test_a_model_without_context_opens_its_elites(make_window, qtbot, petal, tmp_path, dialogs):
    """A click on a tile of a model trained without context (context_dims 0) opens it in Explore (it hit the
    crash dialog on the path it has none of)."""
    import grc
    from grc_testing import small_config

    path = grc.train(petal, small_config(context_dims=0), device="cpu").save(tmp_path / "flat.grc")
    window = make_window(path)
    gallery = searched(window, qtbot)
    cell = next(iter(gallery.grid.tiles))
    tile = gallery.grid.tiles[cell]
    gallery.open_cell(cell)
    assert window.state.path is None and np.allclose(window.state.weights, tile.genome.weights)
    assert not dialogs["warning"] and not dialogs.get("critical")


def test_starting_a_search_in_a_short_window_keeps_cancel_in_sight(window, qtbot):
    """At 1024 x 640 clicking Search scrolled the Gallery down (the focus left the greyed Search button for the
    grid), so Cancel was out of sight and a click where it had been landed on the grid."""
    window.resize(1024, 640)
    window.tabs.setCurrentIndex(TABS.index("gallery"))
    gallery = window.gallery
    area = window.tabs.widget(TABS.index("gallery"))
    qtbot.wait(50)
    area.verticalScrollBar().setValue(0)
    gallery.budget.setValue(400)
    before = gallery.cancel.mapTo(area, gallery.cancel.rect().center())
    qtbot.mouseClick(gallery.start, Qt.LeftButton)
    assert gallery.running and gallery.cancel.isEnabled()
    qtbot.wait(50)
    assert area.verticalScrollBar().value() == 0
    assert gallery.cancel.mapTo(area, gallery.cancel.rect().center()) == before
    assert window.focusWidget() is gallery.cancel  # Space or Enter now cancels, as the button under the pointer
    qtbot.waitUntil(lambda: gallery.archive is not None, timeout=60000)
    assert area.verticalScrollBar().value() == 0  # nor when the search ends and Cancel greys out
    assert window.focusWidget() is gallery.start


def test_the_axes_say_their_edge_cells_hold_shapes_beyond_them(window, qtbot):
    gallery = searched(window, qtbot)
    (a0, a1), (c0, c1) = gallery.grid.bounds
    arch, cup = gallery.grid.axis_texts()
    assert arch.startswith(f"arch ≤{a0:.0f}° → ≥{a1:.0f}°") and cup.startswith(f"cup ≤{c0:.0f}° → ≥{c1:.0f}°")
    for cell, tile in gallery.grid.tiles.items():  # a shape beyond the bounds sits in an edge cell
        from grc.diverge.search import CELLS

        if tile.descriptors["arch"] < a0:
            assert cell[0] == 0
        if tile.descriptors["arch"] > a1:
            assert cell[0] == CELLS - 1


def test_the_searches_blend_ranges_are_the_sliders():
    from grc.diverge.search import BLEND_RANGE, TWO_RANGE
    from gui.state import BLEND_RANGE as SLIDER, WEIGHT_RANGE

    assert TWO_RANGE == SLIDER and BLEND_RANGE == WEIGHT_RANGE  # every shape found is one Explore can show
