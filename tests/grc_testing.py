"""Paths and small-training settings shared by the tests."""

from pathlib import Path

import grc

ROOT = Path(__file__).resolve().parents[1]
PETAL = ROOT / "templates" / "petal"
LEAF = ROOT / "templates" / "leaf"
SPROUT = ROOT / "templates" / "sprout"

# Small but real: every phase of training runs, just shorter.
SMALL = dict(template_steps=200, template_lbfgs_steps=100, steps=300, batch_size=128, refine_steps=100,
             refine_samples=512)


def small_config(**overrides) -> grc.Config:
    return grc.Config.from_preset("default", **{**SMALL, **overrides})


