"""The Bend panel (Explore): network bending by hand, chained bends with strengths, looks saved and loaded.

Each row is one grc.diverge.bend.Bend: an operation, where it acts (a hidden layer of the decoder, or
the time / morph input), which units (all, a seeded fraction, or a cluster named by where on the grid
it acts, grc.diverge.bend.cluster_regions; hovering one highlights that region in the 3D view), an
amount and a strength. The rows make a Look (grc-look/1), which the shape on screen, the chip and the
exports go through (Beyond.set_look). Every change of the bends is one undoable step (BendPanel.undo, one of the
stacks Edit > Undo takes, gui/undo.py); the moves of one drag of a strength slider, or typing an amount, are one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt5.QtCore import QEvent, Qt, pyqtSignal
from PyQt5.QtWidgets import (QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                             QStyle, QStyleOptionComboBox, QStylePainter, QUndoCommand, QUndoStack, QVBoxLayout,
                             QWidget)

from grc import GRCError
from grc.errors import printable
from grc.diverge.bend import INPUT_OPS, PEAK, UNIT_OPS, Bend, Look, check_bends, cluster_regions, load_look

from .context_pad import value_label
from .explore_panel import ComboBox, DoubleSpinBox, Slider, discard
from .gallery import GalleryPanel
from .meters import Meter
from .state import BLEND_RANGE

CLUSTERS = 6  # clusters a layer's units are grouped into (k-means, seed 0)
FRACTION = 0.3  # share of the units a "fraction" bend takes (seeded)
STRENGTH_STEPS = 100  # slider steps per unit of strength (0 to 2)
DEFAULT_AMOUNTS = (1.5, 1.3, 1.2, 1.1, 1.05)  # Add bend: scale layer 0 by the first that keeps the shape whole
UNITS_TEXT = 40  # characters of a unit list shown in the units box (the whole list is its tooltip)


def units_text(units) -> str:
    """What a bend's units say, for units the box does not list (a loaded look's): a list of unit indices
    as runs ("units 0–9, 20, 40–47", cut with its count), a cluster of another k or seed."""
    if isinstance(units, dict) and "cluster" in units:
        return f"cluster {units['cluster']} of {units.get('clusters', CLUSTERS)} (seed {units.get('seed', 0)})"
    if not units:
        return "no units"
    runs, start = [], units[0]
    for previous, u in zip(units, list(units[1:]) + [None]):
        if u != previous + 1:
            runs.append(f"{start}" if start == previous else f"{start}–{previous}")
            start = u
    text = "units " + ", ".join(runs)
    if len(text) > UNITS_TEXT:
        text = text[:UNITS_TEXT - 1].rsplit(", ", 1)[0] + ", …"
    return f"{text} ({len(units)} units)" if text.endswith("…") else text


class ListCombo(ComboBox):
    """A combo box that may be narrower than its items: its text is elided ("…") in the box, whole in its list. The
    wheel turns it only once clicked into, as the sliders and boxes: scrolling the panel over a bend's row changed
    its layer, operation or units on the way."""

    def paintEvent(self, event):
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.CC_ComboBox, option)
        field = self.style().subControlRect(QStyle.CC_ComboBox, option, QStyle.SC_ComboBoxEditField, self)
        option.currentText = self.fontMetrics().elidedText(option.currentText, Qt.ElideRight, field.width())
        painter.drawControl(QStyle.CE_ComboBoxLabel, option)

    closed = pyqtSignal()  # its list closed (chosen, Esc or a click away): what a hover showed goes

    def showPopup(self):
        self.view().setMinimumWidth(self.view().sizeHintForColumn(0) + 2 * self.view().frameWidth() + 8)
        super().showPopup()

    def hidePopup(self):
        super().hidePopup()
        self.closed.emit()


class LookEdit(QUndoCommand):
    """A change of the bends (a bend added, removed or changed, Clear, Load look): undo shows the look before."""

    def __init__(self, panel: "BendPanel", before: Look, after: Look, text: str, merge=None):
        super().__init__(text)
        self.panel, self.before, self.after = panel, before, after
        self.merge = merge  # consecutive changes with the same key (one control, one drag) are one step
        self.shown = True  # the rows show `after` already when it is pushed: its first redo has nothing to do

    def id(self):
        return -1 if self.merge is None else 1

    def mergeWith(self, other) -> bool:
        history = getattr(self.panel.beyond.window, "history", None)
        if other.merge != self.merge or (history is not None and getattr(self, "stamp", None) != history.last_stamp):
            return False  # (another change came between, in any history: this one is a step of its own)
        self.after = other.after
        return True

    def redo(self):
        if not self.shown:
            self.panel.show_look(self.after)
        self.shown = False

    def undo(self):
        self.panel.show_look(self.before)


class BendRow(QWidget):
    """One bend: op, layer/input, units, amount, strength, remove."""

    def __init__(self, panel: "BendPanel", bend: Bend | None = None):
        super().__init__()
        self.panel = panel
        model = panel.beyond.state.model
        self.hidden = len(model._layers["decoder"]) - 1 if model is not None else 1
        self.layer = ListCombo(toolTip="Where the bend acts: a hidden layer of the decoder, or an input")
        self.layer.addItems([f"layer {i}" for i in range(self.hidden)] + ["time", "morph"])
        self.op = ListCombo(toolTip="What the bend does there")
        self.units = ListCombo(toolTip="Which units: all, a seeded fraction, or a cluster (named by where on the "
                                       "grid it acts; hover to see it in the 3D view)")
        self.amount = DoubleSpinBox(minimum=-100, maximum=100, singleStep=0.1, decimals=2, value=1.5,
                                     prefix="amount ", toolTip="The op's number: a factor, an offset, a threshold, "
                                                               "an amplitude, a shift or warp")
        self.strength = Slider(Qt.Horizontal, toolTip="Strength: 0 changes nothing, 1 is the whole bend")
        self.strength.setRange(0, 2 * STRENGTH_STEPS)
        self.strength.setValue(STRENGTH_STEPS)
        self.strength_label = QLabel("1")  # (as the value boxes show values: value_label)
        self.strength_label.setMinimumWidth(self.strength_label.fontMetrics().horizontalAdvance("0.00"))  # no jumps
        self.remove = QPushButton("✕", toolTip="Remove this bend", maximumWidth=28)
        top, bottom = QHBoxLayout(), QHBoxLayout()
        for w, length, stretch in ((self.layer, 6, 0), (self.op, 8, 0), (self.units, 10, 1)):
            # as wide as the row allows, not as the longest item ("cluster 2 of 6 (seed 1): middle, whole
            # width"): elided in the box, whole in its list and tooltip, so the side panel never scrolls sideways
            w.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            w.setMinimumContentsLength(length)
            top.addWidget(w, stretch)
        top.addWidget(self.remove)
        bottom.addWidget(self.amount)
        bottom.addWidget(QLabel("strength"))
        bottom.addWidget(self.strength, 1)
        bottom.addWidget(self.strength_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addLayout(top)
        layout.addLayout(bottom)
        self.regions = []
        self.frequency = 1.0  # oscillate / warp frequency (a loaded look's; 1 otherwise)
        # a shown bend's exact values (a loaded look's, a gallery shape's), kept until the user changes that
        # control: the widgets round (strength to 1/STRENGTH_STEPS, amount to 2 decimals) and list only
        # the usual units, and a look must come back exactly as it was given
        self.exact = {}
        self.fraction = {"fraction": FRACTION, "seed": 0}
        self.other = None  # (index in the units box, units, region): a loaded look's units the box does not list
        self._fill_ops()
        if bend is not None:
            self.set_bend(bend)
        self.layer.currentIndexChanged.connect(lambda i: (self.exact.pop("units", None), self._fill_ops(),
                                                          self.panel.changed("Change bend layer")))
        self.op.currentIndexChanged.connect(lambda i: self.panel.changed("Change bend operation"))
        self.units.currentIndexChanged.connect(lambda i: (self.exact.pop("units", None),
                                                          self.panel.changed("Change bend units")))
        self.amount.valueChanged.connect(self._amount_changed)
        self.strength.valueChanged.connect(self._strength_moved)
        self.strength.sliderPressed.connect(self.panel.new_gesture)
        self.amount.installEventFilter(self)  # each visit of the amount box is a step of its own (eventFilter)
        self.units.highlighted.connect(self._hovered)
        self.units.closed.connect(lambda: self.panel.highlight(None))
        self.units.activated.connect(lambda i: self.panel.highlight(None))  # the list closed
        self.remove.clicked.connect(lambda: self.panel.remove_row(self))

    def eventFilter(self, obj, event):
        if obj is self.amount and event.type() == QEvent.FocusIn:
            self.panel.new_gesture()  # typing 2, leaving, coming back and typing 3: two steps, not one
        return False

    def _amount_changed(self, value):
        self.exact.pop("amount", None)  # (typing a number, or clicking the arrows, is one step while the box has focus)
        self.panel.changed("Change bend amount",
                           (id(self), "amount", self.panel.gestures) if self.amount.hasFocus() else None)

    def _strength_moved(self, value):
        self.exact.pop("strength", None)
        self.strength_label.setText(value_label(value / STRENGTH_STEPS, 2))
        self.panel.changed("Change bend strength", (id(self), "strength", self.panel.gestures))  # a drag: one step

    def layer_value(self):
        i = self.layer.currentIndex()
        return i if i < self.hidden else ("time", "morph")[i - self.hidden]

    def _fill_ops(self):
        """Ops and units for the chosen layer (the inputs take shift/scale/warp and no units)."""
        layer = self.layer_value()
        for w in (self.op, self.units):
            w.blockSignals(True)
        self.op.clear()
        self.op.addItems(list(INPUT_OPS if isinstance(layer, str) else UNIT_OPS))
        self.units.clear()
        self.units.setToolTip(self.units.toolTip().split("\n")[0])
        self.regions = []
        self.other = None
        if isinstance(layer, str):
            self.units.addItem("the input")
            self.units.setEnabled(False)
        else:
            self.units.setEnabled(True)
            self.fraction = {"fraction": FRACTION, "seed": 0}  # what "random N %" means (a loaded look's own)
            self.units.addItems(["all units", f"random {int(FRACTION * 100)} %"])
            model = self.panel.beyond.state.model
            if model is not None:
                K = len(model.templates)
                middle = 0.5 if K == 2 else np.full(K, 1 / K)  # (cluster_regions' default blend is α only)
                self.regions = cluster_regions(model, layer, CLUSTERS, 0, blend=middle)
                for r in self.regions:
                    self.units.addItem(f"cluster {r['cluster']}: {r['name']}")
        for w in (self.op, self.units):
            w.blockSignals(False)

    def _hovered(self, index):
        region = self.regions[index - 2]["region"] if index >= 2 and index - 2 < len(self.regions) else None
        if self.other is not None and index == self.other[0]:
            region = self.other[2]
        self.panel.highlight(region)

    def units_value(self):
        if isinstance(self.layer_value(), str):
            return "all"
        if "units" in self.exact:
            return self.exact["units"]
        i = self.units.currentIndex()
        if self.other is not None and i == self.other[0]:
            return self.other[1]
        if i <= 0:
            return "all"
        if i == 1:
            return dict(self.fraction)
        return {"cluster": i - 2, "clusters": CLUSTERS, "seed": 0}

    def _show_other(self, layer: int, units):
        """An entry for units the box does not list, chosen; a cluster's is named and hovered as the others."""
        region, text = None, units_text(units)
        model = self.panel.beyond.state.model
        if isinstance(units, dict) and model is not None:
            k, seed, c = int(units.get("clusters", CLUSTERS)), int(units.get("seed", 0)), int(units["cluster"])
            K = len(model.templates)
            regions = cluster_regions(model, layer, k, seed, blend=0.5 if K == 2 else np.full(K, 1 / K))
            if c < len(regions):
                region, text = regions[c]["region"], f"{text}: {regions[c]['name']}"
        self.units.blockSignals(True)
        self.units.addItem(text)
        self.other = (self.units.count() - 1, units, region)
        self.units.setCurrentIndex(self.other[0])
        self.units.blockSignals(False)
        if isinstance(units, list):
            self.units.setToolTip(self.units.toolTip() + f"\nThis look's units: {printable(units, 2000)}")

    def bend(self) -> Bend:
        return Bend(self.op.currentText(), self.layer_value(), self.units_value(),
                    self.exact.get("amount", float(self.amount.value())), self.frequency,
                    self.exact.get("strength", self.strength.value() / STRENGTH_STEPS))

    def set_bend(self, b: Bend):
        """Show a bend (a loaded look's, checked against the model: BendPanel.set_look): its units as the
        look says them, an entry of their own when the box does not list them (a unit list, a cluster of
        another k or seed)."""
        layer = b.layer if isinstance(b.layer, int) else self.hidden + ("time", "morph").index(b.layer)
        self.layer.setCurrentIndex(layer)
        self._fill_ops()
        self.op.setCurrentText(b.op)
        units = b.units
        if isinstance(b.layer, str):
            pass  # "the input"
        elif units == "all":
            self.units.setCurrentIndex(0)
        elif isinstance(units, dict) and "fraction" in units:
            self.fraction = dict(units)
            self.units.setItemText(1, f"random {units['fraction'] * 100:.0f} %")
            self.units.setCurrentIndex(1)
        elif (isinstance(units, dict) and units.get("clusters", CLUSTERS) == CLUSTERS and units.get("seed", 0) == 0
              and units["cluster"] < len(self.regions)):
            self.units.setCurrentIndex(2 + int(units["cluster"]))
        else:
            self._show_other(b.layer, units)
        self.amount.setValue(b.amount)
        self.frequency = b.frequency
        self.strength.setValue(int(round(b.strength * STRENGTH_STEPS)))
        self.strength_label.setText(value_label(b.strength, 2))
        self.exact = {"units": b.units, "amount": float(b.amount), "strength": float(b.strength)}


class BendPanel(QGroupBox):
    """Bends chained into a look, with a meter; Load / Save look."""

    def __init__(self, beyond, parent=None):
        super().__init__("Bend (network bending)", parent)
        self.setToolTip("Bends change the decoder between its layers: every shape it makes changes, no weight does")
        self.beyond = beyond
        self.rows: list[BendRow] = []
        self.rows_box = QVBoxLayout()
        self.add = QPushButton("Add bend")
        self.load = QPushButton("Load look…")
        self.save = QPushButton("Save look…")
        self.clear = QPushButton("Clear")
        self.meter = Meter(beyond)
        buttons = QHBoxLayout()
        for w in (self.add, self.load, self.save, self.clear):
            buttons.addWidget(w)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)  # above the rows: Add bend stays where it was clicked (not pushed down by each row)
        layout.addLayout(self.rows_box)
        layout.addWidget(self.meter, 0, Qt.AlignLeft)
        self.add.clicked.connect(self.add_default_bend)
        self.clear.clicked.connect(lambda: self.set_look(Look([]), "Clear bends"))
        self.load.clicked.connect(self._ask_load)
        self.save.clicked.connect(self.ask_save)
        self._quiet = False
        self.name = "look"
        self.undo = QUndoStack(self)  # the bends' history (Edit > Undo takes it with the others: gui/undo.py)
        self.shown = Look([], name=self.name)  # the look the rows show: what the next step is undone to
        self.gestures = 0  # counts the presses on a strength slider (the moves of one drag merge into one step)
        beyond.doc.model_changed.connect(self._model_changed)
        self._model = None
        self._document = None  # the document (Document.generation) the bends' history is about

    def _model_changed(self):
        """Another document: the bends' history starts again (as the template set's does). Another model: bends it
        cannot take (a decoder of another size) are dropped, and their history with them (an undo would bring back
        bends the model cannot take); bends it can take keep their place, their cluster lists named for the new
        model when it has other templates (a set opened and trained: the old names and regions were another
        grid's, and hovering one raised)."""
        doc = self.beyond.doc
        if doc.generation != self._document:
            self._document = doc.generation
            self.undo.clear()  # (bends carried over were saved, or let go, when the other document was opened)
        model = doc.model
        if model is None or model is self._model:
            return  # (no model for now: the bends wait for the next one, which is checked then)
        previous, self._model = self._model, model
        if not self.rows:
            return
        try:
            check_bends(model, self.look().bends)
        except GRCError:
            self.show_look(Look([]))
            self.undo.clear()
            self.beyond.window.statusBar().showMessage("The bends did not fit this model's decoder: cleared", 8000)
            return
        if previous is None or previous.templates is not model.templates:
            self._quiet = True
            try:
                for row in self.rows:
                    row.set_bend(row.bend())
            finally:
                self._quiet = False

    def add_default_bend(self) -> BendRow:
        """Add bend: all the units of layer 0 scaled by the strongest of DEFAULT_AMOUNTS that keeps the shape on
        screen whole (1.5 broke the leaf at once: its decoder is that sensitive); the weakest when none does, 1.5
        when the shape is broken already. The status bar says when it took less than 1.5."""
        amount, note = DEFAULT_AMOUNTS[0], None
        beyond, coherence = self.beyond, self.beyond.coherence()
        try:
            bends = self.look().bends
        except GRCError:  # (a row the model cannot take: the bend is added as it always was)
            coherence = None
        if coherence is not None:
            looks = [bends] + [bends + [Bend("scale", 0, "all", a)] for a in DEFAULT_AMOUNTS]
            grids = np.stack([beyond.grid(Look(b) if b else None) for b in looks])
            broken = coherence.broken(grids)
            whole = [a for a, b in zip(DEFAULT_AMOUNTS, broken[1:]) if not b]
            if not broken[0] and not whole:
                amount, note = DEFAULT_AMOUNTS[-1], "the weakest offered: even it breaks this shape"
            elif not broken[0] and whole[0] != amount:
                amount, note = whole[0], f"the strongest that keeps this shape whole ({DEFAULT_AMOUNTS[0]:g} breaks it)"
        row = self.add_bend(Bend("scale", 0, "all", amount))
        if note:
            self.beyond.window.statusBar().showMessage(f"Add bend: scale {amount:g}, {note}", 8000)
        return row

    def add_bend(self, bend: Bend | None = None) -> BendRow:
        row = BendRow(self, bend)
        self.rows.append(row)
        self.rows_box.addWidget(row)
        self.changed("Add bend")
        return row

    def remove_row(self, row):
        self.rows.remove(row)
        discard(row)
        self.changed("Remove bend")

    def look(self) -> Look:
        return Look([r.bend() for r in self.rows], name=self.name)

    def unsaved(self) -> bool:
        """Whether there are bends that no look file holds (added or changed since the last Save or Load look);
        undoing back to what was saved or loaded makes them saved again."""
        return bool(self.rows) and not self.undo.isClean()

    def new_gesture(self):
        """A strength slider was pressed: its drag is one undo step, not merged with the one before."""
        self.gestures += 1

    def changed(self, text="Change bend", merge=None):
        """The rows changed: apply their look, as one undo step (`merge`: a key that merges consecutive
        changes of one control into one step)."""
        if self._quiet:
            return
        try:
            look = self.look()
        except GRCError as e:
            self.beyond.window.statusBar().showMessage(str(e), 8000)
            return
        before, self.shown = self.shown, look
        self.undo.push(LookEdit(self, before, look, text, merge))
        self.beyond.set_look(look)

    def set_look(self, look: Look, text="Set bends"):
        """Show a look's bends as rows and apply it, as one undo step. Bends this model cannot take are refused
        (a GRCError naming the look's file and the field) before anything changes."""
        model = self.beyond.state.model
        if model is not None:
            try:
                check_bends(model, look.bends)
            except GRCError as e:
                raise GRCError(e.message, path=look.path, field=e.field) from None
        self._rows(look)
        self.changed(text)

    def show_look(self, look: Look):
        """Show and apply a look without a step of its own (Undo and Redo of the bends' history)."""
        self._rows(look)
        self.shown = self.look()
        self.beyond.set_look(self.shown)

    def _rows(self, look: Look):
        """A look's bends as rows (nothing applied)."""
        self._quiet = True
        try:
            for row in list(self.rows):
                discard(row)
            self.rows = []
            self.name = look.name
            for b in look.bends:
                self.add_bend(b)
        finally:
            self._quiet = False

    def highlight(self, region):
        """Show where a cluster acts: the grid points it moves most, in the 3D view."""
        view = self.beyond.window.view
        if region is None:
            view.show_region(None)
            return
        grid = self.beyond.grid()
        region = np.asarray(region)
        # the points the cluster's name speaks of (PEAK: moved at least 70 % of the most); another grid's: none
        view.show_region(grid[region >= PEAK] if region.shape == grid.shape[:2] else None)

    # -- files ---------------------------------------------------------------------------------------------
    def load_look(self, path) -> Look:
        """Open a look file as `grc export --look` reads it (grc.diverge.bend.Look.check against the model),
        all or nothing: a look that does not fit is a GRCError naming the file and the field, and nothing
        changes. Its bends become rows, its blend the blend, its context path the pad's drawn path (the
        shape on screen is then Look.shape at this time)."""
        state = self.beyond.state
        if state.model is None:
            raise GRCError("open a model first: a look bends a model's decoder", path=path)
        look = load_look(path).check(state.model)
        blend = None if look.blend is None else self._reachable(look, np.atleast_1d(np.asarray(look.blend, float)))
        drawn = None if look.context is None else self._drawn_path(look.context, blend)
        self.set_look(look, f"Load look {Path(path).name}")
        if blend is not None:
            state.set_blend(blend)
        if drawn is not None:
            state.set_path(drawn)
        self.undo.setClean()  # the bends are the file's
        self.beyond.window.statusBar().showMessage(f"Loaded the look {path}", 8000)
        return look

    def _drawn_path(self, context, blend) -> np.ndarray:
        """The pad's drawn path (at its samples) through a look's context path (at the shape's rows): the
        look's blend's own path moved to it (GalleryPanel.pad_path), exact at the rows."""
        state = self.beyond.state
        model, pad = state.model, state.pad_morph()
        rows = model.morph_samples()
        target = np.broadcast_to(np.asarray(context, float), (len(rows), model.context_dims))
        under = model.context(state.time, state.blend if blend is None else blend, pad)
        return GalleryPanel.pad_path(target, rows, pad, under)

    def _reachable(self, look: Look, blend: np.ndarray):
        """A look's own blend as the app holds it (α for two templates), refused where the app cannot
        show it exactly: α beyond the blend slider's reach, two weights that do not sum to 1."""
        state = self.beyond.state
        if len(state.model.templates) != 2:
            return blend
        if blend.size == 2:
            if abs(blend.sum() - 1) > 1e-9:
                raise GRCError(f"expected two weights summing to 1 (the app's blend is one number), got "
                               f"{blend.tolist()}", path=look.path, field="blend")
            blend = blend[1:]
        alpha = float(blend[0])
        if not BLEND_RANGE[0] <= alpha <= BLEND_RANGE[1]:
            raise GRCError(f"expected a blend from {BLEND_RANGE[0]:g} to {BLEND_RANGE[1]:g} (as far as the blend "
                           f"slider reaches), got {alpha:g}", path=look.path, field="blend")
        return alpha

    def save_look(self, path) -> Path:
        """Write the look on screen: its bends, the blend, and a drawn context path (the context at the
        shape's rows at this time), so `grc export --look` at this time gives the shape on screen."""
        look = self.look()
        state = self.beyond.state
        look.blend = np.atleast_1d(np.asarray(state.blend, float))
        if state.model is not None and state.offsets is not None:
            look.context = state.context()
        look.name = Path(path).stem
        saved = look.save(path)
        self.undo.setClean()
        return saved

    def _ask_load(self):
        window = self.beyond.window
        path, _ = QFileDialog.getOpenFileName(self, "Load look", str(window.dialog_folder()), "GRC looks (*.json)")
        if window.used_folder(path):
            try:
                self.load_look(path)
            except (GRCError, OSError) as e:
                self.beyond.window.error(str(e), "Cannot load the look")

    def ask_save(self) -> bool:
        """Save look… ; True once saved."""
        window = self.beyond.window
        path, _ = QFileDialog.getSaveFileName(self, "Save look", str(window.dialog_folder() / "look.json"),
                                              "GRC looks (*.json)")
        if window.used_folder(path):
            try:
                self.save_look(path)
                self.beyond.window.statusBar().showMessage(f"Saved the look to {path}", 5000)
                return True
            except (GRCError, OSError) as e:
                self.beyond.window.error(str(e), "Look not saved")
        return False
