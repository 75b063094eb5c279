"""Export tab: the current shape, a sweep as a morph-target GLB, the traces plot, a screenshot."""

from __future__ import annotations

import numpy as np
from PyQt5.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .explore_panel import ComboBox, SpinBox

FORMATS = {"OBJ": ".obj", "PLY": ".ply", "STL": ".stl", "GLB": ".glb"}


class ExportPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        shape = QGroupBox("Current shape")  # (a group box's title does not wrap: the rest is a label that does)
        shape_layout = QVBoxLayout(shape)
        what = QLabel("Time, blend or drawn path, subdivision, petals and thickness as shown.")
        what.setWordWrap(True)
        shape_layout.addWidget(what)
        row = QHBoxLayout()
        shape_layout.addLayout(row)
        self.format = ComboBox()
        self.format.addItems(list(FORMATS))
        self.shape = QPushButton("Export shape…")
        row.addWidget(self.format)
        row.addWidget(self.shape)
        row.addStretch(1)
        layout.addWidget(shape)
        sweep = QGroupBox("Sweep as a GLB with morph targets (Blender shape keys)")
        form = QFormLayout(sweep)
        self.sweep = ComboBox()
        self.sweep.addItems(["time", "blend"])
        self.frames = SpinBox(minimum=2, maximum=200, value=9)
        # a blend sweep runs between two of: each template, the blend shown (an extrapolation, a blend of three)
        self.sweep_from = ComboBox(toolTip="Where a blend sweep starts: a template, or the blend Explore shows")
        self.sweep_to = ComboBox(toolTip="Where a blend sweep ends: a template, or the blend Explore shows")
        self.animation = QPushButton("Export sweep…")
        form.addRow("Sweep over", self.sweep)
        form.addRow("From", self.sweep_from)
        form.addRow("To", self.sweep_to)
        form.addRow("Frames", self.frames)
        form.addRow(self.animation)
        self.sweep.currentTextChanged.connect(self._enable_range)
        self.set_templates([])
        layout.addWidget(sweep)
        other = QGroupBox("Pictures")
        row = QHBoxLayout(other)
        self.traces = QPushButton("Traces plot…")
        self.screenshot = QPushButton("Screenshot…")
        row.addWidget(self.traces)
        row.addWidget(self.screenshot)
        row.addStretch(1)
        layout.addWidget(other)
        self.last = QLabel("")
        self.last.setWordWrap(True)
        layout.addWidget(self.last)
        layout.addStretch(1)

    SHOWN = "the blend shown"

    def set_templates(self, names):
        """The model's templates, for a blend sweep's ends (first to second by default, as `grc export
        --animate blend`)."""
        items = list(names) + [self.SHOWN]
        for box, default in ((self.sweep_from, 0), (self.sweep_to, 1)):
            if [box.itemText(i) for i in range(box.count())] == items:
                continue  # the same templates (a training's new model, a checkpoint): the ends chosen stay
            box.clear()
            box.addItems(items)
            box.setCurrentIndex(min(default, len(names)))
        self._enable_range()

    def _enable_range(self):
        blend = self.sweep.currentText() == "blend"
        for box in (self.sweep_from, self.sweep_to):
            box.setEnabled(blend and box.count() > 1)

    def sweep_range(self, shown_weights):
        """(start, stop) weights of a blend sweep as chosen: each a template's one-hot weights or
        `shown_weights` (K,), the blend Explore shows."""
        K = len(shown_weights)

        def end(box):
            index = box.currentIndex()
            return np.asarray(shown_weights, float) if box.currentText() == self.SHOWN or not 0 <= index < K \
                else np.eye(K)[index]

        return end(self.sweep_from), end(self.sweep_to)
