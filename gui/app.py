"""GRC Studio's main window and entry point (`grc studio`, `python -m gui`).

Layout: the 3D view on the left; on the right tabs for Explore (time, blend, context pad),
Sketch (edit templates), Train and Export. The Sketch tab shows the edited template in the
3D view; the other tabs show the model's shape.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np
from PyQt5 import sip
from PyQt5.QtCore import QPoint, QSize, Qt, QTimer
from PyQt5.QtGui import QImage, QKeySequence, QPainter
from PyQt5.QtWidgets import (QAction, QApplication, QFileDialog, QFrame, QLabel, QMainWindow, QMessageBox,
                             QScrollArea, QSplitter, QTabWidget)

from grc import GRCError, examples
from grc.limits import MAX_BLEND, number

from .controllers import ExportController, TrainingController
from .divergence import DivergencePanel
from .explore_panel import ExplorePanel
from .gallery import GalleryPanel
from .lineage import LineagePanel
from .export_panel import FORMATS, ExportPanel
from .sketch import SKETCH_KEYS, SketchPanel, SketchState
from .state import UNTITLED, Document, ExploreState
from .train_panel import TrainPanel, quality_config
from .undo import History
from .view3d import KEYS_3D, ShapeView

SIDE_WIDTH = 550  # px: the side panel's width when the window opens (MainWindow.showEvent) ...
SIDE_SHARE = 0.43  # ... at most this share of the window's width (unless its tabs need more)
TABS = ("explore", "sketch", "train", "export", "gallery", "diverge", "lineage")
SHORTCUTS = [  # (keys, what they do): Help > Keyboard shortcuts, after the menu actions' own (MainWindow.shortcuts)
    ("Shift+drag (context pad)", "Paint a free context path"),
    ("Arrow keys (weight triangle, three templates)", "Nudge the blend by 0.05 across the triangle"),
    ("(pointer over a view)", "Keys go to the 3D or 2D view under the pointer, as in Blender"),
] + KEYS_3D + SKETCH_KEYS


def key_sequences(keys) -> list[QKeySequence]:
    """An action's shortcuts: a key, or (a standard key, the key it is meant to be). A standard key can be empty
    (QKeySequence.SaveAs and Quit on plain X11 and on Windows), so the explicit one is always bound too; each once."""
    found = []
    for key in keys if isinstance(keys, tuple) else (keys,):
        sequence = QKeySequence(key)  # (a standard key: its platform's first binding, as setShortcut takes it)
        if not sequence.isEmpty() and sequence not in found:
            found.append(sequence)
    return found


def user_folder() -> Path:
    """Where copies of the bundled examples are proposed: ~/GRC Studio."""
    return Path.home() / "GRC Studio"


def make_user_folder():
    """~/GRC Studio, made when a save dialog proposes it (so the dialog opens there)."""
    try:
        user_folder().mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # the dialog then opens elsewhere; the user picks a folder


class SidePanel(QScrollArea):
    """A side panel's scroll area: scrolls up and down on a short screen; never sideways, as it asks the splitter
    for its panel's minimum width (buttons wrap into rows so that a 1024 x 700 window fits every tab)."""

    def minimumSizeHint(self):
        hint = super().minimumSizeHint()
        panel = self.widget()
        if panel is None:
            return hint
        width = panel.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()
        return QSize(max(hint.width(), width), hint.height())


def scrolled(panel):
    """A side panel in a scroll area: on a short screen its widgets stay reachable."""
    area = SidePanel()
    area.setFocusPolicy(Qt.NoFocus)  # (no Tab stop of its own that shows nothing: its widgets take the focus)
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
    return area


class MainWindow(QMainWindow):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("GRC Studio")
        self.doc, self.state = Document(), ExploreState()
        self._training_for = None  # the document (Document.generation) the running training is for
        self._progress_for = 0  # the document (Document.generation) the Train tab's progress belongs to
        self._sketch_time = None  # Explore's time when Sketch was last shown
        self.sketch = SketchState(self.doc)
        self.view = ShapeView()
        self.explore_panel = ExplorePanel(self.state)
        self.sketch_panel = SketchPanel(self.sketch)
        self.train_panel = TrainPanel()
        self.export_panel = ExportPanel()
        self.gallery = GalleryPanel(self.state, self.doc)
        self.divergence = DivergencePanel(self.state, self.doc)
        self.lineage = LineagePanel(self.state, self.doc)
        self.tabs = QTabWidget()
        for panel, name in zip((self.explore_panel, self.sketch_panel, self.train_panel, self.export_panel,
                                self.gallery, self.divergence, self.lineage),
                               ("Explore", "Sketch", "Train", "Export", "Gallery", "Diverge", "Lineage")):
            self.tabs.addTab(scrolled(panel), name)
        self.tabs.setMinimumWidth(self.tabs.tabBar().sizeHint().width() + 4)  # every tab's name shown, none scrolled
        self.view.setMinimumSize(240, 200)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.view)
        split.addWidget(self.tabs)
        # as Blender's editors, the side panel keeps its width and the 3D view takes what the window gains or loses
        # (the side panel took two fifths of it); it opens SIDE_WIDTH wide (showEvent)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 0)
        self.setCentralWidget(split)
        self.splitter = split
        self._side_sized = False
        self.training = TrainingController(self)
        self.exports = ExportController()
        self.crash_handler = None  # gui.crash.CrashHandler, set by main() (or a test)
        self.train_config = None  # None: the settings chosen in the Train tab (tests set a tiny config)
        self.last_folder: Path | None = None  # the folder of the file a dialog last gave (dialog_folder)
        self.messages: list[str] = []  # every error shown, newest last
        self.headless = False  # errors go to stderr instead of dialogs
        self._camera_set = False
        self._stale_said = ""  # the out-of-date model line last put in the status bar
        self._menus()
        self.autosave_warning = QLabel("")
        self.autosave_warning.setStyleSheet("color: #b00000")
        self.autosave_warning.hide()
        self.statusBar().addPermanentWidget(self.autosave_warning)
        self.statusBar().showMessage("Open a model (.grc) or a template folder")

        # subscriptions: models -> views
        self.doc.model_changed.connect(self._model_changed)
        self.doc.templates_changed.connect(self._templates_changed)
        self.doc.dirty_changed.connect(self._title)
        self.doc.autosave_failed.connect(self._autosave_failed)
        self.state.changed.connect(self._shape_changed)
        self.state.view_changed.connect(self._view_options)
        self.sketch.changed.connect(self._shape_changed)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.sketch_panel.new.clicked.connect(self.new_template)
        self.sketch_panel.save.clicked.connect(self.ending_gesture(self.save_templates))
        self.train_panel.start.clicked.connect(self.ending_gesture(self.start_training))
        self.train_panel.cancel.clicked.connect(self.cancel_training)
        self.training.progress.connect(self.train_panel.show_progress)
        self.training.cells.connect(self.train_panel.show_cells)
        self.training.finished.connect(self._trained)
        self.training.failed.connect(self._training_failed)
        self.training.cancelled.connect(self._training_cancelled)
        self.training.running_changed.connect(self.train_panel.set_running)
        e = self.export_panel
        e.shape.clicked.connect(self.ending_gesture(
            lambda: self._ask_path("Export shape", FORMATS[e.format.currentText()], self.export_shape)))
        e.animation.clicked.connect(self.ending_gesture(
            lambda: self._same_sweep_ends() or self._ask_path("Export sweep", ".glb", self.export_sweep)))
        e.traces.clicked.connect(self.ending_gesture(lambda: self._ask_path("Traces plot", ".png", self.export_traces)))
        e.screenshot.clicked.connect(self.ending_gesture(lambda: self._ask_path("Screenshot", ".png", self.save_screenshot)))
        self.view.enable_point_dragging(self.sketch, lambda: self.mode == "sketch")
        self.view.on_reset_key = self.view.frame_shape  # R: the shape shown now (opening frames all of time)
        self.view.on_frame_key = self.frame_selection
        self.explore_panel.keep.clicked.connect(self.keep_as_template)
        self.explore_panel.out_of_range.connect(lambda m: self.statusBar().showMessage(m, 8000))
        from .beyond import install as install_beyond

        self.beyond = install_beyond(self)  # chip, red faces, pad shading, Bend and Rewrite panels (Explore)
        self.divergence.bent = self.beyond.bent
        self.beyond.look_changed.connect(self.divergence.say_checkpoint)
        self.history.add(self.beyond.undo)  # Ctrl+Z undoes a rewrite or a model blend as it does a template edit
        self.beyond.undo.cleanChanged.connect(self._title)  # (the model is unsaved while that stack is not clean)
        self.history.add(self.bend_panel.undo)  # and a change of the bends (Clear, Load look, a strength moved)
        self.bend_panel.undo.indexChanged.connect(self._title)  # (bends no look file holds are unsaved too)
        self.bend_panel.undo.cleanChanged.connect(self._title)
        self.doc.gestures.append(self.rewrite_panel.drag)  # a rewrite drag ends with its document, like a sketch one
        self.history.gestures.append(self.doc)  # Ctrl+Z in the middle of a gesture cancels it ...
        self.doc.gesture_changed.connect(self.history.refresh)  # ... even with nothing to undo yet
        self.doc.gesture_changed.connect(self._gesture_changed)
        self.gallery.status.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.gallery.open_in_explore.connect(lambda: self.tabs.setCurrentIndex(TABS.index("explore")))
        self.divergence.status.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.lineage.open_file.connect(lambda path: self._confirm_discard() and self.open(path))

    def showEvent(self, event):
        """First shown: the side panel SIDE_WIDTH wide (its width in the 1280 px window the app opens in), never under
        what its widest tab needs nor over SIDE_SHARE of the window (a small window's 3D view keeps the rest)."""
        super().showEvent(event)
        if not self._side_sized:
            self._side_sized = True
            total = sum(self.splitter.sizes()) or self.width()
            side = max(self.tabs.minimumSizeHint().width(), min(SIDE_WIDTH, round(SIDE_SHARE * total)))
            self.splitter.setSizes([total - side, side])

    def _gesture_changed(self):
        """Play stops when a gesture begins: time must not move under a drag (a rewrite is solved at the time it
        was grabbed at), nor redraw the 3D view for nothing while sketching."""
        if self.doc.dragging:
            self.explore_panel.play.setChecked(False)
        elif self.mode == "sketch":  # a gesture ended: the camera follows a template it moved out of the view
            QTimer.singleShot(0, self._refit_if_left)

    def _refit_if_left(self):
        """After a Sketch gesture (G 50, typed): the 3D view fits the template again if it has left the view, keeping
        its direction, as Explore's view follows its shape. Not during a gesture (a dragged point stays under the
        pointer), nor inwards (a template made smaller stays as the user framed it)."""
        if sip.isdeleted(self.view) or self.doc.dragging or self.mode != "sketch":
            return
        self.view.flush()  # (the gesture's last draw, if it is still to come)
        if self.view.outside_view():
            self.view.fit_if_outside()

    def ending_gesture(self, slot):
        """`slot` for a menu action or a button: a gesture under way (Sketch's drag / G / R / S, a rewrite drag)
        is cancelled first, its points put back (a gesture never outlives what else you do; Document.interrupt).
        Undo and Redo are History's (they cancel a gesture and do only that)."""
        def run(*args):
            self.doc.interrupt()
            return slot()

        return run

    @property
    def model_unsaved(self) -> bool:
        """Whether the model shown differs from its file: a rewrite or model blend not undone (the model changes'
        undo stack is not at its clean index), or a trained model kept only in memory (File > Save model as…)."""
        return not self.beyond.undo.isClean()

    @model_unsaved.setter
    def model_unsaved(self, unsaved: bool):
        if unsaved:
            self.beyond.undo.resetClean()  # no undo or redo makes it saved: only Save model as… does
        else:
            self.beyond.undo.setClean()  # saved (or let go): undoing from here makes it differ again

    @property
    def worker(self):
        """The running training's worker thread, or None."""
        return self.training.worker

    def _menus(self):
        file = self.menuBar().addMenu("&File")
        # where a new user looks for it first; the same action as in Templates (one shortcut)
        self.new_set_action = QAction("New template set…", self)
        self.new_set_action.setShortcut(QKeySequence("Ctrl+Shift+N"))
        self.new_set_action.triggered.connect(self.ending_gesture(self._ask_new_set))
        file.addAction(self.new_set_action)
        file.addSeparator()
        self.shortcut_actions = [self.new_set_action]  # what Help > Keyboard shortcuts lists, with their keys
        for text, key, slot in (("Open model…", (QKeySequence.Open, "Ctrl+O"), self._ask_open_model),
                                ("Open template folder…", "Ctrl+Shift+O", self._ask_open_folder),
                                ("Save templates", (QKeySequence.Save, "Ctrl+S"), self.save_templates),
                                ("Save templates as…", (QKeySequence.SaveAs, "Ctrl+Shift+S"), self._ask_save_as),
                                ("Save model", "Ctrl+Alt+S", self.save_model),
                                ("Save model as…", None, self._ask_save_model_as),
                                ("Export…", "Ctrl+E", self.show_export),
                                ("Quit", (QKeySequence.Quit, "Ctrl+Q"), self.close)):
            action = QAction(text, self)
            if key is not None:
                action.setShortcuts(key_sequences(key))
                self.shortcut_actions.append(action)
            action.triggered.connect(self.ending_gesture(slot))
            if text == "Export…":
                action.setStatusTip("Show the Export tab (the shape, a sweep, the traces plot, a screenshot)")
                self.export_action = action
            if text == "Quit":
                file.addSeparator()
            file.addAction(action)
        edit = self.menuBar().addMenu("&Edit")
        self.history = History([self.doc.undo], self)  # + Beyond's model changes, once it is installed
        # what Undo / Redo did, said (the history is shared: Ctrl+Z in Sketch may undo Explore's last bend)
        self.history.done.connect(lambda text: self.statusBar().showMessage(text, 4000))
        edit.addAction(self.history.undo_action)
        edit.addAction(self.history.redo_action)
        self.shortcut_actions += [self.history.undo_action, self.history.redo_action]
        templates = self.menuBar().addMenu("&Templates")
        templates.addAction(self.new_set_action)
        for text, key, slot in (("Keep as template (Explore's shape)", "Ctrl+K", self.keep_as_template),):
            action = QAction(text, self)
            action.setShortcut(QKeySequence(key))
            action.triggered.connect(self.ending_gesture(slot))
            templates.addAction(action)
            self.shortcut_actions.append(action)
        help_menu = self.menuBar().addMenu("&Help")
        start = QAction("Getting started", self)
        start.triggered.connect(self.show_getting_started)
        help_menu.addAction(start)
        keys = QAction("Keyboard shortcuts", self)
        keys.triggered.connect(self.show_shortcuts)
        help_menu.addAction(keys)
        help_menu.addSeparator()
        about = QAction("About GRC Studio", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)
        self.help_boxes = {}  # Getting started and About, once shown (non-modal: kept open beside the window)

    def show_export(self):
        """File > Export…: the Export tab, from its top."""
        self.tabs.setCurrentIndex(TABS.index("export"))
        self.scroll_to_top("export")

    def key_of(self, text: str) -> str:
        """The key a menu action is bound to here, as Help > Keyboard shortcuts shows it ("" when none)."""
        for action in self.shortcut_actions:
            if action.text() == text and action.shortcuts():
                return action.shortcuts()[0].toString(QKeySequence.NativeText)
        return ""

    def getting_started_text(self) -> str:
        key = lambda text: f" (<b>{self.key_of(text)}</b>)" if self.key_of(text) else ""  # noqa: E731
        keep = "Keep as template (Explore's shape)"
        return (
            "<h3>Getting started</h3><ol>"
            f"<li><b>Open or sketch.</b> File &gt; Open model…{key('Open model…')} opens a trained model (.grc); "
            f"File &gt; Open template folder…{key('Open template folder…')} a set of templates; File &gt; New "
            f"template set…{key('New template set…')} starts one from a flat sheet, the petal or your own grids. "
            "Shape the templates in the <b>Sketch</b> tab (drag points; G / R / S move, rotate, scale the "
            f"selection; O proportional editing) and save them{key('Save templates')}.</li>"
            "<li><b>Train.</b> In the <b>Train</b> tab press Train: the model learns the templates in the background "
            "(about 6 s for the petal); the app switches to Explore when it is done.</li>"
            "<li><b>Explore.</b> In the <b>Explore</b> tab move Time and Blend (past 0 and 1 goes beyond the "
            "templates), drag the context path, Play. In the 3D view: left drag turns, middle pans, the wheel "
            f"zooms, R frames the shape. Keep as template{key(keep)} adds the "
            "shape to the set.</li>"
            f"<li><b>Export.</b> File &gt; Export…{key('Export…')} (the <b>Export</b> tab): the shape as OBJ, PLY, "
            "STL or GLB, a sweep over time or blend (GLB shape keys), the traces plot, a screenshot.</li></ol>"
            "<p>Help &gt; Keyboard shortcuts lists every key.</p>")

    def _show_help(self, name: str, title: str, text: str, icon=QMessageBox.NoIcon):
        """A help box that stays open beside the window (not modal), shown again if already open."""
        box = self.help_boxes.get(name)
        if box is None:
            box = QMessageBox(icon, title, text, QMessageBox.Close, self)
            box.setObjectName(name)
            box.setTextFormat(Qt.RichText)
            box.setWindowModality(Qt.NonModal)
            self.help_boxes[name] = box
        box.setText(text)
        box.show()
        box.raise_()
        return box

    def show_getting_started(self):
        return self._show_help("getting-started", "Getting started", self.getting_started_text())

    def show_about(self):
        return self._show_help("about", "About GRC Studio",
                               f"<h3>GRC Studio {grc_version()}</h3><p>Draw a few template shapes, train a Generative "
                               "Relational Context model on them, and explore the continuous space of new forms "
                               "between and beyond them.</p><p>Python " + sys.version.split()[0] + "</p>")

    def shortcuts(self) -> list[tuple[str, str]]:
        """(keys, what they do) as Help > Keyboard shortcuts lists them: the menu actions' keys as they are bound
        here (a standard key can be empty on a platform), then the keys of the views."""
        bound = [(", ".join(k.toString(QKeySequence.NativeText) for k in action.shortcuts()),
                  action.statusTip() or action.text())
                 for action in self.shortcut_actions if action.shortcuts()]
        return bound + SHORTCUTS

    def shortcuts_text(self) -> str:
        rows = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{what}</td></tr>" for k, what in self.shortcuts())
        return f"<table>{rows}</table><p>The mouse in the 3D view: left turns, middle pans, wheel zooms.</p>"

    def show_shortcuts(self):
        box = QMessageBox(QMessageBox.NoIcon, "Keyboard shortcuts", self.shortcuts_text(), QMessageBox.Close, self)
        box.setObjectName("shortcuts")
        box.setTextFormat(Qt.RichText)
        box.exec_()

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

    def _tab_changed(self, index):
        """Sketch opens at the template time step nearest Explore's time when that time moved since Sketch was
        last shown (otherwise at the step left there). A gesture under way ends with its tab (cancelled)."""
        self.doc.interrupt()
        if TABS[index] == "sketch":
            self.explore_panel.play.setChecked(False)  # Sketch shows a template: Play would only redraw it
        if TABS[index] == "sketch" and self.doc.templates and self.state.model is not None:
            time = float(self.state.time)
            if time != self._sketch_time:
                self._sketch_time = time
                steps = np.asarray(self.doc.templates[self.sketch.k].time, float)
                step = int(np.argmin(np.abs(steps - time)))
                if step != self.sketch.step:
                    self.sketch.set(step=step)
        self._shape_changed(follow=True)  # another tab's shape: the camera re-fits if it left the view (the
        # template Sketch showed could sit cut off at the view's edge, Explore's shape past it) ...
        QTimer.singleShot(0, self._refit_view)  # ... also once the tab's panel has resized the view

    def _refit_view(self):
        if not sip.isdeleted(self.view):  # (the window may have closed meanwhile)
            self.view.fit_if_outside()

    def open(self, path=None) -> bool:
        """Open a .grc model or a template folder (no path: the bundled petal); False after a dialog.

        Whatever the file holds, a failure leaves the open document as it was.
        """
        try:
            if path is None:
                if examples.model_path().exists():
                    self.doc.open_model(examples.model_path(), examples.template_set_path())
                else:
                    self.doc.open_folder(examples.template_set_path())
            elif Path(path).is_dir():
                self.doc.open_folder(path)
            else:
                self.doc.open_model(path, template_folder_beside(path))
        except GRCError as e:
            self.error(str(e), "Cannot open")
            return False
        except (OSError, ValueError, ArithmeticError, KeyError, TypeError, IndexError, MemoryError) as e:
            self.error(f"{path}: cannot open ({type(e).__name__}: {e})", "Cannot open")
            return False
        self.model_unsaved = False
        self.reset_camera()
        self._offer_recovery()
        opened = self.doc.model_path or self.doc.folder
        templates = f", templates from {self.doc.folder}" if self.doc.model and self.doc.folder else ""
        untrained = "" if self.doc.model else " (no model yet: train it)"
        self.statusBar().showMessage(f"Opened {opened}{templates}{untrained}")
        if self.doc.model is None:
            self.tabs.setCurrentIndex(TABS.index("sketch"))
        else:
            self.scroll_to_top("explore")  # a new model: its time and blend in sight, not the last one's scroll
        return True

    def scroll_to_top(self, tab: str):
        """A side panel scrolled back to its top."""
        self.tabs.widget(TABS.index(tab)).verticalScrollBar().setValue(0)

    def _offer_recovery(self):
        if self.headless:  # a screenshot leaves the recovery file for the next real start
            return
        data, problem = self.doc.read_recovery()
        if problem:
            self.error(problem, "Autosave set aside")
        if data is None:
            return
        answer = QMessageBox.question(
            self, "Restore unsaved edits?",
            f"GRC Studio closed with unsaved template edits ({data.get('saved_at', '')}) of\n{data.get('source')}.\n"
            "Restore them?", QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        if answer == QMessageBox.Yes:
            self.doc.restore(data)
        else:
            self.doc.clear_recovery()

    def _ask_new_set(self):
        from .sketch_new import NewSetDialog

        if not self._confirm_discard():
            return
        dialog = NewSetDialog(self.doc.templates[self.sketch.k] if self.doc.templates else None, self)
        if dialog.exec_():  # (OK made the set, or said in the dialog what to change and stayed open)
            try:
                self.new_set(dialog.made if dialog.made is not None else dialog.templates())
            except GRCError as e:
                self.error(str(e), "Cannot make the template set")

    def offer_untitled_recovery(self) -> bool:
        """At start: a new template set that was never saved, left by a session that did not close (its
        autosave has no folder or model to be found by). Restore it? True when it was."""
        found = self.doc.untitled_recoveries()
        if not found or self.headless:
            return False
        data, problem = self.doc.read_recovery(found[0])
        if problem:
            self.error(problem, "Autosave set aside")
        if data is None:
            return False
        answer = QMessageBox.question(
            self, "Restore a new template set?",
            f"GRC Studio closed with a new template set that was never saved ({len(data['templates'])} templates, "
            f"autosaved {data.get('saved_at', '')}).\nRestore it?", QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        if answer != QMessageBox.Yes:
            with contextlib.suppress(OSError):
                found[0].unlink()
            return False
        self.new_set(data["templates"], untitled=found[0].stem[len(UNTITLED):])
        return True

    def new_set(self, templates, untitled: str | None = None):
        """Start sketching a new set (Templates > New template set…); train it when it looks right."""
        self.doc.new_set(templates, untitled)
        self.sketch.set(k=0, step=0, selected=None)
        self.model_unsaved = False
        self.tabs.setCurrentIndex(TABS.index("sketch"))
        self.draw_now()
        self.reset_camera()
        names = ", ".join(t.name for t in templates)
        self.statusBar().showMessage(f"New template set: {names}, {len(templates[0].time)} time steps; sketch it, "
                                     f"then Save templates (Ctrl+S) or Train")

    def keep_as_template(self):
        """Explore's shape as a new template of the set (Templates > Keep as template); then edit it in Sketch."""
        if self.sketch.keep_from_explore(self.state, look=self.beyond.active_look()):
            self.tabs.setCurrentIndex(TABS.index("sketch"))
            name = self.doc.templates[-1].name
            self.statusBar().showMessage(f"Kept as template '{name}' (in Sketch): edit it, then train", 8000)

    def _ask_open_model(self):
        if self._confirm_discard():
            path, _ = QFileDialog.getOpenFileName(self, "Open model", str(self.dialog_folder()), "GRC models (*.grc)")
            if self.used_folder(path):
                self.open(path)

    def _ask_open_folder(self):
        if self._confirm_discard():
            path = QFileDialog.getExistingDirectory(self, "Open template folder", str(self.dialog_folder()))
            if self.used_folder(path):
                self.open(path)

    def dialog_folder(self) -> Path:
        """Where a file dialog opens (every one: open, save, export, looks): the folder last used in one this
        session, else the open model's folder (or the template set's), else the working directory. Never a
        bundled example's: ~/GRC Studio (where its copies and new sets are saved) once that exists."""
        if self.last_folder is not None and self.last_folder.is_dir():
            return self.last_folder
        where = self.doc.model_path or self.doc.folder
        if where is not None and not examples.is_bundled(where):
            return Path(where).parent
        cwd = Path.cwd()
        if (where is not None or examples.is_bundled(cwd) or cwd == examples.ROOT) and user_folder().is_dir():
            return user_folder()
        return cwd

    def used_folder(self, path: str) -> str:
        """A file dialog gave `path` ("" when cancelled): the next dialog opens in its folder, unless that is where
        the bundled examples lie (templates/, meshes/ or one inside them: the app never writes there, and a save
        proposed there would put the user's set into the installation). Returns `path`."""
        if path:
            folder = Path(path).parent
            bundled = [(examples.ROOT / name).resolve() for name in ("templates", "meshes")]
            inside = folder.resolve() in bundled or any(b in folder.resolve().parents for b in bundled)
            if not (inside or examples.is_bundled(folder)):
                self.last_folder = folder
        return path

    # -- following the models ------------------------------------------------------------------
    def _model_changed(self):
        self.state.set_model(self.doc.model)
        flip = bool(self.doc.model is not None and self.doc.model.flip_normals)  # drawn facing as it exports
        if self.view.options["flip"] != flip:
            self.view.set_options(flip=flip)
        self.export_panel.set_templates(self.doc.model.templates.names if self.doc.model is not None else [])
        where = self.doc.model_path or "not saved (File > Save model as…)"
        if self.doc.model_read_only:
            where = f"{where} (a bundled example: Train asks where to save the new model)"
        self.train_panel.result.setText(f"Model: {where}" if self.doc.model else "No model yet: press Train.")
        if self.doc.generation != self._progress_for and not self.training.running:  # another set: the bar,
            self.train_panel.reset_progress()  # phase and loss of the last one's training are not its own
        self._progress_for = self.doc.generation
        self._title()
        self._model_freshness()

    def _templates_changed(self):
        self._shape_changed()
        if not self.doc.dragging:  # (a drag's moves are not checked: its end is)
            self._model_freshness()

    def _model_freshness(self):
        """Explore and Train say when the model was trained on other templates than the set's (reordered, added,
        edited), until it is retrained; the status bar says it once when it happens."""
        differs = self.doc.model_differs()
        text = "" if differs is None else (f"⚠ Out of date: {differs}. Its blend sliders and shapes are the old "
                                           "set's; retrain (Train tab) to explore the set as it is now.")
        for label in (self.explore_panel.stale, self.train_panel.stale):
            if label.text() != text:
                label.setText(text)
                label.setVisible(bool(text))
        if text and text != self._stale_said:
            self.statusBar().showMessage(text, 10000)
        elif not text and self._stale_said and self.statusBar().currentMessage() == self._stale_said:
            self.statusBar().clearMessage()  # (an undo made it current again: the warning no longer holds)
        self._stale_said = text

    def _title(self, *args):
        what = self.doc.model_path or self.doc.folder or "untitled"
        example = " (example, read-only)" if examples.is_bundled(what) else (
            " (templates: example, read-only)" if self.doc.example else "")
        bends = getattr(self, "bend_panel", None)  # the template set, the model or the bends differ from their files
        unsaved = self.doc.dirty or self.model_unsaved or (bends is not None and bends.unsaved())
        self.setWindowTitle(f"GRC Studio — {Path(str(what)).name}{example}{' *' if unsaved else ''}")

    def _autosave_failed(self, message):
        """Shown until an autosave works again; editing goes on."""
        self.autosave_warning.setText(message)
        self.autosave_warning.setVisible(bool(message))
        if message:
            self.statusBar().showMessage(message, 15000)

    def shown_grid(self):
        """What the 3D view shows: the edited template in Sketch, else the model's shape."""
        if self.mode == "sketch" or self.doc.model is None:
            return self.sketch.grid()
        return self.beyond.grid()

    def _shape_changed(self, follow=False):
        """Redraw; in Explore the camera follows a shape that leaves the view (a time or blend drag, Play), but
        never under a gesture (a rewrite drag: the point under the pointer must stay there); in Sketch only when
        asked (`follow`: a tab switch), as a point dragged there must stay under the pointer too."""
        sketching = self.mode == "sketch" or self.doc.model is None
        self.view.request(self._draw_sketch if sketching else self._draw_shape,
                          follow=(follow or not sketching) and not self.doc.dragging)

    def _draw_shape(self):
        if self.view.show_grid != self.state.show_grid:  # back from Sketch, which always shows the grid
            self.view.show_grid, self.view.builder = self.state.show_grid, None
        return self.beyond.grid()

    def _draw_sketch(self):
        grid = self.sketch.grid()
        if grid is not None:
            selected = None if self.sketch.selected is None else grid[self.sketch.selected]
            selection = [grid[r, c] for r, c in self.sketch.selection if r < grid.shape[0] and c < grid.shape[1]]
            if not self.view.show_grid:
                self.view.show_grid, self.view.builder = True, None
            self.view.update_grid(grid, selected, selection)
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
        # templates whose grids disagree (a folder being fixed) have points of different shapes
        points = np.concatenate([t.points.reshape(-1, 3) for t in self.doc.templates]) if self.doc.templates else None
        if points is None or not np.isfinite(points).all():
            self.view.reset_camera(home=True)
        else:
            lo, hi = points.min(axis=0), points.max(axis=0)
            if self.state.petals > 1 and self.mode != "sketch":
                r = float(np.hypot(points[:, 0], points[:, 1]).max())
                lo[:2], hi[:2] = -r, r
            self.view.reset_camera([lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]], points, home=True)
        self._camera_set = True

    def frame_selection(self):
        """Numpad . in the 3D view, as in Blender: the camera fits the Sketch selection (every grid point when
        none is selected; in Explore the shape), keeping its direction."""
        grid = self.sketch.grid() if self.mode == "sketch" else None
        points = None
        if grid is not None:
            picked = [grid[r, c] for r, c in self.sketch.selection if r < grid.shape[0] and c < grid.shape[1]]
            points = np.array(picked) if picked else grid.reshape(-1, 3)
        self.view.fit_points(points)

    def draw_now(self):
        """Draw pending changes immediately (screenshots, tests)."""
        self.view.flush()
        self.beyond.run_check()  # the chip and the red faces of this shape
        if not self._camera_set and self.view.surface is not None:
            self.reset_camera()
        self.view.render(now=True)

    # -- saving templates -------------------------------------------------------------------------
    def new_template(self):
        if not self.sketch.new_template(self.doc.model, self.state.blend):
            self.statusBar().showMessage("Nothing to make a template from: open a model or a template folder", 8000)

    def save_templates(self) -> bool:
        """Save to the template folder; a bundled example (or no folder) asks where first."""
        if self.doc.templates_read_only:
            return self._ask_save_as()
        try:
            self.doc.save()
        except (GRCError, OSError) as e:
            self.error(str(e), "Templates not saved")
            return False
        self.statusBar().showMessage(f"Saved {len(self.doc.templates)} templates to {self.doc.folder}", 5000)
        return True

    def set_name(self) -> str:
        """The open set's name: its folder's or model's, else its templates' (sketch-a, sketch-b: sketch)."""
        if self.doc.folder is not None:
            return self.doc.folder.name  # (petal.v2 is the set's name; .stem would say petal)
        if self.doc.model_path is not None:
            return Path(self.doc.model_path).stem
        names = [t.name for t in self.doc.templates]
        return names[0].rsplit("-", 1)[0] if names and names[0].rsplit("-", 1)[0] else "templates"

    def proposed_folder(self) -> Path:
        """A new folder named after the open set (petal, petal-2, ...), where the dialogs open (dialog_folder)."""
        name = self.set_name()
        base = self.dialog_folder() / name
        candidate, i = base, 2
        while candidate.exists() and candidate != self.doc.folder:
            candidate, i = base.with_name(f"{name}-{i}"), i + 1
        return candidate

    def _ask_save_as(self) -> bool:
        """Ask for a new (or empty) folder for the templates and save there."""
        make_user_folder()
        proposed = self.proposed_folder()
        why = "this is a bundled example: save a copy" if self.doc.example else "choose a new or empty folder"
        folder, _ = QFileDialog.getSaveFileName(self, f"Save templates as a folder ({why})", str(proposed), "Folders (*)",
                                                options=QFileDialog.DontConfirmOverwrite)
        if not self.used_folder(folder):
            return False
        folder = Path(folder)
        if examples.is_bundled(folder):
            self.error(f"{folder} is a bundled example; choose another folder.", "Templates not saved")
            return False
        if folder.exists() and (not folder.is_dir() or (folder != self.doc.folder and any(folder.iterdir()))):
            self.error(f"{folder} is not a new or empty folder; choose another one.", "Templates not saved")
            return False
        try:
            self.doc.save(folder)
        except (GRCError, OSError) as e:
            self.error(str(e), "Templates not saved")
            return False
        self._title()
        self.statusBar().showMessage(f"Saved {len(self.doc.templates)} templates to {self.doc.folder}", 5000)
        return True

    def save_model(self) -> bool:
        """File > Save model: the model shown, over its own file; a model not saved yet, a bundled example or a
        Diverge checkpoint asks where (Save model as…)."""
        path = self.doc.model_path
        checkpoint = self.divergence.checkpoints and self.state.model is not self.doc.model
        if self.doc.model is None or path is None or self.doc.model_read_only or examples.is_bundled(path) or checkpoint:
            return self._ask_save_model_as()
        return self.save_model_as(path)

    def _ask_save_model_as(self) -> bool:
        if self.doc.model is None:
            self.error("No model yet: train one first.", "Model not saved")
            return False
        name = (self.doc.model_path or self.doc.folder or Path("model")).stem
        make_user_folder()
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", str(self.dialog_folder() / f"{name}.grc"),
                                              "GRC models (*.grc)")
        return bool(self.used_folder(path)) and self.save_model_as(path)

    def save_model_as(self, path) -> bool:
        if self.divergence.checkpoints and self.state.model is not self.doc.model:
            # a Diverge checkpoint is shown: the model on screen is what is saved, as the Diverge tab's
            # Save does; the document keeps its model and the view stays where it is
            return self.divergence.save_checkpoint(path) is not None
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".grc")
        if examples.is_bundled(path):
            self.error(f"{path} is a bundled example; choose another file.", "Model not saved")
            return False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.doc.model.save(path)
        except (GRCError, OSError) as e:
            self.error(str(e), "Model not saved")
            return False
        self.doc.model_path = path
        self.model_unsaved = False
        self._model_changed()
        if self.lineage.isVisible():  # (its first row names the file the model is in now)
            self.lineage.refresh()
        self.statusBar().showMessage(f"Saved the model to {path}", 5000)
        return True

    def _confirm_running(self) -> bool:
        """True unless work is running in the background (a training, a search, a divergent fine-tuning) and
        the user chose not to stop it (closing cancels it)."""
        running = [what for what, busy in (("a training", self.training.running), ("a search", self.gallery.running),
                                           ("a divergent fine-tuning", self.divergence.running)) if busy]
        if not running or self.headless:
            return True
        answer = QMessageBox.question(self, "Work in progress", f"{running[0].capitalize()} is running; closing stops "
                                      "it and its result is lost. Stop it and close?",
                                      QMessageBox.Yes | QMessageBox.Cancel, QMessageBox.Cancel)
        return answer == QMessageBox.Yes

    def _confirm_discard(self) -> bool:
        """True when there are no unsaved edits (templates, a trained model), or the user saved or discarded them."""
        if not self._confirm_templates():
            return False
        return self._confirm_model("The model shown is not saved. Save it first?") and self._confirm_look()

    def _confirm_look(self) -> bool:
        """True when the bends are in a look file (or there are none, or headless), or the user saved or let them
        go."""
        if not self.bend_panel.unsaved() or self.headless:
            return True
        return self._save_or_discard("Unsaved bends", "The bends are in no look file. Save them as a look first?",
                                     self.bend_panel.ask_save, self._discard_bends)

    def _discard_bends(self):
        """Discard: the bends go (a walkthrough's stayed on the next model opened, after it had said Discard)."""
        from grc.diverge.bend import Look

        self.bend_panel.set_look(Look([]), "Discard bends")
        self.bend_panel.undo.setClean()

    def _save_or_discard(self, title: str, question: str, save, discard) -> bool:
        """Ask Save, Discard or Cancel: True once `save()` saved, or after `discard()`; False on Cancel."""
        answer = QMessageBox.question(self, title, question,
                                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Save:
            return save()
        if answer == QMessageBox.Discard:
            discard()
            return True
        return False

    def _confirm_model(self, question: str) -> bool:
        """True when the model shown is saved (or headless), or the user saved it or let it go."""
        if not self.model_unsaved or self.headless:
            return True
        return self._save_or_discard("Unsaved model", question, self._ask_save_model_as,
                                     lambda: setattr(self, "model_unsaved", False))

    def _confirm_templates(self) -> bool:
        if not self.doc.dirty:
            return True
        new = self.doc.folder is None and self.doc.model_path is None
        return self._save_or_discard("Unsaved template edits",
                                     "Save the new template set first?" if new else "Save your template edits first?",
                                     self.save_templates, lambda: (self.doc.clear_recovery(), self.doc.undo.setClean()))

    def closeEvent(self, event):
        if not self._confirm_running() or not self._confirm_discard():
            event.ignore()
            return
        self.training.wait()
        self.gallery.stop()
        self.divergence.stop()
        self.beyond.stop()
        for worker in (self.gallery.worker, self.divergence.worker):
            if worker is not None:
                worker.wait()
        self.view.close_plotter()
        for box in self.help_boxes.values():  # (non-modal help boxes go with the window)
            box.close()
        event.accept()

    # -- training ----------------------------------------------------------------------------------
    def model_target(self) -> Path | None:
        """Where a trained model is saved: over the open model, else beside the template folder;
        None for a bundled example (start_training asks where)."""
        if self.doc.model_path is not None:
            return None if self.doc.model_read_only else self.doc.model_path
        if self.doc.folder is None or examples.is_bundled(self.doc.folder):
            return None
        folder = self.doc.folder
        return folder.parent / f"{folder.name}.grc"  # (not with_suffix: a folder petal.v2 is not petal.grc's)

    def start_training(self, ask=True) -> bool:
        """Train from the current templates; the result goes to the model file chosen now."""
        if self.training.running:
            return False
        try:
            templates = self.doc.template_set()  # (a gesture under way is cancelled first: it trains what is shown)
            config = self.train_config or quality_config(self.train_panel.quality.currentText())
        except GRCError as e:
            templates, problem = None, str(e)
        if self.doc.error or templates is None:
            self.error(f"The template set cannot be trained: {self.doc.error}" if self.doc.error else problem, "Cannot train")
            return False
        target = self.model_target()  # before the question: saving the model shown first must not make it the target
        if ask and not self._confirm_model("The model shown is not saved (a rewrite, a model blend or a training "
                                           "kept in memory); the training will replace it. Save it first?"):
            return False
        if target is None and ask and not self.headless:  # a bundled example or a new set: ask where it goes
            make_user_folder()
            why = "the example stays as it is" if self.doc.example else "the template set is not saved yet"
            path, _ = QFileDialog.getSaveFileName(self, f"Save the trained model as ({why})",
                                                  str(self.dialog_folder() / f"{self.set_name()}.grc"),
                                                  "GRC models (*.grc)")
            if not self.used_folder(path):
                return False
            target = Path(path) if Path(path).suffix else Path(path).with_suffix(".grc")
            if examples.is_bundled(target):
                self.error(f"{target} is a bundled example; choose another file.", "Cannot train")
                return False
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                self.error(f"{target.parent}: cannot create the folder ({e.strerror})", "Cannot train")
                return False
        self._training_for = self.doc.generation
        self.training.start(templates, config, self.train_panel.device.currentText(), target,
                            source=self.doc.model_path or self.doc.folder, population=self.train_panel.population())
        where = target or "not saved until you choose (File > Save model as…)"
        self.train_panel.result.setText(f"Training… the app stays usable; the result goes to {where}.")
        self.statusBar().showMessage("Training…")
        return True

    def cancel_training(self):
        self.training.cancel()

    def _trained(self, model, saved_to, message):
        """Show the new model if the document it was trained for is still open; else only say where it went."""
        source = self.training.source
        current = self.doc.model_path or self.doc.folder
        took = getattr(model, "info", {}).get("seconds")
        seconds = f"Done in {took:.1f} s. " if took is not None else ""
        same = self.doc.generation == self._training_for or current is not None and (
            (source is not None and Path(current) == Path(source))
            or (saved_to is not None and Path(current) == Path(saved_to)))  # (the same file, opened again)
        self.train_panel.show_done(took, "done", "" if same else " (for a document no longer open)")
        if not same:
            text = f"{seconds}{message} (another document is open now; it is unchanged)"
            self.train_panel.result.setText(text)
            self.statusBar().showMessage(text, 10000)
            if saved_to is None:  # nowhere to go and nothing open to hold it: keep it in the recovery folder
                from .controllers import keep_in_recovery

                try:
                    kept = f"it is kept as {keep_in_recovery(model, Path(source or 'model').stem)}"
                except (GRCError, OSError) as e:
                    kept = f"it could not be kept in the recovery folder either ({e})"
                self.error(f"{message}. The training was started for {source or 'a new template set'}, which is no "
                           f"longer open; {kept}.",
                           "Model not saved")
            return
        self.doc.model_path = None if saved_to is None else Path(saved_to)
        dragging = self.doc.dragging
        self.doc.set_model(model)
        self.model_unsaved = saved_to is None  # (after the new model: it starts the model changes' history afresh)
        if dragging and not self.doc.dragging:  # a rewrite drag, solved for the old model, ended: say so too
            message = f"{message}. Rewrite drag cancelled: the model changed during it"
        if saved_to is None and "not saved to" in message:  # the write failed: a copy in the recovery folder too
            from .controllers import keep_in_recovery

            try:
                kept = f"; a copy is kept as {keep_in_recovery(model, (source or Path('model')).stem)}"
            except (GRCError, OSError):
                kept = ""
            self.error(f"{message}{kept} — use File > Save model as…", "Model not saved")
        self.train_panel.result.setText(seconds + message)
        self.statusBar().showMessage(message, 10000)
        if self.mode == "train":  # never from Sketch: the user may be in the middle of an edit
            self.tabs.setCurrentIndex(TABS.index("explore"))
            self.scroll_to_top("explore")  # (the time and blend first, wherever Explore was left scrolled)

    def _training_failed(self, message):
        self.train_panel.result.setText("Training failed; the previous model is unchanged.")
        self.train_panel.phase.setText("failed")
        self.error(message, "Training failed")

    def _training_cancelled(self):
        self.train_panel.result.setText("Cancelled; the previous model is unchanged.")
        self.train_panel.reset_progress()
        self.train_panel.phase.setText("cancelled")
        self.statusBar().showMessage("Training cancelled", 5000)

    # -- export ----------------------------------------------------------------------------------------
    def _ask_path(self, title, suffix, action):
        """Take the shape on screen now, then ask where to write it."""
        if self.doc.model is None and action is not self.save_screenshot:
            self.error("No model to export yet: train one first.", title)
            return
        shot = None if action is self.save_screenshot else self.exports.capture(self.state, self.mesh_options(), self.beyond.active_look())
        path, _ = QFileDialog.getSaveFileName(self, title, str(self.dialog_folder() / f"shape{suffix}"), f"*{suffix}")
        if self.used_folder(path):
            if not Path(path).suffix:
                path += suffix
            action(path) if shot is None else action(path, shot=shot)

    def _export(self, write, path):
        try:
            out = write(path)
        except (GRCError, OSError, ValueError) as e:
            self.error(str(e), "Export failed")
            return None
        self.export_panel.last.setText(f"Wrote {out}")
        self.statusBar().showMessage(f"Wrote {out}", 5000)
        return out

    def mesh_options(self) -> dict:
        s = self.state
        return dict(subdivide=s.subdivide, petals=s.petals, thickness=s.thickness)

    def _shot(self, shot):
        return shot or self.exports.capture(self.state, self.mesh_options(), self.beyond.active_look())

    def export_shape(self, path, shot=None):
        """The shape on screen (time, blend or drawn path) when asked, through the CLI's writer."""
        shot = self._shot(shot)
        return self._export(lambda p: self.exports.write_shape(shot, p), path)

    def export_sweep(self, path, sweep=None, frames=None, shot=None):
        """A sweep over time at the blend shown, or over blend between the Export tab's From and To (each a template
        or the blend shown) at the time shown."""
        shot = self._shot(shot)
        sweep = sweep or self.export_panel.sweep.currentText()
        frames = frames or self.export_panel.frames.value()
        start, stop = self.export_panel.sweep_range(shot.model.blend_weights(shot.blend))
        if sweep == "blend" and self._same_sweep_ends(start, stop):
            return None
        return self._export(lambda p: self.exports.write_sweep(shot, p, sweep, frames, start, stop), path)

    def _same_sweep_ends(self, start=None, stop=None) -> bool:
        """A blend sweep whose From and To are one blend is refused in a line (before any file dialog)."""
        if start is None:
            if self.export_panel.sweep.currentText() != "blend" or self.state.model is None:
                return False
            start, stop = self.export_panel.sweep_range(self.state.model.blend_weights(self.state.blend))
        if not np.allclose(start, stop):
            return False
        self.export_panel.last.setText("A blend sweep needs two different ends: From and To are the same blend.")
        self.statusBar().showMessage(self.export_panel.last.text(), 8000)
        return True

    def export_traces(self, path, shot=None):
        shot = self._shot(shot)
        return self._export(lambda p: self.exports.write_traces(shot, p), path)

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


def grc_version() -> str:
    """The library's version (grc.__version__)."""
    import grc

    return getattr(grc, "__version__", "?")


def template_folder_beside(model_path) -> Path | None:
    """The template folder a model was trained from or saved beside (`petal.grc` -> `petal/`, where a training
    of that folder saves its model), if it holds readable templates; else None (the model's own are shown)."""
    folder = Path(model_path).with_suffix("")
    try:
        if folder.is_dir():
            Document._read_folder(folder)
            return folder
    except (GRCError, OSError, ValueError):
        pass
    return None


# -- entry point -------------------------------------------------------------------------------------------


def _app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        os.environ.setdefault("QT_AUTO_SCREEN_SCALE_FACTOR", "0")
        app = QApplication(sys.argv[:1])
        app.setApplicationName("GRC Studio")
    return app


def main(path: str | None = None, *, screenshot: str | None = None, time: float | None = None,
         blend: str | None = None, benchmark: bool = False, size: tuple[int, int] | None = None,
         look: str | None = None) -> int:
    """Run GRC Studio; with `screenshot` render one frame to a PNG and exit, with `benchmark` print timings."""
    from .crash import install

    app = _app()
    window = MainWindow()
    window.crash_handler = install(window)
    try:
        return _run(app, window, path, screenshot, time, blend, benchmark, size, look)
    finally:
        window.crash_handler.uninstall()


def _run(app, window, path, screenshot, time, blend, benchmark, size, look=None) -> int:
    headless = window.headless = bool(screenshot or benchmark)
    window.resize(*(size or default_size(app)))
    window.show()
    app.processEvents()
    opened = window.open(path)
    if not opened and headless:
        return 2
    if window.offer_untitled_recovery():
        opened = False  # (not the set to train at start: the restored one is open)
    try:
        if look is not None:
            try:
                window.bend_panel.load_look(look)
            except GRCError as e:
                window.error(str(e), "Cannot load the look")
                if headless:
                    return 2
        apply_options(window, time, blend)
    except GRCError as e:
        window.error(str(e))
        if headless:
            return 2
    app.processEvents()
    window.draw_now()
    if screenshot:
        window.beyond.wait_for_bands()  # the context pad's shading and the safe blend range
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
        window.start_training(ask=False)  # a template folder without a model: train it, visibly
    return app.exec_()


def default_size(app) -> tuple[int, int]:
    """1280 x 800, or less on a smaller screen (a 1366 x 768 laptop: the window fits, title bar and all)."""
    screen = app.primaryScreen()
    if screen is None:
        return 1280, 800
    free = screen.availableGeometry()
    return min(1280, free.width() - 40), min(800, free.height() - 40)


def apply_options(window, time=None, blend=None):
    """--time and --blend: real, finite numbers within what the model and the blend slider reach."""
    state = window.state
    if time is not None:
        low, high = state.time_range()
        state.set_time(number(time, "--time", low=low, high=high))
    if blend is not None:
        from .state import BLEND_RANGE, WEIGHT_RANGE

        parts = str(blend).split(",")
        values = []
        for part in parts:
            try:
                value = float(part)
            except ValueError:
                raise GRCError(f"expected a number, got {part.strip()!r}", field="--blend") from None
            low, high = BLEND_RANGE if len(parts) == 1 else WEIGHT_RANGE
            values.append(number(value, "--blend", low=max(low, -MAX_BLEND), high=min(high, MAX_BLEND)))
        state.set_blend(values if len(values) > 1 else values[0])
