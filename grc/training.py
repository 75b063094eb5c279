"""Training: template models, then the relational encoder and generative decoder (PyTorch).

1. One MLP per template learns (time, morph) -> row from the artist's grid (all K at once).
2. Each step draws rows from the template models at random (time, morph), mixes them with
   random template weights w = r / sum(r), and trains encoder and decoder together: the
   decoder must rebuild the row, the encoder must name its (time, morph) and a context whose
   target, masked to `context_mask`, is 0 — so the context's value emerges from what the
   decoder needs to tell the templates apart. Separate Adam optimisers, as in the article.
3. (default preset) L-BFGS polishes the decoder on a fixed sample, the encoder frozen; each step
   sets the decoder's last (linear) layer by least squares (variable projection).

The networks are small, so per-operation overhead, not arithmetic, was most of the time: the passes
are written out by hand on flat weight vectors (`Flat`), without autograd (docs/benchmarks.md).

Progress goes to `callback(Progress)`; raising `Cancelled` in the callback stops training.
"""

from __future__ import annotations

import time as clock
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import SHAPE_SPACE_PAIR_MIXES, Config
from .errors import GRCError
from .model import FOURIER, GRCModel, VERSION, layer_sizes
from . import fit
from .optim import FlatAdam, lbfgs_flat, one_cycle
from .templates import TemplateSet

EXTRAPOLATION_WIDTH_FLOOR = 0.1  # an extrapolated row's weight is (median width / (width + this x median))²
FEATURES = 2 + 2 * FOURIER.shape[1]  # fourier(u)'s width


@dataclass(frozen=True)
class Progress:
    """One training report: `phase` is "templates", "relational" or "refine"; `cells`, from population
    training (grc.population), every cell's validation score at an exchange."""

    phase: str
    step: int
    total: int
    loss: float
    cells: tuple[float, ...] | None = None


class Cancelled(Exception):
    """Raise from a progress callback to stop training; the caller keeps its old model."""


PHASES = ("templates", "relational", "refine", "repair")


def resolve_device(device: str = "auto", cells: int = 1) -> torch.device:
    """"cuda" asks for the GPU. "auto" is the CPU for one training: networks this small leave a GPU
    launching kernels (measured on an H200 beside its 16 CPU cores: the petal 7.7-8.0 s against 5.9-6.3 s),
    and the GPU, when there is one, for a population of `cells` >= AUTO_GPU_CELLS trained at once (3 x 3:
    8.7 s against 16.4 s; smaller populations were not measured; docs/benchmarks.md)."""
    if device not in ("auto", "cpu", "cuda"):
        raise GRCError(f"expected auto, cpu or cuda, got {device!r}", field="device")
    if device == "cuda" and not torch.cuda.is_available():
        raise GRCError("CUDA was asked for but no CUDA GPU is available (use --device cpu or auto)", field="device")
    if device == "auto":
        device = "cuda" if cells >= AUTO_GPU_CELLS and torch.cuda.is_available() else "cpu"
    return torch.device(device)


AUTO_GPU_CELLS = 9  # "auto" trains a population of at least this many cells on the GPU, when there is one


# -- networks (torch mirrors of grc.model's numpy forward) ---------------------------------------


def fourier(u: torch.Tensor) -> torch.Tensor:
    z = u @ torch.as_tensor(FOURIER, dtype=u.dtype, device=u.device)
    return torch.cat([u, torch.sin(z), torch.cos(z)], dim=-1)


def decoder_features(u: torch.Tensor, context: torch.Tensor, kind: str, f: torch.Tensor | None = None) -> torch.Tensor:
    """The decoder's input; `f`, if given, is fourier(u) already computed."""
    if kind == "raw":
        return torch.cat([u, context], dim=-1)
    f = fourier(u) if f is None else f
    return torch.cat([f, context, (context[:, :, None] * f[:, None, :]).flatten(1)], dim=-1)


class MLP(nn.Module):
    """Linear layers with ELU between them (and after the last one if `final_activation`)."""

    def __init__(self, sizes, final_activation=False, copies: int | None = None):
        super().__init__()
        self.final_activation, self.copies = final_activation, copies
        batch = () if copies is None else (copies,)
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):  # PyTorch's default Linear initialisation
            bound = 1 / a ** 0.5
            self.weights.append(nn.Parameter(torch.empty(*batch, a, b).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(*batch, 1, b).uniform_(-bound, bound)))

    def forward(self, x):  # (batch, in) or, with copies, (copies, batch, in)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w) if self.copies else torch.addmm(b[0], x, w)
            if i < last or self.final_activation:
                x = nn.functional.elu(x)
        return x

    def export(self, name: str) -> dict[str, np.ndarray]:
        out = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"{name}.{i}.weight"] = w.detach().double().cpu().numpy()
            out[f"{name}.{i}.bias"] = (b[:, 0] if self.copies else b[0]).detach().double().cpu().numpy()
        return out


RIDGE = 1e-9  # the last layer's least-squares fit adds this share of its normal matrix's mean diagonal


class Flat:
    """An MLP's weights and their gradients, each in one flat tensor, with the forward and backward
    passes written out (no autograd).

    Why: these networks are small, so a training step is mostly per-operation overhead; autograd's
    bookkeeping and one optimiser call per weight matrix were most of it. Here a step is a few dozen
    tensor operations and the optimisers work on one vector. `net` (an MLP) keeps reading the same
    memory, so its export() and forward() see the trained weights.
    """

    def __init__(self, net: MLP):
        self.net, self.copies, self.final_activation = net, net.copies, net.final_activation
        params = [*net.weights, *net.biases]
        self.theta = torch.cat([p.detach().reshape(-1) for p in params])  # every weight, then every bias
        self.grad = torch.zeros_like(self.theta)
        shapes = [p.shape for p in params]
        views = [v.view(shape) for v, shape in zip(self.theta.split([p.numel() for p in params]), shapes)]
        grads = [v.view(shape) for v, shape in zip(self.grad.split([p.numel() for p in params]), shapes)]
        for p, v in zip(params, views):
            p.data = v
        n = len(net.weights)
        self.weights, self.biases = views[:n], views[n:]
        self.weight_grads, self.bias_grads = grads[:n], grads[n:]
        self.inputs: list[torch.Tensor] = []  # each layer's input, kept by forward() for backward()

    def activated(self, i: int) -> bool:
        return i < len(self.weights) - 1 or self.final_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            self.inputs.append(x)
            x = torch.baddbmm(b, x, w) if self.copies else torch.addmm(b[0], x, w)
            if self.activated(i):
                x = nn.functional.elu_(x)
        self.output = x
        return x

    def backward(self, g: torch.Tensor, input_grad: bool = False, hidden: torch.Tensor | None = None):
        """Gradients of a loss whose gradient at the output is g: into self.grad (overwritten);
        returns the gradient at the input if `input_grad`. `hidden`: more of the loss's gradient, at the
        last layer's input (the last hidden layer's activations; `unit_ridge_terms`)."""
        outputs = self.inputs[1:] + [self.output]
        last = len(self.weights) - 1
        for i in reversed(range(len(self.weights))):
            if self.activated(i):  # ELU'(z) = 1 where z > 0, else elu(z) + 1: one fused kernel
                g = torch.ops.aten.elu_backward(g, 1.0, 1, 1, True, outputs[i])
            x = self.inputs[i]
            torch.matmul(x.transpose(-1, -2), g, out=self.weight_grads[i])
            torch.sum(g, dim=-2, keepdim=True, out=self.bias_grads[i])
            if i or input_grad:
                g = g @ self.weights[i].transpose(-1, -2)
                if i == last and hidden is not None:
                    g = g + hidden
        return g if input_grad else None

    def twin(self) -> "Flat":
        """Another Flat on the same weights (theta) with its own gradient and kept inputs: a second thread's."""
        twin = object.__new__(Flat)
        twin.__dict__.update(self.__dict__)
        twin.grad = torch.zeros_like(self.theta)
        n = len(self.weights)
        grads = [v.view(p.shape) for v, p in zip(twin.grad.split([p.numel() for p in (*self.weights, *self.biases)]),
                                                 (*self.weights, *self.biases))]
        twin.weight_grads, twin.bias_grads, twin.inputs = grads[:n], grads[n:], []
        return twin

    @torch.no_grad()
    def solve_last_layer(self, targets: torch.Tensor, weights: torch.Tensor | None = None, ridge: float = RIDGE,
                         unit_ridge: float = 0.0):
        """Set the last layer (linear: no final activation) to the least-squares fit of `targets` from
        the last hidden layer of the latest forward(), weighted per row by `weights` (rows, 1); then
        its output is the one of the new weights. Variable projection (Golub & Pereyra): L-BFGS
        then moves only the hidden layers, each step meeting the best last layer for them. `ridge`,
        `unit_ridge`: see `regularise`."""
        hidden = self.inputs[-1]  # (..., rows, width)
        A = torch.cat([hidden, torch.ones_like(hidden[..., :1])], dim=-1).double()
        Aw = A if weights is None else A * weights.double()
        G = Aw.transpose(-1, -2) @ A  # (..., width + 1, width + 1)
        regularise(G, ridge, unit_ridge)
        X = torch.linalg.solve(G, Aw.transpose(-1, -2) @ targets.double()).to(hidden.dtype)
        self.weights[-1].copy_(X[..., :-1, :])
        self.biases[-1].copy_(X[..., -1:, :])
        self.output = torch.baddbmm(self.biases[-1], hidden, self.weights[-1]) if self.copies else \
            torch.addmm(self.biases[-1][0], hidden, self.weights[-1])
        return self.output


def regularise(G: torch.Tensor, ridge: float = RIDGE, unit_ridge: float = 0.0) -> None:
    """Regularise a last layer's normal matrix G (..., units + 1, units + 1) (its last row and column the
    bias's), in place: `ridge` times the mean of its diagonal added to the diagonal (for a solvable system),
    and `unit_ridge` times each unit's own diagonal entry to it (not the bias's). The second is the least
    squares' expected error when every hidden unit is multiplied by 1 + ε, ε of variance `unit_ridge` (as
    Gaussian dropout trains): it penalises each unit's share of the output, |h_j|² |w_j|², which is what a
    bend that scales unit j changes (Config.refine_unit_ridge)."""
    d = G.diagonal(dim1=-2, dim2=-1)
    extra = ridge * d.mean(dim=-1, keepdim=True)
    if unit_ridge:
        extra = extra + unit_ridge * torch.cat([d[..., :-1], torch.zeros_like(d[..., -1:])], dim=-1)
    d.add_(extra)


def unit_ridge_terms(flat: Flat, weights: torch.Tensor, unit_ridge: float):
    """The per-unit ridge's part of a refine's loss once its last layer is solved (`regularise`), ½ λ Σ_j |w_j|²
    Σ_r weight_r h_rj², and its gradient at the last hidden layer's activations h (the last layer held: it is the
    least squares' best for the whole loss, so by the envelope theorem that is the whole gradient the hidden layers
    need besides the error's). weights: (..., rows, 1) -> (loss (...,), gradient like h)."""
    h = flat.inputs[-1]
    norms = flat.weights[-1].square().sum(dim=-1).unsqueeze(-2)  # (..., 1, width): |w_j|²
    wh = weights * h
    return 0.5 * unit_ridge * ((wh * h) * norms).sum(dim=(-2, -1)), unit_ridge * wh * norms


# -- training --------------------------------------------------------------------------------------


def train(templates: TemplateSet, config: Config | None = None, *, device: str = "auto",
          callback=None, threads: int | None = 1, start: GRCModel | None = None, prefit=None) -> GRCModel:
    """Train template models and the encoder/decoder on a template set; returns a GRCModel.

    `start`: fine-tune from this model's encoder and decoder (`grc train --from`) instead of a random
    initialisation; it must have the same grid and network sizes. The result's lineage names it, so
    models fine-tuned from one parent are relatives that blend well (grc.diverge.blend).

    On the CPU it uses `threads` threads (None: PyTorch's default). One is the default because
    these networks are small: more threads barely help them, and on a busy machine they wait on each
    other (measured: a 7 s training took 80 s with two threads beside another busy process).

    `prefit`: a template fit already under way (grc.fit.start_prefit), whose result is used if it fits
    these templates and settings (the same models as fitting here).
    """
    config = config or Config()
    if start is not None and config.context_dims is None:
        config = config.replace(context_dims=start.context_dims)  # a fine-tuning keeps its parent's sizes
    config = config.for_templates(len(templates))
    dev = resolve_device(device)
    if threads is not None and dev.type == "cpu":
        if not isinstance(threads, int) or threads < 1:
            raise GRCError(f"expected a positive number of threads, got {threads!r}", field="threads")
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return train(templates, config, device=device, callback=callback, threads=None, start=start, prefit=prefit)
        finally:
            torch.set_num_threads(before)
    report = callback or (lambda progress: None)
    config = decided_targets(templates, config)  # (once: the call above with threads comes here)
    torch.manual_seed(config.seed)
    started = clock.perf_counter()

    _, M, N = templates.grid_shape
    sizes = layer_sizes(config, M, 3 * N)
    if start is not None:
        check_start(start, templates, config)
        # a fine-tuning stays near its parent: a tenth of the learning rates (the config records them)
        config = config.replace(lr_encoder=config.lr_encoder * FINE_TUNE_LR, lr_decoder=config.lr_decoder * FINE_TUNE_LR)
    data = Data(templates, config, dev)

    seconds = {}
    template_models, template_loss = fit_templates(data, sizes["template"], config, report, start, prefit)
    seconds["templates"] = clock.perf_counter() - started
    sampler = Sampler(data, template_models)
    encoder = MLP(sizes["encoder"], config.final_activation).to(dev)
    decoder = MLP(sizes["decoder"], config.final_activation).to(dev)
    if start is not None:
        for name, net in (("encoder", encoder), ("decoder", decoder)):
            for i, (w, b) in enumerate(zip(net.weights, net.biases)):
                w.data.copy_(torch.as_tensor(start.weights[f"{name}.{i}.weight"]))
                b.data.copy_(torch.as_tensor(start.weights[f"{name}.{i}.bias"]).reshape(b.shape))
    losses = train_relational(sampler, encoder, decoder, config, report)
    seconds["relational"] = clock.perf_counter() - started - sum(seconds.values())
    if config.refine_steps:
        losses["refine"] = refine_decoder(sampler, encoder, decoder, config, report)
        seconds["refine"] = clock.perf_counter() - started - sum(seconds.values())

    weights = {**data.normalization(), **template_models.export("template"),
               **encoder.export("encoder"), **decoder.export("decoder")}
    info = {"grc_version": VERSION, "torch_version": torch.__version__, "device": str(dev),
            "seconds": round(clock.perf_counter() - started, 3),
            "phase_seconds": {k: round(v, 3) for k, v in seconds.items()}, "template_loss": template_loss,
            "losses": losses, "trained_at": clock.strftime("%Y-%m-%dT%H:%M:%S")}
    if start is not None:
        from .diverge.blend import lineage

        info["lineage"] = lineage("fine-tune", [start])
    return GRCModel(config, templates, weights, info)


def same_templates(model: GRCModel, templates: TemplateSet) -> bool:
    """True when `model` was trained on exactly these templates (its template models can be kept)."""
    a, b = model.templates, templates
    return (len(a) == len(b) and a.grid_shape == b.grid_shape and np.array_equal(a.time, b.time)
            and np.array_equal(a.morph, b.morph) and np.array_equal(a.points, b.points))


FINE_TUNE_LR = 0.1  # share of the learning rates a fine-tuning (`start`) uses


def check_start(start: GRCModel, templates: TemplateSet, config: Config) -> None:
    """Raise GRCError unless `start`'s encoder and decoder fit a training of `templates` with `config`."""
    if start.grid_shape[1:] != templates.grid_shape[1:]:
        raise GRCError(f"the model's grid is {start.grid_shape[1]} rows x {start.grid_shape[2]} points; the "
                       f"templates' is {templates.grid_shape[1]} x {templates.grid_shape[2]}", field="--from")
    _, M, N = templates.grid_shape
    wanted = layer_sizes(config, M, 3 * N)
    have = layer_sizes(start.config, M, 3 * N)
    for net in ("encoder", "decoder"):
        if wanted[net] != have[net]:
            raise GRCError(f"the model's {net} has layers {have[net]}, these settings make {wanted[net]} "
                           f"(train with the model's own settings)", field="--from")


class Data:
    """The template set as tensors, with the normalization the networks work in."""

    def __init__(self, templates: TemplateSet, config: Config, device):
        self.config, self.device, self.K, self.templates = config, device, len(templates), templates
        d = fit.normalization(templates, config)
        self.center, self.scale, self.row_mean, self.row_scale = d["center"], d["scale"], d["row_mean"], d["row_scale"]
        self.lo, self.hi = (torch.tensor(d[k], dtype=torch.float32, device=device) for k in ("lo", "hi"))
        self.grid_u = torch.tensor(d["grid_u"], device=device)  # float64
        self.grid_rows = torch.tensor(d["grid_rows"], device=device)
        self.grid_morph = torch.tensor((np.asarray(templates.morph, float) - self.center[1]) / self.scale[1],
                                       device=device)

    def normalize(self, coords: torch.Tensor) -> torch.Tensor:
        center, scale = (torch.as_tensor(v, dtype=coords.dtype, device=coords.device) for v in (self.center, self.scale))
        return (coords - center) / scale

    def normalization(self) -> dict[str, np.ndarray]:
        return {"relational_center": self.center, "relational_scale": self.scale,
                "row_mean": self.row_mean, "row_scale": np.array([self.row_scale])}


def template_inputs(u: torch.Tensor, config: Config) -> torch.Tensor:
    return fourier(u) if config.template_features == "fourier" else u


def fit_templates(data: Data, sizes, config: Config, report, start: GRCModel | None = None,
                  prefit=None) -> tuple[MLP, float]:
    """Fit all K template models at once on the grid, in float64: Adam, then L-BFGS (from `start`'s
    template models when it has the same templates' count and sizes: a fine-tuning). The fit itself is
    numpy's, on the CPU whatever the device (grc.fit: these networks are tiny), or a `prefit`'s
    (grc.fit.start_prefit, started before PyTorch was imported); the models come back as an MLP on the
    device, in float32."""
    net = MLP(sizes, config.final_activation, copies=data.K)
    params = fit.initial_weights(sizes, data.K, config.seed)
    copied = 0  # the parent's template layers copied
    if start is not None and start.weights["template.0.weight"].shape[0] == data.K:
        n = len(net.weights)
        for i in range(n):
            theirs = start.weights.get(f"template.{i}.weight")
            if theirs is None or params[i].shape != theirs.shape:
                break
            params[i] = np.array(theirs, np.float64)
            params[n + i] = np.array(start.weights[f"template.{i}.bias"], np.float64).reshape(params[n + i].shape)
            copied += 1
    total = config.template_steps + config.template_lbfgs_steps
    grid_u, grid_rows = data.grid_u.cpu().numpy(), data.grid_rows.cpu().numpy()
    # the parent's template models fit these templates as they are only if all of them came over and they
    # read their inputs and write their outputs the same way; otherwise they are fitted (from what came over)
    same_models = start is not None and copied == len(net.weights) and all(
        getattr(start.config, key) == getattr(config, key)
        for key in ("template_features", "normalize", "final_activation"))
    fitted = None
    progress = lambda step, total, loss: report(Progress("templates", step, total, loss))  # noqa: E731
    inherited = same_models and same_templates(start, data.templates)
    # a template model that breaks between its time steps, where the templates' linear interpolation in time does
    # not, is fitted on with the rows midway between them (grc.fit.mend_between); not for a fine-tuning, which
    # keeps its parent's template models so that relatives blend (grc.diverge.blend), nor twice
    mend = not inherited
    if inherited:
        fitted = params, fit.grid_error(params, grid_u, grid_rows, config)
    elif prefit is not None and copied == 0:
        fitted = prefit.result(fit.prefit_key(data.templates, config), progress)
        mend = fitted is None  # the second process mends as this one would (grc.fit.prefit_main)
    if fitted is None:
        fitted = fit.fit_template_models(grid_u, grid_rows, sizes, config, params, progress)
    params, loss = fitted
    if mend:
        params, loss = fit.mend_between(grid_u, grid_rows, sizes, config, params, loss, data.templates)
    with torch.no_grad():
        for p, v in zip([*net.weights, *net.biases], params):
            p.copy_(torch.from_numpy(v))
    report(Progress("templates", total, total, loss))
    return net.to(data.device, torch.float32), loss


class Sampler:
    """Random training rows: template models at random (time, morph), mixed by random weights."""

    def __init__(self, data: Data, template_models: MLP):
        self.data, self.models = data, template_models

    @torch.no_grad()
    def __call__(self, batch: int):
        """-> mixed rows (batch, 3N) and their normalized relational coordinates u (batch, 2)."""
        rows, weights, u = self.draw(batch)
        return (weights * rows).sum(dim=0), u

    @torch.no_grad()
    def draw(self, batch: int):
        """-> the template models' rows (K, batch, 3N) at random (time, morph) u (batch, 2), and random
        mixing weights (K, batch, 1) summing to 1."""
        d = self.data
        coords = d.lo + torch.rand(batch, 2, device=d.device) * (d.hi - d.lo)
        u = d.normalize(coords)
        rows = self.models(template_inputs(u, d.config).expand(d.K, -1, -1))  # (K, batch, 3N)
        r = torch.rand(d.K, batch, 1, device=d.device)
        share = d.config.pair_mixes
        if d.K > 2 and share:
            # a share of the mixes on the edge between two random templates (the others weigh 0): where a pair's
            # blend runs (grc.metrics' interpolation), which mixes of all K all but never reach
            edge = torch.rand(batch, device=d.device) < share
            pair = torch.rand(d.K, batch, device=d.device).argsort(dim=0).argsort(dim=0) < 2  # (K, batch): two of K
            r = torch.where((edge[None] & ~pair)[..., None], torch.zeros_like(r), r)
        return rows, r / r.sum(dim=0).clamp_min(1e-12), u

    @torch.no_grad()
    def blends(self, batch: int, encoder: MLP):
        """As __call__ (the same draws), with each mixed row's context as a model gives a blend: its weights'
        mix of the templates' traces, Σ w_k trace_k (grc.coherence.model_shapes), not the encoder's reading of
        the mixed row. -> rows (batch, 3N), u (batch, 2), context (batch, C)."""
        rows, weights, u = self.draw(batch)
        traces = encoder(rows.flatten(0, 1))[:, 2:].reshape(*rows.shape[:2], -1)
        return (weights * rows).sum(dim=0), u, (weights * traces).sum(dim=0)


def context_gradient(g: torch.Tensor, u: torch.Tensor, context: torch.Tensor, config: Config,
                     f: torch.Tensor | None = None) -> torch.Tensor:
    """Back through decoder_features: the gradient at the decoder's input (batch, width) -> the
    gradient at the encoder's output (batch, 2 + C) (zero for (time, morph) unless the decoder
    reads them from the encoder)."""
    B, C = context.shape
    if config.decoder_features == "raw":
        g_u, g_context = g[:, :2], g[:, 2:]
    else:
        F = FEATURES
        products = g[:, F + C:].reshape(B, C, F)  # the gradient at context_c * f_j
        f = fourier(u) if f is None else f
        g_context = g[:, F:F + C] + (products @ f[:, :, None])[:, :, 0]
        g_u = None
        if config.decoder_input == "encoder":
            g_f = g[:, :F] + (context[:, None, :] @ products)[:, 0]
            z = u @ torch.as_tensor(FOURIER, dtype=u.dtype, device=u.device)
            waves = g_f[:, 2:2 + z.shape[1]] * torch.cos(z) - g_f[:, 2 + z.shape[1]:] * torch.sin(z)
            g_u = g_f[:, :2] + waves @ torch.as_tensor(FOURIER.T, dtype=u.dtype, device=u.device)
    if config.decoder_input != "encoder":
        g_u = torch.zeros_like(u)
    return torch.cat([g_u, g_context], dim=1)


def relational_step(encoder: Flat, decoder: Flat, rows, u, config: Config, f=None, mask=None):
    """One step's forward and backward passes (gradients into encoder.grad, decoder.grad): the
    article's lossG = |decoder(...) - row|² and masked lossR = |(encoder(row) - (u, 0)) mask|²,
    both summed over a row and averaged over the batch. The encoder learns from both losses, the
    decoder from lossG. `f` (fourier(u)) and `mask` may come precomputed. -> the two errors, for
    the losses when they are reported."""
    B, C = len(rows), config.context_dims
    z = encoder.forward(rows)  # (batch, 2 + C): time, morph, context
    if config.decoder_input == "encoder":
        relational, f = z[:, :2], None
    else:
        relational = u
    out = decoder.forward(decoder_features(relational, z[:, 2:], config.decoder_features, f))
    error_g = out - rows
    g = decoder.backward(error_g * (2 / B), input_grad=True)
    if mask is None:
        mask = torch.tensor([1.0, 1.0] + [config.context_mask] * C, dtype=rows.dtype, device=u.device)
    error_r = torch.cat([z[:, :2] - u, z[:, 2:]], dim=1) * mask
    encoder.backward(context_gradient(g, relational, z[:, 2:], config, f) + error_r * mask * (2 / B))
    return error_g, error_r


def train_relational(sampler: Sampler, encoder: MLP, decoder: MLP, config: Config, report) -> dict:
    """Joint encoder/decoder training with separate Adam optimisers; returns the final losses."""
    encoder, decoder = Flat(encoder), Flat(decoder)
    opt_e, opt_d = FlatAdam(encoder.theta), FlatAdam(decoder.theta)
    rate = (lambda step: one_cycle(step, config.steps, 1.0)) if config.schedule == "onecycle" else (lambda step: 1.0)
    every = max(1, config.steps // 200)
    running_g = running_r = 0.0
    chunk = 64  # draw the rows of 64 steps at once (and their Fourier features): fewer small calls per step
    mask = torch.tensor([1.0, 1.0] + [config.context_mask] * config.context_dims, device=encoder.theta.device)
    for step in range(config.steps):
        if step % chunk == 0:
            n = min(chunk, config.steps - step)
            rows_u = sampler(config.batch_size * n)
            all_rows, all_u, all_f = (v.split(config.batch_size) for v in (*rows_u, fourier(rows_u[1])))
        i = step % chunk
        error_g, error_r = relational_step(encoder, decoder, all_rows[i], all_u[i], config, all_f[i], mask)
        opt_e.step(encoder.grad, config.lr_encoder * rate(step))
        opt_d.step(decoder.grad, config.lr_decoder * rate(step))
        if step % every == 0 or step == config.steps - 1:
            running_g = error_g.square().sum(dim=1).mean().item()
            running_r = error_r.square().sum(dim=1).mean().item()
            report(Progress("relational", step + 1, config.steps, running_g))
    return {"decoder": running_g, "encoder": running_r}


DECIDE_STEPS = np.arange(-1, 2.001, 0.25)  # s along each template's direction where "auto" compares the targets


def decided_targets(templates: TemplateSet, config: Config) -> Config:
    """`config` with "auto" extrapolation targets decided for these templates, by what the targets themselves do
    (issue 11; docs/coherence.md, part 16). Two templates: shape space, as "auto" always says. Three or more:
    the linear blends (shape keys'), unless those break (grc.coherence) at the inner time steps along some
    template's direction in s -1..2 and the shape-space blends break less; then shape space ("shape-space" in
    the config kept with the model), with at least SHAPE_SPACE_PAIR_MIXES of the mixes on the templates' edges, as
    the Train tab's "beyond 3+ in shape space" asks. The linear targets keep the engine's reach where shape keys
    are whole; where they cross themselves or fold, a model taught them (broken ones are dropped, not mended)
    broke as often as shape keys, and one taught shape space did not (a rolled shell: 5-6 of 117 against 0). The
    check judges the templates' blends at the times a repair round probes the model (`probe_times`), at 13 blends
    per direction where the probe takes 31."""
    K = len(templates)
    if (config.refine_extrapolation_targets != "auto" or K <= 2 or not config.extrapolations(K)
            or not config.refine_steps or not config.refine_extrapolations):  # (no refine, or none in shape space)
        return config
    from .coherence import Coherence, direction_weights, shape_keys
    from .shapespace import template_space

    times = probe_times(templates)  # the inner time steps
    weights = np.concatenate([direction_weights(K, k, DECIDE_STEPS) for k in range(K)])
    coherence = Coherence(templates)
    broken_linear = sum(int(coherence.broken(shape_keys(templates, t, weights)).sum()) for t in times)
    if not broken_linear:
        return config
    space = template_space(templates, config.refine_extrapolation_shared)
    damping = config.refine_extrapolation_stretch_damping
    broken_space = sum(int(coherence.broken(space_blend(space, shape_keys(templates, t, np.eye(K)), weights,
                                                        damping)).sum()) for t in times)
    if broken_space >= broken_linear:
        return config
    return config.replace(refine_extrapolation_targets="shape-space", pair_mixes=max(config.pair_mixes,
                                                                                     SHAPE_SPACE_PAIR_MIXES))


@torch.no_grad()
def extrapolated_rows(sampler: Sampler, encoder: MLP, config: Config, at=None, coherence=None):
    """Training rows beyond the templates (issue 11): `config.extrapolations(K)` shapes at random times and
    blends outside [0, 1] (α for two templates; for more, on lines that leave the templates' simplex, `exit_lines`),
    each the template models' grids at that time blended in shape space
    (grc.shapespace: per-triangle rotations and stretches extrapolated in log space, so a petal that opens
    from A to B keeps opening; the stretches damped beyond the templates, `space_blend`) or, where
    `config.linear_targets` (three or more templates by default), blended linearly as shape keys blend them,
    with the context the blend gives: mean + Σ w_k (trace_k - mean).
    -> u (rows, 2), context (rows, C), targets (rows, 3N), normalized as the networks see them, and each
    row's relative weight (rows,), mean 1.

    `at`: (times (n,), `Lines`) instead of random ones (`repair_draw`); a blend between the templates (x = 0)
    then gets the linear mix, as the random mixes do. `coherence`: the templates' grc.coherence.Coherence."""
    from .shapespace import template_space

    d = sampler.data
    K, n = d.K, config.extrapolations(d.K)
    u, context, rows, lines, traces = extrapolated_contexts(sampler, encoder, n, config.refine_extrapolation_reach, at)
    n = len(lines)
    weights = lines.weights()
    M = len(d.grid_morph)
    grids = (rows.double().cpu().numpy() * d.row_scale + d.row_mean).reshape(K, n, M, -1, 3)
    linear = config.linear_targets(K)  # targets: the linear blends (shape keys'), else shape-space blends
    space = None if linear else template_space(d.templates, config.refine_extrapolation_shared)
    use = np.ones(n * M)  # each row's share of its weight, from where its context lies
    if config.refine_extrapolation_separation:
        # Where the templates' traces (nearly) meet, a blend's context beyond them is (nearly) an interior one:
        # a target there would pull the shapes between the templates (the sprout's base rows: interpolation
        # 0.005 -> 0.08). Each row's weight scales with how far its templates' traces spread, relative to
        # `refine_extrapolation_separation` times the median spread (capped at 1).
        spread = (traces - traces.mean(dim=0)).abs().amax(dim=0).sum(dim=-1).double().cpu().numpy()  # (n*M,)
        use = use * np.clip(spread / (config.refine_extrapolation_separation * np.median(spread) + 1e-12), 0, 1)
    if K > 2:
        # The templates' traces rarely span the context: the leaf's three lie on (nearly) one line in most rows,
        # with K - 1 values as with one. A blend beyond one template can then land among the others' traces,
        # on a context the shapes between the templates use. Each row weighs as much as its context stays clear
        # of the traces' simplex (the mixes' contexts), against how far it went from where its line left it:
        # nothing where it falls back inside, all where it is at least HULL_CLEAR of that away.
        start = torch.as_tensor(np.repeat(lines.start, M, axis=0), dtype=traces.dtype, device=d.device)
        went = (context - torch.einsum("rk,krc->rc", start, traces)).norm(dim=-1)
        clear = hull_distance(context, traces)
        use = use * torch.clamp(clear / (HULL_CLEAR * went + 1e-12), 0, 1).double().cpu().numpy()
    inside = lines.x <= 0  # blends between the templates: the linear mix, every row
    use = np.where(np.repeat(inside, M), 1.0, use)
    beyond = use.reshape(n, M).any(axis=1) & ~inside  # the shapes beyond, with a row to learn from
    keep = beyond & (not linear)  # those blended in shape space (none with linear targets)
    shapes = np.einsum("nk,knmpc->nmpc", weights, grids)  # (n, M, N, 3): linear blends, for those without
    damping = config.refine_extrapolation_stretch_damping
    if keep.any():
        shapes[keep] = space_blend(space, grids[:, keep].swapaxes(0, 1), lines[keep], damping)
    if config.refine_extrapolation_retime and not linear:
        shapes[keep] = retimed(space, grids[:, keep], lines[keep], shapes[keep], config.refine_extrapolation_retime,
                               damping)
    targets = (shapes.reshape(n * M, -1) - d.row_mean) / d.row_scale
    # Each row's weight grows as its width shrinks (relative errors count, as in the shape-space fit): a
    # petal's base row is a few hundredths wide and a small absolute error there turns it inside out.
    width = np.linalg.norm(shapes - shapes.mean(axis=2, keepdims=True), axis=-1).mean(axis=2).ravel()  # (n*M,)
    typical = np.median(width)
    relative = (typical / (width + EXTRAPOLATION_WIDTH_FLOOR * typical)) ** 2 * use
    if config.refine_extrapolation_coherent:
        # a blend (in shape space, or linear) that crosses itself or folds is no target (grc.coherence at
        # subdivision 2)
        from .coherence import Coherence

        coherence = coherence or Coherence(d.templates)
        broken = np.zeros(n, bool)
        check = beyond | inside  # (none may be left: no context, or every blend among the other templates' traces)
        if check.any():
            broken[check] = coherence.broken(shapes[check])
        # a broken target retreats towards the templates, blend (or s) pulled in by these shares of its reach
        # beyond [0, 1], until coherent: beyond the templates "to a diminishing degree". A broken linear one is
        # dropped instead: the linear blend nearer the templates, taught at the far blend's context, is a shape
        # that slows while its context moves on, and it cost the leaf its interpolation on two seeds of ten (0.061,
        # 0.181; dropped, 0.002-0.010) where the contexts beyond lie among those between the templates.
        for share in () if linear else RETREAT[:config.refine_extrapolation_retreat]:
            if not (broken & ~inside).any():
                break
            which = np.flatnonzero(broken & ~inside)
            again = space_blend(space, grids[:, which].swapaxes(0, 1), lines[which].retreat(share), damping)
            ok = ~coherence.broken(again)
            shapes[which[ok]] = again[ok]
            broken[which[ok]] = False
        targets = (shapes.reshape(n * M, -1) - d.row_mean) / d.row_scale
        relative = relative * np.repeat(~broken, M)
    relative = relative / (relative.mean() or 1.0)
    return (u, context, torch.as_tensor(targets, dtype=rows.dtype, device=d.device),
            torch.as_tensor(relative, dtype=rows.dtype, device=d.device))  # mean 1


RETIME_NEAR = 0.5  # retiming asks for the linear blend's share of the way up to this far beyond the templates
RETIME = np.linspace(1.0, 1.2, 9)  # a retimed target moves at most this share of its reach beyond [0, 1] further


class Lines:
    """Blends beyond the templates, each on a line that leaves the templates' simplex at `start` (B, K) and
    goes on by `x` (B,) units of `step` (B, K): weights = start + x · step.

    Two templates: α beyond 1 leaves at template B, step B − A, x = α − 1 (below 0: at A, step A − B, x = −α).
    More: a line leaves at a template (step a mix of the pair directions e_b − e_a: along one pair's edge, as
    grc.metrics measures extrapolation, or along the template's direction, grc.coherence's direction_weights)
    or through the middle of a face (step mean − e_k, away from the template opposite; the face's shapes are
    mixes of templates, which the shape-space target then starts from: `space_blend`)."""

    def __init__(self, start, step, x):
        self.start, self.step, self.x = np.asarray(start, float), np.asarray(step, float), np.asarray(x, float)

    @classmethod
    def of(cls, weights: np.ndarray) -> "Lines":
        """The line each blend of `weights` (B, K) lies on: α for two templates; for more, s along the direction
        of the template whose weight is farthest from 1 / K (beyond 1: from that template; below 0: from the
        templates' mean, as the direction's blends count s). Blends inside [0, 1] have x = 0."""
        weights = np.atleast_2d(np.asarray(weights, float))
        B, K = weights.shape
        eye = np.eye(K)
        if K == 2:
            s, k = weights[:, 1], np.ones(B, int)
            origin, end = eye[np.zeros(B, int)], eye[k]
        else:
            k = np.argmax(np.abs(weights - 1 / K), axis=1)
            s = (weights[np.arange(B), k] - 1 / K) / (1 - 1 / K)
            origin, end = np.full((B, K), 1 / K), eye[k]
        beyond, below = s > 1, s < 0
        start = np.where(beyond[:, None], end, np.where(below[:, None], origin, weights))
        step = np.where(below[:, None], origin - end, end - origin)
        return cls(start, step, np.where(beyond, s - 1, np.where(below, -s, 0.0)))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, which):
        return Lines(self.start[which], self.step[which], self.x[which])

    def weights(self, x=None) -> np.ndarray:
        """The blends' weights (B, K), at `x` (B,) instead of their own reach if given."""
        return self.start + (self.x if x is None else np.asarray(x, float))[:, None] * self.step

    def retreat(self, share: float) -> "Lines":
        """The blends pulled back towards the templates along their lines: the reach beyond them times `share`."""
        return Lines(self.start, self.step, share * self.x)

    def damped(self, damping: float) -> np.ndarray:
        """The weights whose reach x becomes x / (1 + damping x): the stretches' weights of a damped
        shape-space blend (`space_blend`)."""
        return self.weights(self.x / (1 + damping * self.x))


def lines_of(blends) -> Lines:
    return blends if isinstance(blends, Lines) else Lines.of(blends)


def retreat(weights, share: float) -> np.ndarray:
    """Blend weights (B, K) beyond the templates pulled back towards them along their line (`Lines.of`): the part
    beyond [0, 1] times `share`. Two templates: α < 0 -> share · α, α > 1 -> 1 + share · (α - 1)."""
    return lines_of(weights).retreat(share).weights()


def damped(weights, damping: float) -> np.ndarray:
    """Blend weights (B, K) whose reach x beyond [0, 1] (along their line) becomes x / (1 + damping x)."""
    return lines_of(weights).damped(damping)


def space_blend(space, grids, blends, damping: float = 0.0):
    """`space.blend` (grids (K, M, N, 3)) or `space.blend_each` (grids (S, K, M, N, 3), a set per blend) at
    `blends` (weights (S, K) or `Lines`), its stretches damped beyond the templates (`damped`) when `damping` > 0:
    each part keeps turning as it turned between the templates, but grows or shrinks less and less ("to a
    diminishing degree"). On the bundled petal's own templates, damping 0.5 keeps every shape in blends -1..2
    whole (4 of 65 broken undamped) and brings the stretch at blend 2 under half of shape keys'
    (benchmarks/extrapolation_references.py).

    Beyond the templates, a blend is the linear mix where its line leaves the simplex plus the shape-space change
    from there on: the random mixes between the templates are linear, and the two must meet where the line
    leaves. A line through a face starts from a mix of templates, which the shape space does not give as the
    linear mix; nor, where the first template's triangles are (nearly) degenerate or turn by nearly 180 degrees
    (the leaf's near-point tip: up to 3 % of its size), does it give every template back exactly (elsewhere it does, to 1e-12: no change there)."""
    lines = lines_of(blends)
    weights = lines.weights()
    stretch = lines.damped(damping) if damping else None
    each = np.ndim(grids) == 5
    blend = space.blend_each if each else space.blend
    logs = space.logs(grids)  # (the blends at the lines' starts below share them)
    out = blend(grids, weights, stretch, logs=logs)
    leaves = (lines.start.min(axis=1) < 1e-9) & (lines.x > 0)  # lines that leave the simplex (at a template or a face)
    if leaves.any():
        G = grids[leaves] if each else np.broadcast_to(grids, (int(leaves.sum()), *np.shape(grids)))
        start = lines.start[leaves]
        if each:
            at_start = space.blend_each(G, start, logs=tuple(x[leaves] for x in logs))
        else:  # one set of grids (retimed's candidates): each distinct start once
            starts, which = np.unique(start, axis=0, return_inverse=True)
            at_start = space.blend(grids, starts, logs=logs)[which.ravel()]
        gap = np.einsum("sk,skmpc->smpc", start, G) - at_start
        size = np.ptp(np.reshape(grids, (-1, 3)), axis=0).max()
        off = np.abs(gap).reshape(len(gap), -1).max(axis=1) > START_GAP * size  # where the shape space misses it
        out[np.flatnonzero(leaves)[off]] += gap[off]
    return out


def retimed(space, grids, blends, shapes, share: float, damping: float = 0.0):
    """Shape-space targets that move less far than `share` of the linear blend's way beyond the templates
    (along their line, as grc.metrics measures extrapolation: (shape - start) · (end - start) / |end - start|²,
    start where the line leaves the templates, end one step on; counted up to RETIME_NEAR steps) moved along
    their line in shape space (further out) until they do: a part that turns moves along an arc, and less far
    than a linear blend. grids (K, B, M, N, 3); blends: weights (B, K) or `Lines`."""
    lines = lines_of(blends)
    out = shapes.copy()
    for i in range(len(lines)):
        G = grids[:, i]  # (K, M, N, 3)
        a = np.tensordot(lines.start[i], G, axes=1)
        d = (np.tensordot(lines.start[i] + lines.step[i], G, axes=1) - a).ravel()
        if d @ d < 1e-12 or lines.x[i] <= 0:
            continue
        least = share * min(lines.x[i], RETIME_NEAR)
        if (shapes[i] - a).ravel() @ d / (d @ d) >= least:
            continue  # far enough already
        further = Lines(np.repeat(lines.start[i:i + 1], len(RETIME), 0), np.repeat(lines.step[i:i + 1], len(RETIME), 0),
                        lines.x[i] * RETIME)
        candidates = space_blend(space, G, further, damping)
        reach = (candidates - a).reshape(len(RETIME), -1) @ d / (d @ d)
        out[i] = candidates[np.argmin(np.abs(reach - least))]
    return out


RETREAT = (0.75, 0.5, 0.25)  # the shares of a broken target's reach beyond [0, 1] tried, in turn


def refine_decoder(sampler: Sampler, encoder: MLP, decoder: MLP, config: Config, report) -> float:
    """Polish the decoder with L-BFGS, the encoder frozen, on fixed rows: random mixes, plus each
    template's grid rows (weighted) decoded from the context its trace gives them, plus (`extrapolated_rows`)
    shapes beyond the templates.

    Then, where there are extrapolated shapes, up to `config.refine_repairs` repair rounds: the model's shapes
    are checked as the app shows them (`broken_blends`: inner time steps x blends -1..2), and where one is
    broken the refine goes on for REPAIR_STEPS with training shapes around it (`repair_draw`), until none is;
    the model kept is the one of the round that left the fewest (docs/coherence.md, part 9). While repairing,
    the templates' own rows weigh REPAIR_TEMPLATE_WEIGHT times more: without that, the petal's reconstruction
    went from 0.0075 to 0.012-0.014 on a seed whose repair took four rounds (0.008 with it)."""
    d = sampler.data
    with torch.no_grad():
        extrapolations = config.extrapolations(d.K)
        blend_contexts = extrapolations > 0
        if blend_contexts:  # the extrapolated rows' contexts are blends' contexts: the mixes' must agree
            rows, u, mix_context = sampler.blends(config.refine_samples, encoder)
        else:
            rows, u = sampler(config.refine_samples)
        template_rows = sampler.models(template_inputs(d.grid_u.float(), d.config).expand(d.K, -1, -1))
        context = encoder(torch.cat([rows, template_rows.flatten(0, 1)]))[:, 2:]  # traces, as GRCModel.traces
        if blend_contexts:
            context[:len(rows)] = mix_context
        u = torch.cat([u, d.grid_u.float().repeat(d.K, 1)])
        inputs = decoder_features(u, context, config.decoder_features)
        targets = torch.cat([rows, d.grid_rows.flatten(0, 1).float()])  # the artist's grid points themselves
        weights = torch.ones(len(targets), device=d.device)
        weights[len(rows):] = config.refine_template_weight
        count = len(targets)
        if extrapolations:  # shapes beyond the templates, blended in shape space (or linearly: linear_targets)
            more_u, more_context, more_targets, relative = extrapolated_rows(sampler, encoder, config)
            count += len(more_targets)
            # rows that weigh nothing (no target there, or a broken one) change neither the fit nor its gradient:
            # they are left out of the L-BFGS work (the leaf: four fifths, blends among the other templates'
            # traces). Rows that weigh little are kept: leaving out those under a tenth of the mean (the wide
            # rows, a quarter of the petal's, 1.5 % of the weight) broke the petal 1-3 times in 65 (0 with them)
            learn = relative > 0
            weights = torch.cat([weights, config.refine_extrapolation_weight * relative])
            inputs = torch.cat([inputs, decoder_features(more_u[learn], more_context[learn], config.decoder_features)])
            targets = torch.cat([targets, more_targets[learn]])
        weights /= weights.mean()
        if extrapolations:
            weights = torch.cat([weights[:count - len(relative)], weights[count - len(relative):][learn]])
    flat = Flat(decoder)
    solve = not config.final_activation  # variable projection: the last layer by least squares

    def run(phase: str, steps: int):
        def progress(iteration, loss):
            if iteration % 20 == 0:
                report(Progress(phase, iteration, steps, loss))

        halves = len(inputs) >= PARALLEL_ROWS and d.device.type == "cpu" and torch.get_num_threads() == 1
        scaled = (weights * (2 / count))[:, None]  # the gradient of the weighted mean (over every row)
        with refine_objective(flat, inputs, targets, scaled, solve, halves, config.refine_unit_ridge) as evaluate:
            loss = lbfgs_flat(flat.theta, evaluate, steps, history=10, callback=progress)
        report(Progress(phase, steps, steps, loss))
        return loss

    loss = run("refine", config.refine_steps)
    if not (config.refine_repairs and extrapolations):  # (its targets are the extrapolated rows')
        return loss
    from .coherence import Coherence

    coherence = Coherence(d.templates)

    def probe():  # the model as it is now
        state = {**d.normalization(), **sampler.models.export("template"), **encoder.export("encoder"),
                 **decoder.export("decoder")}
        return broken_blends(GRCModel(config, d.templates, state), coherence)

    found, broken = probe()
    best = (broken, flat.theta.detach().clone(), loss)
    for turn in range(config.refine_repairs):
        if not broken:
            break
        # training shapes around each broken one, the targets `extrapolated_rows` gives there (the linear mix
        # between the templates), weighing REPAIR_WEIGHT each: the refine goes on with them
        with torch.no_grad():
            more_u, more_context, more_targets, relative = extrapolated_rows(
                sampler, encoder, config, repair_draw(d, *found), coherence)
            learn = relative > 0
            inputs = torch.cat([inputs, decoder_features(more_u[learn], more_context[learn], config.decoder_features)])
            targets = torch.cat([targets, more_targets[learn]])
            weights = torch.cat([weights, REPAIR_WEIGHT * REPAIR_GROWTH ** turn * relative[learn]])
            if turn == 0:  # the templates' own rows weigh more while repairing: they stay as they were
                weights[len(rows):len(rows) + d.K * len(d.grid_u)] *= REPAIR_TEMPLATE_WEIGHT
            count += len(relative)
        again = run("repair", REPAIR_STEPS)
        found, broken = probe()
        if broken < best[0]:
            best = (broken, flat.theta.detach().clone(), again)
    with torch.no_grad():
        flat.theta.copy_(best[1])  # the round that left the fewest broken shapes (or none: the refine's model)
    return best[2]


REPAIR_STEPS = 50  # L-BFGS steps of a repair round (`refine_repairs`)
REPAIR_WEIGHT = 3.0  # a repair row's weight (times its relative width weight), against a random mix's 1
REPAIR_GROWTH = 3.0  # and this many times more in each further round
# the blends probed, in steps of 0.05 as the safe range's: α; for more templates, s along each one's direction in
# steps of 0.1 (K directions: on the leaf, ten seeds, the safe range still covered [-1, 2] everywhere, and a probe
# took half the 0.11-0.9 s; a repair round's spread, REPAIR_SPREAD, reaches past the steps between)
REPAIR_BLENDS = np.linspace(-1.0, 2.0, 61)
REPAIR_BLENDS_MORE = np.linspace(-1.0, 2.0, 31)
REPAIR_SHAPES = 8  # training shapes for each broken blend: itself and, around it, this many less one
REPAIR_SPREAD = 0.125  # within this much of the blend and a quarter of a time step
REPAIR_MOST = 24  # broken blends repaired in a round, at most
REPAIR_TEMPLATE_WEIGHT = 10.0  # the templates' own rows weigh this much more while repairing


def probe_times(templates: TemplateSet) -> np.ndarray:
    """The times a repair probes: the inner time steps (grc.metrics.inner_time_steps), where `grc evaluate` gives
    the safe blend range. (Midway between them as well found breaks on twice as many of the petal's seeds, 8 of
    10, and made the training 1.85x as long, median of ten.)"""
    t = np.asarray(templates.time, float)
    return t[1:-1] if len(t) >= 3 else t


def line_weights(K: int, k, s) -> np.ndarray:
    """The weights (S, K) of blends s (S,) on their lines: α for two templates, s along template k's direction
    (grc.coherence.direction_weights; k (S,) or one) for more."""
    from .coherence import blend_weights, direction_weights

    return blend_weights(2, s) if K == 2 else direction_weights(K, k, s)


def probe_weights(K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The blends a repair probes at each time: weights (P, K), each one's direction k (P,) and blend s (P,): α
    for two templates (k = 1), s along each template's direction for more (`line_weights`)."""
    if K == 2:
        k, s = np.ones(len(REPAIR_BLENDS), int), REPAIR_BLENDS
    else:
        k, s = np.repeat(np.arange(K), len(REPAIR_BLENDS_MORE)), np.tile(REPAIR_BLENDS_MORE, K)
    return line_weights(K, k, s), k, s


def broken_blends(model: GRCModel, coherence) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int]:
    """A model's broken shapes over `probe_times` x `probe_weights`, as the app and `grc evaluate` make them
    (grc.coherence.model_shapes): (their times, directions k and blends s), at most REPAIR_MOST of them, evenly
    spread over those found, and how many there are. A time where a template model's own grid is broken (the
    leaf's near-point tip between its time steps) is left out: the decoder learns what the template models give."""
    from .coherence import model_shapes

    weights, k, s = probe_weights(len(model.templates.names))
    times = probe_times(model.templates)
    M = len(model.templates.morph)
    own = model.template_rows(np.repeat(times, M)[None], np.tile(model.templates.morph, len(times))[None])
    whole = ~coherence.broken(np.reshape(own, (-1, M, *own.shape[-2:]))).reshape(-1, len(times)).any(axis=0)
    broken = np.concatenate([np.flatnonzero(coherence.broken(model_shapes(model, t, weights))) + i * len(weights)
                             for i, t in enumerate(times) if whole[i]] or [np.zeros(0, int)])
    count, P = len(broken), len(weights)
    if count > REPAIR_MOST:
        broken = broken[np.linspace(0, count - 1, REPAIR_MOST).round().astype(int)]
    return (times[broken // P], k[broken % P], s[broken % P]), count


def repair_draw(d: "Data", times, k, s) -> tuple[np.ndarray, "Lines"]:
    """Training shapes around broken blends (`broken_blends`): each one and REPAIR_SHAPES - 1 at random within
    REPAIR_SPREAD of its blend along its line and a quarter of a time step of its time. -> (times (B,), `Lines`)."""
    n, t = REPAIR_SHAPES, np.asarray(d.templates.time, float)
    jitter = torch.rand(len(times), n, 2, device=d.device).double().cpu().numpy() * 2 - 1
    jitter[:, 0] = 0  # the broken blend itself
    step = (t[-1] - t[0]) / max(len(t) - 1, 1)
    T = np.clip(np.repeat(times, n) + 0.25 * step * jitter[..., 0].ravel(), t[0], t[-1])
    S = np.repeat(s, n) + REPAIR_SPREAD * jitter[..., 1].ravel()
    return T, Lines.of(line_weights(d.K, np.repeat(k, n), S))


PARALLEL_ROWS = 1024  # a refine on this many rows or more (on the CPU, one PyTorch thread) runs in two halves


@contextmanager
def refine_objective(flat: Flat, inputs, targets, weights, solve: bool, halves: bool = False, unit_ridge: float = 0.0):
    """The refine's loss and gradient at the decoder's weights (a function for L-BFGS): the weighted squared
    error of `flat` on (inputs, targets), its last layer first set by least squares if `solve`.

    `halves`: the rows are split in two, each half's forward and backward passes (and its share of the
    least-squares system) run on a thread of its own, with PyTorch on one thread each: the two cores at
    work on the refine's many rows (the extrapolated shapes' make the petal's 2.5 times as many) without
    OpenMP's spinning threads, which wait on each other on a busy machine. The same sums, in another order.
    `unit_ridge`: the least squares' ridge per hidden unit (`regularise`)."""
    if not halves:
        def evaluate():
            out = flat.forward(inputs)
            if solve:
                out = flat.solve_last_layer(targets, weights, unit_ridge=unit_ridge)
            error = out - targets
            g = error * weights
            penalty, hidden = unit_ridge_terms(flat, weights, unit_ridge) if solve and unit_ridge else (0.0, None)
            flat.backward(g, hidden=hidden)
            if solve:
                flat.weight_grads[-1].zero_()
                flat.bias_grads[-1].zero_()
            return g.flatten().dot(error.flatten()).item() / 2 + float(penalty), flat.grad.clone()

        yield evaluate
        return

    half = len(inputs) // 2
    parts = [(flat, slice(0, half)), (flat.twin(), slice(half, len(inputs)))]

    def forward(part):
        net, rows = part
        net.forward(inputs[rows])
        if not solve:
            return None
        hidden = net.inputs[-1]
        A = torch.cat([hidden, torch.ones_like(hidden[:, :1])], dim=-1).double()
        Aw = A * weights[rows].double()
        return Aw.transpose(-1, -2) @ A, Aw.transpose(-1, -2) @ targets[rows].double()

    def backward(part):
        net, rows = part
        out = torch.addmm(flat.biases[-1][0], net.inputs[-1], flat.weights[-1]) if solve else net.output
        error = out - targets[rows]
        g = error * weights[rows]
        penalty, hidden = unit_ridge_terms(net, weights[rows], unit_ridge) if solve and unit_ridge else (0.0, None)
        net.backward(g, hidden=hidden)
        if solve:
            net.weight_grads[-1].zero_()
            net.bias_grads[-1].zero_()
        return g.flatten().dot(error.flatten()).item() / 2 + float(penalty)

    threads = torch.get_num_threads()
    with ThreadPoolExecutor(1, initializer=torch.set_num_threads, initargs=(threads,)) as pool:
        def both(work):
            other = pool.submit(work, parts[1])
            return work(parts[0]), other.result()

        def evaluate():
            systems = both(forward)
            if solve:
                G, B = systems[0][0] + systems[1][0], systems[0][1] + systems[1][1]
                regularise(G, RIDGE, unit_ridge)
                X = torch.linalg.solve(G, B).to(inputs.dtype)
                flat.weights[-1].copy_(X[:-1])
                flat.biases[-1].copy_(X[-1:])
            losses = both(backward)
            return sum(losses), flat.grad + parts[1][0].grad

        yield evaluate


@torch.no_grad()
def extrapolated_contexts(sampler: Sampler, encoder: MLP, n: int, reach: float, at=None):
    """`n` random shapes beyond the templates, as the model makes them: times at random, blends outside
    [0, 1] (α in [-reach, 0) or (1, 1 + reach] for two templates; for more, up to `reach` beyond the templates'
    simplex on the lines of `exit_lines`), each row's context the blend's mix of the templates' traces,
    mean + Σ w_k (trace_k - mean) (grc.coherence.model_shapes).
    -> u (n*M, 2), context (n*M, C), the template models' rows there (K, n*M, 3N), the blends' `Lines` (n),
    the templates' traces (K, n*M, C). `at`: (times (n,), `Lines`) given instead of drawn (`repair_draw`)."""
    d = sampler.data
    K = d.K
    morph = d.grid_morph.float()  # the grid's morph values, normalized
    M = len(morph)
    if at is not None:
        time, lines = torch.as_tensor(at[0], dtype=morph.dtype, device=d.device), at[1]
        n = len(lines)
    else:
        time = d.lo[0] + torch.rand(n, device=d.device) * (d.hi[0] - d.lo[0])
        step, below = torch.rand(n, device=d.device) * reach, torch.rand(n, device=d.device) < 0.5
        if K == 2:
            s = torch.where(below, -step, 1 + step).double().cpu().numpy()  # blend values outside [0, 1]
            lines = Lines.of(np.stack([1 - s, s], axis=1))
        else:
            lines = exit_lines(K, step.double().cpu().numpy(), below.cpu().numpy(), d.device)
    weights = lines.weights()
    u = torch.stack([((time - float(d.center[0])) / float(d.scale[0]))[:, None].expand(n, M),
                     morph[None, :].expand(n, M)], dim=-1).reshape(n * M, 2)
    rows = sampler.models(template_inputs(u, d.config).expand(K, -1, -1))  # (K, n*M, 3N)
    traces = encoder(rows.flatten(0, 1))[:, 2:].reshape(K, n * M, -1)
    mean = traces.mean(dim=0)
    w = torch.as_tensor(weights, dtype=traces.dtype, device=d.device).repeat_interleave(M, dim=0)  # (n*M, K)
    context = mean + torch.einsum("rk,krc->rc", w, traces - mean)
    return u, context, rows, lines, traces


START_GAP = 1e-9  # a blend's shape-space start farther than this x the grids' size from the linear mix is moved onto it
PAIR_LINES = 0.5  # the share of the lines from a template that run along one pair's edge
HULL_CHUNK = 1 << 22  # numbers held at once by hull_distance
HULL_CLEAR = 0.5  # an extrapolated row weighs fully where its context is this share of its way from the mixes'


def simplex_lattice(K: int, steps: int = 10) -> np.ndarray:
    """Weights covering the templates' simplex: every template, every pair's edge in `steps` steps, and random
    mixes of all (a fixed draw): (L, K)."""
    eye = np.eye(K)
    a = np.linspace(0, 1, steps + 1)[1:-1, None]
    edges = [(1 - a) * eye[i] + a * eye[j] for i in range(K) for j in range(i + 1, K)]
    inside = np.random.default_rng(0).dirichlet(np.ones(K), size=16 * K)
    return np.concatenate([eye, *edges, inside])


def hull_distance(context: torch.Tensor, traces: torch.Tensor) -> torch.Tensor:
    """How far each row's context (R, C) lies from the contexts of the mixes of the templates at that row,
    Σ w_k trace_k over `simplex_lattice` (traces (K, R, C)): (R,)."""
    lattice = torch.as_tensor(simplex_lattice(len(traces)), dtype=traces.dtype, device=traces.device)
    rows = max(1, HULL_CHUNK // (len(lattice) * max(context.shape[1], 1)))  # a chunk of rows at a time: memory
    out = [(torch.einsum("lk,krc->rlc", lattice, traces[:, i:i + rows]) - context[i:i + rows, None]).norm(dim=-1).amin(dim=1)
           for i in range(0, len(context), rows)]  # (rows, L, C) each
    return torch.cat(out) if out else context.new_zeros(0)


def exit_lines(K: int, x: np.ndarray, face: np.ndarray, device) -> Lines:
    """Lines beyond K > 2 templates, going `x` (B,) on: where `face`, through a random point of the face opposite a
    random template k, away from k (step mean − e_k: direction_weights' s below 0); else from a random template b,
    along one pair's edge (step e_b − e_a, as grc.metrics measures extrapolation) for half of them, along a random
    mix of the pairs' edges (e_b minus a random mix of the others) for the rest."""
    B = len(x)
    eye = np.eye(K)
    k = torch.randint(K, (B,), device=device).cpu().numpy()
    mix = -torch.log(torch.rand(B, K, device=device).clamp_min(1e-12)).double().cpu().numpy()  # Dirichlet(1)
    pair = torch.rand(B, device=device).cpu().numpy() < PAIR_LINES
    a = torch.randint(K - 1, (B,), device=device).cpu().numpy()
    others = mix * (1 - eye[k])  # a mix of the templates other than k
    others /= others.sum(axis=1, keepdims=True)
    a = np.where(a >= k, a + 1, a)  # a template other than k
    towards = np.where(pair[:, None], eye[a], others)  # the vertex lines come from here
    start = np.where(face[:, None], others, eye[k])
    step = np.where(face[:, None], 1 / K - eye[k], eye[k] - towards)
    return Lines(start, step, x)


