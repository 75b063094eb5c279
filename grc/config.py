"""Training configuration: typed defaults here, the exact values used saved in each model file."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import GRCError
from .limits import MAX_BATCH, MAX_CONTEXT_DIMS, MAX_LAYERS, MAX_SEED, MAX_STEPS, MAX_TEMPLATES, MAX_WIDTH, number

SHAPE_SPACE_PAIR_MIXES = 0.33  # pair_mixes with shape-space targets for three or more templates (the Train tab's too)


@dataclass(frozen=True)
class Config:
    """Everything that shapes a trained model. `Config.preset("article")` is the article's setup."""

    preset: str = "default"
    # C: emergent context values per row. None: one per template beyond the first (K - 1, at least 1), decided
    # when training starts (`for_templates`), so that K templates' traces span a simplex of blends rather than
    # one line of context (docs/coherence.md, part 7); 0 = the no-context ablation.
    context_dims: int | None = None
    normalize: bool = True  # train on standardized rows and relational coordinates in [-1, 1]
    final_activation: bool = False  # ELU after the last layer too (as the article's code does)

    # Template models: one MLP per template, (time, morph) -> one row of the grid.
    template_hidden: tuple[int, ...] = (32, 32)
    template_features: str = "fourier"  # "fourier": (t, m) plus sin/cos at two frequencies; "raw"
    template_steps: int = 700  # Adam, full batch, cosine schedule
    template_lr: float = 1e-2
    template_lbfgs_steps: int = 700  # then L-BFGS polishes the fit
    # A template model whose grid breaks at or between its time steps (where the template, or its linear
    # interpolation in time, does not) is fitted on with the rows midway between time steps (linear in time)
    # weighing this much (0 = never; grc.fit.mend_between, docs/coherence.md, parts 9, 11 and 13).
    template_between: float = 0.05

    # Relational encoder (row -> time, morph, context) and generative decoder (back to the row).
    encoder_hidden: tuple[int, ...] = (32, 32)
    decoder_hidden: tuple[int, ...] = (128, 128)
    decoder_features: str = "fourier-product"  # "fourier-product": fourier(t, m), context and their products; "raw"
    decoder_input: str = "relational-map"  # decoder sees the true (time, morph) + context; "encoder": all from the encoder
    steps: int = 1000
    batch_size: int = 256
    lr_encoder: float = 5e-3
    lr_decoder: float = 1e-2
    schedule: str = "onecycle"  # or "constant"
    context_mask: float = 0.05  # the share of the context target's gradient that passes the mask
    refine_steps: int = 150  # L-BFGS on the decoder's hidden layers, its last layer solved by least squares (0 = off)
    refine_samples: int = 512
    # The refine's least squares for the decoder's last layer weighs each hidden unit's share of the output by this
    # much (a ridge per unit: the expected error when each unit is jittered by this variance, as Gaussian dropout
    # trains): a decoder whose units carry the shape together, not in large cancelling parts, so that a bend of
    # some of its units (grc.diverge) moves the shape gently: scaling a sixth of the last hidden layer's units by
    # 1.1 broke 74-82 % of the petal's and leaf's shapes without it, 3-8 % with it, and reconstruction, interpolation
    # and extrapolation did no worse (docs/diverge.md, *Sensitivity*). 0 = off, as before session 20.
    refine_unit_ridge: float = 1e-5
    refine_template_weight: float = 20.0  # weight of the template grids' own rows against random mixes
    # Extrapolated shapes in the refine (issue 11): this many shapes at random times and blends beyond the
    # templates (α in [-reach, 0) or (1, 1 + reach]; for K > 2 on lines that leave the templates' simplex at a
    # template or through a face, grc.training.exit_lines), decoded from the blend's context, each with a target
    # (`refine_extrapolation_targets`); the refine's random mixes then take their blends' contexts too.
    # - Two templates: the template models' grids blended in shape space (grc.shapespace), their stretches damped
    #   beyond the templates (parts keep turning, grow and shrink less and less). The petal, whose safe blend
    #   range covered [-1, 2] at no inner time before (shape keys neither), now covers it at every inner time on
    #   nineteen seeds of twenty (with `refine_repairs`), all twenty with `refine_unit_ridge`; the sprout never
    #   breaks (docs/coherence.md, parts 6-10 and 15).
    # - Three or more: `refine_extrapolations_linear` shapes whose targets are the template models' linear blends
    #   (what shape keys give), where those are whole. The leaf broke 7-22 times in 117 without them, shape keys
    #   never; with them never (ten seeds), at 0.33-0.89 stretch at blend 2 against 1.3-2.5 (shape keys 0.30),
    #   interpolation 3-8x better and extrapolation kept; shape-space targets there (`--set refine_extrapolation_targets=shape-space --set
    #   pair_mixes=0.33`) stretch less where the variants turn far but cost twice the training time and the
    #   extrapolation target (docs/coherence.md, parts 8 and 11).
    # 0 = off (the refine as before, `--set refine_extrapolations=0 --set refine_extrapolations_linear=0 --set
    # refine_steps=200`); `refine_extrapolation_templates=2`: for two templates only, as before session 16.
    refine_extrapolations: int = 128
    refine_extrapolations_linear: int = 64
    refine_extrapolation_templates: int = MAX_TEMPLATES  # only for sets of at most this many templates
    # "auto": shape space for two templates; for more, linear blends, unless the templates' own linear blends cross
    # themselves or fold beyond them and their shape-space blends do so less (then shape space: a rolled shell broke
    # 5-6 times in 117 with linear targets, never with these; grc.training.decided_targets, docs/coherence.md part
    # 16), with pair_mixes at least SHAPE_SPACE_PAIR_MIXES; or "shape-space" or "linear" for any set
    refine_extrapolation_targets: str = "auto"
    refine_extrapolation_reach: float = 1.25  # blends to -1.25 and 2.25: the range users reach (-1..2) inside, not at its edge
    refine_extrapolation_weight: float = 3.0  # per row (times its relative width weight), against a random mix's 1
    refine_extrapolation_separation: float = 3.0  # rows whose traces spread less than this x the median weigh less (0 = off)
    # the points every template shares (a stem's base) stay where they are in the shape-space targets
    # (grc.shapespace.shared_points); False: the centroid of all points is blended, as before session 15
    refine_extrapolation_shared: bool = True
    refine_extrapolation_coherent: bool = True  # only targets (shape-space or linear) that are themselves not broken
    refine_extrapolation_retime: float = 0.7  # targets move at least this share of the linear blend's way beyond (0 = off)
    refine_extrapolation_retreat: int = 3  # a broken shape-space target retreats towards the templates up to this many
    # times (0-3); a broken linear one is dropped
    refine_extrapolation_stretch_damping: float = 0.5  # targets' stretches reach x / (1 + this x) beyond (0 = off)
    # Three or more templates: this share of the random mixes lies on the edge between two templates (the others
    # weigh 0), where a pair's blend runs and extrapolation along it starts; mixes of all K all but never go there.
    # With shape-space targets "auto" makes it at least SHAPE_SPACE_PAIR_MIXES (the rolled shell's interpolation
    # 0.027-0.032 -> 0.016-0.017).
    pair_mixes: float = 0.0
    # After the refine (where it has extrapolated shapes), the model's shapes are checked over the inner time
    # steps x blends -1..2 (along each template's direction for three or more); where one is broken, the refine
    # goes on with training shapes around it, up to this many rounds (grc.training.broken_blends; 0 = off;
    # docs/coherence.md, part 9).
    refine_repairs: int = 4
    seed: int = 0

    def __post_init__(self):
        check_config(self)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "Config":
        """A named preset ("default" or "article") with any fields overridden."""
        if name not in PRESETS:
            raise GRCError(f"expected one of {', '.join(PRESETS)}, got {name!r}", field="preset")
        return cls(**{**PRESETS[name], "preset": name, **{k: v for k, v in overrides.items() if v is not None}})

    def for_templates(self, templates: int) -> "Config":
        """This config for a set of `templates` templates: `context_dims` decided (None -> K - 1, at least 1)."""
        if self.context_dims is not None:
            return self
        return self.replace(context_dims=min(MAX_CONTEXT_DIMS, max(1, templates - 1)))

    def extrapolations(self, templates: int) -> int:
        """The extrapolated shapes the refine adds for a set of `templates` templates."""
        if templates > self.refine_extrapolation_templates:
            return 0
        return self.refine_extrapolations_linear if self.linear_targets(templates) else self.refine_extrapolations

    def linear_targets(self, templates: int) -> bool:
        """Whether the extrapolated shapes of a set of `templates` templates are taught the template models' linear
        blends (shape keys') rather than their shape-space blends (`refine_extrapolation_targets`)."""
        kind = self.refine_extrapolation_targets
        return kind == "linear" or (kind == "auto" and templates > 2)

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict, path=None) -> "Config":
        """Rebuild a config saved in a model file; unknown or mistyped fields are errors."""
        if not isinstance(data, dict):
            raise GRCError("expected a JSON object", path=path, field="config")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise GRCError(f"unknown settings {unknown}", path=path, field="config")
        values = {name: value for name, value in BEFORE.items() if name not in data}  # (a model saved before it)
        for name, value in data.items():
            default = getattr(cls, name)
            if default is None:  # context_dims: a count, or null (decided when training starts)
                value = None if value is None else number(value, f"config.{name}", integer=True, path=path)
            elif isinstance(default, tuple):
                if not isinstance(value, list) or not all(type(v) is int for v in value):
                    raise GRCError("expected a list of integers", path=path, field=f"config.{name}")
                value = tuple(value)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise GRCError("expected true or false", path=path, field=f"config.{name}")
            elif isinstance(default, (int, float)):  # real, finite (JSON's 1e400 parses to infinity)
                value = number(value, f"config.{name}", integer=isinstance(default, int), path=path)
            elif not isinstance(value, type(default)):
                raise GRCError(f"expected a {type(default).__name__}", path=path, field=f"config.{name}")
            values[name] = value
        try:
            return cls(**values)
        except GRCError as e:
            raise GRCError(e.message, path=path, field=f"config.{e.field}") from None


PRESETS = {
    "default": {},
    # The article's published setup: [2,10,15,21] template models trained with Adam,
    # [21,15,10,3] encoder and [3,10,15,21] decoder, ELU after every layer, raw data,
    # one sample per step for 100,000 steps, learning rates 1e-4 / 2e-4, mask 0.05.
    "article": dict(
        context_dims=1, normalize=False, final_activation=True,
        template_hidden=(10, 15), template_features="raw", template_steps=10000, template_lr=1e-3,
        template_lbfgs_steps=0,
        encoder_hidden=(15, 10), decoder_hidden=(10, 15), decoder_features="raw", decoder_input="encoder",
        steps=100_000, batch_size=1, lr_encoder=1e-4, lr_decoder=2e-4, schedule="constant",
        refine_steps=0, refine_extrapolations=0, refine_extrapolations_linear=0,
    ),
}

CHOICES = {
    "template_features": ("fourier", "raw"),
    "decoder_features": ("fourier-product", "raw"),
    "decoder_input": ("relational-map", "encoder"),
    "schedule": ("onecycle", "constant"),
    "refine_extrapolation_targets": ("auto", "shape-space", "linear"),
}


# Settings added after models were first saved, with the value a model saved without them was trained with (a
# missing setting otherwise reads as today's default)
BEFORE = {"refine_unit_ridge": 0.0}


def check_config(c: Config) -> None:
    """Raise GRCError naming the first field that holds an impossible value, or a size past its limit
    (grc.limits): a mistyped option is one line, never a multi-GB allocation."""
    for f in dataclasses.fields(c):
        value, default = getattr(c, f.name), f.default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise GRCError(f"expected true or false, got {value!r}", field=f.name)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            number(value, f.name, integer=isinstance(default, int))  # a real, finite number (no bools)
        if isinstance(default, str) and not isinstance(value, str):
            raise GRCError(f"expected text, got {value!r}", field=f.name)
    for name, allowed in CHOICES.items():
        if getattr(c, name) not in allowed:
            raise GRCError(f"expected one of {', '.join(allowed)}, got {getattr(c, name)!r}", field=name)
    if c.preset not in PRESETS:
        raise GRCError(f"expected one of {', '.join(PRESETS)}, got {c.preset!r}", field="preset")
    for name in ("template_hidden", "encoder_hidden", "decoder_hidden"):
        sizes = getattr(c, name)
        if not isinstance(sizes, tuple) or not sizes or any(type(s) is not int or s < 1 for s in sizes):
            raise GRCError(f"expected one or more positive layer sizes, got {list(sizes)}", field=name)
        if len(sizes) > MAX_LAYERS:
            raise GRCError(f"expected at most {MAX_LAYERS} hidden layers, got {len(sizes)}", field=name)
        if max(sizes) > MAX_WIDTH:
            raise GRCError(f"expected layers of at most {MAX_WIDTH:,} units, got {max(sizes):,}", field=name)
    for name in ("steps", "template_steps"):
        number(getattr(c, name), name, low=1, high=MAX_STEPS, integer=True)
    for name in ("template_lbfgs_steps", "refine_steps"):
        number(getattr(c, name), name, low=0, high=MAX_STEPS, integer=True)
    for name in ("batch_size", "refine_samples"):
        number(getattr(c, name), name, low=1, high=MAX_BATCH, integer=True)
    number(c.seed, "seed", low=0, high=MAX_SEED, integer=True)
    if c.context_dims is not None:
        number(c.context_dims, "context_dims", low=0, high=MAX_CONTEXT_DIMS, integer=True)
    for name in ("template_lr", "lr_encoder", "lr_decoder"):
        if not 0 < getattr(c, name) < 1:
            raise GRCError(f"expected a learning rate between 0 and 1, got {getattr(c, name)}", field=name)
    number(c.refine_template_weight, "refine_template_weight", low=0, high=1e6)
    number(c.template_between, "template_between", low=0, high=1e6)
    number(c.refine_unit_ridge, "refine_unit_ridge", low=0, high=1.0)
    number(c.refine_extrapolations, "refine_extrapolations", low=0, high=MAX_BATCH, integer=True)
    number(c.refine_extrapolations_linear, "refine_extrapolations_linear", low=0, high=MAX_BATCH, integer=True)
    number(c.refine_extrapolation_reach, "refine_extrapolation_reach", low=0, high=10)
    number(c.refine_extrapolation_weight, "refine_extrapolation_weight", low=0, high=1e6)
    number(c.refine_extrapolation_separation, "refine_extrapolation_separation", low=0, high=1e6)
    number(c.refine_extrapolation_retime, "refine_extrapolation_retime", low=0, high=1)
    number(c.refine_extrapolation_retreat, "refine_extrapolation_retreat", low=0, high=3, integer=True)
    number(c.refine_extrapolation_stretch_damping, "refine_extrapolation_stretch_damping", low=0, high=1e6)
    number(c.refine_extrapolation_templates, "refine_extrapolation_templates", low=0, high=MAX_BATCH, integer=True)
    number(c.context_mask, "context_mask", low=0, high=1)
    number(c.pair_mixes, "pair_mixes", low=0, high=1)
    number(c.refine_repairs, "refine_repairs", low=0, high=10, integer=True)
