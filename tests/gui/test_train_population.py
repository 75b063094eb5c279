"""The Train tab's population: a tiny 2 x 2 population trains from the tab, its cells shown by score."""

import grc
from grc.population import REFINE_CELLS
from gui.app import TABS
from gui.train_panel import score_colour

TINY = dict(steps=401, template_steps=40, template_lbfgs_steps=0, refine_steps=10, batch_size=64, refine_samples=64)


def test_a_population_trains_from_the_train_tab_and_shows_each_cell(window, qtbot, files, tmp_path):
    model_path, _ = files
    panel = window.train_panel
    window.tabs.setCurrentIndex(TABS.index("train"))
    assert not panel.cell_box.isVisible() and panel.population() is None  # a single training by default
    panel.set_population((2, 2))
    assert panel.cell_box.isVisible() and panel.rows.isEnabled()
    assert panel.population() == (2, 2)
    window.train_config = grc.Config.from_preset("default", **TINY)

    shown = []
    window.training.cells.connect(lambda step, total, scores: shown.append((step, tuple(scores))))
    screenshots = []

    def screenshot_at_first_exchange(step, total, scores):
        if len(screenshots) == 0:
            screenshots.append(window.save_screenshot(tmp_path / "train-population.png"))
            import os, shutil
            if os.environ.get("GRC_TEST_SCREENSHOTS"):  # to look at by eye
                shutil.copy(screenshots[-1], os.environ["GRC_TEST_SCREENSHOTS"])

    window.training.cells.connect(screenshot_at_first_exchange)
    panel.start.click()
    assert window.worker is not None and not panel.rows.isEnabled() and not panel.mode.isEnabled()
    assert panel.cell_grid.scores is None  # grey until the first exchange
    qtbot.waitUntil(lambda: window.worker is None, timeout=120000)

    # 401 steps, an exchange every 200: two exchanges, the end's scores, then the scores after the refine
    # (a two-template set's refine has shapes beyond the templates, so the best REFINE_CELLS cells are refined
    # one after another, refine_steps 10 each: 30 of 30; the kept cell is the best of these); the display
    # shows the last
    assert [step for step, _ in shown] == [200, 400, 401, REFINE_CELLS * 10]
    assert all(len(scores) == 4 for _, scores in shown)
    assert panel.cell_grid.scores == shown[-1][1]
    best = min(range(4), key=shown[-1][1].__getitem__)
    assert panel.cell_grid.best() == best and f"best cell {best}" in panel.cell_note.text()
    colours = panel.cell_grid.colours()
    assert colours[best] == score_colour(0.0)  # the best is the green one
    assert len({c.name() for c in colours}) > 1

    model = window.doc.model
    assert model.info["population"]["grid"] == [2, 2] and model.info["population"]["best"] == best
    assert "population 2 x 2" in panel.result.text()
    saved = grc.load_model(model_path)
    assert saved.info["population"]["best"] == best and saved.shape(0.5, 0.5).shape == saved.shape(0.5, 0.0).shape
    assert panel.start.isEnabled() and panel.rows.isEnabled()


def test_the_cell_display_updates_at_each_exchange(window, qtbot):
    panel = window.train_panel
    panel.set_population((2, 3))
    panel.set_running(True)
    assert panel.cell_grid.grid == (2, 3) and panel.cell_grid.scores is None
    window.training.cells.emit(200, 1000, (5.0, 4.0, 3.0, 2.0, 1.0, 6.0))
    assert panel.cell_grid.best() == 4 and panel.cell_grid.exchanges == 1
    first = panel.cell_grid.grab().toImage()
    window.training.cells.emit(400, 1000, (1.0, 4.0, 3.0, 2.0, 5.0, 6.0))
    assert panel.cell_grid.best() == 0 and panel.cell_grid.exchanges == 2
    assert "step 400 of 1000" in panel.cell_note.text()
    assert panel.cell_grid.grab().toImage() != first  # repainted with the new colours
    panel.set_running(False)


def test_the_cell_grid_follows_the_size_chosen_and_1x1_says_it_is_one_training(window):
    panel = window.train_panel
    panel.set_population((3, 3))
    panel.rows.setValue(2)
    assert panel.cell_grid.grid == (2, 3)  # drawn as chosen, before Train (it kept the old size)
    panel.rows.setValue(1)
    panel.cols.setValue(1)
    assert panel.population() is None and "one training" in panel.cell_note.text()


def test_the_beyond_setting_trains_three_templates_on_shape_space_blends_and_two_as_the_default(window):
    # issue 11: three or more templates are taught linear blends beyond them by default; an artist in the app can
    # ask for what `--set refine_extrapolation_targets=shape-space --set pair_mixes=0.33` gives on the command line
    # (the Train tab's config is quality_config of the choice)
    from gui.train_panel import QUALITIES, quality_config

    combo = window.train_panel.quality
    name = next(n for n in QUALITIES if n.startswith("beyond"))
    assert combo.findText(name) >= 0 and "three or more templates" in combo.toolTip()
    beyond, default = quality_config(name), quality_config(combo.itemText(0))
    assert not beyond.linear_targets(3) and beyond.pair_mixes > 0
    assert default.linear_targets(3) and default.extrapolations(3) > 0 and default.pair_mixes == 0
    assert beyond.extrapolations(2) == default.extrapolations(2)  # two templates: the same training
    assert not beyond.linear_targets(2) and not default.linear_targets(2)


def test_the_bar_goes_on_from_the_refine_into_repair_rounds_and_names_them(window):
    # issue 11: after the refine, a training may run repair rounds (each REPAIR_STEPS long); the bar does not
    # jump back when one starts, and the phase line says what is going on
    panel = window.train_panel
    panel.set_running(True)
    window.training.progress.emit("refine", 150, 150, 0.01)
    end_of_refine = panel.bar.value()
    for step in (0, 20, 50):
        window.training.progress.emit("repair", step, 50, 0.01)
        assert panel.bar.value() >= end_of_refine
    assert panel.bar.value() == 1000 and "repairing broken blends" in panel.phase.text()
    panel.set_running(False)
