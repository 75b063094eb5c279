"""Training in a background thread: grc.train's (or grc.population's) progress callback becomes Qt signals.

The worker never touches a widget or the plotter; it hands the trained GRCModel (plain numpy
arrays) to the GUI thread through `done`. Cancel is cooperative: the next progress report
raises grc.Cancelled.
"""

from __future__ import annotations

import traceback

from PyQt5.QtCore import QThread, pyqtSignal

import grc


def import_failure(e: Exception) -> str:
    """The line a failed import of the training code gets: PyTorch named only when it is PyTorch that is missing."""
    if isinstance(e, ImportError) and (e.name or "").split(".")[0] == "torch":  # missing, or a broken build of it
        return f"training needs PyTorch: {e}"
    return f"training could not start (GRC Studio's install may be broken: reinstall it): {e}"


class TrainWorker(QThread):
    progress = pyqtSignal(str, int, int, float)  # phase, step, total, loss
    cells = pyqtSignal(int, int, object)  # a population's step, total and every cell's score (tuple)
    done = pyqtSignal(object)  # the trained GRCModel
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()

    def __init__(self, templates, config=None, device="auto", parent=None, population=None):
        super().__init__(parent)
        self.templates, self.config, self.device = templates, config, device
        self.population = None if population is None else tuple(population)  # (rows, cols) or None
        self._cancel = False

    def cancel(self):
        self._cancel = True

    def _report(self, p):
        if self._cancel:
            raise grc.Cancelled()
        self.progress.emit(p.phase, p.step, p.total, float(p.loss))
        if getattr(p, "cells", None):
            self.cells.emit(p.step, p.total, tuple(p.cells))

    def _train(self):
        if self.population is None:
            return grc.train(self.templates, self.config, device=self.device, callback=self._report)
        from grc.population import train_population

        model, _ = train_population(self.templates, self.config, self.population, device=self.device,
                                    callback=self._report)
        return model

    def run(self):
        try:
            Cancelled = grc.Cancelled
        except Exception as e:  # PyTorch missing or broken, or (a broken install) grc's own training code
            self.failed.emit(import_failure(e))
            return
        try:
            model = self._train()
        except Cancelled:
            self.cancelled.emit()
        except grc.GRCError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - the old model stays; the user sees why
            traceback.print_exc()
            self.failed.emit(f"training failed: {type(e).__name__}: {e}")
        else:
            self.done.emit(model)
