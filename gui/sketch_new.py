"""New template set from nothing: rows, points per row, time steps and the relational map, starting from a
flat sheet, the bundled petal, a copy of a template, or imported OBJ/PLY grids (grc.importers, the same
converters as `grc import`). A set holds two templates to blend between: the start and a wider variant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                             QLineEdit, QPushButton, QSpinBox)

from grc import GRCError, Template, load_templates
from grc import limits
from grc.examples import template_set_path
from grc.importers import MESH_SUFFIXES, default_map, import_files, read_grid_meshes

from .explore_panel import Clamping

STARTS = {"flat": "A flat sheet", "petal": "The petal example", "copy": "A copy of the current template",
          "import": "Imported OBJ / PLY grids (one file per time step, or one grown over time)"}
VARIANT_WIDTH = 1.4  # the second template: the first, this much wider


def resample(points, steps: int, rows: int, cols: int, positions=None) -> np.ndarray:
    """A (T, M, N, 3) grid series interpolated linearly to (steps, rows, cols, 3): evenly by index, or along
    axis 0 (time) and 1 (rows) by `positions` {axis: (the old values, the new values)}, each set of values taken
    relative to its own first and last (so an uneven schedule is followed)."""
    out = np.asarray(points, float)
    for axis, n in ((0, steps), (1, rows), (2, cols)):
        old = out.shape[axis]
        if positions and axis in positions:
            u, v = (np.asarray(values, float) for values in positions[axis])
            u, v = (u - u[0]) / ((u[-1] - u[0]) or 1.0), (v - v[0]) / ((v[-1] - v[0]) or 1.0)
        elif old == n:
            continue
        else:
            u, v = np.linspace(0, 1, old), np.linspace(0, 1, n)
        if old == 1:
            out = np.repeat(out, n, axis=axis)
            continue
        i = np.clip(np.searchsorted(u, v, side="right") - 1, 0, old - 2)
        f = np.clip((v - u[i]) / (u[i + 1] - u[i]), 0.0, 1.0).reshape([-1 if a == axis else 1 for a in range(out.ndim)])
        out = np.take(out, i, axis=axis) * (1 - f) + np.take(out, i + 1, axis=axis) * f
    return out


def grown(grid, steps: int) -> np.ndarray:
    """One grid (M, N, 3) over `steps` time steps, growing from 30 % of its size about its first row's centre."""
    grid = np.asarray(grid, float)
    base = grid[0].mean(axis=0)
    sizes = np.linspace(0.3, 1.0, steps) if steps > 1 else np.ones(1)
    return np.stack([base + (grid - base) * s for s in sizes])


def flat_sheet(rows: int, cols: int, length=1.0, width=0.5) -> np.ndarray:
    """A flat grid (M, N, 3): rows along +X from the origin, points across Y, centred on the midline."""
    x = np.linspace(0, length, rows)
    y = np.linspace(-width / 2, width / 2, cols)
    grid = np.zeros((rows, cols, 3))
    grid[..., 0], grid[..., 1] = x[:, None], y[None, :]
    return grid


def parse_values(text: str, count: int, what: str) -> np.ndarray | None:
    """Comma-separated increasing numbers (`count` of them); empty: None (the start's own, else evenly from 0 to 1)."""
    if not text.strip():
        return None
    try:
        values = np.array([float(v) for v in text.replace(";", ",").split(",") if v.strip()])
    except ValueError:
        raise GRCError(f"expected comma-separated numbers, got {text!r}", field=what) from None
    if len(values) != count:
        raise GRCError(f"expected {count} values (one per {'time step' if what == 'time' else 'row'}), got {len(values)}",
                       field=what)
    if not np.isfinite(values).all() or np.any(np.diff(values) <= 0):
        raise GRCError("expected finite values, each larger than the one before", field=what)
    return values


def new_set(rows: int, cols: int, steps: int, start: str = "flat", *, template: Template | None = None,
            files=(), time=None, morph=None, name: str = "sketch") -> list[Template]:
    """Two templates (`name`-a and a wider `name`-b) of (steps, rows, cols) from `start` (see STARTS)."""
    for value, what, top in ((rows, "rows", limits.MAX_ROWS), (cols, "points", limits.MAX_POINTS),
                             (steps, "time steps", limits.MAX_TIME_STEPS)):
        if not 2 <= value <= top:
            raise GRCError(f"expected 2 to {top} {what}, got {value}", field=what)
    if start in ("petal", "copy"):
        if start == "petal":
            template = load_templates(template_set_path()).templates[0]
        if template is None:
            raise GRCError("there is no template to copy; start from a flat sheet or the petal", field="start")
        # the template's own schedule unless other values are given (its values where the counts agree)
        T, M = len(template.time), len(template.morph)
        time = (template.time if steps == T else np.linspace(template.time[0], template.time[-1], steps)) \
            if time is None else np.asarray(time, float)
        morph = (template.morph if rows == M else np.linspace(template.morph[0], template.morph[-1], rows)) \
            if morph is None else np.asarray(morph, float)
        points = resample(template.points, steps, rows, cols, {0: (template.time, time), 1: (template.morph, morph)})
    time = default_map(steps) if time is None else np.asarray(time, float)
    morph = default_map(rows) if morph is None else np.asarray(morph, float)
    if start == "flat":
        points = grown(flat_sheet(rows, cols), steps)
    elif start == "import":
        files = list(files)
        if len(files) == 1 and Path(files[0]).suffix.lower() in MESH_SUFFIXES:  # one grid, grown over time here
            points = grown(read_grid_meshes(files)[0], steps)
        else:
            imported = import_files(name, files)
            points = imported.points if len(imported.points) > 1 else grown(imported.points[0], steps)
        points = resample(points, steps, rows, cols)
    elif start not in ("petal", "copy"):
        raise GRCError(f"expected one of {', '.join(STARTS)}, got {start!r}", field="start")
    wide = points * [1.0, VARIANT_WIDTH, 1.0]
    source = {"flat": "a flat sheet", "petal": "the petal example", "copy": "a copy of a template",
              "import": "imported grids"}[start]
    attribution = f"made in GRC Studio from {source}"
    return [Template(f"{name}-a", time, morph, points, attribution),
            Template(f"{name}-b", time, morph, wide, attribution + f", {VARIANT_WIDTH:g} times wider")]


class CountBox(Clamping, QSpinBox):
    """A whole-number box that takes any whole number typed and keeps it within its range, saying so (`clamped`),
    where a plain QSpinBox silently put its previous value back (rows 1, points 0, time steps 1)."""

    clamped = pyqtSignal(int, int)  # what was typed, what it became

    def _typed(self, text):
        try:
            return int(text.strip())
        except ValueError:
            return None


class NewSetDialog(QDialog):
    """File > New template set…: the grid's size, its time steps and relational map, and where it starts."""

    def __init__(self, current: Template | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New template set")
        self.current, self.files = current, []
        self.made: list[Template] | None = None  # the set made on OK (accept)
        form = QFormLayout(self)
        # (keyboardTracking off: a number is taken, and clamped, once typed, not at its first digit)
        self.rows = CountBox(minimum=2, maximum=limits.MAX_ROWS, value=7, keyboardTracking=False)
        self.points = CountBox(minimum=2, maximum=limits.MAX_POINTS, value=7, keyboardTracking=False)
        self.steps = CountBox(minimum=2, maximum=limits.MAX_TIME_STEPS, value=5, keyboardTracking=False)
        for box, what in ((self.rows, "rows"), (self.points, "points per row"), (self.steps, "time steps")):
            box.setToolTip(f"from {box.minimum()} to {box.maximum()} {what}")
            box.clamped.connect(lambda typed, value, box=box, what=what: self._clamped(box, what, typed, value))
        self.time = QLineEdit(placeholderText="the copied template's, else evenly spaced from 0 to 1")
        self.morph = QLineEdit(placeholderText="the copied template's, else evenly from 0 to 1 (one value per row)")
        self.start = QComboBox()
        for key, text in STARTS.items():
            self.start.addItem(text, key)
        self.pick = QPushButton("Choose files…")
        self.pick.clicked.connect(self._pick_files)
        start = QHBoxLayout()
        start.addWidget(self.start, 1)
        start.addWidget(self.pick)
        self.name = QLineEdit("sketch")
        form.addRow("Rows (morph)", self.rows)
        form.addRow("Points per row", self.points)
        form.addRow("Time steps", self.steps)
        form.addRow("Time values", self.time)
        form.addRow("Relational map", self.morph)
        form.addRow("Start from", start)
        form.addRow("Name", self.name)
        self.problem = QLabel("")  # what to change, when OK found a mistake (the dialog stays open, values kept)
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020")
        self.problem.hide()
        form.addRow(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        if current is not None:
            T, M, N = current.grid_shape
            self.rows.setValue(M), self.points.setValue(N), self.steps.setValue(T)

    def _clamped(self, box, what, typed, value):
        """A count past its range became its nearest end: said under the fields (as a mistake on OK is)."""
        end = f"at least {box.minimum()}" if typed < box.minimum() else f"at most {box.maximum()}"
        self.problem.setText(f"⚠ {what[0].upper() + what[1:]}: {end}; {typed} became {value}.")
        self.problem.show()

    def _pick_files(self):
        window = self.parent()  # (the main window: where its dialogs open)
        files, _ = QFileDialog.getOpenFileNames(self, "Grid meshes, one per time step", str(window.dialog_folder()),
                                                "Grids (*.obj *.ply)")
        if files:
            window.used_folder(files[0])
            self.files = files
            self.start.setCurrentIndex(self.start.findData("import"))

    def accept(self):
        """OK: the set is made here; a mistake (a typo in the time values, too few files) is said in the dialog,
        which stays open with everything typed, the field to change focused."""
        try:
            self.made = self.templates()
        except GRCError as e:
            self.made = None
            self.problem.setText(f"⚠ {e}")
            self.problem.show()
            field = {"time": self.time, "morph": self.morph, "rows": self.rows, "points": self.points,
                     "time steps": self.steps, "start": self.start}.get(getattr(e, "field", None))
            if field is not None:
                field.setFocus()
            return
        self.problem.hide()
        super().accept()

    def templates(self) -> list[Template]:
        """The new set as chosen (GRCError with what to change)."""
        steps, rows = self.steps.value(), self.rows.value()
        return new_set(rows, self.points.value(), steps, self.start.currentData(), template=self.current,
                       files=self.files, time=parse_values(self.time.text(), steps, "time"),
                       morph=parse_values(self.morph.text(), rows, "morph"), name=self.name.text().strip() or "sketch")
