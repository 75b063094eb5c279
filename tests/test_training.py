"""The training engine: quality of a short training, one model per seed, cancel, the CPU, and the
hand-written passes and optimisers it is built from (checked against autograd and the textbook)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import grc
import grc.examples
from grc.metrics import evaluate
from grc.model import layer_sizes
from grc.optim import lbfgs, lbfgs_flat
from grc.training import MLP, Flat, decoder_features, relational_step
from grc_testing import LEAF, small_config

QUICK = dict(steps=150, refine_steps=30, template_steps=100, template_lbfgs_steps=30)


@pytest.fixture(scope="module")
def quick_petal(petal):
    return grc.train(petal, small_config(**QUICK), device="cpu")


def test_the_default_training_meets_the_quality_targets(petal):
    # issue 2's targets on the petal, with the default refine (150 iterations, extrapolated shapes; a few seconds).
    # Extrapolation: the target is 1.3 at blend 1.5; the default's damped targets land the petal at 1.303-1.322
    # (seeds 0-4, this machine), so 0.01 is left for another machine's rounding
    m = evaluate(grc.train(petal, grc.Config(), device="cpu"))
    assert m["template_fit_rmse"] <= 0.003 and m["reconstruction_rmse"] <= 0.01
    assert m["interpolation_error"] <= 0.05
    assert m["extrapolation"]["-0.5"] <= -0.3 and m["extrapolation"]["1.5"] >= 1.29


def test_a_short_training_rebuilds_the_templates(petal_model, leaf_model):
    for model in (petal_model, leaf_model):  # 300 steps, 100 refine iterations
        m = evaluate(model)
        assert m["template_fit_rmse"] <= 0.015 and m["reconstruction_rmse"] <= 0.03


def test_the_same_seed_gives_the_same_model(petal, quick_petal):
    again = grc.train(petal, small_config(**QUICK), device="cpu")
    other = grc.train(petal, small_config(**QUICK, seed=1), device="cpu")
    assert all(np.array_equal(quick_petal.weights[k], again.weights[k]) for k in quick_petal.weights)
    assert not np.array_equal(quick_petal.weights["encoder.0.weight"], other.weights["encoder.0.weight"])


@pytest.mark.parametrize("phase", ["templates", "relational", "refine"])
def test_cancel_stops_training_in_every_phase(petal, phase):
    reached = []

    def cancel(progress):
        if progress.phase == phase:
            reached.append(progress)
            raise grc.Cancelled()

    with pytest.raises(grc.Cancelled):
        grc.train(petal, small_config(**QUICK), device="cpu", callback=cancel)
    assert len(reached) == 1  # it stopped at the first report of that phase


def test_auto_trains_on_the_cpu(petal, quick_petal):
    assert quick_petal.info["device"] == "cpu"
    assert grc.train(petal, small_config(**QUICK), device="auto").info["device"] == "cpu"


@pytest.mark.parametrize("settings", [
    {},  # the default: fourier-product features, the decoder fed the true (time, morph)
    {"decoder_input": "encoder"},
    {"decoder_features": "raw", "decoder_input": "encoder", "final_activation": True},  # as the article
    {"context_dims": 2},
    {"context_dims": 0},
])
def test_hand_written_gradients_equal_autograd(settings):
    config = grc.Config(**settings).for_templates(2)
    sizes = layer_sizes(config, 7, 21)
    torch.manual_seed(0)
    encoder = MLP(sizes["encoder"], config.final_activation).double()
    decoder = MLP(sizes["decoder"], config.final_activation).double()
    rows, u = torch.randn(16, 21, dtype=torch.float64), torch.rand(16, 2, dtype=torch.float64) * 2 - 1

    C = config.context_dims  # the article's two losses, through autograd
    z = encoder(rows)
    mask = torch.tensor([1.0, 1.0] + [config.context_mask] * C, dtype=torch.float64)
    relational = z[:, :2] if config.decoder_input == "encoder" else u
    out = decoder(decoder_features(relational, z[:, 2:], config.decoder_features))
    target = torch.cat([u, torch.zeros(16, C, dtype=torch.float64)], dim=1)
    (((out - rows) ** 2).sum(1).mean() + (((z - target) * mask) ** 2).sum(1).mean()).backward()
    expected = [torch.cat([p.grad.reshape(-1) for p in [*net.weights, *net.biases]]) for net in (encoder, decoder)]

    flat_encoder, flat_decoder = Flat(encoder), Flat(decoder)
    with torch.no_grad():
        relational_step(flat_encoder, flat_decoder, rows, u, config)
    assert torch.allclose(flat_encoder.grad, expected[0], rtol=1e-6, atol=1e-9)
    assert torch.allclose(flat_decoder.grad, expected[1], rtol=1e-6, atol=1e-9)


def test_the_last_layer_by_least_squares_is_the_best_one():
    torch.manual_seed(0)
    net = Flat(MLP([3, 8, 2]).double())
    x, targets = torch.randn(50, 3, dtype=torch.float64), torch.randn(50, 2, dtype=torch.float64)
    net.forward(x)
    best = ((net.solve_last_layer(targets) - targets) ** 2).sum()
    assert torch.allclose(net.output, net.net(x))  # the network itself now has the solved layer
    for _ in range(5):  # any other last layer fits worse
        net.weights[-1].add_(torch.randn_like(net.weights[-1]) * 1e-3)
        assert ((net.forward(x) - targets) ** 2).sum() > best


def test_lbfgs_finds_the_minimum_of_the_rosenbrock_function():
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    loss = lbfgs([x], lambda: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2, 200, history=5)
    assert loss < 1e-12 and torch.allclose(x.detach(), torch.ones(2, dtype=torch.float64), atol=1e-6)

    theta = torch.tensor([-1.2, 1.0], dtype=torch.float64)  # the same on a flat vector

    def evaluate():
        a, b = theta
        grad = torch.stack([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
        return float((1 - a) ** 2 + 100 * (b - a * a) ** 2), grad

    assert lbfgs_flat(theta, evaluate, 200, history=5) < 1e-12


def test_the_lbfgs_memory_is_the_two_loop_recursion_before_and_after_it_wraps():
    from grc.optim import Memory

    def two_loop(pairs, g):  # Nocedal & Wright, Algorithm 7.4, the newest pair last
        q, alphas = g.clone(), []
        for s, y in reversed(pairs):
            alphas.append(s.dot(q) / s.dot(y))
            q -= alphas[-1] * y
        s, y = pairs[-1]
        r = q * s.dot(y) / y.dot(y)
        for (s, y), a in zip(pairs, reversed(alphas)):
            r += s * (a - y.dot(r) / s.dot(y))
        return r

    generator = torch.Generator().manual_seed(0)
    memory, pairs = Memory(torch.zeros(40, dtype=torch.float64), 5), []
    for step in range(13):  # fills at 5, then each pair replaces the oldest
        s = torch.randn(40, dtype=torch.float64, generator=generator)
        y = 2 * s + 0.1 * torch.randn(40, dtype=torch.float64, generator=generator)
        g = torch.randn(40, dtype=torch.float64, generator=generator)
        memory.add(s, y, g if step % 2 else None)  # with and without the next gradient read along
        pairs = (pairs + [(s, y)])[-5:]
        assert torch.allclose(memory.inverse_hessian_times(g), two_loop(pairs, g), rtol=1e-10, atol=1e-12)


def test_a_default_training_keeps_the_petal_whole_beyond_its_templates(petal):
    # issue 11: shape keys break the petal 14 times in 65 (inner times x blends -1..2), a model trained without
    # the extrapolated shapes 14-17 times; with them (the default: shape-space targets, stretch damped beyond
    # the templates) it was whole on six seeds of ten here and broke 1-4 times on the others, and with the
    # repair rounds as well (the default since session 14) on nineteen of twenty. Stretch at blend 2: about half of
    # shape keys' (0.37-0.46 against 0.87).
    from grc.coherence import Coherence, blend_weights, model_shapes, shape_keys

    model = grc.train(petal, grc.Config(), device="cpu")
    coherence = Coherence.for_model(model, 2)
    weights = blend_weights(2, np.arange(-1, 2.001, 0.25))
    broken = {"model": 0, "shape keys": 0}
    stretch = {"model": [], "shape keys": []}
    for t in petal.time[1:-1]:
        for name, grids in (("model", model_shapes(model, t, weights)), ("shape keys", shape_keys(petal, t, weights))):
            broken[name] += int(coherence.broken(grids).sum())
            stretch[name].append(coherence.check(grids[-1], t).stretch_max)
    assert broken["shape keys"] == 14 and broken["model"] <= 1, broken
    assert np.mean(stretch["model"]) <= 0.6 * np.mean(stretch["shape keys"])
    m = evaluate(model, safe_range=False)
    assert m["reconstruction_rmse"] <= 0.01 and m["interpolation_error"] <= 0.05


def test_the_refine_in_two_halves_gives_the_same_loss_and_gradient():
    # the refine's many rows run in two halves on two threads: the same sums, in another order
    from grc.training import refine_objective

    torch.manual_seed(0)
    for final in (False, True):
        net = MLP([21, 64, 64, 21], final)
        x, y, w = torch.randn(1501, 21), torch.randn(1501, 21), torch.rand(1501, 1) * 2 / 1501
        flat = Flat(net)
        start = flat.theta.clone()
        with refine_objective(flat, x, y, w, not final, halves=False) as evaluate_whole:
            whole = evaluate_whole()
        flat.theta.copy_(start)
        with refine_objective(flat, x, y, w, not final, halves=True) as evaluate_halves:
            halves = evaluate_halves()
        assert halves[0] == pytest.approx(whole[0], rel=1e-5)
        assert torch.allclose(halves[1], whole[1], rtol=1e-4, atol=1e-6 * float(whole[1].abs().max()))


def test_sets_of_three_templates_are_trained_on_linear_blends_beyond_them_by_default():
    # issue 11: two templates get 128 shapes beyond them blended in shape space; three or more 64 whose targets
    # are the linear blends (shape keys'): the leaf broke 7-22 times in 117 without them, never with them
    config = grc.Config()
    assert config.extrapolations(2) == 128 and not config.linear_targets(2)
    assert config.extrapolations(3) == 64 and config.linear_targets(3) and config.linear_targets(4)
    assert grc.Config(refine_extrapolation_templates=2).extrapolations(3) == 0  # as before session 16
    space = grc.Config(refine_extrapolation_targets="shape-space")  # session 13's opt-in (with pair_mixes)
    assert space.extrapolations(3) == 128 and not space.linear_targets(3)
    assert grc.Config(refine_extrapolation_targets="linear").linear_targets(2)
    with pytest.raises(grc.GRCError, match="refine_extrapolation_targets"):
        grc.Config(refine_extrapolation_targets="shapes")


def rolled_shell(names=("tube", "narrow", "side")):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from extrapolation_sets import rolled_shell

    return rolled_shell(names)


def test_three_templates_whose_linear_blends_break_are_taught_shape_space_blends(petal):
    # issue 11, session 22: "auto" decides three or more templates' targets by the templates themselves. Where
    # their linear blends (shape keys') stay whole beyond them, as on every set before the rolled shell, linear
    # targets as before; where those cross themselves and shape-space blends do not, shape space.
    from grc.training import decided_targets

    config = grc.Config()
    assert decided_targets(rolled_shell(), config.for_templates(3)).refine_extrapolation_targets == "shape-space"
    assert decided_targets(rolled_shell(("tube", "narrow", "side", "flare")),
                           config.for_templates(4)).refine_extrapolation_targets == "shape-space"
    leaf = grc.load_templates(LEAF)
    assert decided_targets(leaf, config.for_templates(3)) == config.for_templates(3)
    assert decided_targets(petal, config.for_templates(2)) == config.for_templates(2)
    linear = config.replace(refine_extrapolation_targets="linear").for_templates(3)
    assert decided_targets(rolled_shell(), linear) == linear  # asked for by name: kept
    for asked in (dict(refine_steps=0), dict(refine_extrapolations=0)):  # no refine, or none in shape space asked
        kept = config.replace(**asked).for_templates(3)
        assert decided_targets(rolled_shell(), kept) == kept


def test_a_default_training_keeps_a_rolled_shell_whole_where_shape_keys_cross():
    # the rolled shell's shape keys cross themselves 6 times in 117 (inner times x each template's direction x
    # s -1..2); a model taught their linear blends 5-6 times, one taught shape-space blends never (seeds 0-2)
    from grc.coherence import Coherence, direction_weights, model_shapes, shape_keys

    shell = rolled_shell()
    model = grc.train(shell, grc.Config(), device="cpu")
    assert model.config.refine_extrapolation_targets == "shape-space" and model.config.pair_mixes == 0.33  # kept with it
    coherence = Coherence.for_model(model, 2)
    broken = {"model": 0, "shape keys": 0}
    for t in shell.time[1:-1]:
        for k in range(3):
            weights = direction_weights(3, k, np.arange(-1, 2.001, 0.25))
            broken["model"] += int(coherence.broken(model_shapes(model, t, weights)).sum())
            broken["shape keys"] += int(coherence.broken(shape_keys(shell, t, weights)).sum())
    assert broken["shape keys"] == 6 and broken["model"] <= 1, broken
    m = evaluate(model, safe_range=False)
    assert m["reconstruction_rmse"] <= 0.01 and m["interpolation_error"] <= 0.05


def test_linear_targets_beyond_three_templates_are_the_template_models_linear_blends():
    # what a row beyond the templates is taught where the targets are linear: the template models' rows at its
    # time and morph, mixed by its blend's weights (which leave the simplex), as shape keys would make it
    from grc.training import Data, Sampler, extrapolated_contexts, extrapolated_rows, fit_templates, template_inputs

    leaf = grc.load_templates(LEAF)
    config = small_config(template_steps=50, template_lbfgs_steps=20, refine_extrapolations_linear=64,
                          refine_extrapolation_retreat=0).for_templates(3)
    d = Data(leaf, config, torch.device("cpu"))
    sizes = layer_sizes(config, len(leaf.morph), 3 * leaf.grid_shape[-1])
    models, _ = fit_templates(d, sizes["template"], config, lambda p: None)
    torch.manual_seed(0)
    encoder = MLP(sizes["encoder"])
    u, context, targets, relative = extrapolated_rows(Sampler(d, models), encoder, config)
    torch.manual_seed(0)  # the same draw, for its weights
    MLP(sizes["encoder"])
    _, _, _, lines, _ = extrapolated_contexts(Sampler(d, models), encoder, 64, config.refine_extrapolation_reach)
    weights = torch.as_tensor(lines.weights(), dtype=torch.float32)  # (64, 3)
    assert (weights.min(dim=1).values < 0).all()  # every one lies beyond the templates
    rows = models(template_inputs(u, config).expand(3, -1, -1))  # (3, 64 M, 3N), normalized
    linear = torch.einsum("rk,krc->rc", weights.repeat_interleave(len(leaf.morph), dim=0), rows)
    learn = relative > 0
    assert learn.sum() > 0.1 * len(learn)
    assert torch.allclose(targets[learn], linear[learn], atol=1e-4)
    # a linear blend that far out may cross itself or fold: it is no target, nor (unlike a shape-space one) does a
    # blend nearer the templates on its line take its place
    from grc.coherence import Coherence

    coherence, M = Coherence(leaf), len(leaf.morph)
    grids = lambda x: (x.detach().double().numpy() * d.row_scale + d.row_mean).reshape(64, M, -1, 3)  # noqa: E731
    broken, taught = coherence.broken(grids(linear)), learn.reshape(64, M).any(dim=1).numpy()
    assert broken.any() and not (broken & taught).any()
    torch.manual_seed(0)
    MLP(sizes["encoder"])
    _, _, again, relative = extrapolated_rows(Sampler(d, models), encoder, config.replace(refine_extrapolation_retreat=3))
    taught = (relative > 0).reshape(64, M).any(dim=1).numpy()
    assert not (broken & taught).any() and torch.allclose(again[relative > 0], linear[relative > 0], atol=1e-4)


def test_three_templates_get_a_context_value_per_template_beyond_the_first(petal, tmp_path):
    # issue 11: with one context value the leaf's three traces lie on one line of context, so a blend
    # towards one template passes among the others' traces: its extrapolation missed the engine's target on
    # seeds 0, 1 and 3 (at 1.5: 0.87, 1.26, 1.22) and it broke 20-30 times in 117 where shape keys never do.
    # With K - 1 = 2 (the default since session 12) it reached 1.35-1.46 on all five seeds and broke 7-19 times
    # (since session 16, with the linear targets beyond the templates, 1.48-1.50 and never)
    leaf = grc.load_templates(grc.examples.template_set_path("leaf"))
    model = grc.train(leaf, grc.Config(), device="cpu")
    assert model.context_dims == 2 and model.config.context_dims == 2  # decided, and saved as decided
    assert grc.load_model(model.save(tmp_path / "leaf.grc")).context_dims == 2
    metrics = evaluate(model, safe_range=False)
    assert metrics["reconstruction_rmse"] <= 0.01
    assert metrics["extrapolation"]["1.5"] >= 1.3 and metrics["extrapolation"]["-0.5"] <= -0.3, metrics["extrapolation"]
    # two templates keep one value; a setting given is kept, and a fine-tuning keeps its parent's
    assert grc.Config().for_templates(2).context_dims == 1 and grc.Config().for_templates(5).context_dims == 4
    assert grc.Config(context_dims=1).for_templates(3).context_dims == 1
    tiny = small_config(steps=20, refine_steps=2, template_steps=20, template_lbfgs_steps=5, context_dims=None)
    child = grc.train(leaf, tiny, device="cpu", start=grc.train(leaf, tiny.replace(context_dims=1), device="cpu"))
    assert child.context_dims == 1


def test_a_shape_space_target_that_falls_short_moves_on_along_its_line(petal):
    # issue 11: past template B a petal that turns moves along an arc, so a shape-space blend at α = 1.5
    # reaches less far along B - A than shape keys do (1.30 at time 1); the target moves on until it reaches
    # 0.7 of the linear blend's way (1.35), and one that reaches far enough (α = 2) stays as it is
    from grc.coherence import shape_keys
    from grc.shapespace import ShapeSpace
    from grc.training import retimed

    grids = shape_keys(petal, 1.0, np.eye(2))
    space, weights = ShapeSpace(7, 7), np.array([[-0.5, 1.5], [-1.0, 2.0]])  # α = 1.5 and 2
    targets = space.blend(grids, weights)
    out = retimed(space, np.repeat(grids[:, None], 2, axis=1), weights, targets, 0.7)
    d = (grids[1] - grids[0]).ravel()
    reach = [float((x - grids[0]).ravel() @ d / (d @ d)) for x in (*targets, *out)]
    assert reach[0] < 1.3 and reach[2] >= 1.34
    assert np.array_equal(out[1], targets[1])


def test_a_broken_target_retreats_towards_the_templates_along_its_line():
    from grc.coherence import direction_weights
    from grc.training import retreat

    alphas = lambda *a: np.stack([1 - np.array(a), np.array(a)], axis=1)  # noqa: E731
    assert np.allclose(retreat(alphas(2.0, -1.0), 0.5), alphas(1.5, -0.5))
    assert np.allclose(retreat(direction_weights(3, 1, [2.5, -1.0]), 0.5), direction_weights(3, 1, [1.75, -0.5]))


def test_lines_beyond_three_templates_leave_at_a_template_or_through_a_face():
    # issue 11: the extrapolated shapes of a set of three or more templates go beyond every part of the
    # simplex's edge, not only along each template's direction (which left the map's far corners untaught)
    from grc.training import exit_lines

    torch.manual_seed(0)
    x = np.full(400, 0.5)
    face = np.arange(400) % 2 == 0
    lines = exit_lines(3, x, face, torch.device("cpu"))
    w = lines.weights()
    assert np.allclose(w.sum(axis=1), 1)
    assert (w.min(axis=1) < -1e-9).all()  # every blend is beyond the templates
    at_template = np.isclose(lines.start.max(axis=1), 1)
    assert at_template[~face].all() and not at_template[face].any()
    assert np.isclose(lines.start[face].min(axis=1), 0).all()  # a face's point: one weight 0
    pair = (np.abs(lines.step[~face]) > 1e-12).sum(axis=1) == 2  # along one pair's edge (e_b - e_a)
    assert 0.3 < pair.mean() < 0.7


def test_a_blend_beyond_a_face_starts_from_the_linear_mix_there():
    # the random mixes between the templates are linear: a target beyond the simplex must meet them where its
    # line leaves it, not jump to the shape space's (different) mix of the templates there
    from grc.coherence import shape_keys
    from grc.shapespace import ShapeSpace
    from grc.training import Lines, space_blend

    leaf = grc.load_templates(grc.examples.template_set_path("leaf"))
    grids = shape_keys(leaf, 1.0, np.eye(3))
    space = ShapeSpace(*leaf.grid_shape[1:])
    start = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])  # the middle of a face, and a template (wavy)
    step = np.array([[1 / 3, 1 / 3, -2 / 3], [-1.0, 0.0, 1.0]])
    near = space_blend(space, grids, Lines(start, step, np.full(2, 1e-4)))
    linear = np.tensordot(start, grids, axes=1)
    size = np.ptp(grids.reshape(-1, 3), axis=0).max()
    assert np.abs(near - linear).max() < 1e-3 * size
    # the shape space alone misses both: the mix by far, the template where a triangle turns by ~180 degrees
    assert (np.abs(space.blend(grids, start) - linear).reshape(2, -1).max(axis=1) > 5e-3 * size).all()


def test_a_context_that_falls_back_among_the_traces_is_no_extrapolation():
    from grc.training import hull_distance

    # one row, three traces on a line: beyond the middle template's the context stays among the mixes'
    traces = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[2.0, 0.0]]])
    beyond_middle, beyond_end = torch.tensor([[1.3, 0.0]]), torch.tensor([[2.5, 0.0]])
    assert hull_distance(beyond_middle, traces).item() < 1e-6
    assert abs(hull_distance(beyond_end, traces).item() - 0.5) < 1e-6


def test_pair_mixes_put_that_share_of_the_mixes_on_an_edge_between_two_templates():
    from grc.training import Data, Sampler

    leaf = grc.load_templates(grc.examples.template_set_path("leaf"))
    for share, low, high in ((0.0, 0.0, 0.02), (0.5, 0.4, 0.6), (1.0, 1.0, 1.0)):
        config = grc.Config(pair_mixes=share).for_templates(3)
        data = Data(leaf, config, torch.device("cpu"))
        sampler = Sampler(data, lambda x: torch.zeros(3, x.shape[1], 1))
        _, weights, _ = sampler.draw(2000)
        on_edge = ((weights[..., 0] > 0).sum(dim=0) == 2).float().mean().item()
        assert low <= on_edge <= high, (share, on_edge)
        assert torch.allclose(weights.sum(dim=0), torch.ones(1))
    with pytest.raises(grc.GRCError, match="pair_mixes"):
        grc.Config(pair_mixes=1.5)


def test_a_default_training_keeps_the_sprout_whole_unstretched_and_its_interpolation():
    # issue 11: a model trained without the extrapolated shapes breaks the sprout 0-4 times in [-1, 2] (shape
    # keys never); with them (the default) it did not break on five seeds, and kept interpolation <= 0.05
    # (0.004-0.013; 0.029-0.046 before the base the templates share stayed put in the targets). The
    # interpolation is the median of the five. At blend 2 its edges stretch at most half as much as shape
    # keys' (max |log ratio| 0.07-0.16 against 0.76; 0.69-0.86 while the targets' base drifted sideways).
    from grc.coherence import Coherence, blend_weights, model_shapes, shape_keys

    sprout = grc.load_templates(grc.examples.template_set_path("sprout"))
    interpolation, stretch = [], []
    for seed in range(5):
        model = grc.train(sprout, grc.Config(seed=seed), device="cpu")
        coherence = Coherence.for_model(model, 2)
        weights = blend_weights(2, np.arange(-1, 2.001, 0.25))
        inner = sprout.time[1:-1]
        assert not any(coherence.broken(model_shapes(model, t, weights)).any() for t in inner), seed
        interpolation.append(evaluate(model, safe_range=False)["interpolation_error"])
        two = np.array([[-1.0, 2.0]])  # blend 2
        stretch.append(np.mean([coherence.check(model_shapes(model, t, two)[0], t).stretch_max
                                / coherence.check(shape_keys(sprout, t, two)[0], t).stretch_max for t in inner]))
    assert np.median(interpolation) <= 0.05, interpolation
    assert max(stretch) <= 0.5, stretch


def test_a_default_training_keeps_the_leaf_whole_beyond_its_three_templates():
    # issue 11: trained without shapes beyond them, the leaf's models broke 7-22 times in 117 (inner times x
    # blends -1..2 along each template's direction; shape keys never) and stretched 1.3-2.5 at blend 2 (shape
    # keys 0.30). Taught the linear blends there (the default since session 16) they broke on none of ten seeds,
    # stretched 0.33-0.89 and kept the engine's targets: interpolation 0.002-0.010, extrapolation 1.44-1.50.
    # (The mean stretch ratio to shape keys asserted below was 4.3-6.6 a seed before; after, 1.5-3.5 over seeds 0-7,
    # mean 2.5, and with the template models mended between time steps (session 18) 1.5-3.3, mean 2.4; seeds 0-2
    # 1.77 and 2.62 on average.)
    from grc.coherence import Coherence, direction_weights, model_shapes, shape_keys

    leaf = grc.load_templates(LEAF)
    inner, s = leaf.time[1:-1], np.arange(-1, 2.001, 0.25)
    ratios = []
    for seed in range(3):
        model = grc.train(leaf, grc.Config(seed=seed), device="cpu")
        coherence = Coherence.for_model(model, 2)
        for k in range(3):
            weights = direction_weights(3, k, s)
            assert not any(coherence.broken(model_shapes(model, t, weights)).any() for t in inner), (seed, k)
        metrics = evaluate(model, safe_range=False)
        assert metrics["interpolation_error"] <= 0.05 and metrics["extrapolation"]["1.5"] >= 1.3, (seed, metrics)
        assert metrics["extrapolation"]["-0.5"] <= -0.3, (seed, metrics)
        two = direction_weights(3, np.arange(3), [2.0] * 3)
        ratios.append(np.mean([coherence.check(model_shapes(model, t, two)[k], t).stretch_max
                               / coherence.check(shape_keys(leaf, t, two)[k], t).stretch_max
                               for t in inner for k in range(3)]))
    # over the three seeds (one seed's spread is wide: 1.5-3.5 over seeds 0-7; without shapes beyond, 4.3-6.6 each)
    assert np.mean(ratios) <= 3.2, ratios


def test_extrapolated_rows_with_nothing_to_learn_from_still_train(petal):
    # without a context (the ablation) every extrapolated row's blend is an interior one: no target is
    # left, and the training goes on without them (it used to stop on an empty coherence check)
    config = small_config(steps=60, refine_steps=5, refine_samples=128, template_steps=50, template_lbfgs_steps=20,
                          context_dims=0, refine_extrapolations=8)
    model = grc.train(petal, config, device="cpu")
    assert np.isfinite(model.shape(0.5, 0.5)).all()


def test_fine_tuning_with_other_template_networks_fits_the_templates_again(petal):
    # a parent whose template models cannot come over (other sizes or inputs) must not leave the child's
    # untrained: its template fit is as good as a fresh training's
    config = small_config(steps=60, refine_steps=5, template_steps=300, template_lbfgs_steps=100)
    parent = grc.train(petal, config, device="cpu")
    for change in (dict(template_hidden=(16, 16)), dict(template_features="raw")):
        fresh = grc.train(petal, config.replace(**change), device="cpu")
        child = grc.train(petal, config.replace(**change), device="cpu", start=parent)
        assert child.info["template_loss"] < 2 * fresh.info["template_loss"] + 1e-5


def test_auto_is_the_cpu_for_one_training_and_the_gpu_for_a_population_when_there_is_one():
    from grc.training import AUTO_GPU_CELLS, resolve_device

    assert resolve_device("auto").type == "cpu"  # measured faster for one training, GPU or not
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto", AUTO_GPU_CELLS).type == expected
    assert resolve_device("cpu", AUTO_GPU_CELLS).type == "cpu"


def test_the_template_fit_starts_from_pytorchs_own_draw_for_the_seed():
    # grc.fit draws the template models' first weights with numpy, as PyTorch's generator would after
    # torch.manual_seed (so a seed's template models start where they did when PyTorch drew them)
    from grc.fit import initial_weights

    for seed in (0, 7, 2**32 - 1):
        torch.manual_seed(seed)
        net = MLP([10, 32, 32, 21], copies=3)
        theirs = [p.detach().double().numpy() for p in [*net.weights, *net.biases]]
        assert all(np.array_equal(a, b) for a, b in zip(initial_weights([10, 32, 32, 21], 3, seed), theirs))


def test_the_numpy_lbfgs_memory_is_the_two_loop_recursion_too():
    from grc.fit import ArrayMemory, minimize

    def two_loop(pairs, g):
        q, alphas = g.copy(), []
        for s, y in reversed(pairs):
            alphas.append(s @ q / (s @ y))
            q -= alphas[-1] * y
        s, y = pairs[-1]
        r = q * (s @ y) / (y @ y)
        for (s, y), a in zip(pairs, reversed(alphas)):
            r += s * (a - y @ r / (s @ y))
        return r

    generator = np.random.default_rng(0)
    memory, pairs = ArrayMemory(np.zeros(40), 5), []
    for step in range(13):
        s = generator.standard_normal(40)
        y = 2 * s + 0.1 * generator.standard_normal(40)
        g = generator.standard_normal(40)
        memory.add(s, y, g if step % 2 else None)
        pairs = (pairs + [(s, y)])[-5:]
        assert np.allclose(memory.inverse_hessian_times(g), two_loop(pairs, g), rtol=1e-10, atol=1e-12)

    theta = np.array([-1.2, 1.0])  # and the loop on numpy vectors finds the Rosenbrock function's minimum

    def evaluate():
        a, b = theta
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2, np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])

    def move(direction, t):
        theta[:] = theta + t * direction

    assert minimize(evaluate, move, 200, history=5) < 1e-12 and np.allclose(theta, 1, atol=1e-6)


def test_grc_train_fits_the_template_models_beside_pytorchs_import_and_gets_the_librarys_model(petal, tmp_path):
    # the command starts the template fit in a second process before it imports PyTorch (grc.fit.start_prefit);
    # its models are those grc.train fits in process for the same seed and settings
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    settings = dict(steps=40, refine_steps=10, template_steps=60, template_lbfgs_steps=40, seed=3)
    script = ("import sys, pickle, grc; from grc.fit import start_prefit; from grc.model import layer_sizes; "
              "t = grc.load_templates(sys.argv[1]); c = grc.Config(**eval(sys.argv[2])).for_templates(len(t)); assert 'torch' not in sys.modules; "
              "_, M, N = t.grid_shape; from grc.fit import prefit_key; "
              "p = start_prefit(t, c, layer_sizes(c, M, 3 * N)['template']); r = p.result(prefit_key(t, c)); "
              "sys.stdout.buffer.write(pickle.dumps(r))")
    done = subprocess.run([sys.executable, "-c", script, str(grc.examples.template_set_path("petal")), repr(settings)],
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(root)}, cwd=root, check=True)
    import pickle

    params, loss = pickle.loads(done.stdout)
    # (a template model that breaks between time steps is mended there too: grc.fit.mend_between)
    model = grc.train(petal, grc.Config(**settings), device="cpu")
    n = len(params) // 2
    for i in range(n):
        assert np.allclose(params[i], model.weights[f"template.{i}.weight"], rtol=1e-6, atol=1e-7)
        assert np.allclose(params[n + i][:, 0], model.weights[f"template.{i}.bias"], rtol=1e-6, atol=1e-7)
    assert np.isclose(loss, model.info["template_loss"], rtol=1e-9)

    out = tmp_path / "petal.grc"  # and the command's model is the library's
    subprocess.run([sys.executable, "-m", "grc.cli", "train", str(grc.examples.template_set_path("petal")), "-o", str(out),
                    "-q", *[a for k, v in settings.items() for a in ("--set", f"{k}={v}")]],
                   env={**os.environ, "PYTHONPATH": str(root)}, cwd=root, check=True)
    from_cli = grc.load_model(out)
    model = grc.train(petal, grc.Config(**settings), device="cpu")
    assert all(np.allclose(from_cli.weights[k], model.weights[k], rtol=1e-5, atol=1e-6) for k in model.weights)


def test_a_failed_template_fit_in_the_second_process_is_done_here(petal, quick_petal):
    # grc.fit.Prefit: a process that fails (or fitted something else) leaves the fit to the training itself
    import subprocess
    import sys

    from grc.fit import Prefit
    from grc.training import train

    failed = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(1)"], stdout=subprocess.PIPE)
    model = train(petal, small_config(**QUICK), device="cpu", prefit=Prefit(failed, None, "/nonexistent"))
    assert all(np.array_equal(quick_petal.weights[k], model.weights[k]) for k in model.weights)
    assert failed.poll() is not None


PREFIT_SCRIPT = """
import sys
sys.path[:] = [p for p in sys.path if p not in ('', '.')]  # as the `grc` command's script: not the current folder
import json, grc
from grc.fit import prefit_key, start_prefit
from grc.model import layer_sizes
t = grc.load_templates(sys.argv[1]); c = grc.Config(**json.loads(sys.argv[2])).for_templates(len(t))
_, M, N = t.grid_shape
p = start_prefit(t, c, layer_sizes(c, M, 3 * N)['template'])
print(json.dumps({'pid': p.process.pid, 'payload': p.payload}), flush=True)
if sys.argv[3] == 'wait':
    import time; time.sleep(120)
reports = []
r = p.result(prefit_key(t, c), lambda *a: reports.append(a))
print(json.dumps({'fitted': r is not None, 'reports': reports}), flush=True)
"""


def _prefit(settings, cwd, mode=""):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen([sys.executable, "-c", PREFIT_SCRIPT, str(grc.examples.template_set_path("petal")),
                             json.dumps(settings), mode], stdout=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(root)})


def test_the_template_fits_process_runs_nothing_from_the_current_folder_and_reports_progress(tmp_path):
    # `python -c` put the folder `grc train` runs from before the standard library: a json.py or copy.py there ran
    # in the second process. And while it fitted, the command showed no progress (a big set: a minute of nothing).
    import json
    import os

    for name in ("json", "copy", "numbers", "platform"):
        (tmp_path / f"{name}.py").write_text(f"open({str(tmp_path / 'RAN')!r}, 'a').write('{name}')\n")
    settings = dict(template_steps=120, template_lbfgs_steps=60, seed=1)
    process = _prefit(settings, tmp_path)
    started = json.loads(process.stdout.readline())
    done = json.loads(process.stdout.readline())
    assert process.wait(60) == 0
    assert not (tmp_path / "RAN").exists()
    assert done["fitted"]  # the second process's fit, not the fallback
    steps = [step for step, total, loss in done["reports"]]
    assert steps and steps == sorted(steps) and steps[-1] >= 100
    assert all(total == 180 and loss > 0 for step, total, loss in done["reports"])
    assert not os.path.exists(started["payload"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_command_leaves_no_template_fit_running_and_no_file(tmp_path):
    # `grc train` killed by SIGKILL (the OOM killer, the Blender add-on's timeout) left its second process fitting
    # for as long as the fit took, and its data file in the temporary folder for good
    import json
    import os
    import signal
    import time

    process = _prefit(dict(template_steps=200_000), tmp_path, "wait")
    started = json.loads(process.stdout.readline())
    child = started["pid"]

    def running():
        try:
            with open(f"/proc/{child}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except FileNotFoundError:
            return False

    try:
        time.sleep(0.5)
        assert running()
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 10
        while running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running()
        assert not os.path.exists(started["payload"])
    finally:
        if running():
            os.kill(child, signal.SIGKILL)


def test_each_blend_a_repair_works_on_is_one_the_app_shows_broken(quick_petal, leaf_model):
    # issue 11: the repair's probe (inner time steps x blends -1..2) names shapes that
    # grc.coherence, through model_shapes as the app and `grc evaluate` make them, calls broken
    from grc.coherence import Coherence, blend_weights, direction_weights, model_shapes
    from grc.training import REPAIR_MOST, broken_blends, probe_times

    for model in (quick_petal, leaf_model):
        K = len(model.templates.names)
        coherence = Coherence(model.templates)
        (times, k, s), count = broken_blends(model, coherence)
        assert count > 0 and len(times) == min(count, REPAIR_MOST)  # these short trainings do break
        assert set(np.round(times, 9)) <= set(np.round(probe_times(model.templates), 9))
        for t, kk, ss in zip(times, k, s):
            weights = blend_weights(2, [ss]) if K == 2 else direction_weights(K, kk, [ss])
            assert coherence.broken(model_shapes(model, t, weights))[0], (t, kk, ss)


def test_repair_rounds_never_leave_more_broken_shapes_than_the_refine(petal):
    # issue 11: after the refine, rounds of training shapes around the broken ones; the model kept is the one
    # of the round with the fewest. Here (short trainings, the same seed up to the refine) the repair took the
    # petal's broken shapes in the probe from 78 to 16 and 63 to 9.
    from grc.coherence import Coherence
    from grc.training import broken_blends

    coherence = Coherence(petal)
    counts = []
    for seed in (0, 1):
        config = small_config(**QUICK, seed=seed, refine_extrapolations=32)
        before, after = (broken_blends(grc.train(petal, config.replace(refine_repairs=r), device="cpu"), coherence)[1]
                         for r in (0, 3))
        counts.append((before, after))
    assert all(after <= before for before, after in counts), counts
    assert any(after < before / 2 for before, after in counts), counts


def test_repair_shapes_lie_around_the_broken_blends_on_their_lines(petal):
    from types import SimpleNamespace

    from grc.coherence import direction_weights
    from grc.training import REPAIR_SHAPES, REPAIR_SPREAD, repair_draw

    leaf = grc.load_templates(LEAF)
    for templates in (petal, leaf):
        K, t = len(templates.names), templates.time
        d = SimpleNamespace(templates=templates, K=K, device=torch.device("cpu"))
        times, k, s = np.array([t[1], t[-2]]), np.array([1, K - 1]), np.array([-0.75, 1.9])
        T, lines = repair_draw(d, times, k, s)
        assert len(T) == len(lines) == 2 * REPAIR_SHAPES
        W = lines.weights()
        assert np.allclose(W.sum(axis=1), 1)
        step = (t[-1] - t[0]) / (len(t) - 1)
        for i in range(2):
            part = slice(i * REPAIR_SHAPES, (i + 1) * REPAIR_SHAPES)
            assert T[part][0] == times[i]  # the broken blend itself first
            assert np.all(np.abs(T[part] - times[i]) <= 0.25 * step + 1e-12)
            assert np.all((T[part] >= t[0]) & (T[part] <= t[-1]))
            # on the broken blend's own line (α, or s along template k's direction), within REPAIR_SPREAD
            along = W[part][:, 1] if K == 2 else (W[part][:, k[i]] - 1 / K) / (1 - 1 / K)
            assert along[0] == pytest.approx(s[i]) and np.all(np.abs(along - s[i]) <= REPAIR_SPREAD + 1e-12)
            if K > 2:
                assert np.allclose(W[part], direction_weights(K, k[i], along))


def test_the_rows_midway_between_time_steps_are_the_linear_interpolation():
    from grc.fit import between_rows

    leaf = grc.load_templates(LEAF)
    d = grc.fit.normalization(leaf, grc.Config())
    u, rows = between_rows(d["grid_u"], d["grid_rows"])
    K, (T, M, N) = len(leaf), leaf.grid_shape
    assert u.shape == ((T - 1) * M, 2) and rows.shape == (K, (T - 1) * M, 3 * N)
    grid = d["grid_rows"].reshape(K, T, M, -1)
    assert np.allclose(rows.reshape(K, T - 1, M, -1)[:, 2], (grid[:, 2] + grid[:, 3]) / 2)
    grid_u = d["grid_u"].reshape(T, M, 2)
    assert np.allclose(u.reshape(T - 1, M, 2)[2], (grid_u[2] + grid_u[3]) / 2)


def test_template_models_do_not_break_between_time_steps_where_shape_keys_do_not():
    # issue 11: the leaf's template models broke between time steps 0.5 and 1 (its near-point tip folded and
    # crossed itself, up to 8 % of its size off the linear interpolation) on every seed tried, so every shape at
    # those times did, even each template itself. Such a fit goes on with the rows midway between time steps
    # (grc.fit.mend_between; seeds 0, 1 and 3 all broke before).
    from grc.coherence import Coherence, shape_keys

    leaf = grc.load_templates(LEAF)
    coherence = Coherence(leaf)
    times = np.linspace(leaf.time[0], leaf.time[-1], 45)
    M = len(leaf.morph)
    for seed in (0, 1, 3):
        config = grc.Config(seed=seed, steps=10, refine_steps=0)
        model = grc.train(leaf, config, device="cpu")
        own = model.template_rows(np.repeat(times, M)[None], np.tile(leaf.morph, len(times))[None])
        for k in range(len(leaf)):
            keys = np.stack([shape_keys(leaf, t, np.eye(len(leaf))[k]) for t in times])
            broken = coherence.broken(own[k].reshape(len(times), M, -1, 3)) & ~coherence.broken(keys)
            assert not broken.any(), (seed, leaf.names[k], times[broken])
        assert evaluate(model, safe_range=False)["template_fit_rmse"] <= 0.003


def test_a_polish_fits_the_chosen_template_models_and_leaves_the_others_as_they_were():
    from grc import fit

    leaf = grc.load_templates(LEAF)
    config = grc.Config(seed=0, template_steps=100, template_lbfgs_steps=50).for_templates(3)
    d = fit.normalization(leaf, config)
    _, M, N = leaf.grid_shape
    sizes = grc.model.layer_sizes(config, M, 3 * N)["template"]
    start, _ = fit.fit_template_models(d["grid_u"], d["grid_rows"], sizes, config)
    only = np.array([False, True, False])
    polished, loss = fit.fit_template_models(d["grid_u"], d["grid_rows"], sizes, config, start, between=0.05,
                                             polish=True, only=only)
    for before, after in zip(start, polished):
        assert np.array_equal(before[~only], after[~only]) and not np.allclose(before[only], after[only])
    assert np.isclose(loss, fit.grid_error(polished, d["grid_u"], d["grid_rows"], config))
    none, _ = fit.fit_template_models(d["grid_u"], d["grid_rows"], sizes, config, start, polish=True,
                                      only=np.zeros(3, bool))  # none chosen: all as they were
    assert all(np.array_equal(a, b) for a, b in zip(start, none))


def test_a_polish_that_does_not_mend_a_template_model_is_not_kept(monkeypatch):
    # grc.fit.mend_between: a template model still broken after both polishes keeps its fit at the grid (the
    # polish would only cost it that: the procedural base + cup + droop + twist went past the engine's 0.003)
    from grc import fit

    leaf = grc.load_templates(LEAF)
    config = grc.Config(seed=3).for_templates(3)
    d = fit.normalization(leaf, config)
    _, M, N = leaf.grid_shape
    sizes = grc.model.layer_sizes(config, M, 3 * N)["template"]
    start, loss = fit.fit_template_models(d["grid_u"], d["grid_rows"], sizes, config)
    assert fit.broken_between(start, leaf, config).all()  # seed 3's three template models all break
    mended, mended_loss = fit.mend_between(d["grid_u"], d["grid_rows"], sizes, config, start, loss, leaf)
    assert not fit.broken_between(mended, leaf, config).any()
    assert mended_loss > loss  # the price: a looser fit at the grid (still far within the engine's target)

    seen = []
    monkeypatch.setattr(fit, "broken_between", lambda params, *a, only=None: seen.append(only) or np.ones(len(leaf), bool))
    beats = []
    kept, kept_loss = fit.mend_between(d["grid_u"], d["grid_rows"], sizes, config, start, loss, leaf,
                                       report=lambda *a: beats.append(a))
    assert len(seen) == 3 and all(np.array_equal(a, b) for a, b in zip(kept, start)) and np.isclose(kept_loss, loss)
    # it says it is alive after each check and during each polish (the second process's heartbeat), at the fit's end
    done = config.template_steps + config.template_lbfgs_steps
    assert len(beats) >= 5 and all(b[:2] == (done, done) for b in beats)


def test_a_ridge_per_unit_makes_a_decoder_that_bends_gently(petal):
    """The refine's least squares solved the last layer into large cancelling weights: scaling a sixth of the last
    hidden layer's units by 1.1 moved the petal by most of its size. Weighing each unit's share of the output
    (Config.refine_unit_ridge, Gaussian dropout's expected error) keeps the same bend small, and the fit as good."""
    from grc.diverge.bend import Bend, Look

    def trained(ridge):
        config = grc.Config.from_preset("default", steps=300, template_steps=100, template_lbfgs_steps=30,
                                        refine_steps=60, refine_repairs=0, refine_unit_ridge=ridge)
        model = grc.train(petal, config, device="cpu")
        moves = [np.sqrt(np.mean(np.sum((Look([Bend("scale", 1, {"cluster": k, "clusters": 6}, amount=1.1)])
                                         .shape(model, t, 0.5) - model.shape(t, 0.5)) ** 2, axis=-1)))
                 for k in range(6) for t in (0.3, 0.8)]
        return float(np.median(moves)), evaluate(model, safe_range=False)["reconstruction_rmse"]

    (plain, plain_fit), (ridged, ridged_fit) = trained(0.0), trained(1e-5)
    assert ridged < 0.2 * plain, (plain, ridged)
    assert ridged_fit < 1.5 * plain_fit + 0.005
    with pytest.raises(grc.GRCError, match="refine_unit_ridge"):
        grc.Config(refine_unit_ridge=-1.0)


@pytest.mark.parametrize("halves", [False, True])
def test_the_refines_gradient_is_its_losses_with_the_unit_ridge(halves):
    """With the last layer solved for error + ridge per unit, the refine returned the error alone and its gradient:
    L-BFGS line-searched a value whose gradient it was not given (off by 0.7 % at 1e-5, 86 % at 1e-3)."""
    from grc.training import refine_objective

    torch.manual_seed(0)
    flat = Flat(MLP([4, 32, 32, 3]).double())
    x = torch.randn(400, 4, dtype=torch.float64)
    y = torch.sin(3 * x[:, :3]) + x[:, 3:] ** 2
    w = torch.rand(400, 1, dtype=torch.float64) * 2 / 400
    hidden = torch.ones_like(flat.theta)  # a direction in the hidden layers (the last layer is solved, not moved)
    offset = 0
    for p in (*flat.weights, *flat.biases):
        if p is flat.weights[-1] or p is flat.biases[-1]:
            hidden[offset:offset + p.numel()] = 0
        offset += p.numel()
    for ridge in (1e-5, 1e-3):
        with refine_objective(flat, x, y, w, True, halves, ridge) as evaluate:
            start = flat.theta.clone()
            _, gradient = evaluate()
            d = torch.randn_like(start) * hidden
            d /= d.norm()
            flat.theta.copy_(start + 1e-5 * d)
            up, _ = evaluate()
            flat.theta.copy_(start - 1e-5 * d)
            down, _ = evaluate()
            flat.theta.copy_(start)
            assert float(gradient @ d) == pytest.approx((up - down) / 2e-5, rel=1e-3)


def test_a_model_saved_before_the_unit_ridge_reads_as_trained_without_it():
    """A setting missing from a model file read as today's default: a model trained before the ridge per unit would
    have said it was trained with it (grc info, a fine-tuning's settings)."""
    saved = grc.Config().to_json()
    assert grc.Config.from_json(saved).refine_unit_ridge == grc.Config().refine_unit_ridge > 0  # as saved
    del saved["refine_unit_ridge"]
    assert grc.Config.from_json(saved).refine_unit_ridge == 0.0
