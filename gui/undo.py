"""One Undo / Redo for the whole app over several undo stacks, in the order things were done.

The template set's edits (Document.undo), the model's replacements (rewrites, model blends:
Beyond.undo) and the changes of the bends (BendPanel.undo) live on separate stacks: a model change must
not mark the template set unsaved, and saving the set marks only its own stack clean. Edit > Undo (Ctrl+Z) undoes whichever of them was done
last, and Redo (Ctrl+Shift+Z, Ctrl+Y) redoes the earliest undone, as one history would.

Each command is stamped with a running number when it enters its stack (the stack's indexChanged
right after a push), so the order needs no bookkeeping of its own: undo takes the stack whose next
command to undo has the highest stamp, redo the one whose next command to redo has the lowest. A new
action ends every stack's redo, as in one history: Qt drops its own stack's, and the others' commands
undone before it are left out of redo from then on.
"""

from __future__ import annotations

import itertools

from PyQt5 import sip
from PyQt5.QtCore import QObject, pyqtSignal, pyqtSlot
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import QAction, QUndoStack

_stamps = itertools.count(1)


class History(QObject):
    done = pyqtSignal(str)  # "Undo Add bend", "Redo Rewrite point (6, 1)": what a press of Undo or Redo did

    def __init__(self, stacks: list[QUndoStack], parent=None):
        super().__init__(parent)
        self.stacks = []
        self.last_stamp = 0  # the newest action's, in any of the stacks (a merge into an older one must not happen)
        self._dead: dict[int, int] = {}  # id(stack) -> the index from which its redo part was left behind
        self.gestures: list = []  # what may hold a gesture under way: .dragging, .interrupt(restore) -> bool
        self.undo_action = QAction("Undo", self, triggered=self.undo,
                                   statusTip="Undo the last template edit, bend change, rewrite or model blend")
        self.redo_action = QAction("Redo", self, triggered=self.redo, statusTip="Redo what was undone")
        # the standard keys and the explicit ones (a standard key can be empty on a platform), each once
        for action, keys in ((self.undo_action, [QKeySequence.Undo, "Ctrl+Z"]),
                             (self.redo_action, [QKeySequence.Redo, "Ctrl+Shift+Z", "Ctrl+Y"])):
            found = []
            for key in keys:
                k = QKeySequence(key)
                if not k.isEmpty() and k not in found:
                    found.append(k)
            action.setShortcuts(found)
        for stack in stacks:
            self.add(stack)
        self.refresh()

    def add(self, stack: QUndoStack):
        self.stacks.append(stack)
        stack.indexChanged.connect(self._changed)  # a bound slot: disconnected when either side goes
        self.refresh()

    @staticmethod
    def _stamp(command) -> int:
        return getattr(command, "stamp", 0)

    @pyqtSlot(int)
    def _changed(self, index: int):
        stack = self.sender()
        top = stack.command(stack.index() - 1) if stack.index() > 0 else None
        if top is not None and not hasattr(top, "stamp"):
            top.stamp = self.last_stamp = next(_stamps)  # just pushed: a new action, after which nothing undone is redone
            self._dead.pop(id(stack), None)  # (Qt dropped this stack's own redo part)
            for other in self._live():
                if other is not stack and other.canRedo():
                    self._dead[id(other)] = other.index()  # commands from here on were undone before it
        self.refresh()

    def _can_redo(self, stack: QUndoStack) -> bool:
        return stack.canRedo() and stack.index() < self._dead.get(id(stack), stack.count() + 1)

    def _live(self) -> list[QUndoStack]:
        return [s for s in self.stacks if not sip.isdeleted(s)]  # a closing window deletes them one by one

    def next_undo(self) -> QUndoStack | None:
        ready = [s for s in self._live() if s.canUndo()]
        return max(ready, key=lambda s: self._stamp(s.command(s.index() - 1)), default=None)

    def next_redo(self) -> QUndoStack | None:
        ready = [s for s in self._live() if self._can_redo(s)]
        return min(ready, key=lambda s: self._stamp(s.command(s.index())), default=None)

    def _gesture_cancelled(self) -> bool:
        """Undo or Redo in the middle of a gesture (a drag, a G / R / S) cancels the gesture and does only that,
        as Blender ignores them while a tool runs: undoing under it would be pasted back when it ends."""
        return any([g.interrupt(True) for g in self.gestures])

    def undo(self):
        if self._gesture_cancelled():
            return
        stack = self.next_undo()
        if stack is not None:
            text = stack.undoText()
            stack.undo()
            self.done.emit(f"Undo {text}".strip())

    def redo(self):
        if self._gesture_cancelled():
            return
        stack = self.next_redo()
        if stack is not None:
            text = stack.redoText()
            stack.redo()
            self.done.emit(f"Redo {text}".strip())

    def refresh(self):
        """Enable Undo and Redo (and name what they would do) as the stacks and any gesture under way say."""
        dragging = any(g.dragging for g in self.gestures)  # then Undo and Redo cancel it, even with nothing to undo
        for action, stack, word in ((self.undo_action, self.next_undo(), "Undo"),
                                    (self.redo_action, self.next_redo(), "Redo")):
            action.setEnabled(stack is not None or dragging)
            text = "" if stack is None else (stack.undoText() if word == "Undo" else stack.redoText())
            action.setText(f"{word} {text}".strip())
