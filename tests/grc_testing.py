"""Paths and small-training settings shared by the tests."""

from pathlib import Path

import grc

ROOT = Path(__file__).resolve().parents[1]
PETAL = ROOT / "templates" / "petal"
LEAF = ROOT / "templates" / "leaf"
SPROUT = ROOT / "templates" / "sprout"

# Small but real: every phase of training runs, just shorter.
SMALL = dict(template_steps=200, template_lbfgs_steps=100, steps=300, batch_size=128, refine_steps=100,
             refine_samples=512, refine_extrapolations=0,  # quick models (the default's shapes beyond: test_training)
             refine_extrapolations_linear=0)


def small_config(**overrides) -> grc.Config:
    return grc.Config.from_preset("default", **{**SMALL, **overrides})




def made_up_set(K: int = 2, T: int = 4, M: int = 5, N: int = 6, shift: float = 0.0) -> grc.TemplateSet:
    """K made-up templates on a T x M x N grid that differ in width and curl (`shift` moves them along x,
    off the origin, so every point is distinct)."""
    import numpy as np

    t, m, p = np.meshgrid(np.linspace(0, 1, T), np.linspace(0, 1, M), np.linspace(-0.5, 0.5, N), indexing="ij")
    return grc.TemplateSet([
        grc.Template(f"t{k}", np.linspace(0, 1, T), np.linspace(0, 1, M), np.stack(
            [shift + m * (1 + 0.5 * t), p * (0.4 + 0.3 * k + 0.2 * t), 0.3 * (1 + k) * t * m**2 + 0.1 * p**2], axis=-1))
        for k in range(K)])
