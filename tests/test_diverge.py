"""Divergence by hand: bends and looks, model blending, rewriting (library)."""

import json

import numpy as np
import pytest

import grc
from grc.diverge.bend import Bend, Look, bent_decode, cluster_regions, clusters, load_look, cluster_name, select_units
from grc.diverge.blend import blend_models, layer_names, model_id
from grc.diverge.rewrite import falloff, rewrite
from grc.coherence import Coherence

from grc_testing import ROOT

PETAL_MODEL = ROOT / "meshes" / "petal.grc"


@pytest.fixture(scope="module")
def model():
    return grc.load_model(PETAL_MODEL)


def relative(model, scale=0.05, seed=1):
    """A model whose decoder has drifted a little from `model` (a stand-in for a fine-tuned relative)."""
    rng = np.random.default_rng(seed)
    weights = {k: v + (scale * rng.standard_normal(v.shape) * np.abs(v).mean() if k.startswith("decoder") else 0)
               for k, v in model.weights.items()}
    return grc.GRCModel(model.config, model.templates, weights, model.info)


@pytest.mark.parametrize("bend", [
    Bend("scale", 0, amount=3.0), Bend("offset", 1, {"fraction": 0.5, "seed": 2}, amount=-1.0), Bend("invert", 1),
    Bend("ablate", 0, {"cluster": 1, "clusters": 4}), Bend("threshold", 1, amount=0.5),
    Bend("oscillate", 0, amount=2.0, frequency=3.0), Bend("shift", "time", amount=0.3), Bend("warp", "morph", amount=0.2),
])
def test_a_bend_of_strength_zero_changes_nothing(model, bend):
    plain = model.shape(0.6, 0.5)
    zero = Bend(**{**bend.to_json(), "strength": 0.0})
    assert np.array_equal(Look([zero], blend=0.5).shape(model, 0.6), plain)
    assert np.abs(Look([bend], blend=0.5).shape(model, 0.6) - plain).max() > 1e-3  # and at 1 it bends


def test_known_bends_give_known_shapes(model):
    morph = model.templates.morph
    context = model.context(0.55, 0.5)
    # Ablating every unit of the last hidden layer leaves the last layer's bias: every row the same.
    rows = bent_decode(model, np.full(len(morph), 0.55), morph, context, [Bend("ablate", 1)])
    last_bias = model.weights["decoder.2.bias"]
    expected = (last_bias * model.weights["row_scale"][0] + model.weights["row_mean"]).reshape(-1, 3)
    assert np.allclose(rows, expected, atol=1e-12)
    # Shifting time by a share of the axis is decoding at the shifted time, with the same context.
    span = model.templates.time[-1] - model.templates.time[0]
    shifted = bent_decode(model, np.full(len(morph), 0.55), morph, context, [Bend("shift", "time", amount=0.1)])
    assert np.allclose(shifted, model.decode(np.full(len(morph), 0.55 + 0.1 * span), morph, context), atol=1e-12)
    # Half strength of a scale by 3 is a scale by 2.
    half = bent_decode(model, np.full(len(morph), 0.55), morph, context, [Bend("scale", 0, amount=3.0, strength=0.5)])
    double = bent_decode(model, np.full(len(morph), 0.55), morph, context, [Bend("scale", 0, amount=2.0)])
    assert np.allclose(half, double, atol=1e-12)


def test_oscillation_animates_over_time(model):
    look = Look([Bend("oscillate", 0, amount=1.0, frequency=2.0)], blend=0.5)
    change = [np.abs(look.shape(model, t) - model.shape(t, 0.5)).max() for t in (0.1, 0.3, 0.55, 0.8)]
    assert len({round(c, 6) for c in change}) == 4  # a different bend at every time


def test_units_are_chosen_deterministically(model):
    labels = clusters(model, 1, 6, seed=0)
    assert labels.shape == (128,) and set(labels) == set(range(6))
    assert np.array_equal(labels, clusters(grc.load_model(PETAL_MODEL), 1, 6, seed=0))  # another copy, same clusters
    assert len(select_units(model, 0, {"fraction": 0.25, "seed": 3})) == 32
    regions = cluster_regions(model, 1, 6)
    assert sorted(u for r in regions for u in r["units"]) == list(range(128))
    assert all(r["region"].shape == (7, 7) and r["name"] for r in regions)
    # each name once, still saying where and how the cluster acts (an ordinal after a name another cluster has);
    # the names tell the petal's clusters apart: where "middle, whole width" named 9 of 12, one needs an ordinal
    ordinals = 0
    for layer in (0, 1):
        regions = cluster_regions(model, layer, 6, 0, blend=0.5)
        names = [r["name"] for r in regions]
        assert len(set(names)) == 6
        for name, r in zip(names, regions):
            ordinals += name[-1].isdigit()
            place = name.rsplit(" ", 1)[0] if name[-1].isdigit() else name
            time = float(np.mean(model.templates.time[[0, -1]]))
            morph = model.templates.morph
            context = model.context(time, 0.5, morph)
            base = bent_decode(model, np.full(len(morph), time), morph, context, [])
            bent = bent_decode(model, np.full(len(morph), time), morph, context, [Bend("ablate", layer, r["units"])])
            assert place == cluster_name(base, bent, model.flip_normals)
    assert ordinals <= 2


def test_cluster_names_say_where_and_how_the_points_move():
    rows, points = np.meshgrid(np.linspace(0, 1, 7), np.linspace(-0.5, 0.5, 5), indexing="ij")
    base = np.stack([-points, rows, np.zeros_like(rows)], axis=-1)  # flat, base at y 0, tip at y 1, facing +z
    tip = base.copy()
    tip[5:, :, 2] += 0.3
    assert cluster_name(base, tip) == "tip — lifts"
    left = base.copy()
    left[:, :1, 0] += 0.2
    assert cluster_name(base, left) == "whole length, left — shifts sideways"
    middle = base.copy()
    middle[3, 2, 1] += 0.1
    assert cluster_name(base, middle) == "middle, centre — shifts lengthwise"
    edges = base.copy()
    edges[:, [0, -1], 2] += 0.2
    assert cluster_name(base, edges) == "whole length, edges — lifts"
    everywhere = base.copy()
    everywhere[..., 2] += 1 - 0.25 * rows  # all of it, the base most
    assert cluster_name(base, everywhere) == "all over, most at the base — lifts"
    assert cluster_name(base, base) == "no effect"
    down = base.copy()
    down[5:, :, 2] -= 0.3
    assert cluster_name(base, down) == "tip — sinks"  # (against its front, d(row) x d(point))
    assert cluster_name(base, down, flip=True) == "tip — lifts"  # (a model whose normals are flipped)
    rows7, points7 = np.meshgrid(np.linspace(0, 1, 7), np.linspace(-0.5, 0.5, 7), indexing="ij")
    square = np.stack([-points7, rows7, np.zeros_like(rows7)], axis=-1)
    middle = square.copy()
    middle[2:5, 2:5, 2] += 0.2  # the middle three rows and points of seven: the middle, both ways
    assert cluster_name(square, middle) == "middle, centre — lifts"


def test_looks_round_trip_through_files(model, tmp_path):
    look = Look([Bend("ablate", 1, {"cluster": 2, "clusters": 6, "seed": 1}),
                 Bend("oscillate", 0, {"fraction": 0.3, "seed": 4}, amount=0.5, frequency=2.0, strength=0.7),
                 Bend("warp", "time", amount=0.05)], blend=0.3, name="ripple")
    look.save(tmp_path / "ripple.json")
    again = load_look(tmp_path / "ripple.json")
    assert again.to_json() == look.to_json()
    assert np.array_equal(again.shape(model, 0.8), look.shape(model, 0.8))


def test_a_looks_own_blend_or_context_applies_only_when_none_is_given(model, tmp_path):
    look = Look([Bend("scale", 0, amount=1.4)], blend=0.3)
    np.testing.assert_allclose(look.shape(model, 0.8), look.shape(model, 0.8, 0.3))  # its own
    assert np.abs(look.shape(model, 0.8, 1.0) - look.shape(model, 0.8)).max() > 1e-3  # a given blend wins
    at = Look(look.bends, context=model.context(0.8, 0.5))
    np.testing.assert_allclose(at.shape(model, 0.8), look.shape(model, 0.8, 0.5))
    # a blend sweep through a look with a context sweeps (it used to give the look's context every frame)
    assert np.abs(at.shape(model, 0.8, 0.0) - at.shape(model, 0.8, 1.5)).max() > 1e-2
    path = Look([], context=model.context(0.8, 0.5)).save(tmp_path / "seven-rows.json")
    with pytest.raises(grc.GRCError, match="look.context"):  # one clear line, not a broadcasting error
        load_look(path).shape(model, 0.8, morph=12)
    assert Bend("scale", 1.0).layer == 1 and isinstance(Bend("scale", 1.0).layer, int)  # (JSON's 1.0 is layer 1)
    from grc.mesh import Flower
    from grc.shapes import flower_grids

    petals = flower_grids(model, 0.8, None, Flower(petals=5, vary_time=0.1), look=at)  # a flower at the look's context
    assert petals.shape[0] == 5 and np.isfinite(petals).all()


def test_the_command_line_applies_a_looks_blend_and_takes_three_templates_without_one(model, tmp_path):
    from grc.cli import main

    look = Look([Bend("scale", 0, amount=1.4)], blend=0.3).save(tmp_path / "at-0.3.json")
    assert main(["export", str(PETAL_MODEL), "--time", "0.8", "--look", str(look), "-o", str(tmp_path / "a.obj")]) == 0
    vertices = np.array([[float(v) for v in line.split()[1:4]] for line in (tmp_path / "a.obj").read_text().splitlines()
                         if line.startswith("v ")])
    expected = load_look(look).shape(model, 0.8, 0.3).reshape(-1, 3)
    np.testing.assert_allclose(np.sort(np.abs(vertices).ravel()), np.sort(np.abs(expected).ravel()), atol=1e-5)
    leaf = grc.train(ROOT / "templates" / "leaf", grc.Config.from_preset("default", steps=30, template_steps=20,
                                                                         template_lbfgs_steps=0, refine_steps=0))
    leaf_file = leaf.save(tmp_path / "leaf.grc")
    assert main(["export", str(leaf_file), "-o", str(tmp_path / "leaf.obj")]) == 0  # the first template
    assert main(["rewrite", str(leaf_file), "--time", "0.5", "--point", "2,3", "--target", "0,0,0.5",
                 "-o", str(tmp_path / "r.grc")]) == 0  # halfway between all three
    assert main(["export", str(PETAL_MODEL), "--blend", "0.5", "--context", "0.1", "-o", str(tmp_path / "b.obj")]) == 2
    assert main(["rewrite", str(PETAL_MODEL), "--time", "0.8", "--point", "6.9,3", "--target", "0,0,0.5",
                 "-o", str(tmp_path / "r2.grc")]) == 2
    assert main(["blend-models", str(PETAL_MODEL), str(PETAL_MODEL), "--layers", ",", "-o", str(tmp_path / "c.grc")]) == 2


@pytest.mark.parametrize("text, field", [
    ('{"format": "grc-look/1", "bends": [{"op": "melt", "layer": 0}]}', "op"),
    ('{"format": "grc-look/1", "bends": [{"op": "scale", "layer": 0, "amount": true}]}', "amount"),
    ('{"format": "grc-look/1", "bends": [{"op": "scale", "layer": "tip"}]}', "layer"),
    ('{"format": "grc-look/1", "bends": [{"op": "scale", "units": {"cluster": 9, "clusters": 4}}]}', "cluster"),
    ('{"format": "grc-look/9"}', "format"),
    ('[' * 100 + ']' * 100, "nested"),
])
def test_a_bad_look_file_is_one_clear_error(tmp_path, text, field):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(grc.GRCError) as e:
        load_look(path)
    assert str(path) in str(e.value) and field in str(e.value)


@pytest.mark.parametrize("look, field", [
    ({"bends": [{"op": "scale", "layer": 0, "units": [100000]}]}, "units"),
    ({"bends": [{"op": "scale", "layer": 7}]}, "layer"),
    ({"blend": [0.2, 0.3, 0.5], "bends": []}, "blend"),
])
def test_a_look_that_does_not_fit_the_model_names_its_file(model, tmp_path, capsys, look, field):
    """A well-formed look for another model (a unit or layer this one lacks, a blend of three templates):
    exporting through it is one line naming the look file and its field."""
    from grc.cli import main

    path = tmp_path / "other-model.json"
    path.write_text(json.dumps({"format": "grc-look/1", **look}))
    capsys.readouterr()
    assert main(["export", str(PETAL_MODEL), "--look", str(path), "-o", str(tmp_path / "x.obj")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}: " in err and field in err


def test_blending_a_model_with_itself_returns_it(model):
    same = blend_models(model, model, 0.37)
    assert all(np.allclose(same.weights[k], model.weights[k], atol=1e-12) for k in model.weights)
    assert np.allclose(same.shape(0.8, 1.6), model.shape(0.8, 1.6), atol=1e-9)


def test_blend_weights_zero_and_one_give_the_parents(model):
    other = relative(model)
    assert np.allclose(blend_models(model, other, 0.0).shape(0.8, 0.5), model.shape(0.8, 0.5), atol=1e-12)
    assert np.allclose(blend_models(model, other, 1.0).shape(0.8, 0.5), other.shape(0.8, 0.5), atol=1e-9)
    half = blend_models(model, other, 0.5, layers=["decoder.1"])
    changed = {k for k in model.weights if not np.array_equal(half.weights[k], model.weights[k])}
    assert changed == {"decoder.1.weight", "decoder.1.bias"}
    lineage = half.info["lineage"]
    assert lineage["operation"] == "blend-models" and [p["model"] for p in lineage["parents"]] == [
        model_id(model), model_id(other)]


def test_weight_one_gives_a_relative_fine_tuned_on_another_template_set(model):
    # `grc train OTHER --from A`: B's normalisation is its own set's, so blending must carry it (weight 1 was
    # 0.03 away from B when A's normalisation was kept) and a layer swap between the two is refused
    from dataclasses import replace

    from grc.templates import TemplateSet
    from grc_testing import small_config

    bigger = TemplateSet([replace(t, points=t.points * 1.3 + [0.1, 0, 0]) for t in model.templates.templates])
    relative = grc.train(bigger, small_config(steps=60, refine_steps=5, template_steps=60, template_lbfgs_steps=10),
                         start=model)
    np.testing.assert_allclose(blend_models(model, relative, 1.0).shape(0.8, 0.5), relative.shape(0.8, 0.5), atol=1e-9)
    np.testing.assert_allclose(blend_models(model, relative, 0.0).shape(0.8, 0.5), model.shape(0.8, 0.5), atol=1e-9)
    with pytest.raises(grc.GRCError, match="different template sets"):
        blend_models(model, relative, 0.5, ["decoder"])


def test_blending_models_of_other_sizes_is_refused(model):
    other = grc.load_model(PETAL_MODEL)
    other.weights = dict(other.weights, **{"decoder.2.bias": other.weights["decoder.2.bias"][:-3]})
    with pytest.raises(grc.GRCError, match="same sizes"):
        blend_models(model, other, 0.5)
    with pytest.raises(grc.GRCError, match="layers"):
        blend_models(model, model, 0.5, layers=["head"])
    assert "decoder.2" in layer_names(model)


def test_lineage_stays_shallow_and_survives_saving(model, tmp_path):
    current, other = model, relative(model)
    for i in range(12):  # a long line of blends must still read back (JSON depth is limited)
        current = blend_models(current, other, 0.05 * (i + 1))
    current.save(tmp_path / "deep.grc")
    again = grc.load_model(tmp_path / "deep.grc")
    assert again.info["lineage"]["operation"] == "blend-models"
    assert len(again.info["lineage"]["ancestry"]) >= 12


def test_falloff_curves():
    d = np.array([0.0, 0.5, 1.0, 2.0])
    for kind in ("smooth", "sphere", "linear", "constant"):
        w = falloff(d, 1.0, kind)
        assert w[0] == 1 and w[2] == 0 and w[3] == 0 and 0 < w[1] <= 1


@pytest.mark.parametrize("time, blend, point, move", [
    (0.8, 0.5, (6, 3), (0, 0, 0.1)), (0.55, 1.5, (4, 0), (0.05, 0.05, 0)), (0.3, -0.5, (3, 6), (0, 0.1, 0))])
def test_a_rewrite_puts_the_point_where_it_was_dropped_and_keeps_the_templates(model, time, blend, point, move):
    before = model.shape(time, blend)
    target = before[point] + np.array(move)
    edited = rewrite(model, time, blend, point, target, radius=0.1)
    after = edited.shape(time, blend)
    assert np.linalg.norm(after[point] - target) < 1e-3
    K, T = len(model.templates), len(model.templates.time)
    for k in range(K):
        for i in range(T):
            t = model.templates.time[i]
            assert np.abs(edited.shape(t, np.eye(K)[k]) - model.shape(t, np.eye(K)[k])).max() < 1e-3
    # neighbours follow with the falloff; far points stay
    far = np.linalg.norm(before - before[point], axis=-1) > 0.1
    assert np.abs(after[far] - before[far]).max() < 0.02
    # a nearby time follows smoothly, by about as much and never by more than twice as much
    span = model.templates.time[-1] - model.templates.time[0]
    near = np.linalg.norm(edited.shape(time + 0.04 * span, blend)[point] - model.shape(time + 0.04 * span, blend)[point])
    assert 0.5 * np.linalg.norm(move) < near < 2 * np.linalg.norm(move)
    assert edited.info["lineage"]["operation"] == "rewrite"


def test_a_model_fine_tuned_from_another_is_a_relative_that_blends(model, tmp_path):
    from grc.cli import main

    child_file = tmp_path / "child.grc"
    settings = ["--steps", "150", "--set", "refine_steps=30", "--set", "template_steps=100",
                "--set", "template_lbfgs_steps=30", "-q"]
    assert main(["train", str(ROOT / "templates" / "petal"), "-o", str(child_file), "--from", str(PETAL_MODEL),
                 *settings]) == 0
    child = grc.load_model(child_file)
    assert child.info["lineage"]["operation"] == "fine-tune"
    assert child.info["lineage"]["parents"][0]["model"] == model_id(model)
    # weight by weight, the halfway model between relatives stays near the templates; between independent
    # trainings it is a different creature (docs/diverge.md)
    independent_file = tmp_path / "independent.grc"
    assert main(["train", str(ROOT / "templates" / "petal"), "-o", str(independent_file), "--seed", "5",
                 *settings]) == 0
    judge = Coherence.for_model(model, subdivide=1)

    def novelty(other):
        half = blend_models(model, other, 0.5)
        return np.mean([judge.check(half.shape(t, b), t).novelty for t in model.templates.time[1:-1] for b in (0, 1)])

    assert novelty(child) < 0.2 * novelty(grc.load_model(independent_file))
    other = tmp_path / "other.grc"
    assert main(["train", str(ROOT / "templates" / "petal"), "-o", str(other), "--from", str(PETAL_MODEL),
                 "--set", "decoder_hidden=64,64", *settings]) == 2
    assert not other.exists()


def test_a_model_with_a_malformed_lineage_is_shown_and_blended(model, tmp_path, capsys):
    # lineage is metadata from a file: `grc info` and blending must not trip over it (info crashed, exit 1)
    from grc.cli import main

    odd = grc.load_model(PETAL_MODEL)
    odd.info["lineage"] = {"operation": 7, "parents": 5, "ancestry": 5}
    path = odd.save(tmp_path / "odd.grc")
    assert main(["info", str(path)]) == 0 and "0 ancestors" in capsys.readouterr().out
    child = blend_models(grc.load_model(path), model, 0.5)
    assert child.info["lineage"]["operation"] == "blend-models" and len(child.info["lineage"]["parents"]) == 2


def test_a_model_without_context_can_be_rewritten_searched_and_diverged(petal, tmp_path):
    """The no-context ablation (context_dims 0) is a model like any other: rewrite, search and divergent
    fine-tuning run on it (they crashed on its empty traces) and the rewrite lands its point."""
    from grc.diverge.finetune import diverge
    from grc.diverge.search import search
    from grc_testing import small_config

    model = grc.train(petal, small_config(context_dims=0), device="cpu")
    before = model.shape(0.8, 0.5)
    target = before[6, 3] + np.array([0.0, 0.0, 0.1])
    edited = rewrite(model, 0.8, 0.5, (6, 3), target, radius=0.1)
    assert np.linalg.norm(edited.shape(0.8, 0.5)[6, 3] - target) < 1e-3
    archive, space = search(model, budget=64, seed=0)
    assert len(archive.elites) > 0
    checkpoints = diverge(model, steps=4, every=2)
    assert len(checkpoints) >= 2 and checkpoints[-1].model.context_dims == 0


def test_a_rewrite_says_when_it_had_to_move_the_templates(petal, model, tmp_path, capsys):
    """The templates' rows hold while they leave the decoder's last layer room; a decoder whose last layer
    has fewer features than the templates have rows cannot hold them all, and the CLI says how far they moved
    (the figure recorded is the one measured)."""
    from grc.cli import main
    from grc.diverge.rewrite import TEMPLATE_TOLERANCE, templates_moved
    from grc_testing import small_config

    K, times = len(model.templates), model.templates.time

    def moved(a, b):
        return max(np.abs(a.shape(t, np.eye(K)[k]) - b.shape(t, np.eye(K)[k])).max() for k in range(K) for t in times)

    held = rewrite(model, 0.8, 0.5, (6, 3), model.shape(0.8, 0.5)[6, 3] + [0, 0, 0.1])
    assert held.info["lineage"]["template_change"] <= TEMPLATE_TOLERANCE and templates_moved(held) is None
    narrow = grc.train(petal, small_config(decoder_hidden=(16, 16)), device="cpu")  # 17 features, 98 template rows
    path = narrow.save(tmp_path / "narrow.grc")
    capsys.readouterr()
    assert main(["rewrite", str(path), "--time", "0.8", "--point", "6,3", "--target",
                 ",".join(str(v) for v in narrow.shape(0.8, 0.5)[6, 3] + [0, 0, 0.1]), "-o", str(tmp_path / "r.grc")]) == 0
    out = capsys.readouterr().out
    edited = grc.load_model(tmp_path / "r.grc")
    change = edited.info["lineage"]["template_change"]
    assert change > TEMPLATE_TOLERANCE and abs(change - moved(edited, narrow)) < 1e-4
    assert "note: the templates moved by up to" in out and "98 rows outnumber the 17 features" in out


def test_a_rewrite_leaves_the_templates_whole_at_times_far_from_the_drag(model):
    """Held at their time steps alone, a drag on the petal at time 0.8 broke both templates at times 0.05-0.5, and
    the point dragged moved 0.35 at time 0.2 for a drag of 0.19 at 0.8 (a walkthrough saved such a model)."""
    from grc.coherence import Coherence

    before = model.shape(0.8, 0.5)
    target = before[6, 1] + np.array([0.0, 0.0, 0.19])
    edited = rewrite(model, 0.8, 0.5, (6, 1), target, radius=0.1)
    assert np.linalg.norm(edited.shape(0.8, 0.5)[6, 1] - target) < 1e-3
    judge = Coherence.for_model(model, subdivide=2)
    times = np.linspace(model.templates.time[0], model.templates.time[-1], 23)
    K = len(model.templates)
    for t in times:
        plain = judge.broken(np.stack([model.shape(t, np.eye(K)[k]) for k in range(K)]))
        bent = judge.broken(np.stack([edited.shape(t, np.eye(K)[k]) for k in range(K)]))
        assert not (bent & ~plain).any(), t
    far = [t for t in times if abs(t - 0.8) > 0.5]
    moved = max(np.linalg.norm(edited.shape(t, 0.5)[6, 1] - model.shape(t, 0.5)[6, 1]) for t in far)
    assert moved < 0.1, moved  # (0.35 before)


@pytest.mark.parametrize("change, field, message", [
    (lambda a: a["elites"][0].update(blend=[1e300, -1e300]), "blend", "expected values from -100 to 100"),
    (lambda a: a["elites"][0].update(strengths=[1e300] * len(a["elites"][0]["strengths"])), "bend 'scale'.strength",
     "expected a value from -10 to 10"),
    (lambda a: a["look"]["bends"][0].update(layer=5), "bends[0].layer", "this model's decoder has 2 hidden layers"),
    (lambda a: a["elites"][0].update(path=[1e300] * len(a["elites"][0]["path"])), "path",
     "expected path values that move the context by at most 10000"),
])
def test_an_elite_out_of_range_names_its_archive(model, tmp_path, capsys, change, field, message):
    """`grc export --elite DIR:ID` of an archive whose elite (or look) is out of range: one line naming the archive and
    the field. It named no file ("grc: blend: expected values ...") or blamed the export ("<out>.obj: vertices:
    coordinates up to 4.33e+297, beyond what a file stores")."""
    from grc.cli import main
    from grc.diverge.search import load_elite, save_archive, search

    archive, space = search(model, budget=64, seed=0)
    model_file = model.save(tmp_path / "m.grc")
    save_archive(archive, space, tmp_path / "search", model_file)
    path = tmp_path / "search" / "archive.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(grc.GRCError) as e:
        load_elite(tmp_path / "search", 0, model)
    assert e.value.path == path and e.value.field == field and message in e.value.message
    capsys.readouterr()
    out = tmp_path / "e.obj"
    assert main(["export", str(model_file), "-o", str(out), "--elite", f"{tmp_path / 'search'}:0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"grc: {path}: {field}: elite 0: {message}") and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("time, blend", [(0.8, -100.0), (0.8, 100.0), (-1e6, 0.5), (1e6, np.array([0.5, 0.5]))])
def test_a_rewrite_at_the_edge_of_what_may_be_asked_is_made(model, tmp_path, capsys, time, blend):
    """Its nearby shapes reached past the limits a user's values are checked against: `grc rewrite --blend -100` (the
    first weight 101) and `--time -1e6` were refused with a line contradicting itself ("blend: expected values from
    -100 to 100, got 101"; "time: expected values from -1e+06 to 1e+06, got -1e+06")."""
    from grc.cli import main

    near = abs(time) < 10  # (at time 1e6 the petal's shape is far outside the coordinates a target may have)
    target = model.shape(time, blend)[6, 3] + [0.0, 0.0, 0.1] if near else np.array([0.0, 0.0, 0.1])
    edited = rewrite(model, time, blend, (6, 3), target)
    assert not near or np.linalg.norm(edited.shape(time, blend)[6, 3] - target) < 1e-5  # the shape asked for
    capsys.readouterr()
    args = ["rewrite", str(PETAL_MODEL), "-o", str(tmp_path / "r.grc"), "--time", f"{time:g}", "--point", "6,3",
            "--target", ",".join(repr(float(v)) for v in target)]
    if np.ndim(blend) == 0:
        args += ["--blend", f"{blend:g}"]
    assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "r.grc").exists()
