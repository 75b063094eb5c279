"""Sketch tab: edit the template set. Pick a template and a time step, drag grid points in the
top / front / side views (or in the 3D view), mirror across the midline, move whole rows, copy a
time step from a neighbour; new / duplicate / rename / delete. Every edit is one undo step.

The midline is the plane y = 0 (a petal opens along +X, its width along Y): with mirror on, point j
of a row and point N-1-j move together, y mirrored.
"""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QObject, QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QPainter, QPen
from PyQt5.QtWidgets import (QCheckBox, QGridLayout, QHBoxLayout, QInputDialog, QLabel, QListWidget,
                             QPushButton, QSizePolicy, QSlider, QVBoxLayout, QWidget)

from .state import Document, copy_template

VIEWS = {"top": (0, 1), "front": (0, 2), "side": (1, 2)}  # which two axes each 2D view shows
AXES = "xyz"


class SketchState(QObject):
    """Which template, time step and grid point are being edited; how a drag moves points."""

    changed = pyqtSignal()

    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.k, self.step, self.selected = 0, 0, None  # selected: (row, point) or None
        self.mirror, self.row_mode = True, False
        self._before = None
        doc.templates_changed.connect(self._clamp)

    def _clamp(self):
        K = len(self.doc.templates)
        self.k = min(self.k, max(K - 1, 0))
        if K:
            T, M, N = self.doc.templates[self.k].grid_shape
            self.step = min(self.step, T - 1)
            if self.selected and (self.selected[0] >= M or self.selected[1] >= N):
                self.selected = None
        self.changed.emit()

    def set(self, **values):
        for key, value in values.items():
            setattr(self, key, value)
        self.changed.emit()

    def grid(self) -> np.ndarray | None:
        """The edited template's grid at the chosen time step: (M, N, 3)."""
        if not self.doc.templates:
            return None
        return self.doc.templates[self.k].points[self.step]

    # -- editing -----------------------------------------------------------------------------------
    def moved_points(self, points, row, point, delta):
        """The template's points (T, M, N, 3) with point (row, point) at this time step moved by delta."""
        points, delta = points.copy(), np.asarray(delta, float)
        N = points.shape[2]
        if self.row_mode:
            points[self.step, row] += delta
            return points
        points[self.step, row, point] += delta
        partner = N - 1 - point
        if self.mirror:
            if partner == point:
                points[self.step, row, point, 1] -= delta[1]  # the midline point stays on the midline
            else:
                points[self.step, row, partner] += delta * [1, -1, 1]
        return points

    def begin_drag(self):
        self._before = list(self.doc.templates)

    def drag_to(self, row, point, position):
        """Move a point (with its mirror partner or row) so it sits at `position`, shown live."""
        t = self.doc.templates[self.k]
        delta = np.asarray(position, float) - t.points[self.step, row, point]
        self.doc.set_points(self.k, self.moved_points(t.points, row, point, delta), live=True)

    def end_drag(self, text="Move point"):
        if self._before is not None and any(a is not b for a, b in zip(self._before, self.doc.templates)):
            self.doc.edit(list(self.doc.templates), text + (" row" if self.row_mode else ""), before=self._before)
        self._before = None

    def move(self, row, point, delta, text="Move point"):
        """One undoable move (what a whole drag amounts to)."""
        t = self.doc.templates[self.k]
        self.doc.set_points(self.k, self.moved_points(t.points, row, point, delta), text)

    def copy_step(self, source: int):
        """Copy time step `source`'s grid onto the current time step."""
        if not self.doc.templates:
            return
        t = self.doc.templates[self.k]
        if not 0 <= source < t.grid_shape[0] or source == self.step:
            return
        points = t.points.copy()
        points[self.step] = points[source]
        self.doc.set_points(self.k, points, f"Copy time step {source} to {self.step}")

    def new_template(self, model=None, blend=None) -> bool:
        """A new template: the model's shape at every time step for `blend`, else a copy of the current one.

        With every template deleted, the model's first template gives the time steps and morph;
        False when there is nothing to start from (no template, no model).
        """
        doc = self.doc
        if doc.templates:
            base = doc.templates[self.k]
        elif model is not None:
            base = model.templates.templates[0]
        else:
            return False
        name = unique_name([t.name for t in doc.templates], "template")
        if model is not None and model.grid_shape == base.grid_shape and np.allclose(model.templates.time, base.time):
            points = np.stack([model.shape(t, blend) for t in base.time])
        else:
            points = base.points
        doc.edit(doc.templates + [copy_template(base, name, points)], f"New template {name}")
        self.set(k=len(doc.templates) - 1)
        return True

    def duplicate(self):
        if not self.doc.templates:
            return
        doc, base = self.doc, self.doc.templates[self.k]
        name = unique_name([t.name for t in doc.templates], base.name + "-copy")
        doc.edit(doc.templates[: self.k + 1] + [copy_template(base, name)] + doc.templates[self.k + 1:],
                 f"Duplicate {base.name}")
        self.set(k=self.k + 1)

    def rename(self, name: str):
        name = name.strip()
        doc = self.doc
        if not doc.templates or not name or name == doc.templates[self.k].name:
            return
        templates = list(doc.templates)
        templates[self.k] = copy_template(templates[self.k], name)
        doc.edit(templates, f"Rename {doc.templates[self.k].name} to {name}")

    def delete(self):
        doc = self.doc
        if not doc.templates:
            return
        name = doc.templates[self.k].name
        doc.edit(doc.templates[: self.k] + doc.templates[self.k + 1:], f"Delete {name}")


def unique_name(names, base):
    if base not in names:
        return base
    i = 2
    while f"{base}-{i}" in names:
        i += 1
    return f"{base}-{i}"


class GridView2D(QWidget):
    """One orthographic view of the edited grid (top: x-y, front: x-z, side: y-z); drag points."""

    def __init__(self, sketch: SketchState, view: str, parent=None):
        super().__init__(parent)
        self.sketch, self.view = sketch, view
        self.axes = VIEWS[view]
        self.setMinimumSize(100, 100)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self._drag = None
        self._frame = None
        sketch.changed.connect(self.update)
        sketch.doc.templates_changed.connect(self.update)

    def frame(self):
        """World box shown: all time steps of the template, so the view holds still while dragging."""
        if self._drag is not None and self._frame is not None:
            return self._frame
        t = self.sketch.doc.templates[self.sketch.k]
        pts = t.points[..., list(self.axes)].reshape(-1, 2)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        center, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.15
        self._frame = (center, half)
        return self._frame

    def to_screen(self, ab) -> QPointF:
        (center, half), s = self.frame(), min(self.width(), self.height() - 16) / 2
        cx, cy = self.width() / 2, (self.height() + 16) / 2
        return QPointF(cx + (ab[0] - center[0]) / half * s, cy - (ab[1] - center[1]) / half * s)

    def from_screen(self, x, y) -> np.ndarray:
        (center, half), s = self.frame(), min(self.width(), self.height() - 16) / 2
        cx, cy = self.width() / 2, (self.height() + 16) / 2
        return np.array([center[0] + (x - cx) / s * half, center[1] - (y - cy) / s * half])

    def paintEvent(self, event):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor("#fbfbfd"))
        p.setPen(QColor("#888888"))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        a, b = self.axes
        p.setFont(QFont(p.font().family(), 8))
        p.drawText(QRectF(4, 2, self.width() - 8, 14), Qt.AlignLeft, f"{self.view} ({AXES[a]} → , {AXES[b]} ↑)")
        grid = self.sketch.grid()
        if grid is None:
            return
        t = self.sketch.doc.templates[self.sketch.k]
        # the neighbouring time steps, faint, for context
        for s in (self.sketch.step - 1, self.sketch.step + 1):
            if 0 <= s < len(t.points):
                self._draw_grid(p, t.points[s][..., [a, b]], QColor(180, 180, 200), 1, 0)
        self._draw_grid(p, grid[..., [a, b]], QColor("#304060"), 1.5, 3.2)
        # midline
        if self.sketch.mirror and 1 in self.axes:
            p.setPen(QPen(QColor("#c04040"), 1, Qt.DashLine))
            i = self.axes.index(1)
            if i == 1:
                y = self.to_screen((0, 0)).y()
                p.drawLine(QPointF(0, y), QPointF(self.width(), y))
            else:
                x = self.to_screen((0, 0)).x()
                p.drawLine(QPointF(x, 16), QPointF(x, self.height()))
        if self.sketch.selected is not None:
            r, c = self.sketch.selected
            p.setBrush(QColor("#ffb000"))
            p.setPen(QPen(QColor("#805000"), 1))
            p.drawEllipse(self.to_screen(grid[r, c, [a, b]]), 5.5, 5.5)

    def _draw_grid(self, p, ab, color, width, radius):
        p.setPen(QPen(color, width))
        for line in list(ab) + list(ab.transpose(1, 0, 2)):
            for u, v in zip(line[:-1], line[1:]):
                p.drawLine(self.to_screen(u), self.to_screen(v))
        if radius:
            p.setBrush(color)
            for point in ab.reshape(-1, 2):
                p.drawEllipse(self.to_screen(point), radius, radius)

    def nearest(self, x, y, within=12):
        grid = self.sketch.grid()
        screen = np.array([[(q := self.to_screen(v)).x(), q.y()] for v in grid[..., list(self.axes)].reshape(-1, 2)])
        d = np.hypot(screen[:, 0] - x, screen[:, 1] - y)
        i = int(np.argmin(d))
        return divmod(i, grid.shape[1]) if d[i] <= within else None

    def mousePressEvent(self, event):
        if event.button() != Qt.LeftButton or self.sketch.grid() is None:
            return
        hit = self.nearest(event.x(), event.y())
        self.sketch.set(selected=hit)
        if hit is not None:
            self.frame()
            self._drag = hit
            self.sketch.begin_drag()

    def mouseMoveEvent(self, event):
        if self._drag is None:
            return
        row, point = self._drag
        position = self.sketch.grid()[row, point].copy()
        position[list(self.axes)] = self.from_screen(event.x(), event.y())
        self.sketch.drag_to(row, point, position)

    def mouseReleaseEvent(self, event):
        if self._drag is not None:
            self._drag = None
            self.sketch.end_drag()


class SketchPanel(QWidget):
    def __init__(self, sketch: SketchState, parent=None):
        super().__init__(parent)
        self.sketch = sketch
        self.doc = sketch.doc
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        left = QVBoxLayout()
        self.list = QListWidget()
        self.list.setMaximumHeight(120)
        left.addWidget(QLabel("Templates (in blend order)"))
        left.addWidget(self.list)
        buttons = QGridLayout()
        self.new = QPushButton("New", toolTip="A new template: the model's shape at the current blend, every time step")
        self.duplicate = QPushButton("Duplicate")
        self.rename_button = QPushButton("Rename…")
        self.delete = QPushButton("Delete")
        for i, b in enumerate((self.new, self.duplicate, self.rename_button, self.delete)):
            buttons.addWidget(b, i // 2, i % 2)
        left.addLayout(buttons)
        top.addLayout(left, 1)
        right = QVBoxLayout()
        self.step_label = QLabel("time step")
        self.step = QSlider(Qt.Horizontal)
        self.step.setPageStep(1)
        right.addWidget(self.step_label)
        right.addWidget(self.step)
        copy = QHBoxLayout()
        self.copy_prev = QPushButton("Copy from previous")
        self.copy_next = QPushButton("Copy from next")
        copy.addWidget(self.copy_prev)
        copy.addWidget(self.copy_next)
        right.addLayout(copy)
        tools = QHBoxLayout()
        self.mirror = QCheckBox("Mirror (y = 0)", checked=sketch.mirror)
        self.row_mode = QCheckBox("Move whole row", checked=sketch.row_mode)
        tools.addWidget(self.mirror)
        tools.addWidget(self.row_mode)
        right.addLayout(tools)
        undo = QHBoxLayout()
        self.undo = QPushButton("Undo")
        self.redo = QPushButton("Redo")
        self.save = QPushButton("Save templates")
        for b in (self.undo, self.redo, self.save):
            undo.addWidget(b)
        right.addLayout(undo)
        top.addLayout(right, 1)
        layout.addLayout(top)
        self.point_label = QLabel("Drag grid points in the views below (or right on the 3D view).")
        self.point_label.setWordWrap(True)
        layout.addWidget(self.point_label)
        views = QHBoxLayout()
        self.views = {name: GridView2D(sketch, name) for name in VIEWS}
        for v in self.views.values():
            views.addWidget(v)
        layout.addLayout(views, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self.list.currentRowChanged.connect(lambda k: k >= 0 and k != sketch.k and sketch.set(k=k, selected=None))
        self.step.valueChanged.connect(lambda s: s != sketch.step and sketch.set(step=s))
        self.copy_prev.clicked.connect(lambda: sketch.copy_step(sketch.step - 1))
        self.copy_next.clicked.connect(lambda: sketch.copy_step(sketch.step + 1))
        self.mirror.toggled.connect(lambda on: sketch.set(mirror=on))
        self.row_mode.toggled.connect(lambda on: sketch.set(row_mode=on))
        self.duplicate.clicked.connect(sketch.duplicate)
        self.delete.clicked.connect(sketch.delete)
        self.rename_button.clicked.connect(self._ask_rename)
        self.undo.clicked.connect(self.doc.undo.undo)
        self.redo.clicked.connect(self.doc.undo.redo)
        self.doc.undo.canUndoChanged.connect(self.undo.setEnabled)
        self.doc.undo.canRedoChanged.connect(self.redo.setEnabled)
        self.undo.setEnabled(False)
        self.redo.setEnabled(False)
        sketch.changed.connect(self.sync)
        self.doc.templates_changed.connect(self.sync)
        self.doc.dirty_changed.connect(lambda dirty: self.sync())

    def _ask_rename(self):
        if not self.doc.templates:
            return
        name, ok = QInputDialog.getText(self, "Rename template", "Name:", text=self.doc.templates[self.sketch.k].name)
        if ok:
            self.sketch.rename(name)

    def sync(self):
        s, doc = self.sketch, self.doc
        names = [f"{i}  {t.name}" for i, t in enumerate(doc.templates)]
        if [self.list.item(i).text() for i in range(self.list.count())] != names:
            self.list.blockSignals(True)
            self.list.clear()
            self.list.addItems(names)
            self.list.blockSignals(False)
        self.list.blockSignals(True)
        self.list.setCurrentRow(s.k)
        self.list.blockSignals(False)
        if doc.templates:
            t = doc.templates[s.k]
            self.step.blockSignals(True)
            self.step.setRange(0, t.grid_shape[0] - 1)
            self.step.setValue(s.step)
            self.step.blockSignals(False)
            self.step_label.setText(f"time step {s.step} of {t.grid_shape[0] - 1}: time {t.time[s.step]:g}")
            if s.selected is not None:
                r, c = s.selected
                x, y, z = t.points[s.step, r, c]
                self.point_label.setText(f"{t.name}, time {t.time[s.step]:g}, morph row {r}, point {c}: "
                                         f"x {x:.4f}  y {y:.4f}  z {z:.4f}")
        for button in (self.duplicate, self.rename_button, self.delete):
            button.setEnabled(bool(doc.templates))
        self.copy_prev.setEnabled(bool(doc.templates) and s.step > 0)
        self.copy_next.setEnabled(bool(doc.templates) and s.step < doc.templates[s.k].grid_shape[0] - 1)
        where = str(doc.folder) if doc.folder else "no folder yet (Save asks for one)"
        if doc.templates_read_only and doc.folder:
            where += " (a bundled example: Save asks where to put a copy)"
        if doc.error:
            self.status.setText(f"<span style='color:#b00020'>⚠ The set cannot be saved or trained: {doc.error}</span>")
        else:
            state = "unsaved edits" if doc.dirty else "saved"
            self.status.setText(f"{len(doc.templates)} templates · {state} · {where}")
