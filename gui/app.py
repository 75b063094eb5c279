"""GRC Studio's main window and entry point (`grc studio`, `python -m gui`).

Layout: the 3D view on the left; on the right tabs for Explore (time, blend, context pad),
Sketch (edit templates), Train and Export. The Sketch tab shows the edited template in the
3D view; the other tabs show the model's shape.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QPoint, Qt
from PyQt5.QtGui import QImage, QKeySequence, QPainter
from PyQt5.QtWidgets import QAction, QApplication, QFileDialog, QMainWindow, QMessageBox, QSplitter, QTabWidget

from grc import GRCError

from .explore_panel import ExplorePanel
from .export_panel import FORMATS, ExportPanel
from .sketch import SketchPanel, SketchState
from .state import Document, ExploreState
from .train_panel import TrainPanel, quality_config
from .view3d import ShapeView
from .worker import TrainWorker

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "meshes" / "petal.grc"
DEFAULT_TEMPLATES = REPO / "templates" / "petal"
TABS = ("explore", "sketch", "train", "export")


class MainWindow(QMainWindow):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("GRC Studio")
        self.doc, self.state = Document(), ExploreState()
        self.sketch = SketchState(self.doc)
        self.view = ShapeView()
        self.explore_panel = ExplorePanel(self.state)
        self.sketch_panel = SketchPanel(self.sketch)
        self.train_panel = TrainPanel()
        self.export_panel = ExportPanel()
        self.tabs = QTabWidget()
        for panel, name in zip((self.explore_panel, self.sketch_panel, self.train_panel, self.export_panel),
                               ("Explore", "Sketch", "Train", "Export")):
            self.tabs.addTab(panel, name)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.view)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.setCentralWidget(split)
        self.splitter = split
        self.worker: TrainWorker | None = None
        self.train_config = None  # None: the settings chosen in the Train tab (tests set a tiny config)
        self.messages: list[str] = []  # every error shown, newest last
        self.headless = False  # errors go to stderr instead of dialogs
        self._camera_set = False
        self._menus()
        self.statusBar().showMessage("Open a model (.grc) or a template folder")

        # subscriptions: models -> views
        self.doc.model_changed.connect(self._model_changed)
        self.doc.templates_changed.connect(self._templates_changed)
        self.doc.dirty_changed.connect(self._title)
        self.state.changed.connect(self._shape_changed)
        self.state.view_changed.connect(self._view_options)
        self.sketch.changed.connect(self._shape_changed)
        self.tabs.currentChanged.connect(lambda i: self._shape_changed())
        self.sketch_panel.new.clicked.connect(lambda: self.sketch.new_template(self.doc.model, self.state.blend))
        self.sketch_panel.save.clicked.connect(self.save_templates)
        self.train_panel.start.clicked.connect(self.start_training)
        self.train_panel.cancel.clicked.connect(self.cancel_training)
        e = self.export_panel
        e.shape.clicked.connect(lambda: self._ask_path("Export shape", FORMATS[e.format.currentText()], self.export_shape))
        e.animation.clicked.connect(lambda: self._ask_path("Export sweep", ".glb", self.export_sweep))
        e.traces.clicked.connect(lambda: self._ask_path("Traces plot", ".png", self.export_traces))
        e.screenshot.clicked.connect(lambda: self._ask_path("Screenshot", ".png", self.save_screenshot))
        self.view.enable_point_dragging(self.sketch, lambda: self.mode == "sketch")

    def _menus(self):
        file = self.menuBar().addMenu("&File")
        for text, key, slot in (("Open model…", QKeySequence.Open, self._ask_open_model),
                                ("Open template folder…", "Ctrl+Shift+O", self._ask_open_folder),
                                ("Save templates", QKeySequence.Save, self.save_templates),
                                ("Save templates as…", QKeySequence.SaveAs, self._ask_save_as),
                                ("Quit", QKeySequence.Quit, self.close)):
            action = QAction(text, self, shortcut=QKeySequence(key))
            action.triggered.connect(slot)
            file.addAction(action)
        edit = self.menuBar().addMenu("&Edit")
        undo = self.doc.undo.createUndoAction(self, "Undo")
        undo.setShortcut(QKeySequence.Undo)
        redo = self.doc.undo.createRedoAction(self, "Redo")
        redo.setShortcut(QKeySequence.Redo)
        edit.addAction(undo)
        edit.addAction(redo)

    # -- messages ------------------------------------------------------------------------------
    def error(self, message: str, title="GRC Studio"):
        """Tell the user what went wrong; the app keeps running."""
        self.messages.append(message)
        self.statusBar().showMessage(message, 10000)
        if self.headless:  # --screenshot / --benchmark: no one to click a dialog away
            print(f"grc studio: {message}", file=sys.stderr)
        else:
            QMessageBox.warning(self, title, message)

    # -- opening ------------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return TABS[self.tabs.currentIndex()]

    def open(self, path=None) -> bool:
        """Open a .grc model or a template folder (no path: the bundled petal); False after a dialog."""
        try:
            if path is None:
                if DEFAULT_MODEL.exists():
                    self.doc.open_model(DEFAULT_MODEL, DEFAULT_TEMPLATES)
                else:
                    self.doc.open_folder(DEFAULT_TEMPLATES)
            elif Path(path).is_dir():
                self.doc.open_folder(path)
            else:
                self.doc.open_model(path)
        except GRCError as e:
            self.error(str(e), "Cannot open")
            return False
        self._offer_recovery()
        opened = self.doc.model_path or self.doc.folder
        self.statusBar().showMessage(f"Opened {opened}" + ("" if self.doc.model else " (no model yet: train it)"))
        if self.doc.model is None:
            self.tabs.setCurrentIndex(TABS.index("sketch"))
        return True

    def _offer_recovery(self):
        data = self.doc.pending_recovery()
        if data is None or self.headless:  # a screenshot leaves the recovery file for the next real start
            return
        answer = QMessageBox.question(
            self, "Restore unsaved edits?",
            f"GRC Studio closed with unsaved template edits ({data.get('saved_at', '')}) of\n{data.get('source')}.\n"
            "Restore them?", QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        if answer == QMessageBox.Yes:
            self.doc.restore(data)
        else:
            self.doc.clear_recovery()

    def _ask_open_model(self):
        if self._confirm_discard():
            path, _ = QFileDialog.getOpenFileName(self, "Open model", str(REPO / "meshes"), "GRC models (*.grc)")
            if path:
                self.open(path)

    def _ask_open_folder(self):
        if self._confirm_discard():
            path = QFileDialog.getExistingDirectory(self, "Open template folder", str(REPO / "templates"))
            if path:
                self.open(path)

    # -- following the models ------------------------------------------------------------------
    def _model_changed(self):
        self.state.set_model(self.doc.model)
        self.train_panel.result.setText(
            f"Model: {self.doc.model_path or 'not saved'}" if self.doc.model else "No model yet: press Train.")
        self._title()

    def _templates_changed(self):
        self._shape_changed()

    def _title(self, *args):
        what = self.doc.model_path or self.doc.folder or "untitled"
        self.setWindowTitle(f"GRC Studio — {Path(str(what)).name}{' *' if self.doc.dirty else ''}")

    def shown_grid(self):
        """What the 3D view shows: the edited template in Sketch, else the model's shape."""
        if self.mode == "sketch" or self.doc.model is None:
            return self.sketch.grid()
        return self.state.grid()

    def _shape_changed(self):
        sketching = self.mode == "sketch" or self.doc.model is None
        self.view.request(self._draw_sketch if sketching else self._draw_shape)

    def _draw_shape(self):
        if self.view.show_grid != self.state.show_grid:  # back from Sketch, which always shows the grid
            self.view.show_grid, self.view.builder = self.state.show_grid, None
        return self.state.grid()

    def _draw_sketch(self):
        grid = self.sketch.grid()
        if grid is not None:
            selected = None if self.sketch.selected is None else grid[self.sketch.selected]
            if not self.view.show_grid:
                self.view.show_grid, self.view.builder = True, None
            self.view.update_grid(grid, selected)
            self.view.render()
        return None

    def _view_options(self):
        s = self.state
        petals_changed = self.view.options["petals"] != s.petals
        self.view.set_options(subdivide=s.subdivide, petals=s.petals, thickness=s.thickness, show_grid=s.show_grid)
        if petals_changed:
            self.reset_camera()
        self._shape_changed()

    def reset_camera(self):
        """Frame everything the templates reach over time (so playing time keeps the shape in view)."""
        points = np.stack([t.points for t in self.doc.templates]) if self.doc.templates else None
        if points is None:
            self.view.reset_camera()
        else:
            lo, hi = points.reshape(-1, 3).min(axis=0), points.reshape(-1, 3).max(axis=0)
            if self.state.petals > 1 and self.mode != "sketch":
                r = float(np.hypot(points[..., 0], points[..., 1]).max())
                lo[:2], hi[:2] = -r, r
            self.view.reset_camera([lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]])
        self._camera_set = True

    def draw_now(self):
        """Draw pending changes immediately (screenshots, tests)."""
        self.view.flush()
        if not self._camera_set and self.view.surface is not None:
            self.reset_camera()
        self.view.render(now=True)

    # -- saving templates -------------------------------------------------------------------------
    def save_templates(self) -> bool:
        if self.doc.folder is None:
            return self._ask_save_as()
        try:
            self.doc.save()
        except (GRCError, OSError) as e:
            self.error(str(e), "Templates not saved")
            return False
        self.statusBar().showMessage(f"Saved {len(self.doc.templates)} templates to {self.doc.folder}", 5000)
        return True

    def _ask_save_as(self) -> bool:
        folder = QFileDialog.getExistingDirectory(self, "Save templates to folder", str(REPO / "templates"))
        if not folder:
            return False
        self.doc.folder = Path(folder)
        return self.save_templates()

    def _confirm_discard(self) -> bool:
        """True when there are no unsaved edits, or the user saved or discarded them."""
        if not self.doc.dirty:
            return True
        answer = QMessageBox.question(self, "Unsaved template edits", "Save your template edits first?",
                                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Save:
            return self.save_templates()
        if answer == QMessageBox.Discard:
            self.doc.clear_recovery()
            self.doc.undo.setClean()
            return True
        return False

    def closeEvent(self, event):
        if not self._confirm_discard():
            event.ignore()
            return
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
        self.view.close_plotter()
        event.accept()

    # -- training ----------------------------------------------------------------------------------
    def model_target(self) -> Path:
        """Where a trained model is saved: over the open model, else beside the template folder."""
        if self.doc.model_path is not None:
            return self.doc.model_path
        folder = self.doc.folder or Path.cwd() / "templates"
        return folder.with_suffix(".grc")

    def start_training(self):
        if self.worker is not None:
            return
        if self.doc.error:
            self.error(f"The template set cannot be trained: {self.doc.error}", "Cannot train")
            return
        try:
            templates = self.doc.template_set()
            config = self.train_config or quality_config(self.train_panel.quality.currentText())
        except GRCError as e:
            self.error(str(e), "Cannot train")
            return
        self.worker = TrainWorker(templates, config, self.train_panel.device.currentText(), self)
        self.worker.progress.connect(self.train_panel.show_progress)
        self.worker.done.connect(self._trained)
        self.worker.failed.connect(self._training_failed)
        self.worker.cancelled.connect(self._training_cancelled)
        self.worker.finished.connect(self._worker_finished)
        self.train_panel.set_running(True)
        self.train_panel.result.setText("Training… the app stays usable; the current model stays until it is done.")
        self.statusBar().showMessage("Training…")
        self.worker.start()

    def cancel_training(self):
        if self.worker is not None:
            self.worker.cancel()

    def _trained(self, model):
        target = self.model_target()
        try:
            self.doc.set_model(model, target)
        except (GRCError, OSError) as e:
            self.doc.set_model(model)
            self.error(f"Trained, but not saved: {e}", "Model not saved")
        self.train_panel.bar.setValue(1000)
        self.train_panel.result.setText(f"Done in {model.info.get('seconds', 0):.1f} s; saved to {self.doc.model_path}")
        self.statusBar().showMessage(f"Trained model saved to {self.doc.model_path}", 10000)
        if self.mode == "train" or self.mode == "sketch":
            self.tabs.setCurrentIndex(TABS.index("explore"))

    def _training_failed(self, message):
        self.train_panel.result.setText("Training failed; the previous model is unchanged.")
        self.error(message, "Training failed")

    def _training_cancelled(self):
        self.train_panel.result.setText("Cancelled; the previous model is unchanged.")
        self.train_panel.bar.setValue(0)
        self.statusBar().showMessage("Training cancelled", 5000)

    def _worker_finished(self):
        self.worker.deleteLater()
        self.worker = None
        self.train_panel.set_running(False)

    # -- export ----------------------------------------------------------------------------------------
    def _ask_path(self, title, suffix, action):
        if self.doc.model is None and action is not self.save_screenshot:
            self.error("No model to export yet: train one first.", title)
            return
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path.cwd() / f"shape{suffix}"), f"*{suffix}")
        if path:
            if not Path(path).suffix:
                path += suffix
            action(path)

    def _export(self, write, path):
        try:
            out = write(path)
        except (GRCError, OSError) as e:
            self.error(str(e), "Export failed")
            return None
        self.export_panel.last.setText(f"Wrote {out}")
        self.statusBar().showMessage(f"Wrote {out}", 5000)
        return out

    def mesh_options(self) -> dict:
        s = self.state
        return dict(subdivide=s.subdivide, petals=s.petals, thickness=s.thickness)

    def export_shape(self, path):
        """The shape on screen (time, blend or drawn path) through the CLI's writer."""
        from grc.shapes import export

        def write(p):
            args = self.state.shape_args()
            return export(self.doc.model, p, args.pop("time"), args.pop("blend"), **args, **self.mesh_options())
        return self._export(write, path)

    def export_sweep(self, path, sweep=None, frames=None):
        from grc.shapes import export_animation

        sweep = sweep or self.export_panel.sweep.currentText()
        frames = frames or self.export_panel.frames.value()
        s = self.state
        blend = s.blend if sweep == "time" else 0.0
        return self._export(lambda p: export_animation(self.doc.model, p, sweep=sweep, frames=frames, time=s.time,
                                                       blend=blend, **self.mesh_options()), path)

    def export_traces(self, path):
        from grc.plots import plot_traces

        return self._export(lambda p: plot_traces(self.doc.model, p, time=self.state.time), path)

    def save_screenshot(self, path, whole_window=True):
        """A PNG of the window (or of the 3D view alone)."""
        return self._export(lambda p: self._write_screenshot(p, whole_window), path)

    def _write_screenshot(self, path, whole_window=True):
        from grc.io import atomic_path

        self.draw_now()
        self.view.render_smooth()
        rgb = np.ascontiguousarray(self.view.plotter.screenshot(None, return_img=True)[..., :3])
        h, w = rgb.shape[:2]
        view = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
        if whole_window:
            image = self.grab().toImage()
            painter = QPainter(image)
            corner = self.view.mapTo(self, QPoint(0, 0))
            scale = image.width() / max(self.width(), 1)
            painter.drawImage(corner * scale, view.scaled(int(self.view.width() * scale), int(self.view.height() * scale)))
            painter.end()
        else:
            image = view
        path = Path(path)
        with atomic_path(path) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise GRCError("could not write the image", path=path)
        return path


# -- entry point -------------------------------------------------------------------------------------------


def _app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        os.environ.setdefault("QT_AUTO_SCREEN_SCALE_FACTOR", "0")
        app = QApplication(sys.argv[:1])
        app.setApplicationName("GRC Studio")
    return app


def main(path: str | None = None, *, screenshot: str | None = None, time: float | None = None,
         blend: str | None = None, benchmark: bool = False, size: tuple[int, int] | None = None) -> int:
    """Run GRC Studio; with `screenshot` render one frame to a PNG and exit, with `benchmark` print timings."""
    app = _app()
    window = MainWindow()
    headless = window.headless = bool(screenshot or benchmark)
    window.resize(*(size or (1280, 800)))
    window.show()
    app.processEvents()
    opened = window.open(path)
    if not opened and headless:
        return 2
    try:
        if time is not None:
            window.state.set_time(time)
        if blend is not None:
            window.state.set_blend([float(v) for v in blend.split(",")] if "," in blend else float(blend))
    except (GRCError, ValueError) as e:
        message = f"blend: {e}" if isinstance(e, ValueError) else str(e)
        window.error(message)
        if headless:
            return 2
    app.processEvents()
    window.draw_now()
    if screenshot:
        out = window.save_screenshot(screenshot)
        window.doc.undo.setClean()
        window.close()
        return 0 if out else 2
    if benchmark:
        from .benchmark import run

        run(window)
        window.close()
        return 0
    if opened and window.doc.model is None and not window.doc.error:
        window.tabs.setCurrentIndex(TABS.index("train"))
        window.start_training()  # a template folder without a model: train it, visibly
    return app.exec_()
