"""The article's context plots: traces over morph per time step (Figure 5) and, at one time,
template traces with interpolating and extrapolating context paths (Figure 6). matplotlib, no display."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import GRCError
from .io import atomic_path
from .model import GRCModel

LINESTYLES = ("-", "--", ":", "-.")
BLENDS = (-0.5, 0.25, 0.5, 0.75, 1.5)  # Figure 6's paths, for two templates


def plot_traces(model: GRCModel, path, time: float | None = None, samples: int = 64) -> Path:
    """Write a PNG/SVG/PDF of the traces: Figure 5 without `time`, Figure 6 at `time`. Context
    dimension 0 only (the article's C = 1); morph sampled `samples` times across the relational map."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise GRCError("expected a .png, .svg or .pdf file", path=path, field="output")
    if model.context_dims == 0:
        raise GRCError("this model has no context (trained with --context-dims 0), so no traces", path=path)
    morph = model.morph_samples(samples)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    if time is None:
        traces = model.traces(morph=morph)[..., 0]  # (K, T, M')
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(model.templates.time)))
        for k, name in enumerate(model.names):
            for i, t in enumerate(model.templates.time):
                ax.plot(morph, traces[k, i], LINESTYLES[k % 4], color=colors[i],
                        label=f"time {t:g}" if k == 0 else None)
        ax.plot([], [], "k-", label=model.names[0])
        for k, name in enumerate(model.names[1:], 1):
            ax.plot([], [], "k" + LINESTYLES[k % 4], label=name)
        ax.set_title("Context over morph for each template and time step")
    else:
        traces = model.traces(time, morph)[:, 0, :, 0]  # (K, M')
        for k, name in enumerate(model.names):
            ax.plot(morph, traces[k], ":", lw=2.5, label=f"{name} (trace)")
        if len(model.templates) == 2:
            colors = plt.cm.coolwarm(np.linspace(0, 1, len(BLENDS)))
            for color, alpha in zip(colors, BLENDS):
                ax.plot(morph, model.context(time, alpha, morph)[:, 0], "-", color=color, lw=1.2,
                        label=f"blend {alpha:g}")
        ax.set_title(f"Context interpolation and extrapolation at time {time:g}")
    ax.set_xlabel("morph")
    ax.set_ylabel("context")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower())
    plt.close(fig)
    return path
