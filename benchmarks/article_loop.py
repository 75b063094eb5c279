"""The GRC article's own training loop, re-implemented here to time it side by side with ours.

As the article's published code does it: one sample per step for 100,000 steps; each step draws a
random (time, morph) in [0, 1.1) and template weights w = r / sum(r), calls every template model on
that one sample and mixes their rows as the decoder's target, runs the encoder [21,15,10,3] and the
decoder [3,10,15,21] (ELU after every layer, the decoder fed the encoder's whole output), takes the
summed squared errors (the context target masked by 0.05), back-propagates the two losses one after
the other, and steps two Adam optimisers (1e-4 encoder, 2e-4 decoder). The template models are the
article preset's ([2,10,15,21], Adam), trained by our code first.

    python benchmarks/article_loop.py [--steps 100000]   # prints its time and the metrics
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import grc
from grc.metrics import evaluate
from grc.model import GRCModel, layer_sizes
from grc.training import MLP, Data, fit_templates

PETAL = Path(__file__).resolve().parents[1] / "templates" / "petal"


def single_template_models(weights: dict, K: int, sizes) -> list[MLP]:
    """The batched template models as K separate networks, as the article keeps them."""
    models = []
    for k in range(K):
        net = MLP(sizes, final_activation=True)
        for i, (w, b) in enumerate(zip(net.weights, net.biases)):
            w.data = torch.tensor(weights[f"template.{i}.weight"][k], dtype=torch.float32)
            b.data = torch.tensor(weights[f"template.{i}.bias"][k], dtype=torch.float32)[None]
        models.append(net)
    return models


def article_loop(template_models, sizes, steps: int, seed: int = 1, pause=None, every: int = 10_000):
    """-> encoder, decoder, and the seconds spent in `pause()` (called every `every` steps, to time
    something else side by side with the loop under the same machine load)."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    encoder, decoder = MLP(sizes["encoder"], True), MLP(sizes["decoder"], True)
    opt_e = torch.optim.Adam(encoder.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(decoder.parameters(), lr=2e-4)
    mask = torch.tensor([1.0, 1.0, 0.05])
    paused = 0.0
    for step in range(steps):
        coords = torch.Tensor(np.random.random([2]) * 1.1)[None]  # (1, 2): one sample
        r = np.random.random([len(template_models)])
        w = torch.Tensor(r / r.sum())
        target = template_models[0](coords) * w[0]
        for k in range(1, len(template_models)):
            target = target + template_models[k](coords) * w[k]
        relational_target = torch.cat([coords, torch.zeros(1, 1)], dim=1)
        opt_d.zero_grad()
        opt_e.zero_grad()
        z = encoder(target)
        out = decoder(z)
        loss_g = ((out - target) ** 2).sum()
        loss_r = (((z - relational_target) * mask) ** 2).sum()
        loss_g.backward(retain_graph=True)
        loss_r.backward()
        opt_d.step()
        opt_e.step()
        if pause and (step + 1) % every == 0:
            started = time.perf_counter()
            pause()
            paused += time.perf_counter() - started
    return encoder, decoder, paused


def run(steps: int = 100_000, pause=None, every: int = 10_000) -> tuple[float, float, dict]:
    """Template models (article preset) + the article's loop: (total seconds, loop seconds, metrics);
    `pause()` runs every `every` steps, its time left out of both."""
    templates = grc.load_templates(PETAL)
    config = grc.Config.from_preset("article")
    K, (_, M, N) = len(templates), templates.grid_shape
    sizes = layer_sizes(config, M, 3 * N)
    started = time.perf_counter()
    data = Data(templates, config, torch.device("cpu"))
    net, _ = fit_templates(data, sizes["template"], config, lambda p: None)
    fitted = time.perf_counter()
    weights = {**data.normalization(), **net.export("template")}
    encoder, decoder, paused = article_loop(single_template_models(weights, K, sizes["template"]), sizes, steps,
                                            pause=pause, every=every)
    done = time.perf_counter() - paused
    model = GRCModel(config.replace(steps=steps), templates,
                     {**weights, **encoder.export("encoder"), **decoder.export("decoder")})
    return done - started, done - fitted, evaluate(model)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    total, loop, metrics = run(args.steps)
    print(f"article: template models {total - loop:.1f} s, loop {loop:.1f} s "
          f"({args.steps} steps, {loop / args.steps * 1e3:.2f} ms/step), total {total:.1f} s")
    print(json.dumps({"article_seconds": total, "article_loop_seconds": loop, "metrics": metrics}))


if __name__ == "__main__":
    main()
