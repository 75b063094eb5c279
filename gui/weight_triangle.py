"""The weight triangle: the blend of a three-template set as a point in the weight plane.

Each corner is a template (laid out as `grc map` lays out three templates: the first at the bottom left, the
second at the bottom right, the third on top); the dashed triangle holds the blends between them, and the
hexagon around it every blend the weight sliders reach (each weight from WEIGHT_RANGE[0] to WEIGHT_RANGE[1],
summing to 1). The current blend is the dot; a click, a drag or the arrow keys move it (state.set_blend);
the weight sliders follow, and move it. Beyond's background verdicts at the current time shade it (light
fills, stronger inside the triangle than beyond it); they are never computed inside a move.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, QSize, Qt
from PyQt5.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PyQt5.QtWidgets import QSizePolicy, QWidget

from .beyond import VERDICT_COLORS
from .context_pad import COLORS, value_label
from .state import WEIGHT_RANGE, ExploreState

CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])  # the templates, as grc.plots.plot_map
NUDGE = 0.05  # an arrow key moves the blend this far along the screen (the triangle's side is 1)
SNAP_PX = 5.0  # a click this close to a corner is that template exactly
ROUND = 0.01  # clicked weights are rounded to this (the sliders show two decimals)
HEIGHT = 280  # px (the triangle's side is then about 97 px); the Explore panel scrolls up and down anyway
MARGIN = 14  # px around the reachable hexagon (the corner labels sit inside the drawing)
FILL_ALPHA = {"between": 120, "beyond": 55}  # the shading's opacity inside the templates' triangle and beyond it
VERDICTS = ("coherent", "strained", "broken")


def plane_weights(weights) -> np.ndarray:
    """Weights (..., 3) moved along (1, 1, 1) to sum to 1: the same shape (a blend is mean + sum w_k (trace_k -
    mean)), so weights typed into the sliders that do not sum to 1 are shown where their shape lies."""
    w = np.asarray(weights, float)
    return w - (w.sum(axis=-1, keepdims=True) - 1) / 3


def plane(weights) -> np.ndarray:
    """Weights (..., 3) -> points (..., 2) of the weight plane (moved onto it first: plane_weights)."""
    return plane_weights(weights) @ CORNERS


def weights_at(point) -> np.ndarray:
    """The weights (3,) at a point of the weight plane (barycentric coordinates of the templates' triangle)."""
    x, y = float(point[0]), float(point[1])
    w2 = y / CORNERS[2, 1]
    w1 = x - CORNERS[2, 0] * w2
    return np.array([1 - w1 - w2, w1, w2])


def clamp_weights(weights, low: float = WEIGHT_RANGE[0], high: float = WEIGHT_RANGE[1]) -> np.ndarray:
    """The nearest weights (3,) that sum to 1 with each in [low, high] (the nearest point of the hexagon):
    clip(w - tau) for the tau that makes them sum to 1."""
    w = plane_weights(weights)
    if np.all((w >= low) & (w <= high)):
        return w
    lo, hi = float(w.min() - high), float(w.max() - low)  # sum(clip(w - tau)) falls from 3 * high to 3 * low
    for _ in range(60):
        tau = (lo + hi) / 2
        if np.clip(w - tau, low, high).sum() > 1:
            lo = tau
        else:
            hi = tau
    return np.clip(w - (lo + hi) / 2, low, high)


def hexagon(low: float = WEIGHT_RANGE[0], high: float = WEIGHT_RANGE[1]) -> np.ndarray:
    """The corners (6, 3) of the reachable region {sum w = 1, low <= w_k <= high}, in order round it."""
    rest = 1 - low - high  # the third weight where one is high and one low
    return np.array([[high, low, rest], [high, rest, low], [rest, high, low],
                     [low, high, rest], [low, rest, high], [rest, low, high]])


class WeightTriangle(QWidget):
    """The blend of three templates as a dot in their weight plane; click, drag or arrow keys move it."""

    def __init__(self, state: ExploreState, names, parent=None):
        super().__init__(parent)
        self.state = state
        self.names = list(names)
        self.shading = None  # Beyond's verdicts over a lattice of weights at one time: dict(time, weights, codes, ...)
        self._dragging = False
        self._layer = None  # (key, pixmap): the shading, outlines and labels; a move only draws the dot over it
        self.setObjectName("weight-triangle")
        self.setAccessibleName("Weight triangle")
        self.setMinimumSize(240, HEIGHT)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setAttribute(Qt.WA_OpaquePaintEvent)
        self._font = QFont(self.font().family(), 8)
        low, high = WEIGHT_RANGE
        self.setToolTip(
            "<p>The blend of the three templates: each corner is a template, the dashed triangle holds the blends "
            f"between them, the hexagon the blends whose weights each lie from {low:g} to {high:g}.</p>"
            "<p>Click or drag to move the blend; the arrow keys nudge it. Shaded by the verdict of each blend at "
            "this time (green coherent, amber strained, red broken), computed in the background once time holds "
            "still.</p><p>A ring: slider weights that do not sum to 1 give the shape of the blend there.</p>")
        state.changed.connect(self.update)

    def sizeHint(self):
        return QSize(320, HEIGHT)

    # -- shading -----------------------------------------------------------------------------------
    def set_shading(self, shading):
        """Beyond's verdicts over the lattice of weights at one time (or None): drawn while the time is theirs."""
        self.shading = shading
        self.update()

    def shown_shading(self):
        """The shading drawn now: None when there is none or it is for another time (the time moved on)."""
        s = self.shading
        if s is None or s["model"] is not self.state.model or s["time"] != self.state.time:
            return None
        return s

    # -- coordinates ---------------------------------------------------------------------------------
    def _frame(self):
        """(scale px per plane unit, origin QPointF of plane (0, 0)): the hexagon fitted into the widget."""
        xy = plane(hexagon())
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        w, h = max(1.0, self.width() - 2 * MARGIN), max(1.0, self.height() - 2 * MARGIN)
        scale = min(w / (x1 - x0), h / (y1 - y0))
        left = (self.width() - scale * (x1 - x0)) / 2 - scale * x0
        top = (self.height() - scale * (y1 - y0)) / 2 + scale * y1
        return scale, QPointF(left, top)

    def to_screen(self, weights) -> QPointF:
        """The widget position of a blend (3 weights)."""
        x, y = self.screen_xy(weights)
        return QPointF(float(x), float(y))

    def screen_xy(self, weights) -> np.ndarray:
        """Widget positions (..., 2) of blends (..., 3)."""
        scale, origin = self._frame()
        xy = plane(weights)
        return np.stack([origin.x() + scale * xy[..., 0], origin.y() - scale * xy[..., 1]], axis=-1)

    def from_screen(self, x: float, y: float) -> np.ndarray:
        """The weights (3,) at a widget position (not clamped)."""
        scale, origin = self._frame()
        return weights_at(((x - origin.x()) / scale, (origin.y() - y) / scale))

    def _polygon(self, weights) -> QPolygonF:
        return QPolygonF([QPointF(float(x), float(y)) for x, y in self.screen_xy(weights)])

    # -- moving the blend ----------------------------------------------------------------------------
    def blend_at(self, x: float, y: float) -> np.ndarray:
        """The blend a click at (x, y) asks for: a corner's template when within SNAP_PX of it, else the weights
        there rounded to ROUND and brought into the hexagon."""
        for k in range(3):
            corner = self.to_screen(np.eye(3)[k])
            if math.hypot(corner.x() - x, corner.y() - y) <= SNAP_PX:
                return np.eye(3)[k]
        w = self.from_screen(x, y)
        w[:2] = np.round(w[:2] / ROUND) * ROUND
        w[2] = 1 - w[0] - w[1]
        return clamp_weights(w)

    def _move_to(self, weights):
        self.state.set_blend(np.asarray(weights, float) + 0.0)  # (+ 0.0: no -0 for the sliders to show as "-0.00")

    def mousePressEvent(self, event):
        if event.button() != Qt.LeftButton or self.state.model is None:
            return super().mousePressEvent(event)
        self._dragging = True
        self._move_to(self.blend_at(event.x(), event.y()))

    def mouseMoveEvent(self, event):
        if self._dragging:
            self._move_to(self.blend_at(event.x(), event.y()))

    def mouseReleaseEvent(self, event):
        self._dragging = False

    def keyPressEvent(self, event):
        steps = {Qt.Key_Left: (-1, 0), Qt.Key_Right: (1, 0), Qt.Key_Up: (0, 1), Qt.Key_Down: (0, -1)}
        if event.key() not in steps or self.state.model is None:
            return super().keyPressEvent(event)
        dx, dy = steps[event.key()]
        point = plane(self.state.weights) + NUDGE * np.array([dx, dy])
        self._move_to(clamp_weights(weights_at(point)))

    # -- painting ------------------------------------------------------------------------------------
    # The shading, the outlines and the labels are one cached pixmap (redrawn when the size, the model or the
    # shading shown change); every paint draws it and the dot.
    def paintEvent(self, event):
        p = QPainter(self)
        shading = self.shown_shading()
        key = (self.width(), self.height(), self.devicePixelRatioF(), id(shading), tuple(self.names),
               self.hasFocus())
        if self._layer is None or self._layer[0] != key:
            ratio = self.devicePixelRatioF()
            pixmap = QPixmap(QSize(int(round(self.width() * ratio)), int(round(self.height() * ratio))))
            pixmap.setDevicePixelRatio(ratio)
            q = QPainter(pixmap)
            q.setRenderHint(QPainter.Antialiasing)
            q.setFont(self._font)
            self._paint_layer(q, shading)
            q.end()
            self._layer = (key, pixmap)
        p.drawPixmap(0, 0, self._layer[1])
        if self.state.model is not None and len(self.state.weights) == 3:
            p.setRenderHint(QPainter.Antialiasing)
            dot = self.to_screen(self.state.weights)
            # weights typed into the sliders need not sum to 1; the shape is that of the blend moved along
            # (1, 1, 1) onto the plane, which may lie beyond the hexagon (or the widget): a ring, kept in view,
            # wherever it lies (the dot is a blend the triangle itself gives)
            inside = not self.dot_is_ring()
            dot = QPointF(min(max(dot.x(), 6.0), self.width() - 6.0), min(max(dot.y(), 6.0), self.height() - 6.0))
            p.setPen(QPen(QColor("white"), 2) if inside else QPen(QColor("#111111"), 2.5))
            p.setBrush(QColor("#111111") if inside else QColor("white"))
            p.drawEllipse(dot, 5.5, 5.5)
        p.end()

    def dot_is_ring(self) -> bool:
        """Whether the blend is drawn as a ring: weights that do not sum to 1 (typed into the sliders), or beyond
        what the sliders reach; a dot is a blend the triangle itself gives."""
        w = np.asarray(self.state.weights, float)
        return not (abs(w.sum() - 1) < 1e-6 and np.allclose(clamp_weights(w), w, atol=1e-6))

    def cells(self, shading=None):
        """[(code, QPolygonF)]: the shading's cells as drawn, a hexagon around each blend of its lattice."""
        shading = self.shown_shading() if shading is None else shading
        if shading is None:
            return []
        h = shading["step"] / 3
        around = h * np.array([[2, -1, -1], [1, 1, -2], [-1, 2, -1], [-2, 1, 1], [-1, -1, 2], [1, -2, 1]])
        corners = self.screen_xy(shading["weights"][:, None, :] + around)  # (S, 6, 2)
        return [(int(code), QPolygonF([QPointF(x, y) for x, y in cell.tolist()]))
                for cell, code in zip(corners, shading["codes"])]

    def _paint_layer(self, p: QPainter, shading):
        p.fillRect(self.rect(), self.palette().window())
        reach, triangle = self._polygon(hexagon()), self._polygon(np.eye(3))
        p.setPen(Qt.NoPen)
        p.setBrush(QColor("#f4f4f4"))
        p.drawPolygon(reach)
        p.setBrush(QColor("white"))
        p.drawPolygon(triangle)
        if shading is not None:  # beyond the triangle lightly, between the templates (inside it) stronger
            inside, outside = QPainterPath(), QPainterPath()
            inside.addPolygon(triangle)
            outside.addPolygon(reach)
            outside = outside.subtracted(inside)
            cells = self.cells(shading)
            p.setRenderHint(QPainter.Antialiasing, False)  # (neighbouring cells meet without seams)
            for where, clip in (("beyond", outside), ("between", inside)):
                p.save()
                p.setClipPath(clip)
                brushes = [QColor(VERDICT_COLORS[v]) for v in VERDICTS]
                for color in brushes:
                    color.setAlpha(FILL_ALPHA[where])
                for code, polygon in cells:
                    p.setBrush(brushes[code])
                    p.drawPolygon(polygon)
                p.restore()
            p.setRenderHint(QPainter.Antialiasing)
        p.setBrush(Qt.NoBrush)
        p.setPen(QPen(QColor("#9a9a9a"), 1))
        p.drawPolygon(reach)
        p.setPen(QPen(QColor("#222222"), 1.4, Qt.DashLine))
        p.drawPolygon(triangle)
        self._paint_labels(p)
        self._paint_legend(p, shading)
        if self.hasFocus():
            p.setPen(QPen(self.palette().highlight().color(), 1, Qt.DotLine))
            p.setBrush(Qt.NoBrush)
            p.drawRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5))

    def _paint_labels(self, p: QPainter):
        """Each corner a dot and its template's name in its colour, outside the triangle (on a light backing)."""
        metrics = QFontMetricsF(p.font())
        centre = self.to_screen(np.full(3, 1 / 3))
        for k, name in enumerate(self.names[:3]):
            corner = self.to_screen(np.eye(3)[k])
            color = QColor(COLORS[k % len(COLORS)])
            p.setPen(QPen(QColor("white"), 1.5))
            p.setBrush(color)
            p.drawEllipse(corner, 4.5, 4.5)
            text = metrics.elidedText(name, Qt.ElideRight, 110)
            width, height = metrics.horizontalAdvance(text) + 6, metrics.height() + 2
            dx, dy = corner.x() - centre.x(), corner.y() - centre.y()
            length = math.hypot(dx, dy) or 1.0
            dx, dy = dx / length, dy / length  # away from the triangle's centre
            middle = QPointF(corner.x() + 9 * dx + dx * width / 2, corner.y() + 9 * dy + dy * height / 2)
            box = QRectF(middle.x() - width / 2, middle.y() - height / 2, width, height)
            backing = QColor("white")
            backing.setAlpha(200)
            p.setPen(Qt.NoPen)
            p.setBrush(backing)
            p.drawRoundedRect(box, 3, 3)
            p.setPen(color)
            p.drawText(box, Qt.AlignCenter, text)

    def _paint_legend(self, p: QPainter, shading):
        """Top left: what the shading says (or that it is on its way)."""
        metrics = QFontMetricsF(p.font())
        y = 4.0
        if shading is None:
            p.setPen(QColor("#777777"))
            model = self.state.model
            text = ("" if model is None else "a model without context: every blend is the same shape"
                    if model.context_dims == 0 else "shading once time holds still")
            p.drawText(QPointF(6, y + metrics.ascent()), text)
            return
        p.setPen(QColor("#555555"))
        p.drawText(QPointF(6, y + metrics.ascent()), f"time {value_label(shading['time'])}")
        for i, verdict in enumerate(VERDICTS):
            row = y + (i + 1) * (metrics.height() + 1)
            color = QColor(VERDICT_COLORS[verdict])
            color.setAlpha(FILL_ALPHA["between"])
            p.setPen(Qt.NoPen)
            p.setBrush(color)
            p.drawRect(QRectF(6, row + 2, 10, metrics.height() - 4))
            p.setPen(QColor("#555555"))
            p.drawText(QPointF(20, row + metrics.ascent()), verdict)
