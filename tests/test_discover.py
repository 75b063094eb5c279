"""Discover forms: the MAP-Elites archive, divergent fine-tuning with rollback, lineage (library + CLI)."""

import json
from pathlib import Path

import numpy as np
import pytest

import grc
from grc.cli import main
from grc.coherence import Coherence
from grc.diverge.finetune import diverge, save_checkpoints
from grc.diverge.rewrite import rewrite
from grc.diverge.search import descriptors, load_elite, save_archive, search
from grc_testing import ROOT

PETAL_MODEL = ROOT / "meshes" / "petal.grc"


@pytest.fixture(scope="module")
def model():
    return grc.load_model(PETAL_MODEL)


@pytest.fixture(scope="module")
def archive(model):
    return search(model, budget=400, seed=3)


def test_the_archive_never_holds_a_broken_shape(model, archive):
    found, space = archive
    assert len(found.elites) >= 20
    judge = Coherence.for_model(model, subdivide=1)
    for elite in found.elites.values():
        assert elite["verdict"] != "broken"
        assert judge.verdict(space.shape(elite["genome"]), space.time) != "broken"


def test_the_same_seed_gives_the_same_archive(model, archive):
    again, _ = search(model, budget=400, seed=3)
    first, _ = archive
    assert sorted(again.elites) == sorted(first.elites)
    for key in first.elites:
        assert np.allclose(again.elites[key]["vector"], first.elites[key]["vector"], atol=1e-9)
    other, _ = search(model, budget=400, seed=4)
    assert sorted(other.elites) != sorted(first.elites) or any(
        not np.allclose(other.elites[k]["vector"], first.elites[k]["vector"]) for k in first.elites)


def test_elites_sit_in_the_cells_of_their_descriptors(archive):
    found, space = archive
    for key, elite in found.elites.items():
        assert found.cell(descriptors(space.shape(elite["genome"]))) == key


def test_an_elite_exports_the_shape_the_gallery_shows(model, archive, tmp_path):
    found, space = archive
    save_archive(found, space, tmp_path / "search", PETAL_MODEL, 3, 400)
    data = json.loads((tmp_path / "search" / "archive.json").read_text())
    assert data["format"] == "grc-archive/1" and (tmp_path / "search" / "archive.png").stat().st_size > 10_000
    elite = data["elites"][5]
    key = tuple(elite["cell"])
    _, time, grid, _ = load_elite(tmp_path / "search", elite["id"])
    assert np.allclose(grid, space.shape(found.elites[key]["genome"]), atol=1e-12)
    out = tmp_path / "elite.obj"
    assert main(["export", str(PETAL_MODEL), "--elite", f"{tmp_path / 'search'}:{elite['id']}", "-o", str(out)]) == 0
    vertices = np.array([[float(v) for v in line.split()[1:]] for line in out.read_text().splitlines()
                         if line.startswith("v ")])
    assert np.allclose(vertices, np.stack([grid[..., 0], grid[..., 2], -grid[..., 1]], -1).reshape(-1, 3), atol=1e-5)
    assert main(["export", str(PETAL_MODEL), "--elite", f"{tmp_path / 'search'}:999", "-o", str(out)]) == 2
    # through another model an elite is another shape: refused, one line (it used to export it silently)
    other = rewrite(model, 0.8, 0.5, (5, 3), model.shape(0.8, 0.5)[5, 3] + [0, 0, 0.1]).save(tmp_path / "other.grc")
    assert main(["export", str(other), "--elite", f"{tmp_path / 'search'}:{elite['id']}", "-o", str(out)]) == 2
    assert main(["export", str(PETAL_MODEL), "--elite", f"{tmp_path / 'search'}:{elite['id']}", "--blend", "0.5",
                 "-o", str(out)]) == 2  # an elite has its own blend: a --blend would be ignored, so it is refused


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("look"), "look"), (lambda d: d.pop("time"), "time"), (lambda d: d.update(elites=5), "elites"),
    (lambda d: d["elites"][0].update(id=[0]), "elite"), (lambda d: d["elites"][0].update(blend=[1.0]), "blend"),
    (lambda d: d["elites"][0].update(path=d["elites"][0]["path"][:-1]), "path"),
    (lambda d: d.update(path_scale=-1e300), "path_scale")])
def test_a_damaged_archive_is_one_line_naming_its_field(archive, tmp_path, capsys, change, field):
    found, space = archive
    save_archive(found, space, tmp_path / "search", PETAL_MODEL, 3, 400)
    path = tmp_path / "search" / "archive.json"
    data = json.loads(path.read_text())
    first = data["elites"][0]["id"]
    change(data)
    path.write_text(json.dumps(data))
    capsys.readouterr()
    out = tmp_path / "elite.obj"
    assert main(["export", str(PETAL_MODEL), "--elite", f"{tmp_path / 'search'}:{first}", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"archive.json: {field}:" in err and not out.exists()


def test_a_search_that_cannot_write_its_contact_sheet_leaves_the_earlier_archive_whole(archive, tmp_path, monkeypatch):
    """Disk full while the contact sheet is written: archive.json and archive.png both stay the earlier
    search's (the new archive.json had already replaced the old, beside the old sheet)."""
    import errno

    from matplotlib.figure import Figure

    from grc.errors import WriteError

    found, space = archive
    folder = save_archive(found, space, tmp_path / "search", PETAL_MODEL, 3, 400).parent
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def full_disk(figure, path, **options):
        Path(path).write_bytes(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    again, again_space = search(space.model, budget=64, seed=4)
    with pytest.raises(WriteError, match="No space left") as error:
        save_archive(again, again_space, folder, PETAL_MODEL, 4, 64)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    # the line names the file the user asked for, not a hidden temporary one (contact_sheet wrote through a second
    # atomic write into the first's temporary file)
    assert error.value.path == folder / "archive.png" and ".tmp" not in str(error.value)


def test_divergent_fine_tuning_starts_at_the_model_and_moves_away(model, tmp_path):
    checkpoints = diverge(model, steps=40, every=20, seed=1)
    assert [c.step for c in checkpoints] == [0, 20, 40]
    assert checkpoints[0].model is model  # checkpoint 0 is the original: roll back to it exactly
    assert checkpoints[-1].novelty > checkpoints[0].novelty
    assert not np.allclose(checkpoints[-1].model.shape(0.8, 0.5), model.shape(0.8, 0.5), atol=1e-4)
    save_checkpoints(checkpoints, tmp_path / "div")
    table = json.loads((tmp_path / "div" / "diverge.json").read_text())["checkpoints"]
    assert [row["step"] for row in table] == [0, 20, 40]
    first = grc.load_model(tmp_path / "div" / table[0]["file"])
    assert np.allclose(first.shape(0.8, 0.5), model.shape(0.8, 0.5), atol=1e-6)
    # lineage survives saving and reopening: the checkpoint names the model it came from
    last = grc.load_model(tmp_path / "div" / table[-1]["file"])
    assert last.info["lineage"]["operation"] == "diverge" and last.info["lineage"]["step"] == 40
    from grc.diverge.blend import model_id
    assert last.info["lineage"]["parents"][0]["model"] == model_id(model)
    # a shorter run into the same folder leaves no checkpoint of the earlier one beside its own
    save_checkpoints(checkpoints[:2], tmp_path / "div")
    assert sorted(p.name for p in (tmp_path / "div").glob("checkpoint-*.grc")) == [row["file"] for row in table[:2]]


@pytest.mark.parametrize("which", ["petal", "leaf"])
def test_divergent_fine_tuning_moves_away_gently_whatever_the_model(model, which):
    """Adam moves every weight by about its learning rate, so how far a step moved the shapes depended on the
    model: the petal retrained with extrapolated shapes and a leaf broke at the first checkpoint (80-100 % of the
    measured shapes), where the app's Diverge promises novelty while coherence holds."""
    if which == "leaf":
        config = grc.Config.from_preset("default", steps=300, template_steps=40, template_lbfgs_steps=0,
                                        refine_steps=30, batch_size=64, refine_samples=64)
        model = grc.train(grc.load_template_set(ROOT / "templates" / "leaf"), config, device="cpu")
    checkpoints = diverge(model, steps=60, every=20, seed=0)
    assert all(c.broken <= checkpoints[0].broken + 0.25 for c in checkpoints), [c.broken for c in checkpoints]
    assert checkpoints[-1].novelty > checkpoints[0].novelty + 0.005  # and it does move away


def test_search_and_diverge_from_the_command_line(tmp_path, capsys):
    assert main(["search", str(PETAL_MODEL), "-o", str(tmp_path / "s"), "--budget", "128", "-q"]) == 0
    assert "elites" in capsys.readouterr().out
    assert main(["search", str(PETAL_MODEL), "-o", str(tmp_path / "s"), "--budget", "10"]) == 2
    assert main(["diverge", str(PETAL_MODEL), "-o", str(tmp_path / "d"), "--steps", "4", "--every", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "d").glob("*.grc")) == [
        "checkpoint-0000.grc", "checkpoint-0002.grc", "checkpoint-0004.grc"]


def test_a_kept_shape_becomes_a_template_that_remembers_where_it_came_from(model, tmp_path):
    from grc.diverge.bend import Bend, Look
    from grc.diverge.blend import model_id
    from grc.shapes import keep_as_template
    from grc.templates import save_templates

    look = Look([Bend("scale", 0, amount=1.2, strength=0.5)], name="swell")
    kept = keep_as_template(model, "petal-c", 1.4, look=look)
    assert kept.grid_shape == model.templates.grid_shape
    assert np.allclose(kept.points[4], look.shape(model, model.templates.time[4], 1.4), atol=1e-12)
    save_templates(tmp_path / "set", list(model.templates) + [kept])
    again = grc.load_templates(tmp_path / "set")  # the set trains with it: same map, same grid
    assert again.names == ["petal-a", "petal-b", "petal-c"]
    lineage = again.templates[2].lineage
    assert lineage["model"] == model_id(model) and lineage["blend"] == [1.4] and lineage["look"]["name"] == "swell"


def test_three_templates_elites_have_weights_the_app_can_show():
    """Each weight of a three-template search lay anywhere in [-5/3, 7/3] once made to sum to 1; the app's weight
    sliders stop at -1 and 2, and silently clamped a gallery shape's -1.33 to -1 (another shape)."""
    from grc.diverge.search import BLEND_RANGE, sum_to_one

    config = grc.Config.from_preset("default", steps=60, template_steps=40, template_lbfgs_steps=0, refine_steps=0,
                                    batch_size=64, refine_samples=64)
    leaf = grc.train(grc.load_template_set(ROOT / "templates" / "leaf"), config, device="cpu")
    found, space = search(leaf, budget=300, seed=0)
    weights = np.array([e["genome"].weights for e in found.elites.values()])
    assert len(weights) >= 5
    assert weights.min() >= BLEND_RANGE[0] - 1e-12 and weights.max() <= BLEND_RANGE[1] + 1e-12
    np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-12)
    # children that cross an end come back in (reflected), not all onto it: clipped, half the elites sat there
    pinned = np.any(np.isclose(weights, BLEND_RANGE[0]) | np.isclose(weights, BLEND_RANGE[1]), axis=1)
    assert pinned.mean() <= 0.25, pinned.mean()
    assert sum_to_one(np.array([2.0, 2.0, -1.0]), -1, 2) == pytest.approx([1.0, 1.0, -1.0])  # nearest in range
    assert sum_to_one(np.array([0.9, 0.3]), -1, 2) == pytest.approx([0.8, 0.2])  # inside: the plane's one shift


def test_two_templates_elites_reach_as_far_as_the_blend_slider(model, archive):
    from grc.diverge.search import TWO_RANGE, reflect

    found, _ = archive
    alpha = np.array([e["genome"].weights[1] for e in found.elites.values()])
    assert alpha.min() >= TWO_RANGE[0] - 1e-12 and alpha.max() <= TWO_RANGE[1] + 1e-12
    assert not np.isclose(alpha, TWO_RANGE[0]).any() and not np.isclose(alpha, TWO_RANGE[1]).any()
    assert (alpha < 0).any() and (alpha > 1).any()  # extrapolations are searched
    assert reflect(np.array([2.7, -1.6, 0.3]), -1.5, 2.5) == pytest.approx([2.3, -1.4, 0.3])


def test_a_coherent_shape_takes_its_cell_from_a_strained_one(model, archive):
    """Strained far-out shapes (novelty up to 6) took half the petal's cells from coherent ones; in a cell a
    coherent shape now wins whatever the novelty, so the gallery shows shapes an artist can use."""
    from grc.diverge.search import _insert

    found, _ = archive
    verdicts = [e["verdict"] for e in found.elites.values()]
    assert verdicts.count("coherent") >= 0.65 * len(verdicts), verdicts.count("coherent") / len(verdicts)  # (0.53 before)
    cell_of = next(iter(found.elites.values()))
    strained = dict(cell_of, verdict="strained", novelty=5.0)
    coherent = dict(cell_of, verdict="coherent", novelty=0.1)
    key = found.cell(cell_of["descriptors"])
    found.elites.pop(key)
    _insert(found, [strained, coherent], "templates")
    assert found.elites[key]["verdict"] == "coherent"
    _insert(found, [dict(strained, novelty=50.0)], "templates")
    assert found.elites[key]["verdict"] == "coherent"
