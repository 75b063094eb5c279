"""Controllers: each activity owns its long work and takes what it needs when it starts.

A TrainingController records the document's templates and the model file it will save to when the
training starts, so opening another model meanwhile cannot redirect the result. An ExportController
records the shape on screen when the user asks for an export, before the file dialog (a training
that ends while the dialog is open does not change what is written).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from PyQt5.QtCore import QObject, pyqtSignal

from grc import GRCError
from grc.io import atomic_path

from .worker import TrainWorker


def backup_path(path) -> Path:
    """Where a model's previous version is kept when it is retrained: `name.grc` -> `name.backup.grc`."""
    path = Path(path)
    return path.with_name(path.stem + ".backup" + path.suffix)


def save_with_backup(model, path) -> Path | None:
    """Save `model` to `path` (atomically); an existing file there is first kept as its backup.

    Returns the backup's path (None when there was no previous file). If the backup cannot be
    written, the old file is left as it was and nothing is saved (GRCError / OSError).
    """
    path = Path(path)
    backup = None
    if path.is_file():
        backup = backup_path(path)
        with atomic_path(backup) as tmp:
            Path(tmp).write_bytes(path.read_bytes())
    model.save(path)
    return backup


def keep_in_recovery(model, name: str) -> Path:
    """Save a trained model that has nowhere else to go in the recovery folder; returns where."""
    from grc.io import recovery_path

    return model.save(recovery_path(f"trained-{name}", time.strftime("%Y%m%d-%H%M%S")))


def population_note(model) -> str:
    """' (population 3 x 3: cell 4 kept, ...)' for a model trained as a population, else ''."""
    report = getattr(model, "info", {}).get("population")
    if not report:
        return ""
    rows, cols = report.get("grid", ("?", "?"))
    best = report.get("best")
    cell = report.get("cells", [{}] * (best + 1))[best] if isinstance(best, int) else {}
    return (f" (population {rows} x {cols}: cell {best} kept, {cell.get('loss', '?')} loss, "
            f"{cell.get('context_dims', '?')} context values)")


class TrainingController(QObject):
    """One training at a time: templates and target are taken at the start; the result goes there."""

    progress = pyqtSignal(str, int, int, float)  # phase, step, total, loss
    cells = pyqtSignal(int, int, object)  # a population's step, total, every cell's score (at each exchange)
    finished = pyqtSignal(object, object, str)  # model, the path it was saved to (or None), a message
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()
    running_changed = pyqtSignal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.worker: TrainWorker | None = None
        self.target: Path | None = None  # where the result is saved (None: kept unsaved, in memory)
        self.source: Path | None = None  # the document's model (or folder) when the training started

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, templates, config, device, target, source=None, population=None):
        """`population`: (rows, cols) trains a population (grc.population) instead of one model."""
        if self.worker is not None:
            raise GRCError("a training is already running")
        self.target = None if target is None else Path(target)
        self.source = None if source is None else Path(source)
        self.worker = TrainWorker(templates, config, device, self, population=population)
        self.worker.progress.connect(self.progress)
        self.worker.cells.connect(self.cells)
        self.worker.done.connect(self._done)
        self.worker.failed.connect(self.failed)
        self.worker.cancelled.connect(self.cancelled)
        self.worker.finished.connect(self._finished)
        self.running_changed.emit(True)
        self.worker.start()

    def cancel(self):
        if self.worker is not None:
            self.worker.cancel()

    def wait(self):
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()

    def _done(self, model):
        target = self.target
        kept = population_note(model)
        if target is None:
            self.finished.emit(model, None, f"Trained{kept}; not saved yet (File > Save model as…)")
            return
        try:
            backup = save_with_backup(model, target)
        except (GRCError, OSError) as e:
            self.finished.emit(model, None, f"Trained, but not saved to {target}: {e}")
            return
        note = f"; the previous model is kept as {backup.name}" if backup else ""
        self.finished.emit(model, target, f"Saved to {target}{note}{kept}")

    def _finished(self):
        self.worker.deleteLater()
        self.worker = None
        self.running_changed.emit(False)


@dataclass
class ShapeExport:
    """What an export writes, taken when the user asked for it."""

    model: object
    time: float
    blend: object
    context: object = None
    options: dict = field(default_factory=dict)  # subdivide, petals, thickness
    look: object = None  # a grc.diverge.bend.Look the shape goes through, or None
    offsets: object = None  # a drawn path less its blend's own path at the model's rows (M, C), or None


class ExportController:
    """Exports of the shape on screen, a sweep or the traces plot, from a snapshot taken at the ask."""

    def capture(self, state, options, look=None) -> ShapeExport:
        args = state.shape_args()
        offsets = None if state.offsets is None else state.context() - state.blend_context()
        return ShapeExport(state.model, args.pop("time"), args.pop("blend"), args.get("context"), dict(options), look,
                           offsets)

    def write_shape(self, shot: ShapeExport, path):
        from grc.shapes import export

        extra = {} if shot.context is None else dict(context=shot.context)
        return export(shot.model, path, shot.time, shot.blend, **extra, **shot.options, look=shot.look)

    def write_sweep(self, shot: ShapeExport, path, sweep, frames, start=None, stop=None):
        """A sweep over time at the blend shown, or over blend at the time shown from `start` to `stop` (blends or
        weights; None: the first template to the second)."""
        from grc.shapes import export_animation

        blend = shot.blend if sweep == "time" else 0.0
        ends = {} if sweep == "time" else {"start": start, "stop": stop}
        return export_animation(shot.model, path, sweep=sweep, frames=frames, time=shot.time, blend=blend,
                                **shot.options, look=shot.look, context_offsets=shot.offsets, **ends)

    def write_traces(self, shot: ShapeExport, path):
        from grc.plots import plot_traces

        return plot_traces(shot.model, path, time=shot.time)
