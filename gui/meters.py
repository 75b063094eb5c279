"""Meters: the novelty and verdict of "Beyond the templates" shown live beside whatever moves the shape
(the blend, a bend's strength, a model blend's weight, a rewrite)."""

from __future__ import annotations

from PyQt5.QtWidgets import QLabel

from .beyond import chip_text


class Meter(QLabel):
    """A chip: "between templates" / "beyond: coherent" / "bent: coherent" / "strained" / "broken", with the
    novelty value.

    Follows a Beyond's live check (`beyond`), or shows what `display(check, weights)` is given.
    """

    def __init__(self, beyond=None, show_weights=False, parent=None):
        super().__init__("—", parent)
        self.beyond = beyond
        self.setObjectName("verdict-chip")
        self.setToolTip("Beyond the templates: the shape's verdict (coherent, strained: measures outside the "
                        "templates' own range, broken: it crosses itself or folds) and its novelty "
                        "(RMS distance per point to the nearest template)")
        self.verdict, self.novelty = None, None
        self.waiting = False  # the shape changed since what the chip says (shown dimmed)
        if beyond is not None:
            beyond.checked.connect(lambda check: self.display(check, beyond.state.weights, beyond.bent()))

    def display(self, check, weights, bent: bool = False):
        text, color = chip_text(check, weights, bent)
        self.verdict = None if check is None else check.verdict
        self.novelty = None if check is None else check.novelty
        self.waiting = False
        self.setText(text)
        self._style(color, "white")

    def wait(self):
        """The shape moved on: the chip keeps its last words, dimmed, until the next check (the shape holds still,
        or Play's next frame)."""
        if not self.waiting and self.verdict is not None:
            self.waiting = True
            self._style("#d8d8d8", "#555555")

    def _style(self, background, color):
        self.setStyleSheet(f"QLabel {{ color: {color}; background: {background}; border-radius: 8px; "
                           f"padding: 2px 8px; font-weight: bold; }}")
