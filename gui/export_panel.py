"""Export tab: the current shape, a sweep as a morph-target GLB, the traces plot, a screenshot."""

from __future__ import annotations

from PyQt5.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

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
        self.format = QComboBox()
        self.format.addItems(list(FORMATS))
        self.shape = QPushButton("Export shape…")
        row.addWidget(self.format)
        row.addWidget(self.shape)
        row.addStretch(1)
        layout.addWidget(shape)
        sweep = QGroupBox("Sweep as a GLB with morph targets (Blender shape keys)")
        form = QFormLayout(sweep)
        self.sweep = QComboBox()
        self.sweep.addItems(["time", "blend"])
        self.frames = QSpinBox(minimum=2, maximum=200, value=9)
        self.animation = QPushButton("Export sweep…")
        form.addRow("Sweep over", self.sweep)
        form.addRow("Frames", self.frames)
        form.addRow(self.animation)
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
