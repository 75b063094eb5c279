"""Train tab: retrain from the current templates in the background, with progress, loss and cancel;
a single training or a population (rows x cols cells, grc.population) with each cell's score shown."""

from __future__ import annotations

from PyQt5.QtCore import QRectF, QSize, Qt
from PyQt5.QtGui import QColor, QPainter, QPen
from PyQt5.QtWidgets import (QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                             QSizePolicy, QVBoxLayout, QWidget)

import grc
from grc.config import SHAPE_SPACE_PAIR_MIXES

from .explore_panel import ComboBox, SpinBox

# Training settings offered in the app (times for the petal on a 2-core CPU): the library's default,
# a rougher one for trying an edit out, and the article's own setup.
QUALITIES = {
    "default (about 6 s)": ("default", {}),
    "quick draft (about 2 s)": ("default", dict(steps=400, template_steps=300, template_lbfgs_steps=200,
                                                 refine_steps=100, refine_repairs=0)),  # (no repair rounds)
    "article (about 3 min)": ("article", {}),
    # three or more templates: shapes beyond them blended in shape space, not linearly (docs/coherence.md,
    # parts 8 and 11); two: the default
    "beyond 3+ in shape space (about 2x)": ("default", dict(refine_extrapolation_targets="shape-space",
                                                            pair_mixes=SHAPE_SPACE_PAIR_MIXES)),
}
QUALITY_TIP = ("default: the library's settings. quick draft: to try an edit out. article: the article's own setup.\n"
               "beyond 3+ in shape space: for sets of three or more templates, the shapes beyond them are taught\n"
               "as shape-space blends (each part goes on turning and stretches less), not as linear blends (the\n"
               "default: shape keys' continuation, which never broke the leaf in 117 blends). Where the variants\n"
               "turn far, as the cup / droop / twist set's do, it stretches less at blend 2 (0.17-0.30 against\n"
               "0.27-0.43), at about twice the training time and reaching less far along each pair (a turn goes on\n"
               "turning); for two templates it is the default, and so it is for more where shape keys cross\n"
               "themselves beyond the templates.")
PHASE_NAMES = {"templates": "1/3 template models", "relational": "2/3 encoder + decoder",
               "refine": "3/3 refining (weighted loss)",  # its loss weights the templates' own rows 20x
               "repair": "3/3 repairing broken blends"}  # a round of the refine where a shape beyond broke
MODES = ("single training", "population (rows x cols)")
MAX_CELLS_SIDE = 8  # as `grc train --population`


def quality_config(name: str) -> grc.Config:
    preset, overrides = QUALITIES[name]
    return grc.Config.from_preset(preset, **overrides)


def score_colour(rank: float) -> QColor:
    """0 (the best cell) green, 0.5 amber, 1 (the worst) red."""
    stops = [(0.0, (46, 160, 67)), (0.5, (230, 170, 30)), (1.0, (200, 50, 40))]
    for (a, ca), (b, cb) in zip(stops, stops[1:]):
        if rank <= b:
            w = (rank - a) / (b - a)
            return QColor(*(round(x + (y - x) * w) for x, y in zip(ca, cb)))
    return QColor(*stops[-1][1])


class CellGrid(QWidget):
    """A population's cells as a rows x cols grid (the torus laid flat), each coloured by its score at
    the latest exchange: green the best, red the worst, the best one outlined; grey before the first."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid = (3, 3)
        self.scores: tuple[float, ...] | None = None
        self.exchanges = 0
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)

    def sizeHint(self):
        return QSize(220, 220)

    def reset(self, grid):
        self.grid, self.scores, self.exchanges = tuple(grid), None, 0
        self.update()

    def set_scores(self, scores):
        self.scores = tuple(float(s) for s in scores)
        self.exchanges += 1
        self.update()

    def best(self) -> int | None:
        return None if not self.scores else min(range(len(self.scores)), key=self.scores.__getitem__)

    def colours(self) -> list[QColor]:
        """Each cell's colour: by its rank among the cells (lower score, greener)."""
        rows, cols = self.grid
        if not self.scores or len(self.scores) != rows * cols:
            return [QColor(200, 200, 200)] * (rows * cols)
        order = sorted(range(len(self.scores)), key=self.scores.__getitem__)
        rank = {cell: i / max(len(order) - 1, 1) for i, cell in enumerate(order)}
        return [score_colour(rank[i]) for i in range(len(self.scores))]

    def paintEvent(self, event):
        rows, cols = self.grid
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        side = min(self.width() / cols, self.height() / rows)
        x0, y0 = (self.width() - side * cols) / 2, (self.height() - side * rows) / 2
        best = self.best()
        font = painter.font()
        font.setPointSizeF(max(6.0, min(10.0, side / 6)))
        painter.setFont(font)
        for cell, colour in enumerate(self.colours()):
            r, c = divmod(cell, cols)
            rect = QRectF(x0 + c * side + 2, y0 + r * side + 2, side - 4, side - 4)
            painter.setPen(QPen(Qt.black, 3) if cell == best else QPen(QColor(120, 120, 120), 1))
            painter.setBrush(colour)
            painter.drawRoundedRect(rect, 4, 4)
            painter.setPen(Qt.black)
            text = f"{cell}" if not self.scores else f"{cell}\n{self.scores[cell]:.3g}"
            painter.drawText(rect, Qt.AlignCenter, text)
        painter.end()


class TrainPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        box = QGroupBox("Train a model from the current templates")
        form = QFormLayout(box)
        self.quality = ComboBox()
        self.quality.addItems(list(QUALITIES))
        self.quality.setToolTip(QUALITY_TIP)
        self.device = ComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.mode = ComboBox()
        self.mode.addItems(list(MODES))
        self.mode.setToolTip("A population trains rows x cols encoder/decoder pairs at once, each with its own "
                             "seed, learning rates, context dimension and loss; every 200 steps each takes the "
                             "best of its four neighbours. The best cell is kept. About 3-5x one training.")
        self.rows, self.cols = SpinBox(), SpinBox()
        for spin in (self.rows, self.cols):
            spin.setRange(1, MAX_CELLS_SIDE)
            spin.setValue(3)
        cells = QHBoxLayout()
        cells.addWidget(self.rows)
        cells.addWidget(QLabel("x"))
        cells.addWidget(self.cols)
        cells.addStretch(1)
        form.addRow("Settings", self.quality)
        form.addRow("Device", self.device)
        form.addRow("Training", self.mode)
        form.addRow("Cells", cells)
        buttons = QHBoxLayout()
        self.start = QPushButton("Train")
        self.cancel = QPushButton("Cancel", enabled=False)
        buttons.addWidget(self.start)
        buttons.addWidget(self.cancel)
        form.addRow(buttons)
        self.stale = QLabel("")  # the model was trained on other templates (Document.model_differs)
        self.stale.setObjectName("stale-model")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #8a4b00; background: #fff4e0; padding: 3px")
        self.stale.hide()
        form.addRow(self.stale)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.phase = QLabel("idle")
        self.loss = QLabel("")
        form.addRow("Progress", self.bar)
        form.addRow("Phase", self.phase)
        form.addRow("Loss", self.loss)
        self.cell_box = QGroupBox("Population: each cell's score at the latest exchange (lower is better)")
        cell_layout = QVBoxLayout(self.cell_box)
        self.cell_grid = CellGrid()
        self.cell_box.setToolTip("Score: reconstruction / 0.01 + interpolation error / 0.05 + the share of broken "
                                 "blends, before the final refine; the kept cell is refined after training.")
        self.cell_note = QLabel("")
        self.cell_note.setWordWrap(True)
        cell_layout.addWidget(self.cell_grid, 1)
        cell_layout.addWidget(self.cell_note)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        form.addRow(self.result)
        layout.addWidget(box)
        layout.addWidget(self.cell_box, 1)
        layout.addStretch(0)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        for spin in (self.rows, self.cols):
            spin.valueChanged.connect(self._mode_changed)  # the cell grid shows the size chosen, before Train
        self._mode_changed()
        self._running = False

    def population(self) -> tuple[int, int] | None:
        """(rows, cols) when a population is chosen (at least two cells), else None."""
        if self.mode.currentIndex() != 1:
            return None
        grid = (self.rows.value(), self.cols.value())
        return grid if grid[0] * grid[1] >= 2 else None

    def set_population(self, grid):
        """Choose a population of rows x cols (None: a single training)."""
        self.mode.setCurrentIndex(0 if grid is None else 1)
        if grid is not None:
            self.rows.setValue(grid[0])
            self.cols.setValue(grid[1])

    def _mode_changed(self, *_):
        population = self.mode.currentIndex() == 1
        for spin in (self.rows, self.cols):
            spin.setEnabled(population and not getattr(self, "_running", False))
        self.cell_box.setVisible(population)
        if population and not getattr(self, "_running", False):
            self.cell_grid.reset((self.rows.value(), self.cols.value()))
            self.cell_note.setText("" if self.population() else "1 x 1 is one training: choose two cells or more")

    def set_running(self, running: bool):
        self._running = running
        self.start.setEnabled(not running)
        self.cancel.setEnabled(running)
        for widget in (self.quality, self.device, self.mode):
            widget.setEnabled(not running)
        for spin in (self.rows, self.cols):
            spin.setEnabled(not running and self.mode.currentIndex() == 1)
        if running and self.population():
            self.cell_grid.reset(self.population())
            self.cell_note.setText("Waiting for the first exchange (every 200 steps)…")

    def show_progress(self, phase: str, step: int, total: int, loss: float):
        """The bar runs over the three phases: templates 0-30 %, relational 30-90 %, refine 90-100 % (a repair
        round, when one runs, its last 2 %)."""
        start, width = {"templates": (0, 300), "relational": (300, 600), "refine": (900, 80),
                        "repair": (980, 20)}.get(phase, (0, 1000))
        self.bar.setValue(start + int(width * step / max(total, 1)))
        self.phase.setText(f"{PHASE_NAMES.get(phase, phase)}: step {step} of {total}")
        self.loss.setText(f"{loss:.5g}")

    def reset_progress(self):
        """Nothing trained for this set yet: no bar, phase or loss left over from another set's training."""
        self.bar.setValue(0)
        self.phase.setText("idle")
        self.loss.setText("")

    def show_done(self, seconds: float | None = None, what: str = "done", note: str = ""):
        """A training ended: the bar full and the phase saying so (not its last step's count): "done in 7.0 s
        (for a document no longer open)"."""
        self.bar.setValue(1000)
        self.phase.setText((what if seconds is None else f"{what} in {seconds:.1f} s") + note)

    def show_cells(self, step: int, total: int, scores):
        """A population's scores at an exchange (or at the end of its training)."""
        self.cell_grid.set_scores(scores)
        best = self.cell_grid.best()
        when = "end of training" if step >= total else f"exchange at step {step} of {total}"
        self.cell_note.setText(f"{when}: best cell {best}, score {scores[best]:.3g}")
