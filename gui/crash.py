"""The app never dies: one handler for every unexpected exception (GUI thread, worker threads).

PyQt5 aborts the process when a slot raises and no sys.excepthook is set. `install()` sets
sys.excepthook and threading.excepthook: the traceback is appended to a log file in the recovery
folder, the autosave is left intact (its timer still runs), and a dialog says what happened and
where the details are. The dialog is shown from the event loop (queued), never from inside the
slot that failed, and only one at a time.
"""

from __future__ import annotations

import sys
import threading
import time as clock
import traceback
from pathlib import Path

from PyQt5.QtCore import QObject, Qt, pyqtSignal
from PyQt5.QtWidgets import QMessageBox

from grc.errors import printable
from grc.io import recovery_folder

LOG_NAME = "crash.log"
MAX_LOG_BYTES = 1024 * 1024  # the log starts afresh past this


def log_path() -> Path:
    """Where tracebacks go: `crash.log` in the recovery folder (beside the autosaves)."""
    return recovery_folder() / LOG_NAME


def write_log(text: str) -> Path | None:
    """Append a traceback to the log; None when it cannot be written (the dialog says so)."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "w" if path.is_file() and path.stat().st_size > MAX_LOG_BYTES else "a"
        with open(path, mode, encoding="utf-8") as f:
            f.write(f"--- {clock.strftime('%Y-%m-%d %H:%M:%S')}\n{text}\n")
        return path
    except OSError:
        return None


class CrashHandler(QObject):
    """Receives unexpected exceptions from any thread; shows them from the GUI thread."""

    reported = pyqtSignal(str, str, str)  # short message, traceback, log path ("" if not written)

    def __init__(self, window=None):
        super().__init__()
        self.window = window
        self.count = 0  # exceptions handled
        self.shown = 0  # dialogs shown
        self.last_message = ""
        self._showing = False
        self._previous = None
        self.reported.connect(self._show, Qt.QueuedConnection)

    # -- hooks ------------------------------------------------------------------------------------
    def install(self):
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.handle
        threading.excepthook = lambda args: self.handle(args.exc_type, args.exc_value, args.exc_traceback,
                                                        args.thread.name if args.thread else "a thread")
        return self

    def uninstall(self):
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous
            self._previous = None

    def handle(self, kind, value, tb, where="the app"):
        """Never raises: log, keep the autosave, report."""
        try:
            if issubclass(kind, KeyboardInterrupt):
                return
            self.count += 1
            text = "".join(traceback.format_exception(kind, value, tb))
            if where != "the app":
                text = f"in {where}:\n{text}"
            log = write_log(text)
            short = printable(f"{kind.__name__}: {value}")[:300]
            print(f"grc studio: unexpected error: {short}" + (f" (details in {log})" if log else ""), file=sys.stderr)
            self.reported.emit(short, text, str(log or ""))
            # Python keeps the last exception (and every frame of its traceback, widgets included) in
            # sys.last_*: let them go, or closed windows live on until the process exits.
            sys.last_type = sys.last_value = sys.last_traceback = None
            if hasattr(sys, "last_exc"):
                sys.last_exc = None
        except Exception:  # noqa: BLE001 - the last line of defence must not raise
            pass

    # -- the dialog (GUI thread) ----------------------------------------------------------------------
    def _show(self, short, text, log):
        window = self.window
        self.last_message = short
        if window is not None:
            try:
                window.messages.append(f"Unexpected error: {short}")
                window.statusBar().showMessage(f"Unexpected error: {short}", 10000)
            except Exception:  # noqa: BLE001
                pass
            if getattr(window, "headless", False):
                return
        if self._showing:  # one dialog at a time; the rest are in the log
            return
        self._showing = True
        try:
            where = f"The details were written to\n{log}" if log else "The details could not be written to a log file."
            dirty = window is not None and getattr(getattr(window, "doc", None), "dirty", False)
            kept = f"Your unsaved template edits are kept in the autosave ({recovery_folder()}).\n" if dirty else ""
            box = QMessageBox(QMessageBox.Critical, "GRC Studio: unexpected error",
                              f"Something went wrong, but GRC Studio keeps running:\n\n{short}\n\n"
                              f"{kept}{where}", QMessageBox.Ok, window)
            box.setDetailedText(text)
            box.setObjectName("crash-dialog")
            self.shown += 1
            box.exec_()
            box.deleteLater()
        finally:
            self._showing = False


def install(window=None) -> CrashHandler:
    """Set the handler for every unexpected exception (see the module's docstring)."""
    return CrashHandler(window).install()
