"""The context pad: the article's Figure 6, live. Morph across, context up; each template's trace at
the current time dotted, the current context path solid.

Drag the path up or down to interpolate or extrapolate (for two templates this moves the blend, so
the blend slider follows); Shift+drag (or the Draw mode) paints a free path across morph, the
article's Figure 8 "exploratory context path".

The context axis fits the traces and the path at the current time, with room to extrapolate, in
nice steps. It holds still while what it shows still fits and fills at least half of it, so scrubbing
time or the blend does not make it jump; it never zooms in further than a quarter of the traces'
widest gap over all time (where the templates are alike, at t = 0, their traces are drawn alike).
"""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, QSize, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QPixmap, QPolygonF
from PyQt5.QtWidgets import QSizePolicy, QWidget

from .state import BLEND_RANGE, PAD_SAMPLES, ExploreState
from .view3d import SMOOTH_AFTER_MS

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
MARGIN = (46, 42, 14, 34)  # left, top (the title, then the legend), right, bottom
RANGE_TIMES = 23  # time samples for the traces' widest gap over all time
BORDER_SNAP = 12  # px: a stroke ending this near the plot's left or right border goes on to it (as a pick's reach)
PATH_ROOM = 0.2  # the context axis leaves this share of the traces' half band beyond a path that goes past them


def nice_range(lo: float, hi: float, ticks: int = 4) -> tuple[float, float, float]:
    """[lo, hi] widened to multiples of a 1-2-2.5-5 step giving about `ticks` intervals; (lo, hi, step)."""
    raw = max(hi - lo, 1e-9) / ticks
    magnitude = 10.0 ** np.floor(np.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    return float(np.floor(lo / step + 1e-9) * step), float(np.ceil(hi / step - 1e-9) * step), float(step)


def tick_label(value: float, step: float) -> str:
    """A tick value with as many decimals as its step needs (0.25 steps: two, 0.5: one, 2: none)."""
    k = int(np.floor(np.log10(step) + 1e-9))
    decimals = max(0, -k + (1 if round(step / 10.0 ** k, 6) == 2.5 else 0))
    return f"{round(value / step) * step + 0.0:.{decimals}f}"


def value_label(value: float, decimals: int = 3) -> str:
    """A time, blend or weight as the Explore boxes show it: up to three decimals, no trailing zeros (0.848, 0.85)."""
    text = f"{value:.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text == "-0" else text


def short_label(value: float) -> str:
    """A time or morph value as a tick label: three significant digits (0.0833, not 0.0833333)."""
    return f"{value + 0.0:.3g}"


def spaced_labels(ticks, metrics, gap: float = 4.0) -> list[tuple[QRectF, str]]:
    """The labels of `ticks` [(x, text)] centred under their x, each kept only where it clears the one before
    (by `gap` px), so close ticks (an inserted time step) never print on top of each other. `metrics`: the
    painter's QFontMetricsF."""
    shown, right = [], -np.inf
    for x, text in sorted(ticks, key=lambda t: t[0]):
        width = metrics.horizontalAdvance(text)
        rect = QRectF(x - width / 2, 0, width, metrics.height())
        if rect.left() >= right + gap:
            shown.append((rect, text))
            right = rect.right()
    return shown


class ContextPad(QWidget):
    painted = pyqtSignal()  # after each repaint (the benchmark waits for it)

    def __init__(self, state: ExploreState, parent=None):
        super().__init__(parent)
        self.state = state
        self.dim = 0  # which context value is shown (the article has one)
        self.draw_mode = False
        self.setMinimumSize(260, 200)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setAttribute(Qt.WA_OpaquePaintEvent)  # paintEvent covers every pixel: Qt need not repaint the panel beneath
        self.setMouseTracking(False)
        self.setToolTip("Drag the solid context path up/down to interpolate or extrapolate.\n"
                        "Shift+drag (or Draw) paints a free path across morph.")
        self.y_range, self.y_step = (-1.0, 1.0), 0.5
        self.traces = self.path = None
        self._traces_for = None  # (model, time) of self.traces
        self._widest = None  # (model, dim, morph, gap): the traces' widest gap over all time
        self._axis_for = None  # the model whose traces the context axis was fitted to
        self._layers = {}  # name -> (key, pixmap): the parts of the picture a move does not change
        self._drag = None
        self._stale = True  # the state changed since the data below were computed
        self._small_font = QFont(self.font().family(), 8)
        self.bands = None  # Beyond's verdicts over the blend at one time: dict(time, alphas, codes, ...)
        # while the shape moves (a slider scrub, a path drag) lines are drawn without antialiasing, the
        # cheaper half of a repaint; once it has held still SMOOTH_AFTER_MS the pad is drawn smooth again
        self.moving = False
        self._settle = QTimer(self, singleShot=True, interval=SMOOTH_AFTER_MS, timeout=self._settled)
        state.changed.connect(self._state_changed)

    # -- data -------------------------------------------------------------------------------------
    def _state_changed(self):
        """Recompute on the next paint (or mouse press): moves faster than frames cost one computation."""
        self._stale = True
        self.moving = True
        self._settle.start()  # (again)
        self.update()

    def _settled(self):
        self.moving = False
        self.update()

    def _fresh(self):
        if self._stale:
            self._compute()

    def refresh(self):
        """Recompute now (for callers that read the pad's data right away) and repaint."""
        self._compute()
        self.update()

    def _compute(self):
        self._stale = False
        model = self.state.model
        if model is None or model.context_dims == 0:
            self.traces = self.path = None
            self._traces_for = None
            return
        self.morph = self.state.pad_morph()
        if self._traces_for is None or self._traces_for[0] is not model or self._traces_for[1] != self.state.time:
            self.traces = model.traces(self.state.time, PAD_SAMPLES)[:, 0]  # (K, M', C); only time changes them
            self._traces_for = (model, self.state.time)
        drawn = self.state.path
        self.path = drawn if drawn is not None else self.state.blend_context(self.morph)
        if self._drag is None:  # the axes hold still while dragging
            self._fit_axis()
        self.rows = model.morph_samples(None)
        self.row_context = self.state.context()

    def _fit_axis(self):
        traces, path = self.traces[..., self.dim], self.path[:, self.dim]
        lo, hi = float(traces.min()), float(traces.max())
        half = max(hi - lo, 0.25 * self._widest_gap(), 1e-3) * 1.25
        room = PATH_ROOM * half  # a path past the traces' band keeps some room beyond it: drag on from there
        lo, hi = min((lo + hi) / 2 - half, path.min() - room), max((lo + hi) / 2 + half, path.max() + room)
        (c0, c1), model = self.y_range, self.state.model
        if self._axis_for is model and c0 <= lo and hi <= c1 and hi - lo >= 0.5 * (c1 - c0):
            return  # still fits and fills it: hold still
        lo, hi, self.y_step = nice_range(lo, hi)
        self.y_range, self._axis_for = (lo, hi), model

    def _widest_gap(self) -> float:
        """The widest gap between the templates' traces over all time (this context value)."""
        model, w = self.state.model, self._widest
        if w is None or w[0] is not model or w[1] != self.dim or not np.array_equal(w[2], self.morph):
            t = model.templates.time
            traces = model.traces(np.linspace(t[0], t[-1], RANGE_TIMES), self.morph)[..., self.dim]  # (K, T, M)
            self._widest = w = (model, self.dim, self.morph, float((traces.max(axis=0) - traces.min(axis=0)).max()))
        return w[3]

    def set_bands(self, bands):
        """Shade where shapes break (red) or strain (amber) along the blend at this time (two templates):
        `bands` from Beyond's background verdicts, or None."""
        self.bands = bands
        self.update()

    def band_polygons(self):
        """[(code, (alpha_low, alpha_high), QPolygonF)]: the pad's area swept by the context paths of runs of
        blends with one verdict (1 strained, 2 broken), at the shown time and context value."""
        b = self.bands
        if b is None or self.traces is None or len(self.traces) != 2 or b["time"] != self.state.time:
            return []
        alphas, codes = b["alphas"], b["codes"]
        step = float(alphas[1] - alphas[0]) if len(alphas) > 1 else 0.05
        t0, t1 = self.traces[0, :, self.dim], self.traces[1, :, self.dim]
        out, start = [], 0
        for i in range(1, len(codes) + 1):
            if i == len(codes) or codes[i] != codes[start]:
                if codes[start] > 0:
                    lo, hi = float(alphas[start]) - step / 2, float(alphas[i - 1]) + step / 2
                    below, above = t0 + lo * (t1 - t0), t0 + hi * (t1 - t0)
                    morph = np.concatenate([self.morph, self.morph[::-1]])
                    out.append((int(codes[start]), (lo, hi), self._polyline(morph, np.concatenate([below, above[::-1]]))))
                start = i
        return out

    def set_dim(self, dim: int):
        self.dim, self._axis_for = dim, None
        self.refresh()

    # -- coordinates ------------------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        l, t, r, b = MARGIN
        return QRectF(l, t, max(1, self.width() - l - r), max(1, self.height() - t - b))

    def to_screen(self, morph, context) -> QPointF:
        x, y = self._xy(morph, context)
        return QPointF(float(x), float(y))

    def _xy(self, morph, context):
        """Screen x, y of (arrays of) morph and context values."""
        r, (m0, m1), (c0, c1) = self.plot_rect(), self.morph[[0, -1]], self.y_range
        return (r.left() + (np.asarray(morph) - m0) / (m1 - m0) * r.width(),
                r.bottom() - (np.asarray(context) - c0) / (c1 - c0) * r.height())

    def from_screen(self, x, y) -> tuple[float, float]:
        r, (m0, m1), (c0, c1) = self.plot_rect(), self.morph[[0, -1]], self.y_range
        return (m0 + (x - r.left()) / r.width() * (m1 - m0), c0 + (r.bottom() - y) / r.height() * (c1 - c0))

    # -- painting ---------------------------------------------------------------------------------
    # Only what a move changes is drawn on every paint: the context path, its dots and the title.
    # Under it lie cached pixmaps: "frame" (the morph grid and labels, the axis titles), redrawn
    # when the size or the model change; "grid" (the frame, the context grid and labels), redrawn when
    # the context axis changes; and "traces" (the grid, the traces at this time, the legend), redrawn
    # when time changes -- a blend or path move only blits it, a time move draws the traces over the
    # grid. Beyond's shading lies under the context grid, so while it shows (the time it was computed
    # for) "traces" is painted whole, from the frame up.
    def paintEvent(self, event):
        self._fresh()
        p = QPainter(self)
        if self.traces is None:
            p.fillRect(self.rect(), QColor("white"))
            p.drawText(self.rect(), Qt.AlignCenter, "no model (or a model without context)")
        else:
            frame_key = (self.width(), self.height(), self.devicePixelRatioF(), self.state.model,
                         self.rows.tobytes(), self.morph.tobytes())
            frame = self._layer("frame", frame_key, self._paint_frame)
            traces_key = (frame_key, self.y_range, self.dim, self._traces_for, id(self.bands), self.moving)
            cached = self._layers.get("traces")
            if cached is None or cached[0] != traces_key:
                bands = self.band_polygons()
                if bands:  # (drawn under the context grid: the whole layer is painted in one go)
                    self._layer("traces", traces_key, lambda q: self._paint_traces(q, frame, bands))
                else:  # a time move: only the traces change, over the context grid's own layer
                    grid_key = (frame_key, self.y_range, self.y_step, self.dim, self.moving)
                    grid = self._layer("grid", grid_key, lambda q: self._paint_grid(q, frame))
                    self._layer("traces", traces_key, lambda q: self._paint_traces(q, grid))
            p.drawPixmap(0, 0, self._layers["traces"][1])
            self._paint_path(p)
        p.end()
        self.painted.emit()

    def _layer(self, name, key, paint) -> QPixmap:
        """The named layer for `key`, painted (over every pixel) by `paint` when the key changed."""
        cached = self._layers.get(name)
        if cached is None or cached[0] != key:
            ratio = self.devicePixelRatioF()
            size = QSize(int(round(self.width() * ratio)), int(round(self.height() * ratio)))
            pixmap = cached[1] if cached is not None and cached[1].size() == size else QPixmap(size)  # reused
            pixmap.setDevicePixelRatio(ratio)
            p = QPainter(pixmap)
            p.setRenderHint(QPainter.Antialiasing, name == "frame" or not self.moving)  # the others' keys have `moving`
            p.setFont(self._small_font)
            paint(p)
            p.end()
            self._layers[name] = cached = (key, pixmap)
        return cached[1]

    def _trace_pen(self, k) -> QPen:
        pen = QPen(QColor(COLORS[k % len(COLORS)]), 2.2, Qt.CustomDashLine, Qt.FlatCap)
        pen.setDashPattern([1, 3])  # dots (flat caps keep them dots) 3 widths apart
        return pen

    def morph_labels(self, metrics=None) -> list[tuple[QRectF, str]]:
        """The morph axis's labels (x only; drawn under the plot): one per row that has room for it."""
        metrics = metrics or QFontMetricsF(self.font())
        return spaced_labels([(float(self._xy(m, 0)[0]), short_label(m)) for m in self.rows], metrics)

    def _paint_frame(self, p: QPainter):
        p.fillRect(self.rect(), QColor("white"))
        r = self.plot_rect()
        for m in self.rows:
            x = float(self._xy(m, 0)[0])
            p.setPen(QPen(QColor("#eeeeee"), 1))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        p.setPen(QColor("#555555"))
        for rect, text in self.morph_labels(QFontMetricsF(p.font())):
            p.drawText(rect.translated(0, r.bottom() + 2), Qt.AlignCenter, text)
        p.setPen(QPen(QColor("#888888"), 1))
        p.drawRect(r)
        self._paint_legend(p, r)
        p.setPen(QColor("#333333"))
        p.drawText(QRectF(r.left(), r.bottom() + 16, r.width(), 16), Qt.AlignCenter, "morph")
        p.translate(10, r.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-40, -8, 80, 16), Qt.AlignCenter, "context")

    def _paint_grid(self, p: QPainter, frame: QPixmap, bands=()):
        """The frame, the context axis's labels and grid lines; `bands` (band_polygons) shaded under the lines."""
        p.drawPixmap(0, 0, frame)
        r = self.plot_rect()
        ticks = np.arange(self.y_range[0], self.y_range[1] + self.y_step / 2, self.y_step)
        ys = self._xy(self.morph[0], ticks)[1].tolist()
        p.setPen(QColor("#555555"))
        for v, y in zip(ticks, ys):
            p.drawText(QRectF(0, y - 8, MARGIN[0] - 4, 16), Qt.AlignRight | Qt.AlignVCenter, tick_label(v, self.y_step))
        p.setClipRect(r)
        for code, _, polygon in bands:  # where shapes break along the blend: under everything
            color = QColor("#e03030" if code == 2 else "#f0a020")
            color.setAlpha(70 if code == 2 else 45)
            p.setPen(Qt.NoPen)
            p.setBrush(color)
            p.drawPolygon(polygon)
        p.setBrush(Qt.NoBrush)
        p.setPen(QPen(QColor("#dddddd"), 1))
        for y in ys:
            p.drawLine(QPointF(r.left() + 1, y), QPointF(r.right() - 1, y))  # inside the frame's border

    def _paint_traces(self, p: QPainter, under: QPixmap, bands=None):
        """The traces at this time over `under`: the context grid's layer (`bands` None), or the frame, with
        the grid and the bands drawn first."""
        if bands is None:
            p.drawPixmap(0, 0, under)
            p.setClipRect(self.plot_rect())
        else:
            self._paint_grid(p, under, bands)
        for k, trace in enumerate(self.traces[..., self.dim]):
            p.setPen(self._trace_pen(k))
            p.drawPolyline(self._polyline(self.morph, trace))

    def _paint_legend(self, p: QPainter, r: QRectF):
        """Above the plot, under the title: nothing drawn in the plot (a path far out) hides it or is hidden by it."""
        metrics, x, y = p.fontMetrics(), r.left() + 8, r.top() - 10
        entries = [(self._trace_pen(k), name) for k, name in enumerate(self.state.model.names)]
        entries.append((QPen(QColor("#111111"), 2.6), "context path"))
        for pen, name in entries:
            p.setPen(pen)
            p.drawLine(QPointF(x, y), QPointF(x + 18, y))
            p.setPen(QColor("#333333"))
            p.drawText(QPointF(x + 22, y + 4), name)
            x += 30 + metrics.width(name)

    def _paint_path(self, p: QPainter):
        """The moving part: the context path, its dots at the shape's morph rows, the title."""
        p.setRenderHint(QPainter.Antialiasing, not self.moving)
        p.setClipRect(self.plot_rect())
        p.setPen(QPen(QColor("#111111"), 2.6))
        p.drawPolyline(self._polyline(self.morph, self.path[:, self.dim]))
        p.setPen(QPen(QColor("#111111"), 7, Qt.SolidLine, Qt.RoundCap))  # round dots, one call
        p.drawPoints(self._polyline(self.rows, self.row_context[:, self.dim]))
        p.setClipping(False)
        p.setFont(self._small_font)
        p.setPen(QColor("#333333"))
        s = self.state
        what = "drawn path" if s.path is not None else (
            f"blend {value_label(s.blend)}" if np.ndim(s.blend) == 0 else "weights " + ", ".join(map(value_label, s.blend)))
        p.drawText(QRectF(0, 2, self.width(), 16), Qt.AlignCenter, f"time {value_label(s.time)} · {what}")

    def _polyline(self, morph, values) -> QPolygonF:
        """Points at (morph, context) values, written straight into the polygon's memory."""
        xs, ys = self._xy(morph, values)
        polygon = QPolygonF()
        polygon.fill(QPointF(), len(xs))
        memory = polygon.data()
        memory.setsize(16 * len(xs))  # len(xs) QPointFs: two doubles each
        xy = np.frombuffer(memory, dtype=np.float64).reshape(-1, 2)
        xy[:, 0], xy[:, 1] = xs, ys
        return polygon

    # -- dragging ----------------------------------------------------------------------------------
    def _from_pointer(self, event) -> tuple[float, float]:
        """(morph, context) under the pointer, the context kept within the axis where the path follows it freely
        (a stroke, a drag of a drawn path or of three templates' blend): it stops at the plot's edge, in sight, and
        once released the axis fits it with room to go on. Two templates' blend stops where the blend slider ends."""
        m, c = self.from_screen(event.x(), event.y())
        if self._drag is not None and "gap" in self._drag and not self._drag["draw"]:
            return m, c
        return m, min(max(c, self.y_range[0]), self.y_range[1])

    def mousePressEvent(self, event):
        self._fresh()
        if self.traces is None or event.button() != Qt.LeftButton:
            return
        drawing = self.draw_mode or bool(event.modifiers() & Qt.ShiftModifier)
        s = self.state
        m, c = self.from_screen(event.x(), event.y())
        if drawing or s.path is not None or len(s.weights) != 2:  # (a blend's drag is not kept within the axis)
            c = min(max(c, self.y_range[0]), self.y_range[1])
        self._drag = dict(draw=drawing, m=m, c=c, path=self.path.copy(), weights=s.weights.copy())
        if drawing:
            self._paint_stroke(m, c, m, c)
        elif s.path is None and len(s.weights) == 2:
            # Which morph to follow: where grabbed, unless the traces nearly meet there.
            gap = self.traces[1, :, self.dim] - self.traces[0, :, self.dim]
            j = int(np.argmin(np.abs(self.morph - m)))
            if abs(gap[j]) < 0.2 * np.abs(gap).max():
                j = int(np.argmax(np.abs(gap)))
            # Where the traces (nearly) meet, early in time, the context hardly tells the blends apart:
            # the gap used is at least a tenth of the traces' widest, so the blend cannot race away.
            self._drag["gap"] = np.copysign(max(abs(gap[j]), 0.1 * self._widest_gap()), gap[j])

    def mouseMoveEvent(self, event):
        if self._drag is None:
            return
        self._fresh()
        m, c = self._from_pointer(event)
        d = self._drag
        if d["draw"]:
            self._paint_stroke(d["m"], d["c"], m, c)
            d["m"], d["c"] = m, c
        elif "gap" in d and abs(d["gap"]) > 1e-12:  # (templates with equal traces: move the path instead)
            low, high = BLEND_RANGE
            alpha = min(max(d["weights"][1] + (c - d["c"]) / d["gap"], low), high)
            self.state.set_blend(alpha)
        else:
            path = d["path"].copy()
            path[:, self.dim] += c - d["c"]
            self.state.set_path(path)

    def mouseReleaseEvent(self, event):
        if self._drag is not None:
            self._drag = None
            self._stale = True  # the axis, held still while dragging, fits the path again
            self.update()

    def _paint_stroke(self, m0, c0, m1, c1):
        """Set the drawn path between two mouse positions (a straight segment in the pad)."""
        drawn = self.state.path
        path = (drawn if drawn is not None else self.path).copy()
        # a stroke that ends near the pad's border (within BORDER_SNAP px) reaches its first or last row: one that
        # stopped a few pixels short left the rows past it where they were, a jump at the path's end (and the shape's)
        first, last = float(self.morph[0]), float(self.morph[-1])
        near = BORDER_SNAP * (last - first) / max(self.plot_rect().width(), 1.0)
        m0, m1 = (first if abs(m - first) <= near else last if abs(m - last) <= near else m for m in (m0, m1))
        lo, hi = sorted((m0, m1))
        inside = (self.morph >= lo) & (self.morph <= hi)
        if not inside.any():  # a stroke between two samples: set the nearest one
            inside[int(np.argmin(np.abs(self.morph - m1)))] = True
        path[inside, self.dim] = np.interp(self.morph[inside], [m0, m1] if m0 <= m1 else [m1, m0],
                                           [c0, c1] if m0 <= m1 else [c1, c0]) if m0 != m1 else c1
        self.state.set_path(path)
