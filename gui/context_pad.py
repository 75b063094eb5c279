"""The context pad: the article's Figure 6, live. Morph across, context up; each template's trace at
the current time dotted, the current context path solid.

Drag the path up or down to interpolate or extrapolate (for two templates this moves the blend, so
the blend slider follows); Shift+drag (or the Draw mode) paints a free path across morph, the
article's Figure 8 "exploratory context path".
"""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QPainter, QPen, QPixmap, QPolygonF
from PyQt5.QtWidgets import QSizePolicy, QWidget

from .state import PAD_SAMPLES, ExploreState

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
MARGIN = (46, 22, 14, 34)  # left, top, right, bottom


class ContextPad(QWidget):
    painted = pyqtSignal()  # after each repaint (the benchmark waits for it)

    def __init__(self, state: ExploreState, parent=None):
        super().__init__(parent)
        self.state = state
        self.dim = 0  # which context value is shown (the article has one)
        self.draw_mode = False
        self.setMinimumSize(260, 200)
        self.setAttribute(Qt.WA_OpaquePaintEvent)  # paints every pixel: the widgets under it need not
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMouseTracking(False)
        self.setToolTip("Drag the solid context path up/down to interpolate or extrapolate.\n"
                        "Shift+drag (or Draw) paints a free path across morph.")
        self.y_range = (-1.0, 1.0)
        self.traces = self.path = None
        self._traces_for = None  # (model, time) of self.traces
        self._static = None  # (key, pixmap): the part of the picture a move does not change
        self._drag = None
        state.changed.connect(self.refresh)

    # -- data -------------------------------------------------------------------------------------
    def refresh(self):
        model = self.state.model
        if model is None or model.context_dims == 0:
            self.traces = self.path = None
            self._traces_for = None
            self.update()
            return
        self.morph = self.state.pad_morph()
        if self._traces_for is None or self._traces_for[0] is not model or self._traces_for[1] != self.state.time:
            self.traces = model.traces(self.state.time, PAD_SAMPLES)[:, 0]  # (K, M', C); only time changes them
            self._traces_for = (model, self.state.time)
        self.path = self.state.path if self.state.path is not None else self.state.blend_context(self.morph)
        if self._drag is None:  # the axes hold still while dragging
            lo, hi = float(self.traces[..., self.dim].min()), float(self.traces[..., self.dim].max())
            span = max(hi - lo, 1e-3)
            lo, hi = min(lo - 0.75 * span, self.path[:, self.dim].min()), max(hi + 0.75 * span, self.path[:, self.dim].max())
            self.y_range = (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        self.rows = model.morph_samples(None)
        self.row_context = self.state.context()
        self.update()

    def set_dim(self, dim: int):
        self.dim = dim
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
    # What a move changes is drawn on every paint: the context path, its dots and the title. The rest
    # (axes, labels, the templates' traces, the legend) is drawn once into a pixmap and reused until
    # the size, the axes, the time or the model change -- dragging the path or the blend only blits it.
    def paintEvent(self, event):
        p = QPainter(self)
        if self.traces is None:
            p.fillRect(self.rect(), QColor("white"))
            p.drawText(self.rect(), Qt.AlignCenter, "no model (or a model without context)")
        else:
            p.drawPixmap(0, 0, self._static_layer())
            self._paint_path(p)
        p.end()
        self.painted.emit()

    def _static_key(self):
        if self.traces is None:
            return None
        return (self.width(), self.height(), self.devicePixelRatioF(), self.y_range, self.dim, self._traces_for,
                tuple(self.state.model.names), self.rows.tobytes(), self.morph.tobytes())

    def _static_layer(self) -> QPixmap:
        ratio = self.devicePixelRatioF()
        key = self._static_key()
        if self._static is None or self._static[0] != key:
            pixmap = QPixmap(int(round(self.width() * ratio)), int(round(self.height() * ratio)))
            pixmap.setDevicePixelRatio(ratio)
            p = QPainter(pixmap)
            self._paint_static(p)
            p.end()
            self._static = (key, pixmap)
        return self._static[1]

    def _paint_static(self, p: QPainter):
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor("white"))
        r = self.plot_rect()
        p.setFont(QFont(p.font().family(), 8))
        for v in np.linspace(*self.y_range, 5):
            y = float(self._xy(self.morph[0], v)[1])
            p.setPen(QPen(QColor("#dddddd"), 1))
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
            p.setPen(QColor("#555555"))
            p.drawText(QRectF(0, y - 8, MARGIN[0] - 4, 16), Qt.AlignRight | Qt.AlignVCenter, f"{v:.2f}")
        for m in self.rows:
            x = float(self._xy(m, 0)[0])
            p.setPen(QPen(QColor("#eeeeee"), 1))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            p.setPen(QColor("#555555"))
            p.drawText(QRectF(x - 20, r.bottom() + 2, 40, 14), Qt.AlignCenter, f"{m:g}")
        p.setPen(QPen(QColor("#888888"), 1))
        p.drawRect(r)
        p.setPen(QColor("#333333"))
        p.drawText(QRectF(r.left(), r.bottom() + 16, r.width(), 16), Qt.AlignCenter, "morph")
        p.save()
        p.translate(10, r.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-40, -8, 80, 16), Qt.AlignCenter, "context")
        p.restore()
        p.setClipRect(r)
        for k, trace in enumerate(self.traces[..., self.dim]):
            p.setPen(QPen(QColor(COLORS[k % len(COLORS)]), 2.2, Qt.DotLine))
            p.drawPolyline(self._polyline(self.morph, trace))
        p.setClipping(False)
        # legend
        x = r.left() + 6
        for k, name in enumerate(self.state.model.names):
            p.setPen(QPen(QColor(COLORS[k % len(COLORS)]), 2.2, Qt.DotLine))
            p.drawLine(QPointF(x, r.top() + 10), QPointF(x + 18, r.top() + 10))
            p.setPen(QColor("#333333"))
            p.drawText(QPointF(x + 22, r.top() + 14), name)
            x += 30 + p.fontMetrics().width(name)
        p.setPen(QPen(QColor("#111111"), 2.6))
        p.drawLine(QPointF(x, r.top() + 10), QPointF(x + 18, r.top() + 10))
        p.setPen(QColor("#333333"))
        p.drawText(QPointF(x + 22, r.top() + 14), "context path")

    def _paint_path(self, p: QPainter):
        """The moving part: the context path, its dots at the shape's morph rows, the title."""
        p.setRenderHint(QPainter.Antialiasing)
        r = self.plot_rect()
        p.setClipRect(r)
        p.setPen(QPen(QColor("#111111"), 2.6))
        p.drawPolyline(self._polyline(self.morph, self.path[:, self.dim]))
        p.setBrush(QColor("#111111"))
        for x, y in zip(*self._xy(self.rows, self.row_context[:, self.dim])):
            p.drawEllipse(QPointF(x, y), 3.5, 3.5)
        p.setClipping(False)
        p.setFont(QFont(p.font().family(), 8))
        p.setPen(QColor("#333333"))
        s = self.state
        what = "drawn path" if s.path is not None else (
            f"blend {s.blend:.2f}" if np.ndim(s.blend) == 0 else "weights " + ", ".join(f"{w:.2f}" for w in s.blend))
        p.drawText(QRectF(0, 2, self.width(), 16), Qt.AlignCenter, f"time {s.time:.2f} · {what}")

    def _polyline(self, morph, values) -> QPolygonF:
        xs, ys = self._xy(morph, values)
        return QPolygonF([QPointF(x, y) for x, y in zip(xs.tolist(), ys.tolist())])

    # -- dragging ----------------------------------------------------------------------------------
    def mousePressEvent(self, event):
        if self.traces is None or event.button() != Qt.LeftButton:
            return
        m, c = self.from_screen(event.x(), event.y())
        drawing = self.draw_mode or bool(event.modifiers() & Qt.ShiftModifier)
        s = self.state
        self._drag = dict(draw=drawing, m=m, c=c, path=self.path.copy(), weights=s.weights.copy())
        if drawing:
            self._paint_stroke(m, c, m, c)
        elif s.path is None and len(s.weights) == 2:
            # Which morph to follow: where grabbed, unless the traces nearly meet there.
            gap = self.traces[1, :, self.dim] - self.traces[0, :, self.dim]
            j = int(np.argmin(np.abs(self.morph - m)))
            if abs(gap[j]) < 0.2 * np.abs(gap).max():
                j = int(np.argmax(np.abs(gap)))
            self._drag["gap"] = gap[j]

    def mouseMoveEvent(self, event):
        if self._drag is None:
            return
        m, c = self.from_screen(event.x(), event.y())
        d = self._drag
        if d["draw"]:
            self._paint_stroke(d["m"], d["c"], m, c)
            d["m"], d["c"] = m, c
        elif "gap" in d and abs(d["gap"]) > 1e-9:
            alpha = d["weights"][1] + (c - d["c"]) / d["gap"]
            self.state.set_blend(alpha)
        else:
            path = d["path"].copy()
            path[:, self.dim] += c - d["c"]
            self.state.set_path(path)

    def mouseReleaseEvent(self, event):
        self._drag = None

    def _paint_stroke(self, m0, c0, m1, c1):
        """Set the drawn path between two mouse positions (a straight segment in the pad)."""
        path = (self.state.path if self.state.path is not None else self.path).copy()
        lo, hi = sorted((m0, m1))
        inside = (self.morph >= lo) & (self.morph <= hi)
        if not inside.any():  # a stroke between two samples: set the nearest one
            inside[int(np.argmin(np.abs(self.morph - m1)))] = True
        path[inside, self.dim] = np.interp(self.morph[inside], [m0, m1] if m0 <= m1 else [m1, m0],
                                           [c0, c1] if m0 <= m1 else [c1, c0]) if m0 != m1 else c1
        self.state.set_path(path)
