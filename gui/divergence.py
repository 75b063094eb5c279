"""The Divergence panel: divergent fine-tuning (grc.diverge.finetune.diverge) in the background, then
a slider that scrubs its checkpoints live (the shown model is the checkpoint's: roll back to any),
novelty and coherence plotted per checkpoint beside it, and "Save checkpoint as model…".

Checkpoint 0 is the original model itself. The worker hands each checkpoint (a GRCModel of plain
numpy arrays) to the GUI thread through a signal; it never touches a widget or the plotter.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from PyQt5.QtCore import QPointF, QRectF, QSize, Qt, QThread, pyqtSignal
from PyQt5.QtGui import QColor, QPainter, QPen, QPolygonF
from PyQt5.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QSlider,
                             QVBoxLayout, QWidget)

import grc
from grc import GRCError, examples

from .explore_panel import SpinBox
from .gallery import enable


class DivergeWorker(QThread):
    progress = pyqtSignal(int, int)  # step, steps
    checkpoint = pyqtSignal(object)  # a grc.diverge.finetune.Checkpoint
    done = pyqtSignal(object)  # every checkpoint (with its lineage)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()

    def __init__(self, model, steps: int, every: int, seed: int = 0, parent=None):
        super().__init__(parent)
        self.model, self.steps, self.every, self.seed = model, steps, every, seed
        self._cancel = False

    def cancel(self):
        self._cancel = True

    def _report(self, step, steps, checkpoint):
        if checkpoint is not None:
            self.checkpoint.emit(checkpoint)
        self.progress.emit(step, steps)
        if self._cancel:
            raise grc.Cancelled()

    def run(self):
        try:
            from grc.diverge.finetune import diverge

            checkpoints = diverge(self.model, self.steps, every=self.every, seed=self.seed, callback=self._report)
        except grc.Cancelled:
            self.cancelled.emit()
        except GRCError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - the model stays; the user sees why
            traceback.print_exc()
            self.failed.emit(f"fine-tuning failed: {type(e).__name__}: {e}")
        else:
            self.done.emit(checkpoints)


class CheckpointPlot(QWidget):
    """Novelty (blue) and the coherent share (green) per checkpoint; the chosen one marked. It takes the panel's
    height left over (it stayed 190 px high in a tall window, the rest of the panel empty)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list = []  # checkpoints
        self.current = 0
        self.setMinimumHeight(170)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def sizeHint(self):
        return QSize(360, 190)

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        r = QRectF(8, 22, self.width() - 16, self.height() - 44)
        painter.fillRect(r, QColor(250, 250, 250))
        painter.setPen(QColor(200, 200, 200))
        painter.drawRect(r)
        third = r.width() / 3
        for k, (text, colour) in enumerate((("— novelty (to its top)", QColor(42, 122, 176)),
                                            ("— coherent share", QColor(58, 154, 74)),
                                            ("— broken share", QColor(192, 57, 43)))):
            painter.setPen(colour)
            painter.drawText(QRectF(r.left() + k * third, 2, third, 18), Qt.AlignCenter, text)
        painter.setPen(QColor(90, 90, 90))
        steps_text = f"checkpoints at steps {self.rows[0].step}–{self.rows[-1].step}" if self.rows else "checkpoints"
        painter.drawText(QRectF(r.left(), r.bottom() + 4, r.width(), 16), Qt.AlignCenter, steps_text)
        if self.rows:
            steps = [c.step for c in self.rows]
            top = max(max(c.novelty for c in self.rows), 1e-9) * 1.1
            span = max(steps[-1] - steps[0], 1)

            def at(step, value):
                return QPointF(r.left() + (step - steps[0]) / span * r.width(), r.bottom() - value * r.height())

            for values, colour in (([c.novelty / top for c in self.rows], QColor(42, 122, 176)),
                                   ([1 - c.broken - c.strained for c in self.rows], QColor(58, 154, 74)),
                                   ([c.broken for c in self.rows], QColor(192, 57, 43))):
                painter.setPen(QPen(colour, 2))
                points = [at(s, v) for s, v in zip(steps, values)]
                painter.drawPolyline(QPolygonF(points))
                for p in points:
                    painter.drawEllipse(p, 2.5, 2.5)
            if 0 <= self.current < len(steps):
                painter.setPen(QPen(QColor(200, 30, 30), 1, Qt.DashLine))
                x = at(steps[self.current], 0).x()
                painter.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        painter.end()


class DivergencePanel(QWidget):
    """Fine-tune away from the templates, then scrub the checkpoints; the state shows the chosen one."""

    status = pyqtSignal(str)

    def __init__(self, state, doc, parent=None):
        super().__init__(parent)
        self.state, self.doc = state, doc
        self.bent = lambda: False  # whether the 3D view shows the model through bends (the window sets it)
        self.worker: DivergeWorker | None = None
        self.original = None  # the model fine-tuned from (checkpoint 0)
        self.checkpoints: list = []
        self.errors: list[str] = []
        self.steps = SpinBox(minimum=1, maximum=5000, singleStep=30, value=120)
        self.every = SpinBox(minimum=1, maximum=1000, value=20)
        self.start = QPushButton("Diverge")
        self.cancel = QPushButton("Cancel")
        self.bar = QProgressBar(maximum=1000)
        self.slider = QSlider(Qt.Horizontal, minimum=0, maximum=0)
        self.slider.setPageStep(1)
        self.label = QLabel("Fine-tune the decoder away from the templates while coherence holds it together; "
                            "then scrub the checkpoints (0 is the model as it was).")
        self.label.setWordWrap(True)
        self.about = QLabel("")  # the checkpoint shown
        self.about.setWordWrap(True)
        self.plot = CheckpointPlot()
        self.save = QPushButton("Save checkpoint as model…")
        top = QHBoxLayout()
        for w in (QLabel("Steps"), self.steps, QLabel("every"), self.every, self.start, self.cancel):
            top.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        row = QHBoxLayout()
        row.addWidget(QLabel("Divergence"))
        row.addWidget(self.slider, 1)
        layout.addLayout(row)
        layout.addWidget(self.label)
        layout.addWidget(self.about)
        layout.addWidget(self.plot, 1)  # (the height left over: the plot grows with the window)
        layout.addWidget(self.save)
        self.start.clicked.connect(lambda: self.run())
        self.cancel.clicked.connect(self.stop)
        self.slider.valueChanged.connect(self.show_checkpoint)
        self.save.clicked.connect(lambda: self.ask_save())
        doc.model_changed.connect(self.model_changed)
        state.changed.connect(self._follow_state)
        self._enable()

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def _enable(self):
        enable({self.start: not self.running and self.doc.model is not None, self.cancel: self.running,
                self.slider: len(self.checkpoints) > 1, self.save: bool(self.checkpoints) and not self.running},
               self.cancel if self.running else self.start)

    def model_changed(self):
        """Another model is open: the checkpoints belonged to the old one."""
        self.stop()
        if self.worker is not None:
            self.worker.wait()
            self.worker = None  # what it had queued (checkpoints, done, cancelled) is no longer ours
        self.original, self.checkpoints = None, []
        self.plot.rows = []
        self.about.setText("")
        self.slider.setMaximum(0)
        self.bar.setValue(0)
        self._enable()

    def run(self, steps=None, every=None) -> bool:
        if self.running or self.doc.model is None:
            return False
        self.model_changed()
        self.original = self.doc.model
        self.worker = DivergeWorker(self.original, steps or self.steps.value(), every or self.every.value(), 0, self)
        self.worker.progress.connect(self._progress)
        self.worker.checkpoint.connect(self._checkpoint)
        self.worker.done.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(self._cancelled)
        self.worker.finished.connect(self._enable)
        self.worker.start()
        self.label.setText("Fine-tuning… each checkpoint appears on the slider as it is made.")
        self._enable()
        return True

    def stop(self):
        if self.worker is not None:
            self.worker.cancel()

    def _progress(self, step, steps):
        if self.sender() is not self.worker:
            return
        self.bar.setValue(int(1000 * step / max(steps, 1)))

    def _checkpoint(self, checkpoint):
        if self.sender() is not self.worker:
            return
        self.checkpoints.append(checkpoint)
        self.plot.rows = self.checkpoints
        at_end = self.slider.value() == self.slider.maximum()
        self.slider.setMaximum(len(self.checkpoints) - 1)
        if at_end:  # following the newest checkpoint: it is shown as it comes
            self.slider.setValue(self.slider.maximum())
        self.plot.update()
        self._enable()

    def _done(self, checkpoints):
        if self.sender() is not self.worker:
            return  # a run for a model no longer open
        self.checkpoints = list(checkpoints)  # the same models, now with their lineage
        self.plot.rows = self.checkpoints
        self.show_checkpoint(self.slider.value())
        self.label.setText(f"Done: {len(self.checkpoints)} checkpoints; scrub to roll back to any.")

    def _failed(self, message):
        if self.sender() is not self.worker:
            return
        self.errors.append(message)
        self.label.setText(f"Fine-tuning stopped: {message}")
        self.status.emit(message)

    def _cancelled(self):
        from grc.diverge.blend import lineage

        if self.sender() is not self.worker or self.original is None:
            return  # cancelled because another model opened: its checkpoints are gone

        for c in self.checkpoints[1:]:  # diverge() records lineage at the end: record it for these too
            if "lineage" not in c.model.info or c.model.info["lineage"].get("operation") != "diverge":
                c.model.info = {k: v for k, v in self.original.info.items() if k != "lineage"}
                c.model.info["lineage"] = lineage("diverge", [self.original], step=c.step, lr=1e-3, seed=0)
        self.label.setText(f"Cancelled: the {len(self.checkpoints)} checkpoints so far can be scrubbed and saved.")

    def show_checkpoint(self, index: int):
        """Show checkpoint `index`'s model in the 3D view and Explore (0: the original model)."""
        if not self.checkpoints:
            return
        index = max(0, min(index, len(self.checkpoints) - 1))
        c = self.checkpoints[index]
        self.plot.current = index
        self.plot.update()
        self.say_checkpoint()
        if self.state.model is not c.model:
            self.state.set_model(c.model)

    def say_checkpoint(self):
        """What the chosen checkpoint measured; the figures judge the model, so with bends on (a walkthrough took
        them for the bent shape on screen) the line says whose shapes they are."""
        index = self.plot.current
        if not 0 <= index < len(self.checkpoints):  # (none, or the model shown is none of them)
            return
        c = self.checkpoints[index]
        self.about.setText(f"Checkpoint {index} (step {c.step}): novelty {c.novelty:.3f}, "
                           f"{c.broken:.0%} broken, {c.strained:.0%} strained of the measured shapes"
                           + (" (the original)" if index == 0 else "")
                           + ("; the model's own shapes, without the bends the 3D view shows" if self.bent() else ""))

    def _follow_state(self):
        """The model shown changed elsewhere (the Gallery opens a shape with the model it searched): the slider
        shows that checkpoint, or none when it is none of them."""
        if not self.checkpoints or self.state.model is self.current_model():
            return  # (the common case, on every slider move)
        shown = [i for i, c in enumerate(self.checkpoints) if c.model is self.state.model]
        if shown:
            self.slider.setValue(shown[0])
            if self.plot.current != shown[0]:  # (the slider was there already: no valueChanged)
                self.show_checkpoint(shown[0])
        elif self.plot.current != -1:  # (once, not on every Play frame)
            self.plot.current = -1
            self.plot.update()
            self.about.setText("The model shown is none of these checkpoints: " +
                               ("scrub to show one." if self.slider.isEnabled() else "Diverge again to make some."))

    def current_model(self):
        c = self.current()
        return None if c is None else c.model

    def current(self):
        return self.checkpoints[self.slider.value()] if self.checkpoints else None

    def ask_save(self):
        c = self.current()
        if c is None:
            return None
        source, window = self.doc.model_path, self.window()  # (the main window: where its dialogs open)
        stem = source.stem if source is not None else "model"
        path, _ = QFileDialog.getSaveFileName(self, "Save checkpoint as model",
                                              str(window.dialog_folder() / f"{stem}-diverge-{c.step:04d}.grc"),
                                              "GRC models (*.grc)")
        return self.save_checkpoint(path) if window.used_folder(path) else None

    def save_checkpoint(self, path):
        """Write the chosen checkpoint as a model file (its lineage names the original)."""
        c = self.current()
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".grc")
        if examples.is_bundled(path):
            self.status.emit(f"{path} is a bundled example; choose another file.")
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            c.model.save(path)
        except (GRCError, OSError) as e:
            self.errors.append(str(e))
            self.status.emit(f"Checkpoint not saved: {e}")
            return None
        self.status.emit(f"Saved checkpoint {self.slider.value()} (step {c.step}) as {path}")
        return path
