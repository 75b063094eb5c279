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
                        label=f"time {round(float(t), 3):g}" if k == 0 else None)
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
        ax.set_title(f"Context interpolation and extrapolation at time {round(float(time), 3):g}")
    ax.set_xlabel("morph")
    ax.set_ylabel("context")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower())
    plt.close(fig)
    return path


VERDICT_COLORS = ("#8bc34a", "#ffb300", "#e53935")  # coherent, strained, broken


def _map_figure(path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise GRCError("expected a .png, .svg or .pdf file", path=path, field="output")
    return path, plt


def _verdict_legend(ax, plt):
    from matplotlib.patches import Patch

    from .coherence import VERDICTS

    handles = [Patch(color=c, label=v) for c, v in zip(VERDICT_COLORS, VERDICTS)]
    handles.append(plt.Line2D([], [], color="k", lw=0.7, label="novelty (RMS per point)"))
    return handles


def plot_map(model: GRCModel, path, *, blends=(-1.0, 3.0), step: float = 0.1, times=None, samples: int = 21,
             subdivide: int = 2, coherence=None) -> Path:
    """Write a PNG/SVG/PDF map of where the model's shapes are coherent, strained or broken (grc.coherence),
    with novelty contours and the templates marked.

    Two templates: the time x blend plane, blend from blends[0] to blends[1] in steps of `step`, time
    over the templates' range at `samples` values (or `times`). Three or more: at each of `times` (the
    inner time steps, at most three, by default) the plane of the first three templates' weights, the
    triangle of blends between them and beyond it down to weight blends[0] (other templates weight 0).
    """
    from matplotlib.colors import ListedColormap

    from .coherence import Coherence, blend_weights, model_shapes

    path, plt = _map_figure(path)
    templates = model.templates
    K, cmap = len(templates), ListedColormap(VERDICT_COLORS)
    if K == 2:  # a plane of times x blends: at least two of each (a contour needs them)
        t = templates.time
        times = np.linspace(t[0], t[-1], samples) if times is None else np.asarray(times, float)
        times = np.unique(np.concatenate([times, t[(t >= times.min()) & (t <= times.max())]]))
        alphas = np.round(np.arange(blends[0], blends[1] + step / 2, step), 10)
        if len(times) < 2:
            raise GRCError(f"expected at least two different times (the map's rows), got {times[0]:g}", field="times")
        if len(alphas) < 2:
            raise GRCError(f"expected at least two blends: a step of {step:g} from {blends[0]:g} to {blends[1]:g} "
                           f"gives one", field="step")
    elif blends[0] > 1 / 3 + 1e-12:  # three weights each at least that much sum past 1: no blend to map
        raise GRCError(f"expected a lowest weight of at most 1/3 for a map of three templates, got {blends[0]:g}",
                       field="low")
    coherence = coherence or Coherence.for_model(model, subdivide)
    if K == 2:
        codes, novelty = np.zeros((len(times), len(alphas)), int), np.zeros((len(times), len(alphas)))
        for i, time in enumerate(times):
            codes[i], novelty[i] = coherence.verdicts(model_shapes(model, time, blend_weights(2, alphas)), time)
        fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
        ax.pcolormesh(alphas, times, codes, cmap=cmap, vmin=-0.5, vmax=2.5, shading="nearest")
        cs = ax.contour(alphas, times, novelty, levels=6, colors="k", linewidths=0.7)
        ax.clabel(cs, fontsize=6, fmt="%.2g")
        for a, name in zip((0, 1), templates.names):
            ax.axvline(a, color="k", lw=1.2, ls="--")
            ax.plot(np.full(len(t), a), t, "ko", ms=4)
            ax.annotate(name, (a, t[-1]), textcoords="offset points", xytext=(3, 4), fontsize=8)
        ax.set_xlabel(f"blend  (0 = {templates.names[0]}, 1 = {templates.names[1]})")
        ax.set_ylabel("time")
        ax.set_title("Coherence map: where blends stay coherent, strain or break")
        ax.legend(handles=_verdict_legend(ax, plt), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        T = len(templates.time)
        if times is None:
            inner = templates.time[1:-1] if T >= 3 else templates.time
            times = inner[np.unique(np.linspace(0, len(inner) - 1, min(3, len(inner))).round().astype(int))]
        times = np.atleast_1d(np.asarray(times, float))
        corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])  # the three templates
        low = blends[0]  # the smallest weight shown
        reach = 1 - 3 * low  # the triangle where every weight >= low, scaled about the centre
        centre = corners.mean(axis=0)
        big = centre + reach * (corners - centre)
        n = max(samples, 11) * 3 // 2  # points across the widest row of the big triangle
        xs = np.linspace(big[:, 0].min(), big[:, 0].max(), n)
        ys = np.linspace(big[:, 1].min(), big[:, 1].max(), n)
        X, Y = np.meshgrid(xs, ys)
        # barycentric weights of each point in the templates' triangle
        M = np.array([[corners[0, 0] - corners[2, 0], corners[1, 0] - corners[2, 0]],
                      [corners[0, 1] - corners[2, 1], corners[1, 1] - corners[2, 1]]])
        ab = np.linalg.solve(M, np.stack([X.ravel() - corners[2, 0], Y.ravel() - corners[2, 1]]))
        w3 = np.stack([ab[0], ab[1], 1 - ab[0] - ab[1]], axis=1)  # (n * n, 3)
        inside = np.all(w3 >= low - 1e-9, axis=1)
        weights = np.zeros((inside.sum(), K))
        weights[:, :3] = w3[inside]
        fig, axes = plt.subplots(1, len(times), figsize=(4.2 * len(times) + 1.5, 4.4), dpi=120, squeeze=False)
        for ax, time in zip(axes[0], times):
            codes, novelty = np.full(n * n, np.nan), np.full(n * n, np.nan)
            codes[inside], novelty[inside] = coherence.verdicts(model_shapes(model, time, weights), time)
            ax.pcolormesh(xs, ys, codes.reshape(n, n), cmap=cmap, vmin=-0.5, vmax=2.5, shading="nearest")
            cs = ax.contour(xs, ys, novelty.reshape(n, n), levels=6, colors="k", linewidths=0.7)
            ax.clabel(cs, fontsize=6, fmt="%.2g")
            ax.plot(*np.vstack([corners, corners[:1]]).T, "k--", lw=1.2)
            for (x, y), name in zip(corners, templates.names[:3]):
                ax.plot(x, y, "ko", ms=5)
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
            ax.set_title(f"time {round(float(time), 3):g}", fontsize=9)  # 0.167, not 0.166667
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
        extra = f"; other templates weight 0" if K > 3 else ""
        fig.suptitle(f"Coherence map over the blends of {', '.join(templates.names[:3])} "
                     f"(triangle: between them; weights down to {low:g}{extra})", fontsize=9)
        axes[0, -1].legend(handles=_verdict_legend(axes[0, -1], plt), fontsize=7, loc="upper left",
                           bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower())
    plt.close(fig)
    return path


def plot_shape_rows(rows, path, *, title: str = "", subdivide: int = 2, view=(22.0, -62.0)) -> Path:
    """Write a PNG/SVG/PDF of shapes in rows, each drawn as its subdivided surface coloured by verdict
    (grc.coherence's colours), every panel from the same camera and at the same scale, so sizes compare
    and no shape leaves its panel. `rows`: [(row label, [(caption, grid (M, N, 3), verdict), ...]), ...]."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    from .coherence import VERDICTS
    from .mesh import grid_faces, subdivision_operator, triangulate

    path, plt = _map_figure(path)
    if not rows or not rows[0][1]:
        raise GRCError("expected at least one shape", field="rows")
    M, N = np.asarray(rows[0][1][0][1]).shape[:2]
    operator = subdivision_operator(M, N, subdivide) if subdivide else None
    R, P = ((M - 1) * 2 ** subdivide + 1, (N - 1) * 2 ** subdivide + 1) if subdivide else (M, N)
    triangles = triangulate(grid_faces(R, P))

    def surface(grid):
        flat = np.asarray(grid, float).reshape(-1, 3)
        return flat if operator is None else operator @ flat

    surfaces = [[surface(g) for _, g, _ in shapes] for _, shapes in rows]
    every = np.concatenate([s for row in surfaces for s in row])
    low, high = every.min(axis=0), every.max(axis=0)
    pad = 0.02 * (high - low).max()
    low, high = low - pad, high + pad  # one box around every shape: equal scale on every axis and panel
    columns = max(len(shapes) for _, shapes in rows)
    fig = plt.figure(figsize=(3.0 * columns, 2.9 * len(rows) + 0.5))
    for r, ((label, shapes), row_surfaces) in enumerate(zip(rows, surfaces)):
        for c, ((caption, _, verdict), points) in enumerate(zip(shapes, row_surfaces)):
            ax = fig.add_subplot(len(rows), columns, r * columns + c + 1, projection="3d")
            color = VERDICT_COLORS[VERDICTS.index(verdict)] if verdict in VERDICTS else "#9e9e9e"
            mesh = Poly3DCollection(points[triangles], facecolors=color, edgecolors=color, linewidths=0.1,
                                    shade=True)
            ax.add_collection3d(mesh)
            for axis, set_lim in enumerate((ax.set_xlim, ax.set_ylim, ax.set_zlim)):
                set_lim(low[axis], high[axis])
            ax.set_box_aspect(tuple(high - low), zoom=1.25)
            ax.view_init(*view)
            ax.set_axis_off()
            ax.set_title(f"{label}\n{caption}: {verdict}" if c == 0 else f"\n{caption}: {verdict}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=110)
    plt.close(fig)
    return path
