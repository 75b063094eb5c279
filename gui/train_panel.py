"""Train tab: retrain from the current templates in the background, with progress, loss and cancel."""

from __future__ import annotations

from PyQt5.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                             QVBoxLayout, QWidget)

import grc

# Training settings offered in the app (times for the petal on a 2-core CPU): the library's default,
# a rougher one for trying an edit out, and the article's own setup.
QUALITIES = {
    "default (about 6 s)": ("default", {}),
    "quick draft (about 2 s)": ("default", dict(steps=400, template_steps=300, template_lbfgs_steps=200,
                                                 refine_steps=200)),
    "article (about 3 min)": ("article", {}),
}
PHASE_NAMES = {"templates": "1/3 template models", "relational": "2/3 encoder + decoder",
               "refine": "3/3 refining (weighted loss)"}  # its loss weights the templates' own rows 20x


def quality_config(name: str) -> grc.Config:
    preset, overrides = QUALITIES[name]
    return grc.Config.from_preset(preset, **overrides)


class TrainPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        box = QGroupBox("Train a model from the current templates")
        form = QFormLayout(box)
        self.quality = QComboBox()
        self.quality.addItems(list(QUALITIES))
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        form.addRow("Settings", self.quality)
        form.addRow("Device", self.device)
        buttons = QHBoxLayout()
        self.start = QPushButton("Train")
        self.cancel = QPushButton("Cancel", enabled=False)
        buttons.addWidget(self.start)
        buttons.addWidget(self.cancel)
        form.addRow(buttons)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.phase = QLabel("idle")
        self.loss = QLabel("")
        form.addRow("Progress", self.bar)
        form.addRow("Phase", self.phase)
        form.addRow("Loss", self.loss)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        form.addRow(self.result)
        layout.addWidget(box)
        layout.addStretch(1)

    def set_running(self, running: bool):
        self.start.setEnabled(not running)
        self.cancel.setEnabled(running)
        self.quality.setEnabled(not running)
        self.device.setEnabled(not running)

    def show_progress(self, phase: str, step: int, total: int, loss: float):
        """The bar runs over the three phases: templates 0-30 %, relational 30-90 %, refine 90-100 %."""
        start, width = {"templates": (0, 300), "relational": (300, 600), "refine": (900, 100)}.get(phase, (0, 1000))
        self.bar.setValue(start + int(width * step / max(total, 1)))
        self.phase.setText(f"{PHASE_NAMES.get(phase, phase)}: step {step} of {total}")
        self.loss.setText(f"{loss:.5g}")
