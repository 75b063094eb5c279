"""Explore controls: time (with play/loop), blend (reaching beyond the templates), view options."""

from __future__ import annotations

import math
import re
import threading

import numpy as np
from PyQt5.QtCore import QEvent, QRectF, QSize, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QFontMetricsF, QKeySequence, QPainter, QValidator
from PyQt5.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
                             QPushButton, QSlider, QSpinBox, QStyle, QStyleOptionSlider, QVBoxLayout, QWidget)

from .context_pad import COLORS, ContextPad, short_label, spaced_labels, value_label
from .state import BLEND_RANGE, PAD_SAMPLES, WEIGHT_RANGE, ExploreState
from .weight_triangle import WeightTriangle

STEPS = 1000
MAX_DECIMALS = 8  # the most a box shows (a time range of 0.00001 per slider step)
PLAY_STEP = 8  # slider positions per Play tick (40 ms): the whole range in 5 s


def widest_context_value(model) -> int:
    """The context value along which the templates' traces spread most (over their time steps and rows): the
    one the context pad opens on. A set of K templates has K - 1 values by default, and the traces may all but
    coincide in the first (the leaf's: 0.05 apart on average in value 0, 0.51 in value 1)."""
    if model.context_dims < 2:
        return 0
    traces = model.traces()  # (K, T, M, C)
    return int(np.argmax((traces.max(axis=0) - traces.min(axis=0)).mean(axis=(0, 1))))


def discard(widget):
    """Take a widget out of its panel for good. Hidden first: a widget just added to a layout has a show queued, and
    taken out before that runs (rows replaced in one turn of the event loop: a look loaded, a model opened twice)
    it was shown as a window of its own; then deleted."""
    widget.hide()
    widget.setParent(None)
    widget.deleteLater()


class WheelWhenFocused:
    """A slider or box that the mouse wheel turns only once clicked into (it has the focus): scrolling the panel
    over it scrolls the panel, as in Blender, instead of changing a weight on the way."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setFocusPolicy(Qt.StrongFocus)  # (a click gives the focus; the wheel does not)

    def wheelEvent(self, event):
        if self.hasFocus() or self.window().focusWidget() is self:
            super().wheelEvent(event)
        else:
            event.ignore()  # to the scroll area beneath


class ComboBox(WheelWhenFocused, QComboBox):
    """A combo box the wheel turns only once clicked into: scrolling the panel over it scrolls the panel."""


class Slider(WheelWhenFocused, QSlider):
    pass


class SpinBox(WheelWhenFocused, QSpinBox):
    pass


class DoubleSpinBox(WheelWhenFocused, QDoubleSpinBox):
    """A value box that shows as many decimals as the value needs and reads what it shows back: a decimal point,
    or a comma, whatever the locale (Qt's own parser took the point for a German thousands separator: 1.5 -> 15)."""

    def textFromValue(self, value):
        """As many decimals as the value needs, up to the box's (0.85, not 0.850; 2, not 2.000)."""
        return value_label(value, self.decimals())

    def event(self, event):
        if event.type() == QEvent.ShortcutOverride and not self.lineEdit().isModified() and (
                event.matches(QKeySequence.Undo) or event.matches(QKeySequence.Redo)):
            event.ignore()  # nothing typed here to undo: Ctrl+Z is the app's Undo (a walkthrough's did nothing)
            return True
        return super().event(event)

    def validate(self, text, pos):
        typed = self._typed(text)
        if typed is not None:
            inside = self.minimum() <= typed <= self.maximum()
            return (QValidator.Acceptable if inside else QValidator.Intermediate), text, pos
        partial = re.fullmatch(r"[+-]?[0-9]*[.,]?[0-9]*(e[+-]?[0-9]*)?", self.stripped(text), re.IGNORECASE)
        return (QValidator.Intermediate if partial else QValidator.Invalid), text, pos

    def _typed(self, text):
        """The number in `text` (its prefix and suffix left out; a comma read as the decimal point), else None."""
        try:
            value = float(self.stripped(text).replace(",", "."))
        except ValueError:
            return None
        return value if value == value else None  # (not NaN)

    def stripped(self, text):
        text = text.strip()
        for part in (self.prefix(), self.suffix()):
            text = text.replace(part, "") if part else text
        return text.strip()

    def valueFromText(self, text):
        typed = self._typed(text)
        return self.value() if typed is None else min(max(typed, self.minimum()), self.maximum())

    def fixup(self, text):
        return text

    def sizeHint(self):
        """As wide as a value with every decimal needs (Qt sizes a box by its range's ends, shown shorter here)."""
        hint, metrics = super().sizeHint(), self.fontMetrics()
        ends = (self.minimum(), self.maximum())
        full = max(metrics.horizontalAdvance(f"{v:.{self.decimals()}f}") for v in ends)
        shown = max(metrics.horizontalAdvance(self.textFromValue(v)) for v in ends)
        return QSize(hint.width() + max(full - shown, 0), hint.height())


class Clamping:
    """For a spin box with a `clamped` signal and a `_typed(text)` (the number typed, else None): any number typed is
    taken, kept within the range, and `clamped(typed, value)` says so, where a plain spin box silently refused it."""

    def validate(self, text, pos):
        state, text, pos = super().validate(text, pos)
        if state != QValidator.Acceptable and self._typed(text) is not None:
            state = QValidator.Acceptable  # out of range: accepted, then clamped (instead of silently refused)
        return state, text, pos

    def valueFromText(self, text):
        typed = self._typed(text)
        if typed is None:  # not a number, or NaN
            return self.value()
        value = min(max(typed, self.minimum()), self.maximum())
        if value != typed:
            self.clamped.emit(typed, value)
        return value


class RangeSpinBox(Clamping, DoubleSpinBox):
    """A spin box that takes any number typed, keeps it within its range and says so (`clamped`)."""

    clamped = pyqtSignal(float, float)  # what was typed, what it became
    entered = pyqtSignal()  # Enter pressed in it (after the value typed, if any, is taken)

    def keyPressEvent(self, event):
        super().keyPressEvent(event)
        if event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self.entered.emit()


def nice_step(value: float) -> float:
    """The largest of 1, 2 or 5 times a power of ten not above `value` (a box's arrow step)."""
    ten = 10.0 ** math.floor(math.log10(max(value, 1e-12)))
    return max(m * ten for m in (1, 2, 5) if m * ten <= value * (1 + 1e-9))


def thickness_range(model) -> float:
    """The thickness box's maximum: a tenth of the largest side of the templates' bounding box (over all of time),
    two significant digits (0.18 for the petal, 1.8 across): a sheet's thickness in the model's own units."""
    points = np.asarray(model.templates.points, float).reshape(-1, 3)
    side = float((points.max(axis=0) - points.min(axis=0)).max()) if points.size else 0.0
    if not math.isfinite(side) or side <= 0:
        return 0.1
    return float(f"{0.1 * side:.2g}")


def box_step(low: float, high: float) -> float:
    """What a box's arrow (or a focused wheel notch) adds: a power of ten about a hundredth of its range
    (0.01 for a weight's -1..2), never finer than a slider step's decimals show."""
    return 10.0 ** math.floor(math.log10(max(high - low, 1e-12) / 100))


class ValueSlider(QWidget):
    """A horizontal slider over [low, high] with a spin box and labelled marks under it."""

    def __init__(self, low, high, marks=(), decimals=3, parent=None):
        super().__init__(parent)
        self.setAutoFillBackground(True)  # opaque: a move repaints this row, not the group box and panel beneath
        self.low, self.high, self.marks = low, high, list(marks)  # marks: [(value, label, color)]
        self.band = None  # (low, high, color): a range drawn under the slider (the safe blend range)
        self.slider = Slider(Qt.Horizontal)
        self.slider.setRange(0, STEPS)
        self.spin = RangeSpinBox(decimals=decimals, singleStep=box_step(low, high), keyboardTracking=False)
        self.spin.setRange(low, high)
        self.spin.setToolTip(f"from {low:g} to {high:g}")
        self.spin.setFixedWidth(70)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.slider, 1)
        top.addWidget(self.spin)
        self.marks_row = _Marks(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(top)
        layout.addWidget(self.marks_row)
        self.marks_row.setVisible(bool(self.marks))
        self._callbacks = []
        self.decimals = decimals
        self._value = None  # what the widget last showed or reported: Enter on a box showing it rounded sets it
        self.slider.valueChanged.connect(lambda i: self._emit(self.value_at(i)))
        self.spin.valueChanged.connect(self._emit)
        self.spin.entered.connect(self._typed_again)

    def on_change(self, callback):
        self._callbacks.append(callback)

    def _emit(self, value):
        self._value = float(value)
        for callback in self._callbacks:
            callback(float(value))

    def _typed_again(self):
        """Enter on the value the box shows, where that is the value it stands for rounded (set by a drag in the pad):
        the value shown becomes the value. Only Enter: leaving the box changes nothing."""
        if self._value is not None and self.spin.value() != self._value:
            self._emit(self.spin.value())

    def set_value(self, value):
        """Show a value without reporting it back (widgets already showing it are left alone, unrepainted)."""
        self._value = float(value)
        position = int(round((min(max(value, self.low), self.high) - self.low) / (self.high - self.low) * STEPS))
        if position == self.slider.value() and self.spin.valueFromText(self.spin.textFromValue(value)) == \
                self.spin.value() and not self.spin.specialValueText():
            return
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.slider.setValue(position)
        self.spin.setValue(value)
        for w in (self.slider, self.spin):
            w.blockSignals(False)

    def blank(self):
        """No value to show (no model): the box reads "—", not the last model's time (set_range shows values
        again)."""
        self._value = None
        self.spin.blockSignals(True)
        self.spin.setSpecialValueText("—")
        self.spin.setRange(self.low, self.low)  # (the special text shows at the minimum)
        self.spin.blockSignals(False)

    def set_range(self, low: float, high: float):
        """A new range (the model's times): the box shows as many decimals as a slider step needs, at least three."""
        self.low, self.high = float(low), float(high)
        step = (self.high - self.low) / STEPS
        self.decimals = int(min(MAX_DECIMALS, max(3, math.ceil(-math.log10(step) - 1e-9)))) if step > 0 else 3
        self.spin.setDecimals(self.decimals)
        self.spin.setSingleStep(box_step(self.low, self.high))
        self.spin.setSpecialValueText("")
        self.spin.setRange(self.low, self.high)

    def value_at(self, position: int) -> float:
        """The value at a slider position, to the box's decimals (within the range): the value shown is the value used."""
        return min(max(round(self.low + (self.high - self.low) * position / STEPS, self.decimals), self.low), self.high)


class _Marks(QWidget):
    """Labels under a ValueSlider at the slider positions of its marks (a label without room is left out)."""

    def __init__(self, owner: ValueSlider):
        super().__init__(owner)
        self.owner = owner
        self.setFixedHeight(16)
        self.label_font = self.font()
        self.label_font.setPointSizeF(7.5)

    def x_of(self, value: float) -> float:
        o, s = self.owner, self.owner.slider
        opt = QStyleOptionSlider()
        s.initStyleOption(opt)
        handle = s.style().subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderHandle, s).width()
        value = min(max(value, o.low), o.high)
        pos = QStyle.sliderPositionFromValue(0, STEPS, int(round((value - o.low) / (o.high - o.low) * STEPS)),
                                             s.width() - handle)
        return s.x() + pos + handle / 2

    def labels(self) -> list[tuple[QRectF, str]]:
        """The marks' labels as drawn: centred under their marks, none on top of another (spaced_labels)."""
        return spaced_labels([(self.x_of(value), label) for value, label, _ in self.owner.marks],
                             QFontMetricsF(self.label_font))

    def paintEvent(self, event):
        o = self.owner
        p = QPainter(self)
        p.setFont(self.label_font)
        if o.band is not None:
            low, high, color = o.band
            band = QColor(color)
            band.setAlpha(90)
            p.fillRect(QRectF(self.x_of(low), 0, max(1.0, self.x_of(high) - self.x_of(low)), 3), band)
        colors = {}
        for value, label, color in o.marks:
            x = self.x_of(value)
            p.setPen(QColor(color))
            p.drawLine(int(x), 0, int(x), 4)
            colors.setdefault(label, color)
        for rect, label in self.labels():
            p.setPen(QColor(colors[label]))
            p.drawText(rect.translated(0, 3), Qt.AlignHCenter | Qt.AlignTop, label)


class ExplorePanel(QWidget):
    """Time, blend and context pad, plus the 3D view's options."""

    out_of_range = pyqtSignal(str)  # a typed value was brought into range: what the status bar says

    def __init__(self, state: ExploreState, parent=None):
        super().__init__(parent)
        self.state = state
        layout = QVBoxLayout(self)
        # the model trained on other templates than the set's (Document.model_differs): said until retrained
        self.stale = QLabel("")
        self.stale.setObjectName("stale-model")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #8a4b00; background: #fff4e0; padding: 3px")
        self.stale.hide()
        layout.addWidget(self.stale)
        # time
        box = QGroupBox("Time")
        row = QHBoxLayout(box)
        self.time = ValueSlider(0, 1)
        self.play = QPushButton("Play", checkable=True)
        self.loop = QCheckBox("Loop", checked=True)
        row.addWidget(self.time, 1)
        row.addWidget(self.play)
        row.addWidget(self.loop)
        layout.addWidget(box)
        self.time.on_change(state.set_time)
        self.time.spin.clamped.connect(lambda typed, value: self._clamped("Time", self.time, typed, value))
        self.play_timer = QTimer(self, interval=40)
        self.play_timer.timeout.connect(self._tick)
        self.play.toggled.connect(self._play)
        self.play.toggled.connect(lambda on: self.play_timer.start() if on else self.play_timer.stop())
        self.play.toggled.connect(lambda on: self.play.setText("Pause" if on else "Play"))
        # blend
        self.blend_box = QGroupBox("Blend")
        self.blend_layout = QVBoxLayout(self.blend_box)
        self.blend_sliders: list[ValueSlider] = []
        self.triangle: WeightTriangle | None = None  # three templates: the weight triangle above the sliders
        self.blend_range = QLabel("")  # what the blend reaches, and its safe range at this time
        self.blend_range.setObjectName("blend-range")
        self.blend_range.setWordWrap(True)
        self.blend_range.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.blend_layout.addWidget(self.blend_range)
        self._forget_safe()  # self.safe: the safe blend range at the current time ([low, high], None: broken in [0, 1])
        layout.addWidget(self.blend_box)
        # context pad
        pad_box = QGroupBox("Context (Figure 6: template traces dotted, context path solid)")
        pad_layout = QVBoxLayout(pad_box)
        self.pad = ContextPad(state)
        tools = QHBoxLayout()
        self.draw = QPushButton("Draw path", checkable=True, toolTip="Paint a free context path across morph")
        self.draw.toggled.connect(lambda on: setattr(self.pad, "draw_mode", on))
        self.reset_path = QPushButton("Back to blend", toolTip="Forget the drawn path, use the blend's own")
        self.reset_path.clicked.connect(lambda: (state.set_path(None), self.draw.setChecked(False)))  # (drags move
        # the blend again: Draw path stayed on, and the next drag on the pad painted a spike)
        self.dim = SpinBox(prefix="context value ", minimum=0,
                            toolTip="Which context value the pad shows and a drag moves (a model opens on the one "
                                    "where its templates' traces spread most)")
        self.dim.valueChanged.connect(self.pad.set_dim)
        self.keep = QPushButton("Keep as template", toolTip="Add this shape (blend or drawn path, and the look), at "
                                "every time step, to the template set as a new template; then edit it in "
                                "Sketch and retrain (Ctrl+K)")
        tools.addWidget(self.draw)
        tools.addWidget(self.reset_path)
        tools.addWidget(self.keep)
        tools.addStretch(1)
        dims = QHBoxLayout()  # (a row of its own: beside the three buttons it made the side panel scroll sideways)
        dims.addWidget(self.dim)
        dims.addStretch(1)
        pad_layout.addWidget(self.pad, 1)
        pad_layout.addLayout(tools)
        pad_layout.addLayout(dims)
        layout.addWidget(pad_box, 1)
        # view options
        view = QGroupBox("View")
        form = QGridLayout(view)  # two a row: the side panel fits a 1024 px window
        self.subdivide = SpinBox(minimum=0, maximum=3, value=state.subdivide, prefix="subdivide ")
        self.grid = QCheckBox("control grid", checked=state.show_grid)
        self.petals = SpinBox(minimum=1, maximum=24, value=state.petals, prefix="petals ")
        # (its maximum follows the model's size: thickness_range; a number past it is clamped and said)
        self.thickness = RangeSpinBox(minimum=0, maximum=0.1, singleStep=0.005, decimals=3, prefix="thickness ",
                                      keyboardTracking=False)
        self.thickness.setToolTip("the sheet's thickness, from 0 to 0.1")
        for i, w in enumerate((self.subdivide, self.grid, self.petals, self.thickness)):
            form.addWidget(w, i // 2, i % 2)
        form.setColumnStretch(2, 1)
        layout.addWidget(view)
        self.subdivide.valueChanged.connect(lambda v: state.set_view(subdivide=v))
        self.grid.toggled.connect(lambda v: state.set_view(show_grid=v))
        self.petals.valueChanged.connect(lambda v: state.set_view(petals=v))
        self.thickness.valueChanged.connect(lambda v: state.set_view(thickness=v))
        self.thickness.clamped.connect(lambda typed, value: self.out_of_range.emit(
            f"Thickness goes from 0 to {self.thickness.maximum():g} (a tenth of the shape's size): "
            f"{typed:g} became {value:g}"))
        state.changed.connect(self.sync)
        self._model = None

    # -- following the state ------------------------------------------------------------------
    def sync(self):
        """Show the state's values (rebuilding the blend sliders for a new model)."""
        s = self.state
        if s.model is None:
            self.setEnabled(False)
            if self._model is not None:  # (a template set without a model: nothing of the last model's left)
                self._model = None
                self._clear()
            return
        self.setEnabled(True)
        if s.model is not self._model:
            self._model = s.model
            self._rebuild(s.model)
        self.time.set_value(s.time)
        if len(self.blend_sliders) == 1:
            self.blend_sliders[0].set_value(s.weights[1])
        else:
            for slider, w in zip(self.blend_sliders, s.weights):
                slider.set_value(w)

    def _clamped(self, what, slider, typed, value):
        self.out_of_range.emit(f"{what} goes from {slider.low:g} to {slider.high:g}: {typed:g} became {value:g}")

    def _clear(self):
        """No model: no time ticks, no blend sliders or labels (the previous model's names would be stale)."""
        self.play.setChecked(False)
        self.draw.setChecked(False)
        self.time.marks = []
        self.time.marks_row.setVisible(False)
        self.time.blank()
        self._drop_blend_widgets()
        self._forget_safe()
        self.blend_range.setText("No model yet: train the template set (Train tab) to explore it.")
        self.dim.setVisible(False)
        self.pad.update()

    def _drop_blend_widgets(self):
        for widget in self.blend_sliders + ([self.triangle] if self.triangle is not None else []):
            discard(widget)
        self.blend_sliders, self.triangle = [], None

    def _rebuild(self, model):
        self.draw.setChecked(False)  # another model: drags on the pad move its blend until Draw path is asked for
        t = model.templates.time
        self.time.set_range(t[0], t[-1])
        self.time.spin.setToolTip(f"time from {self.time.low:g} to {self.time.high:g}")
        self.time.marks = [(v, short_label(v), "#666666") for v in t]
        self.time.marks_row.setVisible(True)
        self.time.marks_row.update()  # (already shown: another model's labels stayed on screen until a repaint)
        self._drop_blend_widgets()
        names = model.names
        if len(names) == 3:  # the blend as a dot among the three templates, the sliders under it
            self.triangle = WeightTriangle(self.state, names)
            self.blend_layout.insertWidget(0, self.triangle)
        if len(names) == 2:
            marks = [(0.0, names[0], COLORS[0]), (1.0, names[1], COLORS[1])]
            slider = ValueSlider(*BLEND_RANGE, marks)
            slider.on_change(self.state.set_blend)
            slider.setToolTip(f"0 = first template, 1 = second; outside [0, 1] extrapolates, "
                              f"from {BLEND_RANGE[0]:g} to {BLEND_RANGE[1]:g} (as far as the context pad reaches)")
            slider.spin.setToolTip(f"blend from {BLEND_RANGE[0]:g} to {BLEND_RANGE[1]:g} (0 = {names[0]}, 1 = {names[1]})")
            slider.spin.clamped.connect(lambda typed, value, s=slider: self._clamped("Blend", s, typed, value))
            self.blend_layout.insertWidget(0, slider)
            self.blend_sliders.append(slider)
        else:
            for k, name in enumerate(names):
                slider = ValueSlider(*WEIGHT_RANGE, [(0.0, "0", "#666666"), (1.0, f"{name} = 1", COLORS[k % len(COLORS)])])
                slider.on_change(lambda v, k=k: self.state.set_weight(k, v))
                slider.spin.setToolTip(f"weight of {name}, from {WEIGHT_RANGE[0]:g} to {WEIGHT_RANGE[1]:g}")
                slider.spin.clamped.connect(lambda typed, value, s=slider, n=name: self._clamped(f"Weight of {n}", s,
                                                                                                 typed, value))
                self.blend_layout.insertWidget(len(self.blend_sliders) + (self.triangle is not None), slider)
                self.blend_sliders.append(slider)
        self._forget_safe()
        self.blend_range.setMinimumHeight(0)  # (grown again by the new model's words)
        self._say_range()
        self.dim.setMaximum(max(0, model.context_dims - 1))
        self.dim.setValue(widest_context_value(model))
        self.dim.setVisible(model.context_dims > 1)
        top = thickness_range(model)
        self.thickness.setDecimals(max(3, math.ceil(-math.log10(nice_step(top / 20)) - 1e-9)))
        self.thickness.setSingleStep(nice_step(top / 20))
        self.thickness.setMaximum(top)  # (a thickness past it becomes it)
        self.thickness.setToolTip(f"the sheet's thickness, from 0 to {top:g} (a tenth of the shape's size)")
        self._remember_traces(model)

    def set_safe_range(self, safe, known=True, keep=None, previewed=False):
        """The safe range at the current time, a green band under each slider and said beside them: two templates'
        blend ([low, high] with no broken shape; None: a shape inside [0, 1] breaks), or for three or more how far
        each weight's slider goes from the current blend, the others' weights as they are (a list of [low, high],
        None where the shape is broken: gui.beyond.weight_safe_ranges). `known` False: none yet (the time or the
        blend moves); `keep`: the slider whose range still holds meanwhile (it moved alone: its path is as it was);
        `previewed`: they are a previewed model's (Blend models…, a rewrite drag), and the line says so."""
        if not known and keep is not None and isinstance(safe, list):
            safe = [r if k == keep else None for k, r in enumerate(safe)]
        elif not known:
            safe = None
        self.safe, self._safe_known, self._safe_kept, self._safe_previewed = safe, known, keep, previewed
        ranges = [safe] if len(self.blend_sliders) == 1 else safe if isinstance(safe, list) else []
        for k, slider in enumerate(self.blend_sliders):
            r = ranges[k] if k < len(ranges) else None
            slider.band = None if r is None else (r[0], r[1], "#2e8b57")
            slider.marks_row.update()
        self._say_range()

    def _forget_safe(self):
        """No safe range said (another model, none)."""
        self.safe, self._safe_known, self._safe_kept, self._safe_previewed = None, False, None, False

    def safe_said(self) -> tuple:
        """What set_safe_range was last given (safe, known, keep): to say it again."""
        return self.safe, self._safe_known, self._safe_kept

    def _say_range(self):
        if self.state.model is None:  # (_clear said there is no model)
            return
        one = len(self.blend_sliders) == 1
        if one:
            text = f"Reaches {BLEND_RANGE[0]:g} to {BLEND_RANGE[1]:g} (as the pad does)"
        else:
            text = f"Each weight reaches {WEIGHT_RANGE[0]:g} to {WEIGHT_RANGE[1]:g}"
        known, kept = self._safe_known, self._safe_kept
        names = self.state.model.templates.names if self.state.model is not None else []
        say = lambda r: f"{value_label(r[0], 2)} to {value_label(r[1], 2)}"  # noqa: E731
        previewed = self._safe_previewed
        of = " (previewed model)" if previewed else ""  # (Blend models… or a rewrite drag shows another model)
        if self.safe is not None and one:
            text += f" · safe at this time{of}: {self.safe[0]:g} to {self.safe[1]:g}"
        elif self.safe is None and known and one:
            text += f" · broken inside [0, 1] at this time{of}"
        elif isinstance(self.safe, list) and known and all(r is None for r in self.safe):
            text += f" · this shape is broken{of}: no weight is safe from here"
        elif isinstance(self.safe, list) and known:
            text += (f" · safe at this time{of}, each weight from here (the others as they are; {WEIGHT_RANGE[0]:g} "
                     f"and {WEIGHT_RANGE[1]:g} are the sliders' ends): "
                     + ", ".join(f"{name} {say(r)}" for name, r in zip(names, self.safe)))
        elif isinstance(self.safe, list) and kept is not None and self.safe[kept] is not None:
            text += (f" · safe at this time{of}: {names[kept]} {say(self.safe[kept])}; the others once the blend "
                     "holds still")
        elif previewed and self.state.model.context_dims:
            text += " · the previewed model's safe range once it holds still"
        elif self.state.model is not None and self.state.model.context_dims:
            text += " · safe range once time holds still" if one else " · safe ranges once time and blend hold still"
        self.blend_range.setText(text)
        # as tall as its longest words so far for this model (two lines, three for three or more templates, at
        # least): what is under it no longer jumps when the ranges arrive or go
        lines = 2 if one else 3
        least = self.blend_range.fontMetrics().boundingRect(0, 0, 1000, 1000, Qt.TextWordWrap, "\n".join("x" * lines))
        height = max(least.height(), self.blend_range.minimumHeight(),
                     self.blend_range.heightForWidth(self.blend_range.width()) if self.blend_range.width() > 50 else 0)
        self.blend_range.setMinimumHeight(height)

    def _remember_traces(self, model):
        """In the background, the traces at every time the slider can show (the context pad's and the
        shape's rows): a time move then looks them up instead of running the networks (~0.3 s once)."""
        if model.context_dims == 0:
            return
        times = np.array([self.time.value_at(p) for p in range(STEPS + 1)])
        self.remembering = threading.Thread(target=lambda: (model.remember_traces(times, None),
                                                            model.remember_traces(times, PAD_SAMPLES)),
                                            name="remember traces", daemon=True)
        self.remembering.start()

    def _play(self, on):
        """Play from the start when time stands at its end (with Loop off, Play there did nothing)."""
        if on and self.time.slider.value() >= STEPS:
            self.time.slider.setValue(0)

    def _tick(self):
        """Play: the time slider moves on by PLAY_STEP positions, back to the start at the end (Loop)."""
        position = self.time.slider.value() + PLAY_STEP
        if position > STEPS:
            if not self.loop.isChecked():
                self.play.setChecked(False)
                return
            position = 0
        self.time.slider.setValue(position)
