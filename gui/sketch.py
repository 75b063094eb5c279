"""Sketch tab: edit the template set. Pick a template and a time step, drag grid points in the
top / front / side views (or in the 3D view), mirror across the midline, move whole rows, copy a
time step from a neighbour; new / duplicate / rename / delete. Every edit is one undo step.

The midline is the plane y = 0 (a petal opens along +X, its width along Y): with mirror on, point j
of a row and point N-1-j move together, y mirrored.
"""

from __future__ import annotations

import functools

import numpy as np
from PyQt5 import sip
from PyQt5.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import (QColor, QCursor, QFont, QFontMetricsF, QMouseEvent, QPainter, QPalette, QPen, QPixmap,
                         QPolygonF)
from PyQt5.QtWidgets import (QAbstractButton, QAbstractItemView, QAbstractSlider, QAbstractSpinBox, QApplication,
                             QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QInputDialog, QLabel,
                             QLineEdit, QListWidget, QMenuBar, QPushButton, QSizePolicy, QSlider, QTabBar, QVBoxLayout,
                             QWidget)

from grc.editing import (FALLOFF_KINDS, TIME_MODES, apply_edit, edit_weights, fill_step, insert_step, rotate,
                          scale, side_of, translate)
from grc import GRCError, Template
from grc.limits import MAX_COORDINATE, MAX_NAME
from grc.templates import check_name

from .explore_panel import ComboBox, DoubleSpinBox
from .state import Document, copy_template
from .view3d import SMOOTH_AFTER_MS, FocusUnderPointer

VIEWS = {"top": (0, 1), "front": (0, 2), "side": (1, 2)}  # which two axes each 2D view shows
FLIP_Y = np.array([1.0, -1.0])  # world y up, screen y down
GRID_COLOR = QColor("#304060")  # the edited time step's grid in the 2D views, and its marks:
MIDLINE_PEN = QPen(QColor("#c04040"), 1, Qt.DashLine)
SELECTED_PEN, SELECTED_BRUSH = QPen(QColor("#805000"), 1), QColor("#ffb000")
HOVER_PEN = QPen(QColor("#ff6000"), 2)
RADIUS_PEN = QPen(QColor("#a0a0a0"), 1, Qt.DashLine)
AXES = "xyz"
ROTATION_PLANES = {0: (1, 2), 1: (2, 0), 2: (0, 1)}  # R about x, y, z: the plane turned, right-handed
TYPED = {getattr(Qt, f"Key_{d}"): str(d) for d in range(10)}  # G / R / S's typed value: digits and a point
TYPED.update({Qt.Key_Period: ".", Qt.Key_Comma: "."})
TYPED_MOST = 12  # characters of a typed value
SKETCH_KEYS = [("O (Sketch 2D view)", "Proportional editing on / off; the wheel sizes it while dragging"),
               ("G / R / S (Sketch 2D view)", "Move / rotate / scale the selection (click confirms, Esc cancels); "
                "type a value (- negates, Backspace edits), X / Y / Z for an axis, as in Blender"),
               ("A, F / numpad . (Sketch 2D view)", "Select all; frame the selection"),
               ("Shift+click, drag on empty space", "Toggle a point; box select (Sketch 2D view)")]


def keep_into_set(templates: list, model, name: str, blend, **options) -> Template:
    """grc.shapes.keep_as_template for this set: the model evaluated at the set's own time steps and rows (the
    set may have gained some since training), its points resampled only if their count changed."""
    from grc.shapes import keep_as_template

    from .sketch_new import resample

    base = templates[0] if templates else None
    if base is None:
        return keep_as_template(model, name, blend, **options)
    kept = keep_as_template(model, name, blend, time=base.time, morph=base.morph, **options)
    if kept.grid_shape != base.grid_shape:  # another number of points per row
        kept = Template(name, base.time, base.morph, resample(kept.points, *base.grid_shape), kept.attribution,
                        kept.lineage)
    return kept


class SketchState(QObject):
    """Which template, time step and grid points are being edited; how a gesture moves points.

    `selection` is a set of (row, point); `selected` the active one (grabbed or last clicked). A gesture
    (a drag, a G/R/S) starts from the points as they were (`begin_drag`), is shown live while it goes
    (`preview`), and becomes one undo step (`end_drag`). Anything else that changes the set (an action,
    another template, Undo, another document) first interrupts a gesture under way: it is cancelled, so its
    preview is never part of that change and its starting point is never pasted back over it.
    """

    changed = pyqtSignal()
    moved = pyqtSignal()  # a gesture's live preview moved points (nothing else changed): the views redraw
    gesture_interrupted = pyqtSignal()  # a gesture was ended by something else: the views drop theirs

    def __init__(self, doc: Document):
        super().__init__()
        self.doc = doc
        self.k, self.step, self.selected = 0, 0, None  # selected: (row, point) or None
        self.selection: set = set()
        self.hover = None  # the point under the cursor in a 2D view
        self.mirror, self.row_mode = True, False
        self.proportional, self.falloff, self.radius = False, "smooth", 0.25
        self.time_mode = "step"
        self._before = None  # the template list a gesture started from
        self._gesture = None  # (selection, transform, side) of the gesture under way
        self._previewing = False  # the set changes because a gesture's preview moved points (preview)
        self._weights = None  # (points, times, options, edit_weights) of the last edit: a gesture's moves share them
        self.opened = 0  # counts documents opened (a new one is framed afresh in the 2D views)
        doc.templates_changed.connect(self._clamp)
        doc.model_changed.connect(self._opened)
        doc.gestures.append(self)

    def _opened(self):
        if self._before is None:  # not in the middle of a gesture
            self.opened += 1
            self.hover = None

    def _clamp(self):
        if self._previewing:  # the same template, sizes and selection, only points moved: no panel-wide sync
            self.moved.emit()
            return
        K = len(self.doc.templates)
        self.k = min(self.k, max(K - 1, 0))
        if K:
            T, M, N = self.doc.templates[self.k].grid_shape
            self.step = min(self.step, T - 1)
            if self.selected and (self.selected[0] >= M or self.selected[1] >= N):
                self.selected = None
            if any(r >= M or c >= N for r, c in self.selection):
                self.selection = {(r, c) for r, c in self.selection if r < M and c < N}
            if self.hover and (self.hover[0] >= M or self.hover[1] >= N):
                self.hover = None
        self.changed.emit()

    def set(self, **values):
        """Change what is edited or how. Another template, time step or selection first cancels a gesture under
        way (its preview is of this template at this step: carried elsewhere it would be a different edit)."""
        if any(key in values and values[key] != getattr(self, key) for key in ("k", "step", "selection")):
            self.interrupt()
        if "k" in values and values["k"] != self.k:
            values.setdefault("selection", set())
            values.setdefault("selected", None)
        if "selected" in values and "selection" not in values:
            hit = values["selected"]
            values["selection"] = set() if hit is None else {tuple(hit)}
        for key, value in values.items():
            setattr(self, key, value)
        self.changed.emit()

    def grid(self) -> np.ndarray | None:
        """The edited template's grid at the chosen time step: (M, N, 3)."""
        if not self.doc.templates:
            return None
        return self.doc.templates[self.k].points[self.step]

    @property
    def shape(self):
        return self.doc.templates[self.k].grid_shape

    # -- selecting ---------------------------------------------------------------------------------
    def press_point(self, hit, toggle: bool = False) -> bool:
        """A press on grid point `hit` in any view: with `toggle` (shift/ctrl) it joins or leaves the
        selection and no drag starts; a point outside the selection becomes the selection, one inside
        it the grabbed one (the selection moves with it). -> whether a drag starts."""
        if toggle:
            self.select([hit], toggle=True)
            return False
        if hit not in self.selection:
            self.select([hit])
        else:
            self.set(selected=hit, selection=self.selection)
        return True

    def select(self, points, add=False, toggle=False):
        """Select grid points (a list of (row, point)); shift adds (`add`), ctrl/shift-click toggles."""
        points = {tuple(int(v) for v in p) for p in points}
        if toggle:
            selection = set(self.selection) ^ points
        elif add:
            selection = set(self.selection) | points
        else:
            selection = points
        active = next(iter(sorted(points)), None) if points else None
        if active is not None and active not in selection:
            active = next(iter(sorted(selection)), None)
        self.set(selection=selection, selected=active)

    def select_row(self):
        if self.selected is None or not self.doc.templates:
            return
        r = self.selected[0]
        self.select([(r, c) for c in range(self.shape[2])], add=False)

    def select_column(self):
        if self.selected is None or not self.doc.templates:
            return
        c = self.selected[1]
        self.select([(r, c) for r in range(self.shape[1])], add=False)

    def select_all(self):
        if self.doc.templates:
            T, M, N = self.shape
            self.select([(r, c) for r in range(M) for c in range(N)])

    # -- editing -----------------------------------------------------------------------------------
    def edit_points(self, points, selection, transform, side=None):
        """The template's points (T, M, N, 3) after `transform` of `selection` at this time step, with the
        falloff, mirror and time falloff that are set (grc.editing.apply_edit)."""
        t = self.doc.templates[self.k]
        options = dict(radius=self.radius if self.proportional else None, kind=self.falloff, mirror=self.mirror,
                       times=t.time, time_mode=self.time_mode)
        # the weights are the same on every move of a gesture (the points it started from, the same options)
        key = (self.step, frozenset(selection), options["radius"], self.falloff, self.mirror, self.time_mode)
        cached = self._weights
        if cached is None or cached[0] is not points or cached[1] is not t.time or cached[2] != key:
            cached = self._weights = (points, t.time, key, edit_weights(points, self.step, selection, **options))
        return apply_edit(points, self.step, selection, transform, side=side, weights=cached[3], **options)

    def moved_points(self, points, row, point, delta):
        """The template's points (T, M, N, 3) with point (row, point) at this time step moved by delta."""
        selection = self._drag_selection(row, point)
        return self.edit_points(points, selection, translate(delta), side_of(point, points.shape[2]))

    def _drag_selection(self, row, point):
        N = self.shape[2]
        if self.row_mode:
            return {(row, c) for c in range(N)}
        if (row, point) in self.selection:
            return set(self.selection)
        return {(row, point)}

    def begin_drag(self):
        self._start(list(self.doc.templates))

    def _start(self, before):
        """A gesture begins from `before` (the template list), or ends (None); the document hears of either."""
        self._before, self._gesture = before, None
        self.doc.gesture_changed.emit()

    def interrupt(self, restore: bool = True) -> bool:
        """End a gesture under way because something else happens (another action, Undo, another document):
        its points go back as they were (`restore`; not when another document replaced them) and the views
        drop it. True when there was one."""
        if self._before is None:
            return False
        before = self._before
        self._start(None)
        if restore:
            self.doc._set_templates(before)
        self.gesture_interrupted.emit()
        return True

    @property
    def dragging(self) -> bool:
        return self._before is not None

    @property
    def templates_before(self) -> list | None:
        """The template list the gesture under way started from (None without one): what is autosaved meanwhile."""
        return self._before

    def base_points(self) -> np.ndarray:
        """The template's points as they were when the gesture began."""
        source = self._before if self._before is not None else self.doc.templates
        return source[self.k].points

    def preview(self, selection, transform, side=None):
        """Show the gesture's result live (no undo step until end_drag); nothing without a gesture under way."""
        if self._before is None:
            return
        points = self.edit_points(self.base_points(), selection, transform, side)
        # a typed G / R / S value that puts points past the coordinates' limit is refused here (one that is not
        # finite, by set_points)
        if np.isfinite(points).all() and np.abs(points).max() > MAX_COORDINATE:
            raise GRCError(f"expected coordinates from -{MAX_COORDINATE:g} to {MAX_COORDINATE:g}", field="points")
        self._previewing = True
        try:
            self.doc.set_points(self.k, points, live=True)
        finally:
            self._previewing = False
        self._gesture = (selection, transform, side)  # (only a gesture shown: set_radius shows it again)

    def drag_to(self, row, point, position):
        """Move a point (with its selection, falloff and mirror partner) so it sits at `position`, shown live."""
        base = self.base_points()
        delta = np.asarray(position, float) - base[self.step, row, point]
        try:
            self.preview(self._drag_selection(row, point), translate(delta), side_of(point, base.shape[2]))
        except GRCError:  # past the coordinates' limit: the point stays where it was last shown
            pass

    def set_radius(self, radius: float):
        """A new proportional-editing radius; a gesture under way is shown again with it."""
        self.radius = float(min(max(radius, 1e-3), 100.0))
        if self._gesture is not None and self._before is not None:
            try:
                self.preview(*self._gesture)
            except GRCError:  # the wider falloff would put points past the coordinates' limit: shown as it was
                pass
        self.changed.emit()

    def end_drag(self, text="Move point"):
        """The gesture becomes one undo step (ended first: what follows the set's change sees no gesture)."""
        before = self._before
        self._start(None)
        if before is not None and any(a is not b for a, b in zip(before, self.doc.templates)):
            extra = " row" if self.row_mode else (" (proportional)" if self.proportional else "")
            self.doc.edit(list(self.doc.templates), text + extra, before=before)

    def cancel_drag(self):
        """Put the points back as they were before the gesture (Esc, right click)."""
        if self._before is not None:
            self.doc._set_templates(self._before)
        self._start(None)

    def move(self, row, point, delta, text="Move point"):
        """One undoable move (what a whole drag amounts to)."""
        self.interrupt()
        t = self.doc.templates[self.k]
        self.doc.set_points(self.k, self.moved_points(t.points, row, point, delta), text)

    def fill_step(self):
        """This time step interpolated from its neighbours (one undo step)."""
        self.interrupt()
        if not self.doc.templates:
            return
        t = self.doc.templates[self.k]
        if not 0 < self.step < t.grid_shape[0] - 1:
            return
        self.doc.set_points(self.k, fill_step(t.points, t.time, self.step), f"Fill time step {self.step} from its neighbours")

    def insert_step(self):
        """A new time step after this one, in every template of the set (interpolated); one undo step."""
        self.interrupt()
        doc = self.doc
        if not doc.templates:
            return
        templates = []
        for t in doc.templates:
            points, times = insert_step(t.points, t.time, min(self.step, t.grid_shape[0] - 1))
            templates.append(copy_template(t, points=points, time=times))
        doc.edit(templates, f"Insert a time step after {self.step}")
        self.set(step=self.step + 1)

    def copy_step(self, source: int):
        """Copy time step `source`'s grid onto the current time step."""
        self.interrupt()
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
        self.interrupt()
        doc = self.doc
        if doc.templates:
            base = doc.templates[self.k]
        elif model is not None:
            base = model.templates.templates[0]
        else:
            return False
        name = unique_name([t.name for t in doc.templates], "template")
        if model is not None:  # the model's shape at the blend, at this set's time steps and rows
            points = keep_into_set([base], model, name, blend).points
        else:
            points = base.points
        doc.edit(doc.templates + [copy_template(base, name, points)], f"New template {name}")
        self.set(k=len(doc.templates) - 1)
        return True

    def keep_from_explore(self, state, look=None) -> bool:
        """Explore's shape (blend, drawn path, look) at every time step of the set as a new template
        (keep_into_set), its lineage saying what it came from; one undo step. False without a model."""
        self.interrupt()
        model, doc = state.model, self.doc
        if model is None:
            return False
        offsets = None
        if state.offsets is not None:  # a drawn path: offsets at the pad's samples, taken at the grid's rows
            morph, pad = model.templates.morph, state.pad_morph()
            offsets = np.empty((len(morph), state.offsets.shape[1]))  # (no columns for a model without context)
            for c in range(offsets.shape[1]):
                offsets[:, c] = np.interp(morph, pad, state.offsets[:, c])
        name = unique_name([t.name for t in doc.templates], "kept")
        kept = keep_into_set(doc.templates, model, name, state.blend, context_offsets=offsets, look=look)
        doc.edit(doc.templates + [kept], f"Keep as template {name}")
        self.set(k=len(doc.templates) - 1)
        return True

    def duplicate(self):
        self.interrupt()
        if not self.doc.templates:
            return
        doc, base = self.doc, self.doc.templates[self.k]
        name = unique_name([t.name for t in doc.templates], base.name[:MAX_NAME - 9] + "-copy")  # (room for -copy-NNN)
        doc.edit(doc.templates[: self.k + 1] + [copy_template(base, name)] + doc.templates[self.k + 1:],
                 f"Duplicate {base.name}")
        self.set(k=self.k + 1)

    def reorder(self, source: int, target: int):
        """Move template `source` to place `target` in the blend order (one undo step)."""
        self.interrupt()
        doc = self.doc
        K = len(doc.templates)
        if not (0 <= source < K and 0 <= target < K) or source == target:
            self.changed.emit()
            return
        templates = list(doc.templates)
        moved = templates.pop(source)
        templates.insert(target, moved)
        doc.edit(templates, f"Move {moved.name} to place {target}")
        self.set(k=target)

    def rename(self, name: str):
        self.interrupt()
        name = name.strip()
        doc = self.doc
        if not doc.templates or not name or name == doc.templates[self.k].name:
            return
        templates = list(doc.templates)
        templates[self.k] = copy_template(templates[self.k], name)
        doc.edit(templates, f"Rename {doc.templates[self.k].name} to {name}")

    def delete(self):
        self.interrupt()
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


class TextLines(QWidget):
    """Word-wrapped text in a fixed number of lines, painted. A word-wrapped QLabel asks its panel for a new
    layout on every new text (its height may change): the point's coordinates change on every drag move, and
    the Sketch panel's relayout cost each move about 0.4 ms. `text()` / `setText()` as a QLabel's."""

    def __init__(self, text="", lines=2, parent=None):
        super().__init__(parent)
        self._text = text
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 2)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setAttribute(Qt.WA_OpaquePaintEvent)  # it paints its background: the panel beneath is not repainted

    def text(self) -> str:
        return self._text

    def setText(self, text: str):
        if text != self._text:
            self._text = text
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance(self._text[:60]), self.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.height())

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(QPalette.Window))
        p.setPen(self.palette().color(QPalette.WindowText))
        p.drawText(self.rect(), Qt.TextWordWrap | Qt.AlignLeft | Qt.AlignTop, self._text)


@functools.lru_cache(maxsize=16)
def snake_orders(rows: int, points: int) -> tuple[np.ndarray, np.ndarray]:
    """A grid's rows, then its columns, each as one path through the grid's points (indices, row-major): every
    other row (column) reversed, so that each one's end joins the next one's start along an edge of the grid
    that is drawn anyway (the first or last column, row). One drawPolyline instead of one per row: a 2D view's
    paint is a few calls, not a few dozen (each drag move repaints three)."""
    index = np.arange(rows * points).reshape(rows, points)
    orders = []
    for lines in (index, index.T):
        lines = lines.copy()
        lines[1::2] = lines[1::2, ::-1]
        orders.append(lines.ravel())
    return orders[0], orders[1]


def polygon(xy, order=None) -> QPolygonF:
    """A QPolygonF of (n, 2) screen points (those at `order`, when given), written straight into its memory."""
    xy = np.ascontiguousarray(xy, dtype=np.float64)
    poly = QPolygonF(len(xy) if order is None else len(order))
    buffer = poly.data()
    buffer.setsize(len(poly) * 16)
    into = np.frombuffer(buffer, np.float64).reshape(-1, 2)
    if order is None:
        into[:] = xy
    else:
        np.take(xy, order, axis=0, out=into)
    return poly


class GridView2D(QWidget):
    """One orthographic view of the edited grid (top: x-y, front: x-z, side: y-z).

    Left drag on a point moves it (the grab offset is kept, so it does not jump); left drag on empty
    space draws a selection box (shift adds); shift-click toggles a point. The wheel zooms about the
    cursor (while dragging with proportional editing on, it sizes the falloff radius); a middle drag
    pans. The framing only changes when asked (F or numpad ., or a different template).
    Keys: O proportional editing, G / R / S move, rotate, scale the selection (click or Enter to
    confirm, Esc or right click to cancel), A select all, F / numpad . frame the selection.
    A G / R / S, as in Blender, follows the pointer anywhere in the window until it is confirmed or cancelled:
    the pointer over another view, the 3D view or a panel still drives it, and a click, Enter, Esc or right
    click there answers it; only a click on a control (a button, a slider, a list, the menus) goes to that
    control, whose action ends the gesture first as every other action does. Its anchor is held in world
    units, so the wheel may zoom (or a middle drag pan) during it without moving what is being edited off the
    pointer. As in Blender, a value typed during it (digits, '.', '-' negates, Backspace edits) is exact and
    overrides the mouse: a distance along the view's horizontal axis (or the axis X / Y / Z constrain it to),
    an angle in degrees (counter-clockwise on screen, or about the axis), a scale factor (of one axis); the
    view's title shows it.
    """

    PICK = 12  # px: how near the cursor a point must be to be picked
    SCALE_REACH = 60  # px: S pressed nearer the centre than this scales as if pressed this far away
    HIT = 4  # px: points this near all count as "under the cursor"; the one nearest the viewer wins

    def __init__(self, sketch: SketchState, view: str, parent=None):
        super().__init__(parent)
        self.sketch, self.view = sketch, view
        self.axes = VIEWS[view]
        self.depth_axis, self.depth_sign = {"top": (2, 1), "front": (1, -1), "side": (0, 1)}[view]
        self.setMinimumSize(100, 100)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        # keys (O, G / R / S, A, numpad .) go to the view under the pointer, as in Blender
        self.installEventFilter(FocusUnderPointer(self))
        self.setAttribute(Qt.WA_OpaquePaintEvent)  # paints every pixel: Qt need not paint the widgets beneath first
        self._drag = None  # (row, point, grab offset in world units along the view's axes)
        self._box = None  # (start QPointF, current QPointF, add)
        self._pan = None  # last QPointF of a middle drag
        self._modal = None  # G / R / S: (kind, where it started (world, along the view's axes), SCALE_REACH in world)
        self._modal_at = None  # where the pointer is during G / R / S (QPointF)
        self._typed, self._negative, self._axis = "", False, None  # G / R / S's typed value and axis constraint
        self._frame = None  # (centre (2,), half extent) of the world box shown
        self._framed_for = None
        self._cache = None  # (key, the points its neighbours came from, QPixmap) of _background
        self._smooth_now = False  # the next paint is antialiased even during a gesture (it stood still)
        self._smooth_timer = QTimer(self, singleShot=True, interval=SMOOTH_AFTER_MS, timeout=self._smooth)
        sketch.changed.connect(self.update)  # (it follows every templates_changed too)
        sketch.moved.connect(self.update)
        sketch.gesture_interrupted.connect(self._gesture_interrupted)

    def _gesture_interrupted(self):
        self._drag = None
        self._release_modal()
        self.update()

    # -- framing -----------------------------------------------------------------------------------
    def frame(self):
        """World box shown: framed on the template's every time step once, then kept (zoom / pan change it)."""
        key = (self.sketch.k, len(self.sketch.doc.templates), self.sketch.opened)
        if self._frame is None or (key != self._framed_for and self._drag is None):
            self.frame_points(self.sketch.doc.templates[self.sketch.k].points)
            self._framed_for = key
        return self._frame

    def frame_points(self, points):
        pts = np.asarray(points)[..., list(self.axes)].reshape(-1, 2)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        self._frame = ((lo + hi) / 2, max(float((hi - lo).max()) / 2, 0.02) * 1.15)
        self.update()

    def frame_selected(self):
        """Frame the selection (every point if none is selected)."""
        s = self.sketch
        if s.grid() is None:
            return
        grid = s.grid()
        if s.selection:
            rows, cols = np.array(sorted(s.selection)).T
            self.frame_points(grid[rows, cols])
        else:
            self.frame_points(s.doc.templates[s.k].points)
        self._framed_for = (s.k, len(s.doc.templates), s.opened)

    def _scale(self):
        return min(self.width(), self.height() - 16) / 2

    def to_screen(self, ab) -> QPointF:
        (center, half), s = self.frame(), self._scale()
        cx, cy = self.width() / 2, (self.height() + 16) / 2
        return QPointF(cx + (ab[0] - center[0]) / half * s, cy - (ab[1] - center[1]) / half * s)

    def from_screen(self, x, y) -> np.ndarray:
        (center, half), s = self.frame(), self._scale()
        cx, cy = self.width() / 2, (self.height() + 16) / 2
        return np.array([center[0] + (x - cx) / s * half, center[1] - (y - cy) / s * half])

    def pixels(self, world_length: float) -> float:
        return world_length / self.frame()[1] * self._scale()

    def zoom(self, factor: float, at: QPointF | None = None):
        """Zoom by `factor` (> 1 in) keeping the world point under `at` where it is."""
        center, half = self.frame()
        at = QPointF(self.width() / 2, (self.height() + 16) / 2) if at is None else at
        anchor = self.from_screen(at.x(), at.y())
        grid = self.sketch.grid()
        size = float(np.ptp(grid[..., list(self.axes)])) if grid is not None and grid.size else 1.0
        size = size if np.isfinite(size) and size > 0 else 1.0
        half = float(min(max(half / factor, 1e-4 * size), 1e3 * size))  # relative: millimetres zoom like metres
        self._frame = (anchor + (center - anchor) * (half / self.frame()[1]), half)
        self.update()

    def pan(self, dx: float, dy: float):
        center, half = self.frame()
        s = self._scale()
        self._frame = (center + np.array([-dx, dy]) / s * half, half)
        self.update()

    # -- drawing -----------------------------------------------------------------------------------
    def paintEvent(self, event):
        """The still parts come from a cached picture (_background); the edited step is drawn over it.

        During a drag only the edited time step moves (unless the edit carries to other steps), so a
        move repaints the current grid, the marks and the midline over one blit of the cache. Like the
        3D view, a gesture under way is drawn without antialiasing (a third of a 2D view's paint) and
        drawn once more, smooth, once it has stood still for SMOOTH_AFTER_MS; its lines are then one pixel wide
        and its points square (each costs a fraction of a wider line's or a round point's paint).
        """
        p = QPainter(self)
        p.drawPixmap(0, 0, self._background())
        s = self.sketch
        grid = s.grid()
        if grid is None:
            return
        a, b = self.axes
        sharp = s.dragging and not self._smooth_now
        self._smooth_now = False
        if sharp:
            self._smooth_timer.start()  # (again)
        p.setRenderHint(QPainter.Antialiasing, not sharp)
        xy = self._draw_grid(p, grid[..., [a, b]], GRID_COLOR, 1.5, 3.2, sharp)  # (M, N, 2) on screen
        # midline
        if s.mirror and 1 in self.axes:
            p.setPen(MIDLINE_PEN)
            if self.axes.index(1) == 1:
                y = self.to_screen((0, 0)).y()
                p.drawLine(QPointF(0, y), QPointF(self.width(), y))
            else:
                x = self.to_screen((0, 0)).x()
                p.drawLine(QPointF(x, 16), QPointF(x, self.height()))
        p.setBrush(SELECTED_BRUSH)
        p.setPen(SELECTED_PEN)
        for r, c in s.selection:
            if (r, c) != s.selected:  # (the selected point's larger mark covers its own)
                p.drawEllipse(QPointF(*xy[r, c]), 4.5, 4.5)
        if s.selected is not None:
            p.drawEllipse(QPointF(*xy[s.selected]), 6, 6)
        if s.hover is not None and s.hover[0] < grid.shape[0] and s.hover[1] < grid.shape[1]:
            p.setBrush(Qt.NoBrush)
            p.setPen(HOVER_PEN)
            p.drawEllipse(QPointF(*xy[s.hover]), 8, 8)
        # the proportional-editing radius, around what is grabbed (or hovered)
        around = s.selected if (self._drag or self._modal or s.dragging) else s.hover  # (s.dragging: in the 3D view)
        if s.proportional and around is not None:
            p.setBrush(Qt.NoBrush)
            p.setPen(RADIUS_PEN)
            r_px = self.pixels(s.radius)
            p.drawEllipse(QPointF(*xy[around]), r_px, r_px)
        if self._box is not None:
            p.setBrush(QColor(48, 112, 192, 40))
            p.setPen(QPen(QColor("#3070c0"), 1, Qt.DashLine))
            p.drawRect(QRectF(self._box[0], self._box[1]).normalized())

    def _smooth(self):
        self._smooth_now = True
        self.update()

    def title_font(self) -> QFont:
        return QFont(self.font().family(), 8)

    def title_lines(self) -> list[str]:
        """The view's name and axes; during G / R / S also what it does and how to end it, wrapped to the
        view's width (it was one line, cut off in a narrow view)."""
        a, b = self.axes
        lines = [f"{self.view} ({AXES[a]} → , {AXES[b]} ↑)"]
        if self._modal:
            kind = self._modal[0]
            mode = {"G": "move", "R": "rotate", "S": "scale"}.get(kind, "")
            typed = self._typed_value()
            axis = self.axes[0] if self._axis is None and typed is not None and kind == "G" else self._axis
            if axis is not None:
                mode += f" {'about' if kind == 'R' else 'along'} {AXES[axis]}"
            if typed is not None:
                text = ("-" if self._negative else "") + (self._typed or ("1" if kind == "S" else "0"))
                mode += f" {text}{'°' if kind == 'R' else ''}: Enter to confirm"
            else:
                mode += ": click to confirm"
            metrics, line = QFontMetricsF(self.title_font()), ""
            for word in f"{mode}, Esc to cancel".split():
                if line and metrics.horizontalAdvance(f"{line} {word}") > self.width() - 8:
                    lines.append(line)
                    line = word
                else:
                    line = f"{line} {word}".strip()
            lines.append(line)
        return lines

    def _background(self) -> QPixmap:
        """The view without the edited time step: background, border, title, the neighbouring time steps
        (faint, for context). Drawn again only when one of those (or the framing, size, focus) changed.

        The neighbours are known by the template's points array they come from (arrays are never changed in
        place: an edit makes new ones); a gesture on this time step alone leaves the others as they were when
        it began, so its moves draw them from there, and the picture is not drawn again on every move."""
        s = self.sketch
        a, b = self.axes
        points = frame = None
        if s.grid() is not None:
            points = s.base_points() if s.dragging and s.time_mode == "step" else s.doc.templates[s.k].points
            frame = self.frame()
        ratio = self.devicePixelRatioF()
        key = (self.width(), self.height(), ratio, self.hasFocus(), self._modal and self._modal[0], s.step,
               self._typed, self._negative, self._axis,  # (the title says G / R / S's typed value and axis)
               None if frame is None else (tuple(frame[0]), frame[1]))
        if self._cache is not None and self._cache[0] == key and self._cache[1] is points:
            return self._cache[2]
        neighbours = []
        if points is not None:
            neighbours = [points[step][..., [a, b]] for step in (s.step - 1, s.step + 1) if 0 <= step < len(points)]
        pixmap = QPixmap(int(round(self.width() * ratio)), int(round(self.height() * ratio)))
        pixmap.setDevicePixelRatio(ratio)
        p = QPainter(pixmap)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor("#fbfbfd"))
        p.setPen(QColor("#3070c0") if self.hasFocus() else QColor("#888888"))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        p.setFont(self.title_font())
        for i, line in enumerate(self.title_lines()):  # a G / R / S hint on lines of its own: it fits
            p.drawText(QRectF(4, 2 + 14 * i, self.width() - 8, 14), Qt.AlignLeft, line)
        for ab in neighbours:
            self._draw_grid(p, ab, QColor(180, 180, 200), 1, 0)
        p.end()
        self._cache = (key, points, pixmap)  # (holding the points keeps their array, and so its identity, alive)
        return pixmap

    def _draw_grid(self, p, ab, color, width, radius, sharp=False):
        """Rows and columns as polylines, points as round dots; the screen positions computed at once (numpy)
        and written straight into the polygons (no QPointF per point). `sharp` (a gesture under way, drawn
        without antialiasing): lines one pixel wide and square dots of the same area, Qt's fast paths.
        -> the points on screen (M, N, 2)."""
        (center, half), s = self.frame(), self._scale()
        # to_screen's numbers for every point at once (the same operations: + (cx, -cy) after * (1, -1) is exact)
        xy = (ab - center) / half * s * FLIP_Y + (self.width() / 2, (self.height() + 16) / 2)
        flat = xy.reshape(-1, 2)
        p.setPen(QPen(color, 1) if sharp else QPen(color, width))
        p.setBrush(Qt.NoBrush)
        for order in snake_orders(*xy.shape[:2]):  # the rows, then the columns: each as one polyline
            p.drawPolyline(polygon(flat, order))
        if radius:  # a dot of `radius` outlined by a pen of `width`: one round point of that diameter
            if sharp:  # a square of the round dot's area (side √π / 2 of its diameter): as heavy to the eye
                p.setPen(QPen(color, round((2 * radius + width) * 0.886), Qt.SolidLine, Qt.SquareCap))
            else:
                p.setPen(QPen(color, 2 * radius + width, Qt.SolidLine, Qt.RoundCap))
            p.drawPoints(polygon(flat))
        return xy

    # -- picking -----------------------------------------------------------------------------------
    def screen_points(self, grid) -> np.ndarray:
        (center, half), s = self.frame(), self._scale()
        ab = grid[..., list(self.axes)].reshape(-1, 2)
        cx, cy = self.width() / 2, (self.height() + 16) / 2
        return np.stack([cx + (ab[:, 0] - center[0]) / half * s, cy - (ab[:, 1] - center[1]) / half * s], axis=1)

    def nearest(self, x, y, within=None):
        """The point under the cursor nearest the viewer (row, point), or None.

        Points within HIT px all count as under the cursor (mirror partners, a bud's crowded points);
        of those the one nearest the viewer wins; else the nearest within `within` px.
        """
        grid = self.sketch.grid()
        screen = self.screen_points(grid)
        d = np.hypot(screen[:, 0] - x, screen[:, 1] - y)
        under = np.flatnonzero(d <= self.HIT)
        if len(under):
            depth = grid.reshape(-1, 3)[under, self.depth_axis] * self.depth_sign
            i = int(under[np.argmax(depth)])
        else:
            i = int(np.argmin(d))
            if d[i] > (self.PICK if within is None else within):
                return None
        return divmod(i, grid.shape[1])

    # -- mouse -------------------------------------------------------------------------------------
    def mousePressEvent(self, event):
        s = self.sketch
        if s.grid() is None:
            return
        self.setFocus()
        if self._modal is not None:
            if event.button() == Qt.LeftButton:
                self._finish_modal()
            else:
                self._cancel_modal()
            return
        if event.button() == Qt.MiddleButton:
            self._pan = event.localPos()
            return
        if event.button() != Qt.LeftButton:
            return
        shift = bool(event.modifiers() & (Qt.ShiftModifier | Qt.ControlModifier))
        hit = self.nearest(event.x(), event.y())
        if hit is None:
            self._box = (event.localPos(), event.localPos(), shift)
            return
        if not s.press_point(hit, toggle=shift):
            return
        self.frame()
        offset = s.grid()[hit][list(self.axes)] - self.from_screen(event.x(), event.y())
        self._drag = (hit, offset)
        s.begin_drag()

    def mouseMoveEvent(self, event):
        s = self.sketch
        if s.grid() is None:
            return
        if self._pan is not None:
            d = event.localPos() - self._pan
            self._pan = event.localPos()
            self.pan(d.x(), d.y())
            return
        if self._modal is not None:
            try:
                self._update_modal(event.localPos())
            except GRCError:  # past the coordinates' limit: the gesture stays as last shown
                pass
            return
        if self._box is not None:
            self._box = (self._box[0], event.localPos(), self._box[2])
            self.update()
            return
        if self._drag is None:
            hover = self.nearest(event.x(), event.y())
            if hover != s.hover:
                s.hover = hover
                self.update()
            return
        (row, point), offset = self._drag
        position = s.base_points()[s.step, row, point].copy()
        position[list(self.axes)] = self.from_screen(event.x(), event.y()) + offset
        s.drag_to(row, point, position)

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.MiddleButton:
            self._pan = None
            return
        if self._box is not None:
            rect = QRectF(self._box[0], event.localPos()).normalized()
            add = self._box[2]
            self._box = None
            grid = self.sketch.grid()
            screen = self.screen_points(grid)
            inside = [divmod(int(i), grid.shape[1]) for i, (x, y) in enumerate(screen) if rect.contains(QPointF(x, y))]
            if inside or not add:
                self.sketch.select(inside, add=add)
            self.update()
            return
        if self._drag is not None:
            self._drag = None
            self.sketch.end_drag()

    def wheelEvent(self, event):
        self._wheel(event.angleDelta().y() / 120, event.posF())
        event.accept()

    def _wheel(self, steps: float, at: QPointF):
        """While dragging with proportional editing on: the falloff radius. Else a zoom about the pointer, which
        keeps the world point under it where it is: a drag's grab offset and a G / R / S's anchor are in world
        units, so what is being edited stays under the pointer."""
        s = self.sketch
        if (self._drag is not None or self._modal is not None) and s.proportional:
            s.set_radius(s.radius * 1.15 ** steps)
        else:
            self.zoom(1.2 ** steps, at)

    def leaveEvent(self, event):
        if self.sketch.hover is not None and self._drag is None:
            self.sketch.hover = None
            self.update()

    # -- keys: O, G / R / S, A, F and numpad . -----------------------------------------------------
    def keyPressEvent(self, event):
        s, key = self.sketch, event.key()
        if self._modal is not None and self._type(event):
            return
        if self._modal is not None and key in (Qt.Key_Return, Qt.Key_Enter):
            self._finish_modal()
        elif key == Qt.Key_Escape:
            if self._modal is not None:
                self._cancel_modal()
            elif self._drag is not None:
                self._drag = None
                s.cancel_drag()
        elif key == Qt.Key_O:
            s.set(proportional=not s.proportional)
        elif key in (Qt.Key_G, Qt.Key_R, Qt.Key_S) and s.selection and self._drag is None and self._modal is None:
            self._start_modal(chr(key), self.mapFromGlobal(QCursor.pos()))
        elif key == Qt.Key_A:
            s.select_all()
        elif key == Qt.Key_F or (key == Qt.Key_Period and event.modifiers() & Qt.KeypadModifier):
            self.frame_selected()
        else:
            super().keyPressEvent(event)

    def _type(self, event) -> bool:
        """A key of G / R / S's numeric input, as Blender's: digits and '.' type a value, '-' negates it, Backspace
        takes the last character back (then the sign; then the mouse leads again), X / Y / Z constrain to that
        axis (the same again: free). True when the key was one of these."""
        key = event.key()
        before = self._typed, self._negative, self._axis
        if key in TYPED and len(self._typed) >= TYPED_MOST:
            pass  # (longer is no value a template can take)
        elif key in TYPED:
            if TYPED[key] != "." or "." not in self._typed:
                self._typed += "0." if TYPED[key] == "." and not self._typed else TYPED[key]
        elif key == Qt.Key_Minus:
            self._negative = not self._negative
        elif key == Qt.Key_Backspace:
            if self._typed:
                self._typed = self._typed[:-1]
            else:
                self._negative = False
        elif key in (Qt.Key_X, Qt.Key_Y, Qt.Key_Z):
            axis = key - Qt.Key_X
            self._axis = None if self._axis == axis else axis
        else:
            return False
        try:
            self._update_modal(self._modal_at)
        except GRCError:  # a value that would put points past the coordinates' limit: the key is not taken
            self._typed, self._negative, self._axis = before
            self._update_modal(self._modal_at)
        self.update()  # (the title shows the value)
        return True

    def _typed_value(self) -> float | None:
        """The value typed during G / R / S (None: none, the mouse leads); '-' alone is -0 (a scale's -1)."""
        if not self._typed and not self._negative:
            return None
        value = float(self._typed) if self._typed else (1.0 if self._modal and self._modal[0] == "S" else 0.0)
        return -value if self._negative else value

    def _start_modal(self, kind: str, at):
        at = QPointF(at)
        self._modal = (kind, self.from_screen(at.x(), at.y()), self.SCALE_REACH / self._scale() * self.frame()[1])
        self._modal_at, self._typed, self._negative, self._axis = at, "", False, None
        self.sketch.begin_drag()
        QApplication.instance().installEventFilter(self)  # the mouse and keys over the rest of the window: ours
        self.update()

    def _release_modal(self):
        """The G / R / S has ended: the mouse, the keyboard and the window's other widgets are theirs again."""
        if self._modal is None:
            return
        self._modal, self._typed, self._negative, self._axis = None, "", False, None
        QApplication.instance().removeEventFilter(self)

    MODAL_EVENTS = {QEvent.MouseButtonPress: "mousePressEvent", QEvent.MouseButtonDblClick: "mousePressEvent",
                    QEvent.MouseMove: "mouseMoveEvent", QEvent.MouseButtonRelease: "mouseReleaseEvent",
                    QEvent.Wheel: None, QEvent.KeyPress: "keyPressEvent"}

    CONTROLS = (QAbstractButton, QAbstractSlider, QAbstractSpinBox, QComboBox, QLineEdit, QTabBar, QAbstractItemView,
                QMenuBar)

    def eventFilter(self, obj, event):
        """During a G / R / S: the mouse and the keys that reach another widget of this window (the pointer over
        the next view, the 3D view, a panel) are this view's, at the same place on screen; a click on a control
        is the control's (its action ends the gesture: Undo, the step slider, another template...)."""
        kind = event.type()
        if (self._modal is None or kind not in self.MODAL_EVENTS or obj is self or not isinstance(obj, QWidget)
                or obj.window() is not self.window()):
            return False
        if kind in (QEvent.MouseButtonPress, QEvent.MouseButtonDblClick, QEvent.MouseButtonRelease):
            widget = obj
            while widget is not None and widget is not self.window():
                if isinstance(widget, self.CONTROLS):
                    return False
                widget = widget.parentWidget()
        if kind == QEvent.KeyPress:
            self.keyPressEvent(event)
            return True
        at = QPointF(self.mapFromGlobal(obj.mapToGlobal(event.pos())))
        if kind == QEvent.Wheel:
            self._wheel(event.angleDelta().y() / 120, at)
            return True
        mapped = QMouseEvent(QEvent.MouseButtonPress if kind == QEvent.MouseButtonDblClick else kind, at,
                             QPointF(self.mapToGlobal(at.toPoint())), event.button(), event.buttons(), event.modifiers())
        getattr(self, self.MODAL_EVENTS[kind])(mapped)
        return True

    def _selection_centre_screen(self):
        s = self.sketch
        grid = s.base_points()[s.step]
        rows, cols = np.array(sorted(s.selection)).T
        return self.to_screen(grid[rows, cols][:, list(self.axes)].mean(axis=0))

    def _update_modal(self, at: QPointF):
        """G / R / S follow the mouse from where the key was pressed (held in world units: a zoom keeps it), or the
        value typed; along (about) the axis X / Y / Z constrained them to."""
        s = self.sketch
        kind, anchor_world, reach = self._modal
        self._modal_at = at
        start = self.to_screen(anchor_world)
        selection = set(s.selection)
        anchor = s.selected if s.selected in selection else min(selection)
        side = side_of(anchor[1], s.shape[2])
        typed, axis = self._typed_value(), self._axis
        only = None if axis is None else np.arange(3) == axis  # the constrained axis, as a mask
        if kind == "G":
            delta = np.zeros(3)
            if typed is not None:  # exactly this far along the axis (free: the view's horizontal one)
                delta[self.axes[0] if axis is None else axis] = typed
            else:
                delta[list(self.axes)] = self.from_screen(at.x(), at.y()) - anchor_world
                if only is not None:
                    delta = np.where(only, delta, 0.0)
            s.preview(selection, translate(delta), side)
            return
        c = self._selection_centre_screen()
        u, v = start - c, at - c
        if kind == "R":
            plane = self.axes if axis is None else ROTATION_PLANES[axis]
            if typed is not None:
                angle = np.radians(typed)
            else:
                # screen y points down: a counter-clockwise turn on screen is a positive angle in the view's axes
                angle = np.arctan2(-v.y(), v.x()) - np.arctan2(-u.y(), u.x())
                if plane == self.axes[::-1]:  # about the axis the view looks along, seen from its other side
                    angle = -angle
            s.preview(selection, rotate(selection, plane, float(angle)), side)
        elif typed is not None:
            s.preview(selection, scale(selection, typed if only is None else np.where(only, typed, 1.0)), side)
        else:
            # the ratio of the mouse's distances from the centre (as in Blender); a key pressed near the centre
            # scales as if pressed SCALE_REACH px away (at the zoom it was pressed at), so a small move is not a
            # huge scale; in world units, so a zoom during it changes nothing
            centre = self.from_screen(c.x(), c.y())
            start = float(np.hypot(*(anchor_world - centre)))
            now = float(np.hypot(*(self.from_screen(at.x(), at.y()) - centre)))
            base = max(start, reach)
            factor = max((now - start + base) / base, 0.0)
            s.preview(selection, scale(selection, float(factor) if only is None else np.where(only, factor, 1.0)), side)

    def _finish_modal(self):
        kind = self._modal[0]
        self._release_modal()
        self.sketch.end_drag({"G": "Move", "R": "Rotate", "S": "Scale"}[kind] + " selection")
        self.update()

    def _cancel_modal(self):
        self._release_modal()
        self.sketch.cancel_drag()
        self.update()


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
        right = QVBoxLayout()
        self.step_label = QLabel("time step")
        self.step_label.setWordWrap(True)
        self.step = QSlider(Qt.Horizontal)
        self.step.setPageStep(1)
        right.addWidget(self.step_label)
        right.addWidget(self.step)
        self.undo = QPushButton("Undo")
        self.redo = QPushButton("Redo")
        self.save = QPushButton("Save templates")
        undo = QHBoxLayout()
        undo.addWidget(self.undo)
        undo.addWidget(self.redo)
        right.addLayout(undo)
        right.addWidget(self.save)
        right.addStretch(1)
        top.addLayout(left, 1)
        top.addLayout(right, 1)
        layout.addLayout(top)
        # the tools below, full width, three or four a row: the side panel fits a 1024 px window (docs/gui.md)
        self.copy_prev = QPushButton("Copy from previous")
        self.copy_next = QPushButton("Copy from next")
        self.fill = QPushButton("Fill from neighbours", toolTip="Fill this step from its neighbours (interpolated in time)")
        self.insert = QPushButton("Insert time step", toolTip="After this one, in every template of the set (interpolated)")
        self.mirror = QCheckBox("Mirror (y = 0)", checked=sketch.mirror)
        self.row_mode = QCheckBox("Move whole row", checked=sketch.row_mode)
        self.proportional = QCheckBox("Proportional (O)", checked=sketch.proportional,
                                      toolTip="Moving a point moves its neighbours with a falloff; the wheel sizes it while dragging")
        self.falloff = ComboBox()
        self.falloff.addItems(FALLOFF_KINDS)
        self.radius = DoubleSpinBox(decimals=3, minimum=0.001, maximum=100.0, singleStep=0.02, value=sketch.radius,
                                     prefix="radius ", toolTip="Falloff radius (world units)")
        self.time_mode = ComboBox(toolTip="Which time steps an edit carries to")
        for key, text in TIME_MODES.items():
            self.time_mode.addItem(text, key)
        self.select_row = QPushButton("Select row")
        self.select_column = QPushButton("Select column")
        self.select_all = QPushButton("Select all (A)")
        tools_rows = []
        for widgets in ((self.copy_prev, self.copy_next, self.fill), (self.insert, self.select_row, self.select_column,
                                                                       self.select_all),
                        (self.mirror, self.row_mode, self.proportional), (self.falloff, self.radius, self.time_mode)):
            row = QHBoxLayout()
            for w in widgets:
                row.addWidget(w)
            row.addStretch(1)
            tools_rows.append(row)
        for row in tools_rows:
            layout.addLayout(row)
        # two lines, whether it holds the hint or a point's coordinates: the views below do not jump when a
        # press on a point swaps one for the other (mid-gesture, under the cursor)
        self.point_label = TextLines("Drag grid points in the views below (or right on the 3D view).", lines=2)
        layout.addWidget(self.point_label)
        views = QHBoxLayout()
        self.views = {name: GridView2D(sketch, name) for name in VIEWS}
        for v in self.views.values():
            views.addWidget(v)
        layout.addLayout(views, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._read_only = None  # (folder, whether the set there is read-only): the status line's
        layout.addWidget(self.status)

        self.list.currentRowChanged.connect(lambda k: k >= 0 and k != sketch.k and sketch.set(k=k, selected=None))
        self.step.valueChanged.connect(lambda s: s != sketch.step and sketch.set(step=s))
        self.copy_prev.clicked.connect(lambda: sketch.copy_step(sketch.step - 1))
        self.copy_next.clicked.connect(lambda: sketch.copy_step(sketch.step + 1))
        self.mirror.toggled.connect(lambda on: sketch.set(mirror=on))
        self.row_mode.toggled.connect(lambda on: sketch.set(row_mode=on))
        self.proportional.toggled.connect(lambda on: on != sketch.proportional and sketch.set(proportional=on))
        self.falloff.currentTextChanged.connect(lambda kind: sketch.set(falloff=kind))
        self.radius.valueChanged.connect(lambda r: abs(r - sketch.radius) > 1e-9 and sketch.set_radius(r))
        self.time_mode.currentIndexChanged.connect(lambda i: sketch.set(time_mode=self.time_mode.itemData(i)))
        self.fill.clicked.connect(sketch.fill_step)
        self.insert.clicked.connect(sketch.insert_step)
        self.select_row.clicked.connect(sketch.select_row)
        self.select_column.clicked.connect(sketch.select_column)
        self.select_all.clicked.connect(sketch.select_all)
        self.list.setDragDropMode(QAbstractItemView.InternalMove)
        self.list.model().rowsMoved.connect(self._rows_moved)
        self.duplicate.clicked.connect(sketch.duplicate)
        self.delete.clicked.connect(sketch.delete)
        self.rename_button.clicked.connect(self._ask_rename)
        # the set's stack (Document.undo): Undo or Redo during a gesture cancels it, as Ctrl+Z does
        self.undo.clicked.connect(lambda: self.doc.undo.undo())
        self.redo.clicked.connect(lambda: self.doc.undo.redo())
        for signal in (self.doc.undo.canUndoChanged, self.doc.undo.canRedoChanged, self.doc.gesture_changed):
            signal.connect(self._undo_buttons)
        self._undo_buttons()
        # (the set changing reaches sync through sketch.changed: SketchState answers every templates_changed
        # with one, so a drag's move syncs this panel once, not twice)
        sketch.changed.connect(self.sync)
        sketch.moved.connect(self.show_point)  # a gesture's move: only the point's coordinates change here
        self.doc.dirty_changed.connect(lambda dirty: self.sync())

    def _undo_buttons(self, *args):
        """Undo and Redo enabled when there is something to undo or redo, or a gesture to cancel."""
        if sip.isdeleted(self.doc.undo) or sip.isdeleted(self.undo):  # (a closing window: the stack's last signals)
            return
        dragging = self.doc.dragging
        self.undo.setEnabled(self.doc.undo.canUndo() or dragging)
        self.redo.setEnabled(self.doc.undo.canRedo() or dragging)

    def _rows_moved(self, parent, start, end, destination, row):
        """A template dragged to a new place in the list: the blend order changes (one undo step)."""
        target = row if row < start else row - 1
        QTimer.singleShot(0, lambda: self.sketch.reorder(start, target))  # after the list has finished its move

    def _ask_rename(self):
        if not self.doc.templates:
            return
        name, ok = QInputDialog.getText(self, "Rename template", "Name:", text=self.doc.templates[self.sketch.k].name)
        if ok:
            try:
                check_name(name.strip())
                self.sketch.rename(name)
            except GRCError as e:  # too long, a tab or other control character: say so, keep the old name
                self.window().error(f"Template not renamed: {e.message}", "Rename template")

    def show_point(self):
        """The selected point's coordinates (or how to pick one)."""
        s, doc = self.sketch, self.doc
        if not doc.templates:
            return
        t = doc.templates[s.k]
        if s.selected is None:
            self.point_label.setText("Drag grid points in the views below (or right on the 3D view); "
                                     "drag on empty space to box-select, wheel zooms, middle drag pans.")
        else:
            r, c = s.selected
            x, y, z = np.round(t.points[s.step, r, c], 4) + 0.0  # no "-0.0000" on the midline
            self.point_label.setText(f"{t.name}, time {t.time[s.step]:g}, morph row {r}, point {c}: "
                                     f"x {x:.4f}  y {y:.4f}  z {z:.4f}")

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
            self.step_label.setText(f"time step {s.step + 1} of {t.grid_shape[0]}: time {t.time[s.step]:g}")
            self.show_point()
        # only a change is set: a spin box repaints on every setValue, even of the value it shows (each drag move)
        for widget, value, shown, show in ((self.proportional, s.proportional, self.proportional.isChecked(),
                                            self.proportional.setChecked),
                                           (self.radius, round(s.radius, self.radius.decimals()), self.radius.value(),
                                            self.radius.setValue)):
            if value != shown:
                widget.blockSignals(True)
                show(value)
                widget.blockSignals(False)
        self.fill.setEnabled(bool(doc.templates) and 0 < s.step < doc.templates[s.k].grid_shape[0] - 1)
        for button in (self.duplicate, self.rename_button, self.delete):
            button.setEnabled(bool(doc.templates))
        self.copy_prev.setEnabled(bool(doc.templates) and s.step > 0)
        self.copy_next.setEnabled(bool(doc.templates) and s.step < doc.templates[s.k].grid_shape[0] - 1)
        where = str(doc.folder) if doc.folder else "no folder yet (Save asks for one)"
        if self._read_only is None or self._read_only[0] != doc.folder:  # (it resolves paths: not on every drag move)
            self._read_only = (doc.folder, doc.templates_read_only)
        if self._read_only[1] and doc.folder:
            where += " (a bundled example: Save asks where to put a copy)"
        if doc.error:
            self.status.setText(f"<span style='color:#b00020'>⚠ The set cannot be saved or trained: {doc.error}</span>")
        else:
            state = "unsaved edits" if doc.dirty else "saved"
            self.status.setText(f"{len(doc.templates)} templates · {state} · {where}")
