"""Rewrite mode and model blending (Explore): divergence that changes the model itself, undoably.

Rewrite: with "Rewrite by dragging" on, a left drag on a point of the generated shape in the 3D view
moves it; the decoder's last layer gets grc.diverge.rewrite.rewrite's rank-one update so that at this
time and blend the point lands where it is dropped (solved live while dragging, ~5 ms a solve; the
document's model is replaced on release). Blend models: a second model of the same sizes, combined
weight by weight (grc.diverge.blend.blend_models) at a weight chosen on a slider with a live meter.
Both replace the model through Beyond.replace_model: Undo puts the previous one back, and
File > Save model as… saves the new one.
"""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QEvent, QObject, Qt, QTimer
from PyQt5.QtGui import QKeyEvent
from PyQt5.QtWidgets import (QApplication, QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QGroupBox,
                             QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget)

from grc import GRCError, load_model
from grc.diverge.blend import blend_models
from grc.diverge.rewrite import rewrite, templates_moved

from .explore_panel import DoubleSpinBox, RangeSpinBox
from .meters import Meter
from .view3d import typing, under_pointer

RADIUS = 0.1  # the drag's falloff radius (the shape's units) by default


class RewriteDrag:
    """What the 3D view's point dragging drives in Rewrite mode (the interface ShapeView.enable_point_dragging
    expects: grid, set, begin_drag, drag_to, end_drag)."""

    def __init__(self, beyond, panel: "RewritePanel"):
        self.beyond, self.panel = beyond, panel
        self.base = None  # the model the drag started from
        self.at = None  # (time, blend) the drag started at: it is solved there
        self.point = self.target = None
        self.selected = None

    def grid(self):
        """The shape to grab a point of; None (nothing to grab: the mouse turns the camera) without a model
        or while a look is active (a rewrite changes the model's own shapes, not the bent ones)."""
        state = self.beyond.state
        if state.model is None:
            return None
        if self.beyond.active_look() is not None:
            self.beyond.window.statusBar().showMessage(
                "Rewrite changes the model's own shapes: clear the bends (Bend > Clear) to drag a point", 8000)
            return None
        return self.beyond.grid()

    def set(self, selected=None):
        self.point = self.selected = selected

    @property
    def dragging(self) -> bool:
        return self.base is not None

    def _start(self, base):
        """The drag begins from model `base`, or ends (None); the document hears of either (Undo's state)."""
        self.base = base
        self.beyond.doc.gesture_changed.emit()

    def begin_drag(self):
        state = self.beyond.state
        self.at = (state.time, np.array(state.blend, float))
        self._start(state.model)

    def follow_state(self):
        """A drag is solved for the model, time and blend it started on: when one of them changes under it (a
        training ends, another model opens, a model change is undone, a Diverge checkpoint is shown, Play or the
        time slider moves time) the drag is cancelled (a gesture never outlives what else you do)."""
        if self.base is None:
            return
        state = self.beyond.state
        time, blend = self.at
        if state.model is self.base and state.time == time and np.array_equal(np.array(state.blend, float), blend):
            return
        what = "the model" if state.model is not self.base else "the time or blend"
        self.interrupt()
        self.beyond.window.statusBar().showMessage(f"Rewrite drag cancelled: {what} changed during it", 8000)

    def interrupt(self, restore: bool = True) -> bool:
        """Cancel a drag under way (Undo pressed during it): the model stays the one it started from."""
        if self.base is None:
            return False
        self._start(None)
        self.target = None
        self.beyond.preview = None
        self.beyond._shape_changed()
        return True

    def cancel_drag(self):
        """Esc during the drag (as in Sketch): the model stays the one it started from."""
        if self.interrupt():
            self.beyond.window.statusBar().showMessage("Rewrite drag cancelled (Esc): the model is as it was", 5000)

    def solve(self, target):
        """The rewritten model that puts the grabbed point at `target` (from the model the drag started on)."""
        return self.solve_from(self.base, target)

    def drag_to(self, row, point, position):
        if self.base is None:  # the drag was cancelled (Undo during it): the rest of it moves nothing
            return
        self.point, self.target = (row, point), np.asarray(position, float)
        window = self.beyond.window

        def draw():  # coalesced: one solve per frame, at the latest mouse position
            if self.base is None:
                return self.beyond.grid()
            try:
                self.beyond.preview = self.solve(self.target)
            except GRCError as e:
                window.statusBar().showMessage(str(e), 5000)
            self.beyond._shape_changed()
            return self.beyond.grid()

        window.view.request(draw)

    def end_drag(self):
        if self.base is None:
            return
        base, target = self.base, self.target
        self._start(None)
        self.beyond.preview = None
        if target is None:
            return
        try:
            model = self.solve_from(base, target)
        except GRCError as e:
            self.beyond.window.error(str(e), "Rewrite failed")
            return
        self.last = (self.point, target)  # what the finished drag asked for (tests)
        self.target = None
        row, index = self.point
        self.beyond.replace_model(model, f"Rewrite point ({row}, {index})")
        note = templates_moved(model)
        if note:
            self.beyond.window.statusBar().showMessage(f"Rewrite: {note}", 12000)

    def solve_from(self, base, target):
        time, blend = self.at  # (the drag is cancelled if they change: follow_state)
        blend = float(blend) if blend.ndim == 0 else blend
        return rewrite(base, time, blend, self.point, target, self.panel.radius.value())


class RewritePanel(QGroupBox):
    """Rewrite mode, Undo / Redo of model changes, Blend models…, with the live meter."""

    def __init__(self, beyond, parent=None):
        super().__init__("Rewrite (drag a point of the shape: the model follows)", parent)
        self.beyond = beyond
        self.mode = QCheckBox("Rewrite by dragging in the 3D view",
                              toolTip="A left drag on a point of the shape moves it; the decoder's last layer "
                                      "is updated so the whole family follows (Undo puts it back)")
        self.radius = DoubleSpinBox(minimum=0.0, maximum=10.0, singleStep=0.02, decimals=3, value=RADIUS,
                                     prefix="radius ", toolTip="How far the dragged point's neighbours follow it")
        self._grid_shown_for_rewrite = False  # Rewrite turned the control grid on (unticking it turns it off)
        self.mode.toggled.connect(self._mode_toggled)
        self.undo = beyond.undo.createUndoAction(self, "Undo")
        self.redo = beyond.undo.createRedoAction(self, "Redo")
        self.undo_button, self.redo_button = QPushButton("Undo model change"), QPushButton("Redo")
        # (a gesture under way is cancelled instead, as Ctrl+Z does: Document.interrupt)
        self.undo_button.clicked.connect(lambda: beyond.doc.interrupt() or beyond.undo.undo())
        self.redo_button.clicked.connect(lambda: beyond.doc.interrupt() or beyond.undo.redo())
        beyond.undo.canUndoChanged.connect(self.undo_button.setEnabled)
        beyond.undo.canRedoChanged.connect(self.redo_button.setEnabled)
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        self.blend_button = QPushButton("Blend models…", toolTip="Combine this model weight by weight with another "
                                                                 "of the same sizes")
        self.save_button = QPushButton("Save model as…")
        self.meter = Meter(beyond)
        rows = [QHBoxLayout() for _ in range(3)]  # two buttons a row: the side panel fits a 1024 px window
        for row, widgets in zip(rows, ((self.mode, self.radius), (self.undo_button, self.redo_button),
                                       (self.blend_button, self.save_button))):
            for w in widgets:
                row.addWidget(w)
            row.addStretch(1)
        layout = QVBoxLayout(self)
        for row in rows:
            layout.addLayout(row)
        layout.addWidget(self.meter, 0, Qt.AlignLeft)
        self.drag = RewriteDrag(beyond, self)
        beyond.state.changed.connect(self.drag.follow_state)
        window = beyond.window
        self.blending = None  # the Blend models dialog while it is open
        window.view.enable_point_dragging(self.drag, lambda: window.mode == "explore" and self.mode.isChecked()
                                          and self.blending is None)  # (the 3D view only turns while one previews)
        self.blend_button.clicked.connect(self.ask_blend)
        self.save_button.clicked.connect(window.ending_gesture(window._ask_save_model_as))


    def _mode_toggled(self, on: bool):
        """Rewrite on: the control grid shows the points a drag takes (a walkthrough pressed on the surface between
        them and only turned the camera), and the status bar says what to do, or why it cannot be done yet. Rewrite
        off: the grid as it was before (turned off again if Rewrite turned it on and it is still on)."""
        grid = self.beyond.window.explore_panel.grid
        if not on:
            if self._grid_shown_for_rewrite and grid.isChecked():
                grid.setChecked(False)
            self._grid_shown_for_rewrite = False
            status = self.beyond.window.statusBar()
            if status.currentMessage().startswith("Rewrite"):  # (what to do in Rewrite: no longer so)
                status.clearMessage()
            return
        self._grid_shown_for_rewrite = not grid.isChecked()
        grid.setChecked(True)
        self.beyond.window.statusBar().showMessage(
            "Rewrite: drag a point of the control grid (its dots); the model follows, Ctrl+Z puts it back"
            if self.beyond.active_look() is None else
            "Rewrite changes the model's own shapes: clear the bends (Bend > Clear) to drag a point", 10000)

    def ask_blend(self):
        window = self.beyond.window
        path, _ = QFileDialog.getOpenFileName(self, "Blend with model", str(window.dialog_folder()), "GRC models (*.grc)")
        if not window.used_folder(path):
            return
        try:
            dialog = self.blend_with(path)
        except (GRCError, OSError) as e:  # not a GRC model, damaged, another grid: a dialog, not the crash one
            self.beyond.window.error(str(e), "Cannot blend")
            return
        self.blending = dialog
        dialog.setAttribute(Qt.WA_DeleteOnClose)  # (with the other model it holds)
        dialog.finished.connect(lambda: setattr(self, "blending", None))
        dialog.show()  # not modal: the 3D view turns to look at the preview from every side (_ViewOnly)

    def blend_with(self, path) -> "BlendDialog":
        """The dialog for blending with the model in `path`; GRCError if that cannot be blended with the model shown
        (another grid or architecture: said before a dialog opens with nothing it can do)."""
        other = load_model(path)
        try:
            blend_models(self.beyond.state.model, other, 0.5)
        except GRCError as e:
            raise GRCError(e.message, path=path, field=e.field) from None
        return BlendDialog(self.beyond, other, path, self)


# what a user does to a window: while a Blend models dialog is open, only the 3D view of the main window takes it
_INPUT = {QEvent.MouseButtonPress, QEvent.MouseButtonRelease, QEvent.MouseButtonDblClick, QEvent.Wheel,
          QEvent.KeyPress, QEvent.KeyRelease, QEvent.InputMethod, QEvent.ContextMenu, QEvent.DragEnter, QEvent.Drop}
_HELD = _INPUT | {QEvent.ShortcutOverride, QEvent.Close}  # what _ViewOnly looks at


# the keys the 3D view answers (KEYS_3D: R, numpad .), which go to it while the pointer is over it, the dialog active
_VIEW_KEYS = {Qt.Key_R, Qt.Key_Period}


class _ViewOnly(QObject):
    """Installed on the application while a Blend models dialog is open: the main window's 3D view still turns,
    zooms and frames (R) so the preview can be seen from every side, which a modal dialog did not allow; the rest
    of the window takes no input, its shortcuts (Ctrl+Z, Ctrl+S, ...) do nothing and it does not close, as under a
    modal dialog (the dialog is the one place where the model changes); Esc in it cancels the dialog. The wheel
    still scrolls the side panel (only looking: the slider or box under the pointer never turns), and the view's
    keys (R, numpad .) pressed while the dialog has the keys go to the 3D view when the pointer is over it (the
    rule of the main window: keys go to the view under the pointer) unless a weight is being typed. `parent`: the
    dialog."""

    def __init__(self, window, parent):
        super().__init__(parent)
        self.window, self.view = window, window.view
        self._scrolling = False  # a wheel event on its way to the side panel's scroll bar

    def eventFilter(self, obj, event):
        kind = event.type()
        if kind not in _HELD or not isinstance(obj, QWidget):
            return False
        if obj.window() is self.parent():
            return kind == QEvent.KeyPress and self._to_view(event)
        if obj.window() is not self.window or self._scrolling:
            return False
        if kind == QEvent.Wheel and obj is not self.view and not self.view.isAncestorOf(obj):
            self._scroll(obj, event)
            event.accept()  # (taken: it does not go on to the widgets around)
            return True
        if kind == QEvent.ShortcutOverride:  # taken as the widget's own key: no window shortcut fires (the view
            event.accept()                   # still gets its keys, R and the rest, as key presses)
            return True
        if kind == QEvent.Close and obj is self.window:  # (the dialog comes forward: what the window waits for)
            event.ignore()
            self.parent().raise_()
            self.parent().activateWindow()
            return True
        if kind == QEvent.KeyPress and event.key() == Qt.Key_Escape:  # Esc in the window: the dialog's Cancel
            self.parent().reject()
            return True
        return kind in _INPUT and obj is not self.view and not self.view.isAncestorOf(obj)

    def _scroll(self, obj, event):
        """A wheel over the side panel scrolls it, as its scroll bar's own wheel does: nothing under the pointer (a
        slider, a box) takes it."""
        area = self.window.tabs.currentWidget()  # (a SidePanel: a scroll area)
        if area is not None and (obj is area or area.isAncestorOf(obj)):
            self._scrolling = True
            try:
                QApplication.sendEvent(area.verticalScrollBar(), event)
            finally:
                self._scrolling = False

    def _to_view(self, event) -> bool:
        """A key pressed in the dialog that the 3D view answers, with the pointer over the view: the view's."""
        interactor = self.view.plotter.interactor
        if (event.key() not in _VIEW_KEYS or event.modifiers() & ~(Qt.ShiftModifier | Qt.KeypadModifier)
                or (event.key() == Qt.Key_Period and not event.modifiers() & Qt.KeypadModifier)  # (the main keyboard's
                or typing() or not under_pointer(interactor)):  # ".": the first key of a weight such as .5, a review)
            return False
        QApplication.sendEvent(interactor, QKeyEvent(QEvent.KeyPress, event.key(), event.modifiers(), event.text()))
        return True


class BlendDialog(QDialog):
    """Pick the weight of a model blend (W = 0: this model, 1: the other; outside extrapolates), with a live
    meter; OK replaces the model (undoable). Not modal, but while it is open the main window only lets its 3D
    view be turned (_ViewOnly)."""

    def __init__(self, beyond, other, path, parent=None):
        super().__init__(parent, Qt.Dialog | Qt.CustomizeWindowHint | Qt.WindowTitleHint | Qt.WindowCloseButtonHint)  # (no
        self.setWindowTitle("Blend models")  # minimise: that hid the whole app)
        self._hold = _ViewOnly(beyond.window, self)
        self.beyond, self.other = beyond, other
        self.base = beyond.state.model  # the model blended: the one shown (followed while the dialog is open)
        self.weight = QSlider(Qt.Horizontal)
        self.weight.setRange(-100, 200)  # W from -1 to 2, in hundredths
        self.weight.setValue(50)
        self.label = QLabel()
        self.box = RangeSpinBox(minimum=-1, maximum=2, decimals=2, singleStep=0.05, value=0.5, prefix="W ",
                                toolTip="Type a weight from -1 to 2 (the slider's hundredths)")
        # a weight typed outside -1..2 is taken at the nearest end, and said (it was silently refused, or cut short)
        self.box.clamped.connect(lambda typed, value: beyond.window.statusBar().showMessage(
            f"W goes from -1 to 2: {typed:g} became {value:g}", 6000))
        self.box.valueChanged.connect(lambda v: self.weight.setValue(int(round(v * 100))))
        self.weight.valueChanged.connect(self._show_weight)
        self.note = QLabel("")  # said when the model shown changed while the dialog was open
        self.note.setWordWrap(True)
        self.note.hide()
        self.meter = Meter()
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Blend with {path}\nW = 0: this model, 1: the other; outside [0, 1] extrapolates"))
        row = QHBoxLayout()
        row.addWidget(self.weight, 1)
        row.addWidget(self.box)
        row.addWidget(self.label)
        layout.addLayout(row)
        layout.addWidget(self.note)
        layout.addWidget(self.meter, 0, Qt.AlignLeft)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.weight.valueChanged.connect(self.preview)
        self.blended = None
        beyond.state.changed.connect(self.follow_model)
        beyond.checked.connect(self._metered)  # (Play, or the time moving, while it previews: the meter follows)
        self.preview()

    def value(self) -> float:
        return self.weight.value() / 100

    def keyPressEvent(self, event):
        """Enter in the W box puts the typed weight in and previews it (the box has done that), as Enter in a number
        field does in Blender; it does not also press OK (that replaced the model while the user was still choosing)."""
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and self.box.hasFocus():
            event.accept()
            return
        super().keyPressEvent(event)

    def _show_weight(self, hundredths):
        if int(round(self.box.value() * 100)) != hundredths:
            self.box.blockSignals(True)
            self.box.setValue(hundredths / 100)
            self.box.blockSignals(False)

    def showEvent(self, event):
        """Over the side panel, not the 3D view whose preview it is about (it opened centred over the view)."""
        super().showEvent(event)
        QApplication.instance().installEventFilter(self._hold)
        window = self.beyond.window
        window.installEventFilter(self)  # (its moves: followed)
        side = window.tabs.mapToGlobal(window.tabs.rect().topLeft())
        screen = (self.screen() or window.screen()).availableGeometry()
        x = min(side.x(), screen.right() - self.frameGeometry().width())  # (on the screen, in a narrow window too)
        self.move(max(x, screen.left()), side.y() + 40)

    def eventFilter(self, obj, event):
        """The main window moved: the dialog moves with it, keeping its place over the window (it stayed behind,
        over whatever came there)."""
        if obj is self.beyond.window and event.type() == QEvent.Move and self.isVisible():
            self.move(self.pos() + event.pos() - event.oldPos())
        return False

    def follow_model(self):
        """The model shown changed while the dialog is open (a training ended, a model change undone): OK blends
        the one shown now, so the preview and the meter are made again from it (closed when no model is left)."""
        model = self.beyond.state.model
        if model is self.base:
            return
        if model is None:
            self.reject()
            return
        self.base = model
        self.note.setText("The model shown changed (a training ended, or a model change was undone): "
                          "this blends the new one.")
        self.note.show()
        self._fit_height()
        self.preview()

    def _fit_height(self):
        """As tall as the content needs at the dialog's width, at once (the note's wrapped lines were squeezed until
        the layout caught up, and the dialog was too short: its minimum does not count wrapped lines)."""
        layout = self.layout()
        layout.activate()
        height = layout.totalHeightForWidth(self.width())
        if height > self.height():
            self.resize(self.width(), height)

    def preview(self, *args):
        """The blended model at this weight, shown in the 3D view and metered."""
        self.label.setText(f"W = {self.value():.2f}")
        ok = self.buttons.button(QDialogButtonBox.Ok)
        self.blended = None
        try:
            self.blended = blend_models(self.base, self.other, self.value())
        except GRCError as e:
            self.label.setText(str(e))
            ok.setEnabled(False)
            self.beyond.preview = None  # (the model shown, unblended)
            self.beyond.window._shape_changed()
            return
        ok.setEnabled(True)
        self.beyond.preview = self.blended
        self.beyond.run_check()  # (the meter shows it: _metered)
        self.beyond.window._shape_changed()

    def changeEvent(self, event):
        """Minimised anyway (a window manager that offers it whatever the hints say; openbox does): it took the
        whole app with it, the main window waiting on this dialog, so both come back at once."""
        super().changeEvent(event)
        if event.type() == QEvent.WindowStateChange and self.isMinimized():
            QTimer.singleShot(0, self._unminimise)

    def _unminimise(self):
        for w in (self.beyond.window, self):
            w.setWindowState(w.windowState() & ~Qt.WindowMinimized)
        self.activateWindow()

    def hideEvent(self, event):
        QApplication.instance().removeEventFilter(self._hold)
        self.beyond.window.removeEventFilter(self)
        super().hideEvent(event)

    def _metered(self, check):
        if self.blended is not None and self.beyond.preview is self.blended:
            self.meter.display(check, self.beyond.state.weights, self.beyond.bent())

    def done(self, result):
        self.beyond.state.changed.disconnect(self.follow_model)
        self.beyond.checked.disconnect(self._metered)
        if self.base is not self.beyond.state.model:  # (never blend a model no longer shown)
            result = QDialog.Rejected
        self.beyond.preview = None
        if result == QDialog.Accepted and self.blended is not None:
            self.beyond.replace_model(self.blended, f"Blend models (W = {self.value():g})")
        else:
            self.beyond.window._shape_changed()
            self.beyond.run_check()
        super().done(result)
